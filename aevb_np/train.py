"""AEVB training (Algorithm 1): ``python -m aevb_np.train``, and the ``train()`` it runs.

Algorithm 1 of the paper, with the settings of §5::

    repeat
        X_M  ← random minibatch of M datapoints (an epoch is one pass in a random order)
        eps  ← L·M draws from N(0, I)                                   (Eq. 9)
        g    ← ∇_{θ,φ} (N/M) Σ_i L̃^B(θ, φ; x_i, eps_i)  (+ ∇ log p(θ))   (Eq. 8, Eq. 10)
        θ, φ ← Adagrad update with g
    until the sample budget is spent

A run folder holds ``config.json``, ``checkpoint.npz`` (saved atomically every
``--checkpoint-every`` steps, on Ctrl-C and at the end), ``log.jsonl`` (one line per
evaluation: train/test lower bound in nats per datapoint), and at the end
``params.npz``, ``samples.png`` and ``summary.json``.  ``--resume RUN_DIR`` continues a
run exactly: the parameters after resuming equal, bit for bit, those of the same run
left uninterrupted.

Data: MNIST grey levels in [0, 1] are used as Bernoulli means (the paper trains on
MNIST without saying how it binarized; we keep the grey levels, the common reading of
the authors' code); ``--dataset binarized-mnist`` uses the fixed binarization of
Larochelle & Murray instead; ``--dataset frey-face`` uses the Gaussian decoder.

References
----------
Kingma & Welling (2014), Algorithm 1, Eq. (8), §5.
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

from aevb_np import bounds, checkpoint, full_vb, model, optim
from aevb_np import params as params_mod
from aevb_np import data as data_mod
from aevb_np.baselines import wake_sleep
from aevb_np.errors import AEVBError, ConfigError, NonFiniteError, TrainingDivergedError

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "binarized-mnist", "frey-face")
ALGORITHMS = ("aevb", "wake-sleep", "full-vb")
# Flags that may differ when resuming; every other field must match the saved config.
RESUMABLE_CHANGES = ("epochs", "max_samples", "eval_every", "eval_per_decade", "checkpoint_every", "data_dir")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run.  Defaults are the paper's MNIST setting (§5).

    Attributes
    ----------
    dataset : {"mnist", "binarized-mnist", "frey-face"}
    n_latent : int
        Nz (20 for the default MNIST run).
    hidden : int or None
        Hidden units of both MLPs; None means the paper's choice: 500 for MNIST, 200 for
        Frey Face.
    batch_size : int
        M = 100 (§5).
    samples_per_datapoint : int
        L = 1 (§5).
    lr : float
        Adagrad global step size; 0.02 for MNIST, from the paper's set {0.01, 0.02, 0.1}.
    optimizer : {"adagrad", "sgd"}
    weight_decay : bool
        The N(0, I) prior as weight decay (§5).
    estimator : {"A", "B"}
        SGVB estimator of Eq. (6) or Eq. (7).
    algorithm : {"aevb", "wake-sleep", "full-vb"}
        AEVB (Algorithm 1), the wake-sleep baseline of §5 with the same encoder and
        decoder (both evaluated with the same estimator-B lower bound), or full VB of
        Appendix F (a Gaussian q(θ) over the decoder; evaluated with its own bound
        L(φ; X)/N, in which the prior over θ is a KL term instead of weight decay).
    epochs : float
        Budget in passes over the training set, unless ``max_samples`` is given.
    max_samples : int or None
        Budget in training samples evaluated (the x axis of Fig. 2).
    seed : int
    eval_every : int
        Training samples between evaluations of the train/test lower bound.
    eval_per_decade : int
        If positive, also evaluate at this many log-spaced sample counts per decade
        (for Fig. 2's log-scaled x axis); 0 turns it off.
    eval_train_size : int
        Size of the fixed training subset (its first rows) on which the train bound is
        evaluated.
    checkpoint_every : int
        Steps between checkpoints.
    dtype : {"float64", "float32"}
    init_std : float
        Standard deviation of the N(0, 0.01²) initialization (see ``model.init_params``).
    data_dir : str or None
        Folder holding the data files (see ``aevb_np.data``).
    """

    dataset: str = "mnist"
    n_latent: int = 20
    hidden: int | None = None
    batch_size: int = 100
    samples_per_datapoint: int = 1
    lr: float = 0.02
    optimizer: str = "adagrad"
    weight_decay: bool = True
    estimator: str = "B"
    algorithm: str = "aevb"
    epochs: float = 5.0
    max_samples: int | None = None
    seed: int = 0
    eval_every: int = 60_000
    eval_per_decade: int = 0
    eval_train_size: int = 10_000
    checkpoint_every: int = 500
    dtype: str = "float64"
    init_std: float = 0.01
    data_dir: str | None = None

    def resolved_hidden(self) -> int:
        """Hidden units, with the paper's per-dataset default."""
        if self.hidden is not None:
            return self.hidden
        return 200 if self.dataset == "frey-face" else 500

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first impossible setting."""
        def positive_int(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")

        def positive_real(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive finite number, got {v!r}")

        if self.dataset not in DATASETS:
            raise ConfigError(f"--dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        for name in ("n_latent", "batch_size", "samples_per_datapoint", "eval_every", "eval_train_size", "checkpoint_every"):
            positive_int(name, getattr(self, name))
        if self.hidden is not None:
            positive_int("hidden", self.hidden)
        positive_real("lr", self.lr)
        positive_real("epochs", self.epochs)
        positive_real("init_std", self.init_std)
        if self.max_samples is not None:
            positive_int("max_samples", self.max_samples)
        if isinstance(self.eval_per_decade, bool) or not isinstance(self.eval_per_decade, int) or self.eval_per_decade < 0:
            raise ConfigError(f"--eval-per-decade must be a non-negative integer, got {self.eval_per_decade!r}")
        if self.optimizer not in ("adagrad", "sgd"):
            raise ConfigError(f"--optimizer must be adagrad or sgd, got {self.optimizer!r}")
        if self.estimator not in bounds.ESTIMATORS:
            raise ConfigError(f"--estimator must be A or B, got {self.estimator!r}")
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.algorithm == "wake-sleep" and (self.estimator != "B" or self.samples_per_datapoint != 1):
            raise ConfigError("--estimator and --samples-per-datapoint apply to AEVB only, not to --algorithm wake-sleep")
        if self.algorithm == "full-vb" and not self.weight_decay:
            raise ConfigError("--no-weight-decay has no meaning with --algorithm full-vb (the prior over θ is in the bound)")
        if self.dtype not in ("float64", "float32"):
            raise ConfigError(f"--dtype must be float64 or float32, got {self.dtype!r}")

    def decoder(self) -> str:
        """Bernoulli for the MNIST variants, Gaussian for Frey Face (§5)."""
        return "gaussian" if self.dataset == "frey-face" else "bernoulli"


def _load_data(config: TrainConfig):
    """Training and test arrays in the run's dtype."""
    dtype = np.dtype(config.dtype)
    test_split = "test"
    x_train, _ = data_mod.load_dataset(config.dataset, "train", config.data_dir, dtype=dtype)
    x_test, _ = data_mod.load_dataset(config.dataset, test_split, config.data_dir, dtype=dtype)
    return x_train, x_test


def _make_optimizer(config: TrainConfig, n_train: int):
    # Eq. (8): the minibatch gradient is scaled by N/M.  On the AEVB path the estimator
    # applies it (grad_scale, on M-sized arrays); the other algorithms leave it to the optimizer.
    scale = 1.0 if config.algorithm == "aevb" else n_train / config.batch_size
    # Full VB (App. F) has the prior over θ inside its bound (the KL of Eq. 24), so no decay.
    decay = config.weight_decay and config.algorithm != "full-vb"
    if config.optimizer == "adagrad":
        return optim.Adagrad(config.lr, scale=scale, weight_decay=decay)
    return optim.SGD(config.lr, scale=scale, weight_decay=decay)


def _evaluate(params, x_train_eval, x_test, seed: int, step: int, n_train: int) -> tuple[float, float]:
    """Average estimator-B lower bound on the fixed train subset and the test set.

    For full VB (params with ``theta_mu``) the bound is each datapoint's share of
    L(φ; X) of Appendix F, with θ drawn from q(θ) and the KL over θ spread over the N
    training points.  Uses its own generator, seeded by (seed, step), so evaluating never
    changes the training run's random stream (and a resumed run evaluates identically).
    """
    rng = np.random.default_rng([seed, 0xE7A1, step])
    if "theta_mu" in params:
        train_lb = float(full_vb.lower_bound(params, x_train_eval, rng, n_train).mean())
        test_lb = float(full_vb.lower_bound(params, x_test, rng, n_train).mean())
        return train_lb, test_lb
    train_lb = float(bounds.lower_bound(params, x_train_eval, rng).mean())
    test_lb = float(bounds.lower_bound(params, x_test, rng).mean())
    return train_lb, test_lb


def _crosses_eval_point(before: int, after: int, config: TrainConfig) -> bool:
    """True if an evaluation point lies in (before, after]: a multiple of ``eval_every``, or
    one of ``eval_per_decade`` log-spaced counts 10^(k/eval_per_decade) per decade."""
    if after // config.eval_every != before // config.eval_every:
        return True
    if config.eval_per_decade and before > 0:
        k = config.eval_per_decade
        return math.floor(k * math.log10(after)) != math.floor(k * math.log10(before))
    return False


def _read_log(path: Path, max_step: int) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= max_step]


def _write_log(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


class _StopFlag:
    """Turns SIGINT into a flag checked between steps, so a Ctrl-C never lands mid-update."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def prepare_run_dir(out: Path, config: TrainConfig, resume: bool, force: bool) -> TrainConfig:
    """Create or check the run folder; on resume return the saved config (with allowed changes).

    Raises
    ------
    ConfigError
        ``out`` holds another run and neither ``resume`` nor ``force`` is set, or the
        resumed run's config contradicts the requested one in a field that may not change.
    CheckpointError
        Resuming a folder without a checkpoint.
    """
    out = Path(out)
    cfg_path = out / "config.json"
    if resume:
        if not cfg_path.exists():
            raise ConfigError(f"--resume {out}: no run there (no config.json); start it without --resume")
        saved = TrainConfig(**json.loads(cfg_path.read_text()))
        requested = dataclasses.asdict(config)
        for field, value in dataclasses.asdict(saved).items():
            if field in RESUMABLE_CHANGES or requested.get(field) is None:
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
    if cfg_path.exists() and not force:
        raise ConfigError(
            f"--out {out} already holds a run; pass --resume {out} to continue it or --force to overwrite it"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out {out} is not writable: {exc.strerror}") from None
    if force:
        for name in ("checkpoint.npz", "log.jsonl", "params.npz", "samples.png", "summary.json"):
            (out / name).unlink(missing_ok=True)
    tmp = cfg_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True))
    tmp.replace(cfg_path)
    return config


def train(config: TrainConfig, out, *, resume: bool = False, force: bool = False,
          progress: bool = True, stop_after_steps: int | None = None) -> dict:
    """Run (or resume) AEVB training with ``config`` in the run folder ``out``.

    Parameters
    ----------
    config : TrainConfig
    out : path-like
        Run folder (created if needed).
    resume : bool
        Continue the run saved in ``out``.
    force : bool
        Overwrite a run already in ``out``.
    progress : bool
        Show a tqdm progress bar.
    stop_after_steps : int, optional
        Stop (saving a checkpoint, as Ctrl-C does) once the step counter reaches this
        value; used by tests to interrupt a run at a chosen step.

    Returns
    -------
    dict
        ``params``, ``step``, ``samples``, ``log`` (list of evaluation rows),
        ``finished`` (False if stopped early), ``train_lower_bound`` and
        ``test_lower_bound`` (last evaluation, nats per datapoint).

    Raises
    ------
    ConfigError, DataError, CheckpointError
        Bad settings, missing data, a run folder in the way.
    TrainingDivergedError
        The bound or the parameters became non-finite; the last checkpoint on disk is
        the last good state.

    References
    ----------
    Kingma & Welling (2014), Algorithm 1 and §5.
    """
    from tqdm.auto import tqdm

    config.validate()
    out = Path(out)
    config = prepare_run_dir(out, config, resume, force)
    x_train, x_test = _load_data(config)
    N = x_train.shape[0]
    M, L = config.batch_size, config.samples_per_datapoint
    if M > N:
        raise ConfigError(f"--batch-size {M} is larger than the training set ({N} datapoints)")
    x_train_eval = x_train[: min(config.eval_train_size, N)]
    decoder = config.decoder()
    # Check the data once (shape, finiteness, support); the steps then skip the checks.
    probe = model.init_params(x_train.shape[1], 1, 1, decoder, np.random.default_rng(0))
    bounds.check_inputs(probe, x_train)
    bounds.check_inputs(probe, x_test)

    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    rng = np.random.default_rng(config.seed)
    opt = _make_optimizer(config, N)
    if resume and ckpt_path.exists():
        state = checkpoint.load(ckpt_path)
        params = state["params"]
        opt.load_state_dict(state["optim_state"], params)
        rng.bit_generator.state = state["rng_state"]
        perm, position = state["perm"], state["position"]
        step, samples, epoch = state["step"], state["samples"], state["epoch"]
        log_rows = _read_log(log_path, step)
        logger.info("resumed %s at step %d (%d samples)", out, step, samples)
    else:
        if config.algorithm == "full-vb":
            params = full_vb.init_full_vb_params(x_train.shape[1], config.resolved_hidden(), config.n_latent, rng,
                                                 decoder, config.init_std, dtype=np.dtype(config.dtype))
        else:
            params = model.init_params(x_train.shape[1], config.resolved_hidden(), config.n_latent,
                                       decoder, rng, config.init_std, np.dtype(config.dtype))
        perm, position, step, samples, epoch = rng.permutation(N), 0, 0, 0, 0
        log_rows = []
    estimator = bounds.estimator_B if config.estimator == "B" else bounds.estimator_A

    # Buffers kept across steps (no per-step allocation on the AEVB path): the minibatch,
    # the noise, the flat gradient buffer and the estimator's workspace.
    xb = np.empty((M, x_train.shape[1]), dtype=x_train.dtype)
    eps = np.empty((L, M, config.n_latent), dtype=x_train.dtype)
    grads_buffer = params_mod.zeros_like(params) if config.algorithm in ("aevb", "wake-sleep") else None
    workspace: dict = {}

    def gradient_step(xb):
        """One minibatch gradient: AEVB's estimator (Eq. 8) or wake-sleep's two phases.

        Returns the batch's average of the quantity shown on the progress bar and the grads.
        """
        if config.algorithm == "wake-sleep":
            objectives, grads = wake_sleep.wake_sleep_gradients(params, xb, rng, validate=False,
                                                                grads=grads_buffer, workspace=workspace)
            return float(objectives["wake"].mean()), grads
        # Same draws as rng.standard_normal((L, M, Nz)), written into the kept buffer.
        rng.standard_normal(out=eps, dtype=eps.dtype)
        if config.algorithm == "full-vb":
            # One θ̃ = μ_θ + σ_θ ζ per minibatch (App. F, Algorithm 2).
            zeta = full_vb.draw_zeta(params, rng)
            bound, grads = full_vb.full_vb_estimator(params, xb, eps, zeta, N, config.estimator, validate=False)
            return float(bound.mean()), grads
        elbo, grads = estimator(params, xb, eps, validate=False, grads=grads_buffer, workspace=workspace,
                                grad_scale=N / M)  # Eq. (8)
        return float(elbo.mean()), grads

    shown = "wake log p(x,z)" if config.algorithm == "wake-sleep" else "lower bound"
    total = config.max_samples if config.max_samples is not None else int(round(config.epochs * N))
    Nz = config.n_latent

    def save_checkpoint():
        checkpoint.save(ckpt_path, params=params, optim_state=opt.state_dict(), rng=rng, perm=perm,
                        position=position, step=step, samples=samples, epoch=epoch,
                        config=dataclasses.asdict(config))

    def evaluate_and_log(wall):
        train_lb, test_lb = _evaluate(params, x_train_eval, x_test, config.seed, step, N)
        row = {"step": step, "samples": samples, "epoch": epoch, "train_lower_bound": train_lb,
               "test_lower_bound": test_lb, "train_seconds": round(wall, 3)}
        log_rows.append(row)
        _write_log(log_path, log_rows)
        logger.info("samples %d  step %d  train lower bound %.3f  test lower bound %.3f nats/datapoint",
                    samples, step, train_lb, test_lb)
        return row

    t0 = time.perf_counter()
    wall_before = log_rows[-1]["train_seconds"] if log_rows else 0.0
    if not log_rows:
        evaluate_and_log(0.0)
    running = None
    finished = True
    with _StopFlag() as stop, tqdm(total=total, initial=min(samples, total), unit="sample", unit_scale=True,
                                   disable=not progress, dynamic_ncols=True, leave=False) as bar:
        while samples < total:
            if position + M > N:  # next epoch: a fresh random order
                perm, position, epoch = rng.permutation(N), 0, epoch + 1
            np.take(x_train, perm[position : position + M], axis=0, out=xb)
            try:
                # Overflow to inf/NaN is caught by the estimator's finiteness check and
                # reported below, so the floating-point warnings themselves are noise.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    batch_lb, grads = gradient_step(xb)
            except NonFiniteError as exc:
                raise TrainingDivergedError(
                    f"training diverged at step {step + 1} ({exc}); the last good state is {ckpt_path}"
                    if ckpt_path.exists() else f"training diverged at step {step + 1} ({exc})"
                ) from None
            opt.step(params, grads)
            position += M
            step += 1
            samples += M
            running = batch_lb if running is None else 0.98 * running + 0.02 * batch_lb
            bar.update(M)
            if step % 20 == 0:
                bar.set_postfix_str(f"{shown} {running:.2f}")
            if _crosses_eval_point(samples - M, samples, config) and samples < total:
                evaluate_and_log(wall_before + time.perf_counter() - t0)
            if step % config.checkpoint_every == 0:
                save_checkpoint()
            if stop.requested or (stop_after_steps is not None and step >= stop_after_steps):
                finished = samples >= total
                break
    save_checkpoint()
    wall = wall_before + time.perf_counter() - t0
    if not finished:
        logger.info("stopped at step %d; checkpoint saved. Resume with: python -m aevb_np.train --resume %s",
                    step, out)
        return {"params": params, "step": step, "samples": samples, "log": log_rows, "finished": False,
                "train_lower_bound": log_rows[-1]["train_lower_bound"],
                "test_lower_bound": log_rows[-1]["test_lower_bound"], "interrupted": stop.requested}
    if log_rows[-1]["step"] != step:
        evaluate_and_log(wall)
    checkpoint.save_params(out / "params.npz", params)
    # Drop the data (≈440 MB for MNIST in float64) before matplotlib is imported for the
    # sample grid, so the two never sit in memory together (peak-memory budget, issue 6).
    x_train = x_test = x_train_eval = xb = None  # noqa: F841 (also clears the closures' cells)
    from aevb_np import plots

    shape = data_mod.DATASET_SHAPES[config.dataset][1]
    if config.algorithm == "full-vb":
        # Samples draw θ ~ q(θ) (rows) as well as z ~ p(z) (columns); and σ_θ of the output layer.
        full_vb.save_samples(out / "samples.png", params, np.random.default_rng([config.seed, 5]), shape,
                             title=f"{config.dataset}, full VB, Nz={Nz}: rows θ ~ q(θ), columns z ~ p(z)")
        out_layer = "W2" if decoder == "bernoulli" else "W4"
        full_vb.save_posterior_std(out / "posterior_std.png", params, shape, array=out_layer,
                                   title=f"posterior std of {out_layer}, one image per hidden unit")
    else:
        plots.save_image_grid(out / "samples.png", plots.sample_images(params, np.random.default_rng([config.seed, 5]), 100),
                              shape, n_cols=10, title=f"{config.dataset}, Nz={Nz}, {samples} samples")
    summary = {"step": step, "samples": samples, "train_seconds": round(wall, 3),
               "train_lower_bound": log_rows[-1]["train_lower_bound"],
               "test_lower_bound": log_rows[-1]["test_lower_bound"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return {"params": params, "log": log_rows, "finished": True, "interrupted": False, **summary}


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (flags and defaults of §5 for MNIST)."""
    d = TrainConfig()
    p = OneLineErrorParser(
        prog="python -m aevb_np.train",
        description="Train a variational auto-encoder with AEVB (Kingma & Welling 2014, Algorithm 1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default=d.dataset, choices=DATASETS)
    p.add_argument("--n-latent", type=int, default=d.n_latent, help="latent dimension Nz")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: 500 MNIST, 200 Frey Face)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size M")
    p.add_argument("--samples-per-datapoint", type=int, default=d.samples_per_datapoint, help="L")
    p.add_argument("--lr", type=float, default=d.lr, help="Adagrad global step size")
    p.add_argument("--optimizer", default=d.optimizer, choices=("adagrad", "sgd"))
    p.add_argument("--no-weight-decay", action="store_true", help="drop the N(0, I) prior on the parameters")
    p.add_argument("--estimator", default=d.estimator, choices=bounds.ESTIMATORS, help="SGVB estimator (Eq. 6 or 7)")
    p.add_argument("--algorithm", default=d.algorithm, choices=ALGORITHMS,
                   help="AEVB (Algorithm 1) or the wake-sleep baseline (§5)")
    p.add_argument("--epochs", type=float, default=d.epochs, help="budget in passes over the training set")
    p.add_argument("--max-samples", type=int, default=None, help="budget in training samples (overrides --epochs)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="training samples between evaluations")
    p.add_argument("--eval-per-decade", type=int, default=d.eval_per_decade,
                   help="also evaluate at this many log-spaced sample counts per decade (0: off)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints")
    p.add_argument("--dtype", default=d.dtype, choices=("float64", "float32"))
    p.add_argument("--data-dir", default=None, help="folder with the data files (else $AEVB_NP_DATA, data/, ../shared/data)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-nz<Nz>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run saved in RUN_DIR")
    p.add_argument("--force", action="store_true", help="overwrite a run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and CI)")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Map parsed flags to a :class:`TrainConfig`."""
    return TrainConfig(
        dataset=args.dataset, n_latent=args.n_latent, hidden=args.hidden, batch_size=args.batch_size,
        samples_per_datapoint=args.samples_per_datapoint, lr=args.lr, optimizer=args.optimizer,
        weight_decay=not args.no_weight_decay, estimator=args.estimator, algorithm=args.algorithm, epochs=args.epochs,
        max_samples=args.max_samples, seed=args.seed, eval_every=args.eval_every, eval_per_decade=args.eval_per_decade,
        checkpoint_every=args.checkpoint_every, dtype=args.dtype, data_dir=args.data_dir,
    )


# CLI flag -> TrainConfig field, for the flags a user may give again when resuming.
_FLAG_FIELDS = {"dataset": "dataset", "n_latent": "n_latent", "hidden": "hidden", "batch_size": "batch_size",
                "samples_per_datapoint": "samples_per_datapoint", "lr": "lr", "optimizer": "optimizer",
                "estimator": "estimator", "algorithm": "algorithm", "epochs": "epochs", "max_samples": "max_samples", "seed": "seed",
                "eval_every": "eval_every", "eval_per_decade": "eval_per_decade", "checkpoint_every": "checkpoint_every", "dtype": "dtype",
                "data_dir": "data_dir"}


def _explicit_flags(argv) -> dict:
    """The flags the user actually typed (not argparse defaults), as TrainConfig fields."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    fields = {_FLAG_FIELDS[k]: v for k, v in given.items() if k in _FLAG_FIELDS}
    if given.get("no_weight_decay"):
        fields["weight_decay"] = False
    return fields


def _resume_config(run_dir: Path, explicit: dict) -> TrainConfig:
    """The saved config of ``run_dir`` with the flags given on the command line applied on top."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise ConfigError(f"--resume {run_dir}: no run there (no config.json); start it without --resume")
    try:
        saved = json.loads(cfg_path.read_text())
        return dataclasses.replace(TrainConfig(**saved), **explicit)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"--resume {run_dir}: config.json is unreadable ({exc})") from None


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (2 for a user's mistake)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    config = config_from_args(args)
    if args.resume is not None:
        try:
            config = _resume_config(Path(args.resume), _explicit_flags(argv if argv is not None else sys.argv[1:]))
        except AEVBError as exc:
            print(f"aevb-train: error: {exc}", file=sys.stderr)
            return 2
        out = Path(args.resume)
    elif args.out is not None:
        out = Path(args.out)
    else:
        out = Path("runs") / f"{args.dataset}-nz{args.n_latent}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = train(config, out, resume=args.resume is not None, force=args.force, progress=not args.no_progress)
    except AEVBError as exc:
        print(f"aevb-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aevb-train: interrupted; resume with: python -m aevb_np.train --resume {out}", file=sys.stderr)
        return 130
    if not result["finished"]:
        print(f"interrupted at step {result['step']}; resume with: python -m aevb_np.train --resume {out}")
        return 130
    unit = "nats/datapoint (a log-density over [0,1] pixels: positive)" if config.dataset == "frey-face" else "nats/datapoint"
    print(f"done: {result['samples']} samples in {result['train_seconds']:.0f} s "
          f"({result['samples'] / max(result['train_seconds'], 1e-9):.0f} samples/s); "
          f"train lower bound {result['train_lower_bound']:.2f}, test lower bound {result['test_lower_bound']:.2f} {unit}; "
          f"run saved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
