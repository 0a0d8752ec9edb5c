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

**Modules.**  :mod:`~aevb_np.marginal.importance` (importance sampling, the encoder as
proposal), :mod:`~aevb_np.marginal.densities` (the Gaussian and KDE fits of Appendix D's
step 2), :mod:`~aevb_np.marginal.appendix_d` (Appendix D and HMC-fitted importance
sampling), :mod:`~aevb_np.marginal.quadrature` (the grid), and
:mod:`~aevb_np.marginal.driver` (the one per-batch driver the three estimators over
``params`` share).  The posterior target and the log joint are in :mod:`aevb_np.posterior`
(MCEM uses them too).  Every public name is importable from ``aevb_np.marginal``.

References
----------
Kingma & Welling (2014), §5 (Fig. 3) and Appendix D; Burda, Grosse & Salakhutdinov
(2015), "Importance Weighted Autoencoders", §3 and Theorem 1; Newton & Raftery (1994)
and Gelfand & Dey (1994) for the harmonic-mean identity with a density q.
"""

from __future__ import annotations

from aevb_np.marginal.appendix_d import (appendix_d_log_px, appendix_d_log_px_from_target, harmonic_mean_log_px,
                                         hmc_importance_log_px_from_target, hmc_importance_sampled_log_px)
from aevb_np.marginal.densities import (DENSITIES, KDE_FACTORS, KDEFit, fit_gaussian, fit_kde, gaussian_log_density,
                                        gaussian_proposal, kde_log_density)
from aevb_np.marginal.importance import (ISResult, encoder_proposal, importance_log_px, importance_sampled_log_px,
                                         mean_and_stderr)
from aevb_np.marginal.quadrature import (GUMBEL_CUTOFF, QUADRATURE_MAX_NZ, grid_posterior_start, quadrature_log_px,
                                         quadrature_log_px_from_log_joint)
from aevb_np.posterior import (JITTER, LogJoint, LogJointAndGrad, Proposal, decoder_architecture,  # noqa: F401
                               log_joint, posterior_target, posterior_target_plain)

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
    "posterior_target_plain",
    "GUMBEL_CUTOFF",
    "quadrature_log_px",
    "quadrature_log_px_from_log_joint",
]
