"""What does Fig. 3's x axis count for MCEM?  Our MCEM curves read three ways against the paper's.

Fig. 3 plots log p(x) against "# training samples evaluated".  We count, for every
algorithm, the datapoints of the minibatches the update used (Algorithm 1's M per step).
An MCEM iteration (Appendix E) also evaluates the decoder at each datapoint of its minibatch
for 10 leapfrog steps before its 5 weight updates: had the authors counted those
evaluations, the paper's MCEM x values would be 5x ours (the weight updates) or 15x ours
(leapfrog steps and weight updates).  This script stretches our MCEM curves by 1, 5 and 15
along x and compares each with the paper's curve where both exist, on both panels: the mean
and largest |ours − paper| over our evaluation points (nats), and how many points overlap.

Usage (from the repository root)::

    python experiments/fig3_mcem_x_axis.py [--out experiments/fig3_out] [--update-docs]

``--update-docs`` also writes the table, and which reading fits each panel best, into
docs/reproducing.md's marked block (a test keeps the two equal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # paper_curves.py beside this script

import numpy as np  # noqa: E402
import paper_curves  # noqa: E402
from run_folders import doc_markers, read_run, update_doc  # noqa: E402

READINGS = {"ours (datapoints per update)": 1, "x5 (each of the 5 weight updates)": 5,
            "x15 (10 leapfrog steps + 5 updates)": 15}
DEFAULT_OUT = Path(__file__).resolve().parent / "fig3_out"
DOC_MARKERS = doc_markers("fig3-mcem-x-axis", "experiments/fig3_mcem_x_axis.py")


def compare(rows: list[dict], panel: str, stretch: float) -> dict:
    """|ours − paper| for train and test at our evaluation points stretched by ``stretch``."""
    out = {}
    for split in ("train", "test"):
        diffs = []
        for r in rows:
            if r["samples"] <= 0:
                continue
            paper = paper_curves.value_at(panel, "mcem", split, stretch * r["samples"] / 1e6)
            if paper is not None:
                diffs.append(r[f"{split}_log_px"] - paper)
        d = np.abs(diffs)
        out[split] = (float(d.mean()) if d.size else None, float(d.max()) if d.size else None, len(diffs),
                      float(np.mean(diffs)) if diffs else None)
    return out


def table(out: Path) -> str:
    """The comparison as a markdown table, then one line per panel naming the reading that fits best."""
    lines = ["| N_train | reading of the x axis | train: mean / max abs(ours − paper), mean signed (points) | "
             "test: mean / max abs(ours − paper), mean signed (points) |", "|---:|---|---|---|"]
    verdicts = []
    for n in (1000, 50_000):
        _, rows = read_run(out / "runs" / f"ntrain{n}-mcem")
        last = max((r["samples"] for r in rows), default=0)
        scores = {}
        for name, k in READINGS.items():
            c = compare(rows, f"Fig3 Ntrain={n}", k)
            cells = []
            for split in ("train", "test"):
                mean, mx, count, signed = c[split]
                cells.append("no overlap" if not count else f"{mean:.1f} / {mx:.1f}, {signed:+.1f} ({count})")
            lines.append(f"| {n} | {name} | " + " | ".join(cells) + " |")
            if c["train"][2] and c["test"][2]:
                scores[name.split(" ")[0]] = (c["train"][0] + c["test"][0]) / 2
        if len(scores) == 1:
            (only, v), = scores.items()
            verdicts.append(f"N_train = {n} (our log to {last:.3g} samples): only {only} has points on both splits "
                            f"(mean of the train and test mean abs differences: {v:.1f} nats).")
        elif scores:
            best = min(scores, key=scores.get)
            ranked = ", ".join(f"{k} {v:.1f}" for k, v in sorted(scores.items(), key=lambda kv: kv[1]))
            verdicts.append(f"N_train = {n} (our log to {last:.3g} samples): {best} fits best "
                            f"(mean of the train and test mean abs differences, nats: {ranked}).")
        else:
            verdicts.append(f"N_train = {n} (our log to {last:.3g} samples): no reading has points on both splits.")
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT), help="the Fig. 3 folder with runs/ (default: experiments/fig3_out)")
    p.add_argument("--update-docs", action="store_true",
                   help="also write the table into docs/reproducing.md's marked block")
    args = p.parse_args(argv)
    text = table(Path(args.out))
    if args.update_docs:
        update_doc(text, DOC_MARKERS)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
