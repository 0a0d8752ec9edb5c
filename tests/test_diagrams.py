"""The course's diagrams are drawn from source: each names its nodes and writes PNG and SVG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.image import imread

from aevb_np.course import diagrams


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("name, must_show", [
    ("fig1_model", [r"$\phi$", r"$\theta$", "$z$", "$x$", "N", "q_\\phi(z|x)", "p_\\theta(x|z)"]),
    ("reparameterization_trick", [r"$\epsilon$", r"$\mu,\ \sigma$", "z \\sim q_\\phi(z|x)", "\\sigma \\odot \\epsilon"]),
    ("backward_fan_ins", ["fan-in 1", "fan-in 2", "$-D_{KL}$", r"$\frac{1}{2}(1-\sigma^2)$", r"$-\mu$", "recon."]),
])
def test_each_diagram_names_its_nodes(name, must_show):
    fig = diagrams.DIAGRAMS[name]()
    try:
        text = _texts(fig)
        missing = [s for s in must_show if s not in text]
        assert not missing, f"{name}: no {missing} in {text!r}"
        assert len(fig.axes[0].patches) >= 5  # nodes and arrows are patches
    finally:
        plt.close(fig)


def test_save_all_writes_every_diagram_as_png_and_svg(tmp_path):
    paths = diagrams.save_all(tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{f}" for n in diagrams.DIAGRAMS for f in ("png", "svg"))
    for p in paths:
        if p.suffix == ".png":
            img = imread(p)
            assert img.shape[0] > 200 and img.shape[1] > 300
            assert (img[..., :3] < 0.5).any(axis=-1).mean() > 0.005  # something is drawn
        else:
            assert p.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_save_all_is_byte_identical_from_run_to_run(tmp_path):
    first = diagrams.save_all(tmp_path / "a")
    second = diagrams.save_all(tmp_path / "b")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_the_notebooks_name_aevb_np_diagrams_still_gives_the_diagrams():
    import subprocess
    import sys

    from aevb_np import diagrams as old_name

    for name in ("model_diagram", "reparameterization_diagram", "fan_in_diagram", "save_all", "main"):
        assert getattr(old_name, name) is getattr(diagrams, name)
    out = subprocess.run([sys.executable, "-m", "aevb_np.diagrams"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "usage: python -m aevb_np.diagrams OUT_DIR" in out.stderr
