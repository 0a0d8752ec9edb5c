"""Tests of the exact quadrature of log p(x) and of the KDE option of the Appendix D estimator.

``quadrature_log_px`` is checked where log p(x) is known in closed form (a linear-Gaussian
model with Nz = 3, through the same grid code), against brute-force log-sum-exp over the
model's own log-joint (the per-grid-point decomposition of the decoder), and by grid
refinement on a small trained decoder.  The KDE is checked against scipy.stats.gaussian_kde
and anglepy's bandwidth rule, and the Appendix D estimator with the KDE against the exact
log p(x) of the linear-Gaussian model.  Statistical bounds are stated in the asserts.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from aevb_np import data as data_mod
from aevb_np import distributions as dist
from aevb_np import linear_gaussian as lg
from aevb_np import marginal
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.train import TrainConfig, train

from conftest import small_model

# ---------------------------------------------------------------------------
# the linear-Gaussian model with Nz = 3
# ---------------------------------------------------------------------------


def lg3_problem(seed=0, M=5, D=6, Nz=3, noise=0.7):
    r = np.random.default_rng(seed)
    W = r.normal(0.0, 1.0, size=(D, Nz))
    b = r.normal(0.0, 0.5, size=D)
    z = r.standard_normal((M, Nz))
    x = z @ W.T + b + noise * r.standard_normal((M, D))
    return x, W, b, np.log(noise**2)


def lg_grid_log_joint(x, W, b, lvx):
    """z (G, Nz) -> log p(x_i, z_g) (N, G) for the linear-Gaussian model."""
    def f(z):
        zz = np.broadcast_to(z[:, None, :], (z.shape[0], x.shape[0], z.shape[1]))
        return (lg.log_likelihood(x, zz, W, b, lvx) + dist.log_standard_normal(zz)).T
    return f


def lg_target(x, W, b, lvx):
    def f(z):
        return (dist.log_standard_normal(z) + lg.log_likelihood(x, z, W, b, lvx),
                lg.log_likelihood_grad_z(x, z, W, b, lvx) - z)
    return f


def test_quadrature_matches_the_exact_log_px_of_a_linear_gaussian_model_with_nz_3():
    # Posterior sds here are 0.25-0.4; the step is 14/60 ≈ 0.23.  The trapezoidal error
    # for a Gaussian of width σ is ~ exp(−2π²σ²/h²) ≈ e^-22 at the narrowest: the stated
    # tolerance 1e-8 nats leaves room for round-off only.
    x, W, b, lvx = lg3_problem()
    exact = lg.log_marginal(x, W, b, lvx)
    got, info = marginal.quadrature_log_px_from_log_joint(lg_grid_log_joint(x, W, b, lvx), 3, x.shape[0], grid=61,
                                                          limit=7.0, chunk_size=5000, return_info=True)
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-8)
    assert np.all(info["boundary_fraction"] < 1e-10)
    assert np.all(info["error_estimate"] < 1e-3)  # the step-2h sub-grids already agree
    # Too coarse a grid: the error estimate is large, and it bounds the actual error.
    coarse, cinfo = marginal.quadrature_log_px_from_log_joint(lg_grid_log_joint(x, W, b, lvx), 3, x.shape[0],
                                                              grid=21, limit=7.0, return_info=True)
    assert np.all(np.abs(coarse - exact) <= cinfo["error_estimate"]), (coarse - exact, cinfo["error_estimate"])
    # Too small a box: mass on its faces, and the estimate falls short.
    small, sinfo = marginal.quadrature_log_px_from_log_joint(lg_grid_log_joint(x, W, b, lvx), 3, x.shape[0],
                                                             grid=31, limit=0.5, return_info=True)
    assert np.all(sinfo["boundary_fraction"] > 1e-3) and np.all(small < exact)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_quadrature_equals_brute_force_log_sum_exp_of_the_model_log_joint(decoder):
    # The decomposition log p(x|z) = X(x)·F(z) + c(z) that shares the decoder over the
    # datapoints gives the same numbers as model.log_likelihood at every grid point.
    params, x, _ = small_model(decoder, n_latent=2, M=4)
    g = np.linspace(-6.0, 6.0, 121)
    z = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    z = np.broadcast_to(z, (z.shape[0], x.shape[0], 2))
    ref = logsumexp(marginal.log_joint(params["theta"], x)(z), axis=0) + 2 * np.log(g[1] - g[0])
    got = marginal.quadrature_log_px(params, x, grid=121, limit=6.0, chunk_size=999)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    # The decoder dict alone is accepted too, and the chunk size changes nothing.
    np.testing.assert_allclose(marginal.quadrature_log_px(params["theta"], x, grid=121, limit=6.0, chunk_size=64),
                               got, rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def trained_decoder(tmp_path_factory):
    """A 784-16-3 AEVB model trained on 200 MNIST digits for 20,000 samples (a few seconds)."""
    x_train, _ = data_mod.load_dataset("mnist", "train")
    x_test, _ = data_mod.load_dataset("mnist", "test")
    config = TrainConfig(hidden=16, n_latent=3, batch_size=20, lr=0.02, max_samples=20_000, eval_every=10**9,
                         eval_train_size=50, eval_test_size=50, seed=5)
    result = train(config, tmp_path_factory.mktemp("run"), progress=False, data=(x_train[:200], x_test[:50]))
    return result["params"], x_test[:6].astype(np.float64)


def test_refining_the_grid_changes_the_answer_by_less_than_the_stated_error(trained_decoder):
    params, x = trained_decoder
    coarse, ci = marginal.quadrature_log_px(params, x, grid=49, limit=7.0, return_info=True)
    fine, fi = marginal.quadrature_log_px(params, x, grid=97, limit=7.0, return_info=True)
    # The coarse grid's error estimate bounds what refinement (halving the step) changes,
    assert np.all(np.abs(fine - coarse) <= ci["error_estimate"]), (fine - coarse, ci["error_estimate"])
    # and the fine grid is accurate to 1e-3 nats by its own estimate, the box big enough.
    assert np.all(fi["error_estimate"] < 5e-3), fi["error_estimate"]
    assert np.all(fi["boundary_fraction"] < 1e-7), fi["boundary_fraction"]
    # Importance sampling with the encoder, a stochastic lower bound, is below it (4 SE).
    enc, se = marginal.importance_sampled_log_px(params, x, 4000, np.random.default_rng(0), return_stderr=True)
    assert np.all(enc < fine + 4 * se + 1e-3), (enc - fine, se)


def test_quadrature_refuses_more_than_three_latent_dimensions_and_bad_settings():
    params, x, _ = small_model("bernoulli", n_latent=4)
    with pytest.raises(ConfigError, match="refuses Nz > 3"):
        marginal.quadrature_log_px(params, x)
    params, x, _ = small_model("bernoulli", n_latent=2)
    with pytest.raises(ConfigError, match="grid must be an integer >= 3"):
        marginal.quadrature_log_px(params, x, grid=2)
    with pytest.raises(ConfigError, match="limit must be a positive finite number"):
        marginal.quadrature_log_px(params, x, limit=0.0)
    with pytest.raises(ShapeError):
        marginal.quadrature_log_px(params, x[:, :3])
    with pytest.raises(ShapeError, match="log_joint_grid must return shape"):
        marginal.quadrature_log_px_from_log_joint(lambda z: np.zeros((2, 1)), 2, 3, grid=5)


# ---------------------------------------------------------------------------
# the KDE
# ---------------------------------------------------------------------------


def _samples(seed=0, S=40, M=3):
    r = np.random.default_rng(seed)
    A = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.0], [0.0, 0.2, 0.1]])
    return r.standard_normal((S, M, 3)) @ A.T + r.normal(size=3), r


def test_kde_log_density_equals_scipy_gaussian_kde():
    s, r = _samples()
    fit = marginal.fit_kde(s, ridge=0.0)
    z = s.mean(axis=0) + 0.5 * r.standard_normal((9, s.shape[1], 3))
    got = marginal.kde_log_density(z, fit.centers, fit.chol, max_elements=100)  # several passes
    for i in range(s.shape[1]):
        ref = gaussian_kde(s[:, i].T, bw_method=fit.factor[i]).logpdf(z[:, i].T)
        np.testing.assert_allclose(got[:, i], ref, rtol=0, atol=1e-10)


def test_kde_bandwidth_is_anglepys_cross_validated_factor():
    # anglepy's kde_infer_factor, with scipy, scored in both directions (see fit_kde).
    s, _ = _samples(seed=3, S=50)
    fit = marginal.fit_kde(s, ridge=0.0)
    S, M, Nz = s.shape
    scott = S ** (-1.0 / (Nz + 4))
    for i in range(M):
        a, b = s[: S // 2, i].T, s[S // 2:, i].T
        scores = [np.sum(gaussian_kde(a, bw_method=f * scott).logpdf(b)) + np.sum(gaussian_kde(b, bw_method=f * scott)
                                                                                   .logpdf(a))
                  for f in marginal.KDE_FACTORS]
        assert fit.relative_factor[i] == marginal.KDE_FACTORS[int(np.argmax(scores))]
        assert fit.factor[i] == pytest.approx(fit.relative_factor[i] * scott)
    # The density integrates to one (a 3-D grid, as the quadrature does).
    g = np.linspace(-4, 4, 81)
    z = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    z = s.mean(axis=0)[None] + np.broadcast_to(z, (z.shape[0], M, 3)) * s.std(axis=0)[None] * 1.5
    vol = np.prod(1.5 * s.std(axis=0) * (g[1] - g[0]), axis=-1)
    total = np.exp(logsumexp(marginal.kde_log_density(z, fit.centers, fit.chol), axis=0)) * vol
    np.testing.assert_allclose(total, 1.0, atol=2e-3)


def test_appendix_d_with_the_kde_recovers_the_exact_log_px_of_a_linear_gaussian_model():
    # 300 fit samples, 500 new ones, 10 leapfrog steps.  On this model (exactly Gaussian
    # posteriors, where the Gaussian fit is the right family) the KDE's error over 10
    # seeds × 6 datapoints had SD 0.032 and a largest |error| of 0.10 nats; the stated
    # bounds are 0.15 nats per datapoint (4.7 SD) and 0.08 for the mean of the six.
    x, W, b, lvx = lg3_problem(M=6)
    exact = lg.log_marginal(x, W, b, lvx)
    est, info = marginal.appendix_d_log_px_from_target(lg_target(x, W, b, lvx), np.zeros((6, 3)),
                                                       np.random.default_rng(7), n_fit=300, n_hmc=500, n_burnin=100,
                                                       density=("gaussian", "kde"), return_info=True)
    err = est["kde"] - exact
    assert np.max(np.abs(err)) < 0.15, err
    assert abs(err.mean()) < 0.08, err
    assert np.max(np.abs(est["gaussian"] - exact)) < 0.05, est["gaussian"] - exact
    assert np.all(np.isin(info["kde_relative_factor"], marginal.KDE_FACTORS))


def test_default_density_stays_gaussian_and_the_same_chains_serve_both():
    params, x, _ = small_model("bernoulli", n_latent=2, M=3)
    kw = dict(n_fit=20, n_hmc=20, n_burnin=20)
    default = marginal.appendix_d_log_px(params, x, np.random.default_rng(0), **kw)
    gauss = marginal.appendix_d_log_px(params, x, np.random.default_rng(0), density="gaussian", **kw)
    both = marginal.appendix_d_log_px(params, x, np.random.default_rng(0), density=("gaussian", "kde"), **kw)
    kde = marginal.appendix_d_log_px(params, x, np.random.default_rng(0), density="kde", **kw)
    np.testing.assert_array_equal(default, gauss)
    np.testing.assert_array_equal(both["gaussian"], gauss)
    np.testing.assert_array_equal(both["kde"], kde)
    assert np.all(np.isfinite(kde))


def test_bad_density_settings_raise_clear_errors():
    params, x, _ = small_model("bernoulli", n_latent=2, M=3)
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="density must be one of"):
        marginal.appendix_d_log_px(params, x, rng, density="histogram")
    with pytest.raises(ConfigError, match="density must be one of"):
        marginal.appendix_d_log_px(params, x, rng, density=("kde", "kde"))
    with pytest.raises(ConfigError, match="cov_scale scales the Gaussian fit only"):
        marginal.appendix_d_log_px(params, x, rng, density="kde", cov_scale=0.8)
    with pytest.raises(ConfigError, match="n_fit must be at least 2"):
        marginal.appendix_d_log_px(params, x, rng, density="kde", n_fit=5)
    with pytest.raises(ShapeError, match="at least 2·\\(Nz\\+1\\)"):
        marginal.fit_kde(np.zeros((5, 1, 3)))
    with pytest.raises(ConfigError, match="at least one candidate"):
        marginal.fit_kde(_samples()[0], factors=())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_posterior_start_draws_from_the_discretized_posterior(dtype):
    # Gumbel-max over the chunks: each grid point is drawn with probability ∝ p(x, z_g)
    # (noise drawn only within GUMBEL_CUTOFF nats of the best point; float32 as evaluations run it).
    params, x, _ = small_model("bernoulli", n_latent=2, M=2)
    R = 3000
    xr = np.repeat(x, R, axis=0)
    z0 = marginal.grid_posterior_start(params, xr, np.random.default_rng(0), grid=41, limit=6.0, chunk_size=500,
                                       dtype=dtype)
    g = np.linspace(-6.0, 6.0, 41)
    assert np.all(np.isin(z0, g.astype(dtype)))
    zg = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    logw = marginal.log_joint(params["theta"], x)(np.broadcast_to(zg, (zg.shape[0], 2, 2)))  # (G, 2)
    w = np.exp(logw - logsumexp(logw, axis=0))
    for i in range(2):
        mean = w[:, i] @ zg[:, 0]
        sd = np.sqrt(w[:, i] @ (zg[:, 0] - mean) ** 2)
        got = z0[i * R:(i + 1) * R]
        assert np.all(np.abs(got.mean(axis=0) - mean) < 4 * sd / np.sqrt(R)), (got.mean(axis=0), mean, sd)
    with pytest.raises(ConfigError, match="refuses Nz > 3"):
        p4, x4, _ = small_model("bernoulli", n_latent=4)
        marginal.grid_posterior_start(p4, x4, np.random.default_rng(0))
