"""Frey Face AEVB runs against the paper's Fig. 2 curves, read the way the figure was drawn.

Usage (from the repository root)::

    python experiments/frey_out/compare.py            # every run under experiments/frey_out/runs/
    python experiments/frey_out/compare.py RUN_DIR…   # these runs only

Two things about the paper's Frey Face curves decide how a run has to be compared with them:

1. **The first logged point is at ≈ 4.7·10⁵ samples** (AEVB; wake-sleep ≈ 2.8·10⁵), then one
   every ≈ 4.6·10⁵.  What the figure shows left of it is a straight segment (in log x) from
   an earlier point outside the axes; so the "values at 10⁵ and 3·10⁵" read off the figure
   are points on that segment, not measurements.  Extending the train and the test segment
   of a panel to where they meet gives that earlier point: ≈ (500 samples, −527 nats) in
   every one of the eight Frey panels/algorithms — the bound of the untrained model (ours:
   −526.3).  Part 1 of the output shows this.
2. **The train curve is a running average.**  At the first logged point the paper's train
   value is ≈ 210 nats below its test value (AEVB Nz = 10: 468 vs 680), at the next two it
   equals the mean of the test values at the ends of its window (740 vs (680 + 779)/2, 830
   vs (779 + 847)/2), and late on train > test (overfitting).  That is what an average of
   the training minibatches' bounds since the previous log point gives (anglepy's training
   loops report exactly that), and not what a bound evaluated on the training set gives.
   So part 2 compares our *test* bound at the paper's logged sample counts, and our train
   bound *averaged over the same windows* (trapezoid rule over the logged evaluations, in
   linear x) with the paper's train values.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import paper_curves  # noqa: E402  (experiments/paper_curves.py)

#: The paper's values at 10⁵ samples as the figure draws them (shared/paper/fig2_fig3_values.md,
#: read from the full vertex list, whose segments reach the axis edge): (train, test).
AT_1E5 = {("Frey Nz=2", "aevb"): (239.0, 377.5), ("Frey Nz=2", "wake-sleep"): (191.3, 385.2),
          ("Frey Nz=5", "aevb"): (238.7, 390.5), ("Frey Nz=5", "wake-sleep"): (190.6, 385.4),
          ("Frey Nz=10", "aevb"): (242.6, 406.8), ("Frey Nz=10", "wake-sleep"): (189.6, 388.6),
          ("Frey Nz=20", "aevb"): (235.3, 384.2), ("Frey Nz=20", "wake-sleep"): (186.9, 390.4)}
#: The sweep's own run, the baseline of every controlled run here.
BASELINE = HERE.parent / "fig2_out" / "runs" / "frey-face-nz10-aevb"


def hidden_first_point() -> list[str]:
    """Part 1: where the segments left of the first logged point meet, per panel and algorithm."""
    lines = ["| panel | algorithm | first logged point | train there | test there | segments meet at |",
             "|---|---|---|---|---|---|"]
    for (panel, alg), (tr5, te5) in AT_1E5.items():
        (xs_tr, ys_tr), (xs_te, ys_te) = paper_curves.curve(panel, alg, "train"), paper_curves.curve(panel, alg, "test")
        x1 = xs_te[0]
        s_tr = (ys_tr[0] - tr5) / (math.log10(xs_tr[0]) - 5)  # nats per decade
        s_te = (ys_te[0] - te5) / (math.log10(x1) - 5)
        l0 = 5 + (tr5 - te5) / (s_te - s_tr)
        lines.append(f"| {panel} | {alg} | {x1:.3g} | {ys_tr[0]:.0f} | {ys_te[0]:.0f} | "
                     f"{10 ** l0:.0f} samples, {tr5 + s_tr * (l0 - 5):.0f} nats |")
    return lines


def read_log(run: Path):
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    x = np.array([r["samples"] for r in rows], dtype=float)
    return x, np.array([r["train_lower_bound"] for r in rows]), np.array([r["test_lower_bound"] for r in rows])


def at(x, y, where):
    """y at ``where`` samples, interpolated in log10 x (as Fig. 2 is drawn); None past the log."""
    if where > x[-1] or where < x[1]:
        return None
    return float(np.interp(math.log10(where), np.log10(x[1:]), y[1:]))


def window_mean(x, y, lo, hi):
    """Mean of y over lo ≤ x ≤ hi in linear x (trapezoid rule on the logged points); None past the log."""
    if hi > x[-1]:
        return None
    grid = np.unique(np.concatenate([[lo, hi], x[(x > lo) & (x < hi)]]))
    vals = np.interp(grid, x, y)
    return float(np.sum(np.diff(grid) * (vals[1:] + vals[:-1]) / 2) / (hi - lo))


def fmt(v):
    return "—" if v is None else f"{v:.0f}"


def compare(runs: list[Path], algorithm: str = "aevb") -> list[str]:
    """Part 2: each run against the paper's Nz = 10 curve of ``algorithm`` at its own logged points."""
    (xs_tr, ys_tr), (xs_te, ys_te) = (paper_curves.curve("Frey Nz=10", algorithm, s) for s in ("train", "test"))
    x1, x2 = xs_tr[0], xs_tr[1]  # the train curve's first two logged points (the test curve's where it has them)
    te1 = float(np.interp(math.log10(x1), np.log10(xs_te), ys_te))
    te2 = float(np.interp(math.log10(x2), np.log10(xs_te), ys_te))
    lines = [f"| {algorithm} run | test at {x1:.3g} | at {x2:.3g} | train, mean over [500, {x1:.3g}] "
             f"| over [{x1:.3g}, {x2:.3g}] | test at 1e5 | at 1e6 |", "|---|---|---|---|---|---|---|",
             f"| paper | {te1:.0f} | {te2:.0f} | {ys_tr[0]:.0f} | {ys_tr[1]:.0f} | "
             f"(segment: {AT_1E5[('Frey Nz=10', algorithm)][1]:.0f}) | "
             f"{paper_curves.value_at('Frey Nz=10', algorithm, 'test', 1e6):.0f} |"]
    for run in runs:
        x, tr, te = read_log(run)
        lines.append(f"| `{run.name}` | {fmt(at(x, te, x1))} | {fmt(at(x, te, x2))} | {fmt(window_mean(x, tr, 500, x1))} "
                     f"| {fmt(window_mean(x, tr, x1, x2))} | {fmt(at(x, te, 1e5))} | {fmt(at(x, te, 1e6))} |")
    return lines


def main(argv: list[str]) -> None:
    runs = [Path(a) for a in argv] or ([BASELINE] if BASELINE.exists() else []) + sorted(
        p for p in (HERE / "runs").iterdir() if (p / "log.jsonl").exists())
    print("\n".join(hidden_first_point()))
    print()
    print("\n".join(compare(runs)))
    ws = HERE.parent / "fig2_out" / "runs" / "frey-face-nz10-wake-sleep"
    if not argv and ws.exists():  # the same reading of the sweep's wake-sleep run: the same decoder
        print()
        print("\n".join(compare([ws], "wake-sleep")))


if __name__ == "__main__":
    main(sys.argv[1:])
