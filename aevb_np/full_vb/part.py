"""Full VB (Appendix F) as a part of the one training loop, and its in-memory runner.

:class:`FullVB` turns a minibatch into one update of Algorithm 2 (ε, one ζ, the gradient
of Eq. (24)'s estimator, §5's Adagrad); :func:`train_full_vb` runs it with
:func:`aevb_np.loop.algorithm_1` on an array, without a run folder.  ``python -m
aevb_np.train --algorithm full-vb`` runs the same part.

References
----------
Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 24), Eq. (8), §5.
"""

from __future__ import annotations

import numpy as np

import aevb_np.full_vb.estimator as estimator
from aevb_np import bounds
from aevb_np.checks import check_count
from aevb_np.errors import ConfigError
from aevb_np.loop import RunState, algorithm_1
from aevb_np.params import Params
from aevb_np.part import Part, part_config


class FullVB(Part):
    """Appendix F: a Gaussian q(θ) over the decoder, one θ̃ = μ_θ + σ_θ ζ per minibatch.

    Parameters
    ----------
    config : aevb_np.part.PartConfig
        The part's settings (a run's ``TrainConfig`` is turned into one).
    n_x : int
        D, the dimension of a datapoint.
    n_train : int
        N, the number of training datapoints (Eq. 8's N/M).
    """

    name, shown = "full-vb", "full-VB bound"
    weight_decay_applies = False  # the prior over θ is inside the bound (the KL of Eq. 24)

    def init_params(self, rng):
        """φ and μ_θ from N(0, init_std²) (§5), every log σ_θ² at −9.

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator.

        Returns
        -------
        dict
            ``{"phi", "theta_mu", "theta_log_var"}`` (:func:`aevb_np.full_vb.init_full_vb_params`).

        Raises
        ------
        ConfigError
            Non-positive sizes or ``init_std``.

        References
        ----------
        Kingma & Welling (2014), §5, Appendix F.
        """
        c = self.config
        return estimator.init_full_vb_params(self.n_x, c.n_hidden, c.n_latent, rng, self.decoder, c.init_std,
                                           dtype=self.dtype)

    def step(self, params, x_train, idx, rng, opt) -> float:
        """One update of Algorithm 2: ε and one ζ (θ̃ = μ_θ + σ_θ ζ), the gradient of Eq. (24)'s estimator.

        Parameters
        ----------
        params : dict
            ``{"phi", "theta_mu", "theta_log_var"}``, updated in place.
        x_train : ndarray, shape (N, D)
            The training set.
        idx : ndarray of int, shape (M,)
            The minibatch's rows; M must be ``config.batch_size``.
        rng : numpy.random.Generator
            Source of ε, shape (L, M, Nz), then of ζ.
        opt : aevb_np.optim.Adagrad or aevb_np.optim.SGD
            From :meth:`make_optimizer` (``scale = N/M``, no weight decay: the prior
            over θ is in the bound).

        Returns
        -------
        float
            The minibatch mean of the per-datapoint bound (its ``.mean()`` estimates
            L(φ; X)/N), nats per datapoint, before the update.

        Raises
        ------
        NonFiniteError
            The estimate is not finite.

        References
        ----------
        Kingma & Welling (2014), Appendix F (Algorithm 2, Eq. 24), Eq. (8).
        """
        xb = self._minibatch(x_train, idx)
        if not hasattr(self, "_eps"):
            c = self.config
            self._eps = np.empty((c.samples_per_datapoint, self.batch_size, c.n_latent), dtype=xb.dtype)
        rng.standard_normal(out=self._eps, dtype=self._eps.dtype)
        zeta = estimator.draw_zeta(params, rng)
        bound, grads = estimator.full_vb_estimator(params, xb, self._eps, zeta, self.n_train, self.config.estimator,
                                                 validate=False)
        opt.step(params, grads)
        return float(bound.mean())

    def bound(self, params, x, rng) -> np.ndarray:
        """Each datapoint's share of L(φ; X): E_q(θ)[L(θ, φ; x_i)] − KL(q_φ(θ) ‖ p(θ))/N.

        Parameters
        ----------
        params : dict
            ``{"phi", "theta_mu", "theta_log_var"}``.
        x : ndarray, shape (n, D)
        rng : numpy.random.Generator
            Source of the ε and ζ draws (one θ per batch of 1000 rows).

        Returns
        -------
        ndarray, shape (n,)
            Nats per datapoint (:func:`aevb_np.full_vb.lower_bound` with the training
            set's N).

        Raises
        ------
        ShapeError, NonFiniteError, SupportError
            Bad ``params`` or ``x``, or a non-finite estimate.

        References
        ----------
        Kingma & Welling (2014), Appendix F, Eq. (24).
        """
        return estimator.lower_bound(params, x, rng, self.n_train)

    def decoder_params(self, params) -> dict:
        """The decoder at the mean of q_φ(θ), ``{"theta": μ_θ}`` (copies).

        Parameters
        ----------
        params : dict
            ``{"phi", "theta_mu", "theta_log_var"}``.

        Returns
        -------
        dict
            ``{"theta": {...}}``, copies of ``params["theta_mu"]``.

        References
        ----------
        Kingma & Welling (2014), Appendix F, Appendix D.
        """
        return {"theta": estimator.posterior_mean_params(params)["theta"]}


# --------------------------------------------------------------------------- the in-memory runner


def train_full_vb(
    x_train: np.ndarray,
    n_hidden: int,
    n_latent: int,
    rng: np.random.Generator,
    *,
    steps: int,
    batch_size: int = 100,
    lr: float = 0.02,
    L: int = 1,
    decoder: str = "bernoulli",
    z_estimator: str = "B",
    init_std: float = 0.01,
    init_theta_log_var: float = -9.0,
    params: Params | None = None,
    record_every: int = 10,
):
    """Algorithm 2 with minibatches: Adagrad ascent on L̃(φ; X) for ``steps`` steps.

    Each step takes the next M points of a random epoch order, one ζ and L·M draws ε,
    and applies ``Adagrad(lr, scale=N/M, weight_decay=False)`` to the gradient of
    ``bound.sum()`` — the gradient of the minibatch estimator (N/M) Σ_i L̃_i − KL.

    Parameters
    ----------
    x_train : ndarray, shape (N, D)
    n_hidden, n_latent : int
    rng : numpy.random.Generator
        Initialization (unless ``params`` is given), minibatch order and all noise.
    steps : int
    batch_size : int
        M.
    lr : float
        Adagrad step size (0.02, as for the MAP runs of §5).
    L : int
        z samples per datapoint.
    decoder : {"bernoulli", "gaussian"}
    z_estimator : {"A", "B"}
    init_std, init_theta_log_var : float
        See :func:`init_full_vb_params`.
    params : dict, optional
        Continue from these (updated in place) instead of a fresh initialization.
    record_every : int
        Steps between entries of the returned history.

    Returns
    -------
    params : dict
    history : list of dict
        ``{"step", "bound"}``: the minibatch's mean ``bound`` (nats per datapoint,
        estimate of L(φ; X)/N), every ``record_every`` steps.

    Raises
    ------
    ConfigError
        Bad sizes, ``batch_size > N``; the estimator's errors for bad data.

    References
    ----------
    Kingma & Welling (2014), Appendix F, Algorithm 2; §5 (Adagrad, M = 100).
    """
    N = x_train.shape[0]
    for name, v in (("steps", steps), ("batch_size", batch_size), ("L", L), ("record_every", record_every)):
        check_count(v, name, 1)
    if batch_size > N:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set ({N} datapoints)")
    if params is None:
        params = estimator.init_full_vb_params(x_train.shape[1], n_hidden, n_latent, rng, decoder,
                                     init_std, init_theta_log_var, x_train.dtype)
    # Check the data once; the steps skip the checks.
    bounds.check_inputs({"phi": params["phi"], "theta": params["theta_mu"]}, x_train)
    estimator.architecture(params)
    part = FullVB(part_config(decoder, n_hidden, n_latent, batch_size=batch_size, dtype=x_train.dtype, L=L,
                              estimator=z_estimator, weight_decay=False), x_train.shape[1], N)
    state = RunState(params=params, optimizer=part.make_optimizer(lr), rng=rng, perm=rng.permutation(N))
    history = []

    def record(state, bound):
        if state.step % record_every == 0 or state.step == 1:
            history.append({"step": state.step, "bound": bound})
        return False

    algorithm_1(part, state, x_train, steps * batch_size, record)
    return params, history
