"""The densities fitted to posterior samples in Appendix D's step 2: one Gaussian, or a Gaussian
kernel density estimate with a held-out bandwidth (as the authors' anglepy ``hmc_est.py``).

References
----------
Kingma & Welling (2014), Appendix D; anglepy ``hmc_est.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from aevb_np import distributions as dist
from aevb_np.checks import check_finite, check_float_array, check_positive
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.marginal.driver import _batches
from aevb_np.posterior import Proposal

#: The density estimators of Appendix D step 2 that :func:`appendix_d_log_px` offers:
#: ``"gaussian"`` (one Gaussian per datapoint, the samples' mean and covariance) and
#: ``"kde"`` (a Gaussian kernel density estimate, bandwidth by held-out likelihood, as the
#: authors' released code anglepy does in ``hmc_est.py``).
DENSITIES = ("gaussian", "kde")


#: Candidate KDE bandwidth factors, relative to Scott's factor S^(-1/(Nz+4)): anglepy's
#: ``kde_infer_factor`` tries ``scott * e**((i - 5) / 2)`` for i = 0..9, i.e. from
#: e^-2.5 ≈ 0.08 to e^2 ≈ 7.4 times Scott's factor.
KDE_FACTORS = tuple(math.exp((i - 5) / 2.0) for i in range(10))


def fit_gaussian(samples: np.ndarray, cov_scale: float = 1.0, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Fit one Gaussian per datapoint to posterior samples: their mean and covariance.

    Parameters
    ----------
    samples : ndarray, shape (S, M, Nz)
        S >= 2 samples for each of M datapoints.
    cov_scale : float
        Multiplies the sample covariance (< 1 narrows q, > 1 widens it).
    ridge : float
        Adds ``ridge · (trace(C)/Nz + 1e-12)`` to the diagonal so that a chain that never
        moved still gives a valid (very narrow) density instead of a Cholesky failure.

    Returns
    -------
    mean : ndarray, shape (M, Nz)
    chol : ndarray, shape (M, Nz, Nz)
        Lower Cholesky factor of the (scaled, ridged) covariance.

    References
    ----------
    Kingma & Welling (2014), Appendix D, step 2 ("fit a density estimator q(z)").
    """
    check_float_array("samples", samples, ndim=3)
    if samples.shape[0] < 2:
        raise ShapeError(f"samples must hold at least 2 draws per datapoint, got shape {samples.shape}")
    check_finite("samples", samples)
    cov_scale = check_positive(cov_scale, "cov_scale")
    S, _, Nz = samples.shape
    mean = samples.mean(axis=0)
    d = samples - mean
    cov = np.einsum("smi,smj->mij", d, d) / (S - 1)
    ridge_term = ridge * (np.trace(cov, axis1=1, axis2=2) / Nz + 1e-12)
    cov = cov_scale * cov + ridge_term[:, None, None] * np.eye(Nz)
    return mean, np.linalg.cholesky(cov)


def gaussian_log_density(z: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log N(z; mean_i, C_i) with C_i = chol_i chol_iᵀ, for z of shape (n, M, Nz).

    Parameters
    ----------
    z : ndarray, shape (n, M, Nz)
        n points for each of the M Gaussians.
    mean : ndarray, shape (M, Nz)
    chol : ndarray, shape (M, Nz, Nz)
        Lower-triangular Cholesky factors with a positive diagonal (as
        :func:`fit_gaussian` returns them).

    Returns
    -------
    ndarray, shape (n, M)
        Nats.

    Raises
    ------
    numpy.linalg.LinAlgError
        A ``chol_i`` is singular.

    References
    ----------
    Kingma & Welling (2014), Appendix D (step 2: the density q(z) fitted to the HMC samples).
    """
    Nz = mean.shape[-1]
    chol_inv = np.linalg.inv(chol)  # (M, Nz, Nz), lower triangular
    y = np.einsum("mij,nmj->nmi", chol_inv, z - mean)  # whitened: C^{-1/2}(z − mean)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)  # log |C_i|
    return -0.5 * (np.sum(y * y, axis=-1) + log_det + Nz * dist.LOG_2PI)


def gaussian_proposal(mean: np.ndarray, chol: np.ndarray) -> Proposal:
    """The proposal ``(n, rng) -> (z (n, M, Nz), log q (n, M))`` of the Gaussians N(mean_i, C_i).

    Parameters
    ----------
    mean : ndarray, shape (M, Nz)
    chol : ndarray, shape (M, Nz, Nz)
        Lower-triangular factors of C_i with a positive diagonal.

    Returns
    -------
    callable
        ``propose(n, rng)`` draws ``z = mean + chol @ eps`` with eps of shape
        (n, M, Nz) from ``rng`` (float64) and returns ``z`` and log q(z) in nats, shape
        (n, M), computed exactly from ``eps``.

    References
    ----------
    Kingma & Welling (2014), Appendix D (steps 1–2), §5 Fig. 3.
    """
    Nz = mean.shape[-1]
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)

    def propose(n: int, rng: np.random.Generator):
        eps = rng.standard_normal((n,) + mean.shape)
        z = mean + np.einsum("mij,nmj->nmi", chol, eps)
        return z, -0.5 * (np.sum(eps * eps, axis=-1) + log_det + Nz * dist.LOG_2PI)

    return propose


@dataclass(frozen=True)
class KDEFit:
    """A Gaussian KDE per datapoint: q(z) = (1/S) Σ_s N(z; c_s, f² C), C the samples' covariance.

    Attributes
    ----------
    centers : ndarray, shape (S, M, Nz)
        The kernel centres (the fit samples).
    chol : ndarray, shape (M, Nz, Nz)
        Lower Cholesky factor of each datapoint's kernel covariance f² C (+ ridge).
    factor : ndarray, shape (M,)
        The chosen bandwidth factor f (scipy's ``gaussian_kde.factor``).
    relative_factor : ndarray, shape (M,)
        f over Scott's factor S^(-1/(Nz+4)), one of :data:`KDE_FACTORS`.
    """

    centers: np.ndarray
    chol: np.ndarray
    factor: np.ndarray
    relative_factor: np.ndarray


def _sample_cov(samples: np.ndarray, ridge: float) -> np.ndarray:
    """Unbiased sample covariance per datapoint, (S, M, Nz) -> (M, Nz, Nz), with the ridge of fit_gaussian."""
    S, _, Nz = samples.shape
    d = samples - samples.mean(axis=0)
    cov = np.einsum("smi,smj->mij", d, d) / (S - 1)
    ridge_term = ridge * (np.trace(cov, axis1=1, axis2=2) / Nz + 1e-12)
    return cov + ridge_term[:, None, None] * np.eye(Nz)


def kde_log_density(z: np.ndarray, centers: np.ndarray, chol: np.ndarray, max_elements: int = 4_000_000) -> np.ndarray:
    """log q(z) of the Gaussian KDE q(z) = (1/S) Σ_s N(z; c_s, C_k) per datapoint, in log space.

    Parameters
    ----------
    z : ndarray, shape (n, M, Nz)
        Points to evaluate, n per datapoint.
    centers : ndarray, shape (S, M, Nz)
        Kernel centres, S per datapoint.
    chol : ndarray, shape (M, Nz, Nz)
        Lower Cholesky factor of each datapoint's kernel covariance C_k.
    max_elements : int
        Bound on n · S · (datapoints per pass) · Nz, the size of the temporary array.

    Returns
    -------
    ndarray, shape (n, M)
        Nats.  A log-sum-exp over the kernels, so points far from every centre get a
        finite (very negative) value rather than log 0.

    References
    ----------
    Silverman (1986), §4.2 (the multivariate kernel estimator); scipy.stats.gaussian_kde,
    whose ``logpdf`` this equals for one datapoint.
    """
    n, M, Nz = z.shape
    S = centers.shape[0]
    if centers.shape[1:] != (M, Nz) or chol.shape != (M, Nz, Nz):
        raise ShapeError(f"z {z.shape}, centers {centers.shape} and chol {chol.shape} disagree on (M, Nz)")
    chol_inv = np.linalg.inv(chol)
    yz = np.einsum("mij,nmj->nmi", chol_inv, z)  # whitened by the kernel covariance
    yc = np.einsum("mij,smj->smi", chol_inv, centers)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)  # (M,)
    out = np.empty((n, M))
    per = max(1, max_elements // max(1, n * S * Nz))
    for sl in _batches(M, per):
        d = yz[:, None, sl, :] - yc[None, :, sl, :]  # (n, S, m, Nz)
        sq = np.einsum("nsmi,nsmi->nsm", d, d)
        out[:, sl] = logsumexp(-0.5 * sq, axis=1)
    return out - math.log(S) - 0.5 * (log_det + Nz * dist.LOG_2PI)


def _kde_chol(samples: np.ndarray, factor: np.ndarray, ridge: float) -> np.ndarray:
    """Cholesky factors of the kernel covariances factor² · cov(samples), per datapoint."""
    return np.linalg.cholesky(_sample_cov(samples, ridge) * (np.asarray(factor, dtype=np.float64) ** 2)[:, None, None])


def fit_kde(samples: np.ndarray, factors=KDE_FACTORS, ridge: float = 1e-6) -> KDEFit:
    """Fit a Gaussian KDE per datapoint, its bandwidth chosen by held-out likelihood on the chain.

    The bandwidth follows anglepy's ``kde_infer_factor`` (``hmc_est.py`` of
    github.com/dpkingma/anglepy), in the parametrization of ``scipy.stats.gaussian_kde``:
    the kernel covariance is f² times the samples' covariance, and f is chosen among
    ``factors`` × Scott's factor S^(-1/(Nz+4)).  The chain of S samples is split into its
    first and second halves (contiguous, so that the autocorrelation of the chain does
    not reward too small a bandwidth); a KDE on one half scores the log-likelihood of
    the other.  anglepy scores one direction (KDE on the second half, evaluated on the
    first); we sum both directions, which halves the noise of the choice at no other
    change.  The KDE returned uses all S samples with the chosen f, as anglepy's does.

    Parameters
    ----------
    samples : ndarray, shape (S, M, Nz)
        Posterior samples in chain order, S >= 2 (Nz + 1) per datapoint.
    factors : sequence of float
        Candidate factors relative to Scott's; default :data:`KDE_FACTORS` (anglepy's).
    ridge : float
        Relative ridge on each covariance, as in :func:`fit_gaussian`.

    Returns
    -------
    KDEFit

    Raises
    ------
    ShapeError
        Fewer than 2 (Nz + 1) samples (each half needs a full-rank covariance).
    NonFiniteError
        A non-finite sample.
    ConfigError
        ``factors`` empty or not all positive.

    References
    ----------
    Kingma & Welling (2014), Appendix D, step 2; Scott (1992), Eq. (6.42) for the factor;
    anglepy ``hmc_est.py`` (``kde_infer_factor``, ``estimate_mcmc_likelihood``).
    """
    check_float_array("samples", samples, ndim=3)
    check_finite("samples", samples)
    S, M, Nz = samples.shape
    if S < 2 * (Nz + 1):
        raise ShapeError(f"a KDE with a cross-validated bandwidth needs at least 2·(Nz+1) = {2 * (Nz + 1)} samples "
                         f"per datapoint (two halves with full-rank covariances), got shape {samples.shape}")
    try:
        rel = np.array([check_positive(f, "each KDE factor") for f in factors], dtype=np.float64)
    except TypeError:
        raise ConfigError(f"factors must be a sequence of positive numbers, got {factors!r}") from None
    if rel.size == 0:
        raise ConfigError("factors must hold at least one candidate bandwidth factor")
    scott = S ** (-1.0 / (Nz + 4))
    half = S // 2
    parts = (samples[:half], samples[half:])
    scores = np.zeros((rel.size, M))
    for k, f in enumerate(rel * scott):
        for a, b in ((0, 1), (1, 0)):  # KDE on part a, held-out log-likelihood of part b
            chol = _kde_chol(parts[a], np.full(M, f), ridge)
            scores[k] += kde_log_density(parts[b], parts[a], chol).sum(axis=0)
    best = rel[np.argmax(scores, axis=0)]  # (M,)
    factor = best * scott
    return KDEFit(centers=samples, chol=_kde_chol(samples, factor, ridge), factor=factor, relative_factor=best)
