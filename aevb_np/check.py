"""The paper's derivations checked against the code, as a report: ``python -m aevb_np.check``.

One row per comparison: the equation or appendix of Kingma & Welling (2014), what is
compared with what, the measured error, the tolerance, and pass/fail.  Every row calls
the package's own functions (the estimators of :mod:`aevb_np.bounds`, the densities of
:mod:`aevb_np.distributions`, the exact models of :mod:`aevb_np.linear_gaussian` and
:mod:`aevb_np.full_vb`, the estimators of :mod:`aevb_np.marginal`) and compares them with
an independent reference: central differences (:mod:`aevb_np.gradcheck`), the formula
written out in plain NumPy, an exact closed form, or a Monte Carlo mean with its
standard error.  Nothing here re-implements the package's math; it only measures it.

Usage::

    python -m aevb_np.check                       # every row, as a text table
    python -m aevb_np.check --appendix B          # the rows of Appendix B
    python -m aevb_np.check --equation 10 --equation 3
    python -m aevb_np.check --format markdown     # the table of the docs' derivations page

The exit status is 0 when every selected row passes, 1 otherwise.  Everything is seeded,
so the report is the same on every run; the whole report takes about 10–20 s.

Units: relative errors are ``|a − b| / max(1e-8, |a| + |b|)`` (:func:`aevb_np.gradcheck.relative_error`);
"nats" are absolute differences of log-densities per datapoint; "SE" counts Monte Carlo
standard errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from aevb_np import bounds, gradcheck, marginal, model
from aevb_np import distributions as dist
from aevb_np import full_vb as fv
from aevb_np import linear_gaussian as lg

GRAD_TOL = 1e-6     # hand-derived gradient against fourth-order central differences
EXACT_TOL = 1e-10   # the same number computed two ways
SE_TOL = 4.0        # Monte Carlo mean against its exact value, in standard errors


@dataclass(frozen=True)
class Row:
    """One line of the report.

    Attributes
    ----------
    where : str
        The paper's label, e.g. ``"Eq. (10)"`` or ``"App. C.1"``.
    compared : str
        What is compared with what.
    error : float
        The measured error, in ``unit``.
    tolerance : float
        The row passes when ``error <= tolerance``.
    unit : str
        ``"relative"``, ``"nats"`` or ``"SE"`` (Monte Carlo standard errors).
    """

    where: str
    compared: str
    error: float
    tolerance: float
    unit: str

    @property
    def passed(self) -> bool:
        """True when ``error`` is finite and at most ``tolerance``."""
        return bool(np.isfinite(self.error) and self.error <= self.tolerance)


@dataclass(frozen=True)
class Check:
    """A group of rows: its selector (``kind`` "equation" or "appendix", ``key``) and its function.

    Attributes
    ----------
    kind : {"equation", "appendix"}
        Which option selects the group (``--equation`` or ``--appendix``).
    key : str
        The equation number (``"10"``) or appendix letter (``"B"``, ``"C"``: C.1 and C.2 share it).
    run : callable
        No arguments; returns the group's ``list[Row]``.
    """

    kind: str
    key: str
    run: Callable[[], list[Row]]


# --------------------------------------------------------------------------- problems


def _small_vae(decoder: str, seed: int, M: int = 5):
    """A 12-7-3 VAE with weights of std 0.5 (every nonlinearity exercised), data and eps (L = 2)."""
    r = np.random.default_rng(seed)
    params = model.init_params(12, 7, 3, decoder, r, init_std=0.5)
    if decoder == "bernoulli":
        x = (r.uniform(size=(M, 12)) < 0.4).astype(np.float64)
        x[-1] = r.uniform(0.1, 0.9, size=12)  # grey levels too; no all-zero column
    else:
        x = r.uniform(0.05, 0.95, size=(M, 12))
    eps = r.standard_normal((2, M, 3))
    return params, x, eps, r


def _linear_gaussian(seed: int, M: int = 4):
    """x = W z + b + noise with D = 5, Nz = 2: exact log p(x), posterior and bound."""
    r = np.random.default_rng(seed)
    W, b, log_var_x = r.normal(size=(5, 2)), r.normal(0.0, 0.5, size=5), np.log(0.7**2)
    x = r.standard_normal((M, 2)) @ W.T + b + 0.7 * r.standard_normal((M, 5))
    return x, W, b, log_var_x, r


def _lg_log_joint(x, W, b, log_var_x):
    return lambda z: dist.log_standard_normal(z) + lg.log_likelihood(x, z, W, b, log_var_x)


def _lg_target(x, W, b, log_var_x):
    def f(z):
        return (dist.log_standard_normal(z) + lg.log_likelihood(x, z, W, b, log_var_x),
                lg.log_likelihood_grad_z(x, z, W, b, log_var_x) - z)
    return f


def _max_rel(a, b) -> float:
    return float(gradcheck.relative_error(a, b).max())


def _se_distance(draws: np.ndarray, exact) -> float:
    """Largest |mean − exact| / standard error over the columns of ``draws`` (n, ...)."""
    draws = np.asarray(draws, dtype=np.float64)
    se = draws.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])
    return float(np.max(np.abs(draws.mean(axis=0) - exact) / se))


def _grad_error(f: Callable[[], float], params: dict, grads: dict, group: str, name: str) -> float:
    return gradcheck.max_relative_error(f, params[group][name], grads[group][name])


# --------------------------------------------------------------------------- rows


def eq3() -> list[Row]:
    """Eq. (1)–(3) on the linear-Gaussian model: the closed-form bound vs Monte Carlo, its gradient, the gap = KL.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (1)–(3).
    """
    x, W, b, lvx, r = _linear_gaussian(30)
    mu, log_var = r.normal(0.0, 0.5, size=(4, 2)), r.normal(-0.5, 0.3, size=(4, 2))
    eps = r.standard_normal((100_000, 4, 2))
    z = mu + np.exp(0.5 * log_var) * eps
    terms = _lg_log_joint(x, W, b, lvx)(z) - dist.log_normal_diag(z, mu, log_var)
    exact = lg.elbo(x, mu, log_var, W, b, lvx)
    rows = [Row("Eq. (3)", "closed-form L(θ,φ;x) of the linear-Gaussian model (linear_gaussian.elbo) vs the Monte "
                "Carlo mean of log p(x,z) − log q(z|x), 100 000 draws", _se_distance(terms, exact), SE_TOL, "SE")]
    gmu, glv = lg.elbo_grad(x, mu, log_var, W, b, lvx)
    f = lambda: float(lg.elbo(x, mu, log_var, W, b, lvx).sum())  # noqa: E731
    err = max(gradcheck.max_relative_error(f, mu, gmu), gradcheck.max_relative_error(f, log_var, glv))
    rows.append(Row("Eq. (3)", "its gradient in (mu, log_var) (linear_gaussian.elbo_grad) vs central differences",
                    err, GRAD_TOL, "relative"))
    gap = lg.log_marginal(x, W, b, lvx) - exact
    m, S = lg.exact_posterior(x, W, b, lvx)
    P = np.linalg.inv(S)
    var = np.exp(log_var)
    kl = 0.5 * (np.sum(var * np.diag(P), axis=1) + np.einsum("ij,jk,ik->i", m - mu, P, m - mu) - 2
                + np.log(np.linalg.det(S)) - np.sum(log_var, axis=1))
    rows.append(Row("Eq. (1)–(3)", "log p(x) − L(θ,φ;x) vs KL(q(z|x) ‖ p(z|x)) written out for the exact "
                    "Gaussian posterior", _max_rel(gap, kl), EXACT_TOL, "relative"))
    return rows


def eq6() -> list[Row]:
    """Eq. (6): estimator A's value vs the formula written out, and its gradient vs central differences.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (6).
    """
    params, x, eps, _ = _small_vae("bernoulli", 60)
    elbo, grads = bounds.estimator_A(params, x, eps)
    mu, log_var, _ = model.encode(params["phi"], x)
    z = mu + np.exp(0.5 * log_var) * eps
    ll = dist.bernoulli_log_likelihood(x, model.decode(params["theta"], z.reshape(-1, 3))["logits"].reshape(2, 5, 12))
    log_pz = -0.5 * np.sum(z * z + np.log(2 * np.pi), axis=-1)  # the prior N(0, I), written out
    written = (ll + log_pz - dist.log_normal_diag(z, mu, log_var)).mean(axis=0)
    f = lambda: float(bounds.estimator_A(params, x, eps, need_grad=False)[0].sum())  # noqa: E731
    err = max(_grad_error(f, params, grads, g, k) for g in params for k in params[g])
    return [Row("Eq. (6)", "estimator A (bounds.estimator_A) vs (1/L) Σ_l log p(x,z_l) − log q(z_l|x) with "
                "log p(z) written out and log q evaluated as a Gaussian density at z", _max_rel(elbo, written), EXACT_TOL, "relative"),
            Row("Eq. (6)", "estimator A's gradient, every φ and θ array, vs central differences", err, GRAD_TOL, "relative")]


def eq7() -> list[Row]:
    """Eq. (7): estimator B's value vs the formula, and A and B having the same mean.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (7).
    """
    params, x, eps, r = _small_vae("bernoulli", 70)
    elbo = bounds.estimator_B(params, x, eps, need_grad=False)[0]
    mu, log_var, _ = model.encode(params["phi"], x)
    z = mu + np.exp(0.5 * log_var) * eps
    ll = model.log_likelihood(x, model.decode(params["theta"], z.reshape(-1, 3)))
    written = dist.neg_kl_standard_normal(mu, log_var) + np.asarray(ll).reshape(2, 5).mean(axis=0)
    rows = [Row("Eq. (7)", "estimator B (bounds.estimator_B) vs −KL(q‖p) + (1/L) Σ_l log p(x|z_l)",
                _max_rel(elbo, written), EXACT_TOL, "relative")]
    big = r.standard_normal((20_000, 5, 3))
    a = bounds.estimator_A(params, x, big, need_grad=False)[0]
    b_ = bounds.estimator_B(params, x, big, need_grad=False)[0]
    # A and B on the same eps: the difference's mean is 0 if both estimate the same L.
    per_sample = (dist.log_standard_normal(mu + np.exp(0.5 * log_var) * big)
                  - dist.log_normal_diag(mu + np.exp(0.5 * log_var) * big, mu, log_var)) - dist.neg_kl_standard_normal(mu, log_var)
    se = per_sample.std(axis=0, ddof=1) / np.sqrt(big.shape[0])
    rows.append(Row("Eq. (7)", "estimators A and B over 20 000 shared draws of eps: same mean (A − B in standard "
                    "errors)", float(np.max(np.abs(a - b_) / se)), SE_TOL, "SE"))
    return rows


def eq8() -> list[Row]:
    """Eq. (8): the N/M scaling of the gradient, and the minibatch estimator's unbiasedness.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (8).
    """
    params, x, eps, r = _small_vae("bernoulli", 80)
    N, M = 600, x.shape[0]
    _, g1 = bounds.estimator_B(params, x, eps)
    _, gs = bounds.estimator_B(params, x, eps, grad_scale=N / M)
    err = max(_max_rel(gs[g][k], N / M * g1[g][k]) for g in g1 for k in g1[g])
    rows = [Row("Eq. (8)", "estimator B with grad_scale = N/M vs N/M × its unscaled gradient, every array",
                err, EXACT_TOL, "relative")]
    data = (r.uniform(size=(60, 12)) < 0.4).astype(np.float64)
    fixed = r.standard_normal((1, 60, 3))
    per_point = bounds.estimator_B(params, data, fixed, need_grad=False)[0]
    draws = []
    for _ in range(20_000):
        idx = r.choice(60, 6, replace=False)
        draws.append(60 / 6 * per_point[idx].sum())
    rows.append(Row("Eq. (8)", "(N/M) Σ_minibatch L̃_i over 20 000 random minibatches (M = 6) vs the full-data "
                    "Σ_i L̃_i (N = 60)", _se_distance(np.array(draws), per_point.sum()), SE_TOL, "SE"))
    return rows


def eq10() -> list[Row]:
    """Eq. (10): the VAE objective vs the same formula in plain NumPy.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (10).
    """
    params, x, eps, _ = _small_vae("bernoulli", 100)
    phi, theta = params["phi"], params["theta"]
    h = np.tanh(x @ phi["W3"].T + phi["b3"])
    mu, log_var = h @ phi["W4"].T + phi["b4"], h @ phi["W5"].T + phi["b5"]
    z = mu + np.sqrt(np.exp(log_var)) * eps
    y = 1 / (1 + np.exp(-(np.tanh(z @ theta["W1"].T + theta["b1"]) @ theta["W2"].T + theta["b2"])))
    written = (0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)
               + np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=-1).mean(axis=0))
    elbo = bounds.estimator_B(params, x, eps, need_grad=False)[0]
    return [Row("Eq. (10)", "the VAE objective (bounds.estimator_B) vs ½ Σ_j (1 + log σ_j² − μ_j² − σ_j²) + "
                "(1/L) Σ_l log p(x|z_l) in plain NumPy, z_l = μ + σ ⊙ ε_l", _max_rel(elbo, written), 1e-12, "relative")]


def appendix_b() -> list[Row]:
    """Appendix B: the closed-form KL vs Monte Carlo, its gradient vs central differences, 0 at the prior.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix B.
    """
    r = np.random.default_rng(200)
    mu, log_var = r.normal(size=(3, 4)), r.normal(0.0, 0.7, size=(3, 4))
    neg_kl = dist.neg_kl_standard_normal(mu, log_var)
    z = mu + np.exp(0.5 * log_var) * r.standard_normal((200_000, 3, 4))
    mc = dist.log_standard_normal(z) - dist.log_normal_diag(z, mu, log_var)
    dmu, dlv = dist.neg_kl_standard_normal_grad(mu, log_var)
    f = lambda: float(dist.neg_kl_standard_normal(mu, log_var).sum())  # noqa: E731
    err = max(gradcheck.max_relative_error(f, mu, dmu), gradcheck.max_relative_error(f, log_var, dlv))
    at_prior = float(np.abs(dist.neg_kl_standard_normal(np.zeros((1, 4)), np.zeros((1, 4)))).max())
    return [Row("App. B", "closed-form −KL (distributions.neg_kl_standard_normal) vs the Monte Carlo mean of "
                "log p(z) − log q(z), 200 000 draws", _se_distance(mc, neg_kl), SE_TOL, "SE"),
            Row("App. B", "its gradient (−μ, ½(1 − σ²)) (neg_kl_standard_normal_grad) vs central differences",
                err, GRAD_TOL, "relative"),
            Row("App. B", "−KL at the prior (μ = 0, log σ² = 0) vs 0", at_prior, 0.0, "nats")]


def _appendix_c(decoder: str, label: str, seed: int) -> list[Row]:
    """Estimator B's gradient for every array of a small VAE with ``decoder``, against central differences."""
    params, x, eps, _ = _small_vae(decoder, seed)
    _, grads = bounds.estimator_B(params, x, eps)
    f = lambda: float(bounds.estimator_B(params, x, eps, need_grad=False)[0].sum())  # noqa: E731
    rows = []
    for group in ("phi", "theta"):
        role = "encoder" if group == "phi" else f"{decoder} decoder"
        for name in params[group]:
            rows.append(Row(label, f"∂L̃/∂{name} of the {role} ({group}.{name}, estimator B's backward pass) vs "
                            "central differences", _grad_error(f, params, grads, group, name), GRAD_TOL, "relative"))
    return rows


def appendix_c1() -> list[Row]:
    """Appendix C.1: one row per parameter array of the encoder and the Bernoulli decoder.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11).
    """
    return _appendix_c("bernoulli", "App. C.1", 301)


def appendix_c2() -> list[Row]:
    """Appendix C.2: one row per parameter array of the encoder and the Gaussian decoder.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12).
    """
    return _appendix_c("gaussian", "App. C.2", 302)


def appendix_d() -> list[Row]:
    """Appendix D and importance sampling against the exact log p(x) of the linear-Gaussian model.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix D.
    """
    x, W, b, lvx, _ = _linear_gaussian(0, M=6)
    exact = lg.log_marginal(x, W, b, lvx)
    m, S = lg.exact_posterior(x, W, b, lvx)
    chol = np.broadcast_to(np.linalg.cholesky(S), (x.shape[0], 2, 2)).copy()
    z = m + np.random.default_rng(400).standard_normal((50, x.shape[0], 2)) @ chol[0].T
    hm = marginal.harmonic_mean_log_px(marginal.gaussian_log_density(z, m, chol), _lg_log_joint(x, W, b, lvx)(z))
    rows = [Row("App. D", "step 3, −log (1/L) Σ q(z_l)/p(x,z_l) with q the exact posterior "
                "(marginal.harmonic_mean_log_px) vs the exact log p(x) (linear_gaussian.log_marginal)",
                float(np.max(np.abs(hm - exact))), 1e-10, "nats")]
    est = marginal.appendix_d_log_px_from_target(_lg_target(x, W, b, lvx), np.zeros((x.shape[0], 2)),
                                                 np.random.default_rng(7), n_fit=300, n_hmc=500, n_burnin=100)
    rows.append(Row("App. D", "the whole estimator, HMC included (marginal.appendix_d_log_px_from_target) vs the "
                    "exact log p(x), 6 datapoints", float(np.max(np.abs(est - exact))), 0.05, "nats"))
    res = marginal.importance_log_px(_lg_log_joint(x, W, b, lvx), marginal.gaussian_proposal(m, chol), 100,
                                     np.random.default_rng(401))
    rows.append(Row("App. D, IS", "importance sampling with the exact posterior as proposal "
                    "(marginal.importance_log_px, K = 100) vs the exact log p(x)",
                    float(np.max(np.abs(res.log_px - exact))), 1e-10, "nats"))
    res = marginal.hmc_importance_log_px_from_target(_lg_target(x, W, b, lvx), _lg_log_joint(x, W, b, lvx),
                                                     np.zeros((x.shape[0], 2)), 2000, np.random.default_rng(8),
                                                     n_fit=200, n_burnin=200)
    rows.append(Row("App. D, IS", "importance sampling from a Gaussian fitted to HMC samples "
                    "(marginal.hmc_importance_log_px_from_target, K = 2000) vs the exact log p(x)",
                    float(np.max(np.abs(res.log_px - exact) / res.stderr)), SE_TOL, "SE"))
    return rows


def _linreg_problem(seed: int):
    r = np.random.default_rng(seed)
    X = 0.5 * r.standard_normal((64, 4)) @ (np.eye(4) + 0.8 * np.eye(4, k=1))
    y = X @ r.standard_normal(4) + np.sqrt(0.5) * r.standard_normal(64)
    params = {"theta_mu": {"w": r.standard_normal(4)}, "theta_log_var": {"w": r.normal(-1.0, 0.5, 4)}}
    return X, y, 0.5, params, r


def appendix_f() -> list[Row]:
    """Appendix F: the KL over θ vs Monte Carlo, the full-VB gradient, unbiasedness on Bayesian linear regression.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix F (Eq. 13–24).
    """
    r = np.random.default_rng(500)
    params = fv.init_full_vb_params(10, 6, 3, r, "bernoulli", init_std=0.5)
    for a in params["theta_log_var"].values():
        a[...] = r.normal(-2.0, 0.5, size=a.shape)
    x = r.uniform(0.1, 0.9, size=(5, 10))
    neg_kl = fv.neg_kl_theta(params)
    draws = []
    for _ in range(4000):
        theta = fv.sample_theta(params, fv.draw_zeta(params, r))
        draws.append(sum(float(dist.log_standard_normal(theta[k].reshape(1, -1))[0]
                               - dist.log_normal_diag(theta[k].reshape(1, -1), params["theta_mu"][k].reshape(1, -1),
                                                      params["theta_log_var"][k].reshape(1, -1))[0]) for k in theta))
    rows = [Row("App. F, Eq. (24)", "closed-form −KL(q(θ) ‖ p(θ)) (full_vb.neg_kl_theta) vs the Monte Carlo mean of "
                "log p(θ) − log q(θ), 4 000 draws of θ", _se_distance(np.array(draws), neg_kl), SE_TOL, "SE")]
    eps, zeta = r.standard_normal((1, 5, 3)), fv.draw_zeta(params, r)
    _, grads = fv.full_vb_estimator(params, x, eps, zeta, 40)
    f = lambda: float(fv.full_vb_estimator(params, x, eps, zeta, 40, need_grad=False, validate=False)[0].sum())  # noqa: E731
    err = max(_grad_error(f, params, grads, g, k) for g in params for k in params[g])
    rows.append(Row("App. F", "the full-VB estimator's gradient (full_vb.full_vb_estimator), every μ_θ, log σ_θ² "
                    "and φ array, vs central differences", err, GRAD_TOL, "relative"))
    X, y, s2, lin, r = _linreg_problem(6)
    N, M = X.shape[0], 16
    est = []
    for _ in range(4000):
        idx = r.choice(N, M, replace=False)
        bound, _ = fv.linreg_estimator(lin, X[idx], y[idx], fv.draw_zeta(lin, r), N, s2, need_grad=False)
        est.append(N / M * bound.sum())
    exact = fv.linreg_elbo(X, y, s2, lin["theta_mu"]["w"], lin["theta_log_var"]["w"])
    rows.append(Row("App. F", "(N/M) Σ_minibatch of the estimator for Bayesian linear regression, 4 000 draws of "
                    "(ζ, minibatch), vs its exact bound L(φ; X) (full_vb.linreg_elbo)",
                    _se_distance(np.array(est), exact), SE_TOL, "SE"))
    return rows


CHECKS = (
    Check("equation", "3", eq3),
    Check("equation", "6", eq6),
    Check("equation", "7", eq7),
    Check("equation", "8", eq8),
    Check("equation", "10", eq10),
    Check("appendix", "B", appendix_b),
    Check("appendix", "C", appendix_c1),
    Check("appendix", "C", appendix_c2),
    Check("appendix", "D", appendix_d),
    Check("appendix", "F", appendix_f),
)
EQUATIONS = sorted({c.key for c in CHECKS if c.kind == "equation"}, key=int)
APPENDICES = sorted({c.key for c in CHECKS if c.kind == "appendix"})


def run(equations=None, appendices=None) -> list[Row]:
    """The report's rows, for the selected equations and appendices (all when both are None).

    Parameters
    ----------
    equations : iterable of str, optional
        Equation numbers, e.g. ``["3", "10"]`` (of :data:`EQUATIONS`).
    appendices : iterable of str, optional
        Appendix letters, e.g. ``["B"]`` (of :data:`APPENDICES`).

    Returns
    -------
    list of Row

    Raises
    ------
    ValueError
        An equation or appendix that has no rows.
    """
    eqs = None if equations is None else {str(e).strip("() ") for e in equations}
    apps = None if appendices is None else {str(a).strip().upper() for a in appendices}
    for given, known, what in ((eqs, EQUATIONS, "equation"), (apps, APPENDICES, "appendix")):
        unknown = sorted((given or set()) - set(known))
        if unknown:
            raise ValueError(f"no rows for {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    everything = eqs is None and apps is None
    rows: list[Row] = []
    for check in CHECKS:
        chosen = (check.key in eqs if eqs is not None and check.kind == "equation" else False) or \
                 (check.key in apps if apps is not None and check.kind == "appendix" else False)
        if everything or chosen:
            rows.extend(check.run())
    return rows


def _error_text(row: Row) -> tuple[str, str]:
    if row.unit == "SE":
        return f"{row.error:.2f} SE", f"{row.tolerance:g} SE"
    if row.unit == "nats":
        return f"{row.error:.2g} nats", f"{row.tolerance:g} nats"
    return f"{row.error:.1e}", f"{row.tolerance:g}"


def format_rows(rows: list[Row], fmt: str = "text") -> str:
    """The report as a text table or a markdown table (``fmt`` "text" or "markdown").

    Parameters
    ----------
    rows : list of Row
        From :func:`run`.
    fmt : {"text", "markdown"}
        ``"text"`` wraps the "compared" column at 96 characters; ``"markdown"`` gives
        the table of the docs' derivations page.

    Returns
    -------
    str
        The table and a last line "K of N rows pass.", ending with a newline.

    Raises
    ------
    ValueError
        ``fmt`` is neither "text" nor "markdown".
    """
    header = ("equation", "compared", "error", "tolerance", "result")
    body = [(r.where, r.compared, *_error_text(r), "pass" if r.passed else "FAIL") for r in rows]
    n_pass = sum(r.passed for r in rows)
    summary = f"{n_pass} of {len(rows)} rows pass"
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
        return "\n".join(lines) + f"\n\n{summary}.\n"
    if fmt != "text":
        raise ValueError(f"format must be 'text' or 'markdown', got {fmt!r}")
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    widths[1] = min(widths[1], 96)
    lines = []

    def emit(cells):
        compared = cells[1]
        first = True
        while first or compared:
            cut = compared.rfind(" ", 0, widths[1])  # wrap at the last space that fits, else mid-word
            chunk = compared if len(compared) <= widths[1] else compared[: cut if cut > 0 else widths[1]]
            compared = compared[len(chunk):].lstrip()
            row = [cells[0] if first else "", chunk] + [c if first else "" for c in cells[2:]]
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            first = False

    emit(header)
    lines.append("  ".join("-" * w for w in widths))
    for cells in body:
        emit(cells)
    return "\n".join(lines) + f"\n\n{summary}.\n"


def main(argv=None) -> int:
    """Command line: print the report; exit 0 if every selected row passes, 1 if one fails.

    Parameters
    ----------
    argv : list of str, optional
        ``--equation N`` and ``--appendix X`` (repeatable), ``--format text|markdown``;
        default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 if every selected row passes, else 1.

    Raises
    ------
    SystemExit
        From argparse: ``--help`` (status 0) or an unknown choice (status 2).
    """
    parser = argparse.ArgumentParser(prog="python -m aevb_np.check",
                                     description="The paper's derivations checked against the code, one row per comparison.")
    parser.add_argument("--equation", action="append", metavar="N", choices=EQUATIONS,
                        help=f"select the rows of Eq. (N); repeatable; one of {', '.join(EQUATIONS)}")
    parser.add_argument("--appendix", action="append", metavar="X", type=str.upper, choices=APPENDICES,
                        help=f"select the rows of Appendix X; repeatable; one of {', '.join(APPENDICES)}")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.equation, args.appendix)
    print(format_rows(rows, args.format), end="")
    if args.format == "text":
        print(f"(seeded; {time.perf_counter() - start:.1f} s)")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
