"""Does a longer §5 trial choose the same step size?  (``--lr auto``'s "first few iterations")

For each panel and algorithm, each rate of {0.01, 0.02, 0.1} is trained from the run's own
initialization (the sweep's settings: ``experiments/fig2.py``'s ``run_config``, float32) and
scored, as ``--lr auto`` scores it, after 10⁵ samples (the default ``--lr-trial-samples``) and
again after a longer trial (3·10⁵ by default) continued from the same run.  The script prints
every score and whether the two lengths choose the same rate.

    python benchmarks/lr_auto_trial_length.py                       # MNIST Nz=20, Frey Face Nz=10
    python benchmarks/lr_auto_trial_length.py --panels frey-face:2 --long 1000000

Writes nothing; prints a table (its numbers go in the README with the date and machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread, as the sweep runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import fig2  # noqa: E402

from aevb_np.train import LR_CANDIDATES, _load_data, lr_trial  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--panels", nargs="+", default=["mnist:20", "frey-face:10"])
    p.add_argument("--algorithms", nargs="+", default=list(fig2.ALGORITHMS), choices=fig2.ALGORITHMS)
    p.add_argument("--short", type=int, default=100_000, help="the trial length --lr auto uses")
    p.add_argument("--long", type=int, default=300_000, help="the longer trial it is compared with")
    args = p.parse_args(argv)
    print(f"lr auto trial length check ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; "
          f"{platform.machine()}, {os.cpu_count()} CPUs)")
    print("| panel | algorithm | lr | score @ short | score @ long | chosen @ short | chosen @ long |")
    print("|---|---|---:|---:|---:|---:|---:|")
    agree = True
    for text in args.panels:
        dataset, nz = fig2.parse_panel(text)
        for algorithm in args.algorithms:
            config = fig2.run_config(dataset, nz, algorithm, args.long, quick=False)
            x_train, _ = _load_data(config)
            x_score = x_train[: config.eval_train_size]
            results = {lr: lr_trial(config, lr, x_train, x_score, (args.short, args.long)) for lr in LR_CANDIDATES}
            best = []
            for i in range(2):
                finite = {lr: r[0][i] for lr, r in results.items() if r[0][i] is not None}
                best.append(max(finite, key=finite.get) if finite else None)
            agree &= best[0] == best[1]
            for lr, (scores, reason) in results.items():
                cells = ["diverged" if s is None else f"{s:.2f}" for s in scores]
                print(f"| {dataset} Nz={nz} | {algorithm} | {lr:g} | {cells[0]} | {cells[1]} | {best[0]:g} | {best[1]:g} |",
                      flush=True)
    print(f"same choice at {args.short:.0e} and {args.long:.0e} samples on every panel: {agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
