"""Fig. 2's *train* curves against ours, read as the paper drew them: running means.

The paper's training-set curve is the mean of the training minibatches' bounds since the
previous logged point (``experiments/frey_out/README.md`` shows it on Frey Face; on MNIST the
first logged point, 1.9–3.1·10⁵ samples, has train 21–79 nats below test for the same reason).
Our train bound is evaluated on 10,000 training points at the logged count itself, so early
on, where a curve still rises fast, it is ahead of a running mean by construction. This
prints, for each MNIST panel and algorithm with a committed log, at the paper's logged point
nearest 10⁶ samples: the paper's train value, ours at that point, ours *averaged over the
same window* (trapezoid rule over our evaluations, linear x), and the test values.

Usage (from the repository root)::

    python experiments/fig2_train_windows.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "frey_out"))
import compare  # noqa: E402  (experiments/frey_out/compare.py: at, window_mean, read_log)
import paper_curves  # noqa: E402

PANELS = (3, 5, 10, 20, 200)
ALGORITHMS = ("aevb", "wake-sleep")


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def rows(near: float = 1e6) -> list[str]:
    lines = ["| panel | algorithm | paper's window | paper train | ours at its end | ours, window mean | "
             "paper test | ours test |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for nz in PANELS:
        run_root = HERE / "fig2_out" / "runs"
        for algorithm in ALGORITHMS:
            run = run_root / f"mnist-nz{nz}-{algorithm}"
            train_curve = paper_curves.curve(f"MNIST Nz={nz}", algorithm, "train")
            if not (run / "log.jsonl").exists() or train_curve is None:
                continue
            xs, ys = train_curve
            k = int(np.argmin(np.abs(np.log10(xs) - math.log10(near))))
            if k == 0:
                continue  # the window's start is outside the drawn part of the curve
            lo, hi = float(xs[k - 1]), float(xs[k])
            x, tr, te = compare.read_log(run)
            paper_test = paper_curves.value_at(f"MNIST Nz={nz}", algorithm, "test", hi)
            lines.append(f"| MNIST Nz={nz} | {algorithm} | [{lo:.3g}, {hi:.3g}] | {ys[k]:.1f} | "
                         f"{fmt(compare.at(x, tr, hi))} | {fmt(compare.window_mean(x, tr, lo, hi))} | "
                         f"{fmt(paper_test)} | {fmt(compare.at(x, te, hi))} |")
    return lines


if __name__ == "__main__":
    print("\n".join(rows()))
