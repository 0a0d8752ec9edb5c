"""Graders of notebooks 03 and 05: backpropagation by hand, the Gaussian decoder and its gradient.

Every grader takes the student's function and ``seed`` (None: the notebook's fixed inputs;
an integer: inputs drawn afresh for a grading run), returns "Exercise N.k passed: …" or
raises :class:`~aevb_np.course.verdict.ExerciseError`, and compares with central
differences of the package's own functions, never with the student's function.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import layers
from aevb_np.course.verdict import grader_doc, EXACT_TOL, GRAD_TOL, array, as_tuple, call, compare, passed, rng
from aevb_np.gradcheck import numerical_gradient
from aevb_np.reparam import gaussian_sample, gaussian_sample_backward


@grader_doc("3.1", "Appendix C (the tanh hidden layer)")
def check_tanh_backward(fn, seed: int | None = None) -> str:
    """Exercise 3.1: ``fn(dh, h) -> da``, the gradient through h = tanh(a) written from h.

    Graded against central differences of J(a) = Σ dh ⊙ tanh(a) on a (5, 7) layer
    (relative tolerance 1e-6).
    """
    ex = "3.1"
    r = rng(seed, 301)
    a, G = r.normal(0.0, 1.5, size=(5, 7)), r.normal(size=(5, 7))
    h = np.tanh(a)
    own = ((layers.tanh_backward, "aevb_np.layers.tanh_backward"),)
    got = array(ex, "da", call(ex, fn, G.copy(), h.copy(), forbidden=own), a.shape)
    compare(ex, "da", got, numerical_gradient(lambda: float(np.sum(G * np.tanh(a))), a), GRAD_TOL, {
        "the square left out": G * (1 - h),
        "the formula applied to h as if it were a": G * (1 - np.arctanh(h) ** 2),
        "the 1 − left out": G * h * h,
        "the layer's derivative left out": G,
    })
    return passed(ex, "dh ⊙ (1 − h²) agrees with central differences")


@grader_doc("3.2", "Eq. (10), Appendix B")
def check_mu_log_var_fan_in(fn, seed: int | None = None) -> str:
    """Exercise 3.2: ``fn(dz, mu, log_var, eps) -> (dmu, dlog_var)``: both paths into mu and log_var.

    J(mu, log_var) = Σ dz ⊙ z + Σ_i −KL_i with z = mu + σ ⊙ eps (Eq. 10): the reconstruction
    path reaches mu and log_var through z, the KL path (Appendix B) directly.  Graded
    against central differences of J (relative tolerance 1e-6).
    """
    ex = "3.2"
    r = rng(seed, 303)
    L, M, Nz = 2, 4, 3
    mu, log_var = r.normal(size=(M, Nz)), r.normal(0.0, 0.7, size=(M, Nz))
    eps, dz = r.standard_normal((L, M, Nz)), r.normal(size=(L, M, Nz))
    own = ((gaussian_sample_backward, "aevb_np.reparam.gaussian_sample_backward"),
           (dist.neg_kl_standard_normal_grad, "aevb_np.distributions.neg_kl_standard_normal_grad"))
    out = as_tuple(ex, call(ex, fn, dz.copy(), mu.copy(), log_var.copy(), eps.copy(), forbidden=own), ("dmu", "dlog_var"))
    dmu, dlog_var = (array(ex, n, v, mu.shape) for n, v in zip(("dmu", "dlog_var"), out))
    J = lambda: float(np.sum(dz * gaussian_sample(mu, log_var, eps)) + dist.neg_kl_standard_normal(mu, log_var).sum())  # noqa: E731
    rec_mu, rec_lv = gaussian_sample_backward(dz, log_var, eps)
    kl_mu, kl_lv = dist.neg_kl_standard_normal_grad(mu, log_var)
    compare(ex, "dmu", dmu, numerical_gradient(J, mu), GRAD_TOL, {
        "the reconstruction path alone (the KL path left out)": rec_mu,
        "the KL path alone (the reconstruction path left out)": kl_mu,
    })
    compare(ex, "dlog_var", dlog_var, numerical_gradient(J, log_var), GRAD_TOL, {
        "the reconstruction path alone (the KL path left out)": rec_lv,
        "the KL path alone (the reconstruction path left out)": kl_lv,
        "∂z/∂log_var without its ½, plus the KL path": 2 * rec_lv + kl_lv,
    })
    return passed(ex, "dmu and dlog_var, reconstruction path + KL path, agree with central differences")


@grader_doc("3.3", "Appendix C.2 (Eq. 12)")
def check_heads_backward(fn, seed: int | None = None) -> str:
    """Exercise 3.3: ``fn(dmu, dlog_var, h, W4, W5) -> (dh, dW4, db4, dW5, db5)``: the fan-in at h.

    mu = h W4ᵀ + b4 and log_var = h W5ᵀ + b5 (Eq. 12 for the encoder) read the same h.
    Graded against central differences of J = Σ dmu ⊙ mu + Σ dlog_var ⊙ log_var with
    respect to each of h, W4, b4, W5, b5 (relative tolerance 1e-6), one message per array.
    """
    ex = "3.3"
    r = rng(seed, 302)
    M, H, Nz = 5, 6, 3
    h = np.tanh(r.normal(size=(M, H)))
    W4, b4, W5, b5 = r.normal(size=(Nz, H)), r.normal(size=Nz), r.normal(size=(Nz, H)), r.normal(size=Nz)
    dmu, dlog_var = r.normal(size=(M, Nz)), r.normal(size=(M, Nz))
    names = ("dh", "dW4", "db4", "dW5", "db5")
    own = ((layers.affine_backward, "aevb_np.layers.affine_backward"),)
    out = as_tuple(ex, call(ex, fn, dmu.copy(), dlog_var.copy(), h.copy(), W4.copy(), W5.copy(), forbidden=own), names)
    got = {n: array(ex, n, v, s.shape) for n, v, s in zip(names, out, (h, W4, b4, W5, b5))}
    J = lambda: float(np.sum(dmu * (h @ W4.T + b4)) + np.sum(dlog_var * (h @ W5.T + b5)))  # noqa: E731
    for name, arr in (("dh", h), ("dW4", W4), ("db4", b4), ("dW5", W5), ("db5", b5)):
        hints = {}
        if name == "dh":
            hints = {"the mu head alone (the log_var head's share of the fan-in left out)": dmu @ W4,
                     "the log_var head alone (the mu head's share of the fan-in left out)": dlog_var @ W5}
        elif name in ("dW4", "dW5"):
            hints = {"the upstream gradient of the other head": (dlog_var if name == "dW4" else dmu).T @ h}
        compare(ex, name, got[name], numerical_gradient(J, arr), GRAD_TOL, hints)
    return passed(ex, "dh (the sum of the two heads' contributions), dW4, db4, dW5, db5 agree with central differences")


def _gauss_inputs(r: np.random.Generator):
    return r.uniform(0.0, 1.0, size=(5, 6)), r.uniform(0.2, 0.8, size=(5, 6)), r.normal(-3.0, 0.5, size=(5, 6))


@grader_doc("5.1", "Appendix C.2 (Eq. 12)")
def check_gaussian_log_likelihood(fn, seed: int | None = None) -> str:
    """Exercise 5.1: ``fn(x, mu, log_var) -> log_lik`` of shape (M,), the decoder of Eq. (12).

    log N(x; mu, diag σ²) in nats per datapoint; graded against
    :func:`aevb_np.distributions.log_normal_diag` (relative tolerance 1e-9).
    """
    ex = "5.1"
    x, mu, log_var = _gauss_inputs(rng(seed, 501))
    own = ((dist.log_normal_diag, "aevb_np.distributions.log_normal_diag"),)
    got = array(ex, "log_lik", call(ex, fn, x.copy(), mu.copy(), log_var.copy(), forbidden=own), (5,))
    ref = dist.log_normal_diag(x, mu, log_var)
    D = x.shape[1]
    compare(ex, "log_lik", got, ref, EXACT_TOL, {
        "leaving out the log 2π term": ref + 0.5 * D * dist.LOG_2PI,
        "dividing the square by σ instead of σ²": -0.5 * np.sum(dist.LOG_2PI + log_var + (x - mu) ** 2 * np.exp(-0.5 * log_var), axis=-1),
        "reading log_var as log σ": -0.5 * np.sum(dist.LOG_2PI + 2 * log_var + (x - mu) ** 2 * np.exp(-2 * log_var), axis=-1),
        "multiplying the square by σ² instead of dividing": -0.5 * np.sum(dist.LOG_2PI + log_var + (x - mu) ** 2 * np.exp(log_var), axis=-1),
    })
    return passed(ex, "log N(x; mu, σ²) of Eq. (12) matches aevb_np.distributions.log_normal_diag")


@grader_doc("5.2", "Appendix C.2 (Eq. 12)")
def check_gaussian_log_likelihood_grad(fn, seed: int | None = None) -> str:
    """Exercise 5.2: ``fn(x, mu, log_var) -> (dmu, dlog_var)``: the gradient of Σ log N(x; mu, σ²).

    Graded against central differences of :func:`aevb_np.distributions.log_normal_diag`
    (relative tolerance 1e-6).
    """
    ex = "5.2"
    x, mu, log_var = _gauss_inputs(rng(seed, 502))
    own = ((dist.log_normal_diag_grad, "aevb_np.distributions.log_normal_diag_grad"),)
    out = as_tuple(ex, call(ex, fn, x.copy(), mu.copy(), log_var.copy(), forbidden=own), ("dmu", "dlog_var"))
    dmu, dlog_var = (array(ex, n, v, x.shape) for n, v in zip(("dmu", "dlog_var"), out))
    f = lambda: float(dist.log_normal_diag(x, mu, log_var).sum())  # noqa: E731
    inv = np.exp(-log_var)
    compare(ex, "dmu", dmu, numerical_gradient(f, mu), GRAD_TOL, {
        "the sign flipped": (mu - x) * inv,
        "the 1/σ² left out": x - mu,
    })
    compare(ex, "dlog_var", dlog_var, numerical_gradient(f, log_var), GRAD_TOL, {
        "the derivative with respect to σ² instead of log σ²": 0.5 * ((x - mu) ** 2 * inv**2 - inv),
        "the ½ left out": (x - mu) ** 2 * inv - 1,
        "the log σ² term's derivative left out": 0.5 * (x - mu) ** 2 * inv,
    })
    return passed(ex, "((x − mu)/σ², ½((x − mu)²/σ² − 1)) agrees with central differences")
