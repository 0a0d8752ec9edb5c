"""Graders of notebooks 04 and 07: Adagrad's step, the minibatch estimates of Eq. (8) and Appendix F.

Every grader takes the student's function and ``seed`` (None: the notebook's fixed inputs;
an integer: inputs drawn afresh for a grading run), returns "Exercise N.k passed: …" or
raises :class:`~aevb_np.course.verdict.ExerciseError`, and compares with the package's own
computation, never with the student's function.  N is never a multiple of M, so that
``N // M`` in place of ``N / M`` fails.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import full_vb
from aevb_np.course.verdict import grader_doc, EXACT_TOL, GRAD_TOL, ExerciseError, array, as_tuple, call, compare, passed, rng
from aevb_np.gradcheck import numerical_gradient
from aevb_np.optim import Adagrad


def _unbiased(ex: str, draws: np.ndarray, target: float, over: str, what: str) -> float:
    """The standard error of the draws' mean; ExerciseError if the mean is over 4 of them from ``target``."""
    se = float(draws.std() / np.sqrt(draws.size))
    if abs(draws.mean() - target) > 4 * se:
        raise ExerciseError(f"Exercise {ex}: averaged over {over} the estimate is "
                            f"{abs(draws.mean() - target) / se:.1f} standard errors from {what}: biased")
    return se


@grader_doc("4.1", "§5, Eq. (8)")
def check_adagrad_step(fn, seed: int | None = None) -> str:
    """Exercise 4.1: ``fn(theta, grad, G, lr, N, M) -> (theta_new, G_new)``: one step of §5.

    ``grad`` is the gradient of the minibatch sum Σ_i elbo_i; the ascent direction is
    ``d = (N/M) grad − theta`` (Eq. 8's scaling and the N(0, I) prior), then ``G ← G + d²``
    and ``theta ← theta + lr d / √G``.  Graded against :class:`aevb_np.optim.Adagrad` over
    three steps (relative tolerance 1e-9), with N = 610 and M = 20.
    """
    ex = "4.1"
    r = rng(seed, 402)
    N, M, lr = 610, 20, 0.05
    theta = r.normal(0.0, 0.5, size=(4, 3))
    opt = Adagrad(lr=lr, scale=N / M)
    ref = {"theta": {"W": theta.copy()}}
    G = np.full(theta.shape, opt.eps)
    mine = theta.copy()
    own = ((Adagrad.step, "aevb_np.optim.Adagrad.step"),)
    for step in range(3):
        g = r.normal(0.0, 0.3, size=theta.shape)
        prev, G_prev = mine.copy(), G.copy()
        out = as_tuple(ex, call(ex, fn, mine.copy(), g.copy(), G.copy(), lr, N, M, forbidden=own), ("theta_new", "G_new"))
        mine, G = (array(ex, n, v, theta.shape) for n, v in zip(("theta_new", "G_new"), out))
        opt.step(ref, {"theta": {"W": g}})

        # The usual slips change d; Adagrad's first step barely depends on |d|, so G shows them first.
        slips = {"leaving out the N/M of Eq. (8)": g - prev, "N // M (integer division) instead of N / M": N // M * g - prev,
                 "leaving out the prior's −theta": N / M * g}
        compare(ex, f"G after step {step + 1}", G, opt.accumulators["theta"]["W"], EXACT_TOL,
                {k: G_prev + d * d for k, d in slips.items()})
        d = N / M * g - prev
        compare(ex, f"theta after step {step + 1}", mine, ref["theta"]["W"], EXACT_TOL, {
            **{k: prev + lr * s / np.sqrt(G_prev + s * s) for k, s in slips.items()},
            "descending instead of ascending": prev - lr * d / np.sqrt(G_prev + d * d),
        })
    return passed(ex, "three Adagrad steps on (N/M)·grad − theta match aevb_np.optim.Adagrad")


@grader_doc("4.2", "Eq. (8)", raises="Not written, raises, wrong type, shape or value, or biased")
def check_minibatch_estimate(fn, seed: int | None = None) -> str:
    """Exercise 4.2: ``fn(elbo_minibatch, N) -> float``, the minibatch estimator of Eq. (8).

    ``(N/M) Σ_{i ∈ minibatch} elbo_i`` estimates the full-data bound Σ_i elbo_i (nats for
    the whole dataset).  Graded on N = 60 made-up per-datapoint values: the formula on one
    minibatch of M = 7 (to rounding error), and the mean over 20 000 random minibatches
    against the full-data sum within 4 standard errors.
    """
    ex = "4.2"
    r = rng(seed, 401)
    N, M = 60, 7
    values = r.normal(-100.0, 15.0, size=N)
    batch = values[r.choice(N, M, replace=False)]
    got = array(ex, "estimate", call(ex, fn, batch.copy(), N), ())
    compare(ex, "estimate", got, np.array(N / M * batch.sum()), EXACT_TOL, {
        "the minibatch mean (one datapoint's bound, not the dataset's)": np.array(batch.mean()),
        "the minibatch sum (N/M left out)": np.array(batch.sum()),
        "N // M (integer division) instead of N / M": np.array(N // M * batch.sum()),
        "the factor upside down": np.array(M / N * batch.sum()),
    })
    batches = values[np.argsort(r.random((20_000, N)), axis=1)[:, :M]]  # 20 000 minibatches without replacement
    draws = np.array([float(array(ex, "estimate", call(ex, fn, b.copy(), N), ())) for b in batches])
    se = _unbiased(ex, draws, values.sum(), "20 000 minibatches", "the full-data bound")
    return passed(ex, f"(N/M) Σ elbo_i is unbiased: {draws.mean():.1f} ± {se:.1f} over 20 000 minibatches "
                      f"against the full-data {values.sum():.1f} nats")


@grader_doc("7.1", "Appendix F, Eq. (8)", raises="Not written, raises, wrong type, shape or value, or biased")
def check_full_vb_bound(fn, seed: int | None = None) -> str:
    """Exercise 7.1: ``fn(log_lik_minibatch, N, neg_kl_theta) -> float``: Appendix F's estimate of L(φ; X).

    ``(N/M) Σ_{i ∈ minibatch} log p(y_i | x_i, θ̃) + (−KL(q(θ) ‖ p(θ)))``, nats for the whole
    dataset.  Graded on Bayesian linear regression with N = 40, M = 7: the formula on one
    draw to rounding error, and the mean over 20 000 draws of (ζ, minibatch) against the
    exact bound of :func:`aevb_np.full_vb.linreg_elbo` within 4 standard errors.
    """
    ex = "7.1"
    r = rng(seed, 702)
    N, P, M, s2 = 40, 3, 7, 0.5
    X = r.normal(size=(N, P))
    y = X @ r.normal(size=P) + np.sqrt(s2) * r.standard_normal(N)
    mu, log_var = r.normal(0.0, 0.3, size=P), r.normal(-2.0, 0.3, size=P)
    neg_kl = float(dist.neg_kl_standard_normal(mu, log_var))
    K = 20_000  # draws of (θ̃, minibatch), made at once; the student's function is called once per draw
    w = mu + np.exp(0.5 * log_var) * r.standard_normal((K, P))
    idx = np.argsort(r.random((K, N)), axis=1)[:, :M]
    lls = dist.log_normal_diag(y[idx][..., None], np.einsum("kmp,kp->km", X[idx], w)[..., None], np.array([np.log(s2)]))
    draws = []
    for k, ll in enumerate(lls):
        got = array(ex, "estimate", call(ex, fn, ll.copy(), N, neg_kl), ())
        if k == 0:
            compare(ex, "estimate", got, np.array(N / M * ll.sum() + neg_kl), EXACT_TOL, {
                "the (N/M) scaling on the KL as well": np.array(N / M * (ll.sum() + neg_kl)),
                "the per-datapoint terms without N/M": np.array(ll.sum() + neg_kl),
                "N // M (integer division) instead of N / M": np.array(N // M * ll.sum() + neg_kl),
                "+KL instead of −KL": np.array(N / M * ll.sum() - neg_kl),
                "the minibatch sum without the KL": np.array(N / M * ll.sum()),
            })
        draws.append(float(got))
    draws = np.array(draws)
    exact = full_vb.linreg_elbo(X, y, s2, mu, log_var)
    se = _unbiased(ex, draws, exact, "20 000 draws", "the exact bound")
    return passed(ex, f"unbiased for the exact bound of Bayesian linear regression: {draws.mean():.2f} ± {se:.2f} "
                      f"against {exact:.2f} nats")


@grader_doc("7.2", "Appendix F")
def check_theta_backward(fn, seed: int | None = None) -> str:
    """Exercise 7.2: ``fn(mu, log_var, zeta, dtheta, kl_weight) -> (dmu, dlog_var)``, Appendix F.

    For one parameter array θ̃ = mu + σ ⊙ ζ: the gradient of
    ``J = Σ dtheta ⊙ θ̃ + kl_weight · (−KL(q(θ) ‖ N(0, I)))`` with respect to (mu, log_var),
    the reparameterization path and the KL path summed.  Graded against central
    differences (relative tolerance 1e-6).
    """
    ex = "7.2"
    r = rng(seed, 701)
    shape = (4, 3)
    mu, log_var = r.normal(0.0, 0.3, size=shape), r.normal(-2.0, 0.5, size=shape)
    zeta, dtheta = r.standard_normal(shape), r.normal(size=shape)
    kl_weight = 0.05
    own = ((full_vb.theta_backward, "aevb_np.full_vb.theta_backward"),)
    out = as_tuple(ex, call(ex, fn, mu.copy(), log_var.copy(), zeta.copy(), dtheta.copy(), kl_weight, forbidden=own),
                   ("dmu", "dlog_var"))
    dmu, dlog_var = (array(ex, n, v, shape) for n, v in zip(("dmu", "dlog_var"), out))
    J = lambda: float(np.sum(dtheta * (mu + np.exp(0.5 * log_var) * zeta))  # noqa: E731
                      + kl_weight * dist.neg_kl_standard_normal(mu.ravel(), log_var.ravel()))
    sigma = np.exp(0.5 * log_var)
    kl_mu, kl_lv = dist.neg_kl_standard_normal_grad(mu, log_var)
    compare(ex, "dmu", dmu, numerical_gradient(J, mu), GRAD_TOL, {
        "the reparameterization path alone (the KL path left out)": dtheta,
        "the KL path with weight 1 instead of kl_weight": dtheta + kl_mu,
    })
    compare(ex, "dlog_var", dlog_var, numerical_gradient(J, log_var), GRAD_TOL, {
        "the reparameterization path alone (the KL path left out)": 0.5 * sigma * zeta * dtheta,
        "the KL path with weight 1 instead of kl_weight": 0.5 * sigma * zeta * dtheta + kl_lv,
        "∂θ̃/∂log_var without its ½": sigma * zeta * dtheta + kl_weight * kl_lv,
    })
    return passed(ex, "dmu and dlog_var of Appendix F (both paths) agree with central differences")
