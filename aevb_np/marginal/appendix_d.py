"""Appendix D's estimator of log p(x) (HMC, a fitted density, the harmonic mean), and importance
sampling with an HMC-fitted Gaussian proposal: over callables, and over a decoder's ``params``.

References
----------
Kingma & Welling (2014), Appendix D; Burda et al. (2015); anglepy ``hmc_est.py`` (KDE).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from aevb_np import hmc
from aevb_np.checks import check_count, check_finite, check_positive, check_rng
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.marginal.densities import (DENSITIES, fit_gaussian, fit_kde, gaussian_log_density, gaussian_proposal,
                                        kde_log_density)
from aevb_np.marginal.driver import per_batch
from aevb_np.marginal.importance import ISResult, importance_log_px
from aevb_np.params import Params
from aevb_np.posterior import JITTER, LogJoint, LogJointAndGrad, log_joint, posterior_target


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
    check_rng(rng)
    n_fit = check_count(n_fit, "n_fit", 2)
    n_hmc = check_count(n_hmc, "n_hmc", 1)
    cov_scale = check_positive(cov_scale, "cov_scale")
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
    check_rng(rng)
    n_fit = check_count(n_fit, "n_fit", 2)
    _, mean, chol = _posterior_fit(log_joint_and_grad, z0, rng, n_fit, n_burnin, n_leapfrog, step_size,
                                   target_accept, thin, jitter, cov_scale)
    return importance_log_px(log_joint_fn, gaussian_proposal(mean, chol), K, rng, chunk_size)


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
    names, single = _check_density(density, check_positive(cov_scale, "cov_scale"))
    if hmc_dtype not in ("float64", "float32"):
        raise ConfigError(f"hmc_dtype must be 'float64' or 'float32', got {hmc_dtype!r}")

    def estimate(params, xb, start, bar):
        est, info = appendix_d_log_px_from_target(
            posterior_target(params["theta"], xb, hmc_dtype), start, rng, n_fit=n_fit, n_hmc=n_hmc, n_burnin=n_burnin,
            n_leapfrog=n_leapfrog, step_size=step_size, target_accept=target_accept, thin=thin,
            jitter=jitter, cov_scale=cov_scale, density=names, return_info=True)
        rel = info["kde_relative_factor"] if "kde" in names else np.full(xb.shape[0], np.nan)
        return (*(est[name] for name in names), info["accept_rate"], info["step_size"], rel)

    *columns, accept, steps, rel = per_batch(params, x, rng, estimate, batch_size=batch_size, z0=z0,
                                             chain_starts=True, progress=progress, desc="Appendix D log p(x)")
    log_px = dict(zip(names, columns))
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
    max_rows = check_count(max_rows, "max_rows", 1)

    def estimate(params, xb, start, bar):
        res = hmc_importance_log_px_from_target(
            posterior_target(params["theta"], xb), log_joint(params["theta"], xb), start, K, rng,
            n_fit=n_fit, n_burnin=n_burnin, n_leapfrog=n_leapfrog, step_size=step_size,
            target_accept=target_accept, jitter=jitter, cov_scale=cov_scale,
            chunk_size=max(1, max_rows // xb.shape[0]))
        return res.log_px, res.stderr

    log_px, stderr = per_batch(params, x, rng, estimate, batch_size=batch_size, z0=z0, chain_starts=True,
                               progress=progress, desc=f"HMC-IS log p(x), K={K}")
    return (log_px, stderr) if return_stderr else log_px
