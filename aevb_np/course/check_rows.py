"""The rows of the check report (:mod:`aevb_np.course.check`): the paper's derivations against the code.

One function per equation or appendix of Kingma & Welling (2014); each returns its rows: what
is compared with what, the measured error, the tolerance.  Every row calls the package's own
functions (the estimators of :mod:`aevb_np.bounds`, the densities of :mod:`aevb_np.distributions`,
the exact models of :mod:`aevb_np.linear_gaussian` and :mod:`aevb_np.full_vb`, the estimators of
:mod:`aevb_np.marginal`, the update of :class:`aevb_np.algorithms.AEVB`) and compares them with an
independent reference: central differences (:mod:`aevb_np.gradcheck`), the formula written out in
plain NumPy, an exact closed form, or a Monte Carlo mean with its standard error.  Nothing here
re-implements the package's math; it only measures it, and ``tests/test_check.py`` plants an error
in the quantity of every row and sees that row fail.

Units of the error column: ``"relative"`` is ``|a − b| / max(1e-8, |a| + |b|)``
(:func:`aevb_np.gradcheck.relative_error`), the largest over the entries compared; ``"nats"`` is
the largest absolute difference of log-densities per datapoint; ``"SE"`` is
``|Monte Carlo mean − exact value|`` in standard errors of that mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from aevb_np import algorithms, bounds, gradcheck, marginal, model
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
        The paper's label, e.g. ``"Eq. (10)"`` or ``"App. C.1"`` (the Bernoulli decoder;
        the Gaussian MLPs, encoder and Frey Face decoder, are App. C.2).
    compared : str
        What is compared with what.
    error : float
        The measured error, in ``unit``.
    tolerance : float
        The row passes when ``error <= tolerance``.
    unit : str
        ``"relative"``, ``"nats"`` or ``"SE"`` (Monte Carlo standard errors).
    name : str
        A short stable identifier, e.g. ``"eq3.bound"`` or ``"C.bernoulli.phi.W3"``:
        ``tests/test_check.py`` names the row each planted error must fail by it.
    """

    where: str
    compared: str
    error: float
    tolerance: float
    unit: str
    name: str = ""

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
                "Carlo mean of log p(x,z) − log q(z|x), 100 000 draws", _se_distance(terms, exact), SE_TOL, "SE", "eq3.bound")]
    gmu, glv = lg.elbo_grad(x, mu, log_var, W, b, lvx)
    f = lambda: float(lg.elbo(x, mu, log_var, W, b, lvx).sum())  # noqa: E731
    err = max(gradcheck.max_relative_error(f, mu, gmu), gradcheck.max_relative_error(f, log_var, glv))
    rows.append(Row("Eq. (3)", "its gradient in (mu, log_var) (linear_gaussian.elbo_grad) vs central differences",
                    err, GRAD_TOL, "relative", "eq3.grad"))
    gap = lg.log_marginal(x, W, b, lvx) - exact
    m, S = lg.exact_posterior(x, W, b, lvx)
    P = np.linalg.inv(S)
    var = np.exp(log_var)
    kl = 0.5 * (np.sum(var * np.diag(P), axis=1) + np.einsum("ij,jk,ik->i", m - mu, P, m - mu) - 2
                + np.log(np.linalg.det(S)) - np.sum(log_var, axis=1))
    rows.append(Row("Eq. (1)–(3)", "log p(x) − L(θ,φ;x) vs KL(q(z|x) ‖ p(z|x)) written out for the exact "
                    "Gaussian posterior", _max_rel(gap, kl), EXACT_TOL, "relative", "eq3.gap"))
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
                "log p(z) written out and log q evaluated as a Gaussian density at z", _max_rel(elbo, written), EXACT_TOL, "relative",
                "eq6.value"),
            Row("Eq. (6)", "estimator A's gradient, every φ and θ array, vs central differences", err, GRAD_TOL, "relative",
                "eq6.grad")]


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
                _max_rel(elbo, written), EXACT_TOL, "relative", "eq7.value")]
    big = r.standard_normal((20_000, 5, 3))
    a = bounds.estimator_A(params, x, big, need_grad=False)[0]
    b_ = bounds.estimator_B(params, x, big, need_grad=False)[0]
    # A and B on the same eps: the difference's mean is 0 if both estimate the same L.
    per_sample = (dist.log_standard_normal(mu + np.exp(0.5 * log_var) * big)
                  - dist.log_normal_diag(mu + np.exp(0.5 * log_var) * big, mu, log_var)) - dist.neg_kl_standard_normal(mu, log_var)
    se = per_sample.std(axis=0, ddof=1) / np.sqrt(big.shape[0])
    rows.append(Row("Eq. (7)", "estimators A and B over 20 000 shared draws of eps: same mean (A − B in standard "
                    "errors)", float(np.max(np.abs(a - b_) / se)), SE_TOL, "SE", "eq7.a_vs_b"))
    return rows


class _Recorder:
    """Stands in for the optimizer of Algorithm 1: keeps a copy of the gradient it is handed."""

    def step(self, params, grads) -> None:
        self.grads = {g: {k: v.copy() for k, v in grads[g].items()} for g in grads}


def eq8() -> list[Row]:
    """Eq. (8): the N/M scaling of the gradient, in the estimator and in Algorithm 1's update.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Eq. (8), Algorithm 1.
    """
    params, x, eps, r = _small_vae("bernoulli", 80)
    N, M = 600, x.shape[0]
    _, g1 = bounds.estimator_B(params, x, eps)
    _, gs = bounds.estimator_B(params, x, eps, grad_scale=N / M)
    err = max(_max_rel(gs[g][k], N / M * g1[g][k]) for g in g1 for k in g1[g])
    rows = [Row("Eq. (8)", "estimator B with grad_scale = N/M vs N/M × its unscaled gradient, every array",
                err, EXACT_TOL, "relative", "eq8.grad_scale")]
    # Algorithm 1's update on a training set of N points: the gradient it hands the optimizer
    # must be N/M times the minibatch's, with N the training set's size (Eq. 8).
    x_train = (r.uniform(size=(N, 12)) < 0.4).astype(np.float64)
    part = algorithms.AEVB(algorithms.part_config("bernoulli", 7, 3, batch_size=M), n_x=12, n_train=N)
    idx = r.choice(N, M, replace=False)
    step_rng = np.random.default_rng(81)
    eps_step = np.random.default_rng(81).standard_normal((1, M, 3))  # the draws the step makes
    recorder = _Recorder()
    part.step(params, x_train, idx, step_rng, recorder)
    _, g_mb = bounds.estimator_B(params, x_train[idx], eps_step)
    err = max(_max_rel(recorder.grads[g][k], N / M * g_mb[g][k]) for g in g_mb for k in g_mb[g])
    rows.append(Row("Eq. (8)", "Algorithm 1's update (algorithms.AEVB.step, N = 600, M = 5): the gradient it hands "
                    "the optimizer vs N/M × estimator B's gradient on the same minibatch and eps",
                    err, EXACT_TOL, "relative", "eq8.algorithm_1"))
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
                "(1/L) Σ_l log p(x|z_l) in plain NumPy, z_l = μ + σ ⊙ ε_l", _max_rel(elbo, written), 1e-12, "relative", "eq10.value")]


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
                "log p(z) − log q(z), 200 000 draws", _se_distance(mc, neg_kl), SE_TOL, "SE", "B.mc"),
            Row("App. B", "its gradient (−μ, ½(1 − σ²)) (neg_kl_standard_normal_grad) vs central differences",
                err, GRAD_TOL, "relative", "B.grad"),
            Row("App. B", "−KL at the prior (μ = 0, log σ² = 0) vs 0", at_prior, 0.0, "nats", "B.prior")]


def _appendix_c(decoder: str, seed: int) -> list[Row]:
    """Estimator B's gradient for every array of a small VAE with ``decoder``, against central differences.

    The encoder is the Gaussian MLP of App. C.2 whatever the decoder; the decoder is App. C.1's
    Bernoulli MLP or App. C.2's Gaussian MLP.
    """
    params, x, eps, _ = _small_vae(decoder, seed)
    _, grads = bounds.estimator_B(params, x, eps)
    f = lambda: float(bounds.estimator_B(params, x, eps, need_grad=False)[0].sum())  # noqa: E731
    rows = []
    for group in ("phi", "theta"):
        if group == "phi":
            label, role = "App. C.2", f"Gaussian MLP encoder (with the {decoder.capitalize()} decoder)"
        else:
            label, role = ("App. C.1", "Bernoulli MLP decoder") if decoder == "bernoulli" else \
                ("App. C.2", "Gaussian MLP decoder")
        for name in params[group]:
            rows.append(Row(label, f"∂L̃/∂{name} of the {role} ({group}.{name}, estimator B's backward pass) vs "
                            "central differences", _grad_error(f, params, grads, group, name), GRAD_TOL, "relative",
                            f"C.{decoder}.{group}.{name}"))
    return rows


def appendix_c1() -> list[Row]:
    """Appendices C.1 and C.2 with the Bernoulli decoder: one row per parameter array.

    The decoder's rows are labelled App. C.1 (the Bernoulli MLP), the encoder's App. C.2
    (the Gaussian MLP).  Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11) and C.2 (Eq. 12).
    """
    return _appendix_c("bernoulli", 301)


def appendix_c2() -> list[Row]:
    """Appendix C.2: one row per parameter array of the Gaussian encoder and the Gaussian decoder.

    Seeded: the same rows on every call.

    Returns
    -------
    list of Row
        One per comparison (error, tolerance and unit in each row).

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12).
    """
    return _appendix_c("gaussian", 302)


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
                float(np.max(np.abs(hm - exact))), 1e-10, "nats", "D.harmonic")]
    est = marginal.appendix_d_log_px_from_target(_lg_target(x, W, b, lvx), np.zeros((x.shape[0], 2)),
                                                 np.random.default_rng(7), n_fit=300, n_hmc=500, n_burnin=100)
    rows.append(Row("App. D", "the whole estimator, HMC included (marginal.appendix_d_log_px_from_target) vs the "
                    "exact log p(x), 6 datapoints", float(np.max(np.abs(est - exact))), 0.05, "nats", "D.estimator"))
    res = marginal.importance_log_px(_lg_log_joint(x, W, b, lvx), marginal.gaussian_proposal(m, chol), 100,
                                     np.random.default_rng(401))
    rows.append(Row("App. D, IS", "importance sampling with the exact posterior as proposal "
                    "(marginal.importance_log_px, K = 100) vs the exact log p(x)",
                    float(np.max(np.abs(res.log_px - exact))), 1e-10, "nats", "D.is_exact"))
    res = marginal.hmc_importance_log_px_from_target(_lg_target(x, W, b, lvx), _lg_log_joint(x, W, b, lvx),
                                                     np.zeros((x.shape[0], 2)), 2000, np.random.default_rng(8),
                                                     n_fit=200, n_burnin=200)
    rows.append(Row("App. D, IS", "importance sampling from a Gaussian fitted to HMC samples "
                    "(marginal.hmc_importance_log_px_from_target, K = 2000) vs the exact log p(x)",
                    float(np.max(np.abs(res.log_px - exact) / res.stderr)), SE_TOL, "SE", "D.is_hmc"))
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
                "log p(θ) − log q(θ), 4 000 draws of θ", _se_distance(np.array(draws), neg_kl), SE_TOL, "SE", "F.kl")]
    eps, zeta = r.standard_normal((1, 5, 3)), fv.draw_zeta(params, r)
    _, grads = fv.full_vb_estimator(params, x, eps, zeta, 40)
    f = lambda: float(fv.full_vb_estimator(params, x, eps, zeta, 40, need_grad=False, validate=False)[0].sum())  # noqa: E731
    err = max(_grad_error(f, params, grads, g, k) for g in params for k in params[g])
    rows.append(Row("App. F", "the full-VB estimator's gradient (full_vb.full_vb_estimator), every μ_θ, log σ_θ² "
                    "and φ array, vs central differences", err, GRAD_TOL, "relative", "F.grad"))
    X, y, s2, lin, r = _linreg_problem(6)
    N, M = X.shape[0], 16
    # Each draw: a random partition of the N points into N/M minibatches, each with its own ζ and
    # its antithetic −ζ, and the mean of their N/M-scaled estimates: still an unbiased estimate of
    # L(φ; X), with a standard error of 0.8 nats instead of 3.2 for single minibatches (too
    # coarse to see a KL divided by M instead of N).
    est = []
    for _ in range(500):
        values = []
        for idx in r.permutation(N).reshape(N // M, M):
            zeta = fv.draw_zeta(lin, r)
            for z in (zeta, {k: -v for k, v in zeta.items()}):
                values.append(N / M * fv.linreg_estimator(lin, X[idx], y[idx], z, N, s2, need_grad=False)[0].sum())
        est.append(np.mean(values))
    exact = fv.linreg_elbo(X, y, s2, lin["theta_mu"]["w"], lin["theta_log_var"]["w"])
    rows.append(Row("App. F", "(N/M) Σ_minibatch of the estimator for Bayesian linear regression (N = 64, M = 16), "
                    "each draw the mean over the minibatches of a random partition and over ±ζ, 500 draws, vs its exact "
                    "bound L(φ; X) (full_vb.linreg_elbo)",
                    _se_distance(np.array(est), exact), SE_TOL, "SE", "F.linreg"))
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
