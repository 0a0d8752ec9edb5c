"""Fig. 3 of Kingma & Welling (2014): estimated log p(x) against training samples evaluated.

The paper trains generative models of MNIST with a 3-dimensional latent space (Nz = 3)
and 100 hidden units on N_train = 1000 and N_train = 50,000 training points, and plots
the estimated marginal likelihood of training and test data against the number of
training samples evaluated, for AEVB, wake-sleep and Monte Carlo EM (Appendix E).
This script does the same with ``aevb_np``:

* **AEVB** — Algorithm 1, estimator B, Adagrad with the N(0, I) prior (§5), written out
  here over ``bounds.estimator_B`` and ``optim.Adagrad`` so it can stop at any sample
  count on a subset of the training set;
* **MCEM** — :mod:`aevb_np.baselines.mcem` (10 leapfrog steps tuned to 90% acceptance,
  5 Adagrad updates per sample, persistent chains);
* **wake-sleep** — :mod:`aevb_np.baselines.wake_sleep` with the same encoder as AEVB.

At log-spaced sample counts each model's log p(x) is estimated on fixed subsets of its
training set and of the test set, **with the same estimator for every method, using
the decoder only** (MCEM has no encoder):

* ``--estimator hmc-is`` (default): importance sampling with a Gaussian fitted to HMC
  posterior samples, widened ×2 in variance (:func:`aevb_np.marginal.hmc_importance_sampled_log_px`);
  a stochastic lower bound on log p(x), accurate in 3 dimensions;
* ``--estimator appendix-d``: the paper's own estimator (Appendix D: HMC, Gaussian
  density fit, harmonic mean; :func:`aevb_np.marginal.appendix_d_log_px`); consistent
  but biased upward for finite samples and of higher variance.

Departures from the paper, all for the sake of a budget a laptop can afford: far fewer
training samples (the paper's x axis runs to ~10⁸; ``--budget`` sets ours), subsets of
``--eval-points`` datapoints for the estimates, and MNIST grey levels as Bernoulli means
(see ``aevb_np.train``).  The x axis counts datapoints visited: an MCEM step costs ~16
decoder passes per datapoint, an AEVB step one encoder and one decoder pass; the JSON
records wall-clock seconds too.

Usage::

    python experiments/fig3.py --quick --out runs/fig3-quick          # < 1 minute
    python experiments/fig3.py --budget 1000000 --out runs/fig3       # much longer: MCEM and the HMC estimates dominate
    python experiments/fig3.py --replot runs/fig3/fig3.json           # redraw from a record

Writes ``OUT/fig3.json`` (every number) and ``OUT/fig3.png``.

References
----------
Kingma & Welling (2014), §5, Fig. 3, Appendix D and Appendix E.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Every matrix here is small (minibatches of 100 rows, Nz = 3, 100 hidden units): BLAS
# threads cost more than they give, and on a busy machine they slowed this script tenfold.
# One thread unless the user has chosen otherwise; must be set before NumPy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from aevb_np import bounds, marginal, model, optim  # noqa: E402
from aevb_np import data as data_mod  # noqa: E402
from aevb_np.baselines import mcem, wake_sleep  # noqa: E402
from aevb_np.errors import AEVBError, ConfigError  # noqa: E402

N_LATENT = 3  # Fig. 3
N_HIDDEN = 100  # Fig. 3
METHODS = ("aevb", "mcem", "wake-sleep")
LABELS = {"aevb": "AEVB", "mcem": "MCEM", "wake-sleep": "Wake-Sleep"}
COLORS = {"aevb": "tab:red", "mcem": "tab:green", "wake-sleep": "tab:blue"}


class _EncoderDecoderRun:
    """AEVB (estimator B) on a fixed training subset, resumable in chunks of steps."""

    def __init__(self, x_train, rng, lr, batch_size):
        self.x, self.rng, self.M = x_train, rng, batch_size
        N, D = x_train.shape
        self.params = model.init_params(D, N_HIDDEN, N_LATENT, "bernoulli", rng)
        self.opt = optim.Adagrad(lr, scale=N / batch_size, weight_decay=True)  # Eq. (8) and §5
        self.perm, self.pos, self.samples = rng.permutation(N), 0, 0

    def _batch(self):
        if self.pos + self.M > self.x.shape[0]:
            self.perm, self.pos = self.rng.permutation(self.x.shape[0]), 0
        xb = self.x[self.perm[self.pos : self.pos + self.M]]
        self.pos += self.M
        return xb

    def _grads(self, xb):
        eps = self.rng.standard_normal((1, xb.shape[0], N_LATENT))
        return bounds.estimator_B(self.params, xb, eps, validate=False)[1]

    def run(self, n_steps):
        for _ in range(n_steps):
            self.opt.step(self.params, self._grads(self._batch()))
            self.samples += self.M

    @property
    def decoder(self):
        return {"theta": self.params["theta"]}


class _WakeSleepRun(_EncoderDecoderRun):
    """Wake-sleep with the same encoder/decoder and optimizer as AEVB."""

    def _grads(self, xb):
        return wake_sleep.wake_sleep_gradients(self.params, xb, self.rng, validate=False)[1]


class _MCEMRun:
    """MCEM (Appendix E) on a fixed training subset, resumable."""

    def __init__(self, x_train, rng, lr, batch_size):
        self.x, self.rng = x_train, rng
        self.state = mcem.init_mcem(x_train, N_LATENT, N_HIDDEN, rng, batch_size=batch_size, lr=lr)

    def run(self, n_steps):
        mcem.train_mcem(self.x, N_LATENT, N_HIDDEN, n_steps, self.rng, state=self.state)

    @property
    def samples(self):
        return self.state.samples

    @property
    def decoder(self):
        return self.state.params


RUNNERS = {"aevb": _EncoderDecoderRun, "mcem": _MCEMRun, "wake-sleep": _WakeSleepRun}


def checkpoints(budget: int, batch_size: int, n_evals: int) -> list[int]:
    """Log-spaced sample counts from budget/100 to budget, multiples of the batch size."""
    lo = max(batch_size, budget // 100)
    points = np.geomspace(lo, budget, n_evals)
    return sorted({max(batch_size, int(round(p / batch_size)) * batch_size) for p in points})


def estimate_log_px(decoder: dict, x: np.ndarray, rng: np.random.Generator, args) -> np.ndarray:
    """The chosen estimator of log p(x) (nats per datapoint) from the decoder alone."""
    if args.estimator == "appendix-d":
        return marginal.appendix_d_log_px(decoder, x, rng, n_hmc=args.hmc_samples, n_fit=args.hmc_fit,
                                          n_burnin=args.hmc_burnin)
    return marginal.hmc_importance_sampled_log_px(decoder, x, args.iw_samples, rng, n_fit=args.hmc_fit,
                                                  n_burnin=args.hmc_burnin)


def run_panel(n_train: int, x_all: np.ndarray, x_test_all: np.ndarray, args, log=print) -> dict:
    """Train every method on N_train points and record its log p(x) curves."""
    rng_data = np.random.default_rng([args.seed, n_train])
    x_train = x_all[np.sort(rng_data.permutation(x_all.shape[0])[:n_train])]
    n_eval = min(args.eval_points, n_train)
    x_eval = np.concatenate([x_train[:n_eval], x_test_all[: args.eval_points]])  # one estimate call for both
    marks = checkpoints(args.budget, args.batch_size, args.n_evals)
    curves = {}
    for mi, method in enumerate(args.methods):
        runner = RUNNERS[method](x_train, np.random.default_rng([args.seed, n_train, mi]), args.lr, args.batch_size)
        curve = {"samples": [], "train": [], "test": [], "train_seconds": [], "eval_seconds": []}
        wall = 0.0
        for ci, mark in enumerate(marks):
            t0 = time.perf_counter()
            runner.run((mark - runner.samples) // args.batch_size)
            wall += time.perf_counter() - t0
            t0 = time.perf_counter()
            est = estimate_log_px(runner.decoder, x_eval, np.random.default_rng([args.seed, n_train, mi, ci, 7]), args)
            curve["samples"].append(int(runner.samples))
            curve["train"].append(float(est[:n_eval].mean()))
            curve["test"].append(float(est[n_eval:].mean()))
            curve["train_seconds"].append(round(wall, 3))
            curve["eval_seconds"].append(round(time.perf_counter() - t0, 3))
            log(f"N_train={n_train:>6}  {LABELS[method]:<10}  samples {runner.samples:>9}  "
                f"log p(x): train {curve['train'][-1]:8.2f}  test {curve['test'][-1]:8.2f}  "
                f"[train {wall:.1f} s, estimate {curve['eval_seconds'][-1]:.1f} s]")
        curves[method] = curve
    return {"n_train": n_train, "n_eval_train": n_eval, "n_eval_test": int(min(args.eval_points, x_test_all.shape[0])),
            "curves": curves}


def plot(record: dict, path: Path) -> None:
    """Draw one panel per N_train: solid lines train, dashed test, one colour per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = record["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for method, c in panel["curves"].items():
            ax.semilogx(c["samples"], c["train"], "-o", color=COLORS[method], ms=3, label=f"{LABELS[method]} (train)")
            ax.semilogx(c["samples"], c["test"], "--o", color=COLORS[method], ms=3, mfc="none",
                        label=f"{LABELS[method]} (test)")
        ax.set_title(f"MNIST, $N_{{train}}$ = {panel['n_train']}, $N_z$ = {N_LATENT}")
        ax.set_xlabel("# training samples evaluated")
        ax.set_ylabel("estimated marginal log-likelihood (nats)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    est = record["config"]["estimator"]
    fig.suptitle(f"Fig. 3 reproduction (aevb_np); log p(x) by {'HMC-fitted IS' if est == 'hmc-is' else 'Appendix D'}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


QUICK = dict(budget=2_000, n_evals=2, eval_points=10, iw_samples=20, hmc_fit=10, hmc_burnin=10, hmc_samples=10)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python experiments/fig3.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"CI-sized run (< 1 minute): {', '.join(f'{k}={v}' for k, v in QUICK.items())}")
    p.add_argument("--budget", type=int, default=1_000_000, help="training samples evaluated per method and N_train")
    p.add_argument("--n-train", type=int, nargs="+", default=[1000, 50_000], help="training-set sizes (one panel each)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--estimator", default="hmc-is", choices=("hmc-is", "appendix-d"),
                   help="log p(x) estimator: IS with an HMC-fitted proposal, or the paper's Appendix D")
    p.add_argument("--n-evals", type=int, default=8, help="log-spaced evaluation points along training")
    p.add_argument("--eval-points", type=int, default=200, help="train and test datapoints per estimate")
    p.add_argument("--iw-samples", type=int, default=1000, help="importance samples per datapoint (hmc-is)")
    p.add_argument("--hmc-fit", type=int, default=200, help="HMC samples the Gaussian q(z) is fitted to")
    p.add_argument("--hmc-burnin", type=int, default=200, help="discarded HMC transitions")
    p.add_argument("--hmc-samples", type=int, default=500, help="new HMC samples (appendix-d)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch size M (§5)")
    p.add_argument("--lr", type=float, default=0.02, help="Adagrad step size, shared by all methods")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/fig3", help="output folder for fig3.json and fig3.png")
    p.add_argument("--replot", metavar="JSON", default=None, help="only redraw the PNG from a recorded fig3.json")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.replot:
            src = Path(args.replot)
            if not src.exists():
                raise ConfigError(f"--replot {src}: no such file")
            record = json.loads(src.read_text())
            plot(record, src.with_suffix(".png"))
            print(f"wrote {src.with_suffix('.png')}")
            return 0
        if args.quick:
            for k, v in QUICK.items():
                setattr(args, k, v)
        for name in ("budget", "n_evals", "eval_points", "iw_samples", "batch_size", "hmc_samples"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
        if args.budget < args.batch_size:
            raise ConfigError(f"--budget {args.budget} is smaller than one minibatch ({args.batch_size})")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        x_all, _ = data_mod.load_dataset("mnist", "train", args.data_dir)
        x_test, _ = data_mod.load_dataset("mnist", "test", args.data_dir)
        for n in args.n_train:
            if not 1 <= n <= x_all.shape[0] or n < args.batch_size:
                raise ConfigError(f"--n-train {n} must be between the batch size and {x_all.shape[0]}")
        t0 = time.perf_counter()
        record = {"config": {k: v for k, v in vars(args).items() if k != "replot"}, "n_latent": N_LATENT,
                  "n_hidden": N_HIDDEN, "units": "nats per datapoint", "panels": []}
        for n in args.n_train:
            record["panels"].append(run_panel(n, x_all, x_test, args))
        record["seconds"] = round(time.perf_counter() - t0, 1)
        (out / "fig3.json").write_text(json.dumps(record, indent=2))
        plot(record, out / "fig3.png")
        print(f"wrote {out / 'fig3.json'} and {out / 'fig3.png'} in {record['seconds']:.0f} s")
    except AEVBError as exc:
        print(f"fig3: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
