"""Exercises of the notebooks: the graders, and the command that makes the student version.

Each notebook derives a step of the paper and then asks the reader to write it: an
*exercise cell* holds a function whose body sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (the convention of nbgrader), and the *check cell* after it calls one
of the ``check_*`` functions below on that function.  A grader builds its own seeded
inputs, runs the reader's function on them and compares the result with the package's
own tools (central differences from :mod:`aevb_np.gradcheck`, the exact linear-Gaussian
model of :mod:`aevb_np.linear_gaussian`, a Monte Carlo estimate with its standard error,
or the package's implementation of the same formula).  It returns a line saying what
passed, or raises :class:`ExerciseError` saying *what* is wrong: which output, by how
much, at which entry, and, for the usual slips, which slip it looks like.

The notebooks in ``notebooks/`` hold the solutions; the student version is made by::

    python -m aevb_np.exercises make-student notebooks/ OUT/

which copies every notebook and replaces each solution block by
``raise NotImplementedError("Exercise 2.1: ...")``, the exercise's number and title taken
from the ``# Exercise 2.1: ...`` line that opens the cell.  Nothing else changes, so the
check cells stay as they are and fail, with their message, until the reader writes the step.

``python -m aevb_np.exercises list notebooks/`` prints the exercises.

Conventions: float64 throughout; log-densities and bounds in nats (per datapoint unless a
grader says otherwise); ``mu``, ``log_var`` = log σ², ``eps`` = ε as in the paper.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from aevb_np import distributions as dist
from aevb_np import hmc
from aevb_np import linear_gaussian as lg
from aevb_np.full_vb import linreg_elbo
from aevb_np.gradcheck import numerical_gradient, relative_error
from aevb_np.marginal import harmonic_mean_log_px
from aevb_np.optim import Adagrad
from aevb_np.reparam import gaussian_sample, gaussian_sample_backward

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_LINE = re.compile(r"^#\s*Exercise\s+(\d+\.\d+)\s*:\s*(.+?)\s*$", re.M)
CHECK_CALL = re.compile(r"exercises\.(check_\w+)\s*\(")

# Relative error (gradcheck.relative_error) a correct float64 implementation stays below.
EXACT_TOL = 1e-9       # the same formula evaluated another way
GRAD_TOL = 1e-6        # against fourth-order central differences


class ExerciseError(AssertionError):
    """A reader's function does not compute the step the exercise asks for.

    The message starts with the exercise's number and says what is wrong.
    """


# --------------------------------------------------------------------------- helpers


def _call(ex: str, fn: Callable, *args):
    """Call the reader's function; an unwritten stub or an exception becomes an ExerciseError."""
    if not callable(fn):
        raise ExerciseError(f"Exercise {ex}: expected a function, got {type(fn).__name__}")
    try:
        return fn(*args)
    except NotImplementedError as e:
        raise ExerciseError(f"Exercise {ex}: not written yet (the function raised NotImplementedError: {e})") from None
    except Exception as e:  # the reader's bug: report it as the grade, with its type
        raise ExerciseError(f"Exercise {ex}: the function raised {type(e).__name__}: {e}") from e


def _array(ex: str, name: str, value, shape: tuple) -> np.ndarray:
    """The reader's output as a float64 array of the expected shape, or an ExerciseError."""
    if value is None:
        raise ExerciseError(f"Exercise {ex}: {name} is None; expected an array of shape {shape}")
    a = np.asarray(value, dtype=np.float64)
    if a.shape != tuple(shape):
        raise ExerciseError(f"Exercise {ex}: {name} has shape {a.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ExerciseError(f"Exercise {ex}: {name} holds a non-finite value ({a[tuple(bad)]}) at entry {tuple(int(i) for i in bad)}")
    return a


def _tuple(ex: str, value, names: tuple[str, ...]) -> tuple:
    if value is None or not isinstance(value, (tuple, list)) or len(value) != len(names):
        raise ExerciseError(f"Exercise {ex}: expected a tuple ({', '.join(names)}), got {type(value).__name__}"
                            + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))
    return tuple(value)


def _compare(ex: str, name: str, got: np.ndarray, expected: np.ndarray, tol: float, against: str,
             hints: dict[str, np.ndarray] | None = None) -> float:
    """Largest relative error of ``got`` against ``expected``; ExerciseError above ``tol``.

    ``hints`` maps a description of a usual slip to what that slip computes; when the
    reader's output matches one, the message names it.
    """
    err = relative_error(got, expected)
    worst = float(err.max()) if err.size else 0.0
    if worst <= tol:
        return worst
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape)) if err.ndim else ()
    msg = (f"Exercise {ex}: {name} is wrong: largest relative error {worst:.3g} against {against} "
           f"(tolerance {tol:g}), at entry {idx}: yours {got[idx]:.6g}, expected {expected[idx]:.6g}")
    for slip, value in (hints or {}).items():
        if np.shape(value) == got.shape and float(relative_error(got, value).max()) <= 1e-8:
            msg += f". It matches what {slip} gives"
            break
    raise ExerciseError(msg)


def _passed(ex: str, what: str) -> str:
    return f"Exercise {ex} passed: {what}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# --------------------------------------------------------------------------- notebook 01


def check_reparam_sample(fn) -> str:
    """Exercise 1.1: ``fn(mu, log_var, eps) -> z``, the reparameterized sample of Eq. (4), (10).

    ``z = mu + exp(½ log_var) ⊙ eps``; graded against :func:`aevb_np.reparam.gaussian_sample`
    on inputs of shape (L, M, Nz) = (3, 4, 2) broadcast from (M, Nz).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(mu, log_var, eps) -> z``.

    Returns
    -------
    str
        "Exercise 1.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Eq. (4), Eq. (10).
    """
    ex = "1.1"
    r = np.random.default_rng(101)
    mu, log_var = r.normal(size=(4, 2)), r.normal(0.0, 0.8, size=(4, 2))
    eps = r.standard_normal((3, 4, 2))
    z = _array(ex, "z", _call(ex, fn, mu.copy(), log_var.copy(), eps.copy()), eps.shape)
    _compare(ex, "z", z, gaussian_sample(mu, log_var, eps), EXACT_TOL, "aevb_np.reparam.gaussian_sample", {
        "scaling eps by the variance exp(log_var) instead of the standard deviation exp(½ log_var) "
        "(reading log_var as log σ)": mu + np.exp(log_var) * eps,
        "scaling eps by log_var itself": mu + log_var * eps,
        "mu − σ eps (a sign flipped)": mu - np.exp(0.5 * log_var) * eps,
    })
    return _passed(ex, "z = mu + exp(½ log_var) * eps on a (3, 4, 2) batch, to rounding error")


def check_pathwise_gradient(fn) -> str:
    """Exercise 1.2: ``fn(df, mu, log_var, eps) -> (dmu, dlog_var)``, the estimator of Eq. (5).

    ``df`` is f'; ``mu``, ``log_var`` have shape (1,), ``eps`` shape (N,).  The estimate
    ``mean(f'(z) ∂z/∂mu)``, ``mean(f'(z) ∂z/∂log_var)`` at z = mu + σ eps is compared with
    the same average from :func:`aevb_np.reparam.gaussian_sample_backward` (to rounding
    error) and, for f(z) = z², with the exact gradient (2 mu, σ²) of E[z²] = mu² + σ²
    (within 4 standard errors of the N = 200 000 sample mean).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(df, mu, log_var, eps) -> (dmu, dlog_var)``.

    Returns
    -------
    str
        "Exercise 1.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Eq. (5).
    """
    ex = "1.2"
    r = np.random.default_rng(102)
    mu, log_var = np.array([0.7]), np.array([np.log(0.6**2)])
    eps = r.standard_normal(200_000)
    df = lambda z: 2.0 * z  # noqa: E731  f(z) = z²
    out = _tuple(ex, _call(ex, fn, df, mu.copy(), log_var.copy(), eps.copy()), ("dmu", "dlog_var"))
    # a scalar or a one-element array: both are the gradient for the one-dimensional q
    dmu, dlog_var = (_array(ex, n, np.reshape(v, 1) if v is not None and np.size(v) == 1 else v, (1,))
                     for n, v in zip(("dmu", "dlog_var"), out))
    e3 = eps[:, None, None]
    z = gaussian_sample(mu[:, None], log_var[:, None], e3)
    ref_mu, ref_lv = gaussian_sample_backward(df(z), log_var[:, None], e3)
    sigma = np.exp(0.5 * log_var)
    for name, got, ref_sum, per_sample in (("dmu", dmu, ref_mu, df(z).ravel()),
                                           ("dlog_var", dlog_var, ref_lv, (df(z).ravel() * 0.5 * sigma * eps))):
        _compare(ex, name, got, ref_sum[0] / eps.size, 1e-8, "the average of aevb_np.reparam.gaussian_sample_backward", {
            "summing over the samples instead of averaging": ref_sum[0],
            "leaving out the ½ of ∂z/∂log_var = ½ σ eps (σ eps is the derivative with respect to log σ)":
                2.0 * ref_sum[0] / eps.size,
        })
        exact = 2.0 * mu if name == "dmu" else sigma**2
        se = per_sample.std() / np.sqrt(eps.size)
        if abs(float(got[0] - exact[0])) > 4 * se:
            raise ExerciseError(f"Exercise {ex}: {name} = {got[0]:.5g} is {abs(got[0] - exact[0]) / se:.1f} standard errors "
                                f"from the exact {exact[0]:.5g}")
    return _passed(ex, f"pathwise gradient of E[z²]: dmu = {dmu[0]:.4f} (exact {2 * mu[0]:.4f}), "
                       f"dlog_var = {dlog_var[0]:.4f} (exact σ² = {sigma[0]**2:.4f}), within 4 standard errors")


# --------------------------------------------------------------------------- notebook 02


def _kl_inputs(seed: int):
    r = np.random.default_rng(seed)
    return r.normal(0.0, 1.0, size=(6, 3)), r.normal(0.0, 0.8, size=(6, 3))


def check_neg_kl(fn) -> str:
    """Exercise 2.1: ``fn(mu, log_var) -> neg_kl`` of shape (M,), Appendix B.

    ``−KL(N(mu, σ²) ‖ N(0, I)) = ½ Σ_j (1 + log σ_j² − mu_j² − σ_j²)`` in nats per datapoint;
    graded against :func:`aevb_np.distributions.neg_kl_standard_normal` on a (6, 3) batch,
    and it must be 0 at the prior.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(mu, log_var) -> neg_kl``.

    Returns
    -------
    str
        "Exercise 2.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix B.
    """
    ex = "2.1"
    mu, log_var = _kl_inputs(201)
    got = _array(ex, "neg_kl", _call(ex, fn, mu.copy(), log_var.copy()), (6,))
    var = np.exp(log_var)
    _compare(ex, "neg_kl", got, dist.neg_kl_standard_normal(mu, log_var), EXACT_TOL,
             "aevb_np.distributions.neg_kl_standard_normal", {
                 "+KL (the sign flipped)": 0.5 * np.sum(mu**2 + var - 1 - log_var, axis=-1),
                 "leaving out the ½": np.sum(1 + log_var - mu**2 - var, axis=-1),
                 "using σ where σ² belongs (−σ instead of −σ²)": 0.5 * np.sum(1 + log_var - mu**2 - np.sqrt(var), axis=-1),
             })
    at_prior = _array(ex, "neg_kl at the prior", _call(ex, fn, np.zeros((2, 3)), np.zeros((2, 3))), (2,))
    if np.abs(at_prior).max() > 1e-12:
        raise ExerciseError(f"Exercise {ex}: at the prior (mu = 0, log_var = 0) the KL must be 0, got {at_prior}")
    return _passed(ex, "−KL of Appendix B on a (6, 3) batch to rounding error, and 0 at the prior")


def check_neg_kl_grad(fn) -> str:
    """Exercise 2.2: ``fn(mu, log_var) -> (dmu, dlog_var)``, the gradient of Σ_i −KL_i.

    Graded against fourth-order central differences (:func:`aevb_np.gradcheck.numerical_gradient`)
    of :func:`aevb_np.distributions.neg_kl_standard_normal`; relative tolerance 1e-6.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(mu, log_var) -> (dmu, dlog_var)``.

    Returns
    -------
    str
        "Exercise 2.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix B.
    """
    ex = "2.2"
    mu, log_var = _kl_inputs(202)
    out = _tuple(ex, _call(ex, fn, mu.copy(), log_var.copy()), ("dmu", "dlog_var"))
    dmu, dlog_var = (_array(ex, n, v, mu.shape) for n, v in zip(("dmu", "dlog_var"), out))
    f = lambda: float(dist.neg_kl_standard_normal(mu, log_var).sum())  # noqa: E731
    var = np.exp(log_var)
    _compare(ex, "dmu", dmu, numerical_gradient(f, mu), GRAD_TOL, "central differences",
             {"+mu (the sign flipped)": mu})
    _compare(ex, "dlog_var", dlog_var, numerical_gradient(f, log_var), GRAD_TOL, "central differences", {
        "½ (σ² − 1) (the sign flipped)": 0.5 * (var - 1),
        "1 − σ² (the ½ left out)": 1 - var,
        "the derivative with respect to σ², ½ (1/σ² − 1)": 0.5 * (1 / var - 1),
    })
    return _passed(ex, "(−mu, ½(1 − σ²)) agrees with central differences to 1e-6")


def check_estimator_A(fn) -> str:
    """Exercise 2.3: ``fn(log_lik, z, eps, log_var) -> elbo`` of shape (M,), estimator A, Eq. (6).

    ``log_lik`` (L, M) holds log p(x|z_l); ``z = mu + σ eps`` and ``eps`` have shape
    (L, M, Nz); ``log_var`` (M, Nz).  The estimate is
    ``(1/L) Σ_l log p(x|z_l) + log p(z_l) − log q(z_l|x)``.  Graded on the exact
    linear-Gaussian model (:mod:`aevb_np.linear_gaussian`): the reader's value on L = 4
    samples against the formula evaluated with the package's densities (to rounding
    error), and its mean over L = 100 000 samples against the exact L(θ, φ; x) of Eq. (3)
    within 4 standard errors.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(log_lik, z, eps, log_var) -> elbo``.

    Returns
    -------
    str
        "Exercise 2.3 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Eq. (6), Eq. (3).
    """
    ex = "2.3"
    r = np.random.default_rng(203)
    D, Nz, M = 4, 2, 3
    W, b, log_var_x = r.normal(size=(D, Nz)), r.normal(0.0, 0.5, size=D), np.log(0.4)
    x = r.normal(size=(M, D))
    mu, log_var = r.normal(0.0, 0.5, size=(M, Nz)), r.normal(-0.5, 0.3, size=(M, Nz))
    for L in (4, 100_000):
        eps = r.standard_normal((L, M, Nz))
        z = gaussian_sample(mu, log_var, eps)
        ll = lg.log_likelihood(x, z, W, b, log_var_x)
        got = _array(ex, "elbo", _call(ex, fn, ll.copy(), z.copy(), eps.copy(), log_var.copy()), (M,))
        terms = ll + dist.log_standard_normal(z) - dist.log_normal_diag(z, mu, log_var)  # (L, M)
        if L == 4:
            log_qz_no_half = -(np.sum(eps**2, axis=-1) + np.sum(log_var, axis=-1) + Nz * dist.LOG_2PI)
            _compare(ex, "elbo", got, terms.mean(axis=0), EXACT_TOL, "Eq. (6) evaluated with aevb_np.distributions", {
                "log q without its ½": (ll + dist.log_standard_normal(z) - log_qz_no_half).mean(axis=0),
                "+log q instead of −log q": (ll + dist.log_standard_normal(z) + dist.log_normal_diag(z, mu, log_var)).mean(axis=0),
                "leaving out log p(z)": (ll - dist.log_normal_diag(z, mu, log_var)).mean(axis=0),
                "the sum over l instead of the mean": terms.sum(axis=0),
            })
        else:
            exact = lg.elbo(x, mu, log_var, W, b, log_var_x)
            se = terms.std(axis=0) / np.sqrt(L)
            worst = int(np.argmax(np.abs(got - exact) / se))
            if abs(got[worst] - exact[worst]) > 4 * se[worst]:
                raise ExerciseError(f"Exercise {ex}: over L = {L} samples, datapoint {worst}'s estimate {got[worst]:.5f} is "
                                    f"{abs(got[worst] - exact[worst]) / se[worst]:.1f} standard errors from the exact "
                                    f"bound {exact[worst]:.5f} of the linear-Gaussian model")
    return _passed(ex, "estimator A matches Eq. (6) and, averaged over 100 000 samples, the exact bound of the "
                       "linear-Gaussian model within 4 standard errors")


# --------------------------------------------------------------------------- notebook 03


def check_tanh_backward(fn) -> str:
    """Exercise 3.1: ``fn(dh, h) -> da``, the gradient through h = tanh(a) written from h.

    Graded against central differences of J(a) = Σ dh ⊙ tanh(a) on a (5, 7) layer.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(dh, h) -> da``.

    Returns
    -------
    str
        "Exercise 3.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix C (the tanh hidden layer).
    """
    ex = "3.1"
    r = np.random.default_rng(301)
    a, G = r.normal(0.0, 1.5, size=(5, 7)), r.normal(size=(5, 7))
    h = np.tanh(a)
    got = _array(ex, "da", _call(ex, fn, G.copy(), h.copy()), a.shape)
    num = numerical_gradient(lambda: float(np.sum(G * np.tanh(a))), a)
    _compare(ex, "da", got, num, GRAD_TOL, "central differences", {
        "dh ⊙ (1 − h) (the square left out)": G * (1 - h),
        "dh ⊙ (1 − a²), the formula applied to h as if it were a": G * (1 - np.arctanh(h) ** 2),
        "dh ⊙ h² (the 1 − left out)": G * h * h,
        "dh alone (the layer's derivative left out)": G,
    })
    return _passed(ex, "dh ⊙ (1 − h²) agrees with central differences")


def check_heads_backward(fn) -> str:
    """Exercise 3.3: ``fn(dmu, dlog_var, h, W4, W5) -> (dh, dW4, db4, dW5, db5)``: the fan-in at h.

    mu = h W4ᵀ + b4 and log_var = h W5ᵀ + b5 (Eq. 12 for the encoder) read the same h.
    Graded against central differences of J = Σ dmu ⊙ mu + Σ dlog_var ⊙ log_var with
    respect to each of h, W4, b4, W5, b5 (relative tolerance 1e-6), one message per array.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(dmu, dlog_var, h, W4, W5) -> (dh, dW4, db4, dW5, db5)``.

    Returns
    -------
    str
        "Exercise 3.3 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12).
    """
    ex = "3.3"
    r = np.random.default_rng(302)
    M, H, Nz = 5, 6, 3
    h = np.tanh(r.normal(size=(M, H)))
    W4, b4, W5, b5 = r.normal(size=(Nz, H)), r.normal(size=Nz), r.normal(size=(Nz, H)), r.normal(size=Nz)
    dmu, dlog_var = r.normal(size=(M, Nz)), r.normal(size=(M, Nz))
    names = ("dh", "dW4", "db4", "dW5", "db5")
    out = _tuple(ex, _call(ex, fn, dmu.copy(), dlog_var.copy(), h.copy(), W4.copy(), W5.copy()), names)
    got = {n: _array(ex, n, v, s.shape) for n, v, s in zip(names, out, (h, W4, b4, W5, b5))}
    J = lambda: float(np.sum(dmu * (h @ W4.T + b4)) + np.sum(dlog_var * (h @ W5.T + b5)))  # noqa: E731
    for name, arr in (("dh", h), ("dW4", W4), ("db4", b4), ("dW5", W5), ("db5", b5)):
        hints = {}
        if name == "dh":
            hints = {"the mu head alone (the log_var head's share of the fan-in left out)": dmu @ W4,
                     "the log_var head alone (the mu head's share of the fan-in left out)": dlog_var @ W5}
        elif name in ("dW4", "dW5"):
            hints = {"the upstream gradient of the other head": (dlog_var if name == "dW4" else dmu).T @ h}
        _compare(ex, name, got[name], numerical_gradient(J, arr), GRAD_TOL, "central differences", hints)
    return _passed(ex, "dh (the sum of the two heads' contributions), dW4, db4, dW5, db5 agree with central differences")


def check_mu_log_var_fan_in(fn) -> str:
    """Exercise 3.2: ``fn(dz, mu, log_var, eps) -> (dmu, dlog_var)``: both paths into mu and log_var.

    J(mu, log_var) = Σ_{l,i,j} dz ⊙ z + Σ_i −KL_i with z = mu + σ ⊙ eps (Eq. 10): the
    reconstruction path reaches mu and log_var through z, the KL path (Appendix B)
    directly.  Graded against central differences of J (relative tolerance 1e-6).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(dz, mu, log_var, eps) -> (dmu, dlog_var)``.

    Returns
    -------
    str
        "Exercise 3.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Eq. (10), Appendix B.
    """
    ex = "3.2"
    r = np.random.default_rng(303)
    L, M, Nz = 2, 4, 3
    mu, log_var = r.normal(size=(M, Nz)), r.normal(0.0, 0.7, size=(M, Nz))
    eps, dz = r.standard_normal((L, M, Nz)), r.normal(size=(L, M, Nz))
    out = _tuple(ex, _call(ex, fn, dz.copy(), mu.copy(), log_var.copy(), eps.copy()), ("dmu", "dlog_var"))
    dmu, dlog_var = (_array(ex, n, v, mu.shape) for n, v in zip(("dmu", "dlog_var"), out))
    J = lambda: float(np.sum(dz * gaussian_sample(mu, log_var, eps)) + dist.neg_kl_standard_normal(mu, log_var).sum())  # noqa: E731
    rec_mu, rec_lv = gaussian_sample_backward(dz, log_var, eps)
    kl_mu, kl_lv = dist.neg_kl_standard_normal_grad(mu, log_var)
    _compare(ex, "dmu", dmu, numerical_gradient(J, mu), GRAD_TOL, "central differences", {
        "the reconstruction path alone (the KL path's −mu left out)": rec_mu,
        "the KL path alone (the reconstruction path's Σ_l dz left out)": kl_mu,
    })
    _compare(ex, "dlog_var", dlog_var, numerical_gradient(J, log_var), GRAD_TOL, "central differences", {
        "the reconstruction path alone (the KL path's ½(1 − σ²) left out)": rec_lv,
        "the KL path alone (the reconstruction path's Σ_l dz ⊙ ½ σ eps left out)": kl_lv,
        "∂z/∂log_var = σ eps without the ½, plus the KL path": 2 * rec_lv + kl_lv,
    })
    return _passed(ex, "dmu and dlog_var, reconstruction path + KL path, agree with central differences")


# --------------------------------------------------------------------------- notebook 04


def check_minibatch_estimate(fn) -> str:
    """Exercise 4.2: ``fn(elbo_minibatch, N) -> float``, the minibatch estimator of Eq. (8).

    ``(N/M) Σ_{i ∈ minibatch} elbo_i`` estimates the full-data bound Σ_{i=1}^N elbo_i (nats
    for the whole dataset).  Graded on a dataset of N = 60 made-up per-datapoint values:
    the formula on one minibatch (to rounding error), and the mean over 20 000 random
    minibatches of M = 7 against the full-data sum within 4 standard errors.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(elbo_minibatch, N) -> float``.

    Returns
    -------
    str
        "Exercise 4.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Eq. (8).
    """
    ex = "4.2"
    r = np.random.default_rng(401)
    N, M = 60, 7
    values = r.normal(-100.0, 15.0, size=N)
    batch = values[r.choice(N, M, replace=False)]
    got = _call(ex, fn, batch.copy(), N)
    got = float(_array(ex, "estimate", got, ()))
    _compare(ex, "estimate", np.array(got), np.array(N / M * batch.sum()), EXACT_TOL, "(N/M) Σ elbo_i", {
        "the minibatch mean (the estimate of one datapoint's bound, not the dataset's)": np.array(batch.mean()),
        "the minibatch sum (N/M left out)": np.array(batch.sum()),
        "(M/N) Σ elbo_i (the factor upside down)": np.array(M / N * batch.sum()),
    })
    draws = np.array([float(np.asarray(_call(ex, fn, values[r.choice(N, M, replace=False)], N)))
                      for _ in range(20_000)])
    se = draws.std() / np.sqrt(draws.size)
    if abs(draws.mean() - values.sum()) > 4 * se:
        raise ExerciseError(f"Exercise {ex}: averaged over 20 000 minibatches the estimate is {draws.mean():.1f}, the "
                            f"full-data bound is {values.sum():.1f} ({abs(draws.mean() - values.sum()) / se:.1f} standard errors away)")
    return _passed(ex, f"(N/M) Σ elbo_i is unbiased: {draws.mean():.1f} ± {se:.1f} over 20 000 minibatches "
                       f"against the full-data {values.sum():.1f} nats")


def check_adagrad_step(fn) -> str:
    """Exercise 4.1: ``fn(theta, grad, G, lr, N, M) -> (theta_new, G_new)``: one step of §5.

    ``grad`` is the gradient of the minibatch sum Σ_i elbo_i; the ascent direction is
    ``d = (N/M) grad − theta`` (Eq. 8's scaling and the N(0, I) prior), then
    ``G ← G + d²`` and ``theta ← theta + lr d / √G``.  Graded against
    :class:`aevb_np.optim.Adagrad` over three steps (relative tolerance 1e-9).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(theta, grad, G, lr, N, M) -> (theta_new, G_new)``.

    Returns
    -------
    str
        "Exercise 4.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), §5, Eq. (8).
    """
    ex = "4.1"
    r = np.random.default_rng(402)
    N, M, lr = 600, 20, 0.05
    theta = r.normal(0.0, 0.5, size=(4, 3))
    opt = Adagrad(lr=lr, scale=N / M)
    ref = {"theta": {"W": theta.copy()}}
    G = np.full(theta.shape, opt.eps)
    mine = theta.copy()
    for step in range(3):
        g = r.normal(0.0, 0.3, size=theta.shape)
        prev, G_prev = mine.copy(), G.copy()
        out = _tuple(ex, _call(ex, fn, mine.copy(), g.copy(), G.copy(), lr, N, M), ("theta_new", "G_new"))
        mine, G = (_array(ex, n, v, theta.shape) for n, v in zip(("theta_new", "G_new"), out))
        opt.step(ref, {"theta": {"W": g}})
        def slip(d):
            return prev + lr * d / np.sqrt(G_prev + d * d)
        _compare(ex, f"theta after step {step + 1}", mine, ref["theta"]["W"], EXACT_TOL, "aevb_np.optim.Adagrad", {
            "leaving out the N/M of Eq. (8)": slip(g - prev),
            "leaving out the prior's −theta": slip(N / M * g),
            "descending instead of ascending": prev - lr * (N / M * g - prev) / np.sqrt(G_prev + (N / M * g - prev) ** 2),
        })
        _compare(ex, f"G after step {step + 1}", G, opt.accumulators["theta"]["W"], EXACT_TOL, "aevb_np.optim.Adagrad")
    return _passed(ex, "three Adagrad steps on (N/M)·grad − theta match aevb_np.optim.Adagrad")


# --------------------------------------------------------------------------- notebook 05


def _gauss_inputs(seed: int):
    r = np.random.default_rng(seed)
    return r.uniform(0.0, 1.0, size=(5, 6)), r.uniform(0.2, 0.8, size=(5, 6)), r.normal(-3.0, 0.5, size=(5, 6))


def check_gaussian_log_likelihood(fn) -> str:
    """Exercise 5.1: ``fn(x, mu, log_var) -> log_lik`` of shape (M,), the decoder of Eq. (12).

    ``log N(x; mu, diag σ²) = −½ Σ_d (log 2π + log σ_d² + (x_d − mu_d)²/σ_d²)``, nats per
    datapoint; graded against :func:`aevb_np.distributions.log_normal_diag`.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(x, mu, log_var) -> log_lik``.

    Returns
    -------
    str
        "Exercise 5.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12).
    """
    ex = "5.1"
    x, mu, log_var = _gauss_inputs(501)
    got = _array(ex, "log_lik", _call(ex, fn, x.copy(), mu.copy(), log_var.copy()), (5,))
    ref = dist.log_normal_diag(x, mu, log_var)
    D = x.shape[1]
    _compare(ex, "log_lik", got, ref, EXACT_TOL, "aevb_np.distributions.log_normal_diag", {
        "leaving out the −½ D log 2π": ref + 0.5 * D * dist.LOG_2PI,
        "dividing the square by σ instead of σ²": -0.5 * np.sum(dist.LOG_2PI + log_var + (x - mu) ** 2 * np.exp(-0.5 * log_var), axis=-1),
        "reading log_var as log σ": -0.5 * np.sum(dist.LOG_2PI + 2 * log_var + (x - mu) ** 2 * np.exp(-2 * log_var), axis=-1),
        "multiplying the square by σ² instead of dividing": -0.5 * np.sum(dist.LOG_2PI + log_var + (x - mu) ** 2 * np.exp(log_var), axis=-1),
    })
    return _passed(ex, "log N(x; mu, σ²) of Eq. (12) matches aevb_np.distributions.log_normal_diag")


def check_gaussian_log_likelihood_grad(fn) -> str:
    """Exercise 5.2: ``fn(x, mu, log_var) -> (dmu, dlog_var)``: the gradient of Σ log N(x; mu, σ²).

    Graded against central differences of :func:`aevb_np.distributions.log_normal_diag`
    (relative tolerance 1e-6).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(x, mu, log_var) -> (dmu, dlog_var)``.

    Returns
    -------
    str
        "Exercise 5.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12).
    """
    ex = "5.2"
    x, mu, log_var = _gauss_inputs(502)
    out = _tuple(ex, _call(ex, fn, x.copy(), mu.copy(), log_var.copy()), ("dmu", "dlog_var"))
    dmu, dlog_var = (_array(ex, n, v, x.shape) for n, v in zip(("dmu", "dlog_var"), out))
    f = lambda: float(dist.log_normal_diag(x, mu, log_var).sum())  # noqa: E731
    inv = np.exp(-log_var)
    _compare(ex, "dmu", dmu, numerical_gradient(f, mu), GRAD_TOL, "central differences", {
        "(mu − x)/σ² (the sign flipped)": (mu - x) * inv,
        "(x − mu) without the 1/σ²": x - mu,
    })
    _compare(ex, "dlog_var", dlog_var, numerical_gradient(f, log_var), GRAD_TOL, "central differences", {
        "the derivative with respect to σ², ½((x − mu)²/σ⁴ − 1/σ²)": 0.5 * ((x - mu) ** 2 * inv**2 - inv),
        "(x − mu)²/σ² − 1 (the ½ left out)": (x - mu) ** 2 * inv - 1,
        "½ (x − mu)²/σ² (the −½ of the log σ² term left out)": 0.5 * (x - mu) ** 2 * inv,
    })
    return _passed(ex, "((x − mu)/σ², ½((x − mu)²/σ² − 1)) agrees with central differences")


# --------------------------------------------------------------------------- notebook 06


def _posterior_target(seed: int):
    """Exact posterior of a 5-by-2 linear-Gaussian model: (log_prob_and_grad, mean, cov, x, model)."""
    r = np.random.default_rng(seed)
    D, Nz, M = 5, 2, 4
    W, b, log_var_x = r.normal(size=(D, Nz)), r.normal(0.0, 0.5, size=D), np.log(0.5)
    x = r.normal(size=(M, D)) + b
    m, S = lg.exact_posterior(x, W, b, log_var_x)

    def log_joint_and_grad(z):
        logp = lg.log_likelihood(x, z, W, b, log_var_x) + dist.log_standard_normal(z)
        return logp, lg.log_likelihood_grad_z(x, z, W, b, log_var_x) - z

    return log_joint_and_grad, m, S, x, (W, b, log_var_x)


def check_leapfrog(fn) -> str:
    """Exercise 6.1: ``fn(z, r, grad, step_size, n_steps, log_prob_and_grad) -> (z, r, grad)``.

    The leapfrog scheme of Appendix D step 1 (Neal 2011 §5.2.3): a half step in momentum,
    ``n_steps`` full steps in position each followed by a full momentum step (the last one a
    half step), on H = −log p(z) + |r|²/2.  ``log_prob_and_grad(z) -> (logp, grad)``.
    Graded on the exact posterior of a linear-Gaussian model: against
    :func:`aevb_np.hmc.leapfrog` (end position, momentum, gradient; tolerance 1e-9), and the
    energy error must shrink about 4-fold when the step size is halved (second order).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(z, r, grad, step_size, n_steps, log_prob_and_grad) -> (z, r, grad)``.

    Returns
    -------
    str
        "Exercise 6.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix D (step 1).
    """
    ex = "6.1"
    target, m, S, x, _ = _posterior_target(601)
    r = np.random.default_rng(602)
    z0 = m + r.standard_normal(m.shape) @ np.linalg.cholesky(S).T
    p0 = r.standard_normal(m.shape)
    logp0, g0 = target(z0)
    step, n = 0.15, 7
    out = _tuple(ex, _call(ex, fn, z0.copy(), p0.copy(), g0.copy(), step, n, target), ("z", "r", "grad"))
    got = {k: _array(ex, k, v, z0.shape) for k, v in zip(("z", "r", "grad"), out)}
    z_ref, p_ref, _, g_ref = hmc.leapfrog(z0, p0, g0, step, n, target)

    def full_steps_only():  # a common slip: full momentum steps at both ends
        z, p = z0.copy(), p0 + step * g0
        for _ in range(n):
            z = z + step * p
            p = p + step * target(z)[1]
        return z, p

    z_slip, p_slip = full_steps_only()
    _compare(ex, "z (end position)", got["z"], z_ref, EXACT_TOL, "aevb_np.hmc.leapfrog",
             {"full momentum steps at both ends instead of half steps": z_slip})
    _compare(ex, "r (end momentum)", got["r"], p_ref, EXACT_TOL, "aevb_np.hmc.leapfrog",
             {"full momentum steps at both ends instead of half steps": p_slip, "a negated momentum": -p_ref})
    _compare(ex, "grad (at the end position)", got["grad"], g_ref, EXACT_TOL, "aevb_np.hmc.leapfrog")

    def energy_error(h):
        T = 1.05  # the same trajectory length for both step sizes
        zz, pp, gg = _tuple(ex, _call(ex, fn, z0.copy(), p0.copy(), g0.copy(), h, int(round(T / h)), target), ("z", "r", "grad"))
        H0 = -logp0 + 0.5 * np.sum(p0**2, axis=1)
        H1 = -target(np.asarray(zz))[0] + 0.5 * np.sum(np.asarray(pp) ** 2, axis=1)
        return float(np.max(np.abs(H1 - H0)))

    e1, e2 = energy_error(0.15), energy_error(0.075)
    if not (2.5 < e1 / e2 < 6.0):
        raise ExerciseError(f"Exercise {ex}: halving the step size divided the energy error by {e1 / e2:.2f} "
                            f"({e1:.3g} → {e2:.3g}); a second-order integrator divides it by about 4")
    return _passed(ex, f"leapfrog matches aevb_np.hmc.leapfrog; energy error {e1:.2g} → {e2:.2g} "
                       f"({e1 / e2:.1f}×) when the step size is halved")


def check_appendix_d_estimator(fn) -> str:
    """Exercise 6.2: ``fn(log_q, log_joint) -> log_px`` of shape (M,), Appendix D step 3.

    ``log p(x) ≃ −log (1/L) Σ_l q(z_l)/p(x, z_l)`` for posterior samples z_l, from the
    (L, M) arrays log q(z_l) and log p(x, z_l), computed in log space.  Graded on the exact
    linear-Gaussian model: with exact posterior samples and q the exact posterior density
    every sample gives log p(x) exactly (compared with
    :func:`aevb_np.linear_gaussian.log_marginal`, tolerance 1e-9); with a fitted q (the
    posterior widened 1.3-fold) against :func:`aevb_np.marginal.harmonic_mean_log_px`;
    and it must stay finite when every log p(x, z) is below −1000 nats.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(log_q, log_joint) -> log_px``.

    Returns
    -------
    str
        "Exercise 6.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix D (step 3).
    """
    ex = "6.2"
    _, m, S, x, (W, b, log_var_x) = _posterior_target(603)
    r = np.random.default_rng(604)
    L = 50
    C = np.linalg.cholesky(S)
    z = m + r.standard_normal((L,) + m.shape) @ C.T
    log_joint = lg.log_likelihood(x, z, W, b, log_var_x) + dist.log_standard_normal(z)
    from aevb_np.marginal import gaussian_log_density
    log_q = gaussian_log_density(z, m, np.broadcast_to(C, (m.shape[0],) + C.shape))
    exact = lg.log_marginal(x, W, b, log_var_x)
    got = _array(ex, "log_px", _call(ex, fn, log_q.copy(), log_joint.copy()), (m.shape[0],))
    _compare(ex, "log_px with the exact posterior as q", got, exact, EXACT_TOL, "the exact log p(x)", {
        "+log (1/L) Σ q/p (the sign flipped)": -exact,
    })
    log_q_wide = gaussian_log_density(z, m, np.broadcast_to(1.3 * C, (m.shape[0],) + C.shape))
    got = _array(ex, "log_px", _call(ex, fn, log_q_wide.copy(), log_joint.copy()), (m.shape[0],))
    ref = harmonic_mean_log_px(log_q_wide, log_joint)
    _compare(ex, "log_px with a widened q", got, ref, EXACT_TOL, "aevb_np.marginal.harmonic_mean_log_px", {
        "the mean of the log-ratios (log of a geometric mean)": -(log_q_wide - log_joint).mean(axis=0),
        "log Σ instead of log (1/L) Σ": ref - np.log(L),
    })
    got = _call(ex, fn, log_q_wide.copy(), log_joint - 1500.0)
    got = np.asarray(got, dtype=np.float64) if got is not None else None
    if got is None or got.shape != ref.shape or not np.all(np.isfinite(got)):
        raise ExerciseError(f"Exercise {ex}: with log p(x, z) around −1500 nats the estimate is {got}: "
                            "exp underflows or overflows; subtract the largest log-ratio first (logsumexp)")
    _compare(ex, "log_px with log p(x, z) shifted by −1500", got, ref - 1500.0, 1e-12, "the unshifted estimate − 1500")
    return _passed(ex, "Appendix D's estimator is exact with the exact posterior as q, matches "
                       "aevb_np.marginal.harmonic_mean_log_px, and is finite at −1500 nats")


# --------------------------------------------------------------------------- notebook 07


def check_theta_backward(fn) -> str:
    """Exercise 7.2: ``fn(mu, log_var, zeta, dtheta, kl_weight) -> (dmu, dlog_var)``, Appendix F.

    For one parameter array θ̃ = mu + σ ⊙ ζ: the gradient of
    ``J = Σ dtheta ⊙ θ̃ + kl_weight · (−KL(q(θ) ‖ N(0, I)))`` with respect to (mu, log_var),
    the reparameterization path and the KL path summed.  Graded against central
    differences (relative tolerance 1e-6).

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(mu, log_var, zeta, dtheta, kl_weight) -> (dmu, dlog_var)``.

    Returns
    -------
    str
        "Exercise 7.2 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix F.
    """
    ex = "7.2"
    r = np.random.default_rng(701)
    shape = (4, 3)
    mu, log_var = r.normal(0.0, 0.3, size=shape), r.normal(-2.0, 0.5, size=shape)
    zeta, dtheta = r.standard_normal(shape), r.normal(size=shape)
    kl_weight = 0.05
    out = _tuple(ex, _call(ex, fn, mu.copy(), log_var.copy(), zeta.copy(), dtheta.copy(), kl_weight), ("dmu", "dlog_var"))
    dmu, dlog_var = (_array(ex, n, v, shape) for n, v in zip(("dmu", "dlog_var"), out))
    J = lambda: float(np.sum(dtheta * (mu + np.exp(0.5 * log_var) * zeta))  # noqa: E731
                      + kl_weight * dist.neg_kl_standard_normal(mu.ravel(), log_var.ravel()))
    sigma = np.exp(0.5 * log_var)
    kl_mu, kl_lv = dist.neg_kl_standard_normal_grad(mu, log_var)
    _compare(ex, "dmu", dmu, numerical_gradient(J, mu), GRAD_TOL, "central differences", {
        "the reparameterization path alone (kl_weight · (−mu) left out)": dtheta,
        "the KL path with weight 1 instead of kl_weight": dtheta + kl_mu,
    })
    _compare(ex, "dlog_var", dlog_var, numerical_gradient(J, log_var), GRAD_TOL, "central differences", {
        "the reparameterization path alone (the KL path left out)": 0.5 * sigma * zeta * dtheta,
        "the KL path with weight 1 instead of kl_weight": 0.5 * sigma * zeta * dtheta + kl_lv,
        "∂θ̃/∂log_var = σ ζ without the ½": sigma * zeta * dtheta + kl_weight * kl_lv,
    })
    return _passed(ex, "dmu and dlog_var of Appendix F (both paths) agree with central differences")


def check_full_vb_bound(fn) -> str:
    """Exercise 7.1: ``fn(log_lik_minibatch, N, neg_kl_theta) -> float``: Appendix F's estimate of L(φ; X).

    ``(N/M) Σ_{i ∈ minibatch} log p(y_i | x_i, θ̃) + (−KL(q(θ) ‖ p(θ)))``, nats for the whole
    dataset: the per-datapoint terms scaled by N/M (Eq. 8), the KL over θ once.  Graded on
    Bayesian linear regression (no z, so the per-datapoint term is the log-likelihood at
    θ̃ = mu + σ ζ): the mean over 20 000 draws of (ζ, minibatch) against the exact bound of
    :func:`aevb_np.full_vb.linreg_elbo` within 4 standard errors, and the formula on one
    draw to rounding error.

    Parameters
    ----------
    fn : callable
        The reader's function, ``fn(log_lik_minibatch, N, neg_kl_theta) -> float``.

    Returns
    -------
    str
        "Exercise 7.1 passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), returns
        the wrong type, shape or a non-finite value, or differs from the reference by
        more than the tolerance; the message names the output, the error and the entry.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (8).
    """
    ex = "7.1"
    r = np.random.default_rng(702)
    N, P, M, s2 = 40, 3, 8, 0.5
    X = r.normal(size=(N, P))
    y = X @ r.normal(size=P) + np.sqrt(s2) * r.standard_normal(N)
    mu, log_var = r.normal(0.0, 0.3, size=P), r.normal(-2.0, 0.3, size=P)
    neg_kl = float(dist.neg_kl_standard_normal(mu, log_var))
    draws = []
    for k in range(20_000):
        w = mu + np.exp(0.5 * log_var) * r.standard_normal(P)
        idx = r.choice(N, M, replace=False)
        ll = dist.log_normal_diag(y[idx, None], (X[idx] @ w)[:, None], np.array([np.log(s2)]))
        got = float(_array(ex, "estimate", _call(ex, fn, ll.copy(), N, neg_kl), ()))
        if k == 0:
            _compare(ex, "estimate", np.array(got), np.array(N / M * ll.sum() + neg_kl), EXACT_TOL,
                     "(N/M) Σ log p + (−KL)", {
                         "(N/M) scaling on the KL as well": np.array(N / M * (ll.sum() + neg_kl)),
                         "the per-datapoint terms without N/M": np.array(ll.sum() + neg_kl),
                         "+KL instead of −KL": np.array(N / M * ll.sum() - neg_kl),
                         "the minibatch sum without the KL": np.array(N / M * ll.sum()),
                     })
        draws.append(got)
    draws = np.array(draws)
    exact = linreg_elbo(X, y, s2, mu, log_var)
    se = draws.std() / np.sqrt(draws.size)
    if abs(draws.mean() - exact) > 4 * se:
        raise ExerciseError(f"Exercise {ex}: averaged over 20 000 draws the estimate is {draws.mean():.2f}, the exact "
                            f"bound is {exact:.2f} ({abs(draws.mean() - exact) / se:.1f} standard errors away)")
    return _passed(ex, f"unbiased for the exact bound of Bayesian linear regression: {draws.mean():.2f} ± {se:.2f} "
                       f"against {exact:.2f} nats")


# --------------------------------------------------------------------------- student version


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_solutions(source: str, exercise: str | None = None) -> str:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` block by a stub.

    The stub is ``raise NotImplementedError("Exercise N.k: title")`` at the indentation of
    the ``### BEGIN SOLUTION`` line; ``exercise`` is the "N.k: title" text.

    Parameters
    ----------
    source : str
        A code cell's source.
    exercise : str, optional
        "N.k: title" for the stub's message (default: just "Exercise").

    Returns
    -------
    str
        ``source`` with each block (its BEGIN and END lines included) replaced by the
        one-line stub; a missing final newline stays missing.

    Raises
    ------
    ValueError
        A block is not closed, or an END has no BEGIN.
    """
    out, inside, indent = [], False, ""
    label = f"Exercise {exercise}" if exercise else "Exercise"
    for n, line in enumerate(source.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {n}: {BEGIN} inside another solution block")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({label!r})\n")
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"line {n}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    text = "".join(out)
    return text[:-1] if text.endswith("\n") and not source.endswith("\n") else text


def find_exercises(nb: dict) -> list[dict]:
    """The exercises of a notebook: number, title, the exercise cell, its check cell and grader.

    An exercise cell is a code cell whose first line is ``# Exercise N.k: title`` and that
    holds a solution block (or, in a student notebook, its stub); its check cell is the next code cell, which calls
    ``exercises.check_*``.

    Parameters
    ----------
    nb : dict
        A notebook as ``json.load`` reads an ``.ipynb`` (nbformat 4).

    Returns
    -------
    list of dict
        One per exercise, in cell order: ``number`` ("2.1"), ``title``, ``cell`` and
        ``check_cell`` (cell indices), ``grader`` (the ``check_*`` name).

    Raises
    ------
    ValueError
        An exercise cell without a solution block or without a check cell after it.
    """
    cells = nb["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        src = _source(cell)
        m = EXERCISE_LINE.match(src)
        if not m:
            continue
        if BEGIN not in src and "raise NotImplementedError" not in src:  # solved, or already a student stub
            raise ValueError(f"exercise {m.group(1)} (cell {i}) has no {BEGIN} block")
        j = next((k for k in range(i + 1, len(cells)) if cells[k]["cell_type"] == "code"), None)
        check = CHECK_CALL.search(_source(cells[j])) if j is not None else None
        if check is None:
            raise ValueError(f"exercise {m.group(1)} (cell {i}) is not followed by a check cell calling exercises.check_*")
        found.append({"number": m.group(1), "title": m.group(2), "cell": i, "check_cell": j, "grader": check.group(1)})
    return found


def make_student_notebook(nb: dict) -> dict:
    """A copy of ``nb`` with every solution block replaced by its stub (outputs cleared).

    Parameters
    ----------
    nb : dict
        A solved notebook (nbformat 4, as ``json.load`` reads it); not modified.

    Returns
    -------
    dict
        The student notebook: every code cell's outputs and execution count cleared.

    Raises
    ------
    ValueError
        As :func:`find_exercises` and :func:`strip_solutions`.
    """
    student = copy.deepcopy(nb)
    titles = {e["cell"]: f"{e['number']}: {e['title']}" for e in find_exercises(nb)}
    for i, cell in enumerate(student["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = _source(cell)
        if BEGIN in src or END in src:
            cell["source"] = strip_solutions(src, titles.get(i))
        cell["outputs"], cell["execution_count"] = [], None
    return student


def make_student(src_dir, out_dir) -> list[Path]:
    """Write the student version of every ``*.ipynb`` of ``src_dir`` into ``out_dir``.

    Parameters
    ----------
    src_dir : path-like
        Folder of solved notebooks (``notebooks/``).
    out_dir : path-like
        Created if missing; notebooks of the same name are overwritten.

    Returns
    -------
    list of Path
        The notebooks written, in name order.

    Raises
    ------
    FileNotFoundError
        ``src_dir`` holds no ``*.ipynb``.
    ValueError
        As :func:`make_student_notebook`.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        target.write_text(json.dumps(make_student_notebook(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv=None) -> int:
    """Command line: ``make-student SRC OUT`` or ``list SRC``.

    Parameters
    ----------
    argv : list of str, optional
        Default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 (errors are raised).

    Raises
    ------
    SystemExit
        From argparse: ``--help`` or a missing or unknown command.
    FileNotFoundError, ValueError
        As :func:`make_student` and :func:`find_exercises`.
    """
    parser = argparse.ArgumentParser(prog="python -m aevb_np.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make-student", help="write the notebooks with their solutions replaced by stubs")
    p.add_argument("src", help="folder of solved notebooks (notebooks/)")
    p.add_argument("out", help="folder to write the student notebooks into")
    q = sub.add_parser("list", help="list the exercises of the notebooks of a folder")
    q.add_argument("src")
    args = parser.parse_args(argv)
    if args.command == "make-student":
        for path in make_student(args.src, args.out):
            n = len(find_exercises(json.loads(path.read_text(encoding="utf-8"))))
            print(f"{path}  ({n} exercises)")
    else:
        for path in sorted(Path(args.src).glob("*.ipynb")):
            for e in find_exercises(json.loads(path.read_text(encoding="utf-8"))):
                print(f"{path.name}  Exercise {e['number']}: {e['title']}  (graded by exercises.{e['grader']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
