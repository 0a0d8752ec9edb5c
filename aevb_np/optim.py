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
views into one flat buffer each (as :func:`aevb_np.model.init_params` and
:func:`aevb_np.params.zeros_like` make them; the estimators fill such a ``grads`` with
``grads=``), the update runs over the flat buffers in cache-sized chunks with in-place
ufuncs: a handful of passes over contiguous memory and no allocation per step.

NumPy's ufuncs run on one core.  ``threads=2`` splits the flat buffer in two halves
updated by two threads at once (NumPy releases the GIL inside a ufunc); every entry is
computed by the same operations either way, so the result is identical, bit for bit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from aevb_np.checks import check_count, check_positive
from aevb_np.params import Params, flat_buffer, zeros_like

_CHUNK_BYTES = 1 << 18  # 256 KiB per scratch row: a chunk's five operands (1.25 MiB) stay in L2


def _check_threads(threads) -> int:
    check_count(threads, "threads")
    return int(threads)


class _ChunkedUpdate:
    """Runs an elementwise update over 1-D arrays chunk by chunk, on one or more threads.

    ``update(lo, hi, scratch)`` updates entries ``lo:hi`` using ``scratch``, a (2, chunk)
    array owned by the calling thread; the scratch rows are allocated once and reused.
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._scratch: list[np.ndarray] = []
        self._pool: ThreadPoolExecutor | None = None

    def run(self, size: int, dtype, update) -> None:
        chunk = max(1, _CHUNK_BYTES // np.dtype(dtype).itemsize)
        if len(self._scratch) != self.threads or self._scratch[0].dtype != dtype or self._scratch[0].shape[1] != chunk:
            self._scratch = [np.empty((2, chunk), dtype=dtype) for _ in range(self.threads)]

        def part(i: int) -> None:  # part i of ``threads`` contiguous parts, chunk by chunk
            lo, hi = size * i // self.threads, size * (i + 1) // self.threads
            for s in range(lo, hi, chunk):
                update(s, min(s + chunk, hi), self._scratch[i])

        if self.threads == 1:
            part(0)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="aevb-optim")
        for future in [self._pool.submit(part, i) for i in range(self.threads)]:
            future.result()  # re-raises an exception from the worker

    def __getstate__(self):  # a thread pool cannot be copied or pickled; a copy makes its own
        return {"threads": self.threads, "_scratch": [], "_pool": None}


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


def adagrad_step(params: Params, grads: Params, G: Params, lr: float, scale: float = 1.0,
                 weight_decay: bool = True) -> None:
    """§5's Adagrad written plainly: the reference :class:`Adagrad` computes, bit for bit.

    For every parameter array θ, with its gradient ∇ (of ``Σ_i elbo_i`` over the minibatch)
    and its accumulator G (started at ``eps``)::

        g = scale·∇ − θ        (Eq. 8's N/M, and the N(0, I) prior as weight decay)
        G ← G + g²
        θ ← θ + lr · g / √G

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}``, updated in place.
    grads : dict
        The same structure: the gradient of ``Σ_i elbo_i``.
    G : dict
        The same structure: the accumulators, updated in place.
    lr : float
        Global step size (§5: from {0.01, 0.02, 0.1}).
    scale : float
        N/M (Eq. 8).
    weight_decay : bool
        Include ∇ log p(θ) = −θ.

    Notes
    -----
    No checks, no warm-up, no scaled heads: those are :class:`Adagrad`'s options.  The
    operations and their order are those of :class:`Adagrad`'s fast path (``lr`` multiplies
    ``g / √G``), so the two agree to the last bit.

    References
    ----------
    Kingma & Welling (2014), §5; Duchi, Hazan & Singer (2011).
    """
    for group, arrays in params.items():
        for name, theta in arrays.items():
            g = scale * grads[group][name] - theta if weight_decay else scale * grads[group][name]
            G[group][name] += g * g
            theta += lr * (g / np.sqrt(G[group][name]))


class Adagrad:
    """Adagrad ascent (Duchi et al. 2011) on the MAP objective of §5.

    For every parameter entry, with ``g = scale · ∂Σ elbo/∂θ − θ`` (the second term only
    if ``weight_decay``)::

        G ← G + g²          (G starts at eps, not 0)
        θ ← θ + lr · g / √G

    :func:`adagrad_step` is this update written plainly, a few lines over the arrays;
    :meth:`step` computes the same numbers bit for bit (``tests/test_optim.py`` runs both
    over hundreds of AEVB steps on MNIST) but in place, chunk by chunk over the flat
    parameter buffer, optionally on two threads, without a temporary per array.

    Starting G at ``eps`` instead of writing ``√G + eps`` keeps the first step finite
    for a zero gradient and saves one pass over the 816k parameters per step; the two
    forms differ by less than ``eps / √G`` relatively (tests/test_optim.py checks both).

    Parameters
    ----------
    lr : float
        Global step size; §5 picks it from {0.01, 0.02, 0.1} (0.02 for MNIST here).
    scale : float
        N/M, the factor of Eq. (8) that makes the minibatch sum an estimate of the
        full-data bound.  Only its size relative to the prior term matters for Adagrad.
        The training loop asks the estimator for the gradient already multiplied by N/M
        (``grad_scale``, applied to about a tenth as many numbers as there are parameters)
        and passes 1 here, which skips a pass.
    weight_decay : bool
        Include ∇ log p(θ) = −θ of the N(0, I) prior (default True).
    eps : float
        Starting value of every accumulator G, so that √G > 0 from the first step.
    threads : int
        Threads that share the update (default 1; 2 on an otherwise idle 2-core machine
        when BLAS uses 2 threads too).  The result does not depend on it.
    warmup : int
        Steps at the start that only accumulate ``G ← G + g²`` and leave the parameters
        where they are (default 0: every step moves them).  The authors' code does this:
        anglepy ``wzoptim.py`` skips the update for the first 100 minibatches of its
        variational auto-encoder (``step_va``, ``warmup=100``) and the first 10 of its
        earlier AEVB form (``step_pvem``), so the first real step is ``lr·g/√G`` with
        ``G`` already holding ``warmup + 1`` squared gradients, about ``lr/√(warmup+1)``
        per entry instead of ``lr``.  Not in the paper's text.
    scaled_heads : dict, optional
        Scaled log-variance heads (not §2.4's reparameterization of z):
        ``{"group/name": s}``: those arrays W are stepped as Adagrad steps a parameter
        ``u = W/s`` that the network multiplies by s (the network sees ``W = s·u``), with
        the N(0, I) prior on u.  In terms of W, exactly::

            d = s·scale·∂/∂W − W/s      (= ∂/∂u of the MAP objective)
            G ← G + d²                   (G in u's units)
            W ← W + s · lr · d / √G

        so W moves s times as far per step and its prior is N(0, s²).  The authors'
        wake-sleep recognition model computes its log-variance this way with s = 0.1
        (``logvar_factor`` in anglepy ``models/MLBN_Inverse.py``).

    Raises
    ------
    ConfigError
        Non-positive or non-finite ``lr``, ``scale`` or ``eps`` or a ``scaled_heads`` factor;
        ``threads`` < 1; ``warmup`` not an integer >= 0.

    References
    ----------
    Kingma & Welling (2014), §5; Duchi, Hazan & Singer (2011).
    """

    def __init__(self, lr: float = 0.02, scale: float = 1.0, weight_decay: bool = True, eps: float = 1e-8,
                 threads: int = 1, scaled_heads: dict[str, float] | None = None, warmup: int = 0):
        self.lr = check_positive(lr, "lr")
        self.warmup = check_count(warmup, "warmup", 0)
        self.warmup_done = 0  # warmup steps taken so far (only accumulated)
        self.scale = check_positive(scale, "scale")
        self.eps = check_positive(eps, "eps")
        self.weight_decay = bool(weight_decay)
        self.scaled_heads = {str(k): check_positive(v, f"scaled_heads[{k!r}]") for k, v in (scaled_heads or {}).items()}
        self.accumulators: Params | None = None  # G, created on the first step
        self._chunks = _ChunkedUpdate(_check_threads(threads))

    def _ascent_direction(self, p, g, out):
        """out ← scale·g − p (MAP gradient; Eq. 8 scale, N(0, I) prior)."""
        if self.scale != 1.0:
            np.multiply(g, self.scale, out=out)
            g = out
        if self.weight_decay:
            np.subtract(g, p, out=out)
        elif g is not out:
            out[...] = g
        return out

    def _accumulate(self, p, g, G, s, e, scratch):
        """Entries s:e, a warmup step: G ← G + g² only."""
        d, t = scratch[0, : e - s], scratch[1, : e - s]
        self._ascent_direction(p[s:e], g[s:e], d)
        np.multiply(d, d, out=t)
        G[s:e] += t

    def _update(self, p, g, G, s, e, scratch):
        """Entries s:e of one flat array; ``scratch`` rows hold d and a temporary t."""
        d, t = scratch[0, : e - s], scratch[1, : e - s]
        self._ascent_direction(p[s:e], g[s:e], d)
        np.multiply(d, d, out=t)
        G[s:e] += t  # G ← G + g²
        np.sqrt(G[s:e], out=t)
        np.divide(d, t, out=d)
        d *= self.lr
        p[s:e] += d  # θ ← θ + lr · g / √G

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
            for arrays in self.accumulators.values():
                for G in arrays.values():
                    G.fill(self.eps)
        warming = self.warmup_done < self.warmup  # a warm-up step only fills G (see ``warmup``)
        update = self._accumulate if warming else self._update
        if not self.scaled_heads:
            for p, g, G in _pairs(params, grads, self.accumulators):
                self._chunks.run(p.size, p.dtype, lambda s, e, scratch: update(p, g, G, s, e, scratch))
        else:
            for group, arrays in params.items():
                for name, p in arrays.items():
                    g, G = grads[group][name], self.accumulators[group][name]
                    factor = self.scaled_heads.get(f"{group}/{name}")
                    if factor is None:
                        p, g, G = p.reshape(-1), g.reshape(-1), G.reshape(-1)
                        self._chunks.run(p.size, p.dtype, lambda s, e, scratch: update(p, g, G, s, e, scratch))
                    else:
                        self._update_scaled_head(p, g, G, factor, move=not warming)
        if warming:
            self.warmup_done += 1

    def _update_scaled_head(self, p, g, G, factor, move: bool = True):
        """Adagrad on u = W/factor under N(0, I), written in W (see ``scaled_heads``); with
        ``move=False`` (a warm-up step) only G is filled."""
        d = (factor * self.scale) * g
        if self.weight_decay:
            d -= p / factor
        G += d * d
        if move:
            p += (factor * self.lr) * d / np.sqrt(G)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Accumulators as ``{"phi/W3": G, ...}`` (empty before the first step).

        Returns
        -------
        dict of str to ndarray
            One accumulator G per parameter array, keyed ``"group/name"``, shaped like
            the array (the arrays themselves, not copies); ``{}`` before the first step.
            With a ``warmup``, also ``"warmup/done"``: the count of warmup steps taken.
        """
        if self.accumulators is None:
            return {}
        state = {f"{g}/{k}": v for g, arrays in self.accumulators.items() for k, v in arrays.items()}
        if self.warmup:
            state["warmup/done"] = np.array(self.warmup_done, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], params: Params) -> None:
        """Restore accumulators saved by :meth:`state_dict` (exact resume).

        Parameters
        ----------
        state : dict of str to ndarray
            As :meth:`state_dict` returned it; ``{}`` resets to the state before the
            first step.
        params : dict of dict of ndarray
            The parameters the accumulators belong to (their names, shapes and dtype).

        Raises
        ------
        KeyError
            ``state`` is not empty and lacks a ``"group/name"`` of ``params``.
        ValueError
            A saved array does not broadcast to its parameter's shape.
        """
        if not state:
            self.accumulators = None
            self.warmup_done = 0
            return
        if self.warmup:
            self.warmup_done = int(state["warmup/done"]) if "warmup/done" in state else self.warmup
        self.accumulators = zeros_like(params)
        for g, arrays in self.accumulators.items():
            for k, v in arrays.items():
                v[...] = state[f"{g}/{k}"]


class SGD:
    """Plain stochastic gradient ascent ``θ ← θ + lr · (scale·g − θ)`` on the same objective.

    Parameters
    ----------
    lr : float
        Step size (default 0.001).
    scale : float
        N/M of Eq. (8) (see :class:`Adagrad`).
    weight_decay : bool
        Include ∇ log p(θ) = −θ of the N(0, I) prior (default True).
    threads : int
        Threads that share the update; the result does not depend on it.

    Raises
    ------
    ConfigError
        Non-positive or non-finite ``lr`` or ``scale``; ``threads`` < 1.

    References
    ----------
    Kingma & Welling (2014), Eq. (8), §5 (the prior as weight decay).
    """

    def __init__(self, lr: float = 0.001, scale: float = 1.0, weight_decay: bool = True, threads: int = 1):
        self.lr = check_positive(lr, "lr")
        self.scale = check_positive(scale, "scale")
        self.weight_decay = bool(weight_decay)
        self._chunks = _ChunkedUpdate(_check_threads(threads))

    def _update(self, p, g, s, e, scratch):
        d = scratch[0, : e - s]
        np.multiply(g[s:e], self.scale, out=d)
        if self.weight_decay:
            d -= p[s:e]
        d *= self.lr
        p[s:e] += d  # θ ← θ + lr · (scale·g − θ)

    def step(self, params: Params, grads: Params) -> None:
        """One in-place ascent step (see :class:`SGD`).

        Parameters
        ----------
        params : dict of dict of ndarray
            Updated in place.
        grads : dict of dict of ndarray
            Same structure: the gradient of ``Σ_i elbo_i`` over the minibatch.
        """
        for p, g, _ in _pairs(params, grads, None):
            self._chunks.run(p.size, p.dtype, lambda s, e, scratch: self._update(p, g, s, e, scratch))

    def state_dict(self) -> dict[str, np.ndarray]:
        """SGD keeps no state.

        Returns
        -------
        dict
            Always ``{}``.
        """
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray], params: Params) -> None:
        """Nothing to restore.

        Parameters
        ----------
        state : dict
            Ignored (what :meth:`state_dict` returned: ``{}``).
        params : dict
            Ignored.
        """
