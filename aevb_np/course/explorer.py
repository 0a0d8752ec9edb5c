"""A latent explorer for the notebooks: move a point z through a 2-D latent space and see the
decoder's mean for it — the interactive form of Appendix A's learned manifolds (Fig. 4).

``latent_explorer`` returns an ipywidgets box (two sliders, z₁ and z₂, and the decoded
image) when ipywidgets is installed (the ``notebooks`` extra) and the caller wants a widget;
otherwise it draws the static picture a page without a kernel can show: the decoded images
along the z₁ axis (z₂ = 0) and the z₂ axis (z₁ = 0), which is what the two sliders sweep.
The site's build sets ``AEVB_NP_STATIC_WIDGETS=1`` (``docs/conf.py``), so its executed
notebooks hold that picture instead of a widget no page could run.
"""

from __future__ import annotations

import io
import os

import numpy as np

from aevb_np import model
from aevb_np.errors import ConfigError, ShapeError

#: The environment variable that asks for the static picture instead of the widget.
STATIC_ENV = "AEVB_NP_STATIC_WIDGETS"


def decoded_image(theta: dict, z, image_shape: tuple[int, int]) -> np.ndarray:
    """The decoder's mean μ_x(z) (Bernoulli means or Gaussian means) at one point z, as an image.

    Parameters
    ----------
    theta : dict
        The decoder's parameters: ``W1, b1, W2, b2`` (Bernoulli, App. C.1) or ``W3, b3, W4, b4,
        W5, b5`` (Gaussian, App. C.2), with a 2-D latent space: the first weight of shape (H, 2).
    z : array_like, shape (2,)
        The latent point.
    image_shape : (int, int)
        (height, width) of an image; their product is the decoder's output size D.

    Returns
    -------
    ndarray, shape image_shape
        The decoder's mean at z, in [0, 1].

    Raises
    ------
    ShapeError
        z is not two finite numbers, the decoder's latent space is not 2-D, or ``image_shape``
        does not multiply to the decoder's output size.

    References
    ----------
    Kingma & Welling (2014), Appendix A (Fig. 4), Appendix C.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (2,) or not np.all(np.isfinite(z)):
        raise ShapeError(f"z must be two finite numbers, got {z!r}")
    first = theta["W1"] if "W1" in theta else theta["W3"]  # Bernoulli (App. C.1) or Gaussian (App. C.2) names
    n_latent = np.shape(first)[1]
    if n_latent != 2:
        raise ShapeError(f"the latent explorer needs a 2-D latent space, the decoder has n_latent = {n_latent}")
    mean = model.decoder_mean(theta, z[None, :])[0]
    if int(np.prod(image_shape)) != mean.size:
        raise ShapeError(f"image_shape {tuple(image_shape)} holds {int(np.prod(image_shape))} pixels, "
                         f"the decoder gives {mean.size}")
    return mean.reshape(image_shape)


def png_bytes(image: np.ndarray) -> bytes:
    """``image`` (values in [0, 1]) as PNG bytes, grey scale: what the widget's image shows."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    plt.imsave(buffer, image, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()


def _static_picture(theta: dict, image_shape: tuple[int, int], limit: float, n: int):
    """The decoded images along the z₁ axis and the z₂ axis: what the two sliders sweep."""
    import matplotlib.pyplot as plt

    values = np.linspace(-limit, limit, n)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6))
    for col, v in enumerate(values):
        for row, z in enumerate(((v, 0.0), (0.0, v))):
            axes[row, col].imshow(decoded_image(theta, z, image_shape), cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_axis_off()
            axes[row, col].set_title(f"z{row + 1}={v:+.1f}", fontsize=7)
    fig.suptitle("the decoder's mean along z1 (top, z2 = 0) and z2 (bottom, z1 = 0)", fontsize=9)
    fig.tight_layout()
    return fig


def latent_explorer(theta: dict, image_shape: tuple[int, int], *, limit: float = 3.0, interactive: bool | None = None,
                    n_static: int = 9):
    """Two sliders for z = (z₁, z₂) and the decoder's mean at z, updated as the sliders move.

    Parameters
    ----------
    theta : dict
        The decoder's parameters, 2-D latent space (see :func:`decoded_image`).
    image_shape : (int, int)
        (height, width) of an image: (28, 28) for MNIST, (28, 20) for Frey Face.
    limit : float
        The sliders run over [−limit, limit] (default 3: ±3 prior standard deviations).
    interactive : bool, optional
        True: the widget (ipywidgets must be installed); False: the static picture; None (the
        default): the widget if ipywidgets is installed and ``AEVB_NP_STATIC_WIDGETS`` is not
        set, else the static picture.
    n_static : int
        Images per axis in the static picture.

    Returns
    -------
    ipywidgets.VBox or matplotlib.figure.Figure
        The widget (its ``children``: the two sliders' box and the image), or the static figure.

    Raises
    ------
    ShapeError
        As :func:`decoded_image`.
    ModuleNotFoundError
        ``interactive=True`` without ipywidgets (``pip install -e ".[notebooks]"``).
    ConfigError
        ``limit`` is not a positive finite number.

    References
    ----------
    Kingma & Welling (2014), Appendix A (Fig. 4).
    """
    if not (np.isfinite(limit) and limit > 0):
        raise ConfigError(f"limit must be a positive finite number, got {limit!r}")
    decoded_image(theta, (0.0, 0.0), image_shape)  # the shapes, checked before anything is drawn
    if interactive is None:
        try:
            import ipywidgets  # noqa: F401
        except ModuleNotFoundError:
            interactive = False
        else:
            interactive = not os.environ.get(STATIC_ENV)
    if not interactive:
        return _static_picture(theta, image_shape, limit, n_static)
    import ipywidgets as widgets

    sliders = [widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=limit / 60, description=name,
                                   continuous_update=True) for name in ("z₁", "z₂")]
    image = widgets.Image(format="png", width=196)

    def show(_change=None):
        image.value = png_bytes(decoded_image(theta, (sliders[0].value, sliders[1].value), image_shape))

    for slider in sliders:
        slider.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox(sliders), image])


def show_latent_explorer(theta: dict, image_shape: tuple[int, int], **options) -> None:
    """Display :func:`latent_explorer`'s widget or static picture once in a notebook.

    The static figure is closed before it is displayed, so that the inline backend does not
    show it a second time at the end of the cell. ``options`` go to :func:`latent_explorer`.

    Raises
    ------
    ShapeError, ConfigError, ModuleNotFoundError
        As :func:`latent_explorer`.
    """
    from IPython.display import display

    view = latent_explorer(theta, image_shape, **options)
    if hasattr(view, "savefig"):
        import matplotlib.pyplot as plt

        plt.close(view)
    display(view)
