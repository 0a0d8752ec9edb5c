"""Importance sampling of log p(x): the estimator over callables, and the VAE wrapper with the
encoder q_φ(z|x) as proposal.

References
----------
Burda, Grosse & Salakhutdinov (2015), Eq. (8) and Theorem 1; Kingma & Welling (2014), Eq. (6), (9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import logsumexp

from aevb_np import distributions as dist
from aevb_np import model
from aevb_np.checks import check_count, check_rng
from aevb_np.errors import NonFiniteError, ShapeError
from aevb_np.marginal.driver import per_batch
from aevb_np.params import Params
from aevb_np.posterior import LogJoint, Proposal, log_joint


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
    K = check_count(K, "K", 1)
    chunk_size = check_count(chunk_size, "chunk_size", 1)
    check_rng(rng)
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
    K = check_count(K, "K", 1)
    max_rows = check_count(max_rows, "max_rows", 1)

    def estimate(params, xb, start, bar):
        res = importance_log_px(log_joint(params["theta"], xb), encoder_proposal(params["phi"], xb), K, rng,
                                chunk_size=max(1, max_rows // xb.shape[0]),
                                callback=lambda n, m=xb.shape[0]: bar.update(n * m))
        return res.log_px, res.stderr, res.ess

    log_px, stderr, ess = per_batch(params, x, rng, estimate, batch_size=batch_size, need_encoder=True,
                                    progress=progress, desc=f"IS log p(x), K={K}", unit="sample", bar_per_row=K)
    out = (log_px,) + ((stderr,) if return_stderr else ()) + ((ess,) if return_ess else ())
    return out[0] if len(out) == 1 else out
