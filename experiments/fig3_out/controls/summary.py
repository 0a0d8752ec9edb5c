"""The Fig. 3 MCEM controls beside the sweep's run and the paper's curve (N_train = 1000).

Usage (from the repository root)::

    python experiments/fig3_out/controls/summary.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import paper_curves  # noqa: E402

RUNS = {"sweep (lr 0.1, persistent chains)": HERE.parent / "runs" / "ntrain1000-mcem",
        "lr 0.01": HERE / "ntrain1000-mcem-lr0.01",
        "fresh chains (lr 0.1)": HERE / "ntrain1000-mcem-fresh-lr0.1"}
POINTS = (100_000, 316_300, 1_000_000)  # where the runs are evaluated (2 per decade)


def _rows(folder: Path) -> dict[int, dict]:
    path = folder / "log.jsonl"
    if not path.exists():
        return {}
    return {r["samples"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


def table() -> str:
    lines = ["| MCEM run, N_train = 1000 | " + " | ".join(f"train / test at {p:.3g}" for p in POINTS) + " |",
             "|---|" + "---:|" * len(POINTS)]
    paper = []
    for p in POINTS:
        tr, te = (paper_curves.value_at("Fig3 Ntrain=1000", "mcem", s, p / 1e6) for s in ("train", "test"))
        paper.append("—" if tr is None else f"{tr:.1f} / {'—' if te is None else f'{te:.1f}'}")
    lines.append("| paper | " + " | ".join(paper) + " |")
    for name, folder in RUNS.items():
        rows = _rows(folder)
        cells = [f"{rows[p]['train_log_px']:.1f} / {rows[p]['test_log_px']:.1f}" if p in rows else "—" for p in POINTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
