"""Make ``paper_curves.csv`` (committed) from the full vertex list in ``../shared/paper``.

    python experiments/paper/thin_curves.py ../shared/paper/fig2_fig3_curves.csv

Keeps, of each curve, at most 150 of the vertices drawn inside the printed axes
(``visible_in_axes = 1``): the first, the last, and those nearest to 150 points evenly spaced
in log10 x (Fig. 2) or in x (Fig. 3); and, thinned the same way, at most 150 of the vertices
the PDF holds but the printed axes cut off (``visible_in_axes = 0``: below the y range, or
past the x range), so that a table can say where the paper's run was even there.  Linear
interpolation between the kept points stays within the extraction's stated precision
(checked by ``tests/test_paper_values.py``).
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

KEEP = 150


def thin(xs: np.ndarray, log: bool) -> np.ndarray:
    t = np.log10(xs) if log else xs
    targets = np.linspace(t[0], t[-1], KEEP)
    return np.unique(np.searchsorted(t, targets).clip(0, len(t) - 1))


def main(src: str) -> None:
    curves = defaultdict(list)
    for r in csv.DictReader(open(src)):
        curves[(r["panel"], r["curve"], r["visible_in_axes"])].append((float(r["samples"]), float(r["bound_nats"])))
    out = Path(__file__).with_name("paper_curves.csv")
    with out.open("w", newline="") as f:
        f.write("# Kingma & Welling (2014), arXiv:1312.6114v10, Figs. 2 and 3: curve vertices read from the\n"
                "# PDF's vector drawing (see README.md here); thinned by thin_curves.py. Fig. 2 samples are\n"
                "# training samples evaluated; Fig. 3 samples are in millions, as its x axis.\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["panel", "curve", "samples", "bound_nats", "visible_in_axes"])
        for visible in ("1", "0"):
            for (panel, curve, vis), pts in curves.items():
                if vis != visible:
                    continue
                pts.sort()
                xs, ys = np.array(pts).T
                for i in thin(xs, not panel.startswith("Fig3")):
                    w.writerow([panel, curve, f"{xs[i]:.6g}", f"{ys[i]:.4f}", visible])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
