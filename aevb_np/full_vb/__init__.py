"""Full variational Bayes (Appendix F): a Gaussian posterior over θ as well as over z.

The VAE of §3 learns a point estimate of the decoder's parameters θ (MAP, with the
N(0, I) prior as weight decay, §5).  Appendix F instead treats θ as a latent variable
too, with a prior p_α(θ) = N(0, I) and a variational posterior

    q_φ(θ) = N(θ; μ_θ, diag(σ_θ²)),     θ̃ = h_φ(ζ) = μ_θ + σ_θ ⊙ ζ,   ζ ~ N(0, I),

over **every** decoder array (``W1 b1 W2 b2`` of the Bernoulli decoder, Appendix C.1, or
``W3 … b5`` of the Gaussian one, C.2).  Each array ``A`` of the decoder has a mean
``params["theta_mu"][A]`` and a log-variance ``params["theta_log_var"][A]`` (log σ², not
log σ) of the same shape; the encoder ``params["phi"]`` is the MLP of §3 as before.  The
variational parameters are (φ, μ_θ, log σ_θ²); there is no point estimate left.

The bound on the marginal likelihood of the whole dataset X = {x_1 … x_N} (Appendix F)::

    log p_α(X) ≥ L(φ; X) = E_{q_φ(θ)}[ Σ_i L(θ, φ; x_i) ] − KL(q_φ(θ) ‖ p_α(θ))

where L(θ, φ; x_i) is the per-datapoint VAE bound of Eq. (3).  Eq. (24)'s Gaussian case
takes the KL in closed form (Appendix B's formula, now summed over every entry of θ):
``−KL = ½ Σ_j (1 + log σ_θj² − μ_θj² − σ_θj²)``.

**Minibatch scaling (Eq. 8).**  For a minibatch of M of the N training points, with one
draw ζ shared by the minibatch and L draws ε per datapoint, the estimator is::

    L̃(φ; X) = (N/M) Σ_{i=1..M} L̃(θ̃, φ; x_i, ε_i)  −  KL(q_φ(θ) ‖ p_α(θ))

The per-datapoint terms are scaled by N/M (each minibatch stands in for the dataset); the
per-dataset term, the KL over θ, is counted once per dataset, not once per datapoint.
:func:`full_vb_estimator` returns the per-datapoint share of this estimator::

    bound_i = L̃(θ̃, φ; x_i, ε_i) − KL(q_φ(θ) ‖ p_α(θ)) / N         (shape (M,))

so that ``(N/M) · bound.sum()`` is L̃(φ; X) and ``bound.mean()`` estimates L(φ; X) / N, the
**bound per datapoint** we report (nats).  Its gradients are those of ``bound.sum()``, the
same contract as :func:`aevb_np.bounds.estimator_B`; the optimizer multiplies them by N/M
(``optim.Adagrad(lr, scale=N/M, weight_decay=False)``): there is no weight decay, because
the prior over θ is already inside the bound, and φ is a variational parameter without a
prior (the MAP run of §5 decays φ too; see :mod:`aevb_np.optim`).

**Choices (departures from Algorithm 2, each unbiased for the same bound).**

* The z-part of L̃(θ̃, φ; x_i, ε_i) is SGVB estimator B (Eq. 7/10: closed-form KL for z)
  by default, as in our VAE training; ``z_estimator="A"`` gives the Monte Carlo form
  ``log p_θ̃(x|z̃) + log p(z̃) − log q_φ(z̃|x)`` that Appendix F writes in f_φ(x, z, θ).
* Algorithm 2 draws a fresh ζ (a fresh network) per datapoint.  We draw one ζ per
  minibatch (``n_theta`` draws with :func:`estimate`), so the minibatch goes through one
  decoder with two matrix products; the estimator stays unbiased, its variance is larger.

Units: nats per datapoint (log-densities of [0, 1] grey levels used as Bernoulli means on
MNIST).  A conjugate special case with a closed-form posterior, Bayesian linear
regression, is in :mod:`aevb_np.full_vb.linreg` (``linreg_*``): it runs through the same
:func:`sample_theta`, :func:`theta_backward` and :func:`neg_kl_theta` as the VAE.

**Modules.**  :mod:`~aevb_np.full_vb.estimator` (q_φ(θ): parameters, draws, KL, backward;
the estimator and the bound), :mod:`~aevb_np.full_vb.part` (the part of the training loop
and the in-memory runner :func:`train_full_vb`), :mod:`~aevb_np.full_vb.plots` (pictures),
:mod:`~aevb_np.full_vb.linreg` (the conjugate check).  Every public name is importable
from ``aevb_np.full_vb``.

References
----------
Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 13–24); Eq. (3), (7), (8);
Appendix B (the Gaussian KL).
"""
from __future__ import annotations

from aevb_np.full_vb.estimator import (GROUPS, architecture, draw_zeta, estimate, full_vb_estimator, full_vb_shapes,
                                       init_full_vb_params, lower_bound, neg_kl_theta, posterior_mean_params,
                                       sample_theta, theta_backward)
from aevb_np.full_vb.linreg import (fit_linreg, linreg_elbo, linreg_estimator, linreg_exact_posterior,
                                    linreg_log_evidence, linreg_optimal_mean_field)
from aevb_np.full_vb.part import FullVB, train_full_vb
from aevb_np.full_vb.plots import posterior_std_images, sample_images, save_posterior_std, save_samples

__all__ = [
    "FullVB",
    "GROUPS",
    "architecture",
    "draw_zeta",
    "estimate",
    "full_vb_estimator",
    "fit_linreg",
    "full_vb_shapes",
    "init_full_vb_params",
    "linreg_elbo",
    "linreg_estimator",
    "linreg_exact_posterior",
    "linreg_log_evidence",
    "linreg_optimal_mean_field",
    "lower_bound",
    "neg_kl_theta",
    "posterior_mean_params",
    "posterior_std_images",
    "sample_images",
    "sample_theta",
    "save_posterior_std",
    "save_samples",
    "theta_backward",
    "train_full_vb",
]
