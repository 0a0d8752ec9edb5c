"""The notebooks' latent explorer (issue 24): the image it shows is the decoder's mean at the
sliders' z, it follows the sliders, and it refuses what it cannot show."""

import numpy as np
import pytest

from aevb_np import model
from aevb_np.course import explorer
from aevb_np.errors import ConfigError, ShapeError


@pytest.fixture
def theta():
    rng = np.random.default_rng(0)
    return model.init_params(784, 20, 2, rng=rng, init_std=0.5)["theta"]


def test_decoded_image_is_the_decoder_mean_at_z(theta):
    z = np.array([0.7, -1.3])
    image = explorer.decoded_image(theta, z, (28, 28))
    expected = 1 / (1 + np.exp(-(theta["W2"] @ np.tanh(theta["W1"] @ z + theta["b1"]) + theta["b2"])))
    assert image.shape == (28, 28)
    np.testing.assert_allclose(image.ravel(), expected, rtol=1e-12)
    np.testing.assert_array_equal(image.ravel(), model.decoder_mean(theta, z[None])[0])


def test_the_gaussian_decoder_of_frey_face_is_shown_by_its_mean():
    theta = model.init_params(560, 20, 2, decoder="gaussian", rng=np.random.default_rng(2), init_std=0.5)["theta"]
    image = explorer.decoded_image(theta, (0.5, 0.5), (28, 20))
    np.testing.assert_array_equal(image.ravel(), model.decoder_mean(theta, np.array([[0.5, 0.5]]))[0])


def test_the_widget_follows_the_sliders(theta):
    pytest.importorskip("ipywidgets")
    box = explorer.latent_explorer(theta, (28, 28), interactive=True)
    (z1, z2), image = box.children[0].children, box.children[1]
    assert image.value == explorer.png_bytes(explorer.decoded_image(theta, (0.0, 0.0), (28, 28)))
    z1.value, z2.value = 1.5, -2.0
    assert image.value == explorer.png_bytes(explorer.decoded_image(theta, (1.5, -2.0), (28, 28)))
    assert image.value != explorer.png_bytes(explorer.decoded_image(theta, (0.0, 0.0), (28, 28)))
    assert z1.min == -3.0 and z2.max == 3.0


def test_static_picture_when_asked_or_when_the_site_builds(theta, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    fig = explorer.latent_explorer(theta, (28, 28), interactive=False, n_static=5)
    assert len(fig.axes) == 10
    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    fig = explorer.latent_explorer(theta, (28, 28), n_static=3)
    assert len(fig.axes) == 6
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, explorer.decoded_image(theta, (-3.0, 0.0), (28, 28)))


def test_refuses_what_it_cannot_show(theta):
    with pytest.raises(ShapeError, match="image_shape"):
        explorer.decoded_image(theta, (0.0, 0.0), (28, 20))
    with pytest.raises(ShapeError, match="two finite numbers"):
        explorer.decoded_image(theta, (0.0, np.nan), (28, 28))
    wide = model.init_params(784, 20, 3, rng=np.random.default_rng(1))["theta"]
    with pytest.raises(ShapeError, match="2-D latent space"):
        explorer.latent_explorer(wide, (28, 28))
    with pytest.raises(ConfigError, match="limit"):
        explorer.latent_explorer(theta, (28, 28), limit=0.0)


def test_show_displays_the_static_picture_once(theta, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    plt.close("all")
    explorer.show_latent_explorer(theta, (28, 28), interactive=False, n_static=3)
    assert len(shown) == 1 and hasattr(shown[0], "savefig")
    assert plt.get_fignums() == []  # closed: the inline backend will not draw it again
