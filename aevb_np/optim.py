"""Stochastic gradient *ascent*: Adagrad (the paper's choice) and plain SGD.

Both follow the gradient of the MAP objective of §5 for a minibatch of M out of N
datapoints::

    J(θ, φ) = (N/M) Σ_{i in minibatch} elbo_i  +  log p(θ, φ)

where ``Σ elbo_i`` is what :mod:`aevb_np.bounds` differentiates (Eq. 8 gives the N/M
factor) and the prior p = N(0, I) over every parameter gives the "weight decay" term
``−θ`` (§5: "weight decay corresponding to a prior p(θ) = N(0, I)").  The paper places
the prior on θ; like the authors' code we decay the encoder's φ as well, which is the
same as a N(0, I) prior on φ and keeps both networks on one footing.

Updates are in place on the arrays of ``params``.  When ``params`` and ``grads`` are
views into one flat buffer each (as :func:`aevb_np.model.init_params` and the
estimators make them), the update runs over the flat buffers in cache-sized chunks with
in-place ufuncs: a handful of passes over contiguous memory and no allocation per step.
"""

from __future__ import annotations

import numpy as np

from aevb_np.errors import ConfigError
from aevb_np.params import Params, flat_buffer, zeros_like

_CHUNK = 1 << 14  # elements per chunk: 128 KiB of float64, so the scratch stays in L2


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _pairs(params: Params, grads: Params, state: Params | None):
    """Yield matching (param, grad, state) arrays: flat buffers if possible, else by name."""
    flat_p, flat_g = flat_buffer(params), flat_buffer(grads)
    flat_s = flat_buffer(state) if state is not None else None
    if flat_p is not None and flat_g is not None and (state is None or flat_s is not None):
        yield flat_p, flat_g, flat_s
        return
    for g, arrays in params.items():
        for k, p in arrays.items():
            yield p.reshape(-1), grads[g][k].reshape(-1), None if state is None else state[g][k].reshape(-1)


class Adagrad:
    """Adagrad ascent (Duchi et al. 2011) on the MAP objective of §5.

    For every parameter entry, with ``g = scale · ∂Σ elbo/∂θ − θ`` (the second term only
    if ``weight_decay``)::

        G ← G + g²
        θ ← θ + lr · g / (√G + eps)

    Parameters
    ----------
    lr : float
        Global step size; §5 picks it from {0.01, 0.02, 0.1} (0.02 for MNIST here).
    scale : float
        N/M, the factor of Eq. (8) that makes the minibatch sum an estimate of the
        full-data bound.  Only its size relative to the prior term matters for Adagrad.
    weight_decay : bool
        Include ∇ log p(θ) = −θ of the N(0, I) prior (default True).
    eps : float
        Added to √G for the first steps where G may be 0.

    Raises
    ------
    ConfigError
        Non-positive or non-finite ``lr``, ``scale`` or ``eps``.

    References
    ----------
    Kingma & Welling (2014), §5; Duchi, Hazan & Singer (2011).
    """

    def __init__(self, lr: float = 0.02, scale: float = 1.0, weight_decay: bool = True, eps: float = 1e-8):
        self.lr = _check_positive("lr", lr)
        self.scale = _check_positive("scale", scale)
        self.eps = _check_positive("eps", eps)
        self.weight_decay = bool(weight_decay)
        self.accumulators: Params | None = None  # G, created on the first step
        self._scratch: np.ndarray | None = None

    def _ascent_direction(self, p, g, out):
        """out ← scale·g − p (MAP gradient; Eq. 8 scale, N(0, I) prior)."""
        np.multiply(g, self.scale, out=out)
        if self.weight_decay:
            np.subtract(out, p, out=out)
        return out

    def step(self, params: Params, grads: Params) -> None:
        """One in-place ascent step on every array of ``params``.

        Parameters
        ----------
        params : dict
            Updated in place.
        grads : dict
            Same structure: the gradient of ``Σ_i elbo_i`` over the minibatch.
        """
        if self.accumulators is None:
            self.accumulators = zeros_like(params)
        for p, g, G in _pairs(params, grads, self.accumulators):
            if self._scratch is None or self._scratch.dtype != p.dtype:
                self._scratch = np.empty((2, _CHUNK), dtype=p.dtype)
            for s in range(0, p.size, _CHUNK):
                e = min(s + _CHUNK, p.size)
                d, t = self._scratch[0, : e - s], self._scratch[1, : e - s]
                self._ascent_direction(p[s:e], g[s:e], d)
                np.multiply(d, d, out=t)
                G[s:e] += t  # G ← G + g²
                np.sqrt(G[s:e], out=t)
                t += self.eps
                np.divide(d, t, out=d)
                d *= self.lr
                p[s:e] += d  # θ ← θ + lr · g / (√G + eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Accumulators as ``{"phi/W3": G, ...}`` (empty before the first step)."""
        if self.accumulators is None:
            return {}
        return {f"{g}/{k}": v for g, arrays in self.accumulators.items() for k, v in arrays.items()}

    def load_state_dict(self, state: dict[str, np.ndarray], params: Params) -> None:
        """Restore accumulators saved by :meth:`state_dict` (exact resume)."""
        if not state:
            self.accumulators = None
            return
        self.accumulators = zeros_like(params)
        for g, arrays in self.accumulators.items():
            for k, v in arrays.items():
                v[...] = state[f"{g}/{k}"]


class SGD:
    """Plain stochastic gradient ascent ``θ ← θ + lr · (scale·g − θ)`` on the same objective.

    Parameters and errors as :class:`Adagrad` (without ``eps``).
    """

    def __init__(self, lr: float = 0.001, scale: float = 1.0, weight_decay: bool = True):
        self.lr = _check_positive("lr", lr)
        self.scale = _check_positive("scale", scale)
        self.weight_decay = bool(weight_decay)

    def step(self, params: Params, grads: Params) -> None:
        """One in-place ascent step (see :class:`SGD`)."""
        for p, g, _ in _pairs(params, grads, None):
            d = g * self.scale
            if self.weight_decay:
                d -= p
            d *= self.lr
            p += d

    def state_dict(self) -> dict[str, np.ndarray]:
        """SGD keeps no state."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray], params: Params) -> None:
        """Nothing to restore."""
