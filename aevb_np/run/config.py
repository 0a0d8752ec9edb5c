"""A run's settings: :class:`TrainConfig` (every ``--flag`` of ``python -m aevb_np.train``), its
validation, and the arrays it names.

References
----------
Kingma & Welling (2014), §5.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from aevb_np import bounds, model
from aevb_np import data as data_mod
from aevb_np.algorithms import PARTS
from aevb_np.checks import check_count, check_positive
from aevb_np.errors import ConfigError
from aevb_np.part import PartConfig

DATASETS = ("mnist", "binarized-mnist", "frey-face")
ALGORITHMS = tuple(PARTS)
#: How each log row names its two numbers, by ``evaluation``.
EVALUATIONS = {"bound": "lower_bound", "appendix-d": "log_px", "hmc-is": "log_px", "quadrature": "log_px"}


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
            check_count(v, f"--{name.replace('_', '-')}")

        def positive_real(name, v):
            check_positive(v, f"--{name.replace('_', '-')}")

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
        check_count(self.adagrad_warmup, "--adagrad-warmup", 0)
        if self.adagrad_warmup and self.optimizer != "adagrad":
            raise ConfigError("--adagrad-warmup applies to --optimizer adagrad only")
        if self.mcem_chains not in ("persistent", "fresh"):
            raise ConfigError(f"--mcem-chains must be persistent or fresh, got {self.mcem_chains!r}")
        if self.mcem_chains != "persistent" and self.algorithm != "mcem":
            raise ConfigError("--mcem-chains applies to --algorithm mcem only")
        check_count(self.eval_per_decade, "--eval-per-decade", 0)
        check_count(self.seed, "--seed", 0)  # NumPy's generators refuse a negative seed
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


def load_data(config: TrainConfig, download: bool = False):
    """Training and test arrays in the run's dtype (the first ``train_subset`` training points).

    Parameters
    ----------
    config : TrainConfig
        Its dataset, split, dtype, ``train_subset``, ``batch_size`` and ``data_dir``.
    download : bool
        Fetch missing files (:func:`aevb_np.data.load_dataset`).

    Returns
    -------
    x_train, x_test : ndarray, shape (N, D) and (N_test, D)
        Checked once here (shape, finiteness, support); the steps skip the checks.

    Raises
    ------
    DataError
        Missing or corrupt files.
    ConfigError
        ``train_subset`` or ``batch_size`` larger than the training set.
    """
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


_load_data = load_data  # the former private name
