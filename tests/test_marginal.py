"""Tests of aevb_np.marginal: importance sampling and the Appendix D estimator of log p(x).

The estimators are first checked where log p(x) is known exactly: a linear-Gaussian model
(p(z) = N(0, I), p(x|z) = N(Wz + b, s²I), closed forms in aevb_np.linear_gaussian) run
through the *same* callable-based code as the VAE, and a VAE with a 2-D latent space whose
log p(x) is computed by brute-force quadrature on a grid.  Statistical claims state their
bound (a number of standard errors) in the assert message.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from aevb_np import bounds, linear_gaussian as lg, marginal, model
from aevb_np import distributions as dist
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError, SupportError
from aevb_np.gradcheck import numerical_gradient, relative_error

from conftest import small_model

# ---------------------------------------------------------------------------
# the linear-Gaussian model: Nz = 2, D = 5
# ---------------------------------------------------------------------------

NZ, D = 2, 5


def linear_gaussian_problem(seed=0, M=4):
    r = np.random.default_rng(seed)
    W = r.normal(0.0, 1.0, size=(D, NZ))
    b = r.normal(0.0, 0.5, size=D)
    log_var_x = np.log(0.7**2)
    z = r.standard_normal((M, NZ))
    x = z @ W.T + b + 0.7 * r.standard_normal((M, D))
    return x, W, b, log_var_x


def lg_log_joint(x, W, b, log_var_x):
    """Vectorized log p(x, z) = log N(z; 0, I) + log p(x|z): z (n, M, Nz) -> (n, M)."""
    return lambda z: dist.log_standard_normal(z) + lg.log_likelihood(x, z, W, b, log_var_x)


def lg_target(x, W, b, log_var_x):
    """HMC target z (M, Nz) -> (log p(x, z) (M,), grad (M, Nz))."""
    def f(z):
        logp = dist.log_standard_normal(z) + lg.log_likelihood(x, z, W, b, log_var_x)
        return logp, lg.log_likelihood_grad_z(x, z, W, b, log_var_x) - z
    return f


def test_linear_gaussian_formulas_agree_with_scipy():
    # Guard the reference itself: the exact log p(x) is N(x; b, WWᵀ + s²I), and the
    # posterior satisfies Bayes' rule log p(z|x) = log p(x, z) − log p(x) at any z.
    x, W, b, lvx = linear_gaussian_problem()
    exact = lg.log_marginal(x, W, b, lvx)
    ref = multivariate_normal(b, W @ W.T + np.exp(lvx) * np.eye(D)).logpdf(x)
    np.testing.assert_allclose(exact, ref, rtol=0, atol=1e-10)
    m, S = lg.exact_posterior(x, W, b, lvx)
    z = np.random.default_rng(1).standard_normal((3, x.shape[0], NZ))
    log_post = np.stack([[multivariate_normal(m[i], S).logpdf(z[k, i]) for i in range(len(x))] for k in range(3)])
    np.testing.assert_allclose(lg_log_joint(x, W, b, lvx)(z) - exact, log_post, rtol=0, atol=1e-10)


def test_is_with_exact_posterior_proposal_is_exact_for_every_sample():
    # With q = p(z|x), every weight p(x, z)/q(z) equals p(x): zero variance for any K.
    x, W, b, lvx = linear_gaussian_problem()
    m, S = lg.exact_posterior(x, W, b, lvx)
    chol = np.broadcast_to(np.linalg.cholesky(S), (x.shape[0], NZ, NZ)).copy()
    exact = lg.log_marginal(x, W, b, lvx)
    for K in (1, 7, 300):
        res = marginal.importance_log_px(lg_log_joint(x, W, b, lvx), marginal.gaussian_proposal(m, chol), K,
                                         np.random.default_rng(K), chunk_size=64)
        np.testing.assert_allclose(res.log_px, exact, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.ess, K, rtol=1e-10)
        if K > 1:
            assert np.all(res.stderr < 1e-6)


def _imperfect_proposal(x, W, b, lvx):
    """q = N(m + 0.5 sd, 1.5 Σ): shifted and wider than the posterior (weights bounded)."""
    m, S = lg.exact_posterior(x, W, b, lvx)
    shift = 0.5 * np.sqrt(np.diag(S))
    Sq = 1.5 * S
    chol = np.broadcast_to(np.linalg.cholesky(Sq), (x.shape[0], NZ, NZ)).copy()
    # KL(q ‖ p(z|x)) between Gaussians, closed form: the gap of the K = 1 estimate.
    P = np.linalg.inv(S)
    kl = 0.5 * (np.trace(P @ Sq) + shift @ P @ shift - NZ + np.log(np.linalg.det(S) / np.linalg.det(Sq)))
    return m + shift, chol, kl


def test_is_with_imperfect_proposal_starts_at_elbo_and_rises_to_exact_log_px():
    x, W, b, lvx = linear_gaussian_problem()
    exact = lg.log_marginal(x, W, b, lvx)
    mq, chol, kl = _imperfect_proposal(x, W, b, lvx)
    lj, q = lg_log_joint(x, W, b, lvx), marginal.gaussian_proposal(mq, chol)
    rng = np.random.default_rng(3)
    R = 400  # independent repetitions of each estimate, to average over
    means, ses = {}, {}
    for K in (1, 10, 100):
        reps = np.stack([marginal.importance_log_px(lj, q, K, rng).log_px for _ in range(R)])  # (R, M)
        means[K] = reps.mean(axis=0)
        ses[K] = reps.std(axis=0, ddof=1) / np.sqrt(R)
    # K = 1: log p(x,z) − log q(z) has mean log p(x) − KL(q ‖ p(z|x)), the ELBO of Eq. (1)-(3).
    assert np.all(np.abs(means[1] - (exact - kl)) < 4 * ses[1]), "K=1 mean not within 4 SE of the exact ELBO"
    # Burda et al. Theorem 1: E log p̂_K rises with K and stays below log p(x).
    assert np.all(means[10] - means[1] > 4 * np.hypot(ses[10], ses[1])), "no rise from K=1 to K=10 (4 SE)"
    assert np.all(means[100] > means[10]), "no rise from K=10 to K=100"
    assert np.all(means[100] < exact + 4 * ses[100]), "IS above log p(x) by more than 4 SE"
    # Large K: one estimate within 4 of its own (delta-method) standard errors of log p(x).
    big = marginal.importance_log_px(lj, q, 100_000, rng, chunk_size=20_000)
    assert np.all(np.abs(big.log_px - exact) < 4 * big.stderr), (big.log_px - exact, big.stderr)
    assert np.all(big.stderr < 0.01)
    assert np.all(big.ess > 0.3 * 100_000)


def test_harmonic_mean_with_exact_posterior_density_is_exact_for_every_sample():
    # Appendix D step 3 with q = p(z|x): q(z)/p(x, z) = 1/p(x) for every z.
    x, W, b, lvx = linear_gaussian_problem()
    m, S = lg.exact_posterior(x, W, b, lvx)
    chol = np.broadcast_to(np.linalg.cholesky(S), (x.shape[0], NZ, NZ)).copy()
    z, _ = marginal.gaussian_proposal(m, chol)(5, np.random.default_rng(0))
    est = marginal.harmonic_mean_log_px(marginal.gaussian_log_density(z, m, chol), lg_log_joint(x, W, b, lvx)(z))
    np.testing.assert_allclose(est, lg.log_marginal(x, W, b, lvx), rtol=0, atol=1e-10)


def test_appendix_d_recovers_exact_log_px_of_linear_gaussian_within_0_05_nats():
    # The whole estimator, HMC included: 300 HMC samples for the Gaussian fit, 500 new ones.
    # Its error has three parts, all small here: the fit error of q (O(1/√300) in mean and
    # covariance), the Jensen bias of −log(average) and the MCMC error.  Over 10 seeds × 6
    # datapoints the largest error seen was 0.031 nats; 0.05 is the stated bound.
    x, W, b, lvx = linear_gaussian_problem(M=6)
    z0 = np.zeros((x.shape[0], NZ))
    est, info = marginal.appendix_d_log_px_from_target(lg_target(x, W, b, lvx), z0, np.random.default_rng(7),
                                                       n_fit=300, n_hmc=500, n_burnin=100, return_info=True)
    err = est - lg.log_marginal(x, W, b, lvx)
    assert np.max(np.abs(err)) < 0.05, err
    assert np.all(info["accept_rate"] > 0.7)
    # The fitted q is close to the exact posterior.
    m, S = lg.exact_posterior(x, W, b, lvx)
    np.testing.assert_allclose(info["q_mean"], m, atol=0.15)


def test_hmc_importance_sampling_recovers_exact_log_px_of_linear_gaussian():
    x, W, b, lvx = linear_gaussian_problem(M=6)
    res = marginal.hmc_importance_log_px_from_target(lg_target(x, W, b, lvx), lg_log_joint(x, W, b, lvx),
                                                     np.zeros((x.shape[0], NZ)), 2000, np.random.default_rng(8),
                                                     n_fit=200, n_burnin=200)
    err = res.log_px - lg.log_marginal(x, W, b, lvx)
    assert np.all(np.abs(err) < 4 * res.stderr + 1e-3), (err, res.stderr)


def test_fitted_gaussian_density_matches_scipy():
    r = np.random.default_rng(2)
    A = np.array([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.3]])
    samples = r.standard_normal((4000, 2, 3)) @ A.T + np.array([1.0, -1.0, 0.5])
    mean, chol = marginal.fit_gaussian(samples)
    np.testing.assert_allclose(chol[0] @ chol[0].T, A @ A.T, atol=0.06)
    z = r.standard_normal((3, 2, 3))
    got = marginal.gaussian_log_density(z, mean, chol)
    ref = np.stack([[multivariate_normal(mean[i], chol[i] @ chol[i].T).logpdf(z[k, i]) for i in range(2)]
                    for k in range(3)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    # The proposal's log q agrees with the density at its own draws.
    zq, log_q = marginal.gaussian_proposal(mean, chol)(4, r)
    np.testing.assert_allclose(log_q, marginal.gaussian_log_density(zq, mean, chol), rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------
# the VAE of Appendix C
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_posterior_target_gradient_matches_finite_differences(decoder):
    params, x, r = small_model(decoder)
    z = r.standard_normal((x.shape[0], 3))
    f = marginal.posterior_target(params["theta"], x)
    logp, grad = f(z)
    # The value is log N(z; 0, I) + log p(x|z) of the model, computed independently here.
    ll = model.log_likelihood(x, model.decode(params["theta"], z))[0]
    np.testing.assert_allclose(logp, ll + dist.log_standard_normal(z), rtol=1e-12)
    num = numerical_gradient(lambda: float(f(z)[0].sum()), z, h=1e-4)
    assert relative_error(grad, num).max() < 1e-7


def test_is_with_one_sample_equals_estimator_A():
    # K = 1 with the encoder proposal is estimator A (Eq. 6) with L = 1, draw for draw.
    params, x, _ = small_model("bernoulli")
    got = marginal.importance_sampled_log_px(params, x, 1, np.random.default_rng(5))
    ref, _ = bounds.estimate(params, x, np.random.default_rng(5), L=1, estimator="A", need_grad=False)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_is_does_not_depend_on_the_chunk_size():
    # Chunks of the K samples draw the same normals in the same order.
    params, x, _ = small_model("gaussian")
    a, se_a = marginal.importance_sampled_log_px(params, x, 300, np.random.default_rng(1), return_stderr=True)
    b, se_b = marginal.importance_sampled_log_px(params, x, 300, np.random.default_rng(1), max_rows=7 * x.shape[0],
                                                 return_stderr=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(se_a, se_b, rtol=1e-8)


def _repeated(params, x, K, R, seed):
    """R independent IS estimates for each datapoint: shape (R, M)."""
    xr = np.tile(x, (R, 1))
    return marginal.importance_sampled_log_px(params, xr, K, np.random.default_rng(seed),
                                              batch_size=xr.shape[0], max_rows=200_000).reshape(R, -1)


def test_is_mean_rises_with_K_and_exceeds_the_elbo_on_a_small_vae():
    # Burda et al. Theorem 1: E[log p̂_K] >= E[log p̂_1] = L(θ, φ; x), increasing in K.
    # The small model's encoder is random, far from the posterior, so the gaps are large.
    params, x, _ = small_model("bernoulli")
    R = 300
    est = {K: _repeated(params, x, K, R, seed=K) for K in (1, 10, 100)}
    mean = {K: v.mean() for K, v in est.items()}  # over datapoints and repetitions
    se = {K: v.mean(axis=1).std(ddof=1) / np.sqrt(R) for K, v in est.items()}
    elbo_draws = bounds.lower_bound(params, np.tile(x, (2000, 1)), np.random.default_rng(0)).reshape(2000, -1)
    elbo = elbo_draws.mean()
    se_elbo = elbo_draws.mean(axis=1).std(ddof=1) / np.sqrt(2000)
    assert abs(mean[1] - elbo) < 4 * np.hypot(se[1], se_elbo), "K=1 IS is not unbiased for the ELBO (4 SE)"
    assert mean[10] - mean[1] > 4 * np.hypot(se[10], se[1]), "IS did not rise from K=1 to K=10 (4 SE)"
    assert mean[100] - mean[10] > 4 * np.hypot(se[100], se[10]), "IS did not rise from K=10 to K=100 (4 SE)"
    assert mean[100] - elbo > 4 * np.hypot(se[100], se_elbo), "IS (K=100) not above the ELBO (4 SE)"


def _quadrature_log_px(theta, x, half_width=7.0, n=201):
    """log ∫ p(x|z) p(z) dz on an n×n grid over [-w, w]²: the exact value for a 2-D latent."""
    g = np.linspace(-half_width, half_width, n)
    h = g[1] - g[0]
    z = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    z = np.broadcast_to(z, (z.shape[0], x.shape[0], 2))
    return logsumexp(marginal.log_joint(theta, x)(z), axis=0) + 2 * np.log(h)


def test_appendix_d_and_hmc_is_match_quadrature_on_a_vae_with_2d_latent():
    params, x, _ = small_model("bernoulli", n_latent=2, M=4)
    exact = _quadrature_log_px(params["theta"], x)
    # Sanity of the reference: a coarser grid (step 0.1 instead of 0.07) gives the same number.
    np.testing.assert_allclose(exact, _quadrature_log_px(params["theta"], x, n=141), atol=1e-8)
    # Appendix D: its run-to-run SD on these posteriors is about 0.015 nats (10 seeds,
    # n_fit=400, n_hmc=1000); 0.06 nats is 4 SD.
    ad = marginal.appendix_d_log_px(params, x, np.random.default_rng(0), n_fit=300, n_hmc=1000, n_burnin=100)
    assert np.max(np.abs(ad - exact)) < 0.06, ad - exact
    his, se = marginal.hmc_importance_sampled_log_px(params, x, 2000, np.random.default_rng(1), n_fit=100,
                                                     n_burnin=100, return_stderr=True)
    assert np.all(np.abs(his - exact) < 4 * se + 1e-3), (his - exact, se)
    enc = marginal.importance_sampled_log_px(params, x, 20_000, np.random.default_rng(2))
    assert np.max(np.abs(enc - exact)) < 0.02, enc - exact


def test_decoder_only_params_are_accepted_by_the_hmc_estimators():
    params, x, _ = small_model("gaussian", n_latent=2, M=3)
    est = marginal.appendix_d_log_px({"theta": params["theta"]}, x, np.random.default_rng(0),
                                     n_fit=20, n_hmc=20, n_burnin=20)
    assert est.shape == (3,) and np.all(np.isfinite(est))
    with pytest.raises(ShapeError, match="encoder 'phi'"):
        marginal.importance_sampled_log_px({"theta": params["theta"]}, x, 5, np.random.default_rng(0))


def test_bad_inputs_raise_clear_errors():
    params, x, _ = small_model("bernoulli")
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="K must be a positive integer"):
        marginal.importance_sampled_log_px(params, x, 0, rng)
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator"):
        marginal.importance_sampled_log_px(params, x, 3, 0)
    with pytest.raises(ShapeError, match=r"x must have shape \(M, 12\)"):
        marginal.importance_sampled_log_px(params, x[:, :5], 3, rng)
    with pytest.raises(SupportError):
        marginal.importance_sampled_log_px(params, x + 2.0, 3, rng)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        marginal.appendix_d_log_px(params, bad, rng)
    with pytest.raises(ConfigError, match="n_fit must be an integer >= 2"):
        marginal.appendix_d_log_px(params, x, rng, n_fit=1)
    with pytest.raises(ConfigError, match="n_fit must exceed the latent dimension Nz=3"):
        marginal.hmc_importance_sampled_log_px(params, x, 10, rng, n_fit=3)
    with pytest.raises(ShapeError, match="log_q and log_joint_values"):
        marginal.harmonic_mean_log_px(np.zeros((3, 2)), np.zeros((3, 1)))


def test_mean_and_stderr_across_datapoints():
    m, se = marginal.mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert np.isnan(marginal.mean_and_stderr([1.0])[1])
