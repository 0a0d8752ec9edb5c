"""Figures of the paper: sample grids (Fig. 5), learned manifolds (Fig. 4), bound curves (Fig. 2).

All functions write PNG files and replace the target atomically, so a crash never leaves
half an image.  The module does not choose a matplotlib backend (that would break inline
figures in a notebook); the command-line entry points select Agg.

References
----------
Kingma & Welling (2014), §5 Fig. 2, Appendix A Fig. 4–5.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from aevb_np import model
from aevb_np.atomic import atomic_write
from aevb_np.errors import ConfigError


def tile(images: np.ndarray, n_cols: int) -> np.ndarray:
    """Arrange ``images`` of shape (n, h, w) in a grid with ``n_cols`` columns and 1-pixel gaps.

    Parameters
    ----------
    images : ndarray, shape (n, h, w)
    n_cols : int
        Columns of the grid (>= 1); rows = ceil(n / n_cols).

    Returns
    -------
    ndarray, shape (rows·(h+1) − 1, n_cols·(w+1) − 1)
        Empty cells and gaps are 1 (white paper for MNIST's 0-ink convention inverted
        by the colormap).
    """
    n, h, w = images.shape
    n_rows = -(-n // n_cols)
    canvas = np.ones((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1), dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = images[i]
    return canvas


def save_figure(fig, path) -> None:
    """Save a matplotlib figure as PNG atomically and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Closed afterwards, also on error.
    path : str or path-like
        The PNG written (100 dpi, tight bounding box); its folder must exist.

    Raises
    ------
    OSError
        The folder does not exist or cannot be written.
    """
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), suffix=".png")
    finally:
        plt.close(fig)  # also when there is no folder to write into


def save_image_grid(path, images: np.ndarray, image_shape: tuple[int, int], n_cols: int = 10, title: str = "") -> None:
    """Write a grid of images (rows of length h·w, values in [0, 1]) to a PNG.

    Parameters
    ----------
    path : path-like
    images : ndarray, shape (n, h·w)
    image_shape : (h, w)
        (28, 28) for MNIST, (28, 20) for Frey Face.
    n_cols : int
    title : str
    """
    h, w = image_shape
    canvas = tile(np.asarray(images, dtype=np.float64).reshape(-1, h, w), n_cols)
    fig, ax = plt.subplots(figsize=(canvas.shape[1] / 28, canvas.shape[0] / 28 + (0.4 if title else 0)))
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def sample_images(params, rng: np.random.Generator, n: int = 100) -> np.ndarray:
    """Decoder means E[x|z] for ``n`` draws z ~ p(z) = N(0, I) (the paper's Fig. 5).

    Parameters
    ----------
    params : dict
        ``{"phi", "theta"}``; Nz is read off ``phi["W4"]``.
    rng : numpy.random.Generator
        Source of the n·Nz standard normals.
    n : int
        Number of samples.

    Returns
    -------
    ndarray, shape (n, D)
        Bernoulli means sigmoid(logits), or the Gaussian decoder's mu_x.

    References
    ----------
    Kingma & Welling (2014), Fig. 5, Appendix A.
    """
    Nz = params["phi"]["W4"].shape[0]
    z = rng.standard_normal((n, Nz)).astype(params["theta"][next(iter(params["theta"]))].dtype)
    return model.decoder_mean(params["theta"], z)


def manifold_grid(n: int) -> np.ndarray:
    """z coordinates of Fig. 4: Φ⁻¹ of ``n`` evenly spaced points in (0, 1), per axis.

    Parameters
    ----------
    n : int
        Points per axis (>= 2), at the quantiles (k + ½)/n, k = 0 … n − 1.

    Returns
    -------
    ndarray, shape (n·n, 2)
        Row-major over (z2 descending, z1 ascending), so the picture has z2 pointing up.

    Raises
    ------
    ConfigError
        ``n < 2``.

    References
    ----------
    Kingma & Welling (2014), Appendix A, Fig. 4 (the inverse CDF of the Gaussian on a
    unit-square grid).
    """
    if n < 2:
        raise ConfigError(f"manifold grid size must be at least 2, got {n}")
    q = norm.ppf((np.arange(n) + 0.5) / n)
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.column_stack([z1.ravel(), z2.ravel()])


def save_manifold(path, params, image_shape: tuple[int, int], n: int = 20, title: str = "") -> None:
    """Fig. 4: decoder means over the Φ⁻¹ grid of a model with Nz = 2.

    Parameters
    ----------
    path : str or path-like
        The PNG written.
    params : dict
        ``{"phi", "theta"}`` of a model with Nz = 2.
    image_shape : (h, w)
        (28, 28) for MNIST, (28, 20) for Frey Face.
    n : int
        Grid points per axis (>= 2): n·n images.
    title : str

    Raises
    ------
    ConfigError
        The model's latent space is not two-dimensional, or ``n < 2``.

    References
    ----------
    Kingma & Welling (2014), Appendix A, Fig. 4.
    """
    Nz = params["phi"]["W4"].shape[0]
    if Nz != 2:
        raise ConfigError(f"the learned-manifold plot needs n_latent = 2, got {Nz}")
    z = manifold_grid(n).astype(params["phi"]["W4"].dtype)
    save_image_grid(path, model.decoder_mean(params["theta"], z), image_shape, n_cols=n, title=title)


def save_latent_scatter(path, params, x: np.ndarray, labels: np.ndarray, title: str = "") -> None:
    """Means of q_φ(z|x) for a dataset with Nz = 2, coloured by label (e.g. MNIST digit).

    Parameters
    ----------
    path : path-like
    params : dict
        A model with ``n_latent = 2``.
    x : ndarray, shape (N, D)
    labels : ndarray of int, shape (N,)
    title : str

    Raises
    ------
    ConfigError
        The latent space is not two-dimensional.

    References
    ----------
    Kingma & Welling (2014), Appendix A (Fig. 4's 2-D latent spaces; the scatter is not in the
    paper) and Eq. (9) (the encoder's means).
    """
    Nz = params["phi"]["W4"].shape[0]
    if Nz != 2:
        raise ConfigError(f"the latent scatter plot needs n_latent = 2, got {Nz}")
    mu, _, _ = model.encode(params["phi"], x.astype(params["phi"]["W3"].dtype, copy=False))
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$ (mean of $q_\\phi(z|x)$)")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def save_bound_curves(path, logs: dict[str, list[dict]], title: str = "", unit: str = "nats/datapoint",
                      decades: float = 3.0) -> None:
    """Fig. 2-style curves: train (dashed) and test (solid) lower bound against samples, log x axis.

    Parameters
    ----------
    path : path-like
    logs : dict
        Label → list of log rows (``samples``, ``train_lower_bound``, ``test_lower_bound``),
        as written to ``log.jsonl`` by :mod:`aevb_np.train`; at most four (one colour each).
    title : str
    unit : str
        The y axis's unit (default "nats/datapoint").
    decades : float
        Show only the last this many decades of samples (as the paper's Fig. 2 does), so the
        first few hundred steps, thousands of nats below, do not flatten the curves.

    Raises
    ------
    ConfigError
        More than four runs in ``logs``.

    References
    ----------
    Kingma & Welling (2014), Fig. 2.
    """
    import matplotlib.ticker

    colours = ("tab:red", "tab:blue", "tab:green", "tab:purple")
    if len(logs) > len(colours):  # zip below would silently drop the extra curves
        raise ConfigError(f"save_bound_curves draws at most {len(colours)} runs, got {len(logs)}: {list(logs)}")
    largest = max((r["samples"] for rows in logs.values() for r in rows), default=0)
    start = max(1.0, largest / 10.0**decades)
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    for (label, rows), colour in zip(logs.items(), colours):
        rows = [r for r in rows if r["samples"] >= start]
        if not rows:
            continue
        n = [r["samples"] for r in rows]
        ax.plot(n, [r["train_lower_bound"] for r in rows], "--", color=colour, label=f"{label} (train)")
        ax.plot(n, [r["test_lower_bound"] for r in rows], "-", color=colour, label=f"{label} (test)")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("# training samples evaluated")
    ax.set_ylabel(f"lower bound L, {unit}")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_training_curves(path, log_rows: list[dict], title: str = "", unit: str = "nats/datapoint") -> None:
    """The bound of one training run against the samples seen: train (dashed) and test (solid).

    The training CLI writes this as ``curves.png`` at the end of a run.

    Parameters
    ----------
    path : path-like
        PNG to write (replaced atomically).
    log_rows : list of dict
        The rows of ``log.jsonl`` (:mod:`aevb_np.train`): each with ``samples`` (training
        samples evaluated so far), ``train_lower_bound`` and ``test_lower_bound`` (the
        estimator-B bound, ``unit``).  The evaluation at 0 samples is left out of the
        log-scaled axis.
    title : str
    unit : str
        Label of the y axis' unit (nats per datapoint by default).

    Raises
    ------
    ConfigError
        No row with a positive ``samples`` count, or a row without one of the three keys.

    References
    ----------
    Kingma & Welling (2014), §5 Fig. 2 (the same axes).
    """
    import matplotlib.ticker

    keys = ("samples", "train_lower_bound", "test_lower_bound")
    for i, row in enumerate(log_rows):
        missing = [k for k in keys if k not in row]
        if missing:
            raise ConfigError(f"log row {i} has no {', '.join(missing)}")
    rows = sorted((r for r in log_rows if r["samples"] > 0), key=lambda r: r["samples"])
    if not rows:
        raise ConfigError("no log row with samples > 0: nothing to plot")
    n = [r["samples"] for r in rows]
    train, test = [r["train_lower_bound"] for r in rows], [r["test_lower_bound"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(n, train, "--", color="tab:red", marker=".", label=f"train (last {train[-1]:.2f})")
    ax.plot(n, test, "-", color="tab:red", marker=".", label=f"test (last {test[-1]:.2f})")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("# training samples evaluated")
    ax.set_ylabel(f"lower bound L, {unit}")
    # The first evaluations sit far below the rest; keep the last 90% of the range in view.
    lo, hi = min(min(train[len(train) // 4:]), min(test[len(test) // 4:])), max(max(train), max(test))
    if hi > lo:
        ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    ax.set_title(title or "estimator-B lower bound during training", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def reconstruct(params, x: np.ndarray) -> np.ndarray:
    """Decoder means at z = the encoder's mean: E_{p_θ(x|z)}[x] with z = mu_φ(x) (no sampling).

    Parameters
    ----------
    params : dict
    x : ndarray, shape (n, D)

    Returns
    -------
    ndarray, shape (n, D)
        Bernoulli means sigmoid(logits), or the Gaussian decoder's mu_x.
    """
    dtype = params["phi"]["W3"].dtype
    mu, _, _ = model.encode(params["phi"], np.asarray(x, dtype=dtype))
    return model.decoder_mean(params["theta"], mu)


def save_reconstructions(path, params, x: np.ndarray, image_shape: tuple[int, int], n: int = 10,
                         title: str | None = None) -> None:
    """Test images (top row) beside their reconstructions (bottom row), as a PNG.

    The reconstruction of x is the decoder mean at z = the encoder mean of q_φ(z|x)
    (:func:`reconstruct`), not a sample; the default title says so.

    Parameters
    ----------
    path : path-like
    params : dict
    x : ndarray, shape (N, D)
        Images with values in [0, 1]; the first ``n`` are shown.
    image_shape : (h, w)
        (28, 28) for MNIST, (28, 20) for Frey Face.
    n : int
        Images shown (at most ``len(x)``).
    title : str, optional

    Raises
    ------
    ConfigError
        ``n`` < 1 or ``x`` not of shape (N, h·w).
    """
    h, w = image_shape
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != h * w:
        raise ConfigError(f"x must have shape (N, {h * w}) for images of shape {image_shape}, got {x.shape}")
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    shown = x[: min(n, x.shape[0])]
    recon = np.clip(reconstruct(params, shown), 0.0, 1.0)
    if title is None:
        title = "top: test images; bottom: reconstructions (decoder mean at z = encoder mean)"
    save_image_grid(path, np.concatenate([shown, recon]), image_shape, n_cols=shown.shape[0], title=title)
