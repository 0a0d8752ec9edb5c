"""Fig. 3 wake-sleep on N_train = 1000 with other seeds: the table of seeds/README.md.

    python experiments/fig3_out/seeds/summary.py

Seed 0 is the sweep's run (``../runs/ntrain1000-wake-sleep``, ``--lr auto`` chose 0.02); the
other seeds use lr 0.02 directly, so only the seed differs (initial weights, minibatches, ε).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # experiments/, for paper_curves.py

import paper_curves  # noqa: E402

POINTS = (10**6, 2 * 10**6, 3 * 10**6)


def read_log(folder: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    return {r["samples"]: r for r in rows}


def runs() -> list[tuple[str, Path]]:
    out = [("seed 0 (the sweep's run)", HERE.parent / "session5-runs" / "ntrain1000-wake-sleep")]
    for folder in sorted(HERE.glob("ntrain1000-wake-sleep-seed*")):
        if (folder / "log.jsonl").exists():
            out.append((f"seed {folder.name.rsplit('seed', 1)[1]}", folder))
    return out


def cell(rows: dict, s: int) -> str:
    r = rows.get(s)
    return "—" if r is None else f"{r['train_log_px']:.1f} / {r['test_log_px']:.1f}"


def table() -> str:
    lines = ["| wake-sleep, N_train = 1000, lr 0.02 | " + " | ".join(f"train / test at {s:.0e}" for s in POINTS) + " |",
             "|---|" + "---:|" * len(POINTS)]
    paper = []
    for s in POINTS:
        v = [paper_curves.value_at("Fig3 Ntrain=1000", "wake-sleep", split, s / 1e6) for split in ("train", "test")]
        paper.append("—" if None in v else f"{v[0]:.1f} / {v[1]:.1f}")
    lines.append("| paper | " + " | ".join(paper) + " |")
    for name, folder in runs():
        rows = read_log(folder)
        lines.append(f"| {name} | " + " | ".join(cell(rows, s) for s in POINTS) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table())
