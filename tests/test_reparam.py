"""Tests for aevb_np.reparam: z = g_phi(eps, x), Kingma & Welling (2014) §2.3-§2.4, §3.

Three kinds of claim are checked for every family:
* the forward map matches the paper / the named distribution (Kolmogorov-Smirnov against
  scipy.stats, closed-form mean, variance and log-density against scipy);
* the analytic dz/dparam matches central finite differences of sample() at fixed eps;
* the reparameterized Monte Carlo gradient of E[z^2] (Eq. (5)) matches the derivative
  of the closed-form E[z^2] = Var[z] + E[z]^2 within 4 standard errors.
Statistical tests use fixed seeds, so they are deterministic; the bounds say how
unlikely a failure would be for a correct implementation with a fresh seed.
"""

import math

import numpy as np
import pytest
from scipy import stats

from aevb_np.errors import (
    AEVBError,
    ConfigError,
    NonFiniteError,
    ShapeError,
    SupportError,
)
from aevb_np.reparam import (
    FAMILIES,
    Erlang,
    gaussian_sample,
    gaussian_sample_backward,
)

# name -> (params, the same distribution in scipy.stats)
CASES = {
    "exponential": ({"rate": 1.7}, stats.expon(scale=1 / 1.7)),
    "gumbel": ({"loc": -0.4, "scale": 1.3}, stats.gumbel_r(loc=-0.4, scale=1.3)),
    "gaussian": (
        {"mu": 0.3, "log_var": math.log(4.0)},
        stats.norm(loc=0.3, scale=2.0),  # sigma = exp(log_var / 2) = 2, not exp(log_var) = 4
    ),
    "laplace": ({"loc": 0.5, "scale": 0.8}, stats.laplace(loc=0.5, scale=0.8)),
    "logistic": ({"loc": -1.0, "scale": 0.6}, stats.logistic(loc=-1.0, scale=0.6)),
    "lognormal": ({"mu": 0.2, "sigma": 0.5}, stats.lognorm(s=0.5, scale=math.exp(0.2))),
    "erlang": ({"rate": 2.5}, stats.gamma(a=3, scale=1 / 2.5)),
}
NAMES = sorted(CASES)
POSITIVE = [(name, k) for name in NAMES for k in FAMILIES[name].positive]
ALL_PARAMS = [(name, k) for name in NAMES for k in FAMILIES[name].param_names]

N_SAMPLES = 20_000
KS_P_MIN = 1e-3  # a correct sampler fails this with probability 1e-3 per family


def rel_err(a, b):
    """Elementwise |a - b| / max(1e-8, |a| + |b|), the project's gradient-check metric."""
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))


def test_cases_cover_every_family():
    assert sorted(FAMILIES) == NAMES


def test_families_include_two_of_each_kind_from_section_2_4():
    kinds = [fam.kind for fam in FAMILIES.values() if fam.name != "gaussian"]
    for kind in ("inverse-cdf", "location-scale", "composition"):
        assert kinds.count(kind) >= 2, kind


# ---- forward: the samples have the named distribution ----------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_samples_pass_ks_test(name):
    params, dist = CASES[name]
    fam = FAMILIES[name]
    rng = np.random.default_rng([20140101, NAMES.index(name)])  # independent per family
    z = fam.sample(params, fam.draw_eps(rng, (N_SAMPLES,)))
    assert z.shape == (N_SAMPLES,)
    p_value = stats.kstest(z, dist.cdf).pvalue
    assert p_value > KS_P_MIN, f"{name}: KS p-value {p_value:.2e} <= {KS_P_MIN}"


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_mean_and_var_match_scipy(name):
    params, dist = CASES[name]
    fam = FAMILIES[name]
    np.testing.assert_allclose(fam.mean(params), dist.mean(), rtol=1e-12)
    np.testing.assert_allclose(fam.var(params), dist.var(), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_log_density_matches_scipy_logpdf(name):
    params, dist = CASES[name]
    fam = FAMILIES[name]
    z = fam.sample(params, fam.draw_eps(np.random.default_rng(1), (200,)))
    z = np.concatenate([z, [-3.0, -1e-3, 0.0, 1e-3, 2.0, 7.5]])  # includes points off support
    np.testing.assert_allclose(fam.log_density(params, z), dist.logpdf(z), rtol=1e-10, atol=0)


def test_log_density_far_in_the_tails_is_warning_free():
    # RuntimeWarnings are errors under the project's pytest config.
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    logq = FAMILIES["gumbel"].log_density({"loc": 0.0, "scale": 1.0}, z)
    assert logq[0] == -np.inf and np.all(np.isfinite(logq[1:]))
    logq = FAMILIES["logistic"].log_density({"loc": 0.0, "scale": 1.0}, z)
    np.testing.assert_allclose(logq[[0, -1]], -1e4, rtol=1e-12)
    assert FAMILIES["erlang"].log_density({"rate": 1.0}, np.array([0.0]))[0] == -np.inf
    at_zero = Erlang(k=1).log_density({"rate": 2.0}, np.array([0.0]))[0]
    assert at_zero == pytest.approx(math.log(2.0))  # k = 1 is Exponential(2): density 2 at 0


def test_uniform_noise_at_the_ends_of_the_unit_interval_gives_finite_samples():
    u = np.array([2.0**-53, 0.5, 1.0 - 2.0**-53])
    for name in ("exponential", "gumbel"):
        z = FAMILIES[name].sample(CASES[name][0], u)
        assert np.all(np.isfinite(z)), name


# ---- the Gaussian of Eq. (10): std = exp(log_var / 2) ------------------------------------


def test_gaussian_sample_std_is_exp_half_log_var_as_in_the_paper():
    # The numpy-ml bug: using exp(log_var) as the std.  A backward pass can match a buggy
    # forward pass, so check the forward against §3 directly.
    mu = np.array([[0.0, 1.0, -2.0], [0.5, 0.0, 3.0]])
    log_var = np.log(np.array([[4.0, 0.25, 1.0], [9.0, 2.0, 0.01]]))
    L = N_SAMPLES
    eps = np.random.default_rng(3).standard_normal((L, 2, 3))
    z = gaussian_sample(mu, log_var, eps)
    assert z.shape == (L, 2, 3)
    sigma = np.exp(0.5 * log_var)
    np.testing.assert_allclose(z, mu + sigma * eps, rtol=1e-15, atol=1e-15)

    # Sample mean within 4 standard errors sigma / sqrt(L); sample std within 4 standard
    # errors, SE(std) ~= sigma / sqrt(2 (L - 1)) for a Gaussian.
    assert np.all(np.abs(z.mean(axis=0) - mu) < 4 * sigma / math.sqrt(L))
    std = z.std(axis=0, ddof=1)
    se_std = sigma / math.sqrt(2 * (L - 1))
    assert np.all(np.abs(std - sigma) < 4 * se_std), (std, sigma)
    # ... while the wrong convention exp(log_var) fails the same check by > 20 standard
    # errors wherever it differs (log_var != 0).
    off = np.abs(std - np.exp(log_var)) / se_std
    assert np.all(off[log_var != 0] > 20), off


def test_gaussian_family_agrees_with_gaussian_sample_and_backward():
    rng = np.random.default_rng(4)
    mu, log_var = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    eps, dz = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 2))
    params = {"mu": mu, "log_var": log_var}
    fam = FAMILIES["gaussian"]
    np.testing.assert_array_equal(fam.sample(params, eps), gaussian_sample(mu, log_var, eps))
    grads = fam.sample_grad(params, eps)
    dmu, dlog_var = gaussian_sample_backward(dz, log_var, eps)
    np.testing.assert_allclose(dmu, (dz * grads["mu"]).sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(dlog_var, (dz * grads["log_var"]).sum(axis=0), rtol=1e-14)


def test_gaussian_sample_backward_matches_finite_differences():
    rng = np.random.default_rng(5)
    L, M, Nz = 4, 3, 2
    mu, log_var = rng.normal(size=(M, Nz)), rng.normal(size=(M, Nz))
    eps, w = rng.standard_normal((L, M, Nz)), rng.standard_normal((L, M, Nz))

    def objective(mu_, log_var_):  # J = sum(w * z), so dJ/dz = w
        return np.sum(w * gaussian_sample(mu_, log_var_, eps))

    dmu, dlog_var = gaussian_sample_backward(w, log_var, eps)
    assert dmu.shape == dlog_var.shape == (M, Nz)
    h = 1e-5
    for analytic, which in ((dmu, 0), (dlog_var, 1)):
        numeric = np.zeros((M, Nz))
        for idx in np.ndindex(M, Nz):
            args_p, args_m = [mu.copy(), log_var.copy()], [mu.copy(), log_var.copy()]
            args_p[which][idx] += h
            args_m[which][idx] -= h
            numeric[idx] = (objective(*args_p) - objective(*args_m)) / (2 * h)
        assert rel_err(analytic, numeric).max() < 1e-6


# ---- backward: dz/dparam ---------------------------------------------------------------


def random_params(name, rng, shape):
    """Random valid parameters of the given shape (positive ones in [0.5, 2])."""
    fam = FAMILIES[name]
    return {
        k: rng.uniform(0.5, 2.0, shape) if k in fam.positive else rng.normal(size=shape)
        for k in fam.param_names
    }


@pytest.mark.parametrize("name, param", ALL_PARAMS)
def test_sample_grad_matches_finite_differences(name, param):
    fam = FAMILIES[name]
    rng = np.random.default_rng(6)
    params = random_params(name, rng, (6,))
    eps = fam.draw_eps(rng, (6,))
    analytic = fam.sample_grad(params, eps)[param]
    assert analytic.shape == (6,)
    # z_i depends only on param_i, so shifting the whole array gives every dz_i/dparam_i.
    h = 1e-5 * np.maximum(1.0, np.abs(params[param]))
    plus, minus = dict(params), dict(params)
    plus[param] = params[param] + h
    minus[param] = params[param] - h
    numeric = (fam.sample(plus, eps) - fam.sample(minus, eps)) / (2 * h)
    assert rel_err(analytic, numeric).max() < 1e-6, (analytic, numeric)


@pytest.mark.parametrize("name, param", ALL_PARAMS)
def test_reparam_gradient_of_expected_square_matches_closed_form(name, param):
    # Eq. (5): d/dp E[f(z)] = E_eps[f'(g(eps)) dg/dp] with f(z) = z^2, against
    # d/dp (Var[z] + E[z]^2), differentiated by central differences of the closed form
    # (error ~1e-10, far below the Monte Carlo standard error).
    params, _ = CASES[name]
    fam = FAMILIES[name]
    rng = np.random.default_rng([7, NAMES.index(name)])
    eps = fam.draw_eps(rng, (N_SAMPLES,))
    terms = 2.0 * fam.sample(params, eps) * fam.sample_grad(params, eps)[param]
    estimate = terms.mean()
    std_err = terms.std(ddof=1) / math.sqrt(N_SAMPLES)

    def second_moment(value):
        shifted = {**params, param: value}
        return fam.var(shifted) + fam.mean(shifted) ** 2

    h = 1e-6 * max(1.0, abs(params[param]))
    exact = (second_moment(params[param] + h) - second_moment(params[param] - h)) / (2 * h)
    assert abs(estimate - exact) < 4 * std_err, (
        f"{name}.{param}: estimate {estimate:.5f} vs exact {exact:.5f}, "
        f"more than 4 standard errors ({std_err:.2e})"
    )


def test_sample_grad_of_broadcast_parameter_has_the_shape_of_z():
    fam = FAMILIES["laplace"]
    eps = fam.draw_eps(np.random.default_rng(8), (4, 3))
    grads = fam.sample_grad({"loc": np.zeros(3), "scale": 2.0}, eps)
    assert grads["loc"].shape == grads["scale"].shape == (4, 3)
    np.testing.assert_array_equal(grads["scale"], eps)


# ---- noise, reproducibility --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_draw_eps_is_reproducible_from_the_seed(name):
    fam = FAMILIES[name]
    a = fam.draw_eps(np.random.default_rng(9), (5, 2))
    b = fam.draw_eps(np.random.default_rng(9), (5, 2))
    np.testing.assert_array_equal(a, b)
    assert a.shape == ((5, 2, 3) if name == "erlang" else (5, 2))
    assert fam.sample(CASES[name][0], a).shape == (5, 2)


def test_draw_eps_rejects_a_seed_instead_of_a_generator():
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator"):
        FAMILIES["laplace"].draw_eps(0, (3,))


# ---- errors ------------------------------------------------------------------------------


def test_gaussian_sample_rejects_bad_shapes_with_informative_messages():
    mu, eps = np.zeros((3, 2)), np.zeros((4, 3, 2))
    msg = r"log_var must have shape \(M, Nz\) = \(3, 2\).*got \(3, 3\)"
    with pytest.raises(ShapeError, match=msg):
        gaussian_sample(mu, np.zeros((3, 3)), eps)
    with pytest.raises(ShapeError, match=r"eps must have shape \(L, M, Nz\).*got \(3, 2\)"):
        gaussian_sample(mu, np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"eps must have shape .*got \(4, 3, 5\)"):
        gaussian_sample(mu, np.zeros((3, 2)), np.zeros((4, 3, 5)))
    with pytest.raises(ShapeError, match=r"mu must have shape \(M, Nz\), got \(6,\)"):
        gaussian_sample(np.zeros(6), np.zeros(6), np.zeros((1, 6)))


def test_gaussian_sample_backward_rejects_bad_shapes():
    log_var, eps = np.zeros((3, 2)), np.zeros((4, 3, 2))
    with pytest.raises(ShapeError, match=r"dz must have shape \(L, M, Nz\).*got \(4, 3\)"):
        gaussian_sample_backward(np.zeros((4, 3)), log_var, eps)
    msg = r"dz must have the shape of eps \(4, 3, 2\), got \(5, 3, 2\)"
    with pytest.raises(ShapeError, match=msg):
        gaussian_sample_backward(np.zeros((5, 3, 2)), log_var, eps)
    with pytest.raises(ShapeError, match=r"eps must have shape"):
        gaussian_sample_backward(np.zeros((4, 3, 2)), log_var, np.zeros((3, 2)))


def test_family_rejects_parameters_that_do_not_broadcast_to_z():
    fam = FAMILIES["laplace"]
    with pytest.raises(ShapeError, match=r"loc must broadcast against z.*got \(3,\)"):
        fam.sample({"loc": np.zeros(3), "scale": 1.0}, np.zeros(4))
    with pytest.raises(ShapeError, match=r"scale must broadcast"):
        fam.mean({"loc": np.zeros(3), "scale": np.ones(2)})


def test_erlang_rejects_noise_without_a_trailing_axis_of_length_k():
    with pytest.raises(ShapeError, match=r"trailing axis of length k = 3.*got \(10, 2\)"):
        FAMILIES["erlang"].sample({"rate": 1.0}, np.ones((10, 2)))
    with pytest.raises(SupportError, match="eps must be standard exponential noise"):
        FAMILIES["erlang"].sample({"rate": 1.0}, -np.ones((10, 3)))


@pytest.mark.parametrize("k", [0, -2, 2.5, True])
def test_erlang_rejects_a_bad_k(k):
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        Erlang(k=k)


@pytest.mark.parametrize("name, param", POSITIVE)
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_nonpositive_scale_raises_support_error(name, param, bad):
    params = {**CASES[name][0], param: np.array([1.0, bad])}
    fam = FAMILIES[name]
    eps = fam.draw_eps(np.random.default_rng(10), (2,))
    for call in (lambda: fam.sample(params, eps), lambda: fam.sample_grad(params, eps),
                 lambda: fam.log_density(params, np.ones(2)), lambda: fam.mean(params)):
        with pytest.raises(SupportError, match=rf"{param} must be > 0") as info:
            call()
        assert isinstance(info.value, AEVBError)


@pytest.mark.parametrize("name, param", ALL_PARAMS)
def test_non_finite_parameter_raises_non_finite_error(name, param):
    params = {**CASES[name][0], param: np.nan}
    with pytest.raises(NonFiniteError, match=rf"{param} must be finite"):
        FAMILIES[name].mean(params)


def test_missing_or_unknown_parameter_raises_config_error():
    with pytest.raises(ConfigError, match=r"must have keys \('loc', 'scale'\), got \('loc',\)"):
        FAMILIES["gumbel"].sample({"loc": 0.0}, np.full(3, 0.5))
    with pytest.raises(ConfigError, match=r"got \('rate', 'scale'\)"):
        FAMILIES["exponential"].mean({"rate": 1.0, "scale": 1.0})


@pytest.mark.parametrize("u", [0.0, 1.0, -0.1, 1.5])
def test_gumbel_rejects_uniform_noise_outside_the_open_unit_interval(u):
    with pytest.raises(SupportError, match=r"eps must be uniform noise in \(0, 1\)"):
        FAMILIES["gumbel"].sample({"loc": 0.0, "scale": 1.0}, np.array([0.5, u]))


def test_exponential_accepts_u_zero_but_rejects_u_one():
    fam = FAMILIES["exponential"]
    assert fam.sample({"rate": 2.0}, np.array([0.0]))[0] == 0.0
    with pytest.raises(SupportError, match=r"eps must be uniform noise in \[0, 1\)"):
        fam.sample({"rate": 2.0}, np.array([1.0]))
