"""A linear-Gaussian latent-variable model in which every quantity of §2 is exact.

The model (probabilistic PCA / factor analysis with a diagonal Gaussian q)::

    p(z)      = N(z; 0, I)                          z ∈ R^Nz
    p(x|z)    = N(x; W z + b, diag(s²))             x ∈ R^D,  s² = exp(log_var_x)
    q(z|x)    = N(z; mu, diag(σ²))                  σ² = exp(log_var), free parameters

``W`` has shape (D, Nz), the paper's ``(n_out, n_in)`` orientation, so a batch of rows
maps as ``z @ W.T + b``.  ``log_var_x`` is a scalar or one value per pixel (D,).

Because everything is Gaussian and linear, the marginal likelihood, the posterior and the
lower bound L(θ, φ; x) of Eq. (3) have closed forms.  This module gives them so that the
Monte Carlo estimators of §2.3 (Eq. 6 and 7) and the marginal-likelihood estimators can
be checked against exact numbers rather than against each other:

* ``log p(x) = log N(x; b, W Wᵀ + diag(s²))``;
* ``p(z|x) = N(m, Σ)`` with ``Σ = (I + Wᵀ diag(1/s²) W)⁻¹`` and
  ``m = Σ Wᵀ diag(1/s²) (x − b)``;
* ``L = E_q[log p(x|z)] − KL(q ‖ p)`` where, for ``z ~ N(mu, diag(σ²))``,
  ``E_q[(x_d − (W z)_d − b_d)²] = (x_d − (W mu)_d − b_d)² + Σ_j W_dj² σ_j²``.

Units: nats per datapoint (log-densities over R^D).

References
----------
Kingma & Welling (2014), §2.2 Eq. (1)–(3), §2.3, Appendix B; Tipping & Bishop (1999)
for the marginal and posterior of this model.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from aevb_np import distributions as dist
from aevb_np.checks import check_finite, check_float_array
from aevb_np.errors import ShapeError

__all__ = [
    "elbo",
    "elbo_grad",
    "exact_posterior",
    "log_likelihood",
    "log_likelihood_grad_z",
    "log_marginal",
]


def _check_model(x, W, b, log_var_x):
    """Validate the data and the generative parameters; return ``log_var_x`` as an array."""
    check_float_array("W", W, ndim=2)
    D, _ = W.shape
    check_float_array("x", x, shape=(None, D))
    check_float_array("b", b, shape=(D,))
    log_var_x = np.asarray(log_var_x, dtype=W.dtype)
    if log_var_x.shape not in ((), (D,)):
        raise ShapeError(f"log_var_x must be a scalar or have shape ({D},), got {log_var_x.shape}")
    for name, a in (("x", x), ("W", W), ("b", b), ("log_var_x", log_var_x)):
        check_finite(name, a)
    return log_var_x


def _check_q(x, W, mu, log_var):
    """Validate the variational parameters against the batch size M and latent size Nz."""
    shape = (x.shape[0], W.shape[1])
    for name, a in (("mu", mu), ("log_var", log_var)):
        check_float_array(name, a, shape=shape)
        check_finite(name, a)


def _check_z(x, W, z):
    """Validate latent samples: (L, M, Nz) or (M, Nz)."""
    check_float_array("z", z)
    want = (x.shape[0], W.shape[1])
    if z.ndim not in (2, 3) or z.shape[-2:] != want:
        raise ShapeError(f"z must have shape (L, {want[0]}, {want[1]}) or {want}, got {z.shape}")
    check_finite("z", z)


def log_marginal(x, W, b, log_var_x):
    """Exact log p(x) = log N(x; b, W Wᵀ + diag(s²)) for each row of ``x``.

    Parameters
    ----------
    x : ndarray, shape (M, D)
    W : ndarray, shape (D, Nz)
    b : ndarray, shape (D,)
    log_var_x : float or ndarray, shape (D,)
        log s², the observation-noise log-variance.

    Returns
    -------
    ndarray, shape (M,)
        log p(x_i) in nats.

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.1 (the marginal likelihood the bound of Eq. (3) bounds).
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    D = W.shape[0]
    # Marginalising z out of x = W z + b + noise gives cov = W Wᵀ + diag(s²).
    cov = W @ W.T + np.diag(np.broadcast_to(np.exp(log_var_x), (D,)))
    chol = np.linalg.cholesky(cov)
    # With cov = C Cᵀ: (x−b)ᵀ cov⁻¹ (x−b) = ‖C⁻¹(x−b)‖² and log det cov = 2 Σ log C_dd.
    white = solve_triangular(chol, (x - b).T, lower=True)
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    return -0.5 * (D * dist.LOG_2PI + log_det + np.sum(white * white, axis=0))


def exact_posterior(x, W, b, log_var_x):
    """The exact posterior p(z|x) = N(m, Σ) of the linear-Gaussian model.

    Parameters
    ----------
    x, W, b, log_var_x
        As in :func:`log_marginal`.

    Returns
    -------
    mean : ndarray, shape (M, Nz)
        Posterior means ``m_i = Σ Wᵀ diag(1/s²) (x_i − b)``.
    cov : ndarray, shape (Nz, Nz)
        Posterior covariance ``Σ = (I + Wᵀ diag(1/s²) W)⁻¹``, shared by every x.

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.1 (the intractable-in-general posterior p_θ(z|x)).
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    D, Nz = W.shape
    inv_var_x = np.broadcast_to(np.exp(-log_var_x), (D,))
    # Posterior precision: prior precision I plus the likelihood's Wᵀ diag(1/s²) W.
    precision = np.eye(Nz) + W.T @ (W * inv_var_x[:, None])
    factor = cho_factor(precision, lower=True)
    cov = cho_solve(factor, np.eye(Nz))
    # Rows: m_i = Λ⁻¹ Wᵀ diag(1/s²) (x_i − b), solved for all i at once.
    mean = cho_solve(factor, (((x - b) * inv_var_x) @ W).T).T
    return mean, cov


def log_likelihood(x, z, W, b, log_var_x):
    """log p(x|z) = log N(x; W z + b, diag(s²)), for L samples of z per datapoint.

    Parameters
    ----------
    x : ndarray, shape (M, D)
    z : ndarray, shape (L, M, Nz) or (M, Nz)
    W, b, log_var_x
        As in :func:`log_marginal`.

    Returns
    -------
    ndarray, shape (L, M) or (M,)
        log p(x_i | z_li) in nats.

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.3 (the reconstruction term of Eq. (7)).
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    _check_z(x, W, z)
    return dist.log_normal_diag(x, z @ W.T + b, log_var_x)


def log_likelihood_grad_z(x, z, W, b, log_var_x):
    """Gradient of :func:`log_likelihood` with respect to ``z``: ``Wᵀ diag(1/s²) (x − W z − b)``.

    This is the ``f'(z)`` that the reparameterization gradient (§2.3, Eq. (5)) pushes
    back to ``mu`` and ``log_var``.

    Parameters
    ----------
    x, z, W, b, log_var_x
        As in :func:`log_likelihood`.

    Returns
    -------
    ndarray, shape of ``z``

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.3, Eq. (5).
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    _check_z(x, W, z)
    return ((x - z @ W.T - b) * np.exp(-log_var_x)) @ W


def elbo(x, mu, log_var, W, b, log_var_x):
    """The exact lower bound L(θ, φ; x) of Eq. (3) for a diagonal Gaussian q(z|x).

    ``L = −½ Σ_d [log 2π s_d² + ((x − W mu − b)_d² + Σ_j W_dj² σ_j²) / s_d²]
    + ½ Σ_j (1 + log σ_j² − mu_j² − σ_j²)``: the expected reconstruction term in closed
    form plus −KL(q ‖ p) of Appendix B.  It equals :func:`log_marginal` exactly when q is
    the posterior, and falls short of it by KL(q(z|x) ‖ p(z|x)) otherwise (Eq. (1)).

    Parameters
    ----------
    x : ndarray, shape (M, D)
    mu, log_var : ndarray, shape (M, Nz)
        Mean and log σ² of q(z|x), one row per datapoint.
    W, b, log_var_x
        As in :func:`log_marginal`.

    Returns
    -------
    ndarray, shape (M,)
        L(θ, φ; x_i) in nats.

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.2 Eq. (1)–(3), Eq. (7) and Appendix B.
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    _check_q(x, W, mu, log_var)
    inv_var_x = np.exp(-log_var_x)
    resid = x - mu @ W.T - b
    # E_q[(W z)_d] = (W mu)_d and Var_q[(W z)_d] = Σ_j W_dj² σ_j².
    spread = np.exp(log_var) @ (W * W).T
    expected_sq = resid * resid + spread
    log_norm = W.shape[0] * dist.LOG_2PI + np.sum(np.broadcast_to(log_var_x, (W.shape[0],)))
    recon = -0.5 * (log_norm + np.sum(expected_sq * inv_var_x, axis=-1))
    return recon + dist.neg_kl_standard_normal(mu, log_var)


def elbo_grad(x, mu, log_var, W, b, log_var_x):
    """Exact gradient of ``elbo(...).sum()`` with respect to ``mu`` and ``log_var``.

    Differentiating :func:`elbo` term by term:

    * ``dL/dmu = Wᵀ diag(1/s²) (x − W mu − b) − mu``;
    * ``dL/dlog_var_j = ½ − ½ σ_j² (1 + Σ_d W_dj² / s_d²)``.

    Both vanish at ``mu = m`` (the posterior mean) and ``σ_j² = 1 / Λ_jj`` with
    ``Λ = I + Wᵀ diag(1/s²) W`` the posterior precision: the best diagonal q.

    Parameters
    ----------
    x, mu, log_var, W, b, log_var_x
        As in :func:`elbo`.

    Returns
    -------
    dmu, dlog_var : ndarray, shape (M, Nz)

    Raises
    ------
    ShapeError, NonFiniteError
        Misshapen or non-finite inputs.

    References
    ----------
    Kingma & Welling (2014), §2.3 (the gradient SGVB estimates) and Appendix B.
    """
    log_var_x = _check_model(x, W, b, log_var_x)
    _check_q(x, W, mu, log_var)
    inv_var_x = np.exp(-log_var_x)
    dmu = ((x - mu @ W.T - b) * inv_var_x) @ W - mu
    # Σ_d W_dj² / s_d²: the likelihood's contribution to the posterior precision's diagonal.
    lik_precision = np.broadcast_to(inv_var_x, (W.shape[0],)) @ (W * W)
    dlog_var = 0.5 - 0.5 * np.exp(log_var) * (1.0 + lik_precision)
    return dmu, dlog_var
