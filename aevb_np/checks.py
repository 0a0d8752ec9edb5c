"""Input checks shared by the public functions: one clear error per bad input.

Each check raises a subclass of :class:`aevb_np.errors.AEVBError` whose message names the
argument, what was expected and what came, so a user's mistake is never turned into a
silent wrong number.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from aevb_np.errors import ConfigError, NonFiniteError, ShapeError, SupportError


def check_float_array(name: str, a, ndim: int | None = None, shape: tuple | None = None) -> np.ndarray:
    """Return ``a`` as a floating-point ndarray after checking its rank and shape.

    Parameters
    ----------
    name : str
        Argument name used in the message.
    a : array_like
    ndim : int, optional
        Required number of dimensions.
    shape : tuple, optional
        Required shape; ``None`` entries match any length.

    Returns
    -------
    ndarray
        ``a`` itself (no copy, no conversion).

    Raises
    ------
    ShapeError
        Not an array of floats, or wrong rank or shape.
    """
    if not isinstance(a, np.ndarray):
        raise ShapeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ShapeError(f"{name} must have a floating dtype (float64 or float32), got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ShapeError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if shape is not None:
        want = tuple("M" if s is None else s for s in shape)
        if len(shape) != a.ndim or any(s is not None and s != t for s, t in zip(shape, a.shape)):
            pretty = "(" + ", ".join(str(s) for s in want) + ("," if len(want) == 1 else "") + ")"
            raise ShapeError(f"{name} must have shape {pretty}, got {a.shape}")
    return a


def check_finite(name: str, a: np.ndarray) -> None:
    """Raise :class:`NonFiniteError` if ``a`` holds NaN or inf, saying how many and where the first is.

    Parameters
    ----------
    name : str
        Argument name used in the message.
    a : ndarray, any shape

    Raises
    ------
    NonFiniteError
        ``a`` holds a NaN or an infinity.
    """
    if not np.isfinite(a).all():
        bad = ~np.isfinite(a)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(
            f"{name} must be finite, got {int(bad.sum())} NaN/inf value(s), first at index {first}"
        )


def check_unit_interval(name: str, a: np.ndarray) -> None:
    """Raise :class:`SupportError` unless every value of ``a`` lies in [0, 1] (Bernoulli support).

    Parameters
    ----------
    name : str
        Argument name used in the message.
    a : ndarray, any non-empty shape
        E.g. a minibatch (M, D) of Bernoulli targets.

    Raises
    ------
    SupportError
        A value below 0 or above 1.

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11: x ∈ [0, 1] as a Bernoulli mean).
    """
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise SupportError(
            f"{name} must lie in [0, 1] for a Bernoulli likelihood, got values in [{lo:g}, {hi:g}]"
        )


def check_count(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int; :class:`ConfigError` unless it is an integer >= ``minimum``.

    The one check of a count (sizes, steps, samples) in the package: its message reads
    "NAME must be a positive integer, got V" for ``minimum`` 1, "an integer >= MINIMUM" else.

    Parameters
    ----------
    value : object
        What is checked; a bool is refused.
    name : str
        Argument name used in the message.
    minimum : int
        Smallest value allowed (default 1).

    Returns
    -------
    int

    Raises
    ------
    ConfigError
        ``value`` is a bool, not an integer, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float; :class:`ConfigError` unless it is a positive finite real number.

    Parameters
    ----------
    value : object
        What is checked; a bool is refused.
    name : str
        Argument name used in the message.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        ``value`` is a bool, not a real number, not finite, or not above 0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_rng(rng) -> None:
    """:class:`ConfigError` unless ``rng`` is a ``numpy.random.Generator`` (no hidden global RNG).

    Parameters
    ----------
    rng : object
        What is checked.

    Raises
    ------
    ConfigError
        ``rng`` is not a ``numpy.random.Generator`` (a seed or ``RandomState`` is refused).
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
