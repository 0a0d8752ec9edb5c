"""The posterior p_θ(z|x) as a target: the log joint log p_θ(x, z) of a decoder and its z-gradient.

What the Monte Carlo EM baseline (Appendix E) and the marginal-likelihood estimates
(Appendix D, :mod:`aevb_np.marginal`) share: both run HMC on p_θ(z|x) ∝ p_θ(x|z) p(z),
with the same step-size jitter, on a decoder read off its arrays alone.  This module sits
below both, so that a training baseline does not depend on the evaluation code.

References
----------
Kingma & Welling (2014), Appendix C, Appendix D (step 1), Appendix E.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from aevb_np import distributions as dist
from aevb_np import model
from aevb_np.errors import ShapeError
from aevb_np.params import check_params

LogJoint = Callable[[np.ndarray], np.ndarray]
Proposal = Callable[[int, np.random.Generator], "tuple[np.ndarray, np.ndarray]"]
LogJointAndGrad = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]

#: Default relative jitter of the HMC step size, U(0.7, 1.3) × ε per transition.  The
#: paper's HMC (10 leapfrog steps, ε tuned to 90% acceptance) on a near-Gaussian posterior
#: of unit scale takes trajectories of length ≈ 10 ε ≈ 2π, about one period of the
#: Hamiltonian flow, so chains return close to where they started and the effective
#: sample size collapses (Neal 2011, §5.4).  On the 2-D VAE of tests/test_marginal.py the
#: Appendix D estimate had a run-to-run SD of up to 0.12 nats without jitter, 0.015 with.
JITTER = 0.3


def decoder_architecture(theta) -> tuple[int, int, int, str]:
    """Read ``(n_x, n_hidden, n_latent, decoder)`` off a decoder dict alone and check its arrays.

    :func:`aevb_np.model.architecture` needs the encoder; MCEM has none.

    Parameters
    ----------
    theta : dict
        Bernoulli ``{W1 (H, Nz), b1 (H,), W2 (D, H), b2 (D,)}`` or Gaussian
        ``{W3 (H, Nz), b3, W4 (D, H), b4, W5 (D, H), b5}``.

    Returns
    -------
    n_x, n_hidden, n_latent : int
        D, H and Nz.
    decoder : {"bernoulli", "gaussian"}

    Raises
    ------
    ShapeError
        ``theta`` is not a complete decoder of Appendix C.1 or C.2.
    """
    if not isinstance(theta, dict):
        raise ShapeError(f"params['theta'] must be a dict of decoder arrays, got {type(theta).__name__}")
    first = "W1" if "W1" in theta else "W3"
    try:
        H, Nz = theta[first].shape
        D = theta["W2" if first == "W1" else "W4"].shape[0]
    except (KeyError, AttributeError, ValueError, TypeError) as exc:
        raise ShapeError(
            "params['theta'] must hold a decoder of Appendix C ({W1, b1, W2, b2} or {W3, ..., b5}); "
            f"could not read it ({exc!r})"
        ) from None
    decoder = "bernoulli" if first == "W1" else "gaussian"
    check_params({"theta": theta}, {"theta": model.param_shapes(D, H, Nz, decoder)["theta"]})
    return int(D), int(H), int(Nz), decoder



def log_joint(theta: dict, x: np.ndarray) -> LogJoint:
    """Vectorized log p_θ(x, z) = log N(z; 0, I) + log p_θ(x|z) of the decoder, for a batch x.

    Parameters
    ----------
    theta : dict
        Decoder arrays (Appendix C.1 or C.2).
    x : ndarray, shape (M, D)

    Returns
    -------
    callable
        ``z (n, M, Nz) -> (n, M)`` in nats, row (k, i) pairing z_{k,i} with x_i.

    References
    ----------
    Kingma & Welling (2014), §3 (prior N(0, I)) and Appendix C.
    """
    M = x.shape[0]

    def log_joint_fn(z: np.ndarray) -> np.ndarray:
        n, _, Nz = z.shape
        out = model.decode(theta, z.reshape(n * M, Nz))
        return model.log_likelihood(x, out) + dist.log_standard_normal(z)

    return log_joint_fn


def posterior_target(theta: dict, x: np.ndarray, dtype=np.float64) -> LogJointAndGrad:
    """HMC target for the posteriors p_θ(z_i|x_i): one chain per row of x.

    Parameters
    ----------
    theta : dict
        Decoder arrays (Appendix C.1 or C.2); not checked here.
    x : ndarray, shape (M, D)
        One datapoint per chain.

    Returns
    -------
    callable
        ``z (M, Nz) -> (log p_θ(x_i, z_i) (M,), g (M, Nz))`` with
        g = ∇_z log p_θ(z) + ∇_z log p_θ(x|z) = −z + (decoder backprop), the gradient
        Appendix D writes down; the second term comes from the hand-written
        :func:`aevb_np.model.log_likelihood_backward`.  Log-densities in nats.

    References
    ----------
    Kingma & Welling (2014), Appendix D (step 1) and Appendix E.
    """
    workspace: dict = {}  # the decoder's buffers, reused by every call of this target
    dtype = np.dtype(dtype)
    if dtype != np.float64:  # the decoder's arithmetic in float32; z, the prior and the results stay float64
        theta = {k: np.asarray(v, dtype=dtype) for k, v in theta.items()}
        x = np.asarray(x, dtype=dtype)

    def log_joint_and_grad(z: np.ndarray):
        # The plain form is log_likelihood(x, out) for the value and log_likelihood_backward
        # for the gradient (posterior_target_plain); here one sweep serves both (one softplus,
        # not two) and the backward stops at z (no θ gradients): 2.5x fewer operations per
        # leapfrog step.  tests/test_fast_paths.py checks the two forms agree.
        zd = z if dtype == z.dtype else z.astype(dtype)
        out = model.decode(theta, zd, workspace)
        ll, dout = model.log_likelihood_and_grad(x, out, workspace)
        dz = model.decode_backward_z(theta, zd, out, dout, workspace)
        return ll[0] + dist.log_standard_normal(z), dz - z  # ∇ log N(z; 0, I) = −z

    return log_joint_and_grad


def posterior_target_plain(theta: dict, x: np.ndarray) -> LogJointAndGrad:
    """:func:`posterior_target` written plainly: the value by :func:`aevb_np.model.log_likelihood`,
    the gradient by :func:`aevb_np.model.log_likelihood_backward` (which also forms the θ
    gradients, unused here).  Slower; kept runnable as the reference the fast form is
    tested against (``tests/test_fast_paths.py``).

    Parameters
    ----------
    theta : dict
        Decoder arrays (Appendix C.1 or C.2).
    x : ndarray, shape (M, D)

    Returns
    -------
    callable
        As :func:`posterior_target`.

    References
    ----------
    Kingma & Welling (2014), Appendix D (step 1) and Appendix E.
    """
    weights = np.ones((1, x.shape[0]))

    def log_joint_and_grad(z: np.ndarray):
        out = model.decode(theta, z)
        ll = model.log_likelihood(x, out)[0]
        dz, _ = model.log_likelihood_backward(theta, z, x, out, weights)
        return ll + dist.log_standard_normal(z), dz - z

    return log_joint_and_grad
