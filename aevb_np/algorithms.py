"""The algorithms of the paper as small parts of the one training loop (:mod:`aevb_np.loop`).

Each part has one job: make its parameters, turn one minibatch into one update, say what
the progress bar shows, and give the per-datapoint bound it is scored by.  The loop owns
everything they share (epoch order, budget, evaluations, checkpoints, signals,
divergence); adding an algorithm means adding a part here and a name in :data:`PARTS`.

===============  ==========================================  ============================
name             one step                                    scored by
===============  ==========================================  ============================
``aevb``         SGVB estimator A or B, Eq. (6)/(7), (8)      the estimator-B bound
``wake-sleep``   wake (θ) and sleep (φ) gradients, §5         the estimator-B bound
``mcem``         HMC E-step, 5 Adagrad M-steps, App. E        log p(x) only (no encoder)
``full-vb``      Algorithm 2, Eq. (24), App. F                its own bound L(φ; X)/N
===============  ==========================================  ============================

Every part applies §5's Adagrad (or SGD) to the minibatch gradient scaled by N/M
(Eq. 8).  AEVB applies N/M inside the estimator, where backprop starts (on (M, D) arrays
rather than on the 816k gradients; ``bounds.estimator_B(grad_scale=…)``); the others
leave it to the optimizer's ``scale``.  Either way the update is the same.

References
----------
Kingma & Welling (2014), Algorithm 1, §5, Appendices E and F.
"""

from __future__ import annotations

import numpy as np

from aevb_np import bounds, full_vb, model, optim
from aevb_np import params as params_mod
from aevb_np.baselines import mcem, wake_sleep


class _Part:
    """What every part shares: the sizes, the data's dtype, the optimizer of §5.

    Parameters
    ----------
    config : aevb_np.train.TrainConfig
        The run's settings; a part reads ``batch_size``, ``dtype``, ``n_latent``,
        ``resolved_hidden()``, ``decoder()``, ``init_std``, ``optimizer``,
        ``weight_decay``, ``estimator``, ``samples_per_datapoint`` and ``logvar_scale``.
    n_x : int
        D, the dimension of a datapoint.
    n_train : int
        N, the number of training datapoints (the N of Eq. 8's N/M).

    Notes
    -----
    The constructor only stores these; :meth:`init_params` and :meth:`init_state` draw
    from the run's generator, in that order (:func:`aevb_np.loop.new_state`).
    """

    name = ""
    shown = ""  # what the progress bar shows (a running average of ``step``'s value)
    has_bound = True  # scored by a lower bound (False: MCEM, which has no encoder)
    weight_decay_applies = True
    scale_in_estimator = False  # True: the step's gradient already carries N/M (Eq. 8)

    def __init__(self, config, n_x: int, n_train: int):
        self.config = config
        self.n_x, self.n_train = n_x, n_train
        self.batch_size = config.batch_size
        self.dtype = np.dtype(config.dtype)
        self.decoder = config.decoder()

    def make_optimizer(self, lr: float):
        """§5: Adagrad (or SGD) with the N(0, I) prior as weight decay, on (N/M)·Σ_i.

        Parameters
        ----------
        lr : float
            The global step size (§5 chooses it from {0.01, 0.02, 0.1}).

        Returns
        -------
        aevb_np.optim.Adagrad or aevb_np.optim.SGD
            ``SGD`` if ``config.optimizer == "sgd"``, else ``Adagrad`` with
            :meth:`reparam`'s scaled arrays.  ``scale`` is N/M unless the part's step
            already carries it (``scale_in_estimator``: AEVB), then 1; weight decay is
            on if ``config.weight_decay`` and the part applies it (not full VB).

        Raises
        ------
        ConfigError
            ``lr`` is not a positive finite number (raised by the optimizer).

        References
        ----------
        Kingma & Welling (2014), §5 (Adagrad, the prior as weight decay), Eq. (8).
        """
        scale = 1.0 if self.scale_in_estimator else self.n_train / self.batch_size
        decay = self.config.weight_decay and self.weight_decay_applies
        if self.config.optimizer == "sgd":
            return optim.SGD(lr, scale=scale, weight_decay=decay)
        return optim.Adagrad(lr, scale=scale, weight_decay=decay, reparam=self.reparam(),
                             warmup=getattr(self.config, "adagrad_warmup", 0))

    def _scaled_heads(self) -> dict[str, float]:
        """``{"phi/W5": s}`` and/or ``{"theta/W5": s}``: log-variance heads log σ² = s·u·h + b5
        with u the parameter (N(0, I) prior) and the head started at 0, as the authors' code
        has them (``--logvar-scale`` for the encoder, ``--decoder-logvar-scale`` for the
        Gaussian decoder; s = 1, the default, is the plain head of Appendix C.2)."""
        heads = {}
        s_enc = getattr(self.config, "logvar_scale", 1.0)
        s_dec = getattr(self.config, "decoder_logvar_scale", 1.0)
        if s_enc != 1.0:
            heads["phi/W5"] = s_enc
        if s_dec != 1.0:
            heads["theta/W5"] = s_dec
        return heads

    def reparam(self) -> dict[str, float] | None:
        """Arrays the optimizer steps in a scaled parametrization (see ``optim.Adagrad``).

        Returns
        -------
        dict or None
            ``{"group/array": s}`` for Adagrad's ``reparam`` argument: ``{"phi/W5": s}``
            for ``--logvar-scale s`` and/or ``{"theta/W5": s_dec}`` for
            ``--decoder-logvar-scale`` (each when not 1); None (the default): every array
            in the plain parametrization of Appendix C.
        """
        # log σ² = s·(W5/s)·h + b5 with the N(0, I) prior on W5/s: the parametrization of the
        # authors' wake-sleep recognition model (anglepy MLBN_Inverse, logvar_factor = 0.1).
        return self._scaled_heads() or None

    def init_params(self, rng):
        """§5: every weight and bias from N(0, init_std²) (see :func:`aevb_np.model.init_params`).

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator; the draws come from it.

        Returns
        -------
        dict
            ``{"phi": {...}, "theta": {...}}`` in ``config.dtype``, views into one flat
            buffer (encoder ``W3 … b5`` with shapes (H, D) … (Nz,); decoder as
            :func:`aevb_np.model.init_params` names them).  A log-variance head scaled by
            :meth:`reparam` starts at 0 (weights and bias), as the authors' code starts it.

        Raises
        ------
        ConfigError
            Non-positive sizes or ``init_std``, or ``rng`` not a Generator.

        References
        ----------
        Kingma & Welling (2014), §5 (initialization N(0, 0.01²)), Appendix C.
        """
        c = self.config
        params = model.init_params(self.n_x, c.resolved_hidden(), c.n_latent, self.decoder, rng, c.init_std, self.dtype)
        return self._zero_scaled_heads(params)

    def _zero_scaled_heads(self, params):
        """The authors start a scaled log-variance head at 0 (weights and bias): σ² = 1."""
        for key in self._scaled_heads():
            group, name = key.split("/")
            params[group][name][...] = 0.0
            params[group]["b" + name[1:]][...] = 0.0
        return params

    def init_state(self, rng) -> None:
        """Per-datapoint state drawn after the parameters (none but MCEM's chains).

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator, used after :meth:`init_params` (this part draws nothing).
        """

    def state_arrays(self) -> dict:
        """Arrays besides the parameters that a checkpoint must keep for an exact resume.

        Returns
        -------
        dict
            Name → ndarray; empty for every part but MCEM.
        """
        return {}

    def load_state_arrays(self, arrays: dict) -> None:
        """Restore what :meth:`state_arrays` saved.

        Parameters
        ----------
        arrays : dict
            Name → ndarray, as :meth:`state_arrays` returned them (ignored here).
        """

    def bound(self, params, x, rng) -> np.ndarray:
        """The per-datapoint lower bound this algorithm is scored by, shape (n,), nats.

        Parameters
        ----------
        params : dict
            ``{"phi", "theta"}``, as :meth:`init_params` makes them.
        x : ndarray, shape (n, D)
            The points to score (the first ``eval_train_size`` training points, the
            test set).
        rng : numpy.random.Generator
            Source of the ε draws (one sample per datapoint).

        Returns
        -------
        ndarray, shape (n,)
            Estimator B's value of L(θ, φ; x_i), nats per datapoint
            (:func:`aevb_np.bounds.lower_bound`).

        Raises
        ------
        ShapeError, NonFiniteError, SupportError
            As :func:`aevb_np.bounds.check_inputs`; NonFiniteError also if the estimate
            is not finite.

        References
        ----------
        Kingma & Welling (2014), Eq. (7), Eq. (10).
        """
        return bounds.lower_bound(params, x, rng)

    def decoder_params(self, params) -> dict:
        """``{"theta": …}``, the decoder a marginal-likelihood estimate (App. D) needs.

        Parameters
        ----------
        params : dict
            The part's parameters (holding ``"theta"``).

        Returns
        -------
        dict
            ``{"theta": params["theta"]}`` (the same arrays, not copies).

        References
        ----------
        Kingma & Welling (2014), Appendix D.
        """
        return {"theta": params["theta"]}

    def _minibatch(self, x_train, idx):
        # Kept buffers: no allocation per step on the fast paths.
        if not hasattr(self, "_xb"):
            self._xb = np.empty((self.batch_size, self.n_x), dtype=x_train.dtype)
            self._workspace: dict = {}
        np.take(x_train, idx, axis=0, out=self._xb)
        return self._xb


class AEVB(_Part):
    """Algorithm 1: the SGVB estimator's gradient (Eq. 6 or 7, scaled by N/M as Eq. 8).

    Parameters
    ----------
    config : aevb_np.train.TrainConfig
        The run's settings.
    n_x : int
        D, the dimension of a datapoint.
    n_train : int
        N, the number of training datapoints (Eq. 8's N/M).
    """

    name, shown, scale_in_estimator = "aevb", "lower bound", True

    def step(self, params, x_train, idx, rng, opt) -> float:
        """One update of Algorithm 1: ε ~ N(0, I), the SGVB gradient of Eq. (8), the optimizer.

        Parameters
        ----------
        params : dict
            ``{"phi", "theta"}``, updated in place.
        x_train : ndarray, shape (N, D)
            The training set (already checked; ``validate=False`` below).
        idx : ndarray of int, shape (M,)
            The minibatch's rows of ``x_train``; M must be ``config.batch_size``.
        rng : numpy.random.Generator
            Source of ε, shape (L, M, Nz) (Eq. 9).
        opt : aevb_np.optim.Adagrad or aevb_np.optim.SGD
            From :meth:`make_optimizer` (``scale`` 1: the estimator applies N/M).

        Returns
        -------
        float
            The minibatch mean of estimator A's or B's value (``config.estimator``),
            nats per datapoint, at the parameters before the update.

        Raises
        ------
        NonFiniteError
            The estimate is not finite (the model has diverged).

        References
        ----------
        Kingma & Welling (2014), Algorithm 1, Eq. (6)/(7), Eq. (8), Eq. (10).
        """
        xb = self._minibatch(x_train, idx)
        if not hasattr(self, "_eps"):
            c = self.config
            self._eps = np.empty((c.samples_per_datapoint, self.batch_size, c.n_latent), dtype=xb.dtype)
            self._grads = params_mod.zeros_like(params)
        # The same draws as rng.standard_normal((L, M, Nz)) (Eq. 9), into the kept buffer.
        rng.standard_normal(out=self._eps, dtype=self._eps.dtype)
        estimator = bounds.estimator_B if self.config.estimator == "B" else bounds.estimator_A
        elbo, grads = estimator(params, xb, self._eps, validate=False, grads=self._grads, workspace=self._workspace,
                                grad_scale=self.n_train / self.batch_size)  # Eq. (8)
        opt.step(params, grads)
        return float(elbo.mean())


class WakeSleep(_Part):
    """§5's wake-sleep baseline, with the same encoder and decoder as AEVB.

    Parameters
    ----------
    config : aevb_np.train.TrainConfig
        The run's settings.
    n_x : int
        D, the dimension of a datapoint.
    n_train : int
        N, the number of training datapoints (Eq. 8's N/M).
    """

    name, shown = "wake-sleep", "wake log p(x,z)"

    def step(self, params, x_train, idx, rng, opt) -> float:
        """One wake-sleep update: the wake gradient for θ and the sleep gradient for φ, then the optimizer.

        Parameters
        ----------
        params : dict
            ``{"phi", "theta"}``, updated in place.
        x_train : ndarray, shape (N, D)
            The training set.
        idx : ndarray of int, shape (M,)
            The minibatch's rows; M must be ``config.batch_size``.
        rng : numpy.random.Generator
            Source of the wake codes, the dreams' codes and their decoder noise.
        opt : aevb_np.optim.Adagrad or aevb_np.optim.SGD
            From :meth:`make_optimizer` (``scale = N/M``).

        Returns
        -------
        float
            The minibatch mean of the wake objective log p_θ(x_i, z_i), nats per
            datapoint: a diagnostic, not a lower bound.

        Raises
        ------
        NonFiniteError
            Either phase overflows.

        References
        ----------
        Kingma & Welling (2014), §5; :func:`aevb_np.baselines.wake_sleep.wake_sleep_gradients`.
        """
        xb = self._minibatch(x_train, idx)
        if not hasattr(self, "_grads"):
            self._grads = params_mod.zeros_like(params)
        objectives, grads = wake_sleep.wake_sleep_gradients(params, xb, rng, validate=False, grads=self._grads,
                                                            workspace=self._workspace)
        opt.step(params, grads)
        return float(objectives["wake"].mean())


class FullVB(_Part):
    """Appendix F: a Gaussian q(θ) over the decoder, one θ̃ = μ_θ + σ_θ ζ per minibatch.

    Parameters
    ----------
    config : aevb_np.train.TrainConfig
        The run's settings.
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
        return full_vb.init_full_vb_params(self.n_x, c.resolved_hidden(), c.n_latent, rng, self.decoder, c.init_std,
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
        zeta = full_vb.draw_zeta(params, rng)
        bound, grads = full_vb.full_vb_estimator(params, xb, self._eps, zeta, self.n_train, self.config.estimator,
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
        return full_vb.lower_bound(params, x, rng, self.n_train)

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
        return {"theta": full_vb.posterior_mean_params(params)["theta"]}


class MCEM(_Part):
    """Appendix E: a persistent HMC chain per datapoint (the E-step), then M-steps on θ.

    Parameters
    ----------
    config : aevb_np.train.TrainConfig
        The run's settings.
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
    initial_step_size, jitter = 0.3, mcem.JITTER

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
        return {"theta": mcem.init_decoder(self.n_x, c.resolved_hidden(), c.n_latent, rng, self.decoder, c.init_std)}

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
        if getattr(self.config, "mcem_chains", "persistent") == "fresh":  # a diagnostic: forget the last visit
            z = rng.standard_normal(z.shape)
        z, step_size, self.last_info = mcem.mcem_step(
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


#: name → part class; ``--algorithm`` chooses among these.
PARTS = {cls.name: cls for cls in (AEVB, WakeSleep, MCEM, FullVB)}


def part_config(decoder: str, n_hidden: int, n_latent: int, *, batch_size: int, dtype=np.float64, L: int = 1,
                estimator: str = "B", init_std: float = 0.01, weight_decay: bool = True):
    """A :class:`aevb_np.train.TrainConfig` with these sizes, for running a part without a run folder.

    The in-memory wrappers ``full_vb.train_full_vb`` and ``baselines.mcem.train_mcem`` use it.

    Parameters
    ----------
    decoder : {"bernoulli", "gaussian"}
        ``"gaussian"`` makes the config's dataset Frey Face, anything else MNIST.
    n_hidden, n_latent : int
        H and Nz.
    batch_size : int
        M.
    dtype : numpy dtype
        Of the data and parameters.
    L : int
        Samples of z per datapoint.
    estimator : {"A", "B"}
    init_std : float
        Standard deviation of the initialization (§5: 0.01).
    weight_decay : bool
        The N(0, I) prior on the parameters as weight decay (§5).

    Returns
    -------
    aevb_np.train.TrainConfig
        Not validated; every other field at its default.
    """
    from aevb_np.train import TrainConfig  # train imports this module

    return TrainConfig(dataset="frey-face" if decoder == "gaussian" else "mnist", hidden=n_hidden, n_latent=n_latent,
                       batch_size=batch_size, samples_per_datapoint=L, estimator=estimator, init_std=init_std,
                       dtype=np.dtype(dtype).name, weight_decay=weight_decay)
