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
    """What every part shares: the sizes, the data's dtype, the optimizer of §5."""

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
        """§5: Adagrad (or SGD) with the N(0, I) prior as weight decay, on (N/M)·Σ_i."""
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
        """Arrays the optimizer steps in a scaled parametrization (see ``optim.Adagrad``)."""
        return None

    def init_params(self, rng):
        """§5: every weight and bias from N(0, init_std²) (see :func:`aevb_np.model.init_params`)."""
        c = self.config
        return model.init_params(self.n_x, c.resolved_hidden(), c.n_latent, self.decoder, rng, c.init_std, self.dtype)

    def _zero_scaled_heads(self, params):
        """The authors start a scaled log-variance head at 0 (weights and bias): σ² = 1."""
        for key in self._scaled_heads():
            group, name = key.split("/")
            params[group][name][...] = 0.0
            params[group]["b" + name[1:]][...] = 0.0
        return params

    def init_state(self, rng) -> None:
        """Per-datapoint state drawn after the parameters (none but MCEM's chains)."""

    def state_arrays(self) -> dict:
        """Arrays besides the parameters that a checkpoint must keep for an exact resume."""
        return {}

    def load_state_arrays(self, arrays: dict) -> None:
        """Restore what :meth:`state_arrays` saved."""

    def bound(self, params, x, rng) -> np.ndarray:
        """The per-datapoint lower bound this algorithm is scored by, shape (n,), nats."""
        return bounds.lower_bound(params, x, rng)

    def decoder_params(self, params) -> dict:
        """``{"theta": …}``, the decoder a marginal-likelihood estimate (App. D) needs."""
        return {"theta": params["theta"]}

    def _minibatch(self, x_train, idx):
        # Kept buffers: no allocation per step on the fast paths.
        if not hasattr(self, "_xb"):
            self._xb = np.empty((self.batch_size, self.n_x), dtype=x_train.dtype)
            self._workspace: dict = {}
        np.take(x_train, idx, axis=0, out=self._xb)
        return self._xb


class AEVB(_Part):
    """Algorithm 1: the SGVB estimator's gradient (Eq. 6 or 7, scaled by N/M as Eq. 8)."""

    name, shown, scale_in_estimator = "aevb", "lower bound", True

    def reparam(self):
        # --logvar-scale / --decoder-logvar-scale (see _Part._scaled_heads); None by default.
        return self._scaled_heads() or None

    def init_params(self, rng):
        return self._zero_scaled_heads(super().init_params(rng))

    def step(self, params, x_train, idx, rng, opt) -> float:
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
    """§5's wake-sleep baseline, with the same encoder and decoder as AEVB."""

    name, shown = "wake-sleep", "wake log p(x,z)"

    def reparam(self):
        # --logvar-scale s: log σ² = s·(W5/s)·h + b5 with the N(0, I) prior on W5/s, the
        # parametrization of the authors' wake-sleep recognition model (anglepy MLBN_Inverse,
        # logvar_factor = 0.1).  s = 1 is the plain encoder (the default).  Likewise the
        # decoder's head with --decoder-logvar-scale (see _Part._scaled_heads).
        return self._scaled_heads() or None

    def init_params(self, rng):
        return self._zero_scaled_heads(super().init_params(rng))  # the heads start at 0

    def step(self, params, x_train, idx, rng, opt) -> float:
        xb = self._minibatch(x_train, idx)
        if not hasattr(self, "_grads"):
            self._grads = params_mod.zeros_like(params)
        objectives, grads = wake_sleep.wake_sleep_gradients(params, xb, rng, validate=False, grads=self._grads,
                                                            workspace=self._workspace)
        opt.step(params, grads)
        return float(objectives["wake"].mean())


class FullVB(_Part):
    """Appendix F: a Gaussian q(θ) over the decoder, one θ̃ = μ_θ + σ_θ ζ per minibatch."""

    name, shown = "full-vb", "full-VB bound"
    weight_decay_applies = False  # the prior over θ is inside the bound (the KL of Eq. 24)

    def init_params(self, rng):
        c = self.config
        return full_vb.init_full_vb_params(self.n_x, c.resolved_hidden(), c.n_latent, rng, self.decoder, c.init_std,
                                           dtype=self.dtype)

    def step(self, params, x_train, idx, rng, opt) -> float:
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
        return full_vb.lower_bound(params, x, rng, self.n_train)

    def decoder_params(self, params) -> dict:
        return {"theta": full_vb.posterior_mean_params(params)["theta"]}


class MCEM(_Part):
    """Appendix E: a persistent HMC chain per datapoint (the E-step), then M-steps on θ."""

    name, shown, has_bound = "mcem", "log p(x|z) of the chains", False
    #: Appendix E: 10 leapfrog steps with the step size tuned toward 90% acceptance, then
    #: 5 weight updates; the chains start at step size 0.3 (tuned from there).  See
    #: :func:`aevb_np.baselines.mcem.mcem_step` for the others.
    n_leapfrog, n_hmc_steps, n_updates, target_accept, adapt_rate = 10, 1, 5, 0.9, 0.5
    initial_step_size, jitter = 0.3, mcem.JITTER

    def init_params(self, rng):
        c = self.config
        return {"theta": mcem.init_decoder(self.n_x, c.resolved_hidden(), c.n_latent, rng, self.decoder, c.init_std)}

    def init_state(self, rng) -> None:
        # θ ≈ 0 at the start, so the posterior is the prior: the chains start from it.
        self.z = rng.standard_normal((self.n_train, self.config.n_latent))
        self.step_size = np.full(self.n_train, self.initial_step_size)

    def state_arrays(self) -> dict:
        return {"z": self.z, "step_size": self.step_size}

    def load_state_arrays(self, arrays: dict) -> None:
        self.z, self.step_size = arrays["z"].copy(), arrays["step_size"].copy()

    def step(self, params, x_train, idx, rng, opt) -> float:
        z, step_size, self.last_info = mcem.mcem_step(
            params["theta"], x_train[idx], self.z[idx], self.step_size[idx], rng, opt, n_leapfrog=self.n_leapfrog,
            n_hmc_steps=self.n_hmc_steps, n_updates=self.n_updates, target_accept=self.target_accept,
            adapt_rate=self.adapt_rate, jitter=self.jitter)
        self.z[idx], self.step_size[idx] = z, step_size
        return self.last_info["log_likelihood"]

    def bound(self, params, x, rng) -> np.ndarray:
        raise NotImplementedError("MCEM learns no encoder: it is scored by a marginal-likelihood estimate only")


#: name → part class; ``--algorithm`` chooses among these.
PARTS = {cls.name: cls for cls in (AEVB, WakeSleep, MCEM, FullVB)}


def part_config(decoder: str, n_hidden: int, n_latent: int, *, batch_size: int, dtype=np.float64, L: int = 1,
                estimator: str = "B", init_std: float = 0.01, weight_decay: bool = True):
    """A :class:`aevb_np.train.TrainConfig` with these sizes, for the in-memory wrappers
    (``full_vb.train_full_vb``, ``baselines.mcem.train_mcem``) that run a part without a run folder."""
    from aevb_np.train import TrainConfig  # train imports this module

    return TrainConfig(dataset="frey-face" if decoder == "gaussian" else "mnist", hidden=n_hidden, n_latent=n_latent,
                       batch_size=batch_size, samples_per_datapoint=L, estimator=estimator, init_std=init_std,
                       dtype=np.dtype(dtype).name, weight_decay=weight_decay)
