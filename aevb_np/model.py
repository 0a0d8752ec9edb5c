"""The encoder q_φ(z|x) and decoders p_θ(x|z) of Appendix C, forward and backward.

Architecture (one hidden tanh layer each, as in §5):

* encoder, Gaussian MLP (Appendix C.2, Eq. 12 with x as input)::

      h       = tanh(W3 x + b3)          (M, H)
      mu      = W4 h + b4                (M, Nz)
      log_var = W5 h + b5                (M, Nz)   # log σ², so σ = exp(½ log_var)

* decoder ``"bernoulli"`` (Appendix C.1, Eq. 11)::

      h      = tanh(W1 z + b1)           (L·M, H)
      logits = W2 h + b2                 (L·M, D)   # y = sigmoid(logits)

* decoder ``"gaussian"`` (Appendix C.2 with z as input; the mean goes through a
  sigmoid so it lies in (0, 1), as §5 says for Frey Face)::

      h       = tanh(W3 z + b3)          (L·M, H)
      mu_x    = sigmoid(W4 h + b4)       (L·M, D)
      log_var_x = W5 h + b5              (L·M, D)

Weights are stored in the paper's orientation ``(n_out, n_in)``; for a batch of row
vectors the paper's ``W h + b`` is ``h @ W.T + b``.  The encoder's parameters are
``params["phi"]``, the decoder's ``params["theta"]``; the Gaussian decoder reuses the
names ``W3 … b5`` of Appendix C.2 inside ``theta``.

Every forward and backward function takes two optional arguments that change where
results are stored, never what they are: ``grads``, a dict (e.g. one group of
:func:`aevb_np.params.zeros_like`) whose arrays receive the parameter gradients, and
``workspace``, a dict the caller keeps across calls in which intermediate arrays live
(:func:`aevb_np.params.scratch`).  With both, a training step allocates nothing; arrays
returned from a workspace are overwritten by the next call that uses it.

References
----------
Kingma & Welling (2014), §3, §5 and Appendix C.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np.checks import check_count
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.layers import affine_backward, affine_forward, sigmoid, tanh_backward, tanh_forward
from aevb_np.params import Params, Shapes, allocate, scratch

DECODERS = ("bernoulli", "gaussian")


def param_shapes(n_x: int, n_hidden: int, n_latent: int, decoder: str = "bernoulli") -> Shapes:
    """Shapes of every parameter array, in the paper's names and orientation.

    Parameters
    ----------
    n_x : int
        Data dimension D (784 for MNIST, 560 for Frey Face).
    n_hidden : int
        Hidden units H of both MLPs (500 for MNIST, 200 for Frey Face in §5).
    n_latent : int
        Latent dimension Nz.
    decoder : {"bernoulli", "gaussian"}

    Returns
    -------
    dict
        ``{"phi": {"W3": (H, D), ...}, "theta": {...}}``.

    Raises
    ------
    ConfigError
        A size that is not a positive integer, or an unknown decoder.
    """
    for name, value in (("n_x", n_x), ("n_hidden", n_hidden), ("n_latent", n_latent)):
        check_count(value, name)
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    D, H, Nz = int(n_x), int(n_hidden), int(n_latent)
    phi = {"W3": (H, D), "b3": (H,), "W4": (Nz, H), "b4": (Nz,), "W5": (Nz, H), "b5": (Nz,)}
    if decoder == "bernoulli":
        theta = {"W1": (H, Nz), "b1": (H,), "W2": (D, H), "b2": (D,)}
    else:
        theta = {"W3": (H, Nz), "b3": (H,), "W4": (D, H), "b4": (D,), "W5": (D, H), "b5": (D,)}
    return {"phi": phi, "theta": theta}


def init_params(
    n_x: int,
    n_hidden: int,
    n_latent: int,
    decoder: str = "bernoulli",
    rng: np.random.Generator | None = None,
    init_std: float = 0.01,
    dtype=np.float64,
) -> Params:
    """Draw initial parameters as in §5: every weight and bias from N(0, 0.01).

    We read the paper's "N(0, 0.01)" as a *standard deviation* of 0.01 (variance 1e-4):
    it keeps the tanh units in their linear range and the initial q(z|x) close to the
    prior, and it is the reading of the authors' released code.  ``init_std=0.1``
    gives the other reading (variance 0.01); both train.

    Parameters
    ----------
    n_x, n_hidden, n_latent : int
        D, H and Nz (see :func:`param_shapes`).
    decoder : {"bernoulli", "gaussian"}
    rng : numpy.random.Generator
        Required: the only source of randomness.
    init_std : float
        Standard deviation of the initial weights and biases.
    dtype : float64 or float32

    Returns
    -------
    dict
        ``{"phi": {...}, "theta": {...}}`` of arrays that are views into one flat buffer
        (see :mod:`aevb_np.params`).

    Raises
    ------
    ConfigError
        Missing ``rng``, a non-positive size or ``init_std``, an unknown decoder.

    References
    ----------
    Kingma & Welling (2014), §5 ("initialized by random sampling from N(0, 0.01)").
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not (np.isfinite(init_std) and init_std > 0):
        raise ConfigError(f"init_std must be a positive finite number, got {init_std!r}")
    flat, params = allocate(param_shapes(n_x, n_hidden, n_latent, decoder), dtype)
    flat[...] = rng.normal(0.0, init_std, size=flat.shape)
    return params


def architecture(params: Params) -> tuple[int, int, int, str]:
    """Read ``(n_x, n_hidden, n_latent, decoder)`` off a parameter dict.

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}`` as :func:`init_params` makes it.

    Returns
    -------
    n_x, n_hidden, n_latent : int
        D, H and Nz, read off the encoder's ``W3`` (H, D) and ``W4`` (Nz, H).
    decoder : {"bernoulli", "gaussian"}
        ``"bernoulli"`` if ``theta`` holds ``W1`` (Appendix C.1), else ``"gaussian"``.

    Raises
    ------
    ShapeError
        The dict does not look like an encoder/decoder pair of Appendix C.
    """
    try:
        H, D = params["phi"]["W3"].shape
        Nz = params["phi"]["W4"].shape[0]
        theta = params["theta"]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ShapeError(
            "params must be {'phi': {'W3', 'b3', 'W4', 'b4', 'W5', 'b5'}, 'theta': {...}} "
            f"as made by init_params; could not read the encoder ({exc!r})"
        ) from None
    if not isinstance(theta, dict):
        raise ShapeError(f"params['theta'] must be a dict, got {type(theta).__name__}")
    decoder = "bernoulli" if "W1" in theta else "gaussian"
    return int(D), int(H), int(Nz), decoder


# --------------------------------------------------------------------------- encoder


def encode(phi: dict, x: np.ndarray, workspace: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward pass of the Gaussian MLP encoder q_φ(z|x).

    Parameters
    ----------
    phi : dict
        ``W3 (H, D), b3 (H,), W4 (Nz, H), b4 (Nz,), W5 (Nz, H), b5 (Nz,)``.
    x : ndarray, shape (M, D)
    workspace : dict, optional
        Scratch arrays kept by the caller (see the module docstring).

    Returns
    -------
    mu, log_var : ndarray, shape (M, Nz)
        Mean and log σ² of q_φ(z|x).
    h : ndarray, shape (M, H)
        Hidden activations, kept for :func:`encode_backward`.

    References
    ----------
    Kingma & Welling (2014), Appendix C.2, Eq. (12); §3, Eq. (9).
    """
    M, H, Nz = x.shape[0], phi["W3"].shape[0], phi["W4"].shape[0]
    dtype = np.result_type(x, phi["W3"])
    h = affine_forward(x, phi["W3"], phi["b3"], out=scratch(workspace, "enc.h", (M, H), dtype))
    tanh_forward(h, out=h)  # h = tanh(W3 x + b3), in place
    mu = affine_forward(h, phi["W4"], phi["b4"], out=scratch(workspace, "enc.mu", (M, Nz), dtype))
    log_var = affine_forward(h, phi["W5"], phi["b5"], out=scratch(workspace, "enc.log_var", (M, Nz), dtype))
    return mu, log_var, h


def encode_backward(
    phi: dict,
    x: np.ndarray,
    h: np.ndarray,
    dmu: np.ndarray,
    dlog_var: np.ndarray,
    grads: dict | None = None,
    workspace: dict | None = None,
) -> dict:
    """Backward pass of the encoder: gradients of the objective w.r.t. every φ array.

    Parameters
    ----------
    phi : dict
        As in :func:`encode`.
    x : ndarray, shape (M, D)
    h : ndarray, shape (M, H)
        From :func:`encode`.
    dmu, dlog_var : ndarray, shape (M, Nz)
        Total gradients arriving at ``mu`` and ``log_var`` (all paths already summed).
    grads : dict, optional
        Arrays shaped like ``phi`` that receive the gradients (overwritten).
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    dict
        ``{"W3": (H, D), "b3": (H,), "W4": ..., "b5": ...}`` (``grads`` itself if given).

    References
    ----------
    Kingma & Welling (2014), Appendix C.2 (Eq. 12, the Gaussian MLP as encoder), differentiated;
    the gradient of Eq. (10) with respect to φ.
    """
    g = dict.fromkeys(phi) if grads is None else grads  # None entries: allocate
    dtype = np.result_type(h, dmu, phi["W4"])
    dh4, g["W4"], g["b4"] = affine_backward(
        dmu, h, phi["W4"], dh=scratch(workspace, "enc.dh4", h.shape, dtype), dW=g["W4"], db=g["b4"])
    dh5, g["W5"], g["b5"] = affine_backward(
        dlog_var, h, phi["W5"], dh=scratch(workspace, "enc.dh5", h.shape, dtype), dW=g["W5"], db=g["b5"])
    # h feeds both heads (fan-out): its gradient is the sum of the two.
    dh = np.add(dh4, dh5, out=dh4)
    da3 = tanh_backward(dh, h, out=dh5)  # dh5 has been added in: its buffer is free for da3
    _, g["W3"], g["b3"] = affine_backward(da3, x, phi["W3"], need_dh=False, dW=g["W3"], db=g["b3"])
    return g


# --------------------------------------------------------------------------- decoders


def decode(theta: dict, z: np.ndarray, workspace: dict | None = None) -> dict:
    """Forward pass of the decoder p_θ(x|z) (Bernoulli or Gaussian, by the names in ``theta``).

    Parameters
    ----------
    theta : dict
        Bernoulli: ``W1 (H, Nz), b1, W2 (D, H), b2``; Gaussian: ``W3 (H, Nz), b3, W4 (D, H),
        b4, W5 (D, H), b5``.
    z : ndarray, shape (N, Nz)
        Latent codes (N = L·M rows for a minibatch with L samples each).
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    dict
        ``{"h": (N, H), "logits": (N, D)}`` for the Bernoulli decoder, or
        ``{"h": (N, H), "mu": (N, D), "log_var": (N, D)}`` for the Gaussian one.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11) and C.2 (Eq. 12).
    """
    N = z.shape[0]
    if "W1" in theta:  # Bernoulli decoder, Appendix C.1
        (D, H), dtype = theta["W2"].shape, np.result_type(z, theta["W1"])
        h = affine_forward(z, theta["W1"], theta["b1"], out=scratch(workspace, "dec.h", (N, H), dtype))
        tanh_forward(h, out=h)  # h = tanh(W1 z + b1), in place
        logits = affine_forward(h, theta["W2"], theta["b2"], out=scratch(workspace, "dec.logits", (N, D), dtype))
        return {"h": h, "logits": logits}
    # Gaussian decoder, Appendix C.2
    (D, H), dtype = theta["W4"].shape, np.result_type(z, theta["W3"])
    h = affine_forward(z, theta["W3"], theta["b3"], out=scratch(workspace, "dec.h", (N, H), dtype))
    tanh_forward(h, out=h)  # h = tanh(W3 z + b3), in place
    mu = affine_forward(h, theta["W4"], theta["b4"], out=scratch(workspace, "dec.mu", (N, D), dtype))
    sigmoid(mu, out=mu)  # mu_x = sigmoid(W4 h + b4), in place
    log_var = affine_forward(h, theta["W5"], theta["b5"], out=scratch(workspace, "dec.log_var", (N, D), dtype))
    return {"h": h, "mu": mu, "log_var": log_var}


def decoder_mean(theta: dict, z: np.ndarray) -> np.ndarray:
    """E[x|z] under the decoder: sigmoid(logits) (Bernoulli) or mu_x (Gaussian); shape (N, D).

    Parameters
    ----------
    theta : dict
        Decoder arrays (see :func:`decode`).
    z : ndarray, shape (N, Nz)
        Latent codes.

    Returns
    -------
    ndarray, shape (N, D)
        The decoder's mean, in (0, 1) for both decoders (the Gaussian one's mean goes
        through a sigmoid, as §5 says for Frey Face).

    References
    ----------
    Kingma & Welling (2014), Appendix C, Fig. 4–5 (images are decoder means).
    """
    out = decode(theta, z)
    return sigmoid(out["logits"]) if "logits" in out else out["mu"]


def log_likelihood(x: np.ndarray, out: dict) -> np.ndarray:
    """log p_θ(x|z) for each row of the decoder output, in nats.

    Parameters
    ----------
    x : ndarray, shape (M, D)
        Data; broadcast over the L samples.
    out : dict
        From :func:`decode` on ``z`` of shape (L·M, Nz).

    Returns
    -------
    ndarray, shape (L, M)
        log p_θ(x_i | z_{l,i}).

    References
    ----------
    Kingma & Welling (2014), Eq. (11) (Bernoulli) and Eq. (12) (Gaussian).
    """
    M, D = x.shape
    if "logits" in out:
        return dist.bernoulli_log_likelihood(x, out["logits"].reshape(-1, M, D))
    return dist.log_normal_diag(
        x, out["mu"].reshape(-1, M, D), out["log_var"].reshape(-1, M, D)
    )


def log_likelihood_and_grad(x: np.ndarray, out: dict, workspace: dict | None = None) -> tuple[np.ndarray, dict]:
    """log p_θ(x|z) and its gradient with respect to the decoder's outputs, in one sweep.

    The same numbers as :func:`log_likelihood` and the first step of
    :func:`log_likelihood_backward`; for the Bernoulli decoder the value and the
    gradient share one ``softplus`` (:func:`aevb_np.distributions.bernoulli_log_likelihood_and_grad`).

    Parameters
    ----------
    x : ndarray, shape (M, D)
    out : dict
        From :func:`decode` on ``z`` of shape (L·M, Nz).
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    ll : ndarray, shape (L, M)
        log p_θ(x_i | z_{l,i}) in nats.
    dout : dict
        ``{"logits": (L·M, D)}`` (Bernoulli) or ``{"mu": (L·M, D), "log_var": (L·M, D)}``
        (Gaussian): d ll / d(each output of :func:`decode`).

    References
    ----------
    Kingma & Welling (2014), Eq. (11) and Eq. (12).
    """
    M, D = x.shape
    if "logits" in out:
        a = out["logits"].reshape(-1, M, D)
        dtype = np.result_type(x, a)
        # Eq. (11): d/da [x a − softplus(a)] = x − sigmoid(a).
        ll, dlogits = dist.bernoulli_log_likelihood_and_grad(
            x, a, grad=scratch(workspace, "dec.dlogits", a.shape, dtype),
            work=scratch(workspace, "dec.softplus", a.shape, dtype))
        return ll, {"logits": dlogits.reshape(-1, D)}
    mu_x, log_var_x = out["mu"].reshape(-1, M, D), out["log_var"].reshape(-1, M, D)
    ll = dist.log_normal_diag(x, mu_x, log_var_x)
    dmu_x, dlog_var_x = dist.log_normal_diag_grad(x, mu_x, log_var_x)
    return ll, {"mu": dmu_x.reshape(-1, D), "log_var": dlog_var_x.reshape(-1, D)}


def decode_backward(
    theta: dict, z: np.ndarray, out: dict, dout: dict, grads: dict | None = None, workspace: dict | None = None
) -> tuple[np.ndarray, dict]:
    """Backward pass through the decoder, from the gradient at its outputs to ``z`` and θ.

    Parameters
    ----------
    theta : dict
    z : ndarray, shape (N, Nz)
    out : dict
        From :func:`decode` on ``z``.
    dout : dict
        Gradient of the objective with respect to each output of :func:`decode`
        (``"logits"``, or ``"mu"`` and ``"log_var"``), each (N, D).
    grads : dict, optional
        Arrays shaped like ``theta`` that receive the gradients (overwritten).
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    dz : ndarray, shape (N, Nz)
    grads : dict
        Gradients for every array of ``theta`` (``grads`` itself if given).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 and C.2, differentiated layer by layer.
    """
    g = dict.fromkeys(theta) if grads is None else grads  # None entries: allocate
    h = out["h"]
    dtype = np.result_type(h, *dout.values())
    if "logits" in out:
        dh, g["W2"], g["b2"] = affine_backward(
            dout["logits"], h, theta["W2"], dh=scratch(workspace, "dec.dh", h.shape, dtype), dW=g["W2"], db=g["b2"])
        da1 = tanh_backward(dh, h, out=scratch(workspace, "dec.da", h.shape, dtype))
        dz, g["W1"], g["b1"] = affine_backward(
            da1, z, theta["W1"], dh=scratch(workspace, "dec.dz", z.shape, dtype), dW=g["W1"], db=g["b1"])
        return dz, g
    mu_x = out["mu"]
    # mu_x = sigmoid(a4): d mu_x / d a4 = mu_x (1 − mu_x); the three lines are dmu_x * mu_x * (1 − mu_x).
    da4 = np.subtract(1.0, mu_x, out=scratch(workspace, "dec.da4", mu_x.shape, dtype))
    da4 *= mu_x
    da4 *= dout["mu"]
    dh, g["W4"], g["b4"] = affine_backward(
        da4, h, theta["W4"], dh=scratch(workspace, "dec.dh", h.shape, dtype), dW=g["W4"], db=g["b4"])
    dh5, g["W5"], g["b5"] = affine_backward(
        dout["log_var"], h, theta["W5"], dh=scratch(workspace, "dec.dh5", h.shape, dtype), dW=g["W5"], db=g["b5"])
    # h feeds both output heads (fan-out): its gradient is the sum of the two.
    dh = np.add(dh, dh5, out=dh)
    da3 = tanh_backward(dh, h, out=dh5)  # dh5 has been added in: its buffer is free for da3
    dz, g["W3"], g["b3"] = affine_backward(
        da3, z, theta["W3"], dh=scratch(workspace, "dec.dz", z.shape, dtype), dW=g["W3"], db=g["b3"])
    return dz, g


def decode_backward_z(theta: dict, z: np.ndarray, out: dict, dout: dict, workspace: dict | None = None) -> np.ndarray:
    """Backward pass through the decoder to ``z`` only, for HMC on p_θ(z|x).

    The ``dz`` of :func:`decode_backward` (the same products in the same order, so the
    same bits), without the θ gradients HMC does not use: each ``affine_backward``
    there also forms ``dW = doutᵀ h``, a GEMM as large as the forward's, for nothing.
    ``tests/test_fast_paths.py`` checks the two agree exactly.

    Parameters
    ----------
    theta : dict
    z : ndarray, shape (N, Nz)
    out : dict
        From :func:`decode` on ``z``.
    dout : dict
        Gradient of the objective with respect to each output of :func:`decode`.
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    dz : ndarray, shape (N, Nz)

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 and C.2, differentiated; Appendix D (HMC needs ∇_z only).
    """
    h = out["h"]
    dtype = np.result_type(h, *dout.values())
    if "logits" in out:
        dh = np.matmul(dout["logits"], theta["W2"], out=scratch(workspace, "dec.dh", h.shape, dtype))
        da1 = tanh_backward(dh, h, out=scratch(workspace, "dec.da", h.shape, dtype))
        return np.matmul(da1, theta["W1"], out=scratch(workspace, "dec.dz", z.shape, dtype))
    mu_x = out["mu"]
    da4 = np.subtract(1.0, mu_x, out=scratch(workspace, "dec.da4", mu_x.shape, dtype))
    da4 *= mu_x
    da4 *= dout["mu"]
    dh = np.matmul(da4, theta["W4"], out=scratch(workspace, "dec.dh", h.shape, dtype))
    dh5 = np.matmul(dout["log_var"], theta["W5"], out=scratch(workspace, "dec.dh5", h.shape, dtype))
    dh = np.add(dh, dh5, out=dh)  # fan-out of h into the two heads
    da3 = tanh_backward(dh, h, out=dh5)
    return np.matmul(da3, theta["W3"], out=scratch(workspace, "dec.dz", z.shape, dtype))


def log_likelihood_backward(
    theta: dict,
    z: np.ndarray,
    x: np.ndarray,
    out: dict,
    dll: np.ndarray,
    grads: dict | None = None,
    workspace: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Backward pass of ``sum(dll * log p_θ(x|z))`` through the decoder.

    Parameters
    ----------
    theta : dict
    z : ndarray, shape (L·M, Nz)
    x : ndarray, shape (M, D)
    out : dict
        From :func:`decode`.
    dll : ndarray, shape (L, M)
        Weight of each log-likelihood term in the objective (e.g. ``1/L``).
    grads : dict, optional
        Arrays shaped like ``theta`` that receive the gradients (overwritten).
    workspace : dict, optional
        Scratch arrays kept by the caller.

    Returns
    -------
    dz : ndarray, shape (L·M, Nz)
    grads : dict
        Gradients for every array of ``theta``.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11) and C.2 (Eq. 12), differentiated; the
    gradient of Eq. (10)'s (1/L) Σ_l log p_θ(x|z_l).
    """
    M, D = x.shape
    _, dout = log_likelihood_and_grad(x, out, workspace)
    w = np.asarray(dll).reshape(-1, M, 1)
    for d in dout.values():  # d/d(out) of Σ dll · ll: weight each row
        d3 = d.reshape(-1, M, D)  # a view: the product lands in d
        np.multiply(d3, w, out=d3)
    return decode_backward(theta, z, out, dout, grads, workspace)
