"""Cost per training sample of AEVB, wake-sleep and MCEM in the setting of Fig. 3.

Kingma & Welling (2014), §5 and Appendix E: MNIST, the first N_train = 1000 training points,
100 hidden units, Nz = 3, M = 100; MCEM does 10 HMC leapfrog steps per datapoint and then 5
Adagrad weight updates per minibatch. Each algorithm trains through the one loop
(:func:`aevb_np.loop.algorithm_1`) from its own fresh start; the rounds are interleaved
(AEVB, wake-sleep, MCEM, AEVB, …) so that a shared machine's load falls on all three alike.
Printed: training samples per second (the median over ``--repeats`` rounds and its range,
by wall clock and per CPU second of this process), and MCEM's cost relative to the others.
Also the wall and CPU time of one Appendix D evaluation (50 + 50 HMC samples, 4 leapfrog
steps, chains started from the grid posterior) of ``--eval-points`` training and as many test
points (default 1000 + 1000, as Fig. 3; the grid start has a fixed cost, so fewer points do not
scale down proportionally).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/fig3_cost.py [--repeats 5] [--samples 20000]
                                                         [--eval-points 1000] [--save]

``--save`` also writes the output to ``benchmarks/results/fig3_cost-<date>.txt`` (refusing
to overwrite a file already there).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import platform
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import fig3  # noqa: E402

from aevb_np import data  # noqa: E402
from aevb_np.algorithms import PARTS  # noqa: E402
from aevb_np.loop import algorithm_1, new_state  # noqa: E402
from aevb_np.train import evaluate_rows  # noqa: E402

ALGORITHMS = ("aevb", "wake-sleep", "mcem")


def one_round(config, x_train: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """Train ``samples`` samples from a fresh start; (wall seconds, CPU seconds)."""
    part = PARTS[config.algorithm](config, x_train.shape[1], x_train.shape[0])
    state = new_state(part, part.make_optimizer(config.lr), np.random.default_rng(seed))
    wall, cpu = time.perf_counter(), time.process_time()
    algorithm_1(part, state, x_train, samples)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds per algorithm")
    ap.add_argument("--samples", type=int, default=20_000, help="training samples per round")
    ap.add_argument("--eval-points", type=int, default=1000, help="points of the timed Appendix D evaluation")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--save", action="store_true", help="also write benchmarks/results/fig3_cost-<date>.txt")
    args = ap.parse_args(argv)
    out = io.StringIO()
    with redirect_stdout(out):
        report(args)
    text = out.getvalue()
    print(text, end="")
    if args.save:
        path = ROOT / "benchmarks" / "results" / f"fig3_cost-{time.strftime('%Y-%m-%d')}.txt"
        if path.exists():
            print(f"{path} exists; not overwritten", file=sys.stderr)
            return 1
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def report(args) -> None:
    x_all, _ = data.load_dataset("mnist", "train", data_dir=args.data_dir)
    x_train = x_all[:1000]
    configs = {a: dataclasses.replace(fig3.run_config(1000, a, args.samples, False), lr=0.1) for a in ALGORITHMS}
    print(f"Fig. 3 setting: N_train = 1000, 100 hidden, Nz = 3, M = 100, float64, lr 0.1; "
          f"{args.samples} samples per round, {args.repeats} interleaved rounds")
    print(f"{platform.machine()}, {platform.processor() or platform.platform()}, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
    wall = {a: [] for a in ALGORITHMS}
    cpu = {a: [] for a in ALGORITHMS}
    for r in range(args.repeats):
        for a in ALGORITHMS:
            w, c = one_round(configs[a], x_train, args.samples, seed=r)
            wall[a].append(args.samples / w)
            cpu[a].append(args.samples / c)
    print(f"{'algorithm':<11} {'samples/s (wall)':>18} {'range':>17} {'samples per CPU-s':>18}")
    for a in ALGORITHMS:
        print(f"{a:<11} {statistics.median(wall[a]):>18,.0f} {min(wall[a]):>8,.0f}–{max(wall[a]):<8,.0f} "
              f"{statistics.median(cpu[a]):>18,.0f}")
    m = statistics.median(cpu["mcem"])
    print(f"MCEM's cost per sample (CPU): {statistics.median(cpu['aevb']) / m:.1f}× AEVB's, "
          f"{statistics.median(cpu['wake-sleep']) / m:.1f}× wake-sleep's")
    # One Appendix D evaluation of the model the last AEVB round would start from.
    config = configs["aevb"]
    part = PARTS["aevb"](config, x_train.shape[1], x_train.shape[0])
    state = new_state(part, part.make_optimizer(config.lr), np.random.default_rng(0))
    algorithm_1(part, state, x_train, args.samples)
    x_test = data.load_dataset("mnist", "test", data_dir=args.data_dir)[0][: args.eval_points]
    t, c = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(1)
    for x in (x_train[: args.eval_points], x_test):
        evaluate_rows(part, state.params, x, "appendix-d", rng)
    print(f"Appendix D evaluation of {args.eval_points} + {args.eval_points} points: "
          f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} CPU-s")


if __name__ == "__main__":
    sys.exit(main())
