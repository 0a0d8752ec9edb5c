"""plots.save_training_curves and plots.save_reconstructions: the files a training run leaves."""

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
