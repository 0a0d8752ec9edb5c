"""What every algorithm part shares (:class:`Part`) and the small configuration it reads (:class:`PartConfig`).

A part turns one minibatch into one update of its parameters (:mod:`aevb_np.algorithms`);
the one training loop, :func:`aevb_np.loop.algorithm_1`, calls it.  A part reads only
:class:`PartConfig` — the model's sizes, the estimator and §5's optimizer settings — never
the run's :class:`aevb_np.train.TrainConfig` (whose ``part_config()`` makes one), so
that the parts sit below the run machinery and import nothing from it.

References
----------
Kingma & Welling (2014), Algorithm 1, §5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aevb_np import bounds, model, optim


@dataclasses.dataclass(frozen=True)
class PartConfig:
    """The settings an algorithm part reads: the model, the estimator, §5's optimizer.

    Parameters
    ----------
    decoder : {"bernoulli", "gaussian"}
        Appendix C.1 or C.2.
    n_hidden, n_latent : int
        H and Nz.
    batch_size : int
        M.
    dtype : str
        ``"float64"`` or ``"float32"``, of the data and parameters.
    samples_per_datapoint : int
        L.
    estimator : {"A", "B"}
        SGVB estimator, Eq. (6) or Eq. (7).
    init_std : float
        Standard deviation of the N(0, 0.01²) initialization (§5).
    optimizer : {"adagrad", "sgd"}
    weight_decay : bool
        The N(0, I) prior on the parameters as weight decay (§5).
    logvar_scale, decoder_logvar_scale : float
        Scaled log-variance heads of the encoder / Gaussian decoder (1: the plain head).
    adagrad_warmup : int
        Adagrad steps that only fill the accumulators.
    mcem_chains : {"persistent", "fresh"}
        MCEM's chains continue or restart at each visit.

    Notes
    -----
    Not validated here: :meth:`aevb_np.train.TrainConfig.validate` checks a run's settings.
    """

    decoder: str
    n_hidden: int
    n_latent: int
    batch_size: int
    dtype: str = "float64"
    samples_per_datapoint: int = 1
    estimator: str = "B"
    init_std: float = 0.01
    optimizer: str = "adagrad"
    weight_decay: bool = True
    logvar_scale: float = 1.0
    decoder_logvar_scale: float = 1.0
    adagrad_warmup: int = 0
    mcem_chains: str = "persistent"


def part_config(decoder: str, n_hidden: int, n_latent: int, *, batch_size: int, dtype=np.float64, L: int = 1,
                estimator: str = "B", init_std: float = 0.01, weight_decay: bool = True) -> PartConfig:
    """A :class:`PartConfig` with these sizes, for running a part without a run folder.

    The in-memory runners ``full_vb.train_full_vb`` and ``baselines.mcem.train_mcem`` use it.

    Parameters
    ----------
    decoder : {"bernoulli", "gaussian"}
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
    PartConfig
        Not validated; every other field at its default (Adagrad, plain heads).
    """
    return PartConfig(decoder="gaussian" if decoder == "gaussian" else "bernoulli", n_hidden=n_hidden,
                      n_latent=n_latent, batch_size=batch_size, dtype=np.dtype(dtype).name, samples_per_datapoint=L,
                      estimator=estimator, init_std=init_std, weight_decay=weight_decay)


class Part:
    """What every part shares: the sizes, the data's dtype, the optimizer of §5.

    Parameters
    ----------
    config : PartConfig or aevb_np.train.TrainConfig
        The part's settings (a :class:`PartConfig`); a run's ``TrainConfig`` is accepted
        and turned into one by its ``part_config()`` method.
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
        if not isinstance(config, PartConfig):  # a run's TrainConfig (duck-typed: no import of aevb_np.train)
            config = config.part_config()
        self.config = config
        self.n_x, self.n_train = n_x, n_train
        self.batch_size = config.batch_size
        self.dtype = np.dtype(config.dtype)
        self.decoder = config.decoder

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
            :meth:`scaled_heads`' arrays.  ``scale`` is N/M unless the part's step
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
        return optim.Adagrad(lr, scale=scale, weight_decay=decay, scaled_heads=self.scaled_heads(),
                             warmup=self.config.adagrad_warmup)

    def _scaled_heads(self) -> dict[str, float]:
        """``{"phi/W5": s}`` and/or ``{"theta/W5": s}``: log-variance heads log σ² = s·u·h + b5
        with u the parameter (N(0, I) prior) and the head started at 0, as the authors' code
        has them (``--logvar-scale`` for the encoder, ``--decoder-logvar-scale`` for the
        Gaussian decoder; s = 1, the default, is the plain head of Appendix C.2)."""
        heads = {}
        s_enc = self.config.logvar_scale
        s_dec = self.config.decoder_logvar_scale
        if s_enc != 1.0:
            heads["phi/W5"] = s_enc
        if s_dec != 1.0:
            heads["theta/W5"] = s_dec
        return heads

    def scaled_heads(self) -> dict[str, float] | None:
        """Log-variance heads the optimizer steps in a scaled parametrization (``optim.Adagrad``'s ``scaled_heads``).

        Returns
        -------
        dict or None
            ``{"group/array": s}`` for Adagrad's ``scaled_heads`` argument: ``{"phi/W5": s}``
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
            :meth:`scaled_heads` starts at 0 (weights and bias), as the authors' code starts it.

        Raises
        ------
        ConfigError
            Non-positive sizes or ``init_std``, or ``rng`` not a Generator.

        References
        ----------
        Kingma & Welling (2014), §5 (initialization N(0, 0.01²)), Appendix C.
        """
        c = self.config
        params = model.init_params(self.n_x, c.n_hidden, c.n_latent, self.decoder, rng, c.init_std, self.dtype)
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


#: The former private name, kept for readers of older notes.
_Part = Part
