"""A conjugate check of Appendix F: Bayesian linear regression.

y_n = x_n · w + noise,  noise ~ N(0, s²) with s² known,  prior p_α(w) = N(0, I).
The posterior over θ = {w} is Gaussian in closed form, so the optimized q_φ(θ) can be
compared with exact numbers.  The estimator below uses the same sample_theta,
theta_backward and neg_kl_theta as the VAE; only the likelihood differs.

References
----------
Kingma & Welling (2014), Appendix F.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from aevb_np import distributions as dist
from aevb_np import optim
from aevb_np.checks import check_finite, check_float_array
from aevb_np.errors import ConfigError
from aevb_np.full_vb.estimator import _check_n_train, draw_zeta, neg_kl_theta, sample_theta, theta_backward
from aevb_np.params import Params, allocate


def _check_linreg(X, y, noise_var):
    check_float_array("X", X, ndim=2)
    check_float_array("y", y, shape=(X.shape[0],))
    check_finite("X", X)
    check_finite("y", y)
    if not (np.isfinite(noise_var) and noise_var > 0):
        raise ConfigError(f"noise_var must be a positive finite number, got {noise_var!r}")


def linreg_log_evidence(X: np.ndarray, y: np.ndarray, noise_var: float) -> float:
    """Exact log p(y | X) = log N(y; 0, X Xᵀ + s² I) with w integrated out.

    Parameters
    ----------
    X : ndarray, shape (N, P)
    y : ndarray, shape (N,)
    noise_var : float
        s², the known noise variance.

    Returns
    -------
    float
        Nats, for the whole dataset.

    References
    ----------
    Kingma & Welling (2014), Appendix F: the quantity log p_α(X) that L(φ; X) bounds.
    """
    _check_linreg(X, y, noise_var)
    N = X.shape[0]
    factor = cho_factor(X @ X.T + noise_var * np.eye(N), lower=True)
    log_det = 2.0 * np.sum(np.log(np.diag(factor[0])))
    return float(-0.5 * (N * dist.LOG_2PI + log_det + y @ cho_solve(factor, y)))


def linreg_exact_posterior(X: np.ndarray, y: np.ndarray, noise_var: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact posterior p(w | X, y) = N(m, Λ⁻¹), Λ = I + XᵀX / s², m = Λ⁻¹ Xᵀ y / s².

    Parameters
    ----------
    X, y, noise_var
        As in :func:`linreg_log_evidence`.

    Returns
    -------
    mean : ndarray, shape (P,)
    cov : ndarray, shape (P, P)

    References
    ----------
    Bishop (2006), §3.3.1 (the conjugate posterior of Bayesian linear regression).
    """
    _check_linreg(X, y, noise_var)
    factor = cho_factor(np.eye(X.shape[1]) + X.T @ X / noise_var, lower=True)
    return cho_solve(factor, X.T @ y / noise_var), cho_solve(factor, np.eye(X.shape[1]))


def linreg_elbo(X: np.ndarray, y: np.ndarray, noise_var: float, mu: np.ndarray, log_var: np.ndarray) -> float:
    """Exact L(φ; X) for q(w) = N(mu, diag(exp(log_var))): E_q[log p(y|X, w)] − KL(q ‖ N(0, I)).

    ``E_q[(y_n − x_n·w)²] = (y_n − x_n·mu)² + Σ_j x_nj² σ_j²``, so the expectation is in
    closed form; the bound equals :func:`linreg_log_evidence` exactly when q is the
    posterior, and falls short by KL(q ‖ posterior) otherwise.

    Parameters
    ----------
    X, y, noise_var
        As in :func:`linreg_log_evidence`.
    mu, log_var : ndarray, shape (P,)
        Mean and log σ² of q(w).

    Returns
    -------
    float
        Nats, for the whole dataset.

    References
    ----------
    Kingma & Welling (2014), Appendix F (L(φ; X)) and Eq. (24) (the Gaussian KL).
    """
    _check_linreg(X, y, noise_var)
    resid = y - X @ mu
    expected_sq = resid * resid + (X * X) @ np.exp(log_var)
    expected_ll = -0.5 * np.sum(np.log(2.0 * np.pi * noise_var) + expected_sq / noise_var)
    return float(expected_ll + dist.neg_kl_standard_normal(mu, log_var))


def linreg_optimal_mean_field(X: np.ndarray, y: np.ndarray, noise_var: float) -> tuple[np.ndarray, np.ndarray]:
    """The best factorized Gaussian q(w): mean m (the posterior mean) and σ_j² = 1 / Λ_jj.

    Setting the gradient of :func:`linreg_elbo` to zero: ∂/∂mu gives Λ mu = Xᵀy/s², and
    ∂/∂log σ_j² = ½ − ½ σ_j² Λ_jj gives σ_j² = 1/Λ_jj.  Equal to the posterior when
    XᵀX is diagonal.

    Parameters
    ----------
    X, y, noise_var
        As in :func:`linreg_log_evidence`.

    Returns
    -------
    mu, log_var : ndarray, shape (P,)

    References
    ----------
    Bishop (2006), §10.1.2 (factorized approximations of a correlated Gaussian).
    """
    mean, _ = linreg_exact_posterior(X, y, noise_var)
    precision_diag = 1.0 + np.sum(X * X, axis=0) / noise_var
    return mean, -np.log(precision_diag)


def linreg_estimator(params: Params, X: np.ndarray, y: np.ndarray, zeta: dict, n_train: int,
                     noise_var: float, need_grad: bool = True):
    """Appendix F's estimator for Bayesian linear regression, per datapoint, with its gradient.

    ``bound_n = log N(y_n; x_n · w̃, s²) − KL(q(w) ‖ N(0, I)) / N`` with w̃ = μ + σ ⊙ ζ:
    the same scaling as :func:`full_vb_estimator` (no z here, so no ε).

    Parameters
    ----------
    params : dict
        ``{"theta_mu": {"w": (P,)}, "theta_log_var": {"w": (P,)}}``.
    X : ndarray, shape (M, P)
    y : ndarray, shape (M,)
    zeta : dict
        ``{"w": (P,)}`` standard-normal noise.
    n_train : int
        N (>= M).
    noise_var : float
        Known s².
    need_grad : bool

    Returns
    -------
    bound : ndarray, shape (M,)
        Nats per datapoint.
    grads : dict
        ``{"theta_mu": {"w"}, "theta_log_var": {"w"}}``: the gradient of ``bound.sum()``.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24).
    """
    _check_linreg(X, y, noise_var)
    N = _check_n_train(n_train, X.shape[0])
    w = sample_theta(params, zeta)["w"]
    log_var_y = np.full(1, np.log(noise_var), dtype=X.dtype)
    pred = (X @ w)[:, None]
    bound = dist.log_normal_diag(y[:, None], pred, log_var_y) + neg_kl_theta(params) / N
    if not need_grad:
        return bound, None
    # ∂/∂w̃ Σ_n log N(y_n; x_n·w̃, s²) = Σ_n x_n (y_n − x_n·w̃)/s².
    dpred, _ = dist.log_normal_diag_grad(y[:, None], pred, log_var_y)
    dmu, dlog_var = theta_backward(params, zeta, {"w": X.T @ dpred[:, 0]}, kl_weight=X.shape[0] / N)
    return bound, {"theta_mu": dmu, "theta_log_var": dlog_var}


def fit_linreg(X: np.ndarray, y: np.ndarray, noise_var: float, rng: np.random.Generator, *, steps: int = 3000,
               batch_size: int = 16, lr: float = 1.0, init_log_var: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Fit q(w) = N(mu, diag(σ²)) by Adagrad on :func:`linreg_estimator`, one ζ per minibatch.

    The same loop as :func:`train_full_vb` (``Adagrad(lr, scale=N/M, weight_decay=False)``,
    epochs in random order).  A stochastic-gradient iterate keeps jittering around the
    optimum, so the result is the average of the iterates over the second half of the
    run (Polyak–Ruppert averaging), which converges to the optimum itself.

    Parameters
    ----------
    X : ndarray, shape (N, P)
    y : ndarray, shape (N,)
    noise_var : float
    rng : numpy.random.Generator
    steps, batch_size : int
    lr : float
    init_log_var : float
        Starting log σ² (0: the prior's variance); the means start at 0.

    Returns
    -------
    mu, log_var : ndarray, shape (P,)

    References
    ----------
    Kingma & Welling (2014), Appendix F, Algorithm 2; Polyak & Juditsky (1992).
    """
    _check_linreg(X, y, noise_var)
    N, P = X.shape
    _check_n_train(N, batch_size)
    _, params = allocate({"theta_mu": {"w": (P,)}, "theta_log_var": {"w": (P,)}}, X.dtype)
    params["theta_log_var"]["w"][...] = init_log_var
    opt = optim.Adagrad(lr, scale=N / batch_size, weight_decay=False)
    mu_sum, log_var_sum, n_avg = np.zeros(P), np.zeros(P), 0
    perm, position = rng.permutation(N), 0
    for step in range(steps):
        if position + batch_size > N:
            perm, position = rng.permutation(N), 0
        idx = perm[position : position + batch_size]
        position += batch_size
        _, grads = linreg_estimator(params, X[idx], y[idx], draw_zeta(params, rng), N, noise_var)
        opt.step(params, grads)
        if step >= steps // 2:
            mu_sum += params["theta_mu"]["w"]
            log_var_sum += params["theta_log_var"]["w"]
            n_avg += 1
    return mu_sum / n_avg, log_var_sum / n_avg
