"""Appendix F's estimator: q_φ(θ) = N(μ_θ, diag σ_θ²) over the decoder, its draws, KL and backward,
and the minibatch bound L̃(φ; X) of Eq. (24) with its gradients.

See :mod:`aevb_np.full_vb` for the derivation and the choices.

References
----------
Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 13–24); Eq. (3), (7), (8); Appendix B.
"""

from __future__ import annotations

import numpy as np

from aevb_np import bounds, model
from aevb_np import distributions as dist
from aevb_np.checks import check_count, check_finite, check_float_array, check_rng
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.params import Params, Shapes, allocate, check_params

GROUPS = ("phi", "theta_mu", "theta_log_var")

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
        check_count(v, name)
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
    check_count(n_train, "n_train")
    out = np.empty(x.shape[0], dtype=x.dtype)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        # validate=False: x was checked above; n_train may be smaller than a held-out batch.
        out[start : start + xb.shape[0]] = estimate(params, xb, rng, n_train, L, n_theta,
                                                    need_grad=False, validate=False)[0]
    return out
