"""SHA-256 of the final parameters (and the last evaluation) of short fixed runs of every
algorithm, to show that a refactoring leaves training bit for bit unchanged (issue 23).

Each run is the real CLI (``python -m aevb_np.train``) in a fresh process, float64, on a
few hundred training points: AEVB, wake-sleep, MCEM and full VB on MNIST, AEVB on Frey
Face, plus AEVB with ``--lr auto`` (§5's trials) and runs evaluated by Appendix D, by
HMC importance sampling and by quadrature, so the evaluation code is pinned as well.  The
parameter hash covers every array of ``params.npz`` (names, dtypes, shapes and bytes, in
sorted order); the summary column is the last evaluation's numbers, printed exactly.

Usage::

    python benchmarks/param_hashes.py [--data-dir DIR] [--out FILE]

Run it at two commits and compare the tables: equal tables mean equal runs on this machine
(the BLAS library is part of the result, so compare on one machine only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

COMMON = ["--max-samples", "600", "--train-subset", "300", "--eval-every", "300", "--eval-train-size", "50",
          "--eval-test-size", "50", "--dtype", "float64", "--seed", "7", "--no-progress"]

RUNS = {
    "aevb-mnist": ["--dataset", "mnist", "--algorithm", "aevb", "--hidden", "100", "--n-latent", "5"],
    "aevb-mnist-lr-auto": ["--dataset", "mnist", "--algorithm", "aevb", "--hidden", "50", "--n-latent", "3",
                           "--lr", "auto", "--lr-trial-samples", "200"],
    "aevb-mnist-estimator-A-L2": ["--dataset", "mnist", "--algorithm", "aevb", "--hidden", "50", "--n-latent", "3",
                                  "--estimator", "A", "--samples-per-datapoint", "2", "--logvar-scale", "0.1"],
    "wake-sleep-mnist": ["--dataset", "mnist", "--algorithm", "wake-sleep", "--hidden", "100", "--n-latent", "5",
                         "--logvar-scale", "0.1"],
    "mcem-mnist-appendix-d": ["--dataset", "mnist", "--algorithm", "mcem", "--hidden", "50", "--n-latent", "2",
                              "--evaluation", "appendix-d", "--eval-train-size", "10", "--eval-test-size", "10"],
    "full-vb-mnist": ["--dataset", "mnist", "--algorithm", "full-vb", "--hidden", "50", "--n-latent", "3"],
    "aevb-mnist-hmc-is": ["--dataset", "mnist", "--algorithm", "aevb", "--hidden", "50", "--n-latent", "2",
                          "--evaluation", "hmc-is", "--eval-train-size", "10", "--eval-test-size", "10"],
    "aevb-mnist-quadrature": ["--dataset", "mnist", "--algorithm", "aevb", "--hidden", "50", "--n-latent", "2",
                              "--evaluation", "quadrature", "--adagrad-warmup", "2"],
    "aevb-frey-face": ["--dataset", "frey-face", "--algorithm", "aevb", "--hidden", "50", "--n-latent", "2",
                       "--decoder-logvar-scale", "0.1"],
}


def params_sha256(path: Path) -> str:
    """SHA-256 over the arrays of a ``params.npz`` (sorted names, dtype, shape, bytes)."""
    h = hashlib.sha256()
    with np.load(path) as z:
        for name in sorted(z.files):
            a = np.ascontiguousarray(z[name])
            h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--out", default=None, help="also write the table here")
    ap.add_argument("--only", nargs="*", default=None, help="run only these names")
    args = ap.parse_args(argv)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in RUNS.items():
            if args.only and name not in args.only:
                continue
            out = Path(tmp) / name
            cmd = [sys.executable, "-m", "aevb_np.train", *COMMON, *flags, "--data-dir", args.data_dir, "--out",
                   str(out)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            summary = json.loads((out / "summary.json").read_text())
            numbers = {k: v for k, v in summary.items() if k.startswith(("train_", "test_")) and k != "train_seconds"}
            line = f"{name:28s} {params_sha256(out / 'params.npz')}  {json.dumps(numbers, sort_keys=True)}"
            print(line, flush=True)
            lines.append(line)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
