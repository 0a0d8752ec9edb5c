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

References
----------
Kingma & Welling (2014), Algorithm 1, Eq. (8), §5, Appendices D–F.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from aevb_np import __version__, checkpoint, environment, marginal, model
from aevb_np import bounds
from aevb_np import data as data_mod
from aevb_np.algorithms import PARTS
from aevb_np.errors import AEVBError, ConfigError, NonFiniteError, TrainingDivergedError
from aevb_np.loop import RunState, algorithm_1, new_state
from aevb_np.part import PartConfig

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "binarized-mnist", "frey-face")
ALGORITHMS = tuple(PARTS)
#: §5: "the Adagrad global stepsize parameters were chosen from {0.01, 0.02, 0.1}".
LR_CANDIDATES = (0.01, 0.02, 0.1)
#: How each log row names its two numbers, by ``evaluation``.
EVALUATIONS = {"bound": "lower_bound", "appendix-d": "log_px", "hmc-is": "log_px", "quadrature": "log_px"}
# Fields that may differ when resuming; every other field must match the saved config.
RESUMABLE_CHANGES = ("epochs", "max_samples", "eval_every", "eval_per_decade", "checkpoint_every", "data_dir")
#: A bound more than this many times its initial magnitude below its initial value, for
#: :data:`DIVERGENCE_PATIENCE` steps in a row, is divergence.
DIVERGENCE_FACTOR = 10.0
#: Adagrad's first steps move every parameter by about lr, and the bound can dip far for a few
#: steps before it recovers (MNIST, Nz = 20, lr 0.02: −53,324 nats at step 7, −388 at step 12);
#: a run that has blown up stays down.  100 steps tell the two apart.
DIVERGENCE_PATIENCE = 100
#: Files a run writes into its folder (``--force`` removes these and nothing else).
RUN_FILES = ("config.json", "checkpoint.npz", "log.jsonl", "params.npz", "samples.png", "summary.json",
             "posterior_std.png", "curves.png", "reconstructions.png")


def _opt(help_text: str, *, flag: str | None = "", choices=None, metavar=None) -> dict:
    """Field metadata the CLI is built from: its help text, flag name and choices."""
    return {"help": help_text, "flag": flag, "choices": choices, "metavar": metavar}


def _lr_value(text):
    """``--lr`` is a positive number or ``auto`` (§5's protocol)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number or 'auto', got {text!r}") from None


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run.  Defaults are the paper's MNIST setting (§5).

    Each field's help text (``dataclasses.fields(TrainConfig)[i].metadata["help"]``) is
    also its ``--flag``'s help; ``python -m aevb_np.train --help`` lists them.
    ``lr_auto`` is not a flag: ``--lr auto`` fills it with the trials' record.
    The constructor checks nothing; :meth:`validate` does (and :func:`train` calls it).

    Parameters
    ----------
    dataset : {"mnist", "binarized-mnist", "frey-face"}
        Frey Face uses the Gaussian decoder, the MNIST variants the Bernoulli one.
    n_latent : int
        Nz (default 20).
    hidden : int, optional
        Hidden units H of both MLPs; None: 500 for MNIST, 200 for Frey Face (§5).
    batch_size : int
        M (§5: 100).
    samples_per_datapoint : int
        L (§5: 1).
    lr : float or "auto"
        Adagrad's global step size (default 0.02), or ``"auto"`` for §5's trials of
        0.01, 0.02 and 0.1.
    lr_trial_samples : int
        Training samples each ``"auto"`` trial runs for.
    optimizer : {"adagrad", "sgd"}
    weight_decay : bool
        The N(0, I) prior on the parameters as weight decay (§5).
    estimator : {"A", "B"}
        SGVB estimator, Eq. (6) or Eq. (7).
    algorithm : {"aevb", "wake-sleep", "mcem", "full-vb"}
    epochs : float
        Budget in passes over the training set (unless ``max_samples``).
    max_samples : int, optional
        Budget in training samples evaluated (the x axis of Fig. 2); overrides ``epochs``.
    seed : int
        Seed of the run's generator (initialization, data order, noise).
    eval_every : int
        Training samples between evaluations.
    eval_per_decade : int
        Also evaluate at this many log-spaced sample counts per decade (0: off).
    eval_train_size : int
        The train score uses the first this-many training points.
    eval_test_size : int, optional
        The test score uses the first this-many test points (None: all).
    evaluation : {"bound", "appendix-d", "hmc-is", "quadrature"}
        What is evaluated, nats per datapoint: the lower bound, or log p(x) by
        Appendix D, by importance sampling with an HMC-fitted proposal, or by quadrature
        (Nz <= 3).
    checkpoint_every : int
        Steps between checkpoints.
    dtype : {"float64", "float32"}
        Of the data and parameters.
    init_std : float
        Standard deviation of the N(0, 0.01²) initialization (§5).
    logvar_scale : float
        Wake-sleep and AEVB with Adagrad: the recognition model's log-variance head scaled
        as the authors' code has it (1: the plain encoder).
    decoder_logvar_scale : float
        Frey Face, AEVB and wake-sleep with Adagrad: the decoder's log-variance head
        scaled the same way (1: Appendix C.2's plain head; other values are a diagnostic).
    adagrad_warmup : int
        Adagrad steps at the start that only fill the accumulators (0: none).
    mcem_chains : {"persistent", "fresh"}
        MCEM: each HMC chain continues from its last visit, or restarts from the prior at
        every visit (a diagnostic).
    frey_split : {"random", "tail"}
        Frey Face test set: a fixed random 365 frames, or the last 197.
    train_subset : int, optional
        Train on the first N training points only (Fig. 3: 1000).
    data_dir : str, optional
        Folder with the data files (else ``$AEVB_NP_DATA``, then the user cache).
    lr_auto : dict, optional
        The record of the ``--lr auto`` trials (:func:`choose_lr`); not a flag.

    References
    ----------
    Kingma & Welling (2014), §5.
    """

    dataset: str = dataclasses.field(default="mnist", metadata=_opt(
        "data set: MNIST grey levels as Bernoulli means, the fixed binarization, or Frey Face (Gaussian decoder)",
        choices=DATASETS))
    n_latent: int = dataclasses.field(default=20, metadata=_opt("latent dimension Nz"))
    hidden: int | None = dataclasses.field(default=None, metadata=_opt(
        "hidden units of both MLPs (default: 500 for MNIST, 200 for Frey Face, as §5)"))
    batch_size: int = dataclasses.field(default=100, metadata=_opt("minibatch size M (§5: 100)"))
    samples_per_datapoint: int = dataclasses.field(default=1, metadata=_opt("L, samples of z per datapoint (§5: 1)"))
    lr: float | str = dataclasses.field(default=0.02, metadata=_opt(
        "Adagrad global step size, or 'auto': try 0.01, 0.02 and 0.1 for --lr-trial-samples and keep the best "
        "on the training set (§5)", metavar="LR|auto"))
    lr_trial_samples: int = dataclasses.field(default=100_000, metadata=_opt(
        "training samples each --lr auto trial runs for (the paper's 'first few iterations')"))
    optimizer: str = dataclasses.field(default="adagrad", metadata=_opt(
        "Adagrad (§5) or plain SGD", choices=("adagrad", "sgd")))
    weight_decay: bool = dataclasses.field(default=True, metadata=_opt(
        "drop the N(0, I) prior on the parameters (§5's weight decay)", flag="--no-weight-decay"))
    estimator: str = dataclasses.field(default="B", metadata=_opt(
        "SGVB estimator: A (Eq. 6) or B (Eq. 7)", choices=bounds.ESTIMATORS))
    algorithm: str = dataclasses.field(default="aevb", metadata=_opt(
        "AEVB (Algorithm 1), the wake-sleep baseline (§5), Monte Carlo EM (App. E) or full VB (App. F)",
        choices=ALGORITHMS))
    epochs: float = dataclasses.field(default=5.0, metadata=_opt(
        "budget in passes over the training set (unless --max-samples)"))
    max_samples: int | None = dataclasses.field(default=None, metadata=_opt(
        "budget in training samples evaluated, the x axis of Fig. 2 (overrides --epochs)"))
    seed: int = dataclasses.field(default=0, metadata=_opt("seed of the run's random generator (initialization, "
                                                           "data order, noise)"))
    eval_every: int = dataclasses.field(default=60_000, metadata=_opt("training samples between evaluations"))
    eval_per_decade: int = dataclasses.field(default=0, metadata=_opt(
        "also evaluate at this many log-spaced sample counts per decade (0: off)"))
    eval_train_size: int = dataclasses.field(default=10_000, metadata=_opt(
        "the train bound is evaluated on this many first training points"))
    eval_test_size: int | None = dataclasses.field(default=None, metadata=_opt(
        "the test bound is evaluated on this many first test points (default: all)"))
    evaluation: str = dataclasses.field(default="bound", metadata=_opt(
        "what is evaluated: the estimator-B lower bound (Eq. 10; full VB: its own), or log p(x) estimated from the "
        "decoder by Appendix D or by importance sampling with an HMC-fitted proposal (Fig. 3), or computed by "
        "quadrature over z (Nz <= 3)",
        choices=tuple(EVALUATIONS)))
    checkpoint_every: int = dataclasses.field(default=500, metadata=_opt("steps between checkpoints"))
    dtype: str = dataclasses.field(default="float64", metadata=_opt(
        "floating-point type of the data and parameters", choices=("float64", "float32")))
    init_std: float = dataclasses.field(default=0.01, metadata=_opt(
        "standard deviation of the N(0, 0.01²) initialization (§5)"))
    logvar_scale: float = dataclasses.field(default=1.0, metadata=_opt(
        "wake-sleep and AEVB: the recognition model's log-variance head as the authors' code has it, "
        "log σ² = s·u·h + b5 with u ~ N(0, I) the parameter and the head starting at 0 (anglepy "
        "MLBN_Inverse, s = 0.1); 1 is the paper's 'same encoder as AEVB'"))
    decoder_logvar_scale: float = dataclasses.field(default=1.0, metadata=_opt(
        "Frey Face (Gaussian decoder), AEVB and wake-sleep: the decoder's log-variance head as "
        "log σ² = s·u·h + b5 with u ~ N(0, I) the parameter and the head starting at 0; 1 (default) is "
        "Appendix C.2's plain head (a diagnostic: anglepy's own decoders leave this head unscaled)"))
    adagrad_warmup: int = dataclasses.field(default=0, metadata=_opt(
        "Adagrad: the first K steps only accumulate squared gradients and do not move the parameters "
        "(anglepy wzoptim step_va: 100, step_pvem: 10; not in the paper); 0 (default): off", metavar="K"))
    mcem_chains: str = dataclasses.field(default="persistent", metadata=_opt(
        "MCEM: each datapoint's HMC chain continues from where its last visit left it (persistent) "
        "or starts afresh from the prior z ~ N(0, I) at every visit (fresh: a diagnostic; "
        "Appendix E does not say which)", choices=("persistent", "fresh")))
    frey_split: str = dataclasses.field(default="random", metadata=_opt(
        "Frey Face split: a fixed random 365 test frames (default, as Fig. 2 uses) or the last 197",
        choices=data_mod.FREY_SPLITS))
    train_subset: int | None = dataclasses.field(default=None, metadata=_opt(
        "train on the first N training points only (Fig. 3: 1000)", metavar="N"))
    data_dir: str | None = dataclasses.field(default=None, metadata=_opt(
        "folder with the data files (else $AEVB_NP_DATA, then the user cache)"))
    lr_auto: dict | None = dataclasses.field(default=None, metadata=_opt("", flag=None))
    environment: list | None = dataclasses.field(default=None, metadata=_opt("", flag=None))

    def resolved_hidden(self) -> int:
        """Hidden units, with the paper's per-dataset default.

        Returns
        -------
        int
            ``hidden`` if set, else 200 for Frey Face and 500 for MNIST (§5).
        """
        if self.hidden is not None:
            return self.hidden
        return 200 if self.dataset == "frey-face" else 500

    def decoder(self) -> str:
        """Bernoulli for the MNIST variants, Gaussian for Frey Face (§5).

        Returns
        -------
        {"bernoulli", "gaussian"}
            The decoder of Appendix C.1 or C.2.
        """
        return "gaussian" if self.dataset == "frey-face" else "bernoulli"

    def metric(self) -> str:
        """The key of the log rows' numbers: ``lower_bound`` or ``log_px``.

        Returns
        -------
        {"lower_bound", "log_px"}
            ``lower_bound`` for ``evaluation="bound"``, ``log_px`` for the
            marginal-likelihood evaluations.
        """
        return EVALUATIONS.get(self.evaluation, "lower_bound")

    def part_config(self) -> PartConfig:
        """The settings an algorithm part reads (:class:`aevb_np.part.PartConfig`).

        Returns
        -------
        PartConfig
            The decoder, H, Nz, M, dtype, L, the estimator and §5's optimizer settings.
        """
        return PartConfig(decoder=self.decoder(), n_hidden=self.resolved_hidden(), n_latent=self.n_latent,
                          batch_size=self.batch_size, dtype=self.dtype, samples_per_datapoint=self.samples_per_datapoint,
                          estimator=self.estimator, init_std=self.init_std, optimizer=self.optimizer,
                          weight_decay=self.weight_decay, logvar_scale=self.logvar_scale,
                          decoder_logvar_scale=self.decoder_logvar_scale, adagrad_warmup=self.adagrad_warmup,
                          mcem_chains=self.mcem_chains)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first impossible setting (by its flag)."""
        def positive_int(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")

        def positive_real(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive finite number, got {v!r}")

        def one_of(name, v, allowed):
            if v not in allowed:
                raise ConfigError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got {v!r}")

        one_of("dataset", self.dataset, DATASETS)
        one_of("algorithm", self.algorithm, ALGORITHMS)
        one_of("optimizer", self.optimizer, ("adagrad", "sgd"))
        one_of("estimator", self.estimator, bounds.ESTIMATORS)
        one_of("dtype", self.dtype, ("float64", "float32"))
        one_of("evaluation", self.evaluation, tuple(EVALUATIONS))
        one_of("frey_split", self.frey_split, data_mod.FREY_SPLITS)
        for name in ("n_latent", "batch_size", "samples_per_datapoint", "eval_every", "eval_train_size",
                     "checkpoint_every", "lr_trial_samples"):
            positive_int(name, getattr(self, name))
        for name in ("hidden", "max_samples", "train_subset", "eval_test_size"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.lr != "auto":
            positive_real("lr", self.lr)
        positive_real("epochs", self.epochs)
        positive_real("init_std", self.init_std)
        positive_real("logvar_scale", self.logvar_scale)
        if self.logvar_scale != 1.0 and (self.algorithm not in ("wake-sleep", "aevb") or self.optimizer != "adagrad"):
            raise ConfigError("--logvar-scale applies to --algorithm wake-sleep or aevb with --optimizer adagrad only")
        positive_real("decoder_logvar_scale", self.decoder_logvar_scale)
        if self.decoder_logvar_scale != 1.0 and (self.algorithm not in ("wake-sleep", "aevb")
                                                 or self.optimizer != "adagrad" or self.dataset != "frey-face"):
            raise ConfigError("--decoder-logvar-scale applies to the Gaussian decoder (--dataset frey-face) with "
                              "--algorithm aevb or wake-sleep and --optimizer adagrad only")
        if isinstance(self.adagrad_warmup, bool) or not isinstance(self.adagrad_warmup, int) or self.adagrad_warmup < 0:
            raise ConfigError(f"--adagrad-warmup must be a non-negative integer, got {self.adagrad_warmup!r}")
        if self.adagrad_warmup and self.optimizer != "adagrad":
            raise ConfigError("--adagrad-warmup applies to --optimizer adagrad only")
        if self.mcem_chains not in ("persistent", "fresh"):
            raise ConfigError(f"--mcem-chains must be persistent or fresh, got {self.mcem_chains!r}")
        if self.mcem_chains != "persistent" and self.algorithm != "mcem":
            raise ConfigError("--mcem-chains applies to --algorithm mcem only")
        if isinstance(self.eval_per_decade, bool) or not isinstance(self.eval_per_decade, int) or self.eval_per_decade < 0:
            raise ConfigError(f"--eval-per-decade must be a non-negative integer, got {self.eval_per_decade!r}")
        if self.algorithm in ("wake-sleep", "mcem") and (self.estimator != "B" or self.samples_per_datapoint != 1):
            raise ConfigError(f"--estimator and --samples-per-datapoint apply to AEVB and full VB, not to "
                              f"--algorithm {self.algorithm}")
        if self.algorithm == "full-vb" and not self.weight_decay:
            raise ConfigError("--no-weight-decay has no meaning with --algorithm full-vb (the prior over θ is in the bound)")
        if self.algorithm == "mcem" and self.evaluation == "bound":
            raise ConfigError("--algorithm mcem learns no encoder, so it has no lower bound to evaluate: "
                              "pass --evaluation appendix-d or --evaluation hmc-is")
        if self.evaluation == "quadrature" and self.n_latent > 3:
            raise ConfigError(f"--evaluation quadrature integrates over a grid of z: Nz <= 3 only, got --n-latent "
                              f"{self.n_latent}")
        if self.algorithm == "mcem" and self.dtype != "float64":
            raise ConfigError("--algorithm mcem runs in float64 only (its HMC chains need it); drop --dtype float32")


# --------------------------------------------------------------------------- data


def _load_data(config: TrainConfig, download: bool = False):
    """Training and test arrays in the run's dtype (the first ``train_subset`` training points)."""
    kwargs = dict(dtype=np.dtype(config.dtype), download=download, frey_split=config.frey_split)
    x_train, _ = data_mod.load_dataset(config.dataset, "train", config.data_dir, **kwargs)
    x_test, _ = data_mod.load_dataset(config.dataset, "test", config.data_dir, **kwargs)
    if config.train_subset is not None:
        if config.train_subset > x_train.shape[0]:
            raise ConfigError(f"--train-subset {config.train_subset} is larger than the training set "
                              f"({x_train.shape[0]} points)")
        x_train = x_train[: config.train_subset].copy()
    if config.batch_size > x_train.shape[0]:
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the training set ({x_train.shape[0]} datapoints)")
    # Check the data once (shape, finiteness, support); the steps then skip the checks.
    probe = model.init_params(x_train.shape[1], 1, 1, config.decoder(), np.random.default_rng(0))
    bounds.check_inputs(probe, x_train)
    bounds.check_inputs(probe, x_test)
    return x_train, x_test


# --------------------------------------------------------------------------- evaluation


#: Settings of the marginal-likelihood estimates (``--evaluation appendix-d|hmc-is|quadrature``).
#: Appendix D as the paper ran it (App. E, last paragraph): 50 posterior samples per datapoint by
#: HMC with 4 leapfrog steps, for the fit and again for the estimate; the burn-in is ours (not
#: stated).  For Nz <= 3 both HMC estimators start their chains from the grid-discretized
#: posterior: started from a prior draw, a chain stays in a minor mode for 5-10 % of the points,
#: each then 70-158 nats too low (``benchmarks/fig3_estimators.py`` against the quadrature:
#: mean bias −6.4 nats from prior starts, +0.000 ± 0.016 from grid starts).
#: The decoder's arithmetic inside these estimates runs in float32 (the chains, fits and sums
#: stay float64): half the cost, estimates within noise of float64's against the quadrature
#: (``benchmarks/fig3_estimators.py --dtype``; issue 25).
MARGINAL_SETTINGS = {"appendix-d": dict(n_hmc=50, n_fit=50, n_burnin=100, n_leapfrog=4, hmc_dtype="float32"),
                     "hmc-is": dict(K=1000, n_fit=200, n_burnin=200),
                     "quadrature": dict(grid=113, limit=7.0)}
#: Precision of the grid the HMC chains start from (:func:`aevb_np.marginal.grid_posterior_start`).
GRID_START_DTYPE = "float32"


def evaluate_rows(part, params, x: np.ndarray, evaluation: str, rng: np.random.Generator) -> np.ndarray:
    """The per-datapoint number a run is evaluated by, shape (n,), nats per datapoint.

    ``bound``: the algorithm's lower bound (estimator B of Eq. 10; full VB's own bound of
    App. F).  ``appendix-d`` / ``hmc-is``: log p(x) estimated from the decoder alone (App. D;
    :func:`aevb_np.marginal.hmc_importance_sampled_log_px`), as Fig. 3 does, with chains
    started from :func:`aevb_np.marginal.grid_posterior_start` when Nz <= 3.
    ``quadrature``: log p(x) itself, to grid error (:func:`aevb_np.marginal.quadrature_log_px`,
    Nz <= 3 only).

    Parameters
    ----------
    part : an algorithm part of :mod:`aevb_np.algorithms`
        Gives ``bound``, ``decoder_params`` and ``config.n_latent``.
    params : dict
        The part's parameters.
    x : ndarray, shape (n, D)
        The points evaluated.
    evaluation : {"bound", "appendix-d", "hmc-is", "quadrature"}
        The estimate; any other name is a :class:`~aevb_np.errors.ConfigError`.
    rng : numpy.random.Generator
        Source of every draw of the estimate (the run uses a generator of its own,
        seeded by seed and step, so evaluating does not touch the training stream).

    Returns
    -------
    ndarray, shape (n,)
        Nats per datapoint: a lower bound, or an estimate of log p(x).

    Raises
    ------
    NotImplementedError
        ``"bound"`` for MCEM, which has no encoder.
    ConfigError
        ``evaluation`` is not one of the four names.
    ShapeError, NonFiniteError, SupportError, ConfigError
        As the estimator used (bad arrays, non-finite values, Nz > 3 for quadrature).

    References
    ----------
    Kingma & Welling (2014), Eq. (10), Appendix D, Appendix F, §5 Fig. 3.
    """
    return evaluate_splits(part, params, (x,), evaluation, rng)[0]


def evaluate_splits(part, params, xs, evaluation: str, rng: np.random.Generator) -> list[np.ndarray]:
    """:func:`evaluate_rows` on several sets of points (a run's train and test points) at once.

    The same estimates; for ``appendix-d`` and ``hmc-is`` with Nz <= 3 the chains of every
    set start from one :func:`aevb_np.marginal.grid_posterior_start` over all their points,
    so the decoder runs over the grid once per evaluation, not once per set.

    Parameters
    ----------
    part, params, evaluation, rng
        As :func:`evaluate_rows`.
    xs : sequence of ndarray, each shape (n_k, D)

    Returns
    -------
    list of ndarray, shapes (n_k,)
        Nats per datapoint, one array per set.

    Raises
    ------
    As :func:`evaluate_rows`.
    """
    if evaluation not in EVALUATIONS:
        # Never fall through to a default estimate: a misspelt name would log a number
        # computed by an estimator nobody asked for.
        raise ConfigError(f"evaluation {evaluation!r} is not one of {', '.join(EVALUATIONS)}")
    if evaluation == "bound":
        return [part.bound(params, x, rng) for x in xs]
    decoder = part.decoder_params(params)
    if evaluation == "quadrature":
        return [marginal.quadrature_log_px(decoder, x, **MARGINAL_SETTINGS["quadrature"]) for x in xs]
    ends = np.cumsum([x.shape[0] for x in xs])[:-1]
    z0s = [None] * len(xs)
    if part.config.n_latent <= 3:
        z0s = np.split(marginal.grid_posterior_start(decoder, np.concatenate(xs), rng, dtype=GRID_START_DTYPE), ends)
    if evaluation == "appendix-d":
        return [marginal.appendix_d_log_px(decoder, x, rng, z0=z0, **MARGINAL_SETTINGS["appendix-d"])
                for x, z0 in zip(xs, z0s)]
    s = MARGINAL_SETTINGS["hmc-is"]  # evaluation == "hmc-is"
    return [marginal.hmc_importance_sampled_log_px(decoder, x, s["K"], rng, n_fit=s["n_fit"], n_burnin=s["n_burnin"],
                                                   z0=z0) for x, z0 in zip(xs, z0s)]


def _eval_rng(seed: int, step: int) -> np.random.Generator:
    # Its own generator, seeded by (seed, step): evaluating never touches the training
    # run's random stream, and a resumed run evaluates identically.
    return np.random.default_rng([seed, 0xE7A1, step])


def _crosses_eval_point(before: int, after: int, config: TrainConfig) -> bool:
    """True if an evaluation point lies in (before, after]: a multiple of ``eval_every``, or
    one of ``eval_per_decade`` log-spaced counts 10^(k/eval_per_decade) per decade."""
    if after // config.eval_every != before // config.eval_every:
        return True
    if config.eval_per_decade and before > 0:
        k = config.eval_per_decade
        return math.floor(k * math.log10(after)) != math.floor(k * math.log10(before))
    return False


# --------------------------------------------------------------------------- divergence


class DivergenceCheck:
    """Stops a run whose bound runs away, or whose parameters stop being finite.

    The first objective seen sets a floor ``v0 − 10·max(1, |v0|)`` (at initialization the
    MNIST bound is ≈ −543 nats: floor ≈ −6000).  A run that learns stays far above it after
    its first few steps; a run that blows up (wake-sleep at lr 0.1 reached −7.9·10¹⁰) stays
    below it by orders of magnitude.  Divergence is a non-finite value at once, or
    :data:`DIVERGENCE_PATIENCE` steps in a row below the floor; while below it the run is
    "in a dip" and its periodic checkpoints are skipped, so the last checkpoint on disk is
    always a good state.
    """

    def __init__(self):
        self.floors: dict[str, float] = {}
        self.low_steps = 0  # consecutive steps with the objective below its floor

    def floor(self, what: str, v: float) -> float:
        """The floor of ``what``, set by its first value ``v``.

        Parameters
        ----------
        what : str
            Name of the quantity (``"objective"``, ``"train bound"``, ``"test bound"``).
        v : float
            Its value now, in nats per datapoint; only the first value of each ``what``
            sets the floor.

        Returns
        -------
        float
            ``v0 − 10·max(1, |v0|)`` for the first value v0 of ``what``.
        """
        return self.floors.setdefault(what, v - DIVERGENCE_FACTOR * max(1.0, abs(v)))

    def objective(self, v: float) -> str | None:
        """Check one step's objective: None if the run goes on, else the reason it diverged.

        Parameters
        ----------
        v : float
            The step's value (what ``part.step`` returned), nats per datapoint.

        Returns
        -------
        str or None
            Why the run diverged (``v`` not finite, or below the floor for
            :data:`DIVERGENCE_PATIENCE` steps in a row), or None.
        """
        if not math.isfinite(v):
            return f"the objective is {v}"
        floor = self.floor("objective", v)
        self.low_steps = self.low_steps + 1 if v < floor else 0
        if self.low_steps >= DIVERGENCE_PATIENCE:
            return (f"the objective stayed below {floor:.6g}, ten times its initial magnitude below its initial "
                    f"value, for {DIVERGENCE_PATIENCE} steps; it is now {v:.6g}")
        return None

    def evaluated(self, what: str, v: float, final: bool) -> str | None:
        """Check an evaluated bound: non-finite, or (at the end of a run) below its floor.

        Parameters
        ----------
        what : str
            Name of the evaluated number (its floor is kept under this name).
        v : float
            Its value, nats per datapoint.
        final : bool
            The run's last evaluation: only then is ending below the floor divergence.

        Returns
        -------
        str or None
            Why the run diverged, or None.
        """
        if not math.isfinite(v):
            return f"the {what} is {v}"
        floor = self.floor(what, v)
        if final and v < floor:
            return f"the {what} ends at {v:.6g}, below {floor:.6g} (ten times its initial magnitude below it)"
        return None

    @property
    def in_dip(self) -> bool:
        """True while the objective is below its floor (periodic checkpoints are skipped)."""
        return self.low_steps > 0

    @staticmethod
    def state(state: RunState) -> str | None:
        """None if every parameter and optimizer accumulator is finite, else which is not.

        Parameters
        ----------
        state : aevb_np.loop.RunState
            Its ``params`` and ``optimizer.state_dict()`` are checked.

        Returns
        -------
        str or None
            The first non-finite parameter array or accumulator, or None.
        """
        for group, arrays in state.params.items():
            for name, a in arrays.items():
                if not np.isfinite(a).all():
                    return f"parameter {group}/{name} is not finite"
        for name, a in state.optimizer.state_dict().items():
            if not np.isfinite(a).all():
                return f"the optimizer's accumulator for {name} overflowed"
        return None


# --------------------------------------------------------------------------- §5's step size


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


# --------------------------------------------------------------------------- the run folder


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    tmp.replace(path)


def _read_log(path: Path, max_step: int) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= max_step]


def _write_log(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def prepare_run_dir(out: Path, config: TrainConfig, resume: bool, force: bool) -> TrainConfig:
    """Create or check the run folder; on resume return the saved config (with allowed changes).

    Parameters
    ----------
    out : path-like
        The run folder (created with its parents if missing).
    config : TrainConfig
        The requested settings.
    resume : bool
        Continue the run in ``out``: its saved config is kept, except the fields of
        :data:`RESUMABLE_CHANGES`, which come from ``config``.
    force : bool
        Start again over a run in ``out``: only the files of :data:`RUN_FILES` are removed.

    Returns
    -------
    TrainConfig
        On resume the merged, validated config; otherwise ``config`` with ``hidden``
        resolved, as written to ``out/config.json``.

    Raises
    ------
    ConfigError
        ``out`` holds another run, or files that are not a run's, and neither ``resume``
        nor ``force`` is set; or the resumed run's config contradicts the requested one in
        a field that may not change; or ``out`` is not a writable folder, or its
        ``config.json`` is unreadable.
    """
    out = Path(out)
    cfg_path = out / "config.json"
    if resume:
        if not cfg_path.exists():
            raise ConfigError(f"--resume {out}: no run there (no config.json); start it without --resume")
        saved = _saved_config(out)
        requested = dataclasses.asdict(config)
        for field, value in dataclasses.asdict(saved).items():
            if field in RESUMABLE_CHANGES or field in ("lr_auto", "environment") or requested.get(field) is None:
                continue
            if requested[field] != value:
                raise ConfigError(
                    f"--resume {out}: {field} was {value!r} in the saved run, got {requested[field]!r}; "
                    f"only {', '.join(RESUMABLE_CHANGES)} may change when resuming"
                )
        merged = dataclasses.replace(saved, **{f: requested[f] for f in RESUMABLE_CHANGES})
        merged.validate()
        return merged
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.exists() and not force:
        if cfg_path.exists():
            raise ConfigError(f"--out {out} already holds a run; pass --resume {out} to continue it "
                              f"or --force to start it again")
        others = sorted(p.name for p in out.iterdir())
        if others:
            raise ConfigError(f"--out {out} is not empty (it holds {', '.join(others[:3])}"
                              f"{' …' if len(others) > 3 else ''}); choose an empty or new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out {out} is not writable: {exc.strerror}") from None
    if force:  # only what a run writes; anything else in the folder stays
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    config = dataclasses.replace(config, hidden=config.resolved_hidden())
    _write_json(cfg_path, dataclasses.asdict(config))
    return config


def _saved_config(run_dir: Path) -> TrainConfig:
    try:
        return TrainConfig(**json.loads((run_dir / "config.json").read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"--resume {run_dir}: config.json is unreadable ({exc})") from None


class _StopFlag:
    """Turns SIGINT and SIGTERM into a flag checked between steps, so a stop never lands mid-update."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class _Monitor:
    """What happens between two steps of Algorithm 1: progress, evaluations, checkpoints, stops.

    Called by :func:`aevb_np.loop.algorithm_1` after every update (``__call__``).
    """

    def __init__(self, config, part, out: Path, x_train_eval, x_test, log_rows, total, bar, stop, stop_after_steps):
        self.config, self.part, self.out = config, part, out
        self.x_train_eval, self.x_test, self.log_rows = x_train_eval, x_test, log_rows
        self.total, self.bar, self.stop, self.stop_after_steps = total, bar, stop, stop_after_steps
        self.ckpt_path, self.log_path = out / "checkpoint.npz", out / "log.jsonl"
        self.check = DivergenceCheck()
        self.running = None
        self.t0 = time.perf_counter()
        self.wall_before = log_rows[-1]["train_seconds"] if log_rows else 0.0
        if log_rows:  # a resumed run keeps its initial evaluation's floor
            self.check.floor("train bound", log_rows[0][f"train_{config.metric()}"])

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.t0

    def diverged(self, step: int, reason: str) -> TrainingDivergedError:
        where = f"; the last good state is {self.ckpt_path}" if self.ckpt_path.exists() else ""
        return TrainingDivergedError(f"training diverged at step {step} ({reason}){where}")

    def evaluate(self, state: RunState, final: bool = False) -> dict:
        reason = self.check.state(state)
        if reason:
            raise self.diverged(state.step, reason)
        rng, key = _eval_rng(self.config.seed, state.step), self.config.metric()
        train_rows, test_rows = evaluate_splits(self.part, state.params, (self.x_train_eval, self.x_test),
                                                self.config.evaluation, rng)
        train_v, test_v = float(np.mean(train_rows)), float(np.mean(test_rows))
        reason = self.check.evaluated("train bound", train_v, final) or self.check.evaluated("test bound", test_v, final)
        if reason:
            raise self.diverged(state.step, reason)
        row = {"step": state.step, "samples": state.samples, "epoch": state.epoch, f"train_{key}": train_v,
               f"test_{key}": test_v, "train_seconds": round(self.wall(), 3)}
        self.log_rows.append(row)
        _write_log(self.log_path, self.log_rows)
        logger.info("samples %d  step %d  train %s %.3f  test %s %.3f nats/datapoint", state.samples, state.step,
                    key.replace("_", " "), train_v, key.replace("_", " "), test_v)
        return row

    def save(self, state: RunState, periodic: bool = False) -> None:
        reason = self.check.state(state)
        if reason:  # never overwrite the last good checkpoint with a broken state
            raise self.diverged(state.step, reason)
        if periodic and self.check.in_dip:  # nor with one that may be diverging
            logger.debug("step %d: the objective is below its floor; checkpoint skipped", state.step)
            return
        checkpoint.save(self.ckpt_path, params=state.params, optim_state=state.optimizer.state_dict(), rng=state.rng,
                        perm=state.perm, position=state.position, step=state.step, samples=state.samples,
                        epoch=state.epoch, config=dataclasses.asdict(self.config), extra=self.part.state_arrays())

    def __call__(self, state: RunState, value: float) -> bool:
        reason = self.check.objective(value)
        if reason:
            raise self.diverged(state.step, reason)
        self.running = value if self.running is None else 0.98 * self.running + 0.02 * value
        self.bar.update(self.config.batch_size)
        if state.step % 20 == 0:
            self.bar.set_postfix_str(f"{self.part.shown} {self.running:.2f}")
        if _crosses_eval_point(state.samples - self.config.batch_size, state.samples, self.config) \
                and state.samples < self.total:
            self.evaluate(state)
        if state.step % self.config.checkpoint_every == 0:
            self.save(state, periodic=True)
        return self.stop.requested or (self.stop_after_steps is not None and state.step >= self.stop_after_steps)


def _restore(part, config: TrainConfig, ckpt_path: Path) -> RunState:
    saved = checkpoint.load(ckpt_path)
    params = saved["params"]
    opt = part.make_optimizer(effective_lr(config))
    opt.load_state_dict(saved["optim_state"], params)
    part.load_state_arrays(saved["extra"])
    rng = np.random.default_rng(config.seed)
    rng.bit_generator.state = saved["rng_state"]
    return RunState(params=params, optimizer=opt, rng=rng, perm=saved["perm"], position=saved["position"],
                    step=saved["step"], samples=saved["samples"], epoch=saved["epoch"])


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

    if resume:
        config = prepare_run_dir(out, config, resume, force)  # only reads, on resume
    config.validate()
    if data is None:
        x_train, x_test = _load_data(config, download)
    else:
        x_train, x_test = data
        if config.train_subset is not None:
            x_train = x_train[: config.train_subset]
    if not resume:
        config = prepare_run_dir(out, config, resume, force)
    N, key = x_train.shape[0], config.metric()
    x_train_eval = x_train[: min(config.eval_train_size, N)]
    x_test = x_test[: config.eval_test_size] if config.eval_test_size else x_test
    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    restoring = resume and ckpt_path.exists()
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
    _save_pictures(out, config, part, state.params, log_rows, shown_test)
    return {**result, **summary}


def _save_pictures(out: Path, config: TrainConfig, part, params, log_rows, x_shown) -> None:
    """The pictures of a finished run: ``samples.png``, ``curves.png`` (the bound against the
    samples, for runs evaluated by their bound), ``reconstructions.png`` (models with an
    encoder) and full VB's ``posterior_std.png``."""
    from aevb_np import full_vb, plots

    shape = data_mod.DATASET_SHAPES[config.dataset][1]
    rng, nz = np.random.default_rng([config.seed, 5]), config.n_latent
    unit = "nats/datapoint (density)" if config.dataset == "frey-face" else "nats/datapoint"
    name = f"{config.dataset}, {config.algorithm}, Nz={nz}"
    if config.metric() == "lower_bound":
        plots.save_training_curves(out / "curves.png", log_rows, title=name, unit=unit)
    if config.algorithm != "mcem":
        phi = params["phi"]
        plots.save_reconstructions(out / "reconstructions.png", {"phi": phi, **part.decoder_params(params)}, x_shown,
                                   shape)
    if config.algorithm == "full-vb":
        # Samples draw θ ~ q(θ) (rows) as well as z ~ p(z) (columns); and σ_θ of the output layer.
        full_vb.save_samples(out / "samples.png", params, rng, shape,
                             title=f"{config.dataset}, full VB, Nz={nz}: decoder means, rows θ ~ q(θ), columns z ~ p(z)")
        out_layer = "W2" if config.decoder() == "bernoulli" else "W4"
        full_vb.save_posterior_std(out / "posterior_std.png", params, shape, array=out_layer,
                                   title=f"posterior std of {out_layer}, one image per hidden unit")
        return
    theta = part.decoder_params(params)["theta"]
    z = rng.standard_normal((100, nz)).astype(next(iter(theta.values())).dtype)  # Fig. 5: z ~ p(z)
    plots.save_image_grid(out / "samples.png", model.decoder_mean(theta, z), shape, n_cols=10,
                          title=f"{config.dataset}, {config.algorithm}, Nz={nz}: decoder means E[x|z], z ~ p(z)")


# --------------------------------------------------------------------------- the CLI


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        """Print ``PROG: error: MESSAGE`` on stderr and exit with status 2.

        Parameters
        ----------
        message : str
            argparse's message.

        Raises
        ------
        SystemExit
            Always, with code 2.
        """
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(field: dataclasses.Field) -> str | None:
    flag = field.metadata.get("flag", "")
    return "--" + field.name.replace("_", "-") if flag == "" else flag


def _program_name() -> str:
    """``aevb-train`` when run as the console script, else ``python -m aevb_np.train``."""
    return "aevb-train" if Path(sys.argv[0]).name == "aevb-train" else "python -m aevb_np.train"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser, one flag per :class:`TrainConfig` field (help and default from the field).

    Parameters
    ----------
    prog : str, optional
        Program name in messages; default ``aevb-train`` or ``python -m aevb_np.train``
        depending on how it was started.

    Returns
    -------
    OneLineErrorParser
        With the field flags and ``--out``, ``--resume``, ``--force``, ``--download``,
        ``--no-progress`` and ``--version``.
    """
    p = OneLineErrorParser(prog=prog or _program_name(),
                           description="Train a variational auto-encoder with AEVB (Kingma & Welling 2014, "
                                       "Algorithm 1), or one of the paper's other algorithms.")
    for field in dataclasses.fields(TrainConfig):
        flag = _flag(field)
        if flag is None:
            continue
        meta, default = field.metadata, field.default
        if field.type == "bool":
            p.add_argument(flag, dest=field.name, action="store_false", default=default, help=meta["help"])
            continue
        kind = {"int": int, "int | None": int, "float": float, "float | str": _lr_value}.get(field.type, str)
        shown = "" if default is None or "(default" in meta["help"] else f" (default: {default})"
        p.add_argument(flag, dest=field.name, type=kind, default=default, choices=meta["choices"],
                       metavar=meta["metavar"], help=meta["help"] + shown)
    p.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-nz<Nz>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run saved in RUN_DIR")
    p.add_argument("--force", action="store_true", help="start again over the run in --out (removes only its files)")
    p.add_argument("--download", action="store_true", help="fetch missing data files into the user cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and CI)")
    p.add_argument("--threads", type=int, default=environment.DEFAULT_THREADS, metavar="N",
                   help="BLAS threads (default: %(default)s; one is fastest for these small matrices, and "
                        "2.2x faster than two on a busy 2-core machine: benchmarks/threads.py)")
    p.add_argument("--version", action="version", version=f"%(prog)s (aevb_np) {__version__}")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Map parsed flags to a :class:`TrainConfig` (every field that has a flag).

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`build_parser`'s ``parse_args``.

    Returns
    -------
    TrainConfig
        Not yet validated (:func:`train` validates it).
    """
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if _flag(f)})


def _explicit_flags(argv, prog: str) -> dict:
    """The flags the user actually typed (not argparse defaults), as TrainConfig fields."""
    parser = build_parser(prog)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return {f.name: given[f.name] for f in dataclasses.fields(TrainConfig) if f.name in given}


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
    """
    prog = _program_name()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    out = None
    try:
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
