"""Pictures of a full-VB model (Appendix F): samples with θ ~ q_φ(θ), and the posterior std σ_θ.

matplotlib (through :mod:`aevb_np.plots`) is imported only when a picture is saved, so that
importing :mod:`aevb_np.full_vb` does not load it (a run drops its data first: issue 6).

References
----------
Kingma & Welling (2014), Appendix F, Eq. (24), Fig. 5.
"""

from __future__ import annotations

import numpy as np

from aevb_np import model
from aevb_np.errors import ShapeError
from aevb_np.full_vb.estimator import draw_zeta, sample_theta
from aevb_np.params import Params


def posterior_std_images(params: Params, array: str = "W2") -> np.ndarray:
    """Posterior standard deviations σ_θ of one decoder weight matrix, one row per hidden unit.

    For the Bernoulli decoder's ``W2`` (shape (D, H)) row ``j`` of the result is
    σ_θ of the D weights from hidden unit j to the pixels: reshaped to 28×28 it shows
    which of the unit's outgoing weights the data pin down (small σ) and which stay
    near the prior's σ = 1.

    Parameters
    ----------
    params : dict
    array : str
        Decoder array name (``"W2"``; ``"W4"`` or ``"W5"`` for the Gaussian decoder).

    Returns
    -------
    ndarray, shape (n_in, n_out)
        ``exp(½ log σ²)`` transposed, so each row belongs to one input unit.

    Raises
    ------
    ShapeError
        ``array`` is not a 2-D decoder array.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24) (σ_θ of q_φ(θ)); Appendix C.1 (W2).
    """
    lv = params["theta_log_var"].get(array)
    if lv is None or lv.ndim != 2:
        raise ShapeError(f"array must name a 2-D decoder weight in {sorted(params['theta_log_var'])}, got {array!r}")
    return np.exp(0.5 * lv).T


def sample_images(params: Params, rng: np.random.Generator, n_theta: int = 5, n_z: int = 10) -> np.ndarray:
    """Decoder means E[x | z, θ] with θ ~ q_φ(θ) (one per row) and z ~ p(z) (shared by the columns).

    Sharing the z's across rows separates the two sources of variation: along a column
    only θ changes, so differences there are the posterior uncertainty over the decoder.

    Parameters
    ----------
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    rng : numpy.random.Generator
        Source of the n_z codes first, then of one ζ per row.
    n_theta : int
        Draws θ ~ q_φ(θ) (rows).
    n_z : int
        Draws z ~ N(0, I) (columns), shared by the rows.

    Returns
    -------
    ndarray, shape (n_theta, n_z, D)
        Decoder means, in (0, 1).

    References
    ----------
    Kingma & Welling (2014), Appendix F (θ ~ q_φ(θ)), Fig. 5 (z ~ p(z)).
    """
    Nz = params["phi"]["W4"].shape[0]
    dtype = params["phi"]["W4"].dtype
    z = rng.standard_normal((n_z, Nz)).astype(dtype)
    return np.stack([model.decoder_mean(sample_theta(params, draw_zeta(params, rng)), z) for _ in range(n_theta)])


def save_samples(path, params: Params, rng: np.random.Generator, image_shape=(28, 28), n_theta: int = 5,
                 n_z: int = 10, title: str = "") -> None:
    """PNG grid of :func:`sample_images`: rows are draws θ ~ q_φ(θ), columns draws z ~ p(z).

    Parameters
    ----------
    path : str or path-like
        The PNG written (atomically).
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    rng : numpy.random.Generator
    image_shape : (h, w)
        (28, 28) for MNIST, (28, 20) for Frey Face; h·w = D.
    n_theta, n_z : int
        Rows and columns (see :func:`sample_images`).
    title : str

    References
    ----------
    Kingma & Welling (2014), Appendix F, Fig. 5.
    """
    from aevb_np import plots

    images = sample_images(params, rng, n_theta, n_z)
    plots.save_image_grid(path, images.reshape(n_theta * n_z, -1), image_shape, n_cols=n_z, title=title)


def save_posterior_std(path, params: Params, image_shape=(28, 28), array: str = "W2", n_units: int | None = None,
                       n_cols: int = 10, title: str = "") -> None:
    """PNG of :func:`posterior_std_images`, one image per hidden unit, with a colour bar (σ_θ).

    The colour scale runs from 0 to the largest σ_θ shown (the prior's σ is 1; a
    trained model's σ_θ are usually far smaller), so the pattern is visible.

    Parameters
    ----------
    path : str or path-like
        The PNG written (atomically).
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    image_shape : (h, w)
        Shape of one image; h·w must be the array's input dimension (D for ``W2``).
    array : str
        Decoder array name (``"W2"``; ``"W4"`` or ``"W5"`` for the Gaussian decoder).
    n_units : int, optional
        Show only the first ``n_units`` hidden units (default: all).
    n_cols : int
        Images per row.
    title : str
        Default: "σ_θ of ARRAY, one image per hidden unit".

    Raises
    ------
    ShapeError
        ``array`` is not a 2-D decoder array.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24).
    """
    import matplotlib.pyplot as plt

    from aevb_np import plots  # sets matplotlib's Agg backend before pyplot is imported

    std = posterior_std_images(params, array)[:n_units]
    h, w = image_shape
    canvas = plots.tile(std.reshape(-1, h, w), n_cols)
    # tile() fills gaps and empty cells with 1; blank them instead so they take no colour.
    gaps = plots.tile(np.zeros((std.shape[0], h, w)), n_cols) == 1.0
    canvas = np.ma.masked_array(canvas, mask=gaps)
    fig, ax = plt.subplots(figsize=(canvas.shape[1] / 20 + 1, canvas.shape[0] / 20 + 0.5))
    im = ax.imshow(canvas, cmap="viridis", vmin=0.0, vmax=float(std.max()), interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.03, label="posterior std σ_θ")
    ax.set_title(title or f"σ_θ of {array}, one image per hidden unit", fontsize=9)
    plots.save_figure(fig, path)
