"""Which log p(x) estimator should Fig. 3 use?  Each one's bias against exact quadrature.

Trains (through the one loop, :func:`aevb_np.train.train`) the Fig. 3 model -- MNIST,
Nz = 3, 100 hidden units, the first 1000 training points -- to a modest budget, then on
the first ``--n`` test and training points compares, against the exact log p_θ(x) of
:func:`aevb_np.marginal.quadrature_log_px` (a 3-D grid):

* Appendix D with the one-Gaussian fit and with anglepy's cross-validated KDE, at the
  paper's settings (50 posterior samples, 4 leapfrog steps; also 25 + 25, anglepy's
  half-and-half split of one 50-sample chain) and with 500 + 500 samples; the two
  densities share the chains of each setting (a paired comparison);
* importance sampling with the HMC-fitted, widened Gaussian proposal (train.py's
  ``hmc-is``), at train.py's K = 1000 and at a large K;
* importance sampling with the encoder q_φ(z|x) as proposal (Burda et al.), large K.

The HMC estimators get the decoder alone, as ``aevb_np.train.evaluate_rows`` passes it
(chains start from the prior), so the numbers are those a Fig. 3 evaluation would give.

    python benchmarks/fig3_estimators.py                     # 10^6 samples, n = 100
    python benchmarks/fig3_estimators.py --n 20 --max-samples 100000   # a quick look

Writes only the run folder (``--run-dir``; reused if it holds a finished run) and,
with ``--json``, the per-datapoint estimates.  Prints a table: estimator, settings,
split, mean log p̂(x), mean bias vs quadrature ± its standard error across datapoints,
the RMS error per datapoint, the median error, the number of datapoints off by more
than 1 nat (chains trapped in a minor mode), the mean error of the others, and the seconds (for both splits together; shared between
the two densities of one Appendix D setting).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from aevb_np import data, marginal  # noqa: E402
from aevb_np.train import TrainConfig, train  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="first n test and first n training points")
    p.add_argument("--max-samples", type=int, default=1_000_000, help="training budget (samples)")
    p.add_argument("--run-dir", default="runs/fig3_estimators", help="run folder (reused if finished)")
    p.add_argument("--grid", type=int, default=161, help="quadrature points per axis")
    p.add_argument("--limit", type=float, default=7.0, help="quadrature box half-width")
    p.add_argument("--check-grid", type=int, default=113, help="coarser grid for the refinement check (0: skip)")
    p.add_argument("--big-K", type=int, default=5000, help="K of the large-K importance sampling rows")
    p.add_argument("--long", type=int, default=500, help="n_fit = n_hmc of the long Appendix D rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the per-datapoint estimates here")
    args = p.parse_args(argv)
    print(f"fig3 estimator check ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; "
          f"{platform.processor() or platform.machine()}, numpy {np.__version__})", flush=True)

    config = TrainConfig(dataset="mnist", n_latent=3, hidden=100, train_subset=1000, lr=0.02,
                         max_samples=args.max_samples, eval_every=10**12, evaluation="bound", seed=args.seed)
    run = Path(args.run_dir)
    t0 = time.time()
    result = train(config, run, resume=(run / "config.json").exists(), progress=False)
    print(f"model: {args.max_samples:.0e} samples, train bound {result['train_lower_bound']:.2f}, "
          f"test bound {result['test_lower_bound']:.2f} ({time.time() - t0:.0f} s incl. data/resume)", flush=True)
    params = result["params"]
    decoder = {"theta": params["theta"]}
    x_test, _ = data.load_dataset("mnist", "test")
    x_train, _ = data.load_dataset("mnist", "train")
    n = args.n
    x = np.concatenate([x_test[:n], x_train[:n]])  # rows 0..n-1 test, n..2n-1 train
    splits = {"test": slice(0, n), "train": slice(n, 2 * n)}

    est, secs, settings = {}, {}, {}

    def timed(key, setting, fn):
        t = time.time()
        out = fn()
        dt = time.time() - t
        for k, v in (out.items() if isinstance(out, dict) else [(key, out)]):
            name = f"{key}/{k}" if isinstance(out, dict) else key
            est[name], secs[name], settings[name] = np.asarray(v), dt, setting
        print(f"  {key}: {dt:.0f} s", flush=True)

    t = time.time()
    truth, qinfo = marginal.quadrature_log_px(decoder, x, grid=args.grid, limit=args.limit, return_info=True)
    qsec = time.time() - t
    print(f"quadrature: grid {args.grid}^3 over [-{args.limit:g}, {args.limit:g}]^3 (step {qinfo['step']:.4f}), "
          f"{qsec:.0f} s; max step-2h error estimate {qinfo['error_estimate'].max():.2e} nats, "
          f"max boundary mass fraction {qinfo['boundary_fraction'].max():.1e}", flush=True)
    if args.check_grid:
        t = time.time()
        coarse = marginal.quadrature_log_px(decoder, x, grid=args.check_grid, limit=args.limit)
        print(f"refinement check: grid {args.check_grid} vs {args.grid}: max |difference| "
              f"{np.abs(coarse - truth).max():.2e} nats ({time.time() - t:.0f} s)", flush=True)

    rng = lambda k: np.random.default_rng([args.seed, k])  # noqa: E731
    both = ("gaussian", "kde")
    ad_info = {}

    def ad(key, setting, k, **kw):
        def fn():
            out, info = marginal.appendix_d_log_px(decoder, x, rng(k), density=both, return_info=True, **kw)
            ad_info[key] = info
            return out
        timed(key, setting, fn)

    ad("appendix-d 50+50", "n_fit=50 n_hmc=50 n_burnin=100 L=4 (train.py)", 1,
       n_fit=50, n_hmc=50, n_burnin=100, n_leapfrog=4)
    ad("appendix-d 25+25", "n_fit=25 n_hmc=25 n_burnin=100 L=4 (anglepy split)", 2,
       n_fit=25, n_hmc=25, n_burnin=100, n_leapfrog=4)
    L = args.long
    ad(f"appendix-d {L}+{L}", f"n_fit={L} n_hmc={L} n_burnin=100 L=4", 3, n_fit=L, n_hmc=L, n_burnin=100,
       n_leapfrog=4)
    timed("hmc-is K=1000", "K=1000 n_fit=200 n_burnin=200 L=10 cov×2 (train.py)",
          lambda: marginal.hmc_importance_sampled_log_px(decoder, x, 1000, rng(4), n_fit=200, n_burnin=200))
    K = args.big_K
    timed(f"hmc-is K={K}", f"K={K} n_fit=200 n_burnin=200 L=10 cov×2",
          lambda: marginal.hmc_importance_sampled_log_px(decoder, x, K, rng(5), n_fit=200, n_burnin=200))
    timed(f"encoder-is K={K}", f"K={K}, q_φ(z|x) proposal",
          lambda: marginal.importance_sampled_log_px(params, x, K, rng(6)))
    # The same HMC estimators with the chains started from the grid-discretized posterior
    # instead of the prior (marginal.grid_posterior_start): separates mode-trapping of the
    # chains from the quality of the density estimator.
    t = time.time()
    z0 = marginal.grid_posterior_start(decoder, x, rng(7))
    print(f"  grid start (57^3 over ±7): {time.time() - t:.0f} s", flush=True)
    ad("appendix-d 50+50 grid-start", "n_fit=50 n_hmc=50 n_burnin=100 L=4, z0 grid", 8,
       n_fit=50, n_hmc=50, n_burnin=100, n_leapfrog=4, z0=z0)
    ad(f"appendix-d {L}+{L} grid-start", f"n_fit={L} n_hmc={L} n_burnin=100 L=4, z0 grid", 9,
       n_fit=L, n_hmc=L, n_burnin=100, n_leapfrog=4, z0=z0)
    timed("hmc-is K=1000 grid-start", "K=1000 n_fit=200 n_burnin=200 L=10 cov×2, z0 grid",
          lambda: marginal.hmc_importance_sampled_log_px(decoder, x, 1000, rng(10), n_fit=200, n_burnin=200, z0=z0))

    print()
    print(f"first {n} test and first {n} training points; truth = quadrature ({qsec:.0f} s); nats per datapoint")
    head = (f"{'estimator':<36} {'settings':<50} {'split':<5} {'mean log p̂':>11} {'bias ± se':>17} {'rmse':>7} "
            f"{'median':>7} {'#|e|>1':>6} {'bias|e|<1':>10} {'s':>5}")
    print(head)
    print("-" * len(head))
    for sp, sl in splits.items():
        m = truth[sl].mean()
        print(f"{'quadrature (truth)':<36} {f'grid {args.grid}^3, ±{args.limit:g}':<50} {sp:<5} {m:>11.3f} "
              f"{'':>17} {'':>7} {'':>7} {'':>6} {'':>10} {qsec:>5.0f}")
        for name in est:
            e = est[name][sl] - truth[sl]
            b, se = marginal.mean_and_stderr(e)
            rmse = float(np.sqrt(np.mean(e * e)))
            ok = np.abs(e) < 1.0
            print(f"{name:<36} {settings[name]:<50} {sp:<5} {est[name][sl].mean():>11.3f} "
                  f"{b:>+8.3f} ± {se:<6.3f} {rmse:>7.3f} {np.median(e):>+7.3f} {int(np.sum(~ok)):>6d} "
                  f"{(e[ok].mean() if ok.any() else np.nan):>+10.3f} {secs[name]:>5.0f}")
        print()
    for key, info in ad_info.items():
        rel = info["kde_relative_factor"]
        vals, counts = np.unique(np.round(np.log(rel) * 2 + 5).astype(int), return_counts=True)
        print(f"{key}: acceptance {info['accept_rate'].mean():.2f}; KDE factor / Scott's = e^((i-5)/2), "
              f"i: counts {dict(zip(vals.tolist(), counts.tolist()))}")
    if args.json:
        Path(args.json).write_text(json.dumps({"truth": truth.tolist(), "n": n, **{k: v.tolist() for k, v in est.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
