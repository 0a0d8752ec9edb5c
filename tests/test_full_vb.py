"""Appendix F (full VB): gradients, forward formulas, the conjugate exact check, a short MNIST run."""

import numpy as np
import pytest
from scipy.stats import norm

from aevb_np import bounds
from aevb_np import full_vb as fv
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.gradcheck import max_relative_error
from aevb_np.params import allocate

TOL = 1e-6


def small_full_vb(decoder: str, seed: int = 0, n_x: int = 10, n_hidden: int = 6, n_latent: int = 3, M: int = 5):
    """A 10-6-3 model, weights large enough to exercise every nonlinearity, σ_θ around e^-1."""
    r = np.random.default_rng(seed)
    params = fv.init_full_vb_params(n_x, n_hidden, n_latent, r, decoder, init_std=0.5)
    for a in params["theta_log_var"].values():
        a[...] = r.normal(-2.0, 0.5, size=a.shape)
    x = r.uniform(0.1, 0.9, size=(M, n_x))
    return params, x, r


def orthogonal_design(r, N=64, P=4):
    """Columns orthogonal with different norms: XᵀX diagonal, so the posterior over w is too."""
    Q, _ = np.linalg.qr(r.standard_normal((N, P)))
    return Q * np.linspace(1.0, 4.0, P)


def correlated_design(r, N=64, P=4):
    """Neighbouring columns strongly correlated: the posterior over w is far from factorized."""
    return 0.5 * r.standard_normal((N, P)) @ (np.eye(P) + 0.8 * np.eye(P, k=1))


def linreg_data(design, seed=0, noise_var=0.5):
    r = np.random.default_rng(seed)
    X = design(r)
    y = X @ r.standard_normal(X.shape[1]) + np.sqrt(noise_var) * r.standard_normal(X.shape[0])
    return X, y, noise_var, r


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("z_estimator", ["A", "B"])
@pytest.mark.parametrize("L", [1, 3])
def test_full_vb_gradient_matches_finite_differences(decoder, z_estimator, L):
    params, x, r = small_full_vb(decoder, seed=L)
    eps = r.standard_normal((L, x.shape[0], 3))
    zeta = fv.draw_zeta(params, r)
    N = 40
    bound, grads = fv.full_vb_estimator(params, x, eps, zeta, N, z_estimator)
    assert bound.shape == (x.shape[0],)

    def f():
        return fv.full_vb_estimator(params, x, eps, zeta, N, z_estimator, need_grad=False, validate=False)[0].sum()

    for group, arrays in params.items():
        assert set(grads[group]) == set(arrays)
        for name, array in arrays.items():
            assert grads[group][name].shape == array.shape
            err = max_relative_error(f, array, grads[group][name])
            assert err < TOL, f"{decoder} {z_estimator} L={L}: d/d{group}.{name} relative error {err:.2e}"


def test_linreg_gradient_matches_finite_differences():
    X, y, s2, r = linreg_data(correlated_design, seed=3)
    _, params = allocate({"theta_mu": {"w": (4,)}, "theta_log_var": {"w": (4,)}})
    params["theta_mu"]["w"][:] = r.standard_normal(4)
    params["theta_log_var"]["w"][:] = r.normal(-1.0, 0.5, 4)
    zeta = {"w": r.standard_normal(4)}
    _, grads = fv.linreg_estimator(params, X[:16], y[:16], zeta, 64, s2)
    for group in ("theta_mu", "theta_log_var"):
        err = max_relative_error(lambda: fv.linreg_estimator(params, X[:16], y[:16], zeta, 64, s2, need_grad=False)[0].sum(),
                                 params[group]["w"], grads[group]["w"])
        assert err < TOL, f"d/d{group}.w relative error {err:.2e}"


# --------------------------------------------------------------------------- forward values against the paper


def test_sample_theta_is_mu_plus_exp_half_log_var_times_zeta():
    params, _, r = small_full_vb("bernoulli", seed=1)
    zeta = fv.draw_zeta(params, r)
    theta = fv.sample_theta(params, zeta)
    for k, mu in params["theta_mu"].items():
        step = np.sqrt(np.exp(params["theta_log_var"][k])) * zeta[k]
        # Where mu and the step nearly cancel, a one-ulp difference between exp(v/2) and
        # sqrt(exp(v)) (NumPy 1.x's exp/sqrt round differently from 2.x's) is a large
        # *relative* error of the sum; bound the error by the size of the terms instead.
        err = np.abs(theta[k] - (mu + step))
        assert np.all(err <= 4 * np.finfo(np.float64).eps * (np.abs(mu) + np.abs(step))), (k, err.max())


def test_neg_kl_theta_matches_written_out_formula_and_is_zero_at_the_prior():
    params, _, _ = small_full_vb("gaussian", seed=2)
    mu = np.concatenate([a.ravel() for a in params["theta_mu"].values()])
    lv = np.concatenate([a.ravel() for a in params["theta_log_var"].values()])
    expected = 0.5 * np.sum(1 + lv - mu**2 - np.exp(lv))  # Eq. (24), Appendix B
    assert fv.neg_kl_theta(params) == pytest.approx(expected, rel=1e-13)
    for g in ("theta_mu", "theta_log_var"):
        for a in params[g].values():
            a[...] = 0.0
    assert fv.neg_kl_theta(params) == 0.0


def test_neg_kl_theta_matches_monte_carlo_within_4_standard_errors():
    """KL(q‖p) = E_q[log q(θ) − log p(θ)], estimated from 4000 draws θ ~ q."""
    params, _, r = small_full_vb("bernoulli", seed=4)
    mu = np.concatenate([a.ravel() for a in params["theta_mu"].values()])
    sd = np.exp(0.5 * np.concatenate([a.ravel() for a in params["theta_log_var"].values()]))
    theta = mu + sd * r.standard_normal((4000, mu.size))
    log_ratio = norm.logpdf(theta, mu, sd).sum(-1) - norm.logpdf(theta).sum(-1)
    se = log_ratio.std(ddof=1) / np.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() + fv.neg_kl_theta(params)) < 4 * se


def test_bound_with_vanishing_sigma_is_the_vae_bound_minus_the_kl_share():
    """σ_θ → 0: θ̃ = μ_θ, so bound_i = estimator B at μ_θ − KL/N, to rounding."""
    params, x, r = small_full_vb("bernoulli", seed=5)
    for a in params["theta_log_var"].values():
        a[...] = -80.0
    eps = r.standard_normal((2, x.shape[0], 3))
    N = 1000
    bound, _ = fv.full_vb_estimator(params, x, eps, fv.draw_zeta(params, r), N)
    vae, _ = bounds.estimator_B(fv.posterior_mean_params(params), x, eps)
    np.testing.assert_allclose(bound, vae + fv.neg_kl_theta(params) / N, rtol=1e-12)


@pytest.mark.parametrize("z_estimator", ["A", "B"])
def test_minibatch_estimates_over_a_partition_add_up_to_the_dataset_bound_of_eq_24(z_estimator):
    """Eq. (8) scaling inside Eq. (24), with σ_θ well away from 0: for one θ̃ = μ_θ + σ_θ ⊙ ζ and
    fixed ε, the (N/M)·Σ bound_i of the N/M minibatches of a partition average to
    Σ_i L̃(θ̃, φ; x_i) − KL(q_φ(θ) ‖ p(θ)) computed on the whole dataset with the VAE estimator
    at θ̃, the KL counted once; and their gradients add up to the whole-dataset call's."""
    params, _, r = small_full_vb("bernoulli", seed=12)
    N, M = 12, 4
    X = r.uniform(0.1, 0.9, size=(N, 10))
    eps = r.standard_normal((2, N, 3))
    zeta = fv.draw_zeta(params, r)
    batches = [np.arange(k, k + M) for k in range(0, N, M)]
    parts = [fv.full_vb_estimator(params, X[b], eps[:, b], zeta, N, z_estimator) for b in batches]
    estimates = [N / M * bound.sum() for bound, _ in parts]
    vae_fn = bounds.estimator_B if z_estimator == "B" else bounds.estimator_A
    vae, _ = vae_fn({"phi": params["phi"], "theta": fv.sample_theta(params, zeta)}, X, eps, need_grad=False)
    dataset_bound = vae.sum() + fv.neg_kl_theta(params)
    assert fv.neg_kl_theta(params) < -1.0  # the KL term is large enough to notice a wrong share
    assert np.mean(estimates) == pytest.approx(dataset_bound, rel=1e-12)
    _, whole = fv.full_vb_estimator(params, X, eps, zeta, N, z_estimator)
    for group, arrays in whole.items():
        for k, v in arrays.items():
            np.testing.assert_allclose(sum(g[group][k] for _, g in parts), v, rtol=1e-10, atol=1e-12)


def test_estimate_averages_the_estimator_over_n_theta_draws_from_the_rng():
    params, x, _ = small_full_vb("bernoulli", seed=8)
    b, g = fv.estimate(params, x, np.random.default_rng(11), 40, L=2, n_theta=3)
    r = np.random.default_rng(11)  # the same stream: eps then zeta, per draw of θ
    parts = [fv.full_vb_estimator(params, x, r.standard_normal((2, 5, 3)), fv.draw_zeta(params, r), 40)
             for _ in range(3)]
    np.testing.assert_allclose(b, np.mean([p[0] for p in parts], axis=0), rtol=1e-13)
    for group, arrays in g.items():
        for k, v in arrays.items():
            np.testing.assert_allclose(v, np.mean([p[1][group][k] for p in parts], axis=0), rtol=1e-12, atol=1e-14)


def test_minibatch_estimator_is_unbiased_for_the_exact_linreg_bound_within_4_standard_errors():
    """(N/M)·Σ bound_i over random minibatches and ζ has mean L(φ; X) (checks the N/M and KL/N scaling)."""
    X, y, s2, r = linreg_data(correlated_design, seed=6)
    N, M = X.shape[0], 16
    _, params = allocate({"theta_mu": {"w": (4,)}, "theta_log_var": {"w": (4,)}})
    params["theta_mu"]["w"][:] = r.standard_normal(4)
    params["theta_log_var"]["w"][:] = r.normal(-1.0, 0.5, 4)
    draws = []
    for _ in range(4000):
        idx = r.choice(N, M, replace=False)
        b, _ = fv.linreg_estimator(params, X[idx], y[idx], fv.draw_zeta(params, r), N, s2, need_grad=False)
        draws.append(N / M * b.sum())
    exact = fv.linreg_elbo(X, y, s2, params["theta_mu"]["w"], params["theta_log_var"]["w"])
    se = np.std(draws, ddof=1) / np.sqrt(len(draws))
    assert abs(np.mean(draws) - exact) < 4 * se, (np.mean(draws), exact, se)


def test_linreg_exact_formulas_agree_with_each_other():
    """log p(y) = log p(y|w) + log p(w) − log p(w|y) at any w; L = log p(y) at the exact diagonal posterior."""
    X, y, s2, r = linreg_data(correlated_design, seed=7)
    mean, cov = fv.linreg_exact_posterior(X, y, s2)
    w = r.standard_normal(4)
    from scipy.stats import multivariate_normal

    identity = (norm.logpdf(y, X @ w, np.sqrt(s2)).sum() + norm.logpdf(w).sum()
                - multivariate_normal(mean, cov).logpdf(w))
    assert fv.linreg_log_evidence(X, y, s2) == pytest.approx(identity, rel=1e-12)
    X, y, s2, _ = linreg_data(orthogonal_design, seed=7)
    mu, log_var = fv.linreg_optimal_mean_field(X, y, s2)
    np.testing.assert_allclose(np.diag(np.exp(log_var)), fv.linreg_exact_posterior(X, y, s2)[1], atol=1e-14)
    assert fv.linreg_elbo(X, y, s2, mu, log_var) == pytest.approx(fv.linreg_log_evidence(X, y, s2), rel=1e-12)


# --------------------------------------------------------------------------- the exact conjugate check


@pytest.mark.parametrize("seed", [0, 1])
def test_optimized_q_recovers_the_exact_posterior_when_it_is_diagonal(seed):
    """Orthogonal design: the posterior is N(m, diag(1/Λ_jj)) and the mean-field gap is 0.

    Tolerances (stochastic optimization: 3000 Adagrad steps, M = 16 of N = 64, one ζ per
    step, iterates averaged over the second half): means within 0.15 posterior standard
    deviations, variances within 20 %, bound within 0.02 nats of log p(y) and below it.
    """
    X, y, s2, r = linreg_data(orthogonal_design, seed=seed)
    mean, cov = fv.linreg_exact_posterior(X, y, s2)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-12  # the design makes it diagonal
    mu, log_var = fv.fit_linreg(X, y, s2, r, steps=3000, batch_size=16)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(mu - mean) < 0.15 * sd), (mu, mean, sd)
    np.testing.assert_allclose(np.exp(log_var), np.diag(cov), rtol=0.2)
    log_evidence = fv.linreg_log_evidence(X, y, s2)
    bound = fv.linreg_elbo(X, y, s2, mu, log_var)
    assert log_evidence - 0.02 < bound <= log_evidence, (bound, log_evidence)


def test_optimized_q_matches_the_best_mean_field_q_when_the_posterior_is_correlated():
    """Correlated design: q converges to the best factorized Gaussian (m, 1/Λ_jj), whose
    variances are well below the true marginals Σ_jj, and the gap is KL(q*‖posterior) > 0.

    Same tolerances as the diagonal case; the bound within 0.05 nats of the best mean-field bound.
    """
    X, y, s2, r = linreg_data(correlated_design, seed=0)
    mean, cov = fv.linreg_exact_posterior(X, y, s2)
    best_mu, best_log_var = fv.linreg_optimal_mean_field(X, y, s2)
    assert np.all(np.exp(best_log_var) < 0.7 * np.diag(cov))  # mean field is over-confident here
    mu, log_var = fv.fit_linreg(X, y, s2, r, steps=3000, batch_size=16)
    assert np.all(np.abs(mu - mean) < 0.15 * np.exp(0.5 * best_log_var))
    np.testing.assert_allclose(np.exp(log_var), np.exp(best_log_var), rtol=0.2)
    log_evidence = fv.linreg_log_evidence(X, y, s2)
    best = fv.linreg_elbo(X, y, s2, best_mu, best_log_var)
    bound = fv.linreg_elbo(X, y, s2, mu, log_var)
    assert log_evidence - best > 0.3  # a real mean-field gap
    assert best - 0.05 < bound <= best, (bound, best, log_evidence)


# --------------------------------------------------------------------------- MNIST and pictures


def test_short_full_vb_run_on_real_mnist_raises_the_bound_per_datapoint():
    from aevb_np.data import load_mnist

    x = load_mnist("train")[0][:2000]
    r = np.random.default_rng(0)
    params = fv.init_full_vb_params(784, 50, 5, r)
    before = fv.lower_bound(params, x, np.random.default_rng(1), 2000).mean()
    # At initialization: decoder outputs ≈ ½ (−784 log 2 ≈ −543 nats) and the KL share of
    # ~40k decoder entries, σ_θ = e^-4.5 against the prior's 1, over N = 2000 (≈ 80 nats).
    assert -640 < before < -600
    params, history = fv.train_full_vb(x, 50, 5, r, steps=200, lr=0.1, params=params)
    after = fv.lower_bound(params, x, np.random.default_rng(1), 2000).mean()
    assert after > before + 300, (before, after, history)
    # The KL over θ shrank: the posterior standard deviations moved toward the prior's.
    assert -fv.neg_kl_theta(params) / 2000 < 75


def test_pictures_are_written(tmp_path):
    params, _, r = small_full_vb("bernoulli", n_x=16, n_hidden=4)
    images = fv.sample_images(params, r, n_theta=3, n_z=5)
    assert images.shape == (3, 5, 16) and np.all((images > 0) & (images < 1))
    std = fv.posterior_std_images(params)
    np.testing.assert_allclose(std, np.exp(0.5 * params["theta_log_var"]["W2"]).T)
    fv.save_samples(tmp_path / "samples.png", params, r, (4, 4), n_theta=3, n_z=5)
    fv.save_posterior_std(tmp_path / "std.png", params, (4, 4))
    assert (tmp_path / "samples.png").stat().st_size > 0 and (tmp_path / "std.png").stat().st_size > 0


# --------------------------------------------------------------------------- errors


def test_bad_inputs_raise_errors_that_name_the_argument():
    params, x, r = small_full_vb("bernoulli")
    eps = r.standard_normal((1, x.shape[0], 3))
    zeta = fv.draw_zeta(params, r)
    with pytest.raises(ShapeError, match=r"zeta\['W2'\] must have shape \(10, 6\)"):
        fv.full_vb_estimator(params, x, eps, {**zeta, "W2": zeta["W2"].T}, 40)
    with pytest.raises(ShapeError, match="zeta must be a dict with the keys"):
        fv.full_vb_estimator(params, x, eps, {"W1": zeta["W1"]}, 40)
    with pytest.raises(ConfigError, match="n_train .* >= the minibatch size 5, got 3"):
        fv.full_vb_estimator(params, x, eps, zeta, 3)
    with pytest.raises(ConfigError, match="z_estimator"):
        fv.full_vb_estimator(params, x, eps, zeta, 40, "C")
    vae = fv.posterior_mean_params(params)
    with pytest.raises(ShapeError, match="groups"):
        fv.full_vb_estimator(vae, x, eps, zeta, 40)
    with pytest.raises(ShapeError, match="theta_log_var"):
        fv.full_vb_estimator({**params, "theta_log_var": {}}, x, eps, zeta, 40)
