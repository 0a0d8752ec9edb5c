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
regression, is at the end of the module (``linreg_*``): it runs through the same
:func:`sample_theta`, :func:`theta_backward` and :func:`neg_kl_theta` as the VAE.

References
----------
Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 13–24); Eq. (3), (7), (8);
Appendix B (the Gaussian KL).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from aevb_np import bounds, model, optim
from aevb_np import distributions as dist
from aevb_np.checks import check_finite, check_float_array, check_rng
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.params import Params, Shapes, allocate, check_params

GROUPS = ("phi", "theta_mu", "theta_log_var")

__all__ = [
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


# --------------------------------------------------------------------------- parameters


def full_vb_shapes(n_x: int, n_hidden: int, n_latent: int, decoder: str = "bernoulli") -> Shapes:
    """Shapes of the variational parameters: φ, and μ_θ, log σ_θ² for every decoder array.

    Parameters
    ----------
    n_x, n_hidden, n_latent : int
        D, H and Nz, as in :func:`aevb_np.model.param_shapes`.
    decoder : {"bernoulli", "gaussian"}

    Returns
    -------
    dict
        ``{"phi": {...}, "theta_mu": {"W1": (H, Nz), ...}, "theta_log_var": {same}}``.

    Raises
    ------
    ConfigError
        A non-positive size or an unknown decoder.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24): q_φ(θ) = N(μ_θ, diag(σ_θ²)).
    """
    vae = model.param_shapes(n_x, n_hidden, n_latent, decoder)
    return {"phi": vae["phi"], "theta_mu": dict(vae["theta"]), "theta_log_var": dict(vae["theta"])}


def init_full_vb_params(
    n_x: int,
    n_hidden: int,
    n_latent: int,
    rng: np.random.Generator,
    decoder: str = "bernoulli",
    init_std: float = 0.01,
    init_theta_log_var: float = -9.0,
    dtype=np.float64,
) -> Params:
    """Initial variational parameters: φ and μ_θ as the VAE's weights, σ_θ small.

    φ and μ_θ are drawn from N(0, init_std²) exactly as :func:`aevb_np.model.init_params`
    draws φ and θ (§5).  Every log σ_θ² starts at ``init_theta_log_var`` (−9: σ_θ ≈ 0.011,
    the size of the initial weights), so training starts near the VAE and the bound
    itself decides how far each σ_θ grows toward the prior's 1.

    Parameters
    ----------
    n_x, n_hidden, n_latent : int
        D, H and Nz.
    rng : numpy.random.Generator
        Required: the only source of randomness.
    decoder : {"bernoulli", "gaussian"}
    init_std : float
        Standard deviation of the initial φ and μ_θ.
    init_theta_log_var : float
        Initial log σ_θ² of every decoder entry.
    dtype : float64 or float32

    Returns
    -------
    dict
        ``{"phi", "theta_mu", "theta_log_var"}`` of views into one flat buffer, so
        :class:`aevb_np.optim.Adagrad` updates them in a few passes.

    Raises
    ------
    ConfigError
        Missing ``rng``, non-positive sizes or ``init_std``, non-finite ``init_theta_log_var``.

    References
    ----------
    Kingma & Welling (2014), §5 (initialization) and Appendix F.
    """
    check_rng(rng)
    if not (np.isfinite(init_std) and init_std > 0):
        raise ConfigError(f"init_std must be a positive finite number, got {init_std!r}")
    if not np.isfinite(init_theta_log_var):
        raise ConfigError(f"init_theta_log_var must be finite, got {init_theta_log_var!r}")
    _, params = allocate(full_vb_shapes(n_x, n_hidden, n_latent, decoder), dtype)
    for group in ("phi", "theta_mu"):
        for a in params[group].values():
            a[...] = rng.normal(0.0, init_std, size=a.shape)
    for a in params["theta_log_var"].values():
        a[...] = init_theta_log_var
    return params


def architecture(params: Params) -> tuple[int, int, int, str]:
    """Read ``(n_x, n_hidden, n_latent, decoder)`` off full-VB parameters and check every shape.

    Raises
    ------
    ShapeError
        ``params`` is not ``{"phi", "theta_mu", "theta_log_var"}`` of matching shapes.
    """
    if not isinstance(params, dict) or "theta_mu" not in params:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ShapeError(f"params must have the groups {list(GROUPS)} (from init_full_vb_params), got {got}")
    D, H, Nz, decoder = model.architecture({"phi": params["phi"], "theta": params["theta_mu"]})
    check_params(params, full_vb_shapes(D, H, Nz, decoder))
    return D, H, Nz, decoder


def posterior_mean_params(params: Params) -> Params:
    """VAE parameters ``{"phi", "theta": μ_θ}`` (copies): the decoder at the mean of q_φ(θ).

    Useful for :func:`aevb_np.bounds.lower_bound` and :mod:`aevb_np.plots`, which expect
    a point estimate.

    Parameters
    ----------
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}`` from :func:`init_full_vb_params`.

    Returns
    -------
    dict
        ``{"phi": {...}, "theta": {...}}``, copies of ``params["phi"]`` and
        ``params["theta_mu"]`` (separate arrays, not one flat buffer).

    Raises
    ------
    KeyError
        ``params`` lacks ``"phi"`` or ``"theta_mu"``.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24) (μ_θ is the mean of q_φ(θ)).
    """
    return {
        "phi": {k: v.copy() for k, v in params["phi"].items()},
        "theta": {k: v.copy() for k, v in params["theta_mu"].items()},
    }


# --------------------------------------------------------------------------- q_φ(θ): sample, KL, backward


def _check_zeta(params: Params, zeta) -> None:
    """Check that ``zeta`` has one finite array per decoder array, of the same shape."""
    if not isinstance(zeta, dict) or set(zeta) != set(params["theta_mu"]):
        got = sorted(zeta) if isinstance(zeta, dict) else type(zeta).__name__
        raise ShapeError(f"zeta must be a dict with the keys {sorted(params['theta_mu'])}, got {got}")
    for k, mu in params["theta_mu"].items():
        check_float_array(f"zeta[{k!r}]", zeta[k], shape=mu.shape)
        check_finite(f"zeta[{k!r}]", zeta[k])


def draw_zeta(params: Params, rng: np.random.Generator) -> dict:
    """One draw ζ ~ N(0, I) for every decoder array, in ``params["theta_mu"]``'s shapes and dtype.

    Parameters
    ----------
    params : dict
        Holds ``"theta_mu"``.
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``{"W1": (H, Nz), ...}`` standard-normal noise of Appendix F's p(ζ).

    References
    ----------
    Kingma & Welling (2014), Appendix F (ζ ~ p(ζ), θ̃ = h_φ(ζ)).
    """
    return {k: rng.standard_normal(v.shape, dtype=v.dtype) for k, v in params["theta_mu"].items()}


def sample_theta(params: Params, zeta: dict) -> dict:
    """The reparameterized decoder θ̃ = μ_θ + σ_θ ⊙ ζ with σ_θ = exp(½ log σ_θ²).

    Parameters
    ----------
    params : dict
        Holds ``"theta_mu"`` and ``"theta_log_var"`` (any array names: the VAE decoder's,
        or ``{"w"}`` of the linear-regression check).
    zeta : dict
        Standard-normal noise, one array per name, each of that array's shape.

    Returns
    -------
    dict
        θ̃, one array per name: a draw from q_φ(θ) when ζ ~ N(0, I).

    Raises
    ------
    ShapeError, NonFiniteError
        ``zeta`` lacks a name, has a wrong shape, or holds NaN/inf.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24) (the location-scale h_φ of §2.4).
    """
    _check_zeta(params, zeta)
    return _reparameterize(params, zeta)


def _reparameterize(params: Params, zeta: dict) -> dict:
    """θ̃ = μ_θ + exp(½ log σ_θ²) ⊙ ζ without input checks (the training loop's path)."""
    mu, log_var = params["theta_mu"], params["theta_log_var"]
    return {k: mu[k] + np.exp(0.5 * log_var[k]) * zeta[k] for k in mu}


def neg_kl_theta(params: Params) -> float:
    """−KL(q_φ(θ) ‖ p_α(θ)) with p_α(θ) = N(0, I), in closed form, summed over every entry of θ.

    ``−KL = ½ Σ_j (1 + log σ_θj² − μ_θj² − σ_θj²)``: Appendix B's formula, applied to
    the parameters instead of z; 0 exactly when q_φ(θ) is the prior.

    Parameters
    ----------
    params : dict
        Holds ``"theta_mu"`` and ``"theta_log_var"``.

    Returns
    -------
    float
        −KL in nats (for the whole dataset, not per datapoint).

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24); Appendix B.
    """
    mu, log_var = params["theta_mu"], params["theta_log_var"]
    return float(sum(dist.neg_kl_standard_normal(mu[k].reshape(-1), log_var[k].reshape(-1)) for k in mu))


def theta_backward(params: Params, zeta: dict, dtheta: dict, kl_weight: float) -> tuple[dict, dict]:
    """Gradients w.r.t. (μ_θ, log σ_θ²) of ``f(θ̃) − kl_weight · KL(q_φ(θ) ‖ p_α(θ))``.

    The chain rule through θ̃ = μ_θ + σ_θ ⊙ ζ gives ∂θ̃/∂μ_θ = 1 and
    ∂θ̃/∂log σ_θ² = ½ σ_θ ⊙ ζ; the closed-form −KL adds −μ_θ and ½ (1 − σ_θ²).  μ_θ and
    log σ_θ² reach the objective by both paths, and the two contributions are summed.

    Parameters
    ----------
    params : dict
        Holds ``"theta_mu"`` and ``"theta_log_var"``.
    zeta : dict
        The noise θ̃ was drawn with.
    dtheta : dict
        ∂f/∂θ̃ for every array (e.g. the decoder gradients of :func:`aevb_np.bounds.estimator_B`).
    kl_weight : float
        How many times −KL enters the objective (M/N for ``bound.sum()`` of a minibatch).

    Returns
    -------
    dmu, dlog_var : dict
        One array per name, the shapes of ``params["theta_mu"]``.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24); Appendix B differentiated.
    """
    dmu, dlog_var = {}, {}
    for k, mu in params["theta_mu"].items():
        log_var = params["theta_log_var"][k]
        sigma = np.exp(0.5 * log_var)
        dmu_kl, dlog_var_kl = dist.neg_kl_standard_normal_grad(mu, log_var)
        dmu[k] = dtheta[k] + kl_weight * dmu_kl  # reparameterization path + KL path
        dlog_var[k] = 0.5 * sigma * zeta[k] * dtheta[k] + kl_weight * dlog_var_kl
    return dmu, dlog_var


def _check_n_train(n_train, M: int) -> int:
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < M:
        raise ConfigError(
            f"n_train (N, the training-set size) must be an integer >= the minibatch size {M}, got {n_train!r}"
        )
    return int(n_train)


# --------------------------------------------------------------------------- the estimator


def full_vb_estimator(
    params: Params,
    x: np.ndarray,
    eps: np.ndarray,
    zeta: dict,
    n_train: int,
    z_estimator: str = "B",
    need_grad: bool = True,
    validate: bool = True,
):
    """Appendix F's SGVB estimator on a minibatch, per datapoint, with its gradient.

    ``bound_i = L̃(θ̃, φ; x_i, ε_i) − KL(q_φ(θ) ‖ N(0, I)) / N`` with θ̃ = μ_θ + σ_θ ⊙ ζ
    (one ζ for the minibatch) and L̃ the VAE estimator B (or A) evaluated with decoder θ̃.
    ``(N/M) · bound.sum()`` is the minibatch estimate of L(φ; X) (Eq. 8 scaling on the
    per-datapoint terms only; the KL over θ counted once per dataset), and
    ``bound.mean()`` estimates L(φ; X) / N.

    Parameters
    ----------
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}`` from :func:`init_full_vb_params`.
    x : ndarray, shape (M, D)
        A minibatch; in [0, 1] for the Bernoulli decoder.
    eps : ndarray, shape (L, M, Nz)
        Standard-normal noise for z (Eq. 9).
    zeta : dict
        Standard-normal noise for θ, one array per decoder array (:func:`draw_zeta`).
    n_train : int
        N, the number of training datapoints (>= M).
    z_estimator : {"A", "B"}
        SGVB estimator for the z part (Eq. 6 or Eq. 7).
    need_grad : bool
        If False, return ``(bound, None)``.
    validate : bool
        Check every input (default); the training loop checks its data once.

    Returns
    -------
    bound : ndarray, shape (M,)
        Nats per datapoint.
    grads : dict
        ``{"phi", "theta_mu", "theta_log_var"}``: the gradient of ``bound.sum()``.

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError
        Bad params, x, eps, zeta, n_train or z_estimator; NonFiniteError also if the
        estimate is not finite.

    References
    ----------
    Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 24), Eq. (7)–(8).
    """
    if z_estimator not in bounds.ESTIMATORS:
        raise ConfigError(f"z_estimator must be one of {bounds.ESTIMATORS}, got {z_estimator!r}")
    M = x.shape[0] if isinstance(x, np.ndarray) and x.ndim >= 1 else 0
    if validate:
        architecture(params)
        N = _check_n_train(n_train, M)
    else:
        N = int(n_train)
    # θ̃ = h_φ(ζ): one decoder drawn from q_φ(θ) for the whole minibatch.
    theta_tilde = sample_theta(params, zeta) if validate else _reparameterize(params, zeta)
    vae = {"phi": params["phi"], "theta": theta_tilde}
    fn = bounds.estimator_B if z_estimator == "B" else bounds.estimator_A
    elbo, g = fn(vae, x, eps, need_grad=need_grad, validate=validate)
    # Eq. (24): the per-dataset −KL over θ, shared out as 1/N per datapoint.
    bound = elbo + neg_kl_theta(params) / N
    if not need_grad:
        return bound, None
    # bound.sum() holds −KL M/N times; the decoder gradient arrives at θ̃ and is chained back.
    dmu, dlog_var = theta_backward(params, zeta, g["theta"], kl_weight=M / N)
    return bound, {"phi": g["phi"], "theta_mu": dmu, "theta_log_var": dlog_var}


def estimate(
    params: Params,
    x: np.ndarray,
    rng: np.random.Generator,
    n_train: int,
    L: int = 1,
    n_theta: int = 1,
    z_estimator: str = "B",
    need_grad: bool = True,
    validate: bool = True,
):
    """Draw ε and ζ from ``rng`` and average :func:`full_vb_estimator` over ``n_theta`` draws of θ.

    Same returns as :func:`full_vb_estimator`; each of the ``n_theta`` decoders gets its
    own ε.  The closed-form KL is the same in every term, so the average stays unbiased.

    Parameters
    ----------
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    x : ndarray, shape (M, D)
    rng : numpy.random.Generator
        Source of ε (L, M, Nz) then ζ, per draw of θ, in that order.
    n_train : int
        N, the training-set size (>= M when ``validate``).
    L : int
        Draws of z per datapoint and per θ.
    n_theta : int
        Draws of θ averaged over.
    z_estimator : {"A", "B"}
        Eq. (6) or Eq. (7) for the z part.
    need_grad : bool
        If False, return ``(bound, None)``.
    validate : bool
        Check the inputs (on the first draw only).

    Returns
    -------
    bound : ndarray, shape (M,)
        The average over the ``n_theta`` draws, nats per datapoint.
    grads : dict or None
        ``{"phi", "theta_mu", "theta_log_var"}``: the gradient of ``bound.sum()``.

    Raises
    ------
    ConfigError
        ``L`` or ``n_theta`` not a positive integer, or as :func:`full_vb_estimator`.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Algorithm 2 (several draws of ζ per gradient).
    """
    for name, v in (("L", L), ("n_theta", n_theta)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    Nz = params["phi"]["W4"].shape[0]
    total, grads = None, None
    for s in range(n_theta):
        eps = bounds.draw_eps(rng, L, x.shape[0], Nz, x.dtype)
        zeta = draw_zeta(params, rng)
        b, g = full_vb_estimator(params, x, eps, zeta, n_train, z_estimator, need_grad, validate and s == 0)
        total = b if total is None else total + b
        if need_grad:
            grads = g if grads is None else {G: {k: grads[G][k] + v for k, v in a.items()} for G, a in g.items()}
    if n_theta > 1:
        total = total / n_theta
        if need_grad:
            grads = {G: {k: v / n_theta for k, v in a.items()} for G, a in grads.items()}
    return total, grads


def lower_bound(
    params: Params,
    x: np.ndarray,
    rng: np.random.Generator,
    n_train: int,
    L: int = 1,
    n_theta: int = 1,
    batch_size: int = 1000,
) -> np.ndarray:
    """Estimate of each datapoint's share of L(φ; X): ``E_q(θ)[L(θ, φ; x_i)] − KL(q_φ(θ)‖p)/N``.

    On the training set, ``.mean()`` estimates L(φ; X) / N, a lower bound on
    log p_α(X) / N with θ integrated out.  On held-out data it is the same expression with
    the training set's N (the held-out points' share if they had been in X); add
    ``-neg_kl_theta(params) / n_train`` back for E_q(θ)[L(θ, φ; x)] alone, the number
    comparable with a MAP model's per-datapoint bound.

    Parameters
    ----------
    params : dict
    x : ndarray, shape (N', D)
    rng : numpy.random.Generator
    n_train : int
        N, the training-set size whose KL share is subtracted.
    L, n_theta : int
        Draws of z per datapoint and of θ per batch.
    batch_size : int
        Rows per forward pass; each batch gets its own θ draws.

    Returns
    -------
    ndarray, shape (N',)
        Nats per datapoint.

    References
    ----------
    Kingma & Welling (2014), Appendix F (the bound L(φ; X)), Eq. (24).
    """
    architecture(params)
    bounds.check_inputs({"phi": params["phi"], "theta": params["theta_mu"]}, x)
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1:
        raise ConfigError(f"n_train must be a positive integer, got {n_train!r}")
    out = np.empty(x.shape[0], dtype=x.dtype)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        # validate=False: x was checked above; n_train may be smaller than a held-out batch.
        out[start : start + xb.shape[0]] = estimate(params, xb, rng, n_train, L, n_theta,
                                                    need_grad=False, validate=False)[0]
    return out


# --------------------------------------------------------------------------- training loop


def train_full_vb(
    x_train: np.ndarray,
    n_hidden: int,
    n_latent: int,
    rng: np.random.Generator,
    *,
    steps: int,
    batch_size: int = 100,
    lr: float = 0.02,
    L: int = 1,
    decoder: str = "bernoulli",
    z_estimator: str = "B",
    init_std: float = 0.01,
    init_theta_log_var: float = -9.0,
    params: Params | None = None,
    record_every: int = 10,
):
    """Algorithm 2 with minibatches: Adagrad ascent on L̃(φ; X) for ``steps`` steps.

    Each step takes the next M points of a random epoch order, one ζ and L·M draws ε,
    and applies ``Adagrad(lr, scale=N/M, weight_decay=False)`` to the gradient of
    ``bound.sum()`` — the gradient of the minibatch estimator (N/M) Σ_i L̃_i − KL.

    Parameters
    ----------
    x_train : ndarray, shape (N, D)
    n_hidden, n_latent : int
    rng : numpy.random.Generator
        Initialization (unless ``params`` is given), minibatch order and all noise.
    steps : int
    batch_size : int
        M.
    lr : float
        Adagrad step size (0.02, as for the MAP runs of §5).
    L : int
        z samples per datapoint.
    decoder : {"bernoulli", "gaussian"}
    z_estimator : {"A", "B"}
    init_std, init_theta_log_var : float
        See :func:`init_full_vb_params`.
    params : dict, optional
        Continue from these (updated in place) instead of a fresh initialization.
    record_every : int
        Steps between entries of the returned history.

    Returns
    -------
    params : dict
    history : list of dict
        ``{"step", "bound"}``: the minibatch's mean ``bound`` (nats per datapoint,
        estimate of L(φ; X)/N), every ``record_every`` steps.

    Raises
    ------
    ConfigError
        Bad sizes, ``batch_size > N``; the estimator's errors for bad data.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Algorithm 2; §5 (Adagrad, M = 100).
    """
    from aevb_np.algorithms import FullVB, part_config  # the one loop (algorithms imports this module)
    from aevb_np.loop import RunState, algorithm_1

    N = x_train.shape[0]
    for name, v in (("steps", steps), ("batch_size", batch_size), ("L", L), ("record_every", record_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    if batch_size > N:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set ({N} datapoints)")
    if params is None:
        params = init_full_vb_params(x_train.shape[1], n_hidden, n_latent, rng, decoder,
                                     init_std, init_theta_log_var, x_train.dtype)
    # Check the data once; the steps skip the checks.
    bounds.check_inputs({"phi": params["phi"], "theta": params["theta_mu"]}, x_train)
    architecture(params)
    part = FullVB(part_config(decoder, n_hidden, n_latent, batch_size=batch_size, dtype=x_train.dtype, L=L,
                              estimator=z_estimator, weight_decay=False), x_train.shape[1], N)
    state = RunState(params=params, optimizer=part.make_optimizer(lr), rng=rng, perm=rng.permutation(N))
    history = []

    def record(state, bound):
        if state.step % record_every == 0 or state.step == 1:
            history.append({"step": state.step, "bound": bound})
        return False

    algorithm_1(part, state, x_train, steps * batch_size, record)
    return params, history


# --------------------------------------------------------------------------- pictures


def posterior_std_images(params: Params, array: str = "W2") -> np.ndarray:
    """Posterior standard deviations σ_θ of one decoder weight matrix, one row per hidden unit.

    For the Bernoulli decoder's ``W2`` (shape (D, H)) row ``j`` of the result is
    σ_θ of the D weights from hidden unit j to the pixels: reshaped to 28×28 it shows
    which of the unit's outgoing weights the data pin down (small σ) and which stay
    near the prior's σ = 1.

    Parameters
    ----------
    params : dict
    array : str
        Decoder array name (``"W2"``; ``"W4"`` or ``"W5"`` for the Gaussian decoder).

    Returns
    -------
    ndarray, shape (n_in, n_out)
        ``exp(½ log σ²)`` transposed, so each row belongs to one input unit.

    Raises
    ------
    ShapeError
        ``array`` is not a 2-D decoder array.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24) (σ_θ of q_φ(θ)); Appendix C.1 (W2).
    """
    lv = params["theta_log_var"].get(array)
    if lv is None or lv.ndim != 2:
        raise ShapeError(f"array must name a 2-D decoder weight in {sorted(params['theta_log_var'])}, got {array!r}")
    return np.exp(0.5 * lv).T


def sample_images(params: Params, rng: np.random.Generator, n_theta: int = 5, n_z: int = 10) -> np.ndarray:
    """Decoder means E[x | z, θ] with θ ~ q_φ(θ) (one per row) and z ~ p(z) (shared by the columns).

    Sharing the z's across rows separates the two sources of variation: along a column
    only θ changes, so differences there are the posterior uncertainty over the decoder.

    Parameters
    ----------
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    rng : numpy.random.Generator
        Source of the n_z codes first, then of one ζ per row.
    n_theta : int
        Draws θ ~ q_φ(θ) (rows).
    n_z : int
        Draws z ~ N(0, I) (columns), shared by the rows.

    Returns
    -------
    ndarray, shape (n_theta, n_z, D)
        Decoder means, in (0, 1).

    References
    ----------
    Kingma & Welling (2014), Appendix F (θ ~ q_φ(θ)), Fig. 5 (z ~ p(z)).
    """
    Nz = params["phi"]["W4"].shape[0]
    dtype = params["phi"]["W4"].dtype
    z = rng.standard_normal((n_z, Nz)).astype(dtype)
    return np.stack([model.decoder_mean(sample_theta(params, draw_zeta(params, rng)), z) for _ in range(n_theta)])


def save_samples(path, params: Params, rng: np.random.Generator, image_shape=(28, 28), n_theta: int = 5,
                 n_z: int = 10, title: str = "") -> None:
    """PNG grid of :func:`sample_images`: rows are draws θ ~ q_φ(θ), columns draws z ~ p(z).

    Parameters
    ----------
    path : str or path-like
        The PNG written (atomically).
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    rng : numpy.random.Generator
    image_shape : (h, w)
        (28, 28) for MNIST, (28, 20) for Frey Face; h·w = D.
    n_theta, n_z : int
        Rows and columns (see :func:`sample_images`).
    title : str

    References
    ----------
    Kingma & Welling (2014), Appendix F, Fig. 5.
    """
    from aevb_np import plots

    images = sample_images(params, rng, n_theta, n_z)
    plots.save_image_grid(path, images.reshape(n_theta * n_z, -1), image_shape, n_cols=n_z, title=title)


def save_posterior_std(path, params: Params, image_shape=(28, 28), array: str = "W2", n_units: int | None = None,
                       n_cols: int = 10, title: str = "") -> None:
    """PNG of :func:`posterior_std_images`, one image per hidden unit, with a colour bar (σ_θ).

    The colour scale runs from 0 to the largest σ_θ shown (the prior's σ is 1; a
    trained model's σ_θ are usually far smaller), so the pattern is visible.

    Parameters
    ----------
    path : str or path-like
        The PNG written (atomically).
    params : dict
        ``{"phi", "theta_mu", "theta_log_var"}``.
    image_shape : (h, w)
        Shape of one image; h·w must be the array's input dimension (D for ``W2``).
    array : str
        Decoder array name (``"W2"``; ``"W4"`` or ``"W5"`` for the Gaussian decoder).
    n_units : int, optional
        Show only the first ``n_units`` hidden units (default: all).
    n_cols : int
        Images per row.
    title : str
        Default: "σ_θ of ARRAY, one image per hidden unit".

    Raises
    ------
    ShapeError
        ``array`` is not a 2-D decoder array.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Eq. (24).
    """
    from aevb_np import plots  # sets matplotlib's Agg backend before pyplot is imported

    import matplotlib.pyplot as plt

    std = posterior_std_images(params, array)[:n_units]
    h, w = image_shape
    canvas = plots.tile(std.reshape(-1, h, w), n_cols)
    # tile() fills gaps and empty cells with 1; blank them instead so they take no colour.
    gaps = plots.tile(np.zeros((std.shape[0], h, w)), n_cols) == 1.0
    canvas = np.ma.masked_array(canvas, mask=gaps)
    fig, ax = plt.subplots(figsize=(canvas.shape[1] / 20 + 1, canvas.shape[0] / 20 + 0.5))
    im = ax.imshow(canvas, cmap="viridis", vmin=0.0, vmax=float(std.max()), interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.03, label="posterior std σ_θ")
    ax.set_title(title or f"σ_θ of {array}, one image per hidden unit", fontsize=9)
    plots.save_figure(fig, path)


# --------------------------------------------------------------------------- conjugate check: Bayesian linear regression
#
# y_n = x_n · w + noise,  noise ~ N(0, s²) with s² known,  prior p_α(w) = N(0, I).
# The posterior over θ = {w} is Gaussian in closed form, so the optimized q_φ(θ) can be
# compared with exact numbers.  The estimator below uses the same sample_theta,
# theta_backward and neg_kl_theta as the VAE; only the likelihood differs.


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
