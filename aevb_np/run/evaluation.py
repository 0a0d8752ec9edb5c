"""What a run is evaluated by (``--evaluation``): the bound, or log p(x) by Appendix D, HMC
importance sampling or quadrature; and when.

References
----------
Kingma & Welling (2014), Eq. (10), Appendix D, Appendix F, §5 (Fig. 3).
"""

from __future__ import annotations

import math

import numpy as np

from aevb_np import marginal
from aevb_np.errors import ConfigError
from aevb_np.run.config import EVALUATIONS

#: Settings of the marginal-likelihood estimates (``--evaluation appendix-d|hmc-is|quadrature``).
#: Appendix D as the paper ran it (App. E, last paragraph): 50 posterior samples per datapoint by
#: HMC with 4 leapfrog steps, for the fit and again for the estimate; the burn-in is ours (not
#: stated).  For Nz <= 3 both HMC estimators start their chains from the grid-discretized
#: posterior: started from a prior draw, a chain stays in a minor mode for 5-10 % of the points,
#: each then 70-158 nats too low (``benchmarks/fig3_estimators.py`` against the quadrature:
#: mean bias −6.4 nats from prior starts, +0.000 ± 0.016 from grid starts).
#: The decoder's arithmetic inside these estimates runs in float32 (the chains, fits and sums
#: stay float64): half the cost, estimates within noise of float64's against the quadrature
#: (``benchmarks/fig3_estimators.py --dtype``; issue 25).
MARGINAL_SETTINGS = {"appendix-d": dict(n_hmc=50, n_fit=50, n_burnin=100, n_leapfrog=4, hmc_dtype="float32"),
                     "hmc-is": dict(K=1000, n_fit=200, n_burnin=200),
                     "quadrature": dict(grid=113, limit=7.0)}
#: Precision of the grid the HMC chains start from (:func:`aevb_np.marginal.grid_posterior_start`).
GRID_START_DTYPE = "float32"


def evaluate_rows(part, params, x: np.ndarray, evaluation: str, rng: np.random.Generator) -> np.ndarray:
    """The per-datapoint number a run is evaluated by, shape (n,), nats per datapoint.

    ``bound``: the algorithm's lower bound (estimator B of Eq. 10; full VB's own bound of
    App. F).  ``appendix-d`` / ``hmc-is``: log p(x) estimated from the decoder alone (App. D;
    :func:`aevb_np.marginal.hmc_importance_sampled_log_px`), as Fig. 3 does, with chains
    started from :func:`aevb_np.marginal.grid_posterior_start` when Nz <= 3.
    ``quadrature``: log p(x) itself, to grid error (:func:`aevb_np.marginal.quadrature_log_px`,
    Nz <= 3 only).

    Parameters
    ----------
    part : an algorithm part of :mod:`aevb_np.algorithms`
        Gives ``bound``, ``decoder_params`` and ``config.n_latent``.
    params : dict
        The part's parameters.
    x : ndarray, shape (n, D)
        The points evaluated.
    evaluation : {"bound", "appendix-d", "hmc-is", "quadrature"}
        The estimate; any other name is a :class:`~aevb_np.errors.ConfigError`.
    rng : numpy.random.Generator
        Source of every draw of the estimate (the run uses a generator of its own,
        seeded by seed and step, so evaluating does not touch the training stream).

    Returns
    -------
    ndarray, shape (n,)
        Nats per datapoint: a lower bound, or an estimate of log p(x).

    Raises
    ------
    NotImplementedError
        ``"bound"`` for MCEM, which has no encoder.
    ConfigError
        ``evaluation`` is not one of the four names.
    ShapeError, NonFiniteError, SupportError, ConfigError
        As the estimator used (bad arrays, non-finite values, Nz > 3 for quadrature).

    References
    ----------
    Kingma & Welling (2014), Eq. (10), Appendix D, Appendix F, §5 Fig. 3.
    """
    return evaluate_splits(part, params, (x,), evaluation, rng)[0]


def evaluate_splits(part, params, xs, evaluation: str, rng: np.random.Generator) -> list[np.ndarray]:
    """:func:`evaluate_rows` on several sets of points (a run's train and test points) at once.

    The same estimates; for ``appendix-d`` and ``hmc-is`` with Nz <= 3 the chains of every
    set start from one :func:`aevb_np.marginal.grid_posterior_start` over all their points,
    so the decoder runs over the grid once per evaluation, not once per set.

    Parameters
    ----------
    part, params, evaluation, rng
        As :func:`evaluate_rows`.
    xs : sequence of ndarray, each shape (n_k, D)

    Returns
    -------
    list of ndarray, shapes (n_k,)
        Nats per datapoint, one array per set.

    Raises
    ------
    As :func:`evaluate_rows`.
    """
    if evaluation not in EVALUATIONS:
        # Never fall through to a default estimate: a misspelt name would log a number
        # computed by an estimator nobody asked for.
        raise ConfigError(f"evaluation {evaluation!r} is not one of {', '.join(EVALUATIONS)}")
    if evaluation == "bound":
        return [part.bound(params, x, rng) for x in xs]
    decoder = part.decoder_params(params)
    if evaluation == "quadrature":
        return [marginal.quadrature_log_px(decoder, x, **MARGINAL_SETTINGS["quadrature"]) for x in xs]
    ends = np.cumsum([x.shape[0] for x in xs])[:-1]
    z0s = [None] * len(xs)
    if part.config.n_latent <= 3:
        z0s = np.split(marginal.grid_posterior_start(decoder, np.concatenate(xs), rng, dtype=GRID_START_DTYPE), ends)
    if evaluation == "appendix-d":
        return [marginal.appendix_d_log_px(decoder, x, rng, z0=z0, **MARGINAL_SETTINGS["appendix-d"])
                for x, z0 in zip(xs, z0s)]
    s = MARGINAL_SETTINGS["hmc-is"]  # evaluation == "hmc-is"
    return [marginal.hmc_importance_sampled_log_px(decoder, x, s["K"], rng, n_fit=s["n_fit"], n_burnin=s["n_burnin"],
                                                   z0=z0) for x, z0 in zip(xs, z0s)]


def _eval_rng(seed: int, step: int) -> np.random.Generator:
    # Its own generator, seeded by (seed, step): evaluating never touches the training
    # run's random stream, and a resumed run evaluates identically.
    return np.random.default_rng([seed, 0xE7A1, step])


def _crosses_eval_point(before: int, after: int, config) -> bool:
    """True if an evaluation point lies in (before, after]: a multiple of ``eval_every``, or
    one of ``eval_per_decade`` log-spaced counts 10^(k/eval_per_decade) per decade."""
    if after // config.eval_every != before // config.eval_every:
        return True
    if config.eval_per_decade and before > 0:
        k = config.eval_per_decade
        return math.floor(k * math.log10(after)) != math.floor(k * math.log10(before))
    return False
