"""Diagrams of the course, drawn with matplotlib from this source (no stored images).

* :func:`model_diagram` — the paper's Fig. 1: the generative model p_θ(z) p_θ(x|z) (solid
  arrows), the recognition model q_φ(z|x) (dashed), the plate over the N datapoints.
* :func:`reparameterization_diagram` — the trick of §2.4 as a computational graph: on the
  left the random node z blocks the gradient; on the right the randomness sits on ε and
  z = μ + σ ⊙ ε is a deterministic node the gradient passes through.
* :func:`fan_in_diagram` — the backward pass of Eq. (10) through the VAE of Appendix C,
  with its two fan-ins: the encoder's hidden layer h feeds the μ and log σ² heads, and
  μ, log σ² receive gradient from the reconstruction path and from the KL path.

Each function returns a matplotlib Figure; :func:`save_all` writes them as PNG and SVG
(``python -m aevb_np.diagrams OUT_DIR``; ``aevb_np.diagrams`` re-exports this module,
the name the notebooks import) for the documentation site.  Notebooks 01 and 03
show them inline.

References
----------
Kingma & Welling (2014), Fig. 1; §2.3–2.4; Eq. (10); Appendix B and C.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

FORWARD = "#222222"
RECOGNITION = "#1f5fbf"
BACKWARD = "#c0392b"
RANDOM_FILL = "#fff3c4"
DATA_FILL = "#c9c9c9"
DET_FILL = "#ffffff"


def _canvas(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


def _circle(ax, xy, label, r=0.42, fill=DET_FILL, fontsize=14, lw=1.5, ls="-"):
    ax.add_patch(Circle(xy, r, facecolor=fill, edgecolor=FORWARD, lw=lw, ls=ls, zorder=3))
    ax.text(*xy, label, ha="center", va="center", fontsize=fontsize, zorder=4)
    return {"xy": xy, "r": r, "kind": "circle"}


def _box(ax, xy, label, w=1.5, h=0.7, fill=DET_FILL, fontsize=11):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor=fill, edgecolor=FORWARD, lw=1.3, zorder=3))
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, zorder=4)
    return {"xy": xy, "w": w, "h": h, "kind": "box"}


def _dot(ax, xy, label, offset=(0.0, 0.32), fontsize=13):
    ax.add_patch(Circle(xy, 0.07, facecolor=FORWARD, edgecolor=FORWARD, zorder=3))
    ax.text(xy[0] + offset[0], xy[1] + offset[1], label, ha="center", va="center", fontsize=fontsize, zorder=4)
    return {"xy": xy, "r": 0.07, "kind": "circle"}


def _border(node, toward) -> tuple[float, float]:
    """The point where the ray from ``node``'s centre toward ``toward`` leaves the node."""
    (x, y), (tx, ty) = node["xy"], toward
    dx, dy = tx - x, ty - y
    norm = max(1e-12, (dx * dx + dy * dy) ** 0.5)
    if node["kind"] == "circle":
        return x + dx / norm * node["r"], y + dy / norm * node["r"]
    # a box: scale the direction until it meets the nearer of the vertical and horizontal sides
    half_w, half_h = node["w"] / 2 + 0.05, node["h"] / 2 + 0.05
    t = min(half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf"))
    return x + dx * t, y + dy * t


def _arrow(ax, a, b, color=FORWARD, ls="-", rad=0.0, lw=1.5, label=None, label_pos=0.5, label_offset=(0.0, 0.0),
           fontsize=10):
    """An arrow from node ``a`` to node ``b``, from border to border (curved by ``rad``)."""
    start, end = _border(a, b["xy"]), _border(b, a["xy"])
    arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color, lw=lw, ls=ls,
                            connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0, zorder=2)
    ax.add_patch(arrow)
    if label:
        (x0, y0), (x1, y1) = start, end
        ax.text(x0 + (x1 - x0) * label_pos + label_offset[0], y0 + (y1 - y0) * label_pos + label_offset[1], label,
                color=color, fontsize=fontsize, ha="center", va="center", zorder=5,
                bbox=dict(facecolor="white", edgecolor="none", pad=1.0, alpha=0.85))
    return arrow


def model_diagram():
    """The directed graphical model of the paper's Fig. 1.

    Solid arrows: the generative model p_θ(z) p_θ(x|z); dashed arrows: the variational
    approximation q_φ(z|x) to the intractable posterior p_θ(z|x).  z is latent (open),
    x observed (shaded); the plate repeats both over the N datapoints; φ and θ are
    shared by all of them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _canvas(4.4, 4.0, (0, 4.4), (0, 4.0))
    ax.add_patch(Rectangle((0.9, 0.35), 2.3, 3.0, facecolor="none", edgecolor=FORWARD, lw=1.2, zorder=1))
    ax.text(3.0, 0.55, "N", fontsize=13, ha="center", va="center")
    z = _circle(ax, (2.05, 2.6), "$z$")
    x = _circle(ax, (2.05, 1.1), "$x$", fill=DATA_FILL)
    phi = _dot(ax, (0.45, 2.6), r"$\phi$", offset=(0.0, 0.3))
    theta = _dot(ax, (3.75, 2.6), r"$\theta$", offset=(0.0, 0.3))
    _arrow(ax, z, x)
    _arrow(ax, theta, z)
    _arrow(ax, theta, x)
    _arrow(ax, x, z, color=RECOGNITION, ls="--", rad=-0.55)
    _arrow(ax, phi, z, color=RECOGNITION, ls="--")
    ax.text(2.2, 3.75, r"generative $p_\theta(z)\,p_\theta(x|z)$ (solid)" + "\n"
            + r"recognition $q_\phi(z|x)$ (dashed)", fontsize=9.5, ha="center", va="center")
    return fig


def reparameterization_diagram():
    """The reparameterization trick of §2.4 as a computational graph, before and after.

    Left: z ~ q_φ(z|x) is a random node; f(z) cannot be differentiated through the
    sampling step with respect to φ.  Right: ε ~ N(0, I) is the only random node and
    z = μ + σ ⊙ ε (Eq. 10) is deterministic, so ∂f/∂φ flows back along the red arrows
    through μ and σ (∂z/∂μ = 1, ∂z/∂log σ² = ½ σ ⊙ ε).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _canvas(10.8, 4.6, (0, 10.8), (0, 4.6))
    ax.text(2.4, 4.35, "original form: z is sampled", fontsize=11, ha="center", weight="bold")
    ax.text(8.0, 4.35, r"reparameterized: $z = \mu + \sigma \odot \epsilon$", fontsize=11, ha="center", weight="bold")
    # left: phi, x -> z (random) -> f; the gradient stops at z
    phi = _box(ax, (0.6, 3.2), r"$\phi$", w=0.8)
    x = _box(ax, (0.6, 1.0), r"$x$", w=0.8, fill=DATA_FILL)
    z = _circle(ax, (2.5, 2.1), "$z$", r=0.45, fill=RANDOM_FILL)
    ax.text(2.5, 1.35, r"$z \sim q_\phi(z|x)$", fontsize=9.5, ha="center")
    f = _box(ax, (4.5, 2.1), "$f(z)$", w=1.0)
    _arrow(ax, phi, z)
    _arrow(ax, x, z)
    _arrow(ax, z, f)
    _arrow(ax, f, z, color=BACKWARD, rad=0.5, label=r"$\partial f/\partial z$", label_offset=(0.0, 0.45))
    _arrow(ax, z, phi, color=BACKWARD, ls=":", rad=0.4)
    ax.text(1.75, 3.05, "✗", color=BACKWARD, fontsize=16, ha="center", va="center")
    ax.text(2.4, 0.35, r"no $\partial z/\partial\phi$ through a random draw", color=BACKWARD, fontsize=9.5,
            ha="center")
    ax.plot([5.45, 5.45], [0.3, 4.2], color="#999999", lw=0.8)
    # right: phi, x -> mu, sigma -> z (deterministic) <- eps (random); z -> f
    phi2 = _box(ax, (6.1, 3.2), r"$\phi$", w=0.8)
    x2 = _box(ax, (6.1, 1.0), r"$x$", w=0.8, fill=DATA_FILL)
    ms = _box(ax, (7.8, 2.1), r"$\mu,\ \sigma$", w=1.0)
    z2 = _box(ax, (9.6, 2.1), "$z$", w=0.7)
    eps = _circle(ax, (9.6, 0.6), r"$\epsilon$", r=0.38, fill=RANDOM_FILL)
    ax.text(10.05, 0.6, r"$\sim\mathcal{N}(0, I)$", fontsize=9, ha="left", va="center")
    f2 = _box(ax, (9.6, 3.7), "$f(z)$", w=1.0)
    _arrow(ax, phi2, ms)
    _arrow(ax, x2, ms)
    _arrow(ax, ms, z2)
    _arrow(ax, eps, z2)
    _arrow(ax, z2, f2)
    _arrow(ax, f2, z2, color=BACKWARD, rad=0.5, label=r"$\partial f/\partial z$", label_offset=(0.55, 0.0))
    _arrow(ax, z2, ms, color=BACKWARD, rad=0.5, label=r"$\partial z/\partial(\mu,\sigma)$", label_offset=(0.0, -0.5))
    _arrow(ax, ms, phi2, color=BACKWARD, rad=0.4, label=r"$\partial/\partial\phi$", label_offset=(0.45, 0.3))
    ax.text(0.2, 0.05, "yellow circle: random node    grey: data    red: gradient (backward pass)", fontsize=8.5,
            color="#555555")
    return fig


def fan_in_diagram():
    """The backward pass of Eq. (10) through the VAE of Appendix C, with its two fan-ins.

    Forward (black): x → h = tanh(W3 x + b3) → the heads μ = W4 h + b4 and
    log σ² = W5 h + b5 → z = μ + σ ⊙ ε → decoder → log p_θ(x|z); μ and log σ² also give
    −KL (Appendix B).  Backward (red): the gradients arriving at a node from several
    consumers are *summed*: at h from the two heads (fan-in 1), at μ and log σ² from the
    reconstruction path and the KL path (fan-in 2).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _canvas(11.6, 5.0, (0, 11.6), (0, 5.0))
    x = _box(ax, (0.6, 2.5), "$x$", w=0.7, fill=DATA_FILL)
    h = _box(ax, (2.1, 2.5), "$h$\ntanh", w=0.9, h=0.9)
    mu = _box(ax, (3.9, 3.9), r"$\mu$" + "\n" + r"$W_4 h + b_4$", w=1.35, h=0.85)
    lv = _box(ax, (3.9, 1.1), r"$\log\sigma^2$" + "\n" + r"$W_5 h + b_5$", w=1.35, h=0.85)
    kl = _box(ax, (5.2, 2.5), r"$-D_{KL}$" + "\n(App. B)", w=1.2, h=0.8)
    z = _box(ax, (7.3, 2.5), r"$z = \mu + \sigma\odot\epsilon$", w=1.9, h=0.7)
    eps = _circle(ax, (7.3, 0.8), r"$\epsilon$", r=0.35, fill=RANDOM_FILL)
    dec = _box(ax, (9.4, 2.5), r"decoder" + "\n" + r"$\log p_\theta(x|z)$", w=1.6, h=0.9)
    L = _box(ax, (10.9, 4.3), r"$\widetilde{\mathcal{L}}$", w=0.8, h=0.6)
    for a, b in ((x, h), (h, mu), (h, lv), (mu, z), (lv, z), (mu, kl), (lv, kl), (eps, z), (z, dec), (dec, L)):
        _arrow(ax, a, b)
    _arrow(ax, kl, L, rad=-0.35)
    # backward: red, beside the forward arrows they retrace
    _arrow(ax, z, mu, color=BACKWARD, rad=0.25, label="recon.", label_offset=(0.35, 0.3), fontsize=8.5)
    _arrow(ax, z, lv, color=BACKWARD, rad=-0.25, label="recon.", label_offset=(0.35, -0.3), fontsize=8.5)
    _arrow(ax, kl, mu, color=BACKWARD, rad=0.3, label=r"$-\mu$", label_offset=(-0.45, 0.05), fontsize=9.5)
    _arrow(ax, kl, lv, color=BACKWARD, rad=-0.3, label=r"$\frac{1}{2}(1-\sigma^2)$", label_offset=(-0.75, -0.05),
           fontsize=9.5)
    _arrow(ax, mu, h, color=BACKWARD, rad=0.3, label=r"$\delta_\mu W_4$", label_offset=(-0.35, 0.3), fontsize=9.5)
    _arrow(ax, lv, h, color=BACKWARD, rad=-0.3, label=r"$\delta_{\log\sigma^2} W_5$", label_offset=(-0.45, -0.3),
           fontsize=9.5)
    ax.text(0.1, 0.25, "fan-in 1: the gradient at $h$ is the sum of the two heads' contributions", color=BACKWARD,
            fontsize=9.5, ha="left")
    ax.text(0.1, -0.15, "fan-in 2: the gradient at $\\mu$ and at $\\log\\sigma^2$ is reconstruction path + KL path",
            color=BACKWARD, fontsize=9.5, ha="left")
    ax.set_ylim(-0.4, 5.0)
    return fig


DIAGRAMS = {
    "fig1_model": model_diagram,
    "reparameterization_trick": reparameterization_diagram,
    "backward_fan_ins": fan_in_diagram,
}


def save_all(out_dir, formats=("png", "svg")) -> list[Path]:
    """Write every diagram to ``out_dir`` as ``<name>.<format>``.

    Parameters
    ----------
    out_dir : path-like
        Created if missing (e.g. ``docs/_static/diagrams`` at site build time).
    formats : tuple of str
        matplotlib output formats.

    Returns
    -------
    list of Path
        The files written; the same bytes on every run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    # A fixed svg.hashsalt and no date: the files are byte-identical on every run.
    with plt.rc_context({"svg.hashsalt": "aevb_np"}):
        for name, make in DIAGRAMS.items():
            fig = make()
            try:
                for fmt in formats:
                    path = out_dir / f"{name}.{fmt}"
                    fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight",
                                metadata={"Date": None} if fmt == "svg" else None)
                    written.append(path)
            finally:
                plt.close(fig)
    return written


def main(argv=None) -> int:
    """Command line ``python -m aevb_np.diagrams OUT_DIR``: write every diagram, print their paths.

    Parameters
    ----------
    argv : list of str, optional
        Exactly one argument, the output folder (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0, or 2 (with a usage line on stderr) unless exactly one argument is given.
    """
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m aevb_np.diagrams OUT_DIR", file=sys.stderr)
        return 2
    plt.switch_backend("Agg")
    for path in save_all(argv[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
