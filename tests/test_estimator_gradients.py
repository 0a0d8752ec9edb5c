"""Every parameter array of SGVB estimators A and B against central finite differences."""

import numpy as np
import pytest

from aevb_np import bounds
from aevb_np.gradcheck import max_relative_error
from tests.conftest import small_model

TOL = 1e-6


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
@pytest.mark.parametrize("L", [1, 3])
def test_estimator_gradient_matches_finite_differences(decoder, estimator, L):
    params, x, r = small_model(decoder, seed=L)
    eps = r.standard_normal((L, x.shape[0], 3))
    fn = bounds.estimator_A if estimator == "A" else bounds.estimator_B
    elbo, grads = fn(params, x, eps)
    assert elbo.shape == (x.shape[0],)
    for group, arrays in params.items():
        assert set(grads[group]) == set(arrays)
        for name, array in arrays.items():
            assert grads[group][name].shape == array.shape
            err = max_relative_error(lambda: fn(params, x, eps, need_grad=False)[0].sum(), array, grads[group][name])
            assert err < TOL, f"{estimator} {decoder} L={L}: d/d{group}.{name} relative error {err:.2e}"


def test_estimator_B_value_matches_paper_formula_written_out():
    """Forward check against Eq. (10) written with plain numpy, not the package's helpers."""
    params, x, r = small_model("bernoulli", seed=7)
    eps = r.standard_normal((2, x.shape[0], 3))
    phi, theta = params["phi"], params["theta"]
    h = np.tanh(x @ phi["W3"].T + phi["b3"])
    mu, log_var = h @ phi["W4"].T + phi["b4"], h @ phi["W5"].T + phi["b5"]
    z = mu + np.sqrt(np.exp(log_var)) * eps  # σ = sqrt(σ²)
    y = 1 / (1 + np.exp(-(np.tanh(z @ theta["W1"].T + theta["b1"]) @ theta["W2"].T + theta["b2"])))
    log_px = np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=-1).mean(axis=0)
    expected = 0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1) + log_px
    np.testing.assert_allclose(bounds.estimator_B(params, x, eps)[0], expected, rtol=1e-12)


def test_estimator_A_value_matches_paper_formula_written_out():
    """Eq. (6) with log q evaluated as a Gaussian density at z (not through eps)."""
    from scipy.stats import norm

    params, x, r = small_model("gaussian", seed=8)
    eps = r.standard_normal((3, x.shape[0], 3))
    phi, theta = params["phi"], params["theta"]
    h = np.tanh(x @ phi["W3"].T + phi["b3"])
    mu, log_var = h @ phi["W4"].T + phi["b4"], h @ phi["W5"].T + phi["b5"]
    sd = np.exp(0.5 * log_var)
    z = mu + sd * eps
    hd = np.tanh(z @ theta["W3"].T + theta["b3"])
    mx = 1 / (1 + np.exp(-(hd @ theta["W4"].T + theta["b4"])))
    sx = np.exp(0.5 * (hd @ theta["W5"].T + theta["b5"]))
    terms = norm.logpdf(x, mx, sx).sum(-1) + norm.logpdf(z).sum(-1) - norm.logpdf(z, mu, sd).sum(-1)
    np.testing.assert_allclose(bounds.estimator_A(params, x, eps)[0], terms.mean(axis=0), rtol=1e-10)


def test_estimators_at_the_prior_differ_only_by_the_kl_estimate():
    """With q = p(z) (mu = 0, log_var = 0) the KL is 0 and A's extra terms cancel exactly."""
    params, x, r = small_model("bernoulli", seed=9)
    for k in ("W4", "b4", "W5", "b5"):
        params["phi"][k][...] = 0.0
    eps = r.standard_normal((4, x.shape[0], 3))
    a, _ = bounds.estimator_A(params, x, eps)
    b, _ = bounds.estimator_B(params, x, eps)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)


def test_float32_estimate_stays_float32():
    params, x, r = small_model("bernoulli", seed=3)
    p32 = {g: {k: v.astype(np.float32) for k, v in a.items()} for g, a in params.items()}
    eps = r.standard_normal((1, x.shape[0], 3)).astype(np.float32)
    elbo, grads = bounds.estimator_B(p32, x.astype(np.float32), eps)
    assert elbo.dtype == np.float32
    assert all(v.dtype == np.float32 for a in grads.values() for v in a.values())
    ref, _ = bounds.estimator_B(params, x, eps.astype(np.float64))
    np.testing.assert_allclose(elbo, ref, rtol=1e-4)
