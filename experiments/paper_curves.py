"""The paper's Fig. 2 and Fig. 3 curves, read from ``experiments/paper/paper_curves.csv``.

See ``experiments/paper/README.md`` for where the numbers come from and how precise they are.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

CSV = Path(__file__).resolve().parent / "paper" / "paper_curves.csv"
#: Our names → the file's.
CURVES = {("aevb", "train"): "AEVB_train", ("aevb", "test"): "AEVB_test", ("wake-sleep", "train"): "WS_train",
          ("wake-sleep", "test"): "WS_test", ("mcem", "train"): "MCEM_train", ("mcem", "test"): "MCEM_test"}


def fig2_panel(dataset: str, n_latent: int) -> str:
    """``("mnist", 20)`` → ``"MNIST Nz=20"``; ``("frey-face", 10)`` → ``"Frey Nz=10"``."""
    return f"{'MNIST' if dataset == 'mnist' else 'Frey'} Nz={n_latent}"


@lru_cache(maxsize=None)
def load(hidden: bool = False) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """``{(panel, curve): (samples, values)}``, samples increasing: the vertices inside the
    printed axes, and with ``hidden`` also those the PDF holds but the axes cut off."""
    curves = defaultdict(list)
    with CSV.open() as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            if hidden or r["visible_in_axes"] == "1":
                curves[(r["panel"], r["curve"])].append((float(r["samples"]), float(r["bound_nats"])))
    return {k: tuple(np.array(sorted(v)).T) for k, v in curves.items()}


def curve(panel: str, algorithm: str, split: str, hidden: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """The paper's curve of ``algorithm`` (aevb, wake-sleep, mcem) on ``split`` (train, test), or
    None; only what the printed axes show unless ``hidden``."""
    return load(hidden).get((panel, CURVES[(algorithm, split)]))


def value_at(panel: str, algorithm: str, split: str, samples: float, hidden: bool = False) -> float | None:
    """The paper's value at ``samples`` (Fig. 3: millions), interpolated as the figure's axis
    is drawn (log10 x for Fig. 2, x for Fig. 3); None outside the drawn part of the curve
    (with ``hidden``: outside what the PDF holds, axes or not)."""
    c = curve(panel, algorithm, split, hidden)
    if c is None:
        return None
    xs, ys = c
    if not xs[0] <= samples <= xs[-1]:
        return None
    if panel.startswith("Fig3"):
        return float(np.interp(samples, xs, ys))
    return float(np.interp(np.log10(samples), np.log10(xs), ys))
