"""Statistical claims of §2.3 about SGVB estimators A (Eq. 6) and B (Eq. 7).

The gradients of both estimators are checked against finite differences elsewhere
(``test_estimator_gradients.py``); that proves the backward pass matches the forward
pass, not that the forward pass estimates the right thing.  Here we check what the
paper claims about them as *random variables* over eps:

1. both are unbiased for the same L(θ, φ; x), in value and in gradient;
2. B, whose KL term is exact, has lower variance than A (true for the gradient with
   respect to φ on every model tried; for the *value* only while q(z|x) is far from
   the posterior, see ``test_estimator_A_value_is_exact_at_the_exact_posterior``);
3. on a linear-Gaussian model, where L and its gradient are known in closed form
   (:mod:`aevb_np.linear_gaussian`), the Monte Carlo means equal the exact numbers, and
   log p(x) − L = KL(q(z|x) ‖ p(z|x)) (Eq. 1).

Every Monte Carlo comparison states its bound: 4 standard errors for a single number,
or a Bonferroni-corrected Student-t quantile at family-wise level 1e-3 for a max over
many array entries.  All seeds are fixed, so each test is deterministic.
"""

import functools

import numpy as np
import pytest
from scipy import stats

from aevb_np import bounds, model
from aevb_np import distributions as dist
from aevb_np import linear_gaussian as lg
from aevb_np.errors import NonFiniteError, ShapeError
from aevb_np.gradcheck import max_relative_error
from aevb_np.optim import Adagrad
from aevb_np.reparam import gaussian_sample, gaussian_sample_backward
from tests.conftest import small_model

N_SE = 4.0  # bound for a single Monte Carlo comparison, in standard errors
FAMILY_ALPHA = 1e-3  # family-wise false-alarm level for a max over many entries
N_Z = 3  # latent size of the conftest model
K_DRAWS = 20_000  # independent single-sample (L = 1) draws per datapoint


def _bonferroni_t(n_tests, dof):
    """|t| quantile such that a max over ``n_tests`` t-statistics exceeds it w.p. <= FAMILY_ALPHA."""
    return stats.t.ppf(1.0 - FAMILY_ALPHA / (2.0 * n_tests), dof)


def _paired_values(params, x, K, seed):
    """K single-sample values of A and B per datapoint, A and B sharing each eps.

    One call per estimator: ``x`` repeated K times is a minibatch of K·M rows whose
    rows are independent draws, so ``elbo`` reshaped to (K, M) holds K i.i.d. L = 1
    estimates per datapoint.
    """
    M = x.shape[0]
    x_rep = np.tile(x, (K, 1))  # row k·M + i is x_i
    eps = np.random.default_rng(seed).standard_normal((1, K * M, N_Z))
    a = bounds.estimator_A(params, x_rep, eps, need_grad=False)[0].reshape(K, M)
    b = bounds.estimator_B(params, x_rep, eps, need_grad=False)[0].reshape(K, M)
    return a, b


@functools.lru_cache(maxsize=None)
def _random_model_values(decoder):
    """Paired A/B draws on the conftest model (init_std = 0.5), shared by two tests."""
    params, x, _ = small_model(decoder, seed=0)
    return _paired_values(params, x, K_DRAWS, seed=1)


def _log_ratio_of_means(u, v):
    """log(v̄ / ū) along axis 0 for i.i.d. pairs (u, v), and its delta-method standard error.

    To first order log(v̄ / ū) fluctuates like the mean of v/v̄ − u/ū, so the standard
    error accounts for heavy tails and for u and v being correlated (shared eps).
    """
    w = v / v.mean(0) - u / u.mean(0)
    return np.log(v.mean(0) / u.mean(0)), w.std(0, ddof=1) / np.sqrt(u.shape[0])


def _log_variance_ratio(a, b):
    """log(Var b / Var a) along axis 0: a ratio of means of squared deviations."""
    return _log_ratio_of_means((a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2)


# ---- 1. same expectation -----------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_estimators_A_and_B_have_the_same_mean_within_4_standard_errors(decoder):
    """E[A] = E[B] = L(θ, φ; x) (Eq. 6 and 7 estimate the same bound).

    A and B share eps, so their difference A − B = log p(z) − log q(z|x) + KL(q‖p) has
    mean zero; pairing removes the common reconstruction noise and makes the test sharp.
    (The difference involves only the encoder's q(z|x); the two decoders give two
    different encoders through the seeded draw.)  Bound: 4 standard errors per datapoint.
    """
    a, b = _random_model_values(decoder)
    diff = a - b
    se = diff.std(0, ddof=1) / np.sqrt(len(diff))
    z = diff.mean(0) / se
    assert np.all(se > 0), "A − B has zero spread: the two estimators coincide, the test is empty"
    assert np.all(np.abs(z) < N_SE), (
        f"{decoder}: mean(A) − mean(B) per datapoint = {diff.mean(0)}, "
        f"{np.abs(z).max():.2f} standard errors (bound {N_SE}) over {len(diff)} draws"
    )


# ---- 2. variance ---------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_estimator_B_value_has_lower_variance_than_A_on_a_random_model(decoder):
    """Var[B] < Var[A] per datapoint when q(z|x) is far from the posterior (random weights).

    Asserted: the upper 4-standard-error bound of the variance ratio is below 1.
    """
    a, b = _random_model_values(decoder)
    log_ratio, se = _log_variance_ratio(a, b)
    print(
        f"\n{decoder} random model, value variance per datapoint:"
        f"\n  Var A = {np.round(a.var(0, ddof=1), 3)}\n  Var B = {np.round(b.var(0, ddof=1), 3)}"
        f"\n  ratio B/A = {np.round(np.exp(log_ratio), 3)}"
    )
    upper = np.exp(log_ratio + N_SE * se)
    assert np.all(upper < 1.0), f"{decoder}: Var B / Var A upper {N_SE}-SE bounds {upper} not all < 1"


def _synthetic_binary_data(rng, N=500, D=12, n_prototypes=4, flip=0.1):
    """Noisy copies of a few random binary prototypes: structure a 3-D latent can learn."""
    prototypes = rng.uniform(size=(n_prototypes, D)) < 0.5
    noise = rng.uniform(size=(N, D)) < flip
    return (prototypes[rng.integers(n_prototypes, size=N)] ^ noise).astype(np.float64)


def _briefly_trained_model(steps=300, M=25):
    """A 12-7-3 Bernoulli model after ``steps`` Adagrad steps of §5 on synthetic data."""
    rng = np.random.default_rng(5)
    data = _synthetic_binary_data(rng)
    params = model.init_params(12, 7, N_Z, "bernoulli", rng, init_std=0.01)
    opt = Adagrad(lr=0.1, scale=len(data) / M)
    for _ in range(steps):
        xb = data[rng.integers(len(data), size=M)]
        _, grads = bounds.estimator_B(params, xb, rng.standard_normal((1, M, N_Z)))
        opt.step(params, grads)
    return params, data[:5]


def _per_draw_phi_gradients(params, x, G, seed):
    """G single-sample φ-gradients of A and B (shared eps), each array flattened per draw."""
    rng = np.random.default_rng(seed)
    grads = {"A": [], "B": []}
    for _ in range(G):
        eps = rng.standard_normal((1, x.shape[0], N_Z))
        grads["A"].append(bounds.estimator_A(params, x, eps)[1]["phi"])
        grads["B"].append(bounds.estimator_B(params, x, eps)[1]["phi"])
    return {
        est: {k: np.stack([g[k].ravel() for g in draws]) for k in draws[0]}
        for est, draws in grads.items()
    }


@pytest.mark.parametrize("which", ["random bernoulli", "random gaussian", "trained bernoulli"])
def test_estimator_B_encoder_gradient_has_lower_variance_than_A(which):
    """The total variance of each dL/dφ array (trace of its covariance) is lower for B.

    This is the variance that matters for SGD.  It holds on random models and on a model
    after 300 Adagrad steps, where the *value* of A already has the lower variance (the
    printed value ratio exceeds 1 there: A's value becomes exact as q approaches the
    posterior).  Asserted per array (6 arrays): the upper bound of the ratio at
    Bonferroni level 1e-3 / 6 (normal quantile, about 3.8 standard errors) is below 1.
    """
    kind, decoder = which.split()
    params, x = _briefly_trained_model() if kind == "trained" else small_model(decoder, seed=0)[:2]
    g = _per_draw_phi_gradients(params, x, G=500, seed=2)
    if kind == "trained":
        a_val, b_val = _paired_values(params, x, 4000, seed=3)
        print(f"\n{which}: value variance ratio B/A per datapoint {np.round(b_val.var(0) / a_val.var(0), 3)}")
    bound = stats.norm.ppf(1.0 - FAMILY_ALPHA / (2 * len(g["A"])))
    print(f"\n{which}: Var B / Var A of dL/dphi per array (standard error in log):")
    for name in g["A"]:
        # Total variance of the array = mean squared distance of a draw from its mean.
        a, b = (np.sum((g[est][name] - g[est][name].mean(0)) ** 2, axis=1) for est in ("A", "B"))
        log_ratio, se = _log_ratio_of_means(a, b)
        print(f"  {name}: {np.exp(log_ratio):.3f} ({se:.3f})")
        assert log_ratio + bound * se < 0.0, (
            f"{which} dL/dphi.{name}: Var B / Var A = {np.exp(log_ratio):.3f}, upper "
            f"{bound:.2f}-SE bound {np.exp(log_ratio + bound * se):.3f} is not below 1"
        )


# ---- 3. same expected gradient ------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_estimators_A_and_B_have_the_same_mean_gradient(decoder):
    """E[∇A] = E[∇B] for every entry of every array.

    G calls, each summing the gradient over n independent draws for each of the M
    datapoints (a minibatch of n·M rows), give G i.i.d. gradient sums; with shared eps
    the θ-gradients of A and B are identical draw by draw (they differ only in terms
    free of θ), and the φ-gradient difference must have mean zero.  Bound: the max over
    all φ entries of |t| stays below the Bonferroni Student-t quantile at family-wise
    level 1e-3 (about 4.6 for 139 entries and 199 degrees of freedom).
    """
    params, x, _ = small_model(decoder, seed=0)
    G, n = 200, 50
    x_rep = np.tile(x, (n, 1))
    rng = np.random.default_rng(4)
    diffs = {k: [] for k in params["phi"]}
    for _ in range(G):
        eps = rng.standard_normal((1, x_rep.shape[0], N_Z))
        _, ga = bounds.estimator_A(params, x_rep, eps)
        _, gb = bounds.estimator_B(params, x_rep, eps)
        for k in params["theta"]:
            np.testing.assert_allclose(ga["theta"][k], gb["theta"][k], rtol=1e-12, atol=1e-12)
        for k in params["phi"]:
            diffs[k].append((ga["phi"][k] - gb["phi"][k]).ravel())
    t = {}
    for k, d in diffs.items():
        d = np.array(d)
        se = d.std(0, ddof=1) / np.sqrt(G)
        assert np.all(se > 0), f"dL/dphi.{k}: A − B has zero spread, the comparison is empty"
        t[k] = d.mean(0) / se
    n_entries = sum(v.size for v in t.values())
    bound = _bonferroni_t(n_entries, G - 1)
    worst = max(t, key=lambda k: np.abs(t[k]).max())
    assert np.abs(t[worst]).max() < bound, (
        f"{decoder}: mean dA/dphi.{worst} − dB/dphi.{worst} is {np.abs(t[worst]).max():.2f} standard "
        f"errors from 0 (Bonferroni bound {bound:.2f} over {n_entries} entries, level {FAMILY_ALPHA})"
    )


# ---- 4. linear-Gaussian model: exact answers ------------------------------------------------


def _linear_gaussian(seed=0, D=5, Nz=3, M=4, orthogonal=False):
    """W, b, log_var_x, data x drawn from the model, and a q(z|x) away from the posterior."""
    r = np.random.default_rng(seed)
    if orthogonal:
        # Orthogonal columns of different lengths and a scalar noise make Wᵀ W / s²
        # diagonal, so the exact posterior is a diagonal Gaussian that q can equal.
        q, _ = np.linalg.qr(r.standard_normal((D, Nz)))
        W, log_var_x = q * np.array([2.0, 1.0, 0.5])[:Nz], np.log(0.3)
    else:
        W, log_var_x = r.standard_normal((D, Nz)), r.normal(-1.0, 0.3, size=D)
    b = r.normal(0.0, 0.5, size=D)
    z = r.standard_normal((M, Nz))
    x = z @ W.T + b + np.exp(0.5 * log_var_x) * r.standard_normal((M, D))
    mu, log_var = r.normal(0.0, 0.7, size=(M, Nz)), r.normal(-1.0, 0.5, size=(M, Nz))
    return x, W, b, log_var_x, mu, log_var


def _kl_diag_to_full(mu, log_var, m, cov):
    """KL(N(mu, diag(exp(log_var))) ‖ N(m, cov)) per row, the textbook Gaussian formula."""
    prec = np.linalg.inv(cov)
    d = m - mu
    trace = np.exp(log_var) @ np.diag(prec)
    maha = np.einsum("mi,ij,mj->m", d, prec, d)
    log_det_ratio = np.linalg.slogdet(cov)[1] - log_var.sum(-1)
    return 0.5 * (trace + maha - mu.shape[1] + log_det_ratio)


def test_linear_gaussian_log_marginal_matches_scipy_multivariate_normal():
    x, W, b, log_var_x, _, _ = _linear_gaussian()
    cov = W @ W.T + np.diag(np.exp(log_var_x))
    expected = stats.multivariate_normal(b, cov).logpdf(x)
    np.testing.assert_allclose(lg.log_marginal(x, W, b, log_var_x), expected, rtol=1e-12)


def test_linear_gaussian_posterior_satisfies_bayes_rule_at_any_z():
    """log p(x) = log p(x|z) + log p(z) − log p(z|x) for every z (the posterior is exact)."""
    x, W, b, log_var_x, _, _ = _linear_gaussian(seed=1)
    m, cov = lg.exact_posterior(x, W, b, log_var_x)
    z = np.random.default_rng(2).normal(0.0, 2.0, size=(3,) + m.shape)
    log_post = np.array([[stats.multivariate_normal(m[i], cov).logpdf(z[k, i]) for i in range(len(m))]
                         for k in range(len(z))])
    rhs = lg.log_likelihood(x, z, W, b, log_var_x) + dist.log_standard_normal(z) - log_post
    log_px = lg.log_marginal(x, W, b, log_var_x)
    np.testing.assert_allclose(rhs, np.broadcast_to(log_px, rhs.shape), rtol=1e-10)


def test_linear_gaussian_elbo_gradients_match_finite_differences():
    x, W, b, log_var_x, mu, log_var = _linear_gaussian(seed=3)
    dmu, dlog_var = lg.elbo_grad(x, mu, log_var, W, b, log_var_x)
    for name, arr, grad in (("mu", mu, dmu), ("log_var", log_var, dlog_var)):
        err = max_relative_error(lambda: lg.elbo(x, mu, log_var, W, b, log_var_x).sum(), arr, grad)
        assert err < 1e-6, f"d elbo / d{name}: relative error {err:.2e}"
    z = np.random.default_rng(4).standard_normal((2,) + mu.shape)
    dz = lg.log_likelihood_grad_z(x, z, W, b, log_var_x)
    err = max_relative_error(lambda: lg.log_likelihood(x, z, W, b, log_var_x).sum(), z, dz)
    assert err < 1e-6, f"d log p(x|z) / dz: relative error {err:.2e}"


def test_linear_gaussian_elbo_gap_equals_kl_to_exact_posterior():
    """Eq. (1): log p(x) = KL(q(z|x) ‖ p(z|x)) + L(θ, φ; x), so the gap is a KL, >= 0."""
    x, W, b, log_var_x, mu, log_var = _linear_gaussian(seed=5)
    m, cov = lg.exact_posterior(x, W, b, log_var_x)
    gap = lg.log_marginal(x, W, b, log_var_x) - lg.elbo(x, mu, log_var, W, b, log_var_x)
    np.testing.assert_allclose(gap, _kl_diag_to_full(mu, log_var, m, cov), rtol=1e-10)
    assert np.all(gap > 0.1), f"q was chosen away from the posterior, yet the gap is {gap}"


def test_linear_gaussian_best_diagonal_q_is_posterior_mean_and_inverse_precision_diagonal():
    """The bound's stationary point is mu = m, σ_j² = 1 / Λ_jj (Λ = Σ⁻¹, the posterior precision).

    With a correlated posterior even this best diagonal q stays strictly below log p(x).
    """
    x, W, b, log_var_x, _, _ = _linear_gaussian(seed=6)
    m, cov = lg.exact_posterior(x, W, b, log_var_x)
    log_var = np.broadcast_to(-np.log(np.diag(np.linalg.inv(cov))), m.shape).copy()
    dmu, dlog_var = lg.elbo_grad(x, m, log_var, W, b, log_var_x)
    np.testing.assert_allclose(dmu, 0.0, atol=1e-10)
    np.testing.assert_allclose(dlog_var, 0.0, atol=1e-12)
    gap = lg.log_marginal(x, W, b, log_var_x) - lg.elbo(x, m, log_var, W, b, log_var_x)
    assert np.all(gap > 1e-3), f"a diagonal q cannot match a correlated posterior, yet the gap is {gap}"


def test_linear_gaussian_elbo_equals_log_marginal_at_a_diagonal_exact_posterior():
    x, W, b, log_var_x, _, _ = _linear_gaussian(seed=7, orthogonal=True)
    m, cov = lg.exact_posterior(x, W, b, log_var_x)
    np.testing.assert_allclose(cov, np.diag(np.diag(cov)), atol=1e-14)
    log_var = np.broadcast_to(np.log(np.diag(cov)), m.shape).copy()
    np.testing.assert_allclose(
        lg.elbo(x, m, log_var, W, b, log_var_x), lg.log_marginal(x, W, b, log_var_x), rtol=1e-12
    )


def _sgvb_linear_gaussian(x, mu, log_var, W, b, log_var_x, K, seed):
    """K single-sample SGVB values and gradients of estimators A and B, per datapoint.

    Each draw is its own row (L = 1, minibatch K·M), so ``gaussian_sample_backward``
    returns per-draw gradients.  Returns ``{"A": (value, dmu, dlog_var), "B": ...}``
    with arrays of shape (K, M) or (K, M, Nz).
    """
    M, Nz = mu.shape
    x_rep, mu_rep, lv_rep = (np.tile(a, (K, 1)) for a in (x, mu, log_var))
    eps = np.random.default_rng(seed).standard_normal((1, K * M, Nz))
    z = gaussian_sample(mu_rep, lv_rep, eps)  # Eq. (10)
    log_lik = lg.log_likelihood(x_rep, z, W, b, log_var_x)[0]
    dz_lik = lg.log_likelihood_grad_z(x_rep, z, W, b, log_var_x)
    out = {}
    # B (Eq. 7): −KL in closed form + log p(x|z); the KL gradient is exact (Appendix B).
    dmu, dlv = gaussian_sample_backward(dz_lik, lv_rep, eps)
    dmu_kl, dlv_kl = dist.neg_kl_standard_normal_grad(mu_rep, lv_rep)
    out["B"] = (log_lik + dist.neg_kl_standard_normal(mu_rep, lv_rep), dmu + dmu_kl, dlv + dlv_kl)
    # A (Eq. 6): log p(x|z) + log p(z) − log q(z|x); d log p(z)/dz = −z, and at fixed eps
    # −log q(z|x) = ½ Σ_j (log 2π + log σ_j² + eps_j²) adds ½ to each d/dlog_var_j.
    dmu, dlv = gaussian_sample_backward(dz_lik - z, lv_rep, eps)
    log_q = -0.5 * np.sum(dist.LOG_2PI + lv_rep + eps[0] ** 2, axis=-1)
    out["A"] = (log_lik + dist.log_standard_normal(z[0]) - log_q, dmu, dlv + 0.5)
    return {k: tuple(a.reshape((K, M) + a.shape[1:]) for a in v) for k, v in out.items()}


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_sgvb_mean_value_and_gradient_match_exact_linear_gaussian_within_4_standard_errors(estimator):
    """The reparameterization gradient (§2.3, Eq. 5) is unbiased for the exact ∇L.

    Per component (M·Nz entries each of dmu and dlog_var, M values): |mean − exact| is
    below 4 standard errors of the mean over K draws.
    """
    x, W, b, log_var_x, mu, log_var = _linear_gaussian(seed=8)
    draws = _sgvb_linear_gaussian(x, mu, log_var, W, b, log_var_x, K_DRAWS, seed=9)[estimator]
    exact = (lg.elbo(x, mu, log_var, W, b, log_var_x),) + lg.elbo_grad(x, mu, log_var, W, b, log_var_x)
    for name, d, e in zip(("value", "dmu", "dlog_var"), draws, exact):
        se = d.std(0, ddof=1) / np.sqrt(K_DRAWS)
        z = (d.mean(0) - e) / se
        assert np.all(np.abs(z) < N_SE), (
            f"estimator {estimator} {name}: Monte Carlo mean {d.mean(0)} vs exact {e}, "
            f"{np.abs(z).max():.2f} standard errors apart (bound {N_SE})"
        )


def test_estimator_A_value_is_exact_at_the_exact_posterior():
    """At q(z|x) = p(z|x), log p(x, z) − log q(z|x) = log p(x) for every z: Var A = 0 < Var B.

    So B's lower variance (Eq. 7 vs 6) is not universal for the *value*: it reverses as q
    approaches the posterior, which is what the trained model in
    ``test_estimator_B_encoder_gradient_has_lower_variance_than_A`` shows.
    """
    x, W, b, log_var_x, _, _ = _linear_gaussian(seed=7, orthogonal=True)
    m, cov = lg.exact_posterior(x, W, b, log_var_x)
    log_var = np.broadcast_to(np.log(np.diag(cov)), m.shape).copy()
    draws = _sgvb_linear_gaussian(x, m, log_var, W, b, log_var_x, K=1000, seed=10)
    log_px = lg.log_marginal(x, W, b, log_var_x)
    np.testing.assert_allclose(draws["A"][0], np.broadcast_to(log_px, (1000, len(x))), rtol=1e-12)
    assert np.all(draws["B"][0].std(0) > 0.1), f"B's spread {draws['B'][0].std(0)} at the posterior"


def test_linear_gaussian_rejects_bad_inputs_with_named_errors():
    x, W, b, log_var_x, mu, log_var = _linear_gaussian(seed=11)
    with pytest.raises(ShapeError, match=r"x must have shape \(M, 5\), got \(4, 6\)"):
        lg.log_marginal(np.zeros((4, 6)), W, b, log_var_x)
    with pytest.raises(ShapeError, match=r"log_var_x must be a scalar or have shape \(5,\), got \(3,\)"):
        lg.exact_posterior(x, W, b, np.zeros(3))
    with pytest.raises(ShapeError, match=r"log_var must have shape \(4, 3\), got \(3, 4\)"):
        lg.elbo(x, mu, log_var.T.copy(), W, b, log_var_x)
    with pytest.raises(ShapeError, match=r"z must have shape \(L, 4, 3\) or \(4, 3\), got \(4, 2\)"):
        lg.log_likelihood(x, np.zeros((4, 2)), W, b, log_var_x)
    x_bad = x.copy()
    x_bad[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match="x must be finite"):
        lg.elbo_grad(x_bad, mu, log_var, W, b, log_var_x)
