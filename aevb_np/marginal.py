"""Estimates of the marginal likelihood log p_θ(x): importance sampling, Appendix D, quadrature.

The lower bound L(θ, φ; x) of Eq. (3) is below log p_θ(x) by KL(q_φ(z|x) ‖ p_θ(z|x)),
so comparing models by their bounds mixes the quality of the decoder with that of the
encoder.  §5 (Fig. 3) compares models by an *estimate of log p_θ(x) itself*.  This
module offers three estimators and one exact computation, all in nats per datapoint:

``importance_sampled_log_px`` — importance sampling with the encoder as proposal
    (Burda, Grosse & Salakhutdinov 2015)::

        log p̂_K(x) = log (1/K) Σ_k p_θ(x, z_k) / q_φ(z_k|x),   z_k ~ q_φ(z|x).

    p̂_K is unbiased for p_θ(x), so by Jensen E[log p̂_K] ≤ log p_θ(x): a *stochastic
    lower bound* that rises monotonically with K (Burda et al., Theorem 1) and tends to
    log p_θ(x).  K = 1 is the SGVB estimator A (Eq. 6) with L = 1.  Not in the paper;
    it is today's standard way to report log p(x) of a VAE.

``appendix_d_log_px`` — the paper's estimator (Appendix D): draw samples of the true
    posterior p_θ(z|x) by Hybrid Monte Carlo, fit a density q(z) to them, draw *new*
    posterior samples z_l and use the harmonic-mean identity
    E_{p(z|x)}[q(z) / p_θ(x, z)] = 1 / p_θ(x)::

        log p̂(x) = −log (1/L) Σ_l q(z_l) / (p_θ(z_l) p_θ(x|z_l)).

    The paper does not name its density estimator; by default we fit one Gaussian per
    datapoint with the samples' mean and covariance (``density="gaussian"``);
    ``density="kde"`` is what the authors' released code (anglepy, ``hmc_est.py``) does:
    a Gaussian kernel density estimate whose bandwidth is chosen by held-out likelihood
    between the two halves of the chain (:func:`fit_kde`).  Bias and variance: with exact independent
    posterior samples the average inside the log is unbiased for 1/p(x), so
    −log(average) is *biased upward* (Jensen, the opposite direction to IS) by about
    half its relative variance; finite HMC chains add an MCMC bias of unknown sign;
    and the variance is finite only if q has lighter tails than the posterior
    (∫ q² / p(z|x) dz < ∞).  A Gaussian q on a posterior with lighter-than-Gaussian
    tails violates that and the estimate can jump by nats from run to run
    (``cov_scale`` < 1 narrows q as a safeguard).  It is consistent, and accurate in
    low-dimensional latent spaces such as the Nz = 3 of Fig. 3, which is where the paper
    uses it; in 20 dimensions neither the Gaussian fit nor the chains can be trusted.

``hmc_importance_sampled_log_px`` — importance sampling with the Gaussian fitted to
    HMC samples (widened by ``cov_scale``) as the proposal.  It needs only the decoder,
    so it applies to MCEM, which has no encoder, and measures AEVB and MCEM with the same
    yardstick.  Like all IS it is a stochastic lower bound; we use it for Fig. 3 by
    default.

``quadrature_log_px`` — no sampling: log ∫ p_θ(x|z) N(z; 0, I) dz by the trapezoidal
    rule on a regular grid of z, for Nz <= 3 (Fig. 3's Nz = 3 costs 161³ ≈ 4·10⁶
    decoder passes, shared by all datapoints).  The truth the estimators are checked
    against (benchmarks/fig3_estimators.py), with its own error estimate.

Every estimator is written once over *callables* — a vectorized log-joint
``log_joint(z (n, M, Nz)) -> log p(x_i, z_{k,i}) (n, M)``, a proposal
``propose(n, rng) -> (z (n, M, Nz), log q (n, M))`` and the HMC target
``log_joint_and_grad(z (M, Nz)) -> (log p(x_i, z_i) (M,), ∇_z (M, Nz))`` — so that the
exact check on a linear-Gaussian model (tests/test_marginal.py) runs through the same
code as the VAE.  The public wrappers build these callables from ``params``.  The
log-joints must include every constant (a normalized log p(x, z)); HMC itself would not
care, but the estimates would be off by the missing constant.

References
----------
Kingma & Welling (2014), §5 (Fig. 3) and Appendix D; Burda, Grosse & Salakhutdinov
(2015), "Importance Weighted Autoencoders", §3 and Theorem 1; Newton & Raftery (1994)
and Gelfand & Dey (1994) for the harmonic-mean identity with a density q.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import logsumexp

from aevb_np import distributions as dist
from aevb_np import hmc, model
from aevb_np.checks import check_finite, check_float_array, check_unit_interval
from aevb_np.checks import check_count as _check_count
from aevb_np.checks import check_rng as _check_rng
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError
from aevb_np.layers import softplus
from aevb_np.params import Params, check_params
from aevb_np.posterior import (JITTER, LogJoint, LogJointAndGrad, Proposal, decoder_architecture, log_joint,
                               posterior_target, posterior_target_plain)  # noqa: F401  (re-exported)


#: The density estimators of Appendix D step 2 that :func:`appendix_d_log_px` offers:
#: ``"gaussian"`` (one Gaussian per datapoint, the samples' mean and covariance) and
#: ``"kde"`` (a Gaussian kernel density estimate, bandwidth by held-out likelihood, as the
#: authors' released code anglepy does in ``hmc_est.py``).
DENSITIES = ("gaussian", "kde")

#: Candidate KDE bandwidth factors, relative to Scott's factor S^(-1/(Nz+4)): anglepy's
#: ``kde_infer_factor`` tries ``scott * e**((i - 5) / 2)`` for i = 0..9, i.e. from
#: e^-2.5 ≈ 0.08 to e^2 ≈ 7.4 times Scott's factor.
KDE_FACTORS = tuple(math.exp((i - 5) / 2.0) for i in range(10))

#: Largest latent dimension :func:`quadrature_log_px` accepts: a grid of n points per axis
#: costs n^Nz decoder evaluations (n = 121: 1.8·10^6 at Nz = 3, 2·10^8 at Nz = 4).
QUADRATURE_MAX_NZ = 3
#: Nats below a datapoint's best grid point beyond which :func:`grid_posterior_start` draws no
#: Gumbel noise (a point that far below cannot win the Gumbel-max draw, to ~10⁻¹³).
GUMBEL_CUTOFF = 50.0

__all__ = [
    "ISResult",
    "DENSITIES",
    "JITTER",
    "KDE_FACTORS",
    "KDEFit",
    "QUADRATURE_MAX_NZ",
    "appendix_d_log_px",
    "appendix_d_log_px_from_target",
    "decoder_architecture",
    "encoder_proposal",
    "fit_gaussian",
    "gaussian_log_density",
    "gaussian_proposal",
    "grid_posterior_start",
    "fit_kde",
    "harmonic_mean_log_px",
    "hmc_importance_log_px_from_target",
    "hmc_importance_sampled_log_px",
    "importance_log_px",
    "importance_sampled_log_px",
    "kde_log_density",
    "log_joint",
    "mean_and_stderr",
    "posterior_target",
    "quadrature_log_px",
    "quadrature_log_px_from_log_joint",
]


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_model_and_x(params, x, need_encoder: bool) -> tuple[int, int, str]:
    """Validate ``params`` (``theta``, and ``phi`` when needed) and ``x``; return (D, Nz, decoder)."""
    if not isinstance(params, dict) or "theta" not in params:
        raise ShapeError(
            "params must be a dict with a 'theta' group (and 'phi' for encoder-based estimates), "
            f"got {type(params).__name__} with keys {sorted(params) if isinstance(params, dict) else '-'}"
        )
    D, H, Nz, decoder = decoder_architecture(params["theta"])
    if need_encoder or "phi" in params:
        if "phi" not in params:
            raise ShapeError("params must hold the encoder 'phi' for importance sampling with q_φ(z|x)")
        D_enc, H_enc, Nz_enc, _ = model.architecture(params)
        check_params({"phi": params["phi"]}, {"phi": model.param_shapes(D_enc, H_enc, Nz_enc)["phi"]})
        if (D_enc, Nz_enc) != (D, Nz):
            raise ShapeError(
                f"encoder and decoder disagree: encoder maps D={D_enc} to Nz={Nz_enc}, decoder Nz={Nz} to D={D}"
            )
    check_float_array("x", x, shape=(None, D))
    if x.shape[0] < 1:
        raise ShapeError(f"x must hold at least one datapoint, got shape {x.shape}")
    check_finite("x", x)
    if decoder == "bernoulli":
        check_unit_interval("x", x)
    return D, Nz, decoder


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def _progress_bar(progress: bool, total: int, desc: str, unit: str):
    """A tqdm bar (tqdm.auto) or a do-nothing stand-in; tqdm is imported only when needed."""
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False)


class _NoBar:
    def update(self, n=1):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------
# importance sampling over callables
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ISResult:
    """Importance-sampling estimate of log p(x) for each of M datapoints.

    Attributes
    ----------
    log_px : ndarray, shape (M,)
        log (1/K) Σ_k w_k, nats.
    stderr : ndarray, shape (M,)
        Delta-method Monte Carlo standard error of ``log_px``: the sample standard
        deviation of the weights over √K times their mean.  It is itself estimated from
        the weights, so with heavy-tailed weights (small ``ess``) it is too small.
        NaN when K = 1.
    ess : ndarray, shape (M,)
        Effective sample size (Σ w)² / Σ w², between 1 and K (Kong 1992).
    K : int
        Number of importance samples per datapoint.
    """

    log_px: np.ndarray
    stderr: np.ndarray
    ess: np.ndarray
    K: int


def importance_log_px(log_joint: LogJoint, propose: Proposal, K: int, rng: np.random.Generator,
                      chunk_size: int = 100, callback: Callable[[int], None] | None = None) -> ISResult:
    """Importance-sampling estimate log (1/K) Σ_k p(x, z_k)/q(z_k), for any model and proposal.

    The K log-weights ``log w_k = log p(x, z_k) − log q(z_k)`` arrive in chunks of
    ``chunk_size`` samples; a running log Σ w and log Σ w² per datapoint are kept with
    ``logaddexp``, so memory does not grow with K and nothing is exponentiated outside
    log space.

    Parameters
    ----------
    log_joint : callable
        ``z (n, M, Nz) -> (n, M)``: the normalized log p(x_i, z_{k,i}) in nats.
    propose : callable
        ``(n, rng) -> (z (n, M, Nz), log_q (n, M))``: n draws per datapoint from the
        proposal and their log-density, nats.
    K : int
        Importance samples per datapoint, >= 1.
    rng : numpy.random.Generator
        Passed to ``propose``.
    chunk_size : int
        Samples per datapoint drawn at once (memory only).
    callback : callable, optional
        Called with the number of samples of each finished chunk (for progress bars).

    Returns
    -------
    ISResult
        ``log_px`` (M,) in nats, its ``stderr`` (M,), ``ess`` (M,) and ``K``.

    Raises
    ------
    ConfigError
        ``K`` or ``chunk_size`` below 1, or ``rng`` not a Generator.
    ShapeError
        The callables return arrays of inconsistent shapes.
    NonFiniteError
        A log-weight is NaN or +inf (−inf, a weight of zero, is allowed).

    References
    ----------
    Burda, Grosse & Salakhutdinov (2015), Eq. (8)-(9) and Theorem 1; Kingma & Welling
    (2014), Eq. (6) for K = 1.
    """
    K = _check_count(K, "K", 1)
    chunk_size = _check_count(chunk_size, "chunk_size", 1)
    _check_rng(rng)
    log_s1 = log_s2 = None  # running log Σ_k w_k and log Σ_k w_k², shape (M,)
    done = 0
    while done < K:
        n = min(chunk_size, K - done)
        z, log_q = propose(n, rng)
        log_p = np.asarray(log_joint(z), dtype=np.float64)
        log_q = np.asarray(log_q, dtype=np.float64)
        if log_q.ndim != 2 or log_q.shape[0] != n or log_p.shape != log_q.shape:
            raise ShapeError(
                f"propose must return log_q of shape (n={n}, M) and log_joint the same shape, "
                f"got {log_q.shape} and {log_p.shape}"
            )
        with np.errstate(invalid="ignore"):
            log_w = log_p - log_q
        if np.isnan(log_w).any() or np.isposinf(log_w).any():
            raise NonFiniteError(
                "importance log-weights must be finite or -inf, got NaN or +inf "
                "(is log q(z) -inf where log p(x, z) is finite?)"
            )
        chunk_s1 = logsumexp(log_w, axis=0)
        chunk_s2 = logsumexp(2.0 * log_w, axis=0)
        log_s1 = chunk_s1 if log_s1 is None else np.logaddexp(log_s1, chunk_s1)
        log_s2 = chunk_s2 if log_s2 is None else np.logaddexp(log_s2, chunk_s2)
        done += n
        if callback is not None:
            callback(n)
    log_px = log_s1 - math.log(K)
    # ESS = S1² / S2; relative variance of the mean weight = (K S2 / S1² − 1) / (K − 1).
    finite = np.isfinite(log_s1)  # False only where every weight was zero
    with np.errstate(invalid="ignore"):
        log_ess = np.where(finite, 2.0 * log_s1 - log_s2, 0.0)
    ess = np.where(finite, np.exp(log_ess), 0.0)
    if K > 1:
        rel_var = np.maximum(0.0, (K / np.maximum(ess, 1e-300) - 1.0) / (K - 1))
        stderr = np.where(finite, np.sqrt(rel_var), np.inf)
    else:
        stderr = np.full(log_px.shape, np.nan)
    return ISResult(log_px=log_px, stderr=stderr, ess=ess, K=K)


def mean_and_stderr(values) -> tuple[float, float]:
    """Mean of per-datapoint values and its standard error std/√N across datapoints.

    Parameters
    ----------
    values : array_like, shape (N,)
        E.g. log p̂(x_i) in nats.

    Returns
    -------
    (mean, stderr) : (float, float)
        ``stderr`` is NaN for N = 1.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ShapeError("values must hold at least one number, got an empty array")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


# ---------------------------------------------------------------------------
# Gaussian density fitted to samples (the density estimator of Appendix D)
# ---------------------------------------------------------------------------


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
    cov_scale = _check_positive(cov_scale, "cov_scale")
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


# ---------------------------------------------------------------------------
# Gaussian kernel density estimate (the density estimator of anglepy's Appendix D)
# ---------------------------------------------------------------------------


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
        rel = np.array([_check_positive(f, "each KDE factor") for f in factors], dtype=np.float64)
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


# ---------------------------------------------------------------------------
# Appendix D over callables
# ---------------------------------------------------------------------------


def harmonic_mean_log_px(log_q: np.ndarray, log_joint_values: np.ndarray) -> np.ndarray:
    """Step 3 of Appendix D: −log (1/L) Σ_l q(z_l) / p(x, z_l) from posterior samples z_l.

    Parameters
    ----------
    log_q : ndarray, shape (L, M)
        log q(z_l) of the fitted density at the posterior samples, nats.
    log_joint_values : ndarray, shape (L, M)
        log p_θ(z_l) + log p_θ(x|z_l) at the same samples, nats.

    Returns
    -------
    ndarray, shape (M,)
        The estimate of log p_θ(x), nats.  Biased upward on average (Jensen), see the
        module docstring.

    References
    ----------
    Kingma & Welling (2014), Appendix D, step 3.
    """
    log_q = np.asarray(log_q, dtype=np.float64)
    log_joint_values = np.asarray(log_joint_values, dtype=np.float64)
    if log_q.ndim != 2 or log_q.shape != log_joint_values.shape:
        raise ShapeError(
            f"log_q and log_joint_values must both have shape (L, M), got {log_q.shape} and {log_joint_values.shape}"
        )
    check_finite("log_q", log_q)
    check_finite("log_joint_values", log_joint_values)
    L = log_q.shape[0]
    return -(logsumexp(log_q - log_joint_values, axis=0) - math.log(L))


def _posterior_chains(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size, target_accept,
                      thin, jitter):
    """Step 1 of Appendix D: burn-in with step-size adaptation, then n_fit samples of p(z|x)."""
    Nz = np.shape(z0)[-1]
    if n_fit <= Nz:
        # Fewer samples than dimensions give a singular covariance: q collapses onto a
        # subspace and q(z)/p(x, z) explodes at samples off it.
        raise ConfigError(
            f"n_fit must exceed the latent dimension Nz={Nz} for a full-rank Gaussian fit "
            f"(10·Nz or more is advisable), got {n_fit}"
        )
    return hmc.hmc_sample(log_joint_and_grad, z0, n_fit, rng, n_leapfrog=n_leapfrog, step_size=step_size,
                          n_burnin=n_burnin, target_accept=target_accept, adapt=True, thin=thin, jitter=jitter)


def _posterior_fit(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size, target_accept,
                   thin, jitter, cov_scale):
    """Steps 1-2 of Appendix D: HMC samples of p(z|x) (adapted step size), Gaussian fit."""
    res = _posterior_chains(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size, target_accept,
                            thin, jitter)
    mean, chol = fit_gaussian(res.samples, cov_scale=cov_scale)
    return res, mean, chol


def _check_density(density, cov_scale) -> tuple[tuple[str, ...], bool]:
    """Normalize ``density`` to a tuple of names; the bool says whether a single name was given."""
    single = isinstance(density, str)
    names = (density,) if single else tuple(density) if isinstance(density, (list, tuple)) else None
    if not names or any(not isinstance(d, str) or d not in DENSITIES for d in names) or len(set(names)) != len(names):
        raise ConfigError(f"density must be one of {DENSITIES} or a sequence of distinct ones, got {density!r}")
    if "kde" in names and cov_scale != 1.0:
        raise ConfigError(f"cov_scale scales the Gaussian fit only; the KDE's bandwidth is cross-validated "
                          f"(got cov_scale={cov_scale!r} with density 'kde')")
    return names, single


def appendix_d_log_px_from_target(log_joint_and_grad: LogJointAndGrad, z0, rng: np.random.Generator, *,
                                  n_fit: int = 500, n_hmc: int = 500, n_burnin: int = 300,
                                  n_leapfrog: int = 10, step_size: float = 0.1,
                                  target_accept: float = 0.9, thin: int = 1, jitter: float = JITTER,
                                  cov_scale: float = 1.0, density="gaussian", return_info: bool = False):
    """The Appendix D estimator of log p(x) for any differentiable model, one chain per datapoint.

    1. ``n_burnin`` HMC transitions (step size adapted toward ``target_accept``), then
       ``n_fit`` kept samples of p(z|x);
    2. a density q(z) per datapoint fitted to them: a Gaussian with their mean and
       ``cov_scale`` × covariance (``density="gaussian"``), or a Gaussian KDE with a
       bandwidth chosen by held-out likelihood on the two halves of the chain
       (``density="kde"``, :func:`fit_kde`, as the authors' anglepy does);
    3. ``n_hmc`` *new* samples, continuing the chains with the step size frozen;
    4. :func:`harmonic_mean_log_px`, using the log p(x, z) HMC already computed.

    Parameters
    ----------
    log_joint_and_grad : callable
        ``z (M, Nz) -> (log p(x_i, z_i) (M,), ∇_z (M, Nz))``, the *normalized* log-joint
        (every constant included) and its gradient ∇_z log p(z) + ∇_z log p(x|z).
    z0 : ndarray, shape (M, Nz)
        Start of each chain.
    rng : numpy.random.Generator
    n_fit, n_hmc : int
        Samples per datapoint for the fit (> Nz; 10·Nz or more advisable; for the KDE
        at least 2·(Nz + 1)) and for the estimate (>= 1).
    n_burnin : int
        Discarded transitions before the fit samples.
    n_leapfrog, step_size, target_accept, thin
        HMC settings (see :func:`aevb_np.hmc.hmc_sample`); App. E uses 10 steps, 90%.
    jitter : float
        Relative random scaling U(1 − jitter, 1 + jitter) of the step size per transition
        (default 0.3; see :data:`JITTER` for why).
    cov_scale : float
        Scale of the fitted covariance (see :func:`fit_gaussian`); Gaussian fit only.
    density : {"gaussian", "kde"} or sequence of them
        The density estimator of step 2 (:data:`DENSITIES`).  With a sequence the *same*
        chains serve every density (a paired comparison at the cost of one run) and
        ``log_px`` is a dict name -> (M,).
    return_info : bool
        Also return a dict of diagnostics.

    Returns
    -------
    log_px : ndarray, shape (M,), or dict of them
        Nats.
    info : dict, only if ``return_info``
        ``accept_rate`` (M,) of the estimation chains, ``step_size`` (M,); with the
        Gaussian, ``q_mean`` (M, Nz) and ``q_chol`` (M, Nz, Nz); with the KDE,
        ``kde_factor`` (M,) and ``kde_relative_factor`` (M,) (see :class:`KDEFit`).

    Raises
    ------
    ConfigError, ShapeError, NonFiniteError
        Bad counts, shapes, density, or a non-finite start (see :func:`aevb_np.hmc.hmc_sample`).

    References
    ----------
    Kingma & Welling (2014), Appendix D; anglepy ``hmc_est.py`` for the KDE.
    """
    _check_rng(rng)
    n_fit = _check_count(n_fit, "n_fit", 2)
    n_hmc = _check_count(n_hmc, "n_hmc", 1)
    cov_scale = _check_positive(cov_scale, "cov_scale")
    names, single = _check_density(density, cov_scale)
    Nz = np.shape(z0)[-1]
    if "kde" in names and n_fit < 2 * (Nz + 1):
        raise ConfigError(f"n_fit must be at least 2·(Nz+1) = {2 * (Nz + 1)} for the KDE (two halves of the chain "
                          f"with full-rank covariances), got {n_fit}")
    fit_res = _posterior_chains(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size, target_accept,
                                thin, jitter)
    # Step 3: new samples, continuing each chain from where the fit left it.
    res = hmc.hmc_sample(log_joint_and_grad, fit_res.samples[-1], n_hmc, rng, n_leapfrog=n_leapfrog,
                         step_size=fit_res.step_size, n_burnin=0, adapt=False, thin=thin, jitter=jitter)
    info = {"accept_rate": res.accept_rate, "step_size": res.step_size}
    out = {}
    for name in names:
        if name == "gaussian":
            mean, chol = fit_gaussian(fit_res.samples, cov_scale=cov_scale)
            log_q = gaussian_log_density(res.samples, mean, chol)
            info.update(q_mean=mean, q_chol=chol)
        else:
            kde = fit_kde(fit_res.samples)
            log_q = kde_log_density(res.samples, kde.centers, kde.chol)
            info.update(kde_factor=kde.factor, kde_relative_factor=kde.relative_factor)
        out[name] = harmonic_mean_log_px(log_q, res.logp)
    log_px = out[names[0]] if single else out
    return (log_px, info) if return_info else log_px


def hmc_importance_log_px_from_target(log_joint_and_grad: LogJointAndGrad, log_joint_fn: LogJoint, z0, K: int,
                                      rng: np.random.Generator, *, n_fit: int = 200, n_burnin: int = 200,
                                      n_leapfrog: int = 10, step_size: float = 0.1, target_accept: float = 0.9,
                                      thin: int = 1, jitter: float = JITTER, cov_scale: float = 2.0,
                                      chunk_size: int = 100) -> ISResult:
    """Importance sampling with a Gaussian fitted to HMC posterior samples as the proposal.

    Steps 1-2 of Appendix D give q(z) ≈ p(z|x); its covariance is widened by
    ``cov_scale`` (so the weights p/q stay bounded in the tails) and K fresh draws from
    it give :func:`importance_log_px`.  The proposal depends on the HMC run only, not on
    the IS draws, so p̂ is unbiased for p(x) given q: a stochastic lower bound on
    log p(x), whatever the quality of the chains.

    Parameters
    ----------
    log_joint_and_grad : callable
        HMC target ``z (M, Nz) -> (log p(x_i, z_i) (M,), ∇_z (M, Nz))``.
    log_joint_fn : callable
        ``z (n, M, Nz) -> log p(x_i, z_{k,i}) (n, M)``, normalized, nats.
    z0 : ndarray, shape (M, Nz)
    K : int
        Importance samples per datapoint.
    rng : numpy.random.Generator
    n_fit, n_burnin, n_leapfrog, step_size, target_accept, thin, jitter
        As in :func:`appendix_d_log_px_from_target`.
    cov_scale : float
        Widening of the fitted covariance (default 2: each standard deviation × √2).
    chunk_size : int
        Importance samples per datapoint drawn at once.

    Returns
    -------
    ISResult

    References
    ----------
    Kingma & Welling (2014), Appendix D (steps 1-2); Burda et al. (2015).
    """
    _check_rng(rng)
    n_fit = _check_count(n_fit, "n_fit", 2)
    _, mean, chol = _posterior_fit(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size,
                                   target_accept, thin, jitter, cov_scale)
    return importance_log_px(log_joint_fn, gaussian_proposal(mean, chol), K, rng, chunk_size)


# ---------------------------------------------------------------------------
# the callables for the VAE of Appendix C
# ---------------------------------------------------------------------------


def encoder_proposal(phi: dict, x: np.ndarray) -> Proposal:
    """The encoder q_φ(z|x) = N(mu, diag(σ²)) of Eq. (9) as an IS proposal for a batch x.

    Draws z = mu + σ ⊙ eps with eps ~ N(0, I) of shape (n, M, Nz), in the same order
    :func:`aevb_np.bounds.draw_eps` does, so K = 1 reproduces estimator A exactly.

    Parameters
    ----------
    phi : dict
        Encoder arrays ``W3 (H, D), b3, W4 (Nz, H), b4, W5 (Nz, H), b5``.
    x : ndarray, shape (M, D)
        The batch; the encoder runs once, here.

    Returns
    -------
    callable
        ``propose(n, rng) -> (z (n, M, Nz), log q_φ(z|x) (n, M))``, log q in nats,
        computed exactly from eps (float64 draws).

    References
    ----------
    Kingma & Welling (2014), Eq. (9)-(10).
    """
    mu, log_var, _ = model.encode(phi, x)
    sigma = np.exp(0.5 * log_var)
    M, Nz = mu.shape
    log_det = np.sum(log_var, axis=1)  # log |diag(σ²)|

    def propose(n: int, rng: np.random.Generator):
        eps = rng.standard_normal((n, M, Nz))
        # log q(z|x) at z = mu + σ eps: −½ Σ_j (eps_j² + log σ_j² + log 2π), exactly.
        return mu + sigma * eps, -0.5 * (np.sum(eps * eps, axis=-1) + log_det + Nz * dist.LOG_2PI)

    return propose


def _start_points(params, x, rng) -> np.ndarray:
    """Chain starts: the encoder mean when there is an encoder, else a draw from the prior."""
    if "phi" in params:
        return model.encode(params["phi"], x)[0]
    Nz = decoder_architecture(params["theta"])[2]
    return rng.standard_normal((x.shape[0], Nz))


def _as_float64(params: Params, x: np.ndarray):
    """Estimates are computed in float64 whatever the training dtype (float32 sums of 5000 terms drift)."""
    p64 = {g: {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()} for g, arrays in params.items()}
    return p64, np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------
# public wrappers over params
# ---------------------------------------------------------------------------


def importance_sampled_log_px(params: Params, x: np.ndarray, K: int, rng: np.random.Generator, *,
                              batch_size: int = 100, max_rows: int = 10_000, return_stderr: bool = False,
                              return_ess: bool = False, progress: bool = False):
    """Importance-sampled log p_θ(x_i) with the encoder q_φ(z|x) as proposal, per datapoint.

    ``log p̂_K(x) = log (1/K) Σ_k p_θ(x, z_k) / q_φ(z_k|x)``, z_k ~ q_φ(z|x).  A stochastic
    lower bound: E[log p̂_K] ≤ log p_θ(x), rising with K; K = 1 is estimator A (Eq. 6).
    Datapoints are processed ``batch_size`` at a time and samples in chunks of
    ``max_rows // batch_size``, so K = 5000 on the 10,000 MNIST test images needs
    about ``max_rows`` × 784 × 8 bytes × a few (≈ 200 MB by default).

    Parameters
    ----------
    params : dict
        ``{"phi": ..., "theta": ...}`` (Appendix C).
    x : ndarray, shape (N, D)
    K : int
        Importance samples per datapoint.
    rng : numpy.random.Generator
    batch_size : int
        Datapoints per pass.
    max_rows : int
        Decoder rows (samples × datapoints) per forward pass.
    return_stderr : bool
        Also return the per-datapoint Monte Carlo standard error (delta method, see
        :class:`ISResult`; NaN for K = 1).
    return_ess : bool
        Also return the per-datapoint effective sample size.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    log_px : ndarray, shape (N,)
        Nats per datapoint.
    stderr : ndarray, shape (N,), only if ``return_stderr``
    ess : ndarray, shape (N,), only if ``return_ess``

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError
        Bad ``params``, ``x``, counts or ``rng``.

    References
    ----------
    Burda, Grosse & Salakhutdinov (2015), Eq. (8) and Theorem 1; Kingma & Welling (2014),
    Eq. (6) and Eq. (9).
    """
    _check_rng(rng)
    K = _check_count(K, "K", 1)
    batch_size = _check_count(batch_size, "batch_size", 1)
    max_rows = _check_count(max_rows, "max_rows", 1)
    _check_model_and_x(params, x, need_encoder=True)
    params, x = _as_float64(params, x)
    N = x.shape[0]
    log_px, stderr, ess = np.empty(N), np.empty(N), np.empty(N)
    with _progress_bar(progress, N * K, f"IS log p(x), K={K}", "sample") as bar:
        for sl in _batches(N, batch_size):
            xb = x[sl]
            res = importance_log_px(log_joint(params["theta"], xb), encoder_proposal(params["phi"], xb), K, rng,
                                    chunk_size=max(1, max_rows // xb.shape[0]),
                                    callback=lambda n, m=xb.shape[0]: bar.update(n * m))
            log_px[sl], stderr[sl], ess[sl] = res.log_px, res.stderr, res.ess
    out = (log_px,) + ((stderr,) if return_stderr else ()) + ((ess,) if return_ess else ())
    return out[0] if len(out) == 1 else out


def appendix_d_log_px(params: Params, x: np.ndarray, rng: np.random.Generator, *, n_hmc: int = 500,
                      n_fit: int = 500, n_burnin: int = 300, n_leapfrog: int = 10, step_size: float = 0.1,
                      target_accept: float = 0.9, thin: int = 1, jitter: float = JITTER,
                      cov_scale: float = 1.0, batch_size: int = 1000, z0: np.ndarray | None = None, return_info: bool = False,
                      progress: bool = False, density="gaussian", hmc_dtype="float64"):
    """The paper's marginal likelihood estimator (Appendix D) for every row of x.

    HMC on p_θ(z|x) (gradients by the decoder's hand-written backprop), a Gaussian (or a
    Gaussian KDE, ``density="kde"``) fitted per datapoint to ``n_fit`` samples, ``n_hmc`` new samples, and the harmonic-mean
    formula p(x) ≈ ((1/L) Σ_l q(z_l) / (p(z_l) p(x|z_l)))⁻¹.  Consistent, but biased
    upward for finite L and high-variance when q's tails exceed the posterior's; use it
    for small Nz (the paper: Nz = 3 in Fig. 3).  Only the decoder is needed.

    Parameters
    ----------
    params : dict
        ``{"theta": ...}``, optionally with ``"phi"`` (then the chains start at the
        encoder mean; otherwise at a draw from the prior, and burn-in must be long enough).
    x : ndarray, shape (N, D)
    rng : numpy.random.Generator
    n_hmc : int
        L, the new posterior samples per datapoint of step 3.
    n_fit : int
        Posterior samples per datapoint the Gaussian is fitted to (step 1).
    n_burnin : int
        Discarded HMC transitions (with step-size adaptation) before step 1.
    n_leapfrog, step_size, target_accept, thin, jitter
        HMC settings (:func:`aevb_np.hmc.hmc_sample`; :data:`JITTER` for the jitter).
    cov_scale : float
        Multiplies the fitted covariance; < 1 lightens q's tails (safer, see module doc).
        Gaussian fit only.
    batch_size : int
        Chains (datapoints) run side by side.
    z0 : ndarray, shape (N, Nz), optional
        Chain starts (e.g. MCEM's persistent chains).
    return_info : bool
        Also return ``{"accept_rate": (N,), "step_size": (N,)}``.
    progress : bool
        tqdm bar over datapoints.
    density : {"gaussian", "kde"} or sequence of them
        Step 2's density estimator (see :func:`appendix_d_log_px_from_target`).  The
        default ``"gaussian"`` is the one-Gaussian fit; ``"kde"`` is anglepy's Gaussian
        KDE with a cross-validated bandwidth (:func:`fit_kde`).  A sequence runs the
        chains once for all of them and returns a dict name -> (N,).
    hmc_dtype : {"float64", "float32"}
        Precision of the decoder's arithmetic inside HMC (:func:`posterior_target`); the
        chains, the fit and the estimate stay float64.  float32 halves the cost; its
        log p(x, z) is within ~10⁻⁴ nats of float64's, and the estimates agree with the
        quadrature as float64's do (``benchmarks/fig3_estimators.py``).

    Returns
    -------
    log_px : ndarray, shape (N,), or dict of them
        Nats per datapoint.
    info : dict, only if ``return_info``
        ``accept_rate`` (N,), ``step_size`` (N,), and ``kde_relative_factor`` (N,) with the KDE.

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError

    References
    ----------
    Kingma & Welling (2014), Appendix D; anglepy ``hmc_est.py`` (KDE).
    """
    _check_rng(rng)
    batch_size = _check_count(batch_size, "batch_size", 1)
    _, Nz, _ = _check_model_and_x(params, x, need_encoder=False)
    params, x = _as_float64(params, x)
    if z0 is not None:
        check_float_array("z0", z0, shape=(x.shape[0], Nz))
        check_finite("z0", z0)
    names, single = _check_density(density, _check_positive(cov_scale, "cov_scale"))
    if hmc_dtype not in ("float64", "float32"):
        raise ConfigError(f"hmc_dtype must be 'float64' or 'float32', got {hmc_dtype!r}")
    N = x.shape[0]
    log_px = {name: np.empty(N) for name in names}
    accept, steps, rel = np.empty(N), np.empty(N), np.full(N, np.nan)
    with _progress_bar(progress, N, "Appendix D log p(x)", "datapoint") as bar:
        for sl in _batches(N, batch_size):
            xb = x[sl]
            start = _start_points(params, xb, rng) if z0 is None else np.asarray(z0[sl], dtype=np.float64)
            est, info = appendix_d_log_px_from_target(
                posterior_target(params["theta"], xb, hmc_dtype), start, rng, n_fit=n_fit, n_hmc=n_hmc, n_burnin=n_burnin,
                n_leapfrog=n_leapfrog, step_size=step_size, target_accept=target_accept, thin=thin,
                jitter=jitter, cov_scale=cov_scale, density=names, return_info=True)
            for name in names:
                log_px[name][sl] = est[name]
            accept[sl], steps[sl] = info["accept_rate"], info["step_size"]
            if "kde" in names:
                rel[sl] = info["kde_relative_factor"]
            bar.update(xb.shape[0])
    out = log_px[names[0]] if single else log_px
    if return_info:
        info = {"accept_rate": accept, "step_size": steps}
        if "kde" in names:
            info["kde_relative_factor"] = rel
        return out, info
    return out


def hmc_importance_sampled_log_px(params: Params, x: np.ndarray, K: int, rng: np.random.Generator, *,
                                  n_fit: int = 200, n_burnin: int = 200, n_leapfrog: int = 10,
                                  step_size: float = 0.1, target_accept: float = 0.9, jitter: float = JITTER,
                                  cov_scale: float = 2.0, batch_size: int = 1000, max_rows: int = 10_000, z0: np.ndarray | None = None,
                                  return_stderr: bool = False, progress: bool = False):
    """Importance-sampled log p_θ(x_i) with an HMC-fitted Gaussian proposal; needs only the decoder.

    For models without an encoder (MCEM, Appendix E) and to compare AEVB and MCEM with
    one yardstick.  See :func:`hmc_importance_log_px_from_target`.

    Parameters
    ----------
    params : dict
        ``{"theta": ...}``, optionally with ``"phi"`` (only used to start the chains).
    x : ndarray, shape (N, D)
    K : int
        Importance samples per datapoint.
    rng : numpy.random.Generator
    n_fit, n_burnin, n_leapfrog, step_size, target_accept, jitter
        HMC settings for fitting the proposal.
    cov_scale : float
        Widening of the fitted covariance (default 2).
    batch_size : int
        Datapoints (chains) per pass.
    max_rows : int
        Decoder rows per forward pass in the IS stage.
    z0 : ndarray, shape (N, Nz), optional
        Chain starts.
    return_stderr : bool
        Also return the per-datapoint delta-method standard error.
    progress : bool
        tqdm bar over datapoints.

    Returns
    -------
    log_px : ndarray, shape (N,)
        Nats per datapoint.
    stderr : ndarray, shape (N,), only if ``return_stderr``

    References
    ----------
    Kingma & Welling (2014), Appendix D (steps 1-2); Burda et al. (2015).
    """
    _check_rng(rng)
    batch_size = _check_count(batch_size, "batch_size", 1)
    max_rows = _check_count(max_rows, "max_rows", 1)
    _, Nz, _ = _check_model_and_x(params, x, need_encoder=False)
    params, x = _as_float64(params, x)
    if z0 is not None:
        check_float_array("z0", z0, shape=(x.shape[0], Nz))
        check_finite("z0", z0)
    N = x.shape[0]
    log_px, stderr = np.empty(N), np.empty(N)
    with _progress_bar(progress, N, f"HMC-IS log p(x), K={K}", "datapoint") as bar:
        for sl in _batches(N, batch_size):
            xb = x[sl]
            start = _start_points(params, xb, rng) if z0 is None else np.asarray(z0[sl], dtype=np.float64)
            res = hmc_importance_log_px_from_target(
                posterior_target(params["theta"], xb), log_joint(params["theta"], xb), start, K, rng,
                n_fit=n_fit, n_burnin=n_burnin, n_leapfrog=n_leapfrog, step_size=step_size,
                target_accept=target_accept, jitter=jitter, cov_scale=cov_scale,
                chunk_size=max(1, max_rows // xb.shape[0]))
            log_px[sl], stderr[sl] = res.log_px, res.stderr
            bar.update(xb.shape[0])
    return (log_px, stderr) if return_stderr else log_px


# ---------------------------------------------------------------------------
# exact log p(x) by quadrature over a grid of z (Nz <= 3)
# ---------------------------------------------------------------------------


def _decoder_features(theta: dict, decoder: str, z: np.ndarray):
    """The x-independent part of log p(x|z) = X(x) · F(z) + c(z), at grid points z (G, Nz).

    Bernoulli (Eq. 11): log p(x|z) = x · a − Σ_d softplus(a_d) with a = W2 h + b2, so
    x · a = (x W2) · h + x · b2: F = [h, 1], X = [x W2, x · b2], c = −Σ softplus(a).
    Gaussian (Eq. 12): −½ Σ_d [log 2π + λ_d + (x_d − μ_d)² e^{−λ_d}] =
    x · (μ e^{−λ}) + x² · (−½ e^{−λ}) + c with c = −½ Σ_d [log 2π + λ_d + μ_d² e^{−λ_d}].
    The decoder runs once per grid point and is shared by every datapoint; each
    datapoint then costs one dot product of length H + 1 (Bernoulli) or 2 D (Gaussian).
    """
    out = model.decode(theta, z)
    if decoder == "bernoulli":
        c = -np.sum(softplus(out["logits"]), axis=1)
        return np.concatenate([out["h"], np.ones((z.shape[0], 1), dtype=out["h"].dtype)], axis=1), c
    prec = np.exp(-out["log_var"])
    mu = out["mu"]
    c = -0.5 * np.sum(dist.LOG_2PI + out["log_var"] + mu * mu * prec, axis=1)
    return np.concatenate([mu * prec, -0.5 * prec], axis=1), c


def _data_features(theta: dict, decoder: str, x: np.ndarray) -> np.ndarray:
    """X(x) of :func:`_decoder_features`, shape (N, H + 1) or (N, 2 D)."""
    if decoder == "bernoulli":
        return np.concatenate([x @ theta["W2"], (x @ theta["b2"])[:, None]], axis=1)
    return np.concatenate([x, x * x], axis=1)


def quadrature_log_px(params_or_theta, x: np.ndarray, *, grid: int = 161, limit: float = 5.0,
                      chunk_size: int = 4096, return_info: bool = False):
    """Exact (to grid error) log p_θ(x) = log ∫ p_θ(x|z) N(z; 0, I) dz for Nz <= 3, by quadrature.

    The integral is approximated by the trapezoidal rule on the regular grid of ``grid``
    points per axis over the box [−limit, limit]^Nz (step h = 2·limit/(grid − 1)),
    evaluated as one log-sum-exp per datapoint: log p̂(x) = log Σ_g p(x, z_g) + Nz log h.
    No sampling is involved, so the only errors are the grid's: the discretization error
    and the mass of p(z|x) outside the box.

    Why a regular grid and not Gauss–Hermite: (1) the integrand p(x|z) N(z; 0, I) is
    smooth and decays like a Gaussian or faster, for which the trapezoidal rule converges
    geometrically, like exp(−2π² σ² / h²) for a posterior of width σ (Trefethen &
    Weideman 2014, §5: on R it is as efficient as Gauss–Hermite, which has no
    polynomial accuracy to exploit when the integrand is far from polynomial × Gaussian).
    (2) Gauss–Hermite on the prior's weight places n nodes over ±√(2n) with spacing about
    π/√(2n) at the centre, so resolving a posterior of width 0.05 needs n ≈ 2000 nodes
    per axis where the grid needs ~160; a Gauss–Hermite rule adapted to each datapoint's
    posterior would need that posterior to be unimodal and located beforehand.  (3) One
    grid serves every datapoint: the decoder runs once per grid point and each datapoint
    costs a dot product (see ``_decoder_features``), 784 times cheaper than a decoder
    pass at D = 784, H = 100.  (4) The grid gives its own error estimate for free: the
    2^Nz sub-grids of step 2h (every other point along each axis, 2^Nz offsets) are
    2^Nz independent, coarser trapezoidal rules whose mean is the fine one; their
    spread bounds the error of the step-2h rule, and with geometric convergence the
    step-h answer is far more accurate still.

    Parameters
    ----------
    params_or_theta : dict
        ``{"theta": ...}`` (``"phi"`` is ignored) or the decoder dict itself (Appendix C.1
        Bernoulli or C.2 Gaussian).
    x : ndarray, shape (N, D)
        Datapoints.
    grid : int
        Points per axis, >= 3 (odd puts z = 0 on the grid).  Cost: grid^Nz decoder
        evaluations plus N · grid^Nz dot products.
    limit : float
        Half-width of the box, in prior standard deviations; > 0.
    chunk_size : int
        Grid points per decoder pass; memory is about chunk_size · (D + N) · 8 bytes
        (4096 · (784 + 1000) · 8 ≈ 60 MB) whatever the grid.
    return_info : bool
        Also return the diagnostics below.

    Returns
    -------
    log_px : ndarray, shape (N,)
        log p_θ(x_i) in nats.
    info : dict, only if ``return_info``
        ``error_estimate`` (N,): max over the 2^Nz step-2h sub-grids of
        ``|log p̂_2h − log p̂_h|``, nats, a conservative bound on the discretization error of
        ``log_px``; ``boundary_fraction`` (N,): the share of the grid's mass on the
        faces of the box (should be ≪ 1e-6; if not, widen ``limit``); ``step`` h;
        ``n_points`` grid^Nz.

    Raises
    ------
    ConfigError
        Nz > 3 (:data:`QUADRATURE_MAX_NZ`: the grid's cost grows as grid^Nz), or a bad
        ``grid``, ``limit`` or ``chunk_size``.
    ShapeError, NonFiniteError, SupportError
        Bad decoder arrays or ``x``.

    References
    ----------
    Kingma & Welling (2014), §2.1 (p_θ(x) = ∫ p_θ(z) p_θ(x|z) dz) and Appendix C;
    Trefethen & Weideman (2014), "The exponentially convergent trapezoidal rule",
    SIAM Review 56(3), §5.
    """
    theta = params_or_theta.get("theta", params_or_theta) if isinstance(params_or_theta, dict) else params_or_theta
    D, H, Nz, decoder = decoder_architecture(theta)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"quadrature_log_px integrates over a grid of z and refuses Nz > {QUADRATURE_MAX_NZ} "
                          f"(got Nz={Nz}: grid^Nz points); use importance sampling or Appendix D instead")
    _check_model_and_x({"theta": theta}, x, need_encoder=False)
    p64, x = _as_float64({"theta": theta}, x)
    theta = p64["theta"]
    X = _data_features(theta, decoder, x)  # (N, K)

    def log_joint_grid(z):
        F, cz = _decoder_features(theta, decoder, z)
        return X @ F.T + (cz + dist.log_standard_normal(z))[None, :]

    return quadrature_log_px_from_log_joint(log_joint_grid, Nz, x.shape[0], grid=grid, limit=limit,
                                            chunk_size=chunk_size, return_info=return_info)


def quadrature_log_px_from_log_joint(log_joint_grid: Callable[[np.ndarray], np.ndarray], n_latent: int, n_data: int,
                                     *, grid: int = 161, limit: float = 5.0, chunk_size: int = 4096,
                                     return_info: bool = False):
    """The grid quadrature of :func:`quadrature_log_px` for any model: log Σ_g p(x_i, z_g) + Nz log h.

    Parameters
    ----------
    log_joint_grid : callable
        ``z (G, Nz) -> (N, G)``: the normalized log p(x_i, z_g) of every datapoint at
        every grid point, nats.
    n_latent : int
        Nz, 1 to :data:`QUADRATURE_MAX_NZ`.
    n_data : int
        N, the rows ``log_joint_grid`` returns.
    grid, limit, chunk_size, return_info
        As in :func:`quadrature_log_px`.

    Returns
    -------
    log_px : ndarray, shape (N,)
    info : dict, only if ``return_info`` (see :func:`quadrature_log_px`)

    Raises
    ------
    ConfigError
        Nz outside 1..3, or bad ``grid``, ``limit`` or ``chunk_size``.
    ShapeError
        ``log_joint_grid`` returns the wrong shape.
    NonFiniteError
        A log-joint value is NaN or infinite.
    """
    Nz = _check_count(n_latent, "n_latent", 1)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"quadrature refuses Nz > {QUADRATURE_MAX_NZ} (got Nz={Nz}: grid^Nz points)")
    N = _check_count(n_data, "n_data", 1)
    grid = _check_count(grid, "grid", 3)
    limit = _check_positive(limit, "limit")
    chunk_size = _check_count(chunk_size, "chunk_size", 1)
    axis = np.linspace(-limit, limit, grid)
    h = axis[1] - axis[0]
    n_cosets = 2**Nz
    coset_lse = np.full((n_cosets, N), -np.inf)  # log Σ over each step-2h sub-grid
    face_lse = np.full(N, -np.inf)
    for c in range(n_cosets):
        sub = [np.arange((c >> j) & 1, grid, 2) for j in range(Nz)]  # this sub-grid's indices per axis
        shape = tuple(len(s) for s in sub)
        total = int(np.prod(shape))
        for start in range(0, total, chunk_size):
            flat = np.arange(start, min(total, start + chunk_size))
            idx = np.stack([sub[j][i] for j, i in enumerate(np.unravel_index(flat, shape))], axis=1)  # (G, Nz)
            vals = np.asarray(log_joint_grid(axis[idx]), dtype=np.float64)  # (N, G): log p(x_i, z_g)
            if vals.shape != (N, idx.shape[0]):
                raise ShapeError(f"log_joint_grid must return shape (N={N}, G={idx.shape[0]}), got {vals.shape}")
            if not np.isfinite(vals).all():
                raise NonFiniteError("log p(x, z) is not finite at some grid point (a decoder overflow?)")
            coset_lse[c] = np.logaddexp(coset_lse[c], logsumexp(vals, axis=1))
            on_face = np.any((idx == 0) | (idx == grid - 1), axis=1)
            if on_face.any():
                face_lse = np.logaddexp(face_lse, logsumexp(vals[:, on_face], axis=1))
    all_lse = logsumexp(coset_lse, axis=0)
    log_px = all_lse + Nz * math.log(h)
    if not return_info:
        return log_px
    coarse = coset_lse + Nz * math.log(2 * h)  # each sub-grid's own trapezoidal estimate
    info = {"error_estimate": np.max(np.abs(coarse - log_px), axis=0),
            "boundary_fraction": np.exp(face_lse - all_lse), "step": float(h), "n_points": grid**Nz}
    return log_px, info


def grid_posterior_start(params_or_theta, x: np.ndarray, rng: np.random.Generator, *, grid: int = 57,
                         limit: float = 7.0, chunk_size: int = 4096, dtype="float64") -> np.ndarray:
    """Chain starts drawn from the grid-discretized posterior p_θ(z|x), for Nz <= 3.

    One z per datapoint drawn with probability ∝ p_θ(x, z_g) among the points z_g of the
    regular grid of :func:`quadrature_log_px` (Gumbel-max trick, streamed over chunks, so
    memory stays bounded).  Posteriors of a Nz = 3 MNIST decoder can have modes tens of
    nats apart; an HMC chain started from the prior or the encoder mean may never leave
    a minor one, and then Appendix D and HMC-fitted importance sampling miss the major
    mode's mass (benchmarks/fig3_estimators.py).  Starting the chains here puts them in
    each mode with about its posterior probability.  Pass the result as ``z0`` to
    :func:`appendix_d_log_px` or :func:`hmc_importance_sampled_log_px`.

    Parameters
    ----------
    params_or_theta : dict
        ``{"theta": ...}`` or the decoder dict.
    x : ndarray, shape (N, D)
    rng : numpy.random.Generator
    grid, limit, chunk_size
        As in :func:`quadrature_log_px` (a coarse grid suffices: 57 points over ±7 is a
        step of 0.25 prior standard deviations).
    dtype : {"float64", "float32"}
        Precision of the decoder over the grid and of the log-joint values the draw is
        made from; float32's error (~10⁻⁴ nats) is far below what moves a start point.

    Returns
    -------
    ndarray, shape (N, Nz)

    Raises
    ------
    ConfigError
        Nz > 3, or bad ``grid``, ``limit``, ``chunk_size`` or ``rng``.
    """
    _check_rng(rng)
    theta = params_or_theta.get("theta", params_or_theta) if isinstance(params_or_theta, dict) else params_or_theta
    D, H, Nz, decoder = decoder_architecture(theta)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"grid_posterior_start refuses Nz > {QUADRATURE_MAX_NZ} (got Nz={Nz})")
    grid = _check_count(grid, "grid", 3)
    limit = _check_positive(limit, "limit")
    chunk_size = _check_count(chunk_size, "chunk_size", 1)
    _check_model_and_x({"theta": theta}, x, need_encoder=False)
    if dtype not in ("float64", "float32"):
        raise ConfigError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    theta = {k: np.asarray(v, dtype=dtype) for k, v in theta.items()}
    x = np.asarray(x, dtype=dtype)
    X = _data_features(theta, decoder, x)
    axis = np.linspace(-limit, limit, grid).astype(dtype)
    N = x.shape[0]
    best = np.full(N, -np.inf)
    z0 = np.zeros((N, Nz))
    total = grid**Nz
    row_max = np.full(N, -np.inf)  # max over the grid points seen so far of log p(x, z_g)
    for start in range(0, total, chunk_size):
        flat = np.arange(start, min(total, start + chunk_size))
        z = axis[np.stack(np.unravel_index(flat, (grid,) * Nz), axis=1)]
        F, cz = _decoder_features(theta, decoder, z)
        vals = X @ F.T + (cz + dist.log_standard_normal(z))[None, :]  # (N, chunk), in ``dtype``
        np.maximum(row_max, vals.max(axis=1), out=row_max)
        # Gumbel-max: argmax_g (log p(x, z_g) + Gumbel_g) is a draw from p(z_g|x).  A point
        # GUMBEL_CUTOFF nats below the row's maximum wins only if its Gumbel exceeds the
        # maximum's by that much, probability < grid^Nz · e^−(GUMBEL_CUTOFF − 5) ≈ 10⁻¹³
        # per datapoint: such points get no Gumbel drawn (the draws, not the GEMM, were the
        # cost), which leaves the distribution of the draw unchanged to that precision.
        live = vals >= (row_max - GUMBEL_CUTOFF).astype(vals.dtype)[:, None]
        np.copyto(vals, -np.inf, where=~live)
        vals[live] += rng.gumbel(size=int(np.count_nonzero(live))).astype(vals.dtype)
        j = np.argmax(vals, axis=1)
        top = vals[np.arange(N), j]
        better = top > best
        best[better] = top[better]
        z0[better] = z[j[better]]
    return z0
