"""Monte Carlo EM with Hybrid Monte Carlo (Appendix E), the baseline of Fig. 3.

MCEM fits the decoder p_θ(x|z) of Appendix C *without an encoder*.  EM would maximize
E_{p_θ(z|x)}[log p_θ(x, z)] over θ with the posterior held fixed; Monte Carlo EM
replaces the expectation by posterior samples drawn with HMC, whose gradient is
∇_z log p_θ(z|x) = ∇_z log p_θ(z) + ∇_z log p_θ(x|z) (Appendix D/E).  Appendix E:
"10 HMC leapfrog steps with an automatically tuned stepsize such that the acceptance
rate was 90%, followed by 5 weight updates steps using the acquired sample", with
Adagrad.  One :func:`mcem_step` on a minibatch of M datapoints is therefore

* **E-step** — ``n_hmc_steps`` (default 1) HMC transitions of 10 leapfrog steps each in
  every datapoint's own chain, at the current θ;
* **M-step** — ``n_updates`` (default 5) Adagrad ascent steps on θ with the gradient of
  ``(N/M) Σ_i log p_θ(x_i | z_i) + log p(θ)`` at the fixed samples z_i (p(z) = N(0, I)
  has no parameters, so log p_θ(x, z) and log p_θ(x|z) have the same θ-gradient; the
  N/M factor and the N(0, I) prior are applied by :class:`aevb_np.optim.Adagrad`
  exactly as for AEVB, §5).

Choices the paper leaves open, and ours:

* **Persistent chains.** Every training datapoint keeps its chain state z_i and its own
  step size between visits (the Fig. 3 setting with N = 1000 makes this cheap).  The
  chains start from the prior: at initialization θ ≈ 0, p_θ(x|z) hardly depends on z,
  so the prior *is* the posterior.  With N = 50,000 each chain moves only once per epoch
  while θ keeps changing, which is one reason MCEM is "not an on-line algorithm".
* **Step-size tuning.** After each transition, log ε_i ← log ε_i + ``adapt_rate`` ·
  (a_i − 0.9) with a_i the Metropolis acceptance probability: a Robbins–Monro rule whose
  fixed point is 90% acceptance.  It never stops adapting, because θ (and with it the
  posterior) changes at every step anyway.
* **Jitter.** Each transition scales ε by U(0.7, 1.3), as in :mod:`aevb_np.marginal`
  (see :data:`aevb_np.posterior.JITTER`), to avoid periodic trajectories.
* **Samples counted.** "Training samples evaluated" (the x axis of Fig. 3) counts the M
  datapoints of each step, as for AEVB; an MCEM step costs about
  ``n_hmc_steps · (n_leapfrog + 1) + n_updates`` = 16 decoder passes per datapoint, an
  AEVB step one encoder and one decoder pass.

References
----------
Kingma & Welling (2014), §5 (Fig. 3) and Appendix E; Wei & Tanner (1990) for Monte Carlo
EM; Duane et al. (1987) and Neal (2011) for HMC.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from aevb_np import hmc, model, optim
from aevb_np.checks import check_count as _check_count
from aevb_np.checks import check_finite, check_float_array, check_unit_interval
from aevb_np.checks import check_rng as _check_rng
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError
from aevb_np.loop import RunState, algorithm_1
from aevb_np.params import allocate
from aevb_np.part import Part, part_config
from aevb_np.posterior import JITTER, decoder_architecture, posterior_target

__all__ = [
    "MCEM",
    "MCEMState",
    "init_decoder",
    "init_mcem",
    "log_likelihood_and_grad",
    "m_step_objective_and_grad",
    "mcem_step",
    "train_mcem",
]


def _check_data(theta: dict, x: np.ndarray, z: np.ndarray | None = None) -> None:
    D, _, Nz, decoder = decoder_architecture(theta)
    check_float_array("x", x, shape=(None, D))
    check_finite("x", x)
    if decoder == "bernoulli":
        check_unit_interval("x", x)
    if z is not None:
        check_float_array("z", z, shape=(x.shape[0], Nz))
        check_finite("z", z)


def init_decoder(n_x: int, n_hidden: int, n_latent: int, rng: np.random.Generator, decoder: str = "bernoulli",
                 init_std: float = 0.01) -> dict:
    """Draw a decoder θ as in §5 (every weight and bias from N(0, init_std²)); no encoder.

    Parameters
    ----------
    n_x, n_hidden, n_latent : int
        D, H and Nz.
    rng : numpy.random.Generator
    decoder : {"bernoulli", "gaussian"}
    init_std : float

    Returns
    -------
    dict
        The decoder arrays (``W1 b1 W2 b2`` or ``W3 … b5``), views into one flat buffer.

    References
    ----------
    Kingma & Welling (2014), §5 and Appendix C.
    """
    _check_rng(rng)
    if not (isinstance(init_std, numbers.Real) and math.isfinite(init_std) and init_std > 0):
        raise ConfigError(f"init_std must be a positive finite number, got {init_std!r}")
    shapes = model.param_shapes(n_x, n_hidden, n_latent, decoder)["theta"]
    flat, params = allocate({"theta": shapes})
    flat[...] = rng.normal(0.0, init_std, size=flat.shape)
    return params["theta"]


def log_likelihood_and_grad(theta: dict, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, dict]:
    """log p_θ(x_i | z_i) per datapoint and the θ-gradient of its sum, at fixed samples z.

    Parameters
    ----------
    theta : dict
        Decoder arrays.
    x : ndarray, shape (M, D)
    z : ndarray, shape (M, Nz)
        One posterior sample per datapoint.

    Returns
    -------
    ll : ndarray, shape (M,)
        Nats.
    grads : dict
        ∂ Σ_i log p_θ(x_i|z_i) / ∂θ for every array of ``theta``.

    References
    ----------
    Kingma & Welling (2014), Appendix E (the M-step); Appendix C for the decoder.
    """
    out = model.decode(theta, z)
    ll = model.log_likelihood(x, out)[0]
    _, grads = model.log_likelihood_backward(theta, z, x, out, np.ones((1, x.shape[0]), dtype=x.dtype))
    return ll, grads


def m_step_objective_and_grad(theta: dict, x: np.ndarray, z: np.ndarray, scale: float) -> tuple[float, dict]:
    """The M-step objective ``scale · Σ_i log p_θ(x_i|z_i) + log N(θ; 0, I)`` and its gradient.

    This is the function the Adagrad steps of :func:`mcem_step` ascend (with
    ``scale = N/M``, Eq. 8); the optimizer forms the same gradient from
    :func:`log_likelihood_and_grad` as ``scale · g − θ``.

    Parameters
    ----------
    theta : dict
    x : ndarray, shape (M, D)
    z : ndarray, shape (M, Nz)
    scale : float
        N/M.

    Returns
    -------
    J : float
        Nats.
    grads : dict
        ∂J/∂θ.

    References
    ----------
    Kingma & Welling (2014), Appendix E and §5 (prior p(θ) = N(0, I)).
    """
    ll, g = log_likelihood_and_grad(theta, x, z)
    n_params = sum(a.size for a in theta.values())
    log_prior = -0.5 * (sum(float(np.sum(a * a)) for a in theta.values()) + n_params * math.log(2 * math.pi))
    return scale * float(ll.sum()) + log_prior, {k: scale * g[k] - theta[k] for k in theta}


def mcem_step(theta: dict, x: np.ndarray, z: np.ndarray, step_size: np.ndarray, rng: np.random.Generator,
              optimizer, *, n_leapfrog: int = 10, n_hmc_steps: int = 1, n_updates: int = 5,
              target_accept: float = 0.9, adapt_rate: float = 0.5, jitter: float = JITTER):
    """One MCEM iteration on a minibatch: HMC E-step per datapoint, then Adagrad M-steps on θ.

    Parameters
    ----------
    theta : dict
        Decoder arrays, updated in place.
    x : ndarray, shape (M, D)
    z : ndarray, shape (M, Nz)
        Current state of each datapoint's chain.
    step_size : ndarray, shape (M,)
        Each chain's leapfrog step size.
    rng : numpy.random.Generator
    optimizer : aevb_np.optim.Adagrad (or SGD)
        Built with ``scale = N/M`` and ``weight_decay=True`` for the MAP objective of §5;
        its ``step`` receives ``{"theta": theta}`` and the gradient of Σ_i log p_θ(x_i|z_i).
    n_leapfrog : int
        Leapfrog steps per HMC transition (Appendix E: 10).
    n_hmc_steps : int
        HMC transitions per E-step (>= 1; our reading of Appendix E: 1).
    n_updates : int
        Adagrad steps per M-step (Appendix E: 5; 0 leaves θ alone).
    target_accept : float
        Acceptance probability the step size is tuned toward (Appendix E: 0.9).
    adapt_rate : float
        Gain of the Robbins–Monro update of log ε (0 disables tuning).
    jitter : float
        Relative U(1 − jitter, 1 + jitter) scaling of ε per transition.

    Returns
    -------
    z : ndarray, shape (M, Nz)
        New chain states (the samples the M-step used).
    step_size : ndarray, shape (M,)
        Tuned step sizes.
    info : dict
        ``accept_rate`` (float, fraction of accepted transitions), ``accept_prob``
        (mean Metropolis probability), ``log_likelihood`` (mean log p_θ(x|z) at the new
        samples, before the M-step; nats).

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError
        Bad arrays or settings; NonFiniteError also if θ diverges.

    References
    ----------
    Kingma & Welling (2014), Appendix E.
    """
    _check_rng(rng)
    _check_data(theta, x, z)
    n_hmc_steps = _check_count(n_hmc_steps, "n_hmc_steps", 1)
    n_updates = _check_count(n_updates, "n_updates", 0)
    step_size = np.asarray(step_size, dtype=np.float64)
    if step_size.shape != (x.shape[0],):
        raise ShapeError(f"step_size must have shape ({x.shape[0]},), got {step_size.shape}")
    if not (0.0 <= jitter < 1.0):
        raise ConfigError(f"jitter must be in [0, 1), got {jitter!r}")

    # E-step: HMC transitions of every chain at the current θ (Appendix E).
    target = posterior_target(theta, x)
    logp, grad = target(z)
    if not (np.isfinite(logp).all() and np.isfinite(grad).all()):
        raise NonFiniteError("log p_θ(x, z) or its gradient is not finite at the chain states: θ has diverged")
    accepted, probs = 0.0, 0.0
    for _ in range(n_hmc_steps):
        eps = step_size * rng.uniform(1.0 - jitter, 1.0 + jitter, size=step_size.shape) if jitter else step_size
        z, logp, grad, accept, accept_prob = hmc.hmc_step(z, logp, grad, eps, n_leapfrog, target, rng)
        # Robbins–Monro on log ε: the fixed point is E[acceptance] = target_accept.
        step_size = step_size * np.exp(adapt_rate * (accept_prob - target_accept))
        accepted += accept.mean() / n_hmc_steps
        probs += accept_prob.mean() / n_hmc_steps

    # M-step: Adagrad ascent on (N/M) Σ log p_θ(x|z) + log p(θ) at the fixed samples.
    ll_before = None
    for _ in range(n_updates):
        ll, grads = log_likelihood_and_grad(theta, x, z)
        if not np.isfinite(ll).all():
            raise NonFiniteError("log p_θ(x|z) became non-finite during the M-step: θ has diverged")
        ll_before = ll if ll_before is None else ll_before
        optimizer.step({"theta": theta}, {"theta": grads})
    if ll_before is None:
        ll_before = model.log_likelihood(x, model.decode(theta, z))[0]
    return z, step_size, {"accept_rate": float(accepted), "accept_prob": float(probs),
                          "log_likelihood": float(ll_before.mean())}


@dataclass
class MCEMState:
    """Everything an MCEM run carries from one step to the next (for resuming a loop).

    Attributes
    ----------
    theta : dict
        Decoder arrays.
    z : ndarray, shape (N, Nz)
        Persistent chain state of every training datapoint.
    step_size : ndarray, shape (N,)
        Each chain's tuned leapfrog step size.
    optimizer : aevb_np.optim.Adagrad
    batch_size : int
        M, datapoints per step.
    perm : ndarray of int, shape (N,)
        This epoch's data order; ``position`` indexes into it.
    position, step, samples, epoch : int
        Counters; ``samples`` counts training datapoints visited (M per step).
    history : list of dict
        One row per step: ``step``, ``samples``, ``accept_rate``, ``log_likelihood``.
    """

    theta: dict
    z: np.ndarray
    step_size: np.ndarray
    optimizer: object
    batch_size: int
    perm: np.ndarray
    position: int = 0
    step: int = 0
    samples: int = 0
    epoch: int = 0
    history: list = field(default_factory=list)

    @property
    def params(self) -> dict:
        """``{"theta": theta}``: the form :mod:`aevb_np.marginal` accepts."""
        return {"theta": self.theta}


def init_mcem(x_train: np.ndarray, n_latent: int, n_hidden: int, rng: np.random.Generator, *,
              batch_size: int = 100, lr: float = 0.02, decoder: str = "bernoulli", init_std: float = 0.01,
              step_size: float = 0.3) -> MCEMState:
    """Initial MCEM state: a §5 decoder, chains drawn from the prior, Adagrad with scale N/M.

    Parameters
    ----------
    x_train : ndarray, shape (N, D)
    n_latent, n_hidden : int
        Nz and H.
    rng : numpy.random.Generator
    batch_size : int
        M.
    lr : float
        Adagrad step size (§5).
    decoder : {"bernoulli", "gaussian"}
    init_std : float
    step_size : float
        Initial leapfrog step size of every chain.

    Returns
    -------
    MCEMState

    References
    ----------
    Kingma & Welling (2014), §5 and Appendix E.
    """
    check_float_array("x_train", x_train, ndim=2)
    N, D = x_train.shape
    batch_size = _check_count(batch_size, "batch_size", 1)
    if batch_size > N:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set ({N} datapoints)")
    theta = init_decoder(D, n_hidden, n_latent, rng, decoder, init_std)
    _check_data(theta, x_train)
    z = rng.standard_normal((N, int(n_latent)))  # θ ≈ 0: the posterior is the prior
    opt = optim.Adagrad(lr, scale=N / batch_size, weight_decay=True)
    return MCEMState(theta=theta, z=z, step_size=np.full(N, float(step_size)), optimizer=opt,
                     batch_size=batch_size, perm=rng.permutation(N))


def train_mcem(x_train: np.ndarray, n_latent: int, n_hidden: int, n_steps: int, rng: np.random.Generator, *,
               batch_size: int = 100, lr: float = 0.02, decoder: str = "bernoulli", init_std: float = 0.01,
               state: MCEMState | None = None, n_leapfrog: int = 10, n_hmc_steps: int = 1, n_updates: int = 5,
               target_accept: float = 0.9, adapt_rate: float = 0.5, jitter: float = JITTER) -> MCEMState:
    """Run ``n_steps`` MCEM iterations over random minibatches (a fresh order each epoch).

    Parameters
    ----------
    x_train : ndarray, shape (N, D)
        Training data; in [0, 1] for the Bernoulli decoder.
    n_latent, n_hidden : int
        Nz and H (Fig. 3: 3 and 100).
    n_steps : int
        Minibatch iterations to run now (>= 0).
    rng : numpy.random.Generator
    batch_size, lr, decoder, init_std
        Used only when starting a new run (``state`` is None); see :func:`init_mcem`.
    state : MCEMState, optional
        Continue this run (its θ, chains and optimizer) instead of starting one.
    n_leapfrog, n_hmc_steps, n_updates, target_accept, adapt_rate, jitter
        See :func:`mcem_step`.

    Returns
    -------
    MCEMState
        The updated state (the same object when ``state`` was given).

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError

    References
    ----------
    Kingma & Welling (2014), Appendix E.
    """
    _check_rng(rng)
    n_steps = _check_count(n_steps, "n_steps", 0)
    if state is None:
        state = init_mcem(x_train, n_latent, n_hidden, rng, batch_size=batch_size, lr=lr, decoder=decoder,
                          init_std=init_std)
    else:
        _check_data(state.theta, x_train)
        if state.z.shape[0] != x_train.shape[0]:
            raise ShapeError(f"state has chains for {state.z.shape[0]} datapoints, x_train has {x_train.shape[0]}")
    D, H, Nz, kind = decoder_architecture(state.theta)
    part = MCEM(part_config(kind, H, Nz, batch_size=state.batch_size), D, x_train.shape[0])
    part.n_leapfrog, part.n_hmc_steps, part.n_updates = n_leapfrog, n_hmc_steps, n_updates
    part.target_accept, part.adapt_rate, part.jitter = target_accept, adapt_rate, jitter
    part.z, part.step_size = state.z, state.step_size  # updated in place, row by row
    run = RunState(params={"theta": state.theta}, optimizer=state.optimizer, rng=rng, perm=state.perm,
                   position=state.position, step=state.step, samples=state.samples, epoch=state.epoch)

    def record(run, value):
        state.history.append({"step": run.step, "samples": run.samples, **part.last_info})
        return False

    algorithm_1(part, run, x_train, state.samples + n_steps * state.batch_size, record)
    state.perm, state.position, state.step, state.samples, state.epoch = (run.perm, run.position, run.step,
                                                                          run.samples, run.epoch)
    return state


# --------------------------------------------------------------------------- the part of the one training loop


class MCEM(Part):
    """Appendix E: a persistent HMC chain per datapoint (the E-step), then M-steps on θ.

    Parameters
    ----------
    config : aevb_np.part.PartConfig
        The part's settings (a run's ``TrainConfig`` is turned into one).
    n_x : int
        D, the dimension of a datapoint.
    n_train : int
        N, the number of training datapoints (Eq. 8's N/M).
    """

    name, shown, has_bound = "mcem", "log p(x|z) of the chains", False
    #: Appendix E: 10 leapfrog steps with the step size tuned toward 90% acceptance, then
    #: 5 weight updates; the chains start at step size 0.3 (tuned from there).  See
    #: :func:`aevb_np.baselines.mcem.mcem_step` for the others.
    n_leapfrog, n_hmc_steps, n_updates, target_accept, adapt_rate = 10, 1, 5, 0.9, 0.5
    initial_step_size, jitter = 0.3, JITTER

    def init_params(self, rng):
        """The decoder only (MCEM learns no encoder), from N(0, init_std²) (§5).

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator.

        Returns
        -------
        dict
            ``{"theta": {...}}`` (:func:`aevb_np.baselines.mcem.init_decoder`), float64.

        Raises
        ------
        ConfigError
            Non-positive sizes or ``init_std``.

        References
        ----------
        Kingma & Welling (2014), §5, Appendix E.
        """
        c = self.config
        return {"theta": init_decoder(self.n_x, c.n_hidden, c.n_latent, rng, self.decoder, c.init_std)}

    def init_state(self, rng) -> None:
        """One chain per training point, started from the prior, with step size 0.3.

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator; ``N·Nz`` standard normals are drawn from it.

        Notes
        -----
        Sets ``self.z``, shape (N, Nz), and ``self.step_size``, shape (N,).
        """
        # θ ≈ 0 at the start, so the posterior is the prior: the chains start from it.
        self.z = rng.standard_normal((self.n_train, self.config.n_latent))
        self.step_size = np.full(self.n_train, self.initial_step_size)

    def state_arrays(self) -> dict:
        """The chains' states and step sizes, for an exact resume.

        Returns
        -------
        dict
            ``{"z": (N, Nz), "step_size": (N,)}`` (the arrays themselves, not copies).
        """
        return {"z": self.z, "step_size": self.step_size}

    def load_state_arrays(self, arrays: dict) -> None:
        """Restore the chains from :meth:`state_arrays` (copies of the arrays).

        Parameters
        ----------
        arrays : dict
            ``{"z": (N, Nz), "step_size": (N,)}``.

        Raises
        ------
        KeyError
            ``"z"`` or ``"step_size"`` is missing.
        """
        self.z, self.step_size = arrays["z"].copy(), arrays["step_size"].copy()

    def step(self, params, x_train, idx, rng, opt) -> float:
        """One MCEM iteration on the minibatch's chains: the HMC E-step, then 5 M-steps on θ.

        Parameters
        ----------
        params : dict
            ``{"theta"}``, updated in place.
        x_train : ndarray, shape (N, D)
            The training set.
        idx : ndarray of int, shape (M,)
            The minibatch's rows; their chains ``self.z[idx]`` and step sizes move.
        rng : numpy.random.Generator
            Source of the HMC momenta, step-size jitter and Metropolis draws.
        opt : aevb_np.optim.Adagrad or aevb_np.optim.SGD
            From :meth:`make_optimizer` (``scale = N/M``, the prior as weight decay).

        Returns
        -------
        float
            The minibatch mean of log p_θ(x_i | z_i) at the new chain states, before the
            M-step, nats per datapoint.  Also kept, with the acceptance rate, in
            ``self.last_info``.

        Raises
        ------
        NonFiniteError
            θ has diverged (see :func:`aevb_np.baselines.mcem.mcem_step`).

        References
        ----------
        Kingma & Welling (2014), Appendix E.
        """
        z = self.z[idx]
        if self.config.mcem_chains == "fresh":  # a diagnostic: forget the last visit
            z = rng.standard_normal(z.shape)
        z, step_size, self.last_info = mcem_step(
            params["theta"], x_train[idx], z, self.step_size[idx], rng, opt, n_leapfrog=self.n_leapfrog,
            n_hmc_steps=self.n_hmc_steps, n_updates=self.n_updates, target_accept=self.target_accept,
            adapt_rate=self.adapt_rate, jitter=self.jitter)
        self.z[idx], self.step_size[idx] = z, step_size
        return self.last_info["log_likelihood"]

    def bound(self, params, x, rng) -> np.ndarray:
        """MCEM has no lower bound to be scored by: always raises.

        Parameters
        ----------
        params, x, rng
            Ignored.

        Raises
        ------
        NotImplementedError
            Always: MCEM learns no encoder; score it with a marginal-likelihood
            estimate (``--evaluation appendix-d`` or ``hmc-is``).
        """
        raise NotImplementedError("MCEM learns no encoder: it is scored by a marginal-likelihood estimate only")
