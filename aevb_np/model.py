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

References
----------
Kingma & Welling (2014), §3, §5 and Appendix C.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.layers import (
    affine_backward,
    affine_forward,
    sigmoid,
    tanh_backward,
    tanh_forward,
)
from aevb_np.params import Params, Shapes, allocate

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
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
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


def encode(phi: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward pass of the Gaussian MLP encoder q_φ(z|x).

    Parameters
    ----------
    phi : dict
        ``W3 (H, D), b3 (H,), W4 (Nz, H), b4 (Nz,), W5 (Nz, H), b5 (Nz,)``.
    x : ndarray, shape (M, D)

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
    h = tanh_forward(affine_forward(x, phi["W3"], phi["b3"]))
    mu = affine_forward(h, phi["W4"], phi["b4"])
    log_var = affine_forward(h, phi["W5"], phi["b5"])
    return mu, log_var, h


def encode_backward(
    phi: dict, x: np.ndarray, h: np.ndarray, dmu: np.ndarray, dlog_var: np.ndarray
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

    Returns
    -------
    dict
        ``{"W3": (H, D), "b3": (H,), "W4": ..., "b5": ...}``.
    """
    dh4, dW4, db4 = affine_backward(dmu, h, phi["W4"])
    dh5, dW5, db5 = affine_backward(dlog_var, h, phi["W5"])
    # h feeds both heads (fan-out): its gradient is the sum of the two.
    dh = dh4 + dh5
    _, dW3, db3 = affine_backward(tanh_backward(dh, h), x, phi["W3"], need_dh=False)
    return {"W3": dW3, "b3": db3, "W4": dW4, "b4": db4, "W5": dW5, "b5": db5}


# --------------------------------------------------------------------------- decoders


def decode(theta: dict, z: np.ndarray) -> dict:
    """Forward pass of the decoder p_θ(x|z) (Bernoulli or Gaussian, by the names in ``theta``).

    Parameters
    ----------
    theta : dict
        Bernoulli: ``W1 (H, Nz), b1, W2 (D, H), b2``; Gaussian: ``W3 (H, Nz), b3, W4 (D, H),
        b4, W5 (D, H), b5``.
    z : ndarray, shape (N, Nz)
        Latent codes (N = L·M rows for a minibatch with L samples each).

    Returns
    -------
    dict
        ``{"h": (N, H), "logits": (N, D)}`` for the Bernoulli decoder, or
        ``{"h": (N, H), "mu": (N, D), "log_var": (N, D)}`` for the Gaussian one.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11) and C.2 (Eq. 12).
    """
    if "W1" in theta:
        h = tanh_forward(affine_forward(z, theta["W1"], theta["b1"]))
        return {"h": h, "logits": affine_forward(h, theta["W2"], theta["b2"])}
    h = tanh_forward(affine_forward(z, theta["W3"], theta["b3"]))
    return {
        "h": h,
        "mu": sigmoid(affine_forward(h, theta["W4"], theta["b4"])),
        "log_var": affine_forward(h, theta["W5"], theta["b5"]),
    }


def decoder_mean(theta: dict, z: np.ndarray) -> np.ndarray:
    """E[x|z] under the decoder: sigmoid(logits) (Bernoulli) or mu_x (Gaussian); shape (N, D)."""
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


def log_likelihood_backward(
    theta: dict, z: np.ndarray, x: np.ndarray, out: dict, dll: np.ndarray
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

    Returns
    -------
    dz : ndarray, shape (L·M, Nz)
    grads : dict
        Gradients for every array of ``theta``.
    """
    M, D = x.shape
    w = dll.reshape(-1, M, 1)
    h = out["h"]
    if "logits" in out:
        # Eq. (11): d/da [x a − softplus(a)] = x − sigmoid(a).
        dlogits = (w * dist.bernoulli_log_likelihood_grad(x, out["logits"].reshape(-1, M, D))).reshape(-1, D)
        dh, dW2, db2 = affine_backward(dlogits, h, theta["W2"])
        dz, dW1, db1 = affine_backward(tanh_backward(dh, h), z, theta["W1"])
        return dz, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    mu_x = out["mu"].reshape(-1, M, D)
    dmu_x, dlog_var_x = dist.log_normal_diag_grad(x, mu_x, out["log_var"].reshape(-1, M, D))
    # mu_x = sigmoid(a4): d mu_x / d a4 = mu_x (1 − mu_x).
    da4 = (w * dmu_x * mu_x * (1.0 - mu_x)).reshape(-1, D)
    da5 = (w * dlog_var_x).reshape(-1, D)
    dh4, dW4, db4 = affine_backward(da4, h, theta["W4"])
    dh5, dW5, db5 = affine_backward(da5, h, theta["W5"])
    dz, dW3, db3 = affine_backward(tanh_backward(dh4 + dh5, h), z, theta["W3"])
    return dz, {"W3": dW3, "b3": db3, "W4": dW4, "b4": db4, "W5": dW5, "b5": db5}
