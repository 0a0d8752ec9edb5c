"""§5's step-size protocol, ``--lr auto``: try each of {0.01, 0.02, 0.1} for the first
samples from the run's own initialization and keep the rate with the best training score.

References
----------
Kingma & Welling (2014), §5.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from aevb_np.algorithms import PARTS
from aevb_np.errors import NonFiniteError, TrainingDivergedError
from aevb_np.loop import algorithm_1, new_state
from aevb_np.run.config import TrainConfig
from aevb_np.run.divergence import DivergenceCheck
from aevb_np.run.evaluation import evaluate_rows

logger = logging.getLogger("aevb_np.train")  # the run's one logger (python -m aevb_np.train prints it)

#: §5: "the Adagrad global stepsize parameters were chosen from {0.01, 0.02, 0.1}".
LR_CANDIDATES = (0.01, 0.02, 0.1)


def lr_trial(config: TrainConfig, lr: float, x_train: np.ndarray, x_score: np.ndarray,
             lengths: tuple[int, ...]) -> tuple[list[float | None], str | None]:
    """One §5 trial: the run's own initialization at rate ``lr``, scored after each of ``lengths`` samples.

    Parameters
    ----------
    config : TrainConfig
        The run's settings (its seed: the same initialization as the run).
    lr : float
        The step size tried.
    x_train : ndarray, shape (N, D)
        The training set (already checked).
    x_score : ndarray, shape (n, D)
        The points the trial is scored on (the first training points).
    lengths : tuple of int
        Increasing sample counts at which the trial is scored.

    Returns
    -------
    scores : list
        The mean of :func:`evaluate_rows` on ``x_score`` after each length (the same
        evaluation generator every time); None from the length at which the trial diverged.
    reason : str or None
        Why the trial diverged (a non-finite or runaway objective, non-finite parameters or
        accumulators, a non-finite score), or None.  Divergence is returned, not raised.

    References
    ----------
    Kingma & Welling (2014), §5 (step sizes tried "for the first few iterations").
    """
    trial = dataclasses.replace(config, lr=lr, lr_auto=None)
    part = PARTS[config.algorithm](trial, x_train.shape[1], x_train.shape[0])
    state = new_state(part, part.make_optimizer(lr), np.random.default_rng(config.seed))
    check, scores = DivergenceCheck(), []

    def after_step(s, v):
        reason = check.objective(v)
        if reason is not None:
            raise TrainingDivergedError(f"diverged at step {s.step} ({reason})")
        return False

    try:
        for length in lengths:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                algorithm_1(part, state, x_train, length, after_step)
                reason = DivergenceCheck.state(state)
                if reason:
                    raise TrainingDivergedError(reason)
                score = float(np.mean(evaluate_rows(part, state.params, x_score, config.evaluation,
                                                    np.random.default_rng([config.seed, 0x1A, 0]))))
            if not math.isfinite(score):
                raise TrainingDivergedError(f"its score is {score}")
            scores.append(score)
    except (TrainingDivergedError, NonFiniteError, FloatingPointError, OverflowError) as exc:
        return scores + [None] * (len(lengths) - len(scores)), str(exc)
    return scores, None


def choose_lr(config: TrainConfig, x_train: np.ndarray, x_score: np.ndarray, log=logger.info) -> dict:
    """§5's protocol: the rate of :data:`LR_CANDIDATES` with the best training-set score.

    Each trial (:func:`lr_trial`) starts from the run's own initialization (the same
    seed), runs ``config.lr_trial_samples`` samples, and is scored by the mean of
    :func:`evaluate_rows` on ``x_score`` (the first training points).  A trial that
    diverges scores None and loses.  ``benchmarks/lr_auto_trial_length.py`` shows that
    trials three times as long choose the same rates on the paper's panels.

    Parameters
    ----------
    config : TrainConfig
        Gives the seed, the algorithm, ``lr_trial_samples`` and ``evaluation``.
    x_train : ndarray, shape (N, D)
        The training set.
    x_score : ndarray, shape (n, D)
        The points the trials are scored on.
    log : callable
        ``log(format, *args)`` for one line per trial (default: this module's logger).

    Returns
    -------
    dict
        ``candidates``, ``trial_samples``, ``scored_by``, ``scores`` (rate → score, None
        for a diverged trial), ``notes`` (rate → why it lost, for diverged trials) and
        ``chosen`` (a float).

    Raises
    ------
    TrainingDivergedError
        Every candidate diverged.

    References
    ----------
    Kingma & Welling (2014), §5.
    """
    scores, notes = {}, {}
    for lr in LR_CANDIDATES:
        (score,), reason = lr_trial(config, lr, x_train, x_score, (config.lr_trial_samples,))
        scores[str(lr)] = score
        if reason:
            notes[str(lr)] = f"diverged: {reason}"
            log("--lr auto: lr %g diverged (%s)", lr, reason)
        else:
            log("--lr auto: lr %g scores %.3f after %d samples", lr, score, config.lr_trial_samples)
    finite = {lr: v for lr, v in scores.items() if v is not None}
    if not finite:
        raise TrainingDivergedError(f"--lr auto: every rate of {LR_CANDIDATES} diverged ({notes})")
    chosen = max(finite, key=lambda k: finite[k])
    log("--lr auto: chose lr %s", chosen)
    return {"candidates": list(LR_CANDIDATES), "trial_samples": config.lr_trial_samples,
            "scored_by": f"mean train {config.metric().replace('_', ' ')} ({config.evaluation}) on the first "
                         f"{x_score.shape[0]} training points",
            "scores": scores, "notes": notes, "chosen": float(chosen)}


def effective_lr(config: TrainConfig) -> float:
    """The step size the run uses: ``lr``, or the rate ``--lr auto`` chose.

    Parameters
    ----------
    config : TrainConfig
        With ``lr_auto`` filled in if ``lr == "auto"``.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``lr == "auto"`` but ``lr_auto`` is None (the trials have not run).
    """
    return config.lr_auto["chosen"] if config.lr == "auto" else float(config.lr)
