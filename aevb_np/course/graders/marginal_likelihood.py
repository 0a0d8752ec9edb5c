"""Graders of notebook 06: HMC's leapfrog and the estimator of log p(x) of Appendix D.

Every grader takes the student's function and ``seed`` (None: the notebook's fixed inputs;
an integer: inputs drawn afresh for a grading run), returns "Exercise N.k passed: …" or
raises :class:`~aevb_np.course.verdict.ExerciseError`, and compares with the package's own
computation (and the exact linear-Gaussian model), never with the student's function.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import hmc
from aevb_np import linear_gaussian as lg
from aevb_np.course.verdict import grader_doc, EXACT_TOL, ExerciseError, array, as_tuple, call, compare, passed, rng
from aevb_np.marginal import gaussian_log_density, harmonic_mean_log_px


def _posterior_target(r: np.random.Generator):
    """Exact posterior of a 5-by-2 linear-Gaussian model: (log_prob_and_grad, mean, cov, x, model)."""
    D, Nz, M = 5, 2, 4
    W, b, log_var_x = r.normal(size=(D, Nz)), r.normal(0.0, 0.5, size=D), np.log(0.5)
    x = r.normal(size=(M, D)) + b
    m, S = lg.exact_posterior(x, W, b, log_var_x)

    def log_joint_and_grad(z):
        logp = lg.log_likelihood(x, z, W, b, log_var_x) + dist.log_standard_normal(z)
        return logp, lg.log_likelihood_grad_z(x, z, W, b, log_var_x) - z

    return log_joint_and_grad, m, S, x, (W, b, log_var_x)


@grader_doc("6.1", "Appendix D (step 1)", raises="Not written, raises, calls the package's answer, wrong type, shape or value, or an energy error that is not second order")
def check_leapfrog(fn, seed: int | None = None) -> str:
    """Exercise 6.1: ``fn(z, r, grad, step_size, n_steps, log_prob_and_grad) -> (z, r, grad)``.

    The leapfrog scheme of Appendix D step 1 (Neal 2011 §5.2.3) on H = −log p(z) + |r|²/2:
    a half step in momentum, ``n_steps`` full steps in position each followed by a full
    momentum step (the last one a half step).  Graded on the exact posterior of a
    linear-Gaussian model: against :func:`aevb_np.hmc.leapfrog` (end position, momentum,
    gradient; tolerance 1e-9), and the energy error must shrink about 4-fold (3 to 5) when
    the step size is halved (second order).
    """
    ex = "6.1"
    target, m, S, x, _ = _posterior_target(rng(seed, 601))
    r = rng(seed, 602)
    z0 = m + r.standard_normal(m.shape) @ np.linalg.cholesky(S).T
    p0 = r.standard_normal(m.shape)
    logp0, g0 = target(z0)
    step, n = 0.15, 7
    own = ((hmc.leapfrog, "aevb_np.hmc.leapfrog"),)
    out = as_tuple(ex, call(ex, fn, z0.copy(), p0.copy(), g0.copy(), step, n, target, forbidden=own), ("z", "r", "grad"))
    got = {k: array(ex, k, v, z0.shape) for k, v in zip(("z", "r", "grad"), out)}
    z_ref, p_ref, _, g_ref = hmc.leapfrog(z0, p0, g0, step, n, target)

    def full_steps_only():  # a common slip: full momentum steps at both ends
        z, p = z0.copy(), p0 + step * g0
        for _ in range(n):
            z = z + step * p
            p = p + step * target(z)[1]
        return z, p

    def euler():  # the other one: position and momentum updated together from the old values
        z, p, g = z0.copy(), p0.copy(), g0.copy()
        for _ in range(n):
            z, p = z + step * p, p + step * g
            g = target(z)[1]
        return z, p

    (z_slip, p_slip), (z_euler, p_euler) = full_steps_only(), euler()
    compare(ex, "z (end position)", got["z"], z_ref, EXACT_TOL, {
        "full momentum steps at both ends instead of half steps": z_slip,
        "Euler's method instead of leapfrog": z_euler})
    compare(ex, "r (end momentum)", got["r"], p_ref, EXACT_TOL, {
        "full momentum steps at both ends instead of half steps": p_slip,
        "Euler's method instead of leapfrog": p_euler, "a negated momentum": -p_ref})
    compare(ex, "grad (at the end position)", got["grad"], g_ref, EXACT_TOL)

    def energy_error(h):
        # Summed over the chains on a short trajectory (T = 0.3), halving h divides this by
        # 3.9-4.2 for leapfrog on every one of 300 seeds tried; a first-order scheme by ~2.
        n_steps = int(round(0.3 / h))
        zz, pp, _ = as_tuple(ex, call(ex, fn, z0.copy(), p0.copy(), g0.copy(), h, n_steps, target, forbidden=own),
                             ("z", "r", "grad"))
        zz, pp = array(ex, "z", zz, z0.shape), array(ex, "r", pp, z0.shape)
        H0 = -logp0 + 0.5 * np.sum(p0**2, axis=1)
        H1 = -target(zz.astype(np.float64))[0] + 0.5 * np.sum(pp.astype(np.float64) ** 2, axis=1)
        return float(np.sum(np.abs(H1 - H0)))

    e1, e2 = energy_error(0.05), energy_error(0.025)
    if not (3.0 < e1 / e2 < 5.0):
        raise ExerciseError(f"Exercise {ex}: halving the step size divided the energy error by {e1 / e2:.2f}; "
                            "a second-order integrator divides it by about 4")
    return passed(ex, f"leapfrog matches aevb_np.hmc.leapfrog; energy error {e1:.2g} → {e2:.2g} "
                      f"({e1 / e2:.1f}×) when the step size is halved")


@grader_doc("6.2", "Appendix D (step 3)", raises="Not written, raises, calls the package's answer, wrong type, shape or value, or not finite far from 0 nats")
def check_appendix_d_estimator(fn, seed: int | None = None) -> str:
    """Exercise 6.2: ``fn(log_q, log_joint) -> log_px`` of shape (M,), Appendix D step 3.

    ``log p(x) ≃ −log (1/L) Σ_l q(z_l)/p(x, z_l)`` from the (L, M) arrays log q(z_l) and
    log p(x, z_l), in log space.  Graded on the exact linear-Gaussian model: with q the
    exact posterior every sample gives log p(x) exactly (against
    :func:`aevb_np.linear_gaussian.log_marginal`, tolerance 1e-9); with q the posterior
    widened 1.3-fold against :func:`aevb_np.marginal.harmonic_mean_log_px`; and it must
    stay finite when every log p(x, z) is near −1500 nats.
    """
    ex = "6.2"
    _, m, S, x, (W, b, log_var_x) = _posterior_target(rng(seed, 603))
    r = rng(seed, 604)
    L = 50
    C = np.linalg.cholesky(S)
    z = m + r.standard_normal((L,) + m.shape) @ C.T
    log_joint = lg.log_likelihood(x, z, W, b, log_var_x) + dist.log_standard_normal(z)
    log_q = gaussian_log_density(z, m, np.broadcast_to(C, (m.shape[0],) + C.shape))
    exact = lg.log_marginal(x, W, b, log_var_x)
    own = ((harmonic_mean_log_px, "aevb_np.marginal.harmonic_mean_log_px"),)
    got = array(ex, "log_px", call(ex, fn, log_q.copy(), log_joint.copy(), forbidden=own), (m.shape[0],))
    compare(ex, "log_px with the exact posterior as q", got, exact, EXACT_TOL, {"the sign flipped": -exact})
    log_q_wide = gaussian_log_density(z, m, np.broadcast_to(1.3 * C, (m.shape[0],) + C.shape))
    got = array(ex, "log_px", call(ex, fn, log_q_wide.copy(), log_joint.copy(), forbidden=own), (m.shape[0],))
    ref = harmonic_mean_log_px(log_q_wide, log_joint)
    compare(ex, "log_px with a widened q", got, ref, EXACT_TOL, {
        "the mean of the log-ratios (the log of a geometric mean)": -(log_q_wide - log_joint).mean(axis=0),
        "log Σ instead of log (1/L) Σ": ref - np.log(L),
    })
    with np.errstate(all="ignore"):
        got = call(ex, fn, log_q_wide.copy(), log_joint - 1500.0, forbidden=own)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        got = None
    if got is None or got.shape != ref.shape or not np.all(np.isfinite(got)):
        raise ExerciseError(f"Exercise {ex}: with log p(x, z) around −1500 nats the estimate is not finite: "
                            "exp underflows or overflows; subtract the largest log-ratio first (logsumexp)")
    compare(ex, "log_px with log p(x, z) shifted by −1500", got, ref - 1500.0, 1e-12)
    return passed(ex, "Appendix D's estimator is exact with the exact posterior as q, matches "
                      "aevb_np.marginal.harmonic_mean_log_px, and is finite at −1500 nats")
