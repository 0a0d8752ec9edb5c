"""plots: the files a training run leaves (curves, reconstructions) and the Fig. 4–5 pictures of Appendix A (the Φ⁻¹ manifold grid, samples from the prior)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.image import imread

from aevb_np import model, plots
from aevb_np.errors import ConfigError


def _rows():
    samples = [0, 1000, 3000, 10_000, 30_000]
    return [{"samples": s, "train_lower_bound": -543.0 + 40 * k, "test_lower_bound": -545.0 + 39 * k}
            for k, s in enumerate(samples)]


def test_training_curves_png_is_written_and_has_drawn_pixels(tmp_path):
    path = tmp_path / "curves.png"
    plots.save_training_curves(path, _rows(), title="MNIST, Nz = 2")
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    # The red curves are there: pixels far more red than green or blue.
    red = (img[..., 0] > 0.6) & (img[..., 1] < 0.45) & (img[..., 2] < 0.45)
    assert red.sum() > 200


def test_training_curves_reject_rows_without_positive_samples_or_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match="samples > 0"):
        plots.save_training_curves(tmp_path / "c.png", _rows()[:1])
    with pytest.raises(ConfigError, match="test_lower_bound"):
        plots.save_training_curves(tmp_path / "c.png", [{"samples": 5, "train_lower_bound": -1.0}])
    assert not (tmp_path / "c.png").exists()


def test_reconstructions_are_decoder_means_at_the_encoder_mean(tmp_path):
    r = np.random.default_rng(0)
    params = model.init_params(12, 5, 2, "bernoulli", r, init_std=0.5)
    x = (r.uniform(size=(4, 12)) < 0.5).astype(np.float64)
    mu, _, _ = model.encode(params["phi"], x)
    np.testing.assert_allclose(plots.reconstruct(params, x), model.decoder_mean(params["theta"], mu), rtol=0, atol=0)
    path = tmp_path / "reconstructions.png"
    plots.save_reconstructions(path, params, x, (3, 4), n=3)
    img = imread(path)
    assert img.shape[1] > img.shape[0] > 0
    with pytest.raises(ConfigError, match="shape"):
        plots.save_reconstructions(path, params, x[:, :6], (3, 4))


def test_bound_curves_refuse_more_runs_than_colours(tmp_path):
    rows = [{"samples": 100, "train_lower_bound": -200.0, "test_lower_bound": -201.0},
            {"samples": 1000, "train_lower_bound": -150.0, "test_lower_bound": -151.0}]
    plots.save_bound_curves(tmp_path / "four.png", {f"run {i}": rows for i in range(4)})
    assert (tmp_path / "four.png").stat().st_size > 0
    with pytest.raises(ConfigError, match="at most 4 runs, got 5"):
        plots.save_bound_curves(tmp_path / "five.png", {f"run {i}": rows for i in range(5)})
    assert not (tmp_path / "five.png").exists()


def test_save_figure_closes_the_figure_when_the_folder_is_missing(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    with pytest.raises(FileNotFoundError):
        plots.save_figure(fig, tmp_path / "no-such-folder" / "f.png")
    assert not plt.fignum_exists(fig.number)


# --------------------------------------------------------------------------- Appendix A, Fig. 4 and 5


def test_manifold_grid_is_the_inverse_gaussian_cdf_of_evenly_spaced_quantiles_with_z2_up():
    # Appendix A: "linearly spaced coordinates on the unit square were transformed through the
    # inverse CDF of the Gaussian". Written out with the standard library's NormalDist (not scipy).
    from statistics import NormalDist

    n = 3
    q = [NormalDist().inv_cdf((k + 0.5) / n) for k in range(n)]  # -0.9674, 0, +0.9674
    expected = np.array([[z1, z2] for z2 in reversed(q) for z1 in q])  # rows from the top: z2 descending
    grid = plots.manifold_grid(n)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid, expected, rtol=0, atol=1e-12)
    assert abs(q[0] + 0.967421566101701) < 1e-12  # Φ⁻¹(1/6)
    with pytest.raises(ConfigError, match="at least 2"):
        plots.manifold_grid(1)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_sample_images_are_decoder_means_at_prior_draws_written_out(decoder):
    # Fig. 5: z ~ p(z) = N(0, I), then the decoder's mean: sigmoid(W2 tanh(W1 z + b1) + b2) for the
    # Bernoulli decoder (Appendix C.1); for the Gaussian decoder of Frey Face the mean
    # sigmoid(W4 tanh(W3 z + b3) + b4) (Appendix C.2 with the mean squashed into (0, 1), §5).
    params = model.init_params(12, 6, 2, decoder=decoder, rng=np.random.default_rng(0), init_std=0.5)
    t = params["theta"]
    images = plots.sample_images(params, np.random.default_rng(5), n=4)
    z = np.random.default_rng(5).standard_normal((4, 2))
    hidden, out = ("W1", "b1"), ("W2", "b2")
    if decoder == "gaussian":
        hidden, out = ("W3", "b3"), ("W4", "b4")
    h = np.tanh(z @ t[hidden[0]].T + t[hidden[1]])
    expected = 1.0 / (1.0 + np.exp(-(h @ t[out[0]].T + t[out[1]])))
    assert images.shape == (4, 12)
    np.testing.assert_allclose(images, expected, rtol=1e-12, atol=0)
