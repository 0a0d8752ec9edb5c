"""The variational lower bound and the SGVB estimators A and B, value and gradient.

For one datapoint the lower bound is (Eq. 3)::

    L(θ, φ; x) = E_{q_φ(z|x)}[ log p_θ(x, z) − log q_φ(z|x) ]
               = −KL(q_φ(z|x) ‖ p_θ(z)) + E_{q_φ(z|x)}[ log p_θ(x|z) ]

With the Gaussian q of §3 and ``z_l = mu + σ ⊙ eps_l`` (Eq. 9–10, ``σ = exp(½ log_var)``)
the two SGVB estimators are

* A (Eq. 6): ``(1/L) Σ_l log p_θ(x, z_l) − log q_φ(z_l|x)``
* B (Eq. 7 / Eq. 10): ``−KL(q‖p)`` in closed form (Appendix B) ``+ (1/L) Σ_l log p_θ(x|z_l)``

Both are unbiased for L(θ, φ; x); B has lower variance because one of its terms is exact.
Each function returns the estimate per datapoint and, by hand-written backprop, the
gradient of its *sum* over the minibatch with respect to every array of ``params``.
The training loop scales that sum by N/M (Eq. 8); see :mod:`aevb_np.train`.

Fast path: pass ``grads=`` (a nested dict from :func:`aevb_np.params.zeros_like`, whose
arrays are views into one flat buffer) and ``workspace=`` (a dict kept from step to
step); the gradients are then written into ``grads`` and every large intermediate lives
in ``workspace``, so a training step allocates no large array and the optimizer updates
one contiguous buffer.  The arithmetic is the same as without them.

Units: nats per datapoint.  For continuous data (Frey Face) the bound is a log *density*
over [0,1]-scaled pixels, so it is positive and large.

References
----------
Kingma & Welling (2014), §2.1–2.3, Eq. (1)–(3), (6), (7), (9), (10); Appendix B.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import model, reparam
from aevb_np.checks import check_count, check_finite, check_float_array, check_positive, check_unit_interval
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError
from aevb_np.params import Params, check_params, shapes_of

ESTIMATORS = ("A", "B")


def check_inputs(params: Params, x: np.ndarray, eps: np.ndarray | None = None) -> tuple[int, int, int, str]:
    """Validate ``params``, ``x`` and ``eps`` for the estimators; return the architecture.

    Parameters
    ----------
    params : dict
        As made by :func:`aevb_np.model.init_params`.
    x : ndarray, shape (M, D)
        Finite; in [0, 1] when the decoder is Bernoulli.
    eps : ndarray, shape (L, M, Nz), optional
        Finite standard-normal noise.

    Returns
    -------
    (D, H, Nz, decoder)

    Raises
    ------
    ShapeError
        Misshapen, missing or extra arrays; ``x`` or ``eps`` of the wrong shape; ``x`` with no rows.
    NonFiniteError
        NaN or inf in ``x`` or ``eps``.
    SupportError
        Bernoulli targets outside [0, 1].
    ConfigError
        ``eps`` holds no sample (``L = 0``).
    """
    D, H, Nz, decoder = model.architecture(params)
    check_params(params, model.param_shapes(D, H, Nz, decoder))
    check_float_array("x", x, shape=(None, D))
    if x.shape[0] == 0:  # a bound per datapoint over no datapoints is undefined, not 0
        raise ShapeError(f"x holds no datapoints (shape {x.shape}); the estimators need at least one row")
    # x may be the whole training set: min and max are NaN or ±inf exactly when some entry
    # is, and need no (N, D) boolean temporary (47 MB for MNIST) as np.isfinite(x) would.
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        check_finite("x", x)  # builds the message naming the first bad entry
    if decoder == "bernoulli":
        check_unit_interval("x", x)
    if eps is not None:
        check_float_array("eps", eps, shape=(None, x.shape[0], Nz))
        if eps.shape[0] < 1:
            raise ConfigError(f"eps must hold at least one sample (L >= 1), got shape {eps.shape}")
        check_finite("eps", eps)
    return D, H, Nz, decoder


def _check_grads_out(params: Params, grads: Params, x: np.ndarray, eps: np.ndarray) -> None:
    """``grads`` must mirror ``params`` and share one dtype with it, ``x`` and ``eps``.

    A float64 ``x`` with float32 parameters would silently run the step in float64.
    """
    dtype = params["phi"]["W3"].dtype
    check_params(grads, shapes_of(params))
    for name, a in (("x", x), ("eps", eps)):
        if a.dtype != dtype:
            raise ShapeError(f"{name} must have the parameters' dtype {dtype} on the grads= path, got {a.dtype}")
    for g, arrays in grads.items():
        for k, a in arrays.items():
            if a.dtype != dtype or params[g][k].dtype != dtype:
                raise ShapeError(
                    f"grads[{g!r}][{k!r}] and params[{g!r}][{k!r}] must have dtype {dtype}, "
                    f"got {a.dtype} and {params[g][k].dtype}"
                )


def _diagnose_non_finite(params: Params, elbo: np.ndarray) -> None:
    """Name the first non-finite parameter array, or say the estimate overflowed."""
    for g, arrays in params.items():
        for k, a in arrays.items():
            if not np.isfinite(a).all():
                raise NonFiniteError(f"params[{g!r}][{k!r}] holds NaN or inf values")
    bad = int(np.argmax(~np.isfinite(elbo)))
    raise NonFiniteError(
        f"the lower-bound estimate is not finite (first at datapoint {bad}: {elbo[bad]}) "
        "although params, x and eps are finite: the model has diverged"
    )


def _sgvb(params: Params, x: np.ndarray, eps: np.ndarray, estimator: str, need_grad: bool, validate: bool,
          grads: Params | None = None, workspace: dict | None = None, grad_scale: float = 1.0):
    """Shared forward/backward of estimators A and B (see the module docstring)."""
    if validate:
        check_inputs(params, x, eps)
        if grads is not None:
            _check_grads_out(params, grads, x, eps)
    phi, theta = params["phi"], params["theta"]
    L, M, Nz = eps.shape

    # Forward, Eq. (9)-(10): q_φ(z|x) = N(mu, diag(σ²)), z = mu + σ ⊙ eps.
    mu, log_var, h_enc = model.encode(phi, x, workspace)
    z = reparam.gaussian_sample(mu, log_var, eps)  # Eq. (10), (L, M, Nz): the function the notebooks teach
    z_rows = z.reshape(L * M, Nz)
    out = model.decode(theta, z_rows, workspace)
    # (L, M): log p_θ(x_i | z_{l,i}), and its gradient at the decoder's outputs from the
    # same sweep: the two share their costly part, and with a workspace neither allocates.
    ll, dout = model.log_likelihood_and_grad(x, out, workspace)

    if estimator == "B":
        # Eq. (7)/(10): −KL in closed form (Appendix B) + (1/L) Σ_l log p_θ(x|z_l).
        elbo = dist.neg_kl_standard_normal(mu, log_var) + ll.mean(axis=0)
    else:
        # Eq. (6): (1/L) Σ_l log p_θ(z_l) + log p_θ(x|z_l) − log q_φ(z_l|x).
        # With z = mu + σ eps, log q_φ(z|x) = −½ Σ_j (log 2π + log σ_j² + eps_j²) exactly.
        log_pz = dist.log_standard_normal(z)
        log_qz = -0.5 * (np.sum(eps * eps, axis=-1) + np.sum(log_var, axis=-1) + Nz * dist.LOG_2PI)
        elbo = (ll + log_pz - log_qz).mean(axis=0)

    if not np.isfinite(elbo).all():
        _diagnose_non_finite(params, elbo)
    if not need_grad:
        return elbo, None

    # Backward of grad_scale · Σ_i elbo_i, in the order of the forward pass read backwards.
    # The objective is linear in each term, so grad_scale (N/M of Eq. 8 when training) is
    # applied where the backward pass starts: on the (L·M, D) likelihood gradient and the
    # (M, Nz) KL gradient, not on the 816k parameter gradients.  Each log p_θ(x|z_l) term
    # enters with weight 1/L (nothing to do for the paper's L = 1 and grad_scale = 1).
    w = grad_scale / L
    if w != 1.0:
        for d in dout.values():
            d *= w
    dz, grads_theta = model.decode_backward(theta, z_rows, out, dout, None if grads is None else grads["theta"], workspace)
    dz = dz.reshape(L, M, Nz)
    if estimator == "A":
        dz -= z * w  # d/dz log p_θ(z) = −z, weight grad_scale/L
    # Through z = mu + σ ⊙ eps (Eq. 10): dz/dmu = 1, dz/dlog_var = ½ σ eps; summed over l.
    dmu, dlog_var = reparam.gaussian_sample_backward(dz, log_var, eps)
    if estimator == "B":
        # mu and log_var also feed the closed-form KL (Appendix B): a second path, summed.
        dmu_kl, dlog_var_kl = dist.neg_kl_standard_normal_grad(mu, log_var)
        if grad_scale != 1.0:
            dmu_kl *= grad_scale
            dlog_var_kl *= grad_scale
        dmu += dmu_kl
        dlog_var += dlog_var_kl
    else:
        # −log q_φ(z|x) = ½ Σ_j (log 2π + log σ_j² + eps_j²): d/dlog_var_j = ½ per sample.
        dlog_var += 0.5 * grad_scale
    grads_phi = model.encode_backward(phi, x, h_enc, dmu, dlog_var, None if grads is None else grads["phi"], workspace)
    if grads is not None:
        return elbo, grads
    return elbo, {"phi": grads_phi, "theta": grads_theta}


def _check_grad_scale(grad_scale) -> float:
    return check_positive(grad_scale, "grad_scale")


def estimator_B(params: Params, x: np.ndarray, eps: np.ndarray, need_grad: bool = True, validate: bool = True,
                *, grads: Params | None = None, workspace: dict | None = None, grad_scale: float = 1.0):
    """SGVB estimator B: closed-form −KL plus the Monte Carlo reconstruction term.

    ``elbo_i = ½ Σ_j (1 + log σ²_ij − μ²_ij − σ²_ij) + (1/L) Σ_l log p_θ(x_i | z_il)``
    with ``z_il = μ_i + σ_i ⊙ eps_il``.

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}`` from :func:`aevb_np.model.init_params`.
    x : ndarray, shape (M, D)
        A minibatch; in [0, 1] for the Bernoulli decoder.
    eps : ndarray, shape (L, M, Nz)
        Standard-normal noise of Eq. (9), passed in so that tests can fix it.
    need_grad : bool
        If False, skip the backward pass and return ``(elbo, None)``.
    validate : bool
        Check every input (the default).  The training loop checks its data once and
        passes False; non-finite results are always detected.
    grads : dict, optional
        Nested dict shaped like ``params`` (e.g. ``params.zeros_like(params)``) into whose
        arrays the gradient is written; it is then the dict returned.  ``x``, ``eps``,
        ``params`` and ``grads`` must share one dtype.
    workspace : dict, optional
        A dict the caller keeps across calls (start with ``{}``): intermediate arrays are
        allocated into it once and reused (:func:`aevb_np.params.scratch`).
    grad_scale : float
        Positive factor on the returned gradient (default 1).  Training passes N/M, so
        ``grads`` is the gradient of the minibatch estimator of Eq. (8); the factor is
        applied to the small arrays where the backward pass starts, which is cheaper than
        rescaling every parameter gradient afterwards.  ``elbo`` is not scaled.

    Returns
    -------
    elbo : ndarray, shape (M,)
        The estimate of L(θ, φ; x_i), nats per datapoint.
    grads : dict
        Same structure as ``params``: the gradient of ``grad_scale · elbo.sum()``.

    Raises
    ------
    ShapeError, NonFiniteError, SupportError
        See :func:`check_inputs`; NonFiniteError also if the estimate is not finite;
        ShapeError if ``grads`` does not mirror ``params`` or a dtype differs.
    ConfigError
        ``grad_scale`` not a positive finite number.

    References
    ----------
    Kingma & Welling (2014), Eq. (7) with Eq. (10); Appendix B for the KL.
    """
    return _sgvb(params, x, eps, "B", need_grad, validate, grads, workspace, _check_grad_scale(grad_scale))


def estimator_A(params: Params, x: np.ndarray, eps: np.ndarray, need_grad: bool = True, validate: bool = True,
                *, grads: Params | None = None, workspace: dict | None = None, grad_scale: float = 1.0):
    """SGVB estimator A: the Monte Carlo average of log p_θ(x, z) − log q_φ(z|x).

    ``elbo_i = (1/L) Σ_l [log p_θ(x_i | z_il) + log p_θ(z_il) − log q_φ(z_il | x_i)]``.

    Same contract as :func:`estimator_B` (shapes, units, errors, ``grads``, ``workspace``
    and ``grad_scale``).

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}`` from :func:`aevb_np.model.init_params`.
    x : ndarray, shape (M, D)
        A minibatch; in [0, 1] for the Bernoulli decoder.
    eps : ndarray, shape (L, M, Nz)
        Standard-normal noise of Eq. (9).
    need_grad : bool
        If False, skip the backward pass and return ``(elbo, None)``.
    validate : bool
        Check every input (the default); non-finite results are always detected.
    grads : dict, optional
        Nested dict shaped like ``params`` that receives the gradient (and is returned).
    workspace : dict, optional
        Scratch arrays kept by the caller across calls.
    grad_scale : float
        Positive factor on the returned gradient (N/M in training); ``elbo`` is not scaled.

    Returns
    -------
    elbo : ndarray, shape (M,)
        The estimate of L(θ, φ; x_i), nats per datapoint.
    grads : dict or None
        Same structure as ``params``: the gradient of ``grad_scale · elbo.sum()``
        (None if ``need_grad`` is False).

    Raises
    ------
    ShapeError, NonFiniteError, SupportError
        See :func:`check_inputs`; NonFiniteError also if the estimate is not finite;
        ShapeError if ``grads`` does not mirror ``params`` or a dtype differs.
    ConfigError
        ``grad_scale`` not a positive finite number, or ``eps`` holds no sample.

    References
    ----------
    Kingma & Welling (2014), Eq. (6).
    """
    return _sgvb(params, x, eps, "A", need_grad, validate, grads, workspace, _check_grad_scale(grad_scale))


def draw_eps(rng: np.random.Generator, L: int, M: int, n_latent: int, dtype=np.float64) -> np.ndarray:
    """Standard-normal noise ``eps`` of shape (L, M, Nz) for Eq. (9), from an explicit ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
    L, M, n_latent : int
        Samples per datapoint, datapoints, latent dimensions Nz.
    dtype : float64 or float32

    Returns
    -------
    ndarray, shape (L, M, Nz)
        ε ~ N(0, I), the same draws as ``rng.standard_normal((L, M, Nz))``.

    References
    ----------
    Kingma & Welling (2014), Eq. (9)–(10) (ε^(l) ~ N(0, I)).
    """
    return rng.standard_normal((L, M, n_latent), dtype=dtype)


def estimate(params: Params, x: np.ndarray, rng: np.random.Generator, L: int = 1, estimator: str = "B", need_grad: bool = True, validate: bool = True,
             *, grads: Params | None = None, workspace: dict | None = None):
    """Draw ``eps`` from ``rng`` and call estimator A or B.

    Same returns as :func:`estimator_B`; ``grads`` and ``workspace`` as there.

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}``.
    x : ndarray, shape (M, D)
        A minibatch (or a batch of a dataset).
    rng : numpy.random.Generator
        Source of ``eps``, shape (L, M, Nz), in ``x``'s dtype (:func:`draw_eps`).
    L : int
        Samples of z per datapoint (>= 1).
    estimator : {"A", "B"}
        Eq. (6) or Eq. (7).
    need_grad, validate : bool
        As :func:`estimator_B`.
    grads, workspace : dict, optional
        As :func:`estimator_B`.

    Returns
    -------
    elbo : ndarray, shape (M,)
        Nats per datapoint.
    grads : dict or None
        The gradient of ``elbo.sum()`` (no ``grad_scale`` here); None if ``need_grad``
        is False.

    Raises
    ------
    ConfigError
        Unknown estimator or ``L < 1``.
    ShapeError, NonFiniteError, SupportError
        As :func:`estimator_B`.

    References
    ----------
    Kingma & Welling (2014), Eq. (6), Eq. (7), Eq. (10).
    """
    if estimator not in ESTIMATORS:
        raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    check_count(L, "L (samples per datapoint)")
    Nz = params["phi"]["W4"].shape[0]
    eps = draw_eps(rng, L, x.shape[0], Nz, x.dtype)
    return _sgvb(params, x, eps, estimator, need_grad, validate, grads, workspace)


def lower_bound(params: Params, x: np.ndarray, rng: np.random.Generator, L: int = 1, batch_size: int = 1000) -> np.ndarray:
    """Estimator-B value of L(θ, φ; x_i) for every row of a dataset, in batches.

    Parameters
    ----------
    params : dict
    x : ndarray, shape (N, D)
    rng : numpy.random.Generator
    L : int
        Samples per datapoint for the reconstruction term.
    batch_size : int
        Rows per forward pass (memory only; the result does not depend on it
        except through the order ``eps`` is drawn in).

    Returns
    -------
    ndarray, shape (N,)
        Nats per datapoint; ``.mean()`` is the reported "lower bound".

    Raises
    ------
    ShapeError, NonFiniteError, SupportError
        Bad ``params`` or ``x`` (:func:`check_inputs`); NonFiniteError also if the
        estimate is not finite.
    ConfigError
        ``L`` not a positive integer.

    References
    ----------
    Kingma & Welling (2014), Eq. (10).
    """
    check_inputs(params, x)
    out = np.empty(x.shape[0], dtype=x.dtype)
    workspace: dict = {}  # the batches reuse one set of intermediate arrays
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        out[start : start + xb.shape[0]] = estimate(params, xb, rng, L, "B", need_grad=False, validate=False,
                                                    workspace=workspace)[0]
    return out
