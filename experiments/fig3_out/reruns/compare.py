"""The same Fig. 3 run made twice, on two machines: how far apart the two logs are.

Each folder here holds a run of ``experiments/fig3.py`` (same code path, same config, same
seed) made on another machine than the run of the same name in ``../runs``.  The two differ
only in the last bits of the floating-point arithmetic (OpenBLAS picks its kernels by CPU), so
this measures how fast such a difference grows along a run: the floor under any comparison
of one run with another.

    python experiments/fig3_out/reruns/compare.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE.parent / "runs"
#: Session 5's logs of the runs that were started again in session 6 (see its README).
SESSION5_RUNS = HERE.parent / "session5-runs"


def read_log(folder: Path) -> dict[int, dict]:
    """Log rows of one run folder by sample count."""
    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    return {r["samples"]: r for r in rows}


def pairs() -> list[tuple[str, Path, Path]]:
    """(name, rerun folder, ../runs folder) for every rerun here; its name is the run's plus a suffix."""
    out = []
    for folder in sorted(p for p in HERE.iterdir() if (p / "log.jsonl").exists()):
        name = folder.name.rsplit("-session", 1)[0]
        out.append((name, folder, SESSION5_RUNS / name if (SESSION5_RUNS / name).exists() else RUNS / name))
    return out


def table() -> str:
    lines = ["| run | samples | train: runs/ | rerun | Δ | test: runs/ | rerun | Δ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rerun, run in pairs():
        a, b = read_log(run), read_log(rerun)
        for s in sorted(set(a) & set(b)):
            ra, rb = a[s], b[s]
            lines.append(f"| {name} | {s:.3g} | {ra['train_log_px']:.2f} | {rb['train_log_px']:.2f} | "
                         f"{rb['train_log_px'] - ra['train_log_px']:+.2f} | {ra['test_log_px']:.2f} | "
                         f"{rb['test_log_px']:.2f} | {rb['test_log_px'] - ra['test_log_px']:+.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table())
