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
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def affine_forward(h: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine map ``W h + b`` for a batch of rows.

    Parameters
    ----------
    h : ndarray, shape (M, n_in)
    W : ndarray, shape (n_out, n_in)
        Paper orientation (Appendix C).
    b : ndarray, shape (n_out,)

    Returns
    -------
    ndarray, shape (M, n_out)
        ``h @ W.T + b``.
    """
    out = h @ W.T
    out += b
    return out


def affine_backward(
    dout: np.ndarray, h: np.ndarray, W: np.ndarray, need_dh: bool = True
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

    Returns
    -------
    dh : ndarray, shape (M, n_in), or None if ``need_dh`` is False
    dW : ndarray, shape (n_out, n_in)
    db : ndarray, shape (n_out,)
    """
    dW = dout.T @ h
    db = dout.sum(axis=0)
    dh = dout @ W if need_dh else None
    return dh, dW, db


def tanh_forward(a: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, the hidden nonlinearity of Appendix C."""
    return np.tanh(a)


def tanh_backward(dout: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Gradient through ``h = tanh(a)``: ``dout * (1 - h**2)``, written from the output ``h``."""
    return dout * (1.0 - h * h)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-a))`` without overflow for large ``|a|``.

    ``scipy.special.expit`` is evaluated in a form that never exponentiates a large
    positive number, so ``a = ±1e4`` gives exactly 1 or 0 and no warning.
    """
    return expit(a)


def softplus(a: np.ndarray) -> np.ndarray:
    """``log(1 + exp(a))`` evaluated stably as ``max(a, 0) + log1p(exp(-|a|))``."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def log_sigmoid(a: np.ndarray) -> np.ndarray:
    """``log sigmoid(a) = -softplus(-a)``, finite for every finite ``a``."""
    return -softplus(-a)
