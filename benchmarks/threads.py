"""How many BLAS threads should ``python -m aevb_np.train`` use?  The training step's rate
with 1 and 2 threads, alone and beside another training process, in float64 and float32.

Each measurement runs the real CLI (``python -m aevb_np.train --threads T --dtype D``, the
paper's MNIST model: 784-500-20, M = 100, estimator B, Adagrad; a short budget, the bound
evaluated on 100 points only) in a fresh process and reads the rate it prints (training
samples per second of wall time, evaluations included, data loading not).  "Beside" starts
a second training run (one thread, float64, a budget it never reaches) first and stops it
after: the situation of two Fig. 3 runs on a 2-core machine, or a run beside a test suite.
The settings are interleaved over ``--repeats`` rounds, and each result is the median with
its range; the load average before each round is printed, since the machines are shared.

Usage::

    python benchmarks/threads.py [--samples 20000] [--repeats 3] [--out FILE]

The output is committed as ``benchmarks/results/threads-<date>.txt``; the default of
``--threads`` (:data:`aevb_np.environment.DEFAULT_THREADS`) is chosen from it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aevb_np import environment

RATE = re.compile(r"\((\d+) samples/s\)")


def train_command(out: Path, threads: int, dtype: str, samples: int) -> list[str]:
    return [sys.executable, "-m", "aevb_np.train", "--dataset", "mnist", "--max-samples", str(samples),
            "--eval-every", str(10**9), "--eval-train-size", "100", "--eval-test-size", "100", "--no-progress",
            "--threads", str(threads), "--dtype", dtype, "--out", str(out)]


def measure(tmp: Path, tag: str, threads: int, dtype: str, samples: int, beside: bool) -> float:
    """Samples/s of one short training run (wall time), optionally beside another run."""
    other = None
    if beside:
        other = subprocess.Popen(train_command(tmp / f"beside-{tag}", 1, "float64", 10**9),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)  # let it load the data and start training
    try:
        done = subprocess.run(train_command(tmp / tag, threads, dtype, samples), capture_output=True, text=True,
                              check=True)
    finally:
        if other is not None:
            other.terminate()
            other.wait()
    match = RATE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"no rate in the output of the training run:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=20_000, help="training samples per measurement (default 20000)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--out", default=None, help="also write the report to this file (never over an existing one)")
    args = p.parse_args(argv)
    settings = [(dtype, threads, beside) for beside in (False, True) for dtype in ("float64", "float32")
                for threads in (1, 2)]
    rates: dict = {s: [] for s in settings}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            loads.append(os.getloadavg()[0])
            for dtype, threads, beside in settings:
                tag = f"r{r}-{dtype}-t{threads}-{'beside' if beside else 'alone'}"
                rates[(dtype, threads, beside)].append(measure(Path(tmp), tag, threads, dtype, args.samples, beside))
                print(f"  {tag}: {rates[(dtype, threads, beside)][-1]:.0f} samples/s", file=sys.stderr, flush=True)
    env = environment.describe(1)
    lines = [f"benchmarks/threads.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"machine: {env['cpu']}, {env['cores']} logical CPUs; BLAS: {'; '.join(env['blas'])}; "
             f"numpy {env['numpy']}, aevb_np {env['aevb_np']} ({env['commit']})",
             f"python -m aevb_np.train, MNIST 784-500-20, M = 100, {args.samples} samples per measurement, "
             f"median [range] of {args.repeats} interleaved rounds; 1-min load average before each round: "
             + ", ".join(f"{x:.1f}" for x in loads),
             "", "| dtype | beside another run | 1 thread (samples/s) | 2 threads (samples/s) | 1 thread / 2 threads |",
             "|---|---|---:|---:|---:|"]
    for beside in (False, True):
        for dtype in ("float64", "float32"):
            one, two = rates[(dtype, 1, beside)], rates[(dtype, 2, beside)]
            fmt = lambda v: f"{statistics.median(v):.0f} [{min(v):.0f}–{max(v):.0f}]"  # noqa: E731
            lines.append(f"| {dtype} | {'yes' if beside else 'no'} | {fmt(one)} | {fmt(two)} | "
                         f"{statistics.median(one) / statistics.median(two):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        out = Path(args.out)
        if out.exists():
            print(f"threads.py: error: {out} exists; choose another --out", file=sys.stderr)
            return 2
        out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
