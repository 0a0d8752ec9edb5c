"""What one Fig. 3 evaluation costs: Appendix D's log p(x) on the first 1000 training and 1000
test points, as a run logs it, at two versions of the code, and how close each is to the truth.

For a trained decoder (a run folder's ``params.npz`` or ``checkpoint.npz``), each version
``aevb_np`` (this checkout, and any other checkout given with ``--against``, e.g. a
``git worktree`` of an older commit) is imported in a fresh process, which times the
evaluation exactly as the training loop runs it (``aevb_np.train.evaluate_splits``, or two
calls of ``evaluate_rows`` in versions without it) in CPU seconds of that process (one BLAS
thread: CPU time does not count the time other processes hold the core, so shared machines
give comparable numbers), splits the time into its parts (the grid the chains start from,
and HMC with the fit), and reports the mean estimate against the quadrature of
:func:`aevb_np.marginal.quadrature_log_px` (113³ points over ±7: exact to grid error, which
is checked against 161³ in ``tests/test_marginal_quadrature.py``).

Usage::

    python benchmarks/appendix_d_cost.py RUN_DIR [--against OTHER_CHECKOUT] [--seeds 0 1] [--points 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# Runs inside the child process: times one version's evaluation.  Kept as source text so the
# child imports only the version under test (its folder first on sys.path).
CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threadpool_limits(1, user_api="blas")
from aevb_np import checkpoint, data, marginal, train as T
run_dir, points, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cfg = json.loads(open(run_dir + "/config.json").read())
params = checkpoint.load_params(run_dir + "/params.npz") if __import__("os").path.exists(run_dir + "/params.npz") \
    else checkpoint.load_params(run_dir + "/checkpoint.npz")
xs = (data.load_mnist("train")[0][:points], data.load_mnist("test")[0][:points])
known = {f.name for f in __import__("dataclasses").fields(T.TrainConfig)}
config = T.TrainConfig(**{k: v for k, v in cfg.items() if k in known})
part = T.PARTS[config.algorithm](config, 784, config.train_subset or 60000)
rng = np.random.default_rng([seed, 0xE7A1])
parts = {}
grid = marginal.grid_posterior_start
def timed_grid(*a, **k):
    t = time.process_time(); out = grid(*a, **k); parts["grid"] = parts.get("grid", 0.0) + time.process_time() - t
    return out
marginal.grid_posterior_start = timed_grid
t = time.process_time()
if hasattr(T, "evaluate_splits"):
    est = T.evaluate_splits(part, params, xs, "appendix-d", rng)
else:
    est = [T.evaluate_rows(part, params, x, "appendix-d", rng) for x in xs]
total = time.process_time() - t
print(json.dumps({"cpu_s": total, "grid_cpu_s": parts.get("grid", 0.0), "train": float(np.mean(est[0])),
                  "test": float(np.mean(est[1])), "train_rows": [float(v) for v in est[0]],
                  "test_rows": [float(v) for v in est[1]]}))
"""


def run_version(source: Path, run_dir: Path, points: int, seed: int) -> dict:
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(source)!r})\n" + CHILD,
                          str(run_dir), str(points), str(seed)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quadrature(run_dir: Path, points: int) -> tuple[float, float]:
    import numpy as np  # noqa: F401  (this checkout's aevb_np)

    from aevb_np import checkpoint, data, marginal

    path = run_dir / "params.npz" if (run_dir / "params.npz").exists() else run_dir / "checkpoint.npz"
    theta = checkpoint.load_params(path)["theta"]
    return tuple(float(marginal.quadrature_log_px(theta, data.load_mnist(s)[0][:points], grid=113, limit=7.0).mean())
                 for s in ("train", "test"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a run folder with config.json and params.npz or checkpoint.npz (Nz <= 3)")
    p.add_argument("--against", default=None, help="another checkout of aevb_np to time beside this one")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="evaluation seeds (default 0 1)")
    p.add_argument("--points", type=int, default=1000, help="points per split (default 1000, as Fig. 3)")
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    versions = {"this checkout": here} | ({"--against": Path(args.against).resolve()} if args.against else {})
    run_dir = Path(args.run_dir).resolve()
    results = {name: [] for name in versions}
    for seed in args.seeds:  # interleaved
        for name, source in versions.items():
            results[name].append(run_version(source, run_dir, args.points, seed))
    t = time.process_time()
    q_train, q_test = quadrature(run_dir, args.points)
    q_seconds = time.process_time() - t
    print(f"benchmarks/appendix_d_cost.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; model {run_dir}; "
          f"{args.points} + {args.points} points; CPU seconds, one BLAS thread")
    print(f"quadrature (113^3 grid): train {q_train:.3f}, test {q_test:.3f} nats ({q_seconds:.0f} CPU s)")
    print("| version | seed | CPU s (all) | of which grid start | train: ours − quadrature | test: ours − quadrature |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        for seed, r in zip(args.seeds, rows):
            print(f"| {name} | {seed} | {r['cpu_s']:.1f} | {r['grid_cpu_s']:.1f} | {r['train'] - q_train:+.3f} | "
                  f"{r['test'] - q_test:+.3f} |")
    if len(results) == 2:
        a, b = (sum(r["cpu_s"] for r in rows) / len(rows) for rows in results.values())
        print(f"mean CPU s: this checkout {a:.1f}, --against {b:.1f}: {b / a:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
