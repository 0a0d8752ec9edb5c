"""Parameters as a nested dict of named arrays, stored as views into one flat buffer.

``params["phi"]["W3"]`` and ``params["theta"]["W1"]`` are ordinary ndarrays, but every
array of one dict is a view into a single contiguous 1-D buffer.  That keeps the code a
student reads in the paper's names while letting the optimizer update all ~816k numbers
of the MNIST model in a few passes over one array (see :mod:`aevb_np.optim`).

Names follow Appendix C: the encoder q_φ(z|x) is ``phi = {W3, b3, W4, b4, W5, b5}``;
the Bernoulli decoder is ``theta = {W1, b1, W2, b2}`` (C.1) and the Gaussian decoder
``theta = {W3, b3, W4, b4, W5, b5}`` (C.2).
"""

from __future__ import annotations

import numpy as np

from aevb_np.errors import ShapeError

Shapes = dict[str, dict[str, tuple[int, ...]]]
Params = dict[str, dict[str, np.ndarray]]


def allocate(shapes: Shapes, dtype=np.float64) -> tuple[np.ndarray, Params]:
    """Allocate one zeroed flat buffer and the nested dict of named views into it.

    Parameters
    ----------
    shapes : dict
        ``{"phi": {"W3": (H, D), ...}, "theta": {...}}``; the dict order is the buffer order.
    dtype : numpy dtype

    Returns
    -------
    flat : ndarray, shape (P,)
    params : dict of dict of ndarray
        Views into ``flat`` with the requested shapes.
    """
    total = sum(int(np.prod(s)) for group in shapes.values() for s in group.values())
    flat = np.zeros(total, dtype=dtype)
    params: Params = {}
    offset = 0
    for group, arrays in shapes.items():
        params[group] = {}
        for name, shape in arrays.items():
            size = int(np.prod(shape))
            params[group][name] = flat[offset : offset + size].reshape(shape)
            offset += size
    return flat, params


def scratch(workspace: dict | None, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array for an intermediate result, reused across calls if the caller keeps a workspace.

    ``workspace`` is an ordinary dict owned by the caller (the training loop keeps one
    for the whole run; nothing is global).  The first call stores a new array under
    ``key``; later calls with the same shape and dtype return that array, so a training
    step allocates nothing once the first step has run.  With ``workspace=None`` this is
    simply ``np.empty(shape, dtype)``: the code that uses it is the same either way.

    Parameters
    ----------
    workspace : dict or None
    key : str
        Name of the intermediate, e.g. ``"enc.h"``.
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    ndarray
        Contents undefined: callers write it whole (``out=``) before reading it.
    """
    if workspace is None:
        return np.empty(shape, dtype)
    a = workspace.get(key)
    if a is None or a.shape != tuple(shape) or a.dtype != dtype:
        a = workspace[key] = np.empty(shape, dtype)
    return a


def shapes_of(params: Params) -> Shapes:
    """The nested dict of shapes of ``params``.

    Parameters
    ----------
    params : dict of dict of ndarray
        ``{"phi": {"W3": (H, D), ...}, "theta": {...}}`` or any groups.

    Returns
    -------
    dict of dict of tuple
        The same groups and names, each array's shape.
    """
    return {g: {k: tuple(v.shape) for k, v in arrays.items()} for g, arrays in params.items()}


def zeros_like(params: Params) -> Params:
    """A zeroed nested dict with the same names, shapes and dtype, backed by one flat buffer.

    Parameters
    ----------
    params : dict of dict of ndarray
        At least one group with one array; the first array's dtype is used for all.

    Returns
    -------
    dict of dict of ndarray
        Zeros, views into one new flat buffer (see :func:`allocate`).
    """
    dtype = next(iter(next(iter(params.values())).values())).dtype
    return allocate(shapes_of(params), dtype)[1]


def copy(params: Params) -> Params:
    """A deep copy of ``params`` in a fresh flat buffer.

    Parameters
    ----------
    params : dict of dict of ndarray

    Returns
    -------
    dict of dict of ndarray
        The same names, shapes and values, in the first array's dtype.
    """
    out = zeros_like(params)
    for g, arrays in params.items():
        for k, v in arrays.items():
            out[g][k][...] = v
    return out


def flat_buffer(params: Params) -> np.ndarray | None:
    """The 1-D buffer every array of ``params`` is a view of, in order, or None.

    Parameters
    ----------
    params : dict of dict of ndarray
        At least one array.

    Returns
    -------
    ndarray, shape (P,), or None
        The shared buffer (P = the total number of entries), if the arrays are
        consecutive C-contiguous views that cover all of it in dict order; None
        otherwise (for example a dict a user assembled by hand), and callers then fall
        back to a loop over the named arrays.
    """
    arrays = [v for group in params.values() for v in group.values()]
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    start = base.__array_interface__["data"][0]
    offset = 0
    for a in arrays:
        if a.base is not base or a.__array_interface__["data"][0] != start + offset * a.itemsize:
            return None
        if not a.flags.c_contiguous:
            return None
        offset += a.size
    return base if offset == base.size else None


def to_flat_dict(params: Params) -> dict[str, np.ndarray]:
    """``{"phi/W3": array, ...}``: the form saved in ``.npz`` files.

    Parameters
    ----------
    params : dict of dict of ndarray

    Returns
    -------
    dict of str to ndarray
        Keys ``"group/name"``; the values are the arrays themselves (not copies).
    """
    return {f"{g}/{k}": v for g, arrays in params.items() for k, v in arrays.items()}


def from_flat_dict(flat: dict[str, np.ndarray], dtype=None) -> Params:
    """Inverse of :func:`to_flat_dict`, copying into a fresh flat buffer.

    Parameters
    ----------
    flat : dict of str to array_like
        Keys ``"group/name"`` (e.g. ``"phi/W3"``), at least one.
    dtype : numpy dtype, optional
        Of the result; defaults to the first value's dtype.

    Returns
    -------
    dict of dict of ndarray
        ``{group: {name: array}}``, views into one new flat buffer.

    Raises
    ------
    ShapeError
        A key is not of the form ``group/name``.
    """
    shapes: Shapes = {}
    for key, value in flat.items():
        if key.count("/") != 1:
            raise ShapeError(f"parameter key must look like 'phi/W3', got {key!r}")
        g, k = key.split("/")
        shapes.setdefault(g, {})[k] = tuple(np.shape(value))
    first = next(iter(flat.values()))
    _, params = allocate(shapes, dtype or np.asarray(first).dtype)
    for key, value in flat.items():
        g, k = key.split("/")
        params[g][k][...] = value
    return params


def check_params(params, expected: Shapes) -> None:
    """Check that ``params`` has exactly the expected groups, names and shapes.

    Parameters
    ----------
    params : object
        What is checked; should be a dict of dict of float ndarray.
    expected : dict of dict of tuple
        ``{"phi": {"W3": (H, D), ...}, ...}`` (e.g. :func:`aevb_np.model.param_shapes`).

    Raises
    ------
    ShapeError
        A missing, unexpected or misshapen array, or a non-float dtype; the message
        names the array (``params['theta']['W2']``).
    """
    if not isinstance(params, dict):
        raise ShapeError(f"params must be a dict with groups 'phi' and 'theta', got {type(params).__name__}")
    for g, arrays in expected.items():
        if g not in params or not isinstance(params[g], dict):
            raise ShapeError(f"params is missing the group {g!r} (expected names {sorted(arrays)})")
        got = params[g]
        missing = [k for k in arrays if k not in got]
        extra = [k for k in got if k not in arrays]
        if missing or extra:
            raise ShapeError(
                f"params[{g!r}] must hold exactly {list(arrays)}; missing {missing}, unexpected {extra}"
            )
        for k, shape in arrays.items():
            a = got[k]
            if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.floating):
                raise ShapeError(f"params[{g!r}][{k!r}] must be a float ndarray, got {type(a).__name__}")
            if a.shape != tuple(shape):
                raise ShapeError(f"params[{g!r}][{k!r}] must have shape {tuple(shape)}, got {a.shape}")
    extra_groups = [g for g in params if g not in expected]
    if extra_groups:
        raise ShapeError(f"params has unexpected group(s) {extra_groups}; expected {list(expected)}")
