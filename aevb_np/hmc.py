"""Hybrid (Hamiltonian) Monte Carlo over a batch of M independent posteriors.

The paper needs samples from the true posterior p_theta(z|x) twice:

* App. D, the marginal likelihood estimator, draws L samples from p_theta(z|x) with
  "gradient-based MCMC, e.g. Hybrid Monte Carlo", using
  grad_z log p_theta(z|x) = grad_z log p_theta(z) + grad_z log p_theta(x|z);
* App. E, the Monte Carlo EM baseline, runs HMC with 10 leapfrog steps and a step size
  tuned automatically for an acceptance rate of about 90%.

In both, each datapoint x_i of a minibatch has its own posterior, so this module runs
one chain per datapoint, M chains side by side, with one call of the target per leapfrog
step for the whole batch.  It knows nothing about the model: the caller passes

    log_prob_and_grad(z) -> (logp, grad),   z (M, Nz) -> logp (M,), grad (M, Nz),

the unnormalized log-density log p_theta(x_i, z_i) (nats) of each chain and its gradient
with respect to z_i.  Row i of every array belongs to chain i; chains never interact.

Chains whose trajectory leaves the finite reals, or reaches a point where the target
returns a non-finite log-density or gradient, are called *divergent*: they stop moving
for the rest of that trajectory, their proposal gets log-density -inf, and the Metropolis
test rejects it.  The target is only ever evaluated at finite z, and none of this emits
a floating-point warning.

References: Kingma & Welling (2014), App. D and App. E; Duane et al. (1987), "Hybrid
Monte Carlo"; Neal (2011), "MCMC using Hamiltonian dynamics", §5.2-5.4; Hoffman & Gelman
(2014), "The No-U-Turn Sampler", §3.2 (dual averaging of the step size).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from aevb_np.checks import check_count as _check_count
from aevb_np.checks import check_rng as _check_rng
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError

LogProbAndGrad = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]

__all__ = [
    "HMCResult",
    "LogProbAndGrad",
    "hmc_sample",
    "hmc_step",
    "leapfrog",
]


# ---------------------------------------------------------------------------
# argument checks (one job each, shared by the public functions)
# ---------------------------------------------------------------------------


def _as_batch(a, name: str) -> np.ndarray:
    """Return ``a`` as a finite float64 array of shape (M, Nz), M >= 1, Nz >= 1."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ShapeError(f"{name} must have shape (M, Nz) with M, Nz >= 1, got {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.all(np.isfinite(a), axis=1))
        raise NonFiniteError(f"{name} must be finite, got NaN or inf in chains {bad[:10].tolist()}")
    return a


def _check_same_shape(a: np.ndarray, name: str, shape: tuple) -> None:
    if a.shape != shape:
        raise ShapeError(f"{name} must have the shape of z, {shape}, got {a.shape}")


def _step_column(step_size, n_chains: int) -> np.ndarray:
    """Return the step size as a positive finite column (M, 1), one entry per chain."""
    eps = np.asarray(step_size, dtype=np.float64)
    if eps.ndim == 0:
        eps = np.full(n_chains, float(eps))
    elif eps.shape in ((n_chains,), (n_chains, 1)):
        eps = eps.reshape(n_chains)
    else:
        raise ShapeError(
            f"step_size must be a scalar or have shape ({n_chains},) or ({n_chains}, 1), "
            f"got {eps.shape}"
        )
    bad = ~(np.isfinite(eps) & (eps > 0))
    if np.any(bad):
        raise ConfigError(f"step_size must be positive and finite, got {eps[bad][:5].tolist()}")
    return eps[:, None]


def _evaluate(log_prob_and_grad: LogProbAndGrad, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Call the target once and check the shapes it returns: logp (M,), grad (M, Nz)."""
    logp, grad = log_prob_and_grad(z)
    logp = np.asarray(logp, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if logp.shape != z.shape[:1]:
        raise ShapeError(
            f"log_prob_and_grad must return logp of shape {z.shape[:1]}, got {logp.shape}"
        )
    if grad.shape != z.shape:
        raise ShapeError(
            f"log_prob_and_grad must return grad of shape {z.shape}, got {grad.shape}"
        )
    return logp, grad


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """(M,) mask: True where every entry of row i of every array is finite."""
    ok = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        ok &= np.all(np.isfinite(a.reshape(a.shape[0], -1)), axis=1)
    return ok


# ---------------------------------------------------------------------------
# the integrator and one transition
# ---------------------------------------------------------------------------


def leapfrog(z, p, grad, step_size, n_steps: int, log_prob_and_grad: LogProbAndGrad):
    """Integrate Hamiltonian dynamics H(z, p) = -log p(z) + |p|^2 / 2 with the leapfrog scheme.

    A half step in momentum, ``n_steps`` alternating full steps in position and momentum,
    and a closing half step in momentum.  The gradient at each new position is used for
    the momentum update that follows it and is returned, so the caller can start the next
    trajectory from it: exactly one call of ``log_prob_and_grad`` per step.

    Parameters
    ----------
    z : array_like, shape (M, Nz)
        Start positions, one row per chain; finite.
    p : array_like, shape (M, Nz)
        Start momenta; finite.
    grad : array_like, shape (M, Nz)
        grad_z log p(z) at ``z``; finite.
    step_size : float or array_like, shape (M,) or (M, 1)
        Leapfrog step size epsilon, shared or one per chain; positive.
    n_steps : int
        Number of leapfrog steps, >= 1.
    log_prob_and_grad : callable
        ``z (M, Nz) -> (logp (M,), grad (M, Nz))``, the log-density in nats and its gradient.

    Returns
    -------
    z : ndarray, shape (M, Nz)
        End positions.  A divergent chain stays at the last finite position it reached.
    p : ndarray, shape (M, Nz)
        End momenta (not negated).
    logp : ndarray, shape (M,)
        log p(z) at the end positions, nats; -inf for divergent chains.
    grad : ndarray, shape (M, Nz)
        grad_z log p(z) at the end positions (may be non-finite for divergent chains).

    Raises
    ------
    ShapeError
        If the arrays' shapes disagree, or the target returns wrong shapes.
    NonFiniteError
        If ``z``, ``p`` or ``grad`` hold NaN or inf.
    ConfigError
        If ``step_size`` is not positive and finite or ``n_steps`` < 1.

    References
    ----------
    Kingma & Welling (2014), App. D and E; Neal (2011), §5.2.3 (the leapfrog method).
    """
    z = _as_batch(z, "z")
    p = _as_batch(p, "p")
    grad = _as_batch(grad, "grad")
    _check_same_shape(p, "p", z.shape)
    _check_same_shape(grad, "grad", z.shape)
    eps = _step_column(step_size, z.shape[0])
    n_steps = _check_count(n_steps, "n_steps", 1)

    divergent = np.zeros(z.shape[0], dtype=bool)
    logp = np.empty(z.shape[0])
    # Divergent chains may carry inf/NaN momenta; the arithmetic on them is discarded by
    # the np.where masks below, so its floating-point warnings are silenced here only.
    with np.errstate(over="ignore", invalid="ignore"):
        p = p + 0.5 * eps * grad  # half step in momentum
        for step in range(n_steps):
            z_next = z + eps * p  # full step in position
            moved = ~divergent & _finite_rows(z_next)
            divergent |= ~moved
            # A chain that diverged stays where it was, so the target only sees finite z.
            z = np.where(moved[:, None], z_next, z)
            logp, grad = _evaluate(log_prob_and_grad, z)
            divergent |= ~_finite_rows(logp, grad)
            # Full momentum step between positions, half step at the end.
            scale = 0.5 if step == n_steps - 1 else 1.0
            p = np.where(divergent[:, None], p, p + scale * eps * grad)
    logp = np.where(divergent, -np.inf, logp)
    return z, p, logp, grad


def _kinetic_energy(p: np.ndarray) -> np.ndarray:
    """K(p) = |p|^2 / 2, the negative log-density of unit-mass momenta N(0, I), per chain."""
    return 0.5 * np.sum(p * p, axis=1)


def hmc_step(z, logp, grad, step_size, n_leapfrog: int, log_prob_and_grad: LogProbAndGrad,
             rng: np.random.Generator):
    """Take one HMC transition in every chain: fresh momenta, a leapfrog trajectory, accept/reject.

    Momenta are drawn from N(0, I) (unit mass).  The proposal of chain i is accepted with
    probability min(1, exp(H(z, p) - H(z', p'))), tested in log space; divergent proposals
    (non-finite position, log-density or gradient) are always rejected.

    Parameters
    ----------
    z : array_like, shape (M, Nz)
        Current state of each chain; finite.
    logp : array_like, shape (M,)
        log p(z) at ``z``, nats; finite.
    grad : array_like, shape (M, Nz)
        grad_z log p(z) at ``z``; finite.
    step_size : float or array_like, shape (M,) or (M, 1)
        Leapfrog step size, shared or one per chain; positive.
    n_leapfrog : int
        Leapfrog steps per trajectory, >= 1 (App. E uses 10).
    log_prob_and_grad : callable
        ``z (M, Nz) -> (logp (M,), grad (M, Nz))``.
    rng : numpy.random.Generator
        Source of the momenta and the uniform draws of the accept test.

    Returns
    -------
    z_new : ndarray, shape (M, Nz)
        Next state (the proposal where accepted, the old state elsewhere).
    logp_new : ndarray, shape (M,)
        log p(z_new), nats.
    grad_new : ndarray, shape (M, Nz)
        grad_z log p(z_new).
    accept : ndarray of bool, shape (M,)
        Whether each chain accepted its proposal.
    accept_prob : ndarray, shape (M,)
        Metropolis acceptance probability min(1, exp(-dH)) of each proposal, in [0, 1];
        0 for divergent proposals.

    Raises
    ------
    ShapeError, NonFiniteError, ConfigError
        As for :func:`leapfrog`; also if ``logp`` is not (M,) or ``rng`` is not a Generator.

    References
    ----------
    Kingma & Welling (2014), App. D and E; Neal (2011), §5.3.2 (the HMC algorithm).
    """
    _check_rng(rng)
    z = _as_batch(z, "z")
    grad = _as_batch(grad, "grad")
    _check_same_shape(grad, "grad", z.shape)
    logp = np.asarray(logp, dtype=np.float64)
    if logp.shape != z.shape[:1]:
        raise ShapeError(f"logp must have shape {z.shape[:1]}, got {logp.shape}")
    if not np.all(np.isfinite(logp)):
        bad = np.flatnonzero(~np.isfinite(logp))
        raise NonFiniteError(f"logp must be finite, got NaN or inf in chains {bad[:10].tolist()}")

    p0 = rng.standard_normal(z.shape)
    z1, p1, logp1, grad1 = leapfrog(z, p0, grad, step_size, n_leapfrog, log_prob_and_grad)

    # log of the Metropolis ratio, -dH = [log p(z') - K(p')] - [log p(z) - K(p)].
    # A divergent proposal has logp1 = -inf (or p1 non-finite): its ratio is -inf or NaN,
    # both mean "reject", so NaN is mapped to -inf without a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        log_ratio = (logp1 - _kinetic_energy(p1)) - (logp - _kinetic_energy(p0))
    log_ratio = np.where(np.isnan(log_ratio), -np.inf, log_ratio)
    accept_prob = np.exp(np.minimum(log_ratio, 0.0))
    # log(1 - U) with U in [0, 1) is finite and distributed like log U: no log(0).
    accept = np.log1p(-rng.random(z.shape[0])) < log_ratio

    z_new = np.where(accept[:, None], z1, z)
    logp_new = np.where(accept, logp1, logp)
    grad_new = np.where(accept[:, None], grad1, grad)
    return z_new, logp_new, grad_new, accept, accept_prob


# ---------------------------------------------------------------------------
# step-size adaptation and the sampling loop
# ---------------------------------------------------------------------------


class _DualAveraging:
    """Per-chain dual-averaging step-size adaptation (Hoffman & Gelman 2014, §3.2).

    It drives the running mean of the acceptance probability toward ``target`` by a
    stochastic-approximation update of log epsilon, shrunk toward mu = log(10 epsilon_0),
    and returns a weighted average of the iterates as the final step size, which is far
    less noisy than the last iterate.  The constants are Hoffman & Gelman's defaults.
    """

    gamma = 0.05  # shrinkage strength toward mu
    t0 = 10.0  # damps the first iterations
    kappa = 0.75  # decay of the averaging weights

    def __init__(self, step0: np.ndarray, target: float):
        self.mu = np.log(10.0 * step0)
        self.target = target
        self.h_bar = np.zeros_like(step0)  # running mean of (target - accept_prob)
        self.log_step_bar = np.zeros_like(step0)
        self.t = 0

    def update(self, accept_prob: np.ndarray) -> np.ndarray:
        """Take one adaptation step; return the step size (M,) for the next transition."""
        self.t += 1
        w = 1.0 / (self.t + self.t0)
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - accept_prob)
        log_step = self.mu - np.sqrt(self.t) / self.gamma * self.h_bar
        # Keep exp(log_step) a positive finite float even if a target rejects everything.
        log_step = np.clip(log_step, -700.0, 700.0)
        eta = self.t ** (-self.kappa)
        self.log_step_bar = eta * log_step + (1.0 - eta) * self.log_step_bar
        return np.exp(log_step)

    def final(self) -> np.ndarray:
        """The step size (M,) to freeze after burn-in: the averaged iterate."""
        return np.exp(self.log_step_bar)


def _jittered(step: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Scale each chain's step by an independent U(1 - jitter, 1 + jitter) draw (Neal 2011)."""
    if jitter == 0.0:
        return step  # draw nothing, so plain HMC uses the same random stream as hmc_step
    return step * rng.uniform(1.0 - jitter, 1.0 + jitter, size=step.shape)


@dataclass(frozen=True)
class HMCResult:
    """What :func:`hmc_sample` returns.

    Attributes
    ----------
    samples : ndarray, shape (n_samples, M, Nz)
        Kept states after burn-in, every ``thin``-th transition; ``samples[-1]`` is the
        final state, from which a later call can continue the chains.
    logp : ndarray, shape (n_samples, M)
        log p(z) of each kept state, nats.
    step_size : ndarray, shape (M,)
        The step size each chain used after burn-in (the adapted one if ``adapt``;
        the centre of the jitter range if ``jitter > 0``).
    accept_rate : ndarray, shape (M,)
        Fraction of proposals accepted after burn-in, per chain.
    """

    samples: np.ndarray
    logp: np.ndarray
    step_size: np.ndarray
    accept_rate: np.ndarray

    @property
    def mean_accept_rate(self) -> float:
        """Fraction of proposals accepted after burn-in, over all chains."""
        return float(np.mean(self.accept_rate))


def hmc_sample(log_prob_and_grad: LogProbAndGrad, z0, n_samples: int, rng: np.random.Generator,
               n_leapfrog: int = 10, step_size=0.1, n_burnin: int = 200,
               target_accept: float = 0.9, adapt: bool = True, thin: int = 1,
               jitter: float = 0.0) -> HMCResult:
    """Run M independent HMC chains, adapting each chain's step size during burn-in only.

    During the ``n_burnin`` burn-in transitions (discarded), each chain's step size is
    tuned by dual averaging so that its mean Metropolis acceptance probability approaches
    ``target_accept`` (App. E: 10 leapfrog steps, about 90% acceptance).  Afterwards the
    step size is frozen, so the kept transitions form a valid, time-homogeneous Markov
    chain leaving p(z) invariant; with ``adapt=False`` the given step size is used
    throughout.  Then ``n_samples * thin`` transitions are run and every ``thin``-th kept.

    The realized acceptance rate usually ends a few points *above* ``target_accept``
    (about 0.93 for 0.9 on the Gaussians of the tests): each chain adapts from the noisy
    acceptance probability of one trajectory per transition, and the averaged step size
    lands on the safe side of the steep fall of acceptance with step size.  A slightly
    small step costs efficiency, never correctness.

    With ``jitter > 0`` each transition uses step_size * U(1 - jitter, 1 + jitter), drawn
    independently of the state (so every transition still leaves p(z) invariant).  This
    breaks the periodic trajectories a fixed step size produces on near-Gaussian
    posteriors, which make acceptance jump up and down with the step size and can trap a
    chain (Neal 2011, §5.4).  The paper does not say whether it jittered; the default
    0.0 is plain HMC.

    Parameters
    ----------
    log_prob_and_grad : callable
        ``z (M, Nz) -> (logp (M,), grad (M, Nz))``: log p_theta(x_i, z_i) in nats (any
        additive constant) and its gradient in z_i, for every chain i at once.
    z0 : array_like, shape (M, Nz)
        Initial states; finite, with finite log-density and gradient.
    n_samples : int
        Number of states to keep per chain, >= 1.
    rng : numpy.random.Generator
        The only source of randomness.
    n_leapfrog : int, default 10
        Leapfrog steps per trajectory (App. E).
    step_size : float or array_like, shape (M,) or (M, 1), default 0.1
        Initial (``adapt=True``) or fixed (``adapt=False``) step size; positive.
    n_burnin : int, default 200
        Transitions run and discarded before the first kept one, >= 0.
    target_accept : float, default 0.9
        Target mean acceptance probability of the adaptation, in (0, 1).
    adapt : bool, default True
        Whether to tune the step size during burn-in (needs ``n_burnin`` >= 1 to act).
    thin : int, default 1
        Keep every ``thin``-th state after burn-in, >= 1.
    jitter : float, default 0.0
        Relative half-width of the uniform random scaling of the step size, in [0, 1).

    Returns
    -------
    HMCResult
        ``samples`` (n_samples, M, Nz), ``logp`` (n_samples, M), per-chain ``step_size``
        (M,) and ``accept_rate`` (M,).

    Raises
    ------
    ShapeError
        If ``z0`` is not (M, Nz), ``step_size`` has the wrong shape, or the target returns
        arrays of the wrong shape.
    NonFiniteError
        If ``z0``, or the log-density or gradient at ``z0``, is not finite.
    ConfigError
        If a count, ``step_size``, ``target_accept``, ``jitter`` or ``rng`` is invalid.

    References
    ----------
    Kingma & Welling (2014), App. D (posterior samples for the marginal likelihood
    estimator) and App. E (MCEM); Hoffman & Gelman (2014), §3.2.
    """
    _check_rng(rng)
    z = _as_batch(z0, "z0")
    n_chains = z.shape[0]
    n_samples = _check_count(n_samples, "n_samples", 1)
    n_leapfrog = _check_count(n_leapfrog, "n_leapfrog", 1)
    n_burnin = _check_count(n_burnin, "n_burnin", 0)
    thin = _check_count(thin, "thin", 1)
    if not (isinstance(target_accept, numbers.Real) and 0.0 < target_accept < 1.0):
        raise ConfigError(f"target_accept must be in (0, 1), got {target_accept!r}")
    if not (isinstance(jitter, numbers.Real) and 0.0 <= jitter < 1.0):
        raise ConfigError(f"jitter must be in [0, 1), got {jitter!r}")
    step = _step_column(step_size, n_chains)[:, 0]

    logp, grad = _evaluate(log_prob_and_grad, z)
    bad = np.flatnonzero(~_finite_rows(logp, grad))
    if bad.size:
        raise NonFiniteError(
            f"log_prob_and_grad(z0) must be finite, got NaN or inf in chains {bad[:10].tolist()}"
        )

    adapter = _DualAveraging(step, target_accept) if adapt and n_burnin > 0 else None
    for _ in range(n_burnin):
        z, logp, grad, _, accept_prob = hmc_step(z, logp, grad, _jittered(step, jitter, rng),
                                                 n_leapfrog, log_prob_and_grad, rng)
        if adapter is not None:
            step = adapter.update(accept_prob)
    if adapter is not None:
        step = adapter.final()  # frozen from here on: the chain is a plain MCMC again

    samples = np.empty((n_samples, n_chains, z.shape[1]))
    sample_logp = np.empty((n_samples, n_chains))
    n_accepted = np.zeros(n_chains)
    for t in range(n_samples * thin):
        z, logp, grad, accept, _ = hmc_step(z, logp, grad, _jittered(step, jitter, rng),
                                            n_leapfrog, log_prob_and_grad, rng)
        n_accepted += accept
        if (t + 1) % thin == 0:
            samples[t // thin] = z
            sample_logp[t // thin] = logp
    return HMCResult(samples=samples, logp=sample_logp, step_size=step,
                     accept_rate=n_accepted / (n_samples * thin))
