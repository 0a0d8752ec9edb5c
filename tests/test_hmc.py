"""Tests of aevb_np.hmc: the leapfrog integrator, the HMC transition and the sampler.

The target throughout is a Gaussian N(m, S), whose log-density, gradient and exact
Hamiltonian flow are known in closed form, so every claim is checked against numbers
that do not come from the code under test.
"""

import copy
import warnings

import numpy as np
import pytest

from aevb_np.errors import AEVBError, ConfigError, NonFiniteError, ShapeError
from aevb_np.hmc import HMCResult, hmc_sample, hmc_step, leapfrog

# A correlated 2-D Gaussian with different scales: sd (2, 0.5), correlation 0.8.
MEAN = np.array([1.0, -2.0])
SD = np.array([2.0, 0.5])
RHO = 0.8
COV = np.array([[SD[0] ** 2, RHO * SD[0] * SD[1]], [RHO * SD[0] * SD[1], SD[1] ** 2]])
PRECISION = np.linalg.inv(COV)


def gaussian_log_prob_and_grad(z):
    """log N(z; MEAN, COV) up to a constant, and its gradient -S^{-1}(z - m), per row."""
    d = z - MEAN
    grad = -d @ PRECISION
    return 0.5 * np.sum(d * grad, axis=1), grad


def standard_normal_log_prob_and_grad(z):
    return -0.5 * np.sum(z * z, axis=1), -z


def hamiltonian(logp, p):
    return -logp + 0.5 * np.sum(p * p, axis=1)


def start_state(rng, n_chains):
    z = MEAN + SD * rng.standard_normal((n_chains, 2))
    p = rng.standard_normal((n_chains, 2))
    logp, grad = gaussian_log_prob_and_grad(z)
    return z, p, logp, grad


# ---------------------------------------------------------------------------
# leapfrog
# ---------------------------------------------------------------------------


def test_leapfrog_is_reversible_to_1e_10():
    rng = np.random.default_rng(0)
    z, p, _, grad = start_state(rng, 20)
    step = rng.uniform(0.05, 0.3, size=20)  # one step size per chain
    z1, p1, _, grad1 = leapfrog(z, p, grad, step, 25, gaussian_log_prob_and_grad)
    z2, p2, _, _ = leapfrog(z1, -p1, grad1, step[:, None], 25, gaussian_log_prob_and_grad)
    assert np.max(np.abs(z1 - z)) > 0.1, "the trajectory must actually move"
    np.testing.assert_allclose(z2, z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(-p2, p, rtol=0, atol=1e-10)


def test_leapfrog_evaluates_the_target_once_per_step():
    rng = np.random.default_rng(1)
    z, p, logp, grad = start_state(rng, 5)
    calls = []

    def counting(z_):
        calls.append(z_.copy())
        return gaussian_log_prob_and_grad(z_)

    z1, _, logp1, grad1 = leapfrog(z, p, grad, 0.1, 7, counting)
    assert len(calls) == 7
    # The returned log-density and gradient belong to the returned end point.
    ref_logp, ref_grad = gaussian_log_prob_and_grad(z1)
    np.testing.assert_allclose(logp1, ref_logp, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(grad1, ref_grad, rtol=1e-14, atol=1e-14)


def test_leapfrog_matches_exact_flow_of_a_standard_gaussian_to_second_order():
    # For H = |z|^2/2 + |p|^2/2 the exact flow is a rotation by angle T in each (z_j, p_j)
    # plane; leapfrog's global error at fixed T is O(eps^2), so halving eps quarters it.
    rng = np.random.default_rng(2)
    z = rng.standard_normal((10, 3))
    p = rng.standard_normal((10, 3))
    T = 1.3
    z_exact = z * np.cos(T) + p * np.sin(T)
    p_exact = -z * np.sin(T) + p * np.cos(T)
    errors = []
    for n_steps in (13, 26, 52):
        z1, p1, _, _ = leapfrog(z, p, -z, T / n_steps, n_steps, standard_normal_log_prob_and_grad)
        errors.append(max(np.max(np.abs(z1 - z_exact)), np.max(np.abs(p1 - p_exact))))
    assert errors[-1] < 1e-3
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), f"error ratios {ratios} should be ~4"


def test_leapfrog_energy_error_shrinks_as_step_size_squared():
    # Same trajectory length (1.0), step halved three times; the mean |H(end) - H(start)|
    # over 50 chains must fall by ~4x per halving: log-log slope 2 +- 0.2.
    rng = np.random.default_rng(3)
    z, p, logp, grad = start_state(rng, 50)
    steps = 0.1 / 2.0 ** np.arange(4)
    energy_errors = []
    for eps in steps:
        z1, p1, logp1, _ = leapfrog(z, p, grad, eps, int(round(1.0 / eps)),
                                    gaussian_log_prob_and_grad)
        energy_errors.append(np.mean(np.abs(hamiltonian(logp1, p1) - hamiltonian(logp, p))))
    energy_errors = np.array(energy_errors)
    ratios = energy_errors[:-1] / energy_errors[1:]
    assert np.all((ratios > 3.0) & (ratios < 5.0)), f"ratios {ratios} should be ~4"
    slope = np.polyfit(np.log(steps), np.log(energy_errors), 1)[0]
    assert abs(slope - 2.0) < 0.2, f"log-log slope {slope:.3f} should be 2 +- 0.2"


# ---------------------------------------------------------------------------
# hmc_step
# ---------------------------------------------------------------------------


def test_hmc_step_accept_prob_is_min_1_exp_minus_energy_change():
    rng = np.random.default_rng(4)
    z, _, logp, grad = start_state(rng, 100)
    step = 0.45  # large enough that many proposals have accept_prob < 1
    rng_copy = copy.deepcopy(rng)
    z_new, logp_new, grad_new, accept, accept_prob = hmc_step(
        z, logp, grad, step, 10, gaussian_log_prob_and_grad, rng)

    # Replay the same momenta: hmc_step draws them first from its rng.
    p0 = rng_copy.standard_normal(z.shape)
    z1, p1, logp1, grad1 = leapfrog(z, p0, grad, step, 10, gaussian_log_prob_and_grad)
    dH = hamiltonian(logp1, p1) - hamiltonian(logp, p0)
    np.testing.assert_allclose(accept_prob, np.minimum(1.0, np.exp(-dH)), rtol=1e-12, atol=0)
    assert 0.05 < np.mean(accept_prob < 1.0) < 0.95, "test needs both kinds of proposal"
    assert 0 < accept.sum() < accept.size, "test needs both accepted and rejected chains"
    np.testing.assert_array_equal(z_new[accept], z1[accept])
    np.testing.assert_array_equal(z_new[~accept], z[~accept])
    np.testing.assert_array_equal(logp_new, np.where(accept, logp1, logp))
    np.testing.assert_array_equal(grad_new[accept], grad1[accept])


def test_hmc_step_rejects_proposals_entering_a_nan_region_without_warnings():
    # Standard normal in 2-D, but the target returns NaN log-density and gradient for
    # z_0 > 0.5.  Trajectories that enter the region diverge and must be rejected; no
    # NaN may reach the chain state, and no floating-point warning may be emitted.
    seen_non_finite_input = []

    def nan_region(z):
        seen_non_finite_input.append(not np.all(np.isfinite(z)))
        logp, grad = standard_normal_log_prob_and_grad(z)
        inside = z[:, 0] > 0.5
        return np.where(inside, np.nan, logp), np.where(inside[:, None], np.nan, grad)

    rng = np.random.default_rng(5)
    z = np.column_stack([np.full(300, -0.5), rng.standard_normal(300)])
    logp, grad = nan_region(z)
    n_divergent = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            z, logp, grad, accept, accept_prob = hmc_step(z, logp, grad, 0.3, 10, nan_region, rng)
            n_divergent += np.sum(accept_prob == 0.0)
            assert not np.any(accept & (accept_prob == 0.0))
        result = hmc_sample(nan_region, z, 50, rng, n_burnin=20)
    assert n_divergent > 100, "the test must actually produce divergent trajectories"
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(logp)) and np.all(np.isfinite(grad))
    assert np.all(z[:, 0] <= 0.5)
    assert np.all(np.isfinite(result.samples)) and np.all(result.samples[..., 0] <= 0.5)
    assert np.all(result.step_size > 0) and np.all(np.isfinite(result.step_size))
    assert not any(seen_non_finite_input), "the target must only see finite z"


def test_leapfrog_freezes_chains_whose_position_overflows_and_returns_minus_inf():
    # An infinite gradient for z_0 > 1 sends the momentum, then the position, to inf.
    seen_non_finite_input = []

    def inf_gradient(z):
        seen_non_finite_input.append(not np.all(np.isfinite(z)))
        logp, grad = standard_normal_log_prob_and_grad(z)
        grad = np.where((z[:, 0] > 1.0)[:, None], np.inf, grad)
        return logp, grad

    z = np.array([[0.9, 0.0], [-1.0, 0.0]])  # chain 1 stays in z_0 < 0.5 for t <= 2
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z1, _, logp1, _ = leapfrog(z, p, -z, 0.2, 10, inf_gradient)
    assert logp1[0] == -np.inf, "the chain that met the infinite gradient is divergent"
    assert np.isfinite(logp1[1]), "the other chain is unaffected"
    assert np.all(np.isfinite(z1))
    assert not any(seen_non_finite_input)


# ---------------------------------------------------------------------------
# hmc_sample
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_hmc_samples_match_mean_and_covariance_of_correlated_gaussian_within_5_standard_errors(
        jitter):
    # 200 independent chains from overdispersed starts; after burn-in, each chain's
    # time-average of z and of (z - m)(z - m)^T is one draw of an estimator, and the
    # chains are independent, so the across-chain standard error is valid whatever the
    # autocorrelation within a chain.  Bound: 5 such standard errors per entry.
    rng = np.random.default_rng(6)
    n_chains = 200
    z0 = MEAN + 3.0 * SD * rng.standard_normal((n_chains, 2))
    result = hmc_sample(gaussian_log_prob_and_grad, z0, 200, rng, n_burnin=200, jitter=jitter)
    assert isinstance(result, HMCResult)
    assert result.samples.shape == (200, n_chains, 2)
    assert result.logp.shape == (200, n_chains)
    assert result.step_size.shape == (n_chains,) and result.accept_rate.shape == (n_chains,)

    chain_means = result.samples.mean(axis=0)  # (M, 2)
    mean_se = chain_means.std(axis=0, ddof=1) / np.sqrt(n_chains)
    assert np.all(mean_se < 0.05 * SD), f"standard errors {mean_se} too large to be a test"
    np.testing.assert_array_less(np.abs(chain_means.mean(axis=0) - MEAN), 5 * mean_se)

    d = result.samples - MEAN
    chain_covs = np.einsum("tmi,tmj->mij", d, d) / d.shape[0]  # (M, 2, 2)
    cov_se = chain_covs.std(axis=0, ddof=1) / np.sqrt(n_chains)
    assert np.all(cov_se < 0.05 * np.abs(COV)), f"standard errors {cov_se} too large"
    np.testing.assert_array_less(np.abs(chain_covs.mean(axis=0) - COV), 5 * cov_se)

    # The recorded log-densities are those of the recorded states.
    ref_logp, _ = gaussian_log_prob_and_grad(result.samples.reshape(-1, 2))
    np.testing.assert_allclose(result.logp.ravel(), ref_logp, rtol=1e-12, atol=1e-12)


def test_step_size_adaptation_reaches_acceptance_near_target():
    rng = np.random.default_rng(7)
    z0 = MEAN + SD * rng.standard_normal((100, 2))
    # Start 20x too large in half the chains and 300x too small in the other half.
    step0 = np.where(np.arange(100) < 50, 5.0, 1e-3)
    result = hmc_sample(gaussian_log_prob_and_grad, z0, 100, rng, step_size=step0,
                        n_burnin=200, target_accept=0.9)
    assert 0.75 < result.mean_accept_rate < 0.98, (
        f"mean acceptance {result.mean_accept_rate:.3f} not in (0.75, 0.98) for target 0.9")
    # Both halves forget their start: median step sizes within a factor 1.5 of each other.
    ratio = np.median(result.step_size[:50]) / np.median(result.step_size[50:])
    assert 1 / 1.5 < ratio < 1.5, f"step size ratio {ratio:.3f} of the two halves"


def test_lower_target_accept_gives_larger_steps_and_lower_acceptance():
    # With jitter, acceptance falls smoothly with step size, so the adaptation can be
    # checked to track the target: 0.65 must end clearly below 0.9 (both end somewhat
    # above their targets, see hmc_sample's docstring).
    z0 = MEAN + SD * np.random.default_rng(11).standard_normal((100, 2))
    runs = {target: hmc_sample(gaussian_log_prob_and_grad, z0, 100, np.random.default_rng(12),
                               n_burnin=200, target_accept=target, jitter=0.2)
            for target in (0.65, 0.9)}
    high, low = runs[0.9].mean_accept_rate, runs[0.65].mean_accept_rate
    assert 0.85 < high < 0.98, f"acceptance {high:.3f} for target 0.9"
    assert 0.6 < low < high - 0.05, f"acceptance {low:.3f} for target 0.65 vs {high:.3f}"
    assert np.median(runs[0.65].step_size) > 1.2 * np.median(runs[0.9].step_size)


def test_without_adaptation_the_given_step_size_is_kept():
    rng = np.random.default_rng(8)
    z0 = MEAN + SD * rng.standard_normal((10, 2))
    step = np.linspace(0.05, 0.2, 10)
    result = hmc_sample(gaussian_log_prob_and_grad, z0, 5, rng, step_size=step, n_burnin=10,
                        adapt=False)
    np.testing.assert_array_equal(result.step_size, step)


def test_thinning_keeps_every_thin_th_state_of_the_same_chain():
    z0 = MEAN + SD * np.random.default_rng(9).standard_normal((4, 2))
    thinned = hmc_sample(gaussian_log_prob_and_grad, z0, 4, np.random.default_rng(10),
                         n_burnin=5, thin=3)
    full = hmc_sample(gaussian_log_prob_and_grad, z0, 12, np.random.default_rng(10),
                      n_burnin=5, thin=1)
    np.testing.assert_array_equal(thinned.samples, full.samples[2::3])
    np.testing.assert_array_equal(thinned.step_size, full.step_size)


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _sample(**overrides):
    args = dict(log_prob_and_grad=gaussian_log_prob_and_grad, z0=np.zeros((3, 2)),
                n_samples=2, rng=np.random.default_rng(0), n_burnin=1)
    args.update(overrides)
    return hmc_sample(**args)


@pytest.mark.parametrize("overrides, error, message", [
    (dict(z0=np.zeros(3)), ShapeError, "z0 must have shape (M, Nz)"),
    (dict(z0=np.zeros((3, 2, 1))), ShapeError, "got (3, 2, 1)"),
    (dict(z0=np.array([[0.0, np.nan], [0.0, 0.0]])), NonFiniteError, "z0 must be finite"),
    (dict(step_size=0.0), ConfigError, "step_size must be positive"),
    (dict(step_size=-0.1), ConfigError, "step_size must be positive"),
    (dict(step_size=np.ones(4)), ShapeError, "step_size must be a scalar or have shape (3,)"),
    (dict(n_samples=0), ConfigError, "n_samples must be a positive integer"),
    (dict(n_leapfrog=2.5), ConfigError, "n_leapfrog must be a positive integer"),
    (dict(n_burnin=-1), ConfigError, "n_burnin must be an integer >= 0"),
    (dict(thin=0), ConfigError, "thin must be a positive integer"),
    (dict(target_accept=1.0), ConfigError, "target_accept must be in (0, 1)"),
    (dict(jitter=1.0), ConfigError, "jitter must be in [0, 1)"),
    (dict(rng=np.random.RandomState(0)), ConfigError, "rng must be a numpy.random.Generator"),
    (dict(log_prob_and_grad=lambda z: (np.zeros((3, 1)), -z)), ShapeError,
     "must return logp of shape (3,), got (3, 1)"),
    (dict(log_prob_and_grad=lambda z: (np.zeros(3), z[:, :1])), ShapeError,
     "must return grad of shape (3, 2), got (3, 1)"),
    (dict(log_prob_and_grad=lambda z: (np.full(3, np.nan), -z)), NonFiniteError,
     "log_prob_and_grad(z0) must be finite"),
])
def test_hmc_sample_rejects_bad_arguments_with_clear_messages(overrides, error, message):
    with pytest.raises(error) as info:
        _sample(**overrides)
    assert message in str(info.value)
    assert isinstance(info.value, AEVBError)


def test_leapfrog_and_hmc_step_reject_mismatched_or_non_finite_inputs():
    z = np.zeros((3, 2))
    f = gaussian_log_prob_and_grad
    with pytest.raises(ShapeError, match=r"p must have the shape of z, \(3, 2\), got \(3, 1\)"):
        leapfrog(z, np.zeros((3, 1)), z, 0.1, 1, f)
    with pytest.raises(NonFiniteError, match="p must be finite"):
        leapfrog(z, np.full((3, 2), np.inf), z, 0.1, 1, f)
    with pytest.raises(ConfigError, match="n_steps must be a positive integer"):
        leapfrog(z, z, z, 0.1, 0, f)
    with pytest.raises(ShapeError, match=r"logp must have shape \(3,\), got \(2,\)"):
        hmc_step(z, np.zeros(2), z, 0.1, 1, f, np.random.default_rng(0))
    with pytest.raises(NonFiniteError, match="logp must be finite"):
        hmc_step(z, np.array([0.0, np.nan, 0.0]), z, 0.1, 1, f, np.random.default_rng(0))
