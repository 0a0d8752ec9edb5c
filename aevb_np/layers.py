"""Affine and activation layers with hand-written backward passes.

Each operation is a pair of plain functions: ``*_forward`` computes the output (and
whatever ``*_backward`` will need is simply its inputs or outputs, which the caller
keeps), ``*_backward`` maps the upstream gradient ``dout`` to the gradients of the
inputs and parameters.  Backward functions never write into ``dout``: a gradient that
fans out (the encoder's hidden layer feeds both the ``mu`` and the ``log_var`` head) is
*summed* by the caller, never overwritten.

Weights are stored in the paper's orientation ``(n_out, n_in)`` (Appendix C writes
``W h + b``); for a batch of row vectors ``h`` of shape ``(M, n_in)`` that is
``h @ W.T + b``.

References
----------
Kingma & Welling (2014), Appendix C (the MLPs these layers build).

Every function takes an optional ``out=`` (``dh=``, ``dW=``, ``db=`` for the backward
of the affine map): a preallocated array the result is written into, as NumPy's own
``out=`` does.  Without it a fresh array is returned.  The arithmetic is the same either
way; the training loop passes buffers it keeps from step to step so that a step
allocates nothing (see :func:`aevb_np.params.scratch`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def affine_forward(h: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Affine map ``W h + b`` for a batch of rows.

    Parameters
    ----------
    h : ndarray, shape (M, n_in)
    W : ndarray, shape (n_out, n_in)
        Paper orientation (Appendix C).
    b : ndarray, shape (n_out,)
    out : ndarray, shape (M, n_out), optional
        Where to write the result (must not overlap ``h``).

    Returns
    -------
    ndarray, shape (M, n_out)
        ``h @ W.T + b``.
    """
    out = np.matmul(h, W.T, out=out)  # W.T is a view: BLAS reads W transposed, no copy
    out += b
    return out


def affine_backward(
    dout: np.ndarray,
    h: np.ndarray,
    W: np.ndarray,
    need_dh: bool = True,
    *,
    dh: np.ndarray | None = None,
    dW: np.ndarray | None = None,
    db: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of an affine map given the upstream gradient.

    Parameters
    ----------
    dout : ndarray, shape (M, n_out)
        Gradient of the objective with respect to the affine output.
    h : ndarray, shape (M, n_in)
        The input the forward pass saw.
    W : ndarray, shape (n_out, n_in)
    need_dh : bool
        Skip the input gradient (one GEMM) when the input is data.
    dh, dW, db : ndarray, optional
        Where to write the three results (for example the views of a flat gradient
        buffer, :func:`aevb_np.params.zeros_like`); they are overwritten, not added to.

    Returns
    -------
    dh : ndarray, shape (M, n_in), or None if ``need_dh`` is False
    dW : ndarray, shape (n_out, n_in)
    db : ndarray, shape (n_out,)
    """
    dW = np.matmul(dout.T, h, out=dW)  # dL/dW = Σ_rows dout hᵀ
    db = np.sum(dout, axis=0, out=db)
    dh = np.matmul(dout, W, out=dh) if need_dh else None
    return dh, dW, db


def tanh_forward(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Hyperbolic tangent, the hidden nonlinearity of Appendix C (``out=a`` works in place).

    Parameters
    ----------
    a : ndarray, any shape
        Pre-activations, e.g. (M, H).
    out : ndarray, optional
        Receives the result (same shape as ``a``); may be ``a`` itself.

    Returns
    -------
    ndarray, shape of ``a``
        ``tanh(a)`` (``out`` if given).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11), C.2 (Eq. 12).
    """
    return np.tanh(a, out=out)


def tanh_backward(dout: np.ndarray, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Gradient through ``h = tanh(a)``: ``dout * (1 - h**2)``, written from the output ``h``.

    Parameters
    ----------
    dout : ndarray, shape (M, H)
        Gradient of the objective with respect to ``h``.
    h : ndarray, shape (M, H)
        The forward output ``tanh(a)``.
    out : ndarray, shape (M, H), optional
        Receives the result; it may be ``h`` itself but not ``dout``.

    Returns
    -------
    ndarray, shape (M, H)
        The gradient with respect to ``a`` (``out`` if given).

    References
    ----------
    Kingma & Welling (2014), Appendix C (the tanh hidden layer), differentiated.
    """
    out = np.multiply(h, h, out=out)  # the three lines are dout * (1.0 - h * h)
    np.subtract(1.0, out, out=out)
    np.multiply(dout, out, out=out)
    return out


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-a))`` without overflow for large ``|a|``.

    ``scipy.special.expit`` is evaluated in a form that never exponentiates a large
    positive number, so ``a = ±1e4`` gives exactly 1 or 0 and no warning.

    Parameters
    ----------
    a : ndarray, any shape
    out : ndarray, optional
        Receives the result (shape of ``a``); may be ``a`` itself.

    Returns
    -------
    ndarray, shape of ``a``
        Values in [0, 1] (``out`` if given).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11: y = sigmoid(W2 h + b2)).
    """
    return expit(a, out=out)


def softplus(a: np.ndarray, out: np.ndarray | None = None, work: np.ndarray | None = None) -> np.ndarray:
    """``log(1 + exp(a))`` evaluated stably as ``max(a, 0) + log1p(exp(-|a|))``.

    Parameters
    ----------
    a : array_like, any shape
        Integers are converted to float; float32 stays float32.
    out, work : ndarray, optional
        Shaped like ``a``, distinct from ``a`` and from each other: they receive the
        result and the intermediate ``log1p(exp(-|a|))``.

    Returns
    -------
    ndarray, shape of ``a``
        ``softplus(a) >= 0`` (``out`` if given).
    """
    a = np.asarray(a, dtype=np.result_type(a, 0.0))  # integers become floats; float32 stays float32
    t = np.abs(a, out=np.empty_like(a) if work is None else work)
    np.negative(t, out=t)  # −|a| <= 0, so exp never overflows
    np.exp(t, out=t)
    np.log1p(t, out=t)
    out = np.maximum(a, 0.0, out=out)
    out += t
    return out


def log_sigmoid(a: np.ndarray) -> np.ndarray:
    """``log sigmoid(a) = -softplus(-a)``, finite for every finite ``a``.

    Parameters
    ----------
    a : array_like, any shape

    Returns
    -------
    ndarray, shape of ``a``
        ``log sigmoid(a) <= 0``, in nats.
    """
    return -softplus(-a)
