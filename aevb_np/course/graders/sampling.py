"""Graders of notebooks 01 and 02: the reparameterized sample and gradient, the KL, estimator A.

Every grader takes the student's function and ``seed`` (None: the notebook's fixed inputs;
an integer: inputs drawn afresh for a grading run), returns "Exercise N.k passed: …" or
raises :class:`~aevb_np.course.verdict.ExerciseError` saying what is wrong, and compares
with the package's own computation, never with the student's function.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import linear_gaussian as lg
from aevb_np.course.verdict import (grader_doc, EXACT_TOL, GRAD_TOL, ExerciseError, array, as_tuple, call, compare, passed,
                                    rng)
from aevb_np.gradcheck import numerical_gradient
from aevb_np.reparam import ReparamFamily, gaussian_sample, gaussian_sample_backward

_SAMPLE = ((gaussian_sample, "aevb_np.reparam.gaussian_sample"), (ReparamFamily.sample, "aevb_np.reparam's sample"))
_SAMPLE_BACKWARD = ((gaussian_sample_backward, "aevb_np.reparam.gaussian_sample_backward"),
                    (ReparamFamily.sample_grad, "aevb_np.reparam's sample_grad"))


@grader_doc("1.1", "Eq. (4), Eq. (10)")
def check_reparam_sample(fn, seed: int | None = None) -> str:
    """Exercise 1.1: ``fn(mu, log_var, eps) -> z``, the reparameterized sample of Eq. (4), (10).

    Graded against :func:`aevb_np.reparam.gaussian_sample` on eps of shape (L, M, Nz) =
    (3, 4, 2) broadcast from mu, log_var of shape (M, Nz); relative tolerance 1e-9.
    """
    ex = "1.1"
    r = rng(seed, 101)
    mu, log_var = r.normal(size=(4, 2)), r.normal(0.0, 0.8, size=(4, 2))
    eps = r.standard_normal((3, 4, 2))
    z = array(ex, "z", call(ex, fn, mu.copy(), log_var.copy(), eps.copy(), forbidden=_SAMPLE), eps.shape)
    compare(ex, "z", z, gaussian_sample(mu, log_var, eps), EXACT_TOL, {
        "scaling eps by the variance exp(log_var) instead of the standard deviation "
        "(reading log_var as log σ)": mu + np.exp(log_var) * eps,
        "scaling eps by log_var itself": mu + log_var * eps,
        "a flipped sign in front of the noise term": mu - np.exp(0.5 * log_var) * eps,
    })
    return passed(ex, "z = mu + exp(½ log_var) * eps on a (3, 4, 2) batch, to rounding error")


@grader_doc("1.2", "Eq. (5)")
def check_pathwise_gradient(fn, seed: int | None = None) -> str:
    """Exercise 1.2: ``fn(df, mu, log_var, eps) -> (dmu, dlog_var)``, the estimator of Eq. (5).

    For f(z) = z², mu and log_var of shape (1,) and eps of shape (200 000,): the average
    of f'(z) ∂z/∂(mu, log_var) is compared with the same average from
    :func:`aevb_np.reparam.gaussian_sample_backward` (tolerance 1e-8) and with the exact
    gradient (2 mu, σ²) of E[z²] = mu² + σ² (within 4 standard errors).
    """
    ex = "1.2"
    r = rng(seed, 102)
    mu, log_var = np.array([r.uniform(0.3, 1.0)]), np.array([np.log(r.uniform(0.4, 0.8) ** 2)])
    eps = r.standard_normal(200_000)
    df = lambda z: 2.0 * z  # noqa: E731  f(z) = z²
    out = as_tuple(ex, call(ex, fn, df, mu.copy(), log_var.copy(), eps.copy(), forbidden=_SAMPLE_BACKWARD),
                   ("dmu", "dlog_var"))
    # a scalar or a one-element array: both are the gradient for the one-dimensional q
    dmu, dlog_var = (array(ex, n, np.reshape(v, 1) if v is not None and np.size(v) == 1 else v, (1,))
                     for n, v in zip(("dmu", "dlog_var"), out))
    e3 = eps[:, None, None]
    z = gaussian_sample(mu[:, None], log_var[:, None], e3)
    ref_mu, ref_lv = gaussian_sample_backward(df(z), log_var[:, None], e3)
    sigma = np.exp(0.5 * log_var)
    for name, got, ref_sum, per_sample in (("dmu", dmu, ref_mu, df(z).ravel()),
                                           ("dlog_var", dlog_var, ref_lv, df(z).ravel() * 0.5 * sigma * eps)):
        compare(ex, name, got, ref_sum[0] / eps.size, 1e-8, {
            "summing over the samples instead of averaging": ref_sum[0],
            "leaving out the ½ of ∂z/∂log_var (the derivative with respect to log σ)": 2.0 * ref_sum[0] / eps.size,
        })
        exact = 2.0 * mu if name == "dmu" else sigma**2
        se = per_sample.std() / np.sqrt(eps.size)
        if abs(float(got[0] - exact[0])) > 4 * se:
            raise ExerciseError(f"Exercise {ex}: {name} is {abs(got[0] - exact[0]) / se:.1f} standard errors "
                                "from the exact gradient of E[z²]")
    return passed(ex, f"pathwise gradient of E[z²]: dmu = {dmu[0]:.4f} (exact {2 * mu[0]:.4f}), "
                      f"dlog_var = {dlog_var[0]:.4f} (exact σ² = {sigma[0]**2:.4f}), within 4 standard errors")


def _kl_inputs(r: np.random.Generator):
    return r.normal(0.0, 1.0, size=(6, 3)), r.normal(0.0, 0.8, size=(6, 3))


@grader_doc("2.1", "Appendix B")
def check_neg_kl(fn, seed: int | None = None) -> str:
    """Exercise 2.1: ``fn(mu, log_var) -> neg_kl`` of shape (M,), −KL(q ‖ N(0, I)) of Appendix B.

    Nats per datapoint; graded against :func:`aevb_np.distributions.neg_kl_standard_normal`
    on a (6, 3) batch (relative tolerance 1e-9, or float32 rounding for a float32 answer),
    and it must be 0 at the prior.
    """
    ex = "2.1"
    mu, log_var = _kl_inputs(rng(seed, 201))
    own = ((dist.neg_kl_standard_normal, "aevb_np.distributions.neg_kl_standard_normal"),)
    got = array(ex, "neg_kl", call(ex, fn, mu.copy(), log_var.copy(), forbidden=own), (6,))
    var = np.exp(log_var)
    compare(ex, "neg_kl", got, dist.neg_kl_standard_normal(mu, log_var), EXACT_TOL, {
        "+KL (the sign flipped)": 0.5 * np.sum(mu**2 + var - 1 - log_var, axis=-1),
        "leaving out the ½": np.sum(1 + log_var - mu**2 - var, axis=-1),
        "using σ where σ² belongs": 0.5 * np.sum(1 + log_var - mu**2 - np.sqrt(var), axis=-1),
    })
    at_prior = array(ex, "neg_kl at the prior", call(ex, fn, np.zeros((2, 3)), np.zeros((2, 3)), forbidden=own), (2,))
    if np.abs(at_prior).max() > 1e-12:
        raise ExerciseError(f"Exercise {ex}: at the prior (mu = 0, log_var = 0) the KL must be 0, "
                            f"yours is {float(np.abs(at_prior).max()):.3g} away from it")
    return passed(ex, "−KL of Appendix B on a (6, 3) batch to rounding error, and 0 at the prior")


@grader_doc("2.2", "Appendix B")
def check_neg_kl_grad(fn, seed: int | None = None) -> str:
    """Exercise 2.2: ``fn(mu, log_var) -> (dmu, dlog_var)``, the gradient of Σ_i −KL_i.

    Graded against fourth-order central differences (:func:`aevb_np.gradcheck.numerical_gradient`)
    of :func:`aevb_np.distributions.neg_kl_standard_normal`; relative tolerance 1e-6.
    """
    ex = "2.2"
    mu, log_var = _kl_inputs(rng(seed, 202))
    own = ((dist.neg_kl_standard_normal_grad, "aevb_np.distributions.neg_kl_standard_normal_grad"),)
    out = as_tuple(ex, call(ex, fn, mu.copy(), log_var.copy(), forbidden=own), ("dmu", "dlog_var"))
    dmu, dlog_var = (array(ex, n, v, mu.shape) for n, v in zip(("dmu", "dlog_var"), out))
    f = lambda: float(dist.neg_kl_standard_normal(mu, log_var).sum())  # noqa: E731
    var = np.exp(log_var)
    compare(ex, "dmu", dmu, numerical_gradient(f, mu), GRAD_TOL, {"the sign flipped": mu})
    compare(ex, "dlog_var", dlog_var, numerical_gradient(f, log_var), GRAD_TOL, {
        "the sign flipped": 0.5 * (var - 1),
        "the ½ left out": 1 - var,
        "the derivative with respect to σ² instead of log σ²": 0.5 * (1 / var - 1),
    })
    return passed(ex, "(−mu, ½(1 − σ²)) agrees with central differences to 1e-6")


@grader_doc("2.3", "Eq. (6), Eq. (3)", raises="Not written, raises, wrong type, shape or value")
def check_estimator_A(fn, seed: int | None = None) -> str:
    """Exercise 2.3: ``fn(log_lik, z, eps, log_var) -> elbo`` of shape (M,), estimator A, Eq. (6).

    ``log_lik`` (L, M) holds log p(x|z_l); z = mu + σ eps and eps have shape (L, M, Nz);
    log_var (M, Nz).  Graded on the exact linear-Gaussian model (:mod:`aevb_np.linear_gaussian`):
    on L = 4 samples against Eq. (6) evaluated with the package's densities (tolerance
    1e-9), and on L = 100 000 against the exact bound of Eq. (3) within 4 standard errors.
    """
    ex = "2.3"
    r = rng(seed, 203)
    D, Nz, M = 4, 2, 3
    W, b, log_var_x = r.normal(size=(D, Nz)), r.normal(0.0, 0.5, size=D), np.log(0.4)
    x = r.normal(size=(M, D))
    mu, log_var = r.normal(0.0, 0.5, size=(M, Nz)), r.normal(-0.5, 0.3, size=(M, Nz))
    for L in (4, 100_000):
        eps = r.standard_normal((L, M, Nz))
        z = gaussian_sample(mu, log_var, eps)
        ll = lg.log_likelihood(x, z, W, b, log_var_x)
        got = array(ex, "elbo", call(ex, fn, ll.copy(), z.copy(), eps.copy(), log_var.copy()), (M,))
        log_q = dist.log_normal_diag(z, mu, log_var)
        terms = ll + dist.log_standard_normal(z) - log_q  # (L, M)
        if L == 4:
            log_q_no_half = -(np.sum(eps**2, axis=-1) + np.sum(log_var, axis=-1) + Nz * dist.LOG_2PI)
            compare(ex, "elbo", got, terms.mean(axis=0), EXACT_TOL, {
                "log q without its ½": (ll + dist.log_standard_normal(z) - log_q_no_half).mean(axis=0),
                "+log q instead of −log q": (ll + dist.log_standard_normal(z) + log_q).mean(axis=0),
                "leaving out log p(z)": (ll - log_q).mean(axis=0),
                "the sum over l instead of the mean": terms.sum(axis=0),
            })
        else:
            exact = lg.elbo(x, mu, log_var, W, b, log_var_x)
            se = terms.std(axis=0) / np.sqrt(L)
            worst = int(np.argmax(np.abs(got - exact) / se))
            if abs(got[worst] - exact[worst]) > 4 * se[worst]:
                raise ExerciseError(f"Exercise {ex}: over L = {L} samples, datapoint {worst}'s estimate is "
                                    f"{abs(got[worst] - exact[worst]) / se[worst]:.1f} standard errors from the "
                                    "exact bound of the linear-Gaussian model")
    return passed(ex, "estimator A matches Eq. (6) and, averaged over 100 000 samples, the exact bound of the "
                      "linear-Gaussian model within 4 standard errors")
