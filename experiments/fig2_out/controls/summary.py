"""The Fig. 2 controls and extra seeds beside the sweep's runs and the paper's curves.

Usage (from the repository root)::

    python experiments/fig2_out/controls/summary.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
sys.path.insert(0, str(OUT.parent))
import paper_curves  # noqa: E402

#: (panel, algorithm) → {label: run folder}
GROUPS = {
    ("MNIST Nz=3", "aevb"): {"sweep (seed 0, lr auto: 0.01)": OUT / "runs" / "mnist-nz3-aevb",
                             "seed 1 (lr auto)": OUT / "seeds" / "mnist-nz3-aevb-seed1",
                             "seed 0, lr 0.02": HERE / "mnist-nz3-aevb-lr0.02"},
    ("MNIST Nz=200", "wake-sleep"): {"sweep (lr auto: 0.01)": OUT / "runs" / "mnist-nz200-wake-sleep",
                                     "authors' head, lr 0.01": HERE / "mnist-nz200-wake-sleep-lr0.01-logvar0.1",
                                     "authors' head, lr 0.02": HERE / "mnist-nz200-wake-sleep-lr0.02-logvar0.1"},
}
POINTS = (1_000_000, 3_162_300, 10_000_000)


def _rows(folder: Path) -> tuple[dict | None, dict[int, dict]]:
    path = folder / "log.jsonl"
    if not path.exists():
        return None, {}
    config = json.loads((folder / "config.json").read_text())
    return config, {r["samples"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


def table() -> str:
    lines = []
    for (panel, algorithm), runs in GROUPS.items():
        lines += [f"{panel}, {algorithm}", "",
                  "| run | lr | " + " | ".join(f"train / test at {p:.3g}" for p in POINTS) + " |",
                  "|---|---:|" + "---:|" * len(POINTS)]
        paper = []
        for p in POINTS:
            tr, te = (paper_curves.value_at(panel, algorithm, s, p, hidden=True) for s in ("train", "test"))
            paper.append(f"{tr:.1f} / {te:.1f}" if tr is not None and te is not None else "—")
        lines.append("| paper | | " + " | ".join(paper) + " |")
        for label, folder in runs.items():
            config, rows = _rows(folder)
            if config is None:
                continue
            lr = (config.get("lr_auto") or {}).get("chosen", config["lr"])
            cells = [f"{rows[p]['train_lower_bound']:.1f} / {rows[p]['test_lower_bound']:.1f}" if p in rows else "—"
                     for p in POINTS]
            lines.append(f"| {label} | {lr:g} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
