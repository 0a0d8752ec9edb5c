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

from aevb_np import bounds
from aevb_np import params as params_mod
from aevb_np.baselines import wake_sleep
from aevb_np.baselines.mcem import MCEM
from aevb_np.full_vb.part import FullVB
from aevb_np.part import Part, PartConfig, _Part, part_config  # noqa: F401  (_Part: the former name)

__all__ = ["AEVB", "FullVB", "MCEM", "PARTS", "Part", "PartConfig", "WakeSleep", "part_config"]


class AEVB(Part):
    """Algorithm 1: the SGVB estimator's gradient (Eq. 6 or 7, scaled by N/M as Eq. 8).

    Parameters
    ----------
    config : aevb_np.part.PartConfig
        The part's settings (a run's ``TrainConfig`` is turned into one).
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


class WakeSleep(Part):
    """§5's wake-sleep baseline, with the same encoder and decoder as AEVB.

    Parameters
    ----------
    config : aevb_np.part.PartConfig
        The part's settings (a run's ``TrainConfig`` is turned into one).
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



#: name → part class; ``--algorithm`` chooses among these.  Full VB's and MCEM's parts live
#: beside their own mathematics and in-memory runners (:mod:`aevb_np.full_vb.part`,
#: :mod:`aevb_np.baselines.mcem`).
PARTS = {cls.name: cls for cls in (AEVB, WakeSleep, MCEM, FullVB)}
