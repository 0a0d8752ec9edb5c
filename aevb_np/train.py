"""Training (Algorithm 1) for every algorithm of the paper: ``python -m aevb_np.train``.

The loop itself is :func:`aevb_np.loop.algorithm_1`; each algorithm (AEVB with estimator
A or B, wake-sleep, MCEM, full VB) is a part of :mod:`aevb_np.algorithms`.  This module
runs them in a run folder:

* ``config.json`` — the run's :class:`TrainConfig` (with ``lr_auto``: the §5 step-size
  trials, when ``--lr auto``);
* ``checkpoint.npz`` — saved atomically every ``--checkpoint-every`` steps, on Ctrl-C or
  SIGTERM and at the end; ``--resume RUN_DIR`` continues a run *exactly* (bit for bit
  the parameters of the same run left alone);
* ``log.jsonl`` — one line per evaluation: the train bound on the first
  ``eval_train_size`` training points and the test bound (nats per datapoint);
* at the end ``params.npz``, ``samples.png`` and ``summary.json``.

§5's step-size protocol, ``--lr auto``: each rate of {0.01, 0.02, 0.1} is tried for the
first ``lr_trial_samples`` training samples from the same initialization; the rate
whose run has the best training-set score (the bound the run is evaluated by, on the
first ``eval_train_size`` training points) wins, and the run starts from the beginning
with it, so that it equals a run given that rate.  A trial that diverges loses.

Divergence: a run stops with "diverged at step k", keeping its last good checkpoint,
when a bound or objective is not finite, when it stays more than ten times its initial
magnitude below its initial value for 100 steps (Adagrad's first steps can dip that far
for a few steps and recover; a run that blows up stays down), when it ends there, or when
a parameter or an optimizer accumulator stops being finite (float32 Adagrad accumulators
can overflow).  See :class:`DivergenceCheck`.

Data: MNIST grey levels in [0, 1] are used as Bernoulli means (the paper trains on MNIST
without saying how it binarized; we keep the grey levels, the common reading of the
authors' code); ``--dataset binarized-mnist`` uses the fixed binarization of Larochelle &
Murray; ``--dataset frey-face`` uses the Gaussian decoder, with ``--frey-split random``
(default) or ``tail``.

The jobs around the loop live in :mod:`aevb_np.run`: the settings (:mod:`~aevb_np.run.config`),
the command line (:mod:`~aevb_np.run.cli`), the run folder (:mod:`~aevb_np.run.folder`),
what happens between steps (:mod:`~aevb_np.run.monitor`), the evaluation
(:mod:`~aevb_np.run.evaluation`), §5's step-size trials (:mod:`~aevb_np.run.lr_auto`),
divergence (:mod:`~aevb_np.run.divergence`) and the pictures (:mod:`~aevb_np.run.pictures`).
Their public names are importable from here as well.

References
----------
Kingma & Welling (2014), Algorithm 1, Eq. (8), §5, Appendices D–F.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path

import numpy as np

from aevb_np import checkpoint, environment
from aevb_np.algorithms import PARTS
from aevb_np.errors import AEVBError, ConfigError, NonFiniteError
from aevb_np.loop import algorithm_1, new_state

# Every public name of the run's modules stays importable from aevb_np.train (and the private
# ones the tests reach for), as before the split (issue 23).
from aevb_np.run.cli import OneLineErrorParser, _explicit_flags, _program_name, build_parser, config_from_args
from aevb_np.run.config import ALGORITHMS, DATASETS, EVALUATIONS, TrainConfig, _load_data, load_data  # noqa: F401
from aevb_np.run.divergence import DIVERGENCE_FACTOR, DIVERGENCE_PATIENCE, DivergenceCheck
from aevb_np.run.evaluation import (GRID_START_DTYPE, MARGINAL_SETTINGS, _crosses_eval_point, _eval_rng,  # noqa: F401
                                    evaluate_rows, evaluate_splits)
from aevb_np.run.folder import (RESUMABLE_CHANGES, RUN_FILES, _read_log, _restore, _saved_config,  # noqa: F401
                                _write_json, _write_log, prepare_run_dir)
from aevb_np.run.lr_auto import LR_CANDIDATES, choose_lr, effective_lr, lr_trial
from aevb_np.run.monitor import _Monitor, _StopFlag
from aevb_np.run.pictures import save_pictures

logger = logging.getLogger(__name__)

__all__ = ["ALGORITHMS", "DATASETS", "DIVERGENCE_FACTOR", "DIVERGENCE_PATIENCE", "DivergenceCheck", "EVALUATIONS",
           "GRID_START_DTYPE", "LR_CANDIDATES", "MARGINAL_SETTINGS", "OneLineErrorParser", "PARTS",
           "RESUMABLE_CHANGES", "RUN_FILES", "TrainConfig", "build_parser", "choose_lr", "config_from_args",
           "effective_lr", "evaluate_rows", "evaluate_splits", "load_data", "lr_trial", "main", "prepare_run_dir",
           "train"]


def train(config: TrainConfig, out, *, resume: bool = False, force: bool = False, progress: bool = True,
          stop_after_steps: int | None = None, download: bool = False, data=None,
          threads: int = environment.DEFAULT_THREADS) -> dict:
    """Run (or resume) training with ``config`` in the run folder ``out``.

    Parameters
    ----------
    config : TrainConfig
    out : path-like
        Run folder (created if needed; nothing is written into it before the data load).
    resume : bool
        Continue the run saved in ``out``.
    force : bool
        Start again over a run already in ``out`` (removes only the files a run writes).
    progress : bool
        Show a tqdm progress bar.
    stop_after_steps : int, optional
        Stop (saving a checkpoint, as Ctrl-C does) once the step counter reaches this
        value; used by tests to interrupt a run at a chosen step.
    download : bool
        Fetch missing data files (see :mod:`aevb_np.data`).
    data : (x_train, x_test), optional
        Arrays to train and evaluate on instead of ``config.dataset``'s files (tests);
        ``train_subset`` still applies.
    threads : int
        BLAS threads for the run (:func:`aevb_np.environment.blas_threads`; default
        :data:`aevb_np.environment.DEFAULT_THREADS`); recorded, with the machine, in
        ``config.json``'s ``environment`` (one entry per start or resume).

    Returns
    -------
    dict
        ``params``, ``step``, ``samples``, ``log`` (list of evaluation rows),
        ``finished`` (False if stopped early), ``interrupted``, ``lr`` (the step size
        used), and ``train_<metric>``/``test_<metric>`` of the last evaluation (nats per
        datapoint; ``<metric>`` is ``lower_bound`` or ``log_px``).

    Raises
    ------
    ConfigError, DataError, CheckpointError
        Bad settings, missing data, a run folder in the way.
    TrainingDivergedError
        The bound ran away or the parameters stopped being finite; the last checkpoint on
        disk is the last good state.

    References
    ----------
    Kingma & Welling (2014), Algorithm 1 and §5.
    """
    with environment.blas_threads(threads):
        return _train(config, Path(out), resume, force, progress, stop_after_steps, download, data, threads)


def _train(config: TrainConfig, out: Path, resume: bool, force: bool, progress: bool, stop_after_steps, download: bool,
           data, threads: int) -> dict:
    """:func:`train`'s body, inside its BLAS thread limit."""
    if progress:
        from tqdm.auto import tqdm
    else:  # the plain bar, disabled: tqdm.auto would warn inside a kernel without ipywidgets
        from tqdm import tqdm

    # 1. The settings and the data (§5): checked before anything is written into the run folder.
    if resume:
        config = prepare_run_dir(out, config, resume, force)  # only reads, on resume
    config.validate()
    if data is None:
        x_train, x_test = load_data(config, download)
    else:
        x_train, x_test = data
        if config.train_subset is not None:
            x_train = x_train[: config.train_subset]
    if config.eval_test_size is not None and config.eval_test_size > x_test.shape[0]:
        raise ConfigError(f"--eval-test-size {config.eval_test_size}: the {config.dataset} test set has "
                          f"{x_test.shape[0]} points")
    if not resume:
        config = prepare_run_dir(out, config, resume, force)
    N, key = x_train.shape[0], config.metric()
    x_train_eval = x_train[: min(config.eval_train_size, N)]
    x_test = x_test[: config.eval_test_size] if config.eval_test_size else x_test
    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    restoring = resume and ckpt_path.exists()
    # 2. The step size (§5's trials for --lr auto), then θ and φ initialized from N(0, 0.01²)
    #    (§5) — or the whole state restored from the checkpoint, for an exact resume.
    if not restoring and config.lr == "auto" and config.lr_auto is None:
        config = dataclasses.replace(config, lr_auto=choose_lr(config, x_train, x_train_eval))
        _write_json(out / "config.json", dataclasses.asdict(config))
    part = PARTS[config.algorithm](config, x_train.shape[1], N)
    if restoring:
        state = _restore(part, config, ckpt_path)
        log_rows = _read_log(log_path, state.step)
        logger.info("resumed %s at step %d (%d samples)", out, state.step, state.samples)
    else:
        state = new_state(part, part.make_optimizer(effective_lr(config)), np.random.default_rng(config.seed))
        log_rows = []
    # Where this stretch of the run ran (a resumed run may continue on another machine).
    config = dataclasses.replace(config, environment=[*(config.environment or []),
                                                      {**environment.describe(threads), "from_samples": state.samples}])
    _write_json(out / "config.json", dataclasses.asdict(config))
    # 3. Algorithm 1 until the budget of training samples is spent, the monitor evaluating,
    #    checkpointing and watching for divergence and Ctrl-C between steps.
    total = config.max_samples if config.max_samples is not None else int(round(config.epochs * N))
    with _StopFlag() as stop, tqdm(total=total, initial=min(state.samples, total), unit="sample", unit_scale=True,
                                   disable=not progress, dynamic_ncols=True, leave=False) as bar:
        monitor = _Monitor(config, part, out, x_train_eval, x_test, log_rows, total, bar, stop, stop_after_steps)
        if not log_rows:
            monitor.evaluate(state)
        try:
            # Overflow to inf/NaN is caught by the finiteness checks and reported as
            # divergence, so the floating-point warnings themselves are noise.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                finished = algorithm_1(part, state, x_train, total, monitor)
        except NonFiniteError as exc:
            raise monitor.diverged(state.step + 1, str(exc)) from None  # in step k + 1
        monitor.save(state)
    result = {"params": state.params, "step": state.step, "samples": state.samples, "log": log_rows,
              "finished": finished, "interrupted": stop.requested, "lr": effective_lr(config)}
    if not finished:
        return {**result, f"train_{key}": log_rows[-1][f"train_{key}"], f"test_{key}": log_rows[-1][f"test_{key}"]}
    # 4. The final evaluation, params.npz, summary.json and the pictures.
    if log_rows[-1]["step"] != state.step:
        monitor.evaluate(state, final=True)
    elif problem := monitor.check.evaluated("train bound", log_rows[-1][f"train_{key}"], final=True):
        raise monitor.diverged(state.step, problem)
    checkpoint.save_params(out / "params.npz", state.params)
    summary = {"step": state.step, "samples": state.samples, "train_seconds": round(monitor.wall(), 3),
               "lr": effective_lr(config), f"train_{key}": log_rows[-1][f"train_{key}"],
               f"test_{key}": log_rows[-1][f"test_{key}"]}
    _write_json(out / "summary.json", summary)
    shown_test = x_test[:10].copy()  # for reconstructions.png
    # Drop the data (≈440 MB for MNIST in float64) before matplotlib is imported for the
    # pictures, so the two never sit in memory together (peak-memory budget, issue 6).
    x_train = x_test = x_train_eval = monitor = data = None  # noqa: F841
    save_pictures(out, config, part, state.params, log_rows, shown_test)
    return {**result, **summary}


def _refuse_flags_without_effect(args, given: dict) -> None:
    """A flag the run would ignore is a user's mistake, said in one line (not a silent no-op)."""
    if args.resume is not None and (args.out is not None or args.force):
        raise ConfigError("--resume continues the run in its own folder; --out and --force do not apply to it")
    if "frey_split" in given and given.get("dataset", args.dataset) != "frey-face" and args.resume is None:
        raise ConfigError("--frey-split applies to --dataset frey-face only")
    if "lr_trial_samples" in given and str(given.get("lr", args.lr)) != "auto" and args.resume is None:
        raise ConfigError("--lr-trial-samples sets the length of §5's step-size trials: it applies with --lr auto only")


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (2 for a user's mistake).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the run finished; 2 for an :class:`aevb_np.errors.AEVBError` (bad
        flags, data, a diverged run; the message goes to stderr); 130 when stopped
        (Ctrl-C or SIGTERM) before the budget was spent, with the command that resumes.

    Raises
    ------
    SystemExit
        From argparse: ``--help`` and ``--version`` (status 0), a bad flag (status 2).

    References
    ----------
    Kingma & Welling (2014), Algorithm 1 and §5 (the training runs of Fig. 2), through
    :func:`aevb_np.train.train`.
    """
    prog = _program_name()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    out = None
    try:
        _refuse_flags_without_effect(args, _explicit_flags(argv, prog))
        if args.resume is not None:
            out = Path(args.resume)
            if not (out / "config.json").exists():
                raise ConfigError(f"--resume {out}: no run there (no config.json); start it without --resume")
            config = dataclasses.replace(_saved_config(out), **_explicit_flags(argv, prog))
        else:
            config = config_from_args(args)
            out = Path(args.out) if args.out is not None else \
                Path("runs") / f"{args.dataset}-nz{args.n_latent}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = train(config, out, resume=args.resume is not None, force=args.force,
                       progress=not args.no_progress, download=args.download, threads=args.threads)
    except AEVBError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the loop took over Ctrl-C: loading data, or §5's trials
        if out is None or not (out / "config.json").exists():
            print("interrupted before the run started; nothing was saved")
            return 130
        result = {"finished": False, "step": "?"}
    if not result["finished"]:
        print(f"stopped at step {result['step']}; resume with: {prog} --resume {out}")
        return 130
    key = config.metric()
    unit = "nats/datapoint (a log-density over [0,1] pixels: positive)" if config.dataset == "frey-face" \
        else "nats/datapoint"
    print(f"done: {result['samples']} samples in {result['train_seconds']:.0f} s "
          f"({result['samples'] / max(result['train_seconds'], 1e-9):.0f} samples/s) at lr {result['lr']:g}; "
          f"train {key.replace('_', ' ')} {result[f'train_{key}']:.2f}, test {key.replace('_', ' ')} "
          f"{result[f'test_{key}']:.2f} {unit}; run saved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
