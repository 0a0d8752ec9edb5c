"""Central finite differences, for the tests and the notebooks alike.

The relative error used throughout the project is ``|a − b| / max(1e-8, |a| + |b|)``;
in float64 a correct hand-written gradient gives about 1e-8 or less, a wrong one
1e-2 or more.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from aevb_np.errors import ConfigError


def relative_error(a, b) -> np.ndarray:
    """Elementwise ``|a − b| / max(1e-8, |a| + |b|)``.

    Parameters
    ----------
    a, b : array_like, broadcastable
        E.g. an analytic and a numerical gradient; converted to float64.

    Returns
    -------
    ndarray of float64, the broadcast shape
        Relative errors in [0, 1] (dimensionless).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-3, indices=None, order: int = 4) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored exactly.

    Why fourth order by default: the two-point formula ``(f(x+h) − f(x−h)) / 2h`` has
    truncation error O(h²) and round-off error about ``1e-16·|f| / h``; for a bound
    summed over a minibatch (``|f|`` ~ 100) no ``h`` brings both below 1e-6 relative on
    gradient entries of size 1e-4.  The four-point central formula
    ``(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h`` has truncation error O(h⁴), so a
    larger ``h`` (1e-3) keeps round-off small too.  ``order=2`` gives the textbook form.

    Parameters
    ----------
    f : callable
        No arguments; reads ``x`` (by closure) and returns a float.
    x : ndarray
        The array to differentiate with respect to (float64 for meaningful results).
    h : float
        Step.
    indices : iterable of index tuples, optional
        Only these entries (the rest of the result stays 0); all entries by default.
    order : {2, 4}
        Order of the central difference.

    Returns
    -------
    ndarray, same shape as ``x``

    Raises
    ------
    ConfigError
        ``order`` is not 2 or 4.
    """
    if order not in (2, 4):
        raise ConfigError(f"order must be 2 or 4 (the central difference's order), got {order!r}")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.ndindex(x.shape) if indices is None else indices
    for idx in it:
        old = x[idx]
        values = {}
        for k in ((-2, -1, 1, 2) if order == 4 else (-1, 1)):
            x[idx] = old + k * h
            values[k] = f()
        x[idx] = old
        if order == 4:
            grad[idx] = (-values[2] + 8.0 * values[1] - 8.0 * values[-1] + values[-2]) / (12.0 * h)
        else:
            grad[idx] = (values[1] - values[-1]) / (2.0 * h)
    return grad


def max_relative_error(f: Callable[[], float], x: np.ndarray, analytic: np.ndarray, h: float = 1e-3, indices=None, order: int = 4) -> float:
    """Largest relative error between ``analytic`` and the central-difference gradient.

    Parameters
    ----------
    f : callable
        No arguments; reads ``x`` (by closure) and returns a float.
    x : ndarray
        Perturbed in place one entry at a time and restored (see :func:`numerical_gradient`).
    analytic : ndarray, same shape as ``x``
        The gradient to check.
    h : float
        Step.
    indices : iterable of index tuples, optional
        Only these entries are compared; all entries by default.
    order : {2, 4}
        Order of the central difference.

    Returns
    -------
    float
        The largest :func:`relative_error` over the compared entries.
    """
    if indices is None:
        return float(relative_error(analytic, numerical_gradient(f, x, h, order=order)).max())
    idx = [tuple(i) for i in indices]
    num = numerical_gradient(f, x, h, idx, order)
    return float(max(relative_error(analytic[i], num[i]) for i in idx))
