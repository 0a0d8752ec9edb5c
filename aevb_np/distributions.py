"""Log-densities and the closed-form KL of Appendix B, each with its gradient.

All log-densities are in nats and are summed over the event dimension, so each returns
one number per row (per datapoint, or per (sample, datapoint) pair).

References
----------
Kingma & Welling (2014), Appendix B (Gaussian KL), Appendix C (Bernoulli and Gaussian
likelihoods).
"""

from __future__ import annotations

import numpy as np

from aevb_np.layers import sigmoid, softplus

LOG_2PI = float(np.log(2.0 * np.pi))


def neg_kl_standard_normal(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """−KL(N(mu, diag(exp(log_var))) ‖ N(0, I)) per row, in closed form.

    ``−KL = ½ Σ_j (1 + log σ_j² − μ_j² − σ_j²)``; zero exactly at the prior
    (``mu = 0``, ``log_var = 0``) and negative everywhere else.

    Parameters
    ----------
    mu, log_var : ndarray, shape (M, Nz)
        Mean and log-variance (log σ², not log σ) of the diagonal Gaussian q(z|x).

    Returns
    -------
    ndarray, shape (M,)
        −KL in nats per datapoint.

    References
    ----------
    Kingma & Welling (2014), Appendix B; the first term of Eq. (10).
    """
    # 1 + log σ² − σ² written as −(expm1(log σ²) − log σ²): the plain form loses all its digits
    # when log σ² is tiny (1 + 1e-10 − exp(1e-10) rounds to ±2e-16, a *positive* −KL), while
    # expm1(x) − x is accurate and never negative, so −KL ≤ 0 holds in floating point too.
    # tests/test_distributions.py checks the two forms agree where the plain one is accurate.
    return -0.5 * np.sum(mu * mu + (np.expm1(log_var) - log_var), axis=-1)


def neg_kl_standard_normal_grad(
    mu: np.ndarray, log_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`neg_kl_standard_normal` (summed over rows).

    Parameters
    ----------
    mu, log_var : ndarray, shape (M, Nz)
        Mean and log-variance log σ² of the diagonal Gaussian q(z|x).

    Returns
    -------
    dmu : ndarray, shape (M, Nz)
        ``−μ``.
    dlog_var : ndarray, shape (M, Nz)
        ``½ (1 − σ²)``.

    References
    ----------
    Kingma & Welling (2014), Appendix B, differentiated term by term.
    """
    return -mu, -0.5 * np.expm1(log_var)  # ½ (1 − σ²), accurate near σ² = 1 as above


def log_standard_normal(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) per row: ``−½ Σ_j (z_j² + log 2π)``.

    Parameters
    ----------
    z : ndarray, shape (..., Nz)

    Returns
    -------
    ndarray, shape (...)
        log p(z) in nats; its gradient with respect to ``z`` is ``−z``.

    References
    ----------
    Kingma & Welling (2014), §3: the prior p_θ(z) = N(z; 0, I).
    """
    return -0.5 * (np.sum(z * z, axis=-1) + z.shape[-1] * LOG_2PI)


def log_normal_diag(x: np.ndarray, mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """log N(x; mu, diag(exp(log_var))) per row.

    Parameters
    ----------
    x, mu, log_var : ndarray, broadcastable, last axis the event axis (D,)

    Returns
    -------
    ndarray
        ``−½ Σ_d (log 2π + log σ_d² + (x_d − μ_d)² / σ_d²)`` in nats, one per row.

    References
    ----------
    Kingma & Welling (2014), Eq. (9) (log q_φ(z|x)) and Appendix C.2 (Eq. 12).
    """
    diff = x - mu
    return -0.5 * np.sum(LOG_2PI + log_var + diff * diff * np.exp(-log_var), axis=-1)


def log_normal_diag_grad(
    x: np.ndarray, mu: np.ndarray, log_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`log_normal_diag` with respect to ``mu`` and ``log_var``.

    Parameters
    ----------
    x, mu, log_var : ndarray, broadcastable, last axis the event axis (D,)
        The point, the mean and the log-variance log σ².

    Returns
    -------
    dmu : ndarray, the broadcast shape of the inputs
        ``(x − μ) / σ²``, nats per unit of μ.
    dlog_var : ndarray, the broadcast shape of the inputs
        ``−½ + ½ (x − μ)² / σ²``.

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12), differentiated.
    """
    inv_var = np.exp(-log_var)
    diff = x - mu
    dmu = diff * inv_var
    return dmu, 0.5 * (diff * dmu - 1.0)


def bernoulli_log_likelihood(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """log Bernoulli(x; sigmoid(logits)) per row, computed from the logits.

    ``Σ_d x_d log y_d + (1 − x_d) log(1 − y_d)`` with ``y = sigmoid(a)`` equals
    ``Σ_d x_d a_d − softplus(a_d)``: one stable expression, finite for every finite
    logit (``±1e4`` included), where ``log(sigmoid(a))`` would give ``log 0``.

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets in [0, 1] (binary data, or grey levels used as Bernoulli means).
    logits : ndarray, shape (..., D)
        Pre-sigmoid decoder output ``a``; broadcasts against ``x``.

    Returns
    -------
    ndarray, shape (...)
        log p(x|z) in nats.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11).
    """
    return np.sum(x * logits - softplus(logits), axis=-1)


def bernoulli_log_likelihood_grad(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Gradient of :func:`bernoulli_log_likelihood` with respect to the logits: ``x − sigmoid(a)``.

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets in [0, 1].
    logits : ndarray, shape (..., D)
        Pre-sigmoid decoder output ``a``; broadcasts against ``x``.

    Returns
    -------
    ndarray, the broadcast shape of ``x`` and ``logits``
        ``x − sigmoid(a)``, per element (nats per unit logit).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11), differentiated.
    """
    return x - sigmoid(logits)


def bernoulli_log_likelihood_and_grad(
    x: np.ndarray,
    logits: np.ndarray,
    grad: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bernoulli_log_likelihood` and :func:`bernoulli_log_likelihood_grad` in one sweep.

    The plain form this replaces computes ``softplus(a)`` for the value and a separate
    ``sigmoid(a)`` for the gradient::

        ll   = np.sum(x * a - softplus(a), axis=-1)
        grad = x - sigmoid(a)

    Here ``softplus(a)`` is computed once and serves both, because
    ``log sigmoid(a) = a − softplus(a)``::

        ll   = Σ_d x_d a_d − Σ_d softplus(a_d)     (the first sum a row-wise dot product)
        grad = x − exp(a − softplus(a))

    ``a − softplus(a) <= 0``, so the exponential never overflows, and for ``a = ±1e4`` the
    gradient is exactly ``x − 1`` or ``x``.  ``tests/test_fast_paths.py`` checks that both
    forms agree.

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets in [0, 1]; broadcasts against ``logits`` (e.g. (M, D) against (L, M, D)).
    logits : ndarray, shape (..., D)
    grad, work : ndarray, shaped like ``logits``, optional
        Preallocated outputs for the gradient and for ``softplus(logits)``.

    Returns
    -------
    ll : ndarray, shape (...)
        log p(x|z) in nats, one per row.
    grad : ndarray, shaped like ``logits``
        ``x − sigmoid(logits)``, the gradient of ``ll`` with respect to the logits.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11).
    """
    sp = softplus(logits, out=work, work=grad)  # ``grad`` is softplus's scratch until overwritten below
    ll = np.einsum("...d,...d->...", x, logits)  # Σ_d x_d a_d without an (…, D) temporary
    ll -= sp.sum(axis=-1)
    grad = np.subtract(logits, sp, out=grad)  # log sigmoid(a)
    np.exp(grad, out=grad)  # sigmoid(a)
    np.subtract(x, grad, out=grad)  # x − sigmoid(a)
    return ll, grad
