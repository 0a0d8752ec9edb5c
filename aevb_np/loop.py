"""Algorithm 1, the one training loop every algorithm of the paper runs through.

::

    repeat
        X_M ← the next M datapoints of a random epoch order
        one update of the parameters from X_M      (the algorithm's part: Eq. 8 for AEVB)
    until the sample budget is spent

The loop knows nothing of any algorithm: each one (AEVB, wake-sleep, MCEM, full VB; see
:mod:`aevb_np.algorithms`) is a small part with a ``step`` method, and what happens
between steps (evaluations, checkpoints, Ctrl-C, divergence) is the ``after_step``
callback's job (:mod:`aevb_np.train` supplies it).  Tests and the in-memory wrappers
(``baselines.mcem.train_mcem``, ``full_vb.train_full_vb``) call the same function.

References
----------
Kingma & Welling (2014), Algorithm 1, Eq. (8), §5.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass
class RunState:
    """Everything a run carries from one step to the next; a checkpoint saves all of it.

    Attributes
    ----------
    params : dict
        The parameters (``{"phi": …, "theta": …}`` or an algorithm's own groups).
    optimizer : aevb_np.optim.Adagrad or aevb_np.optim.SGD
    rng : numpy.random.Generator
        The run's only source of randomness (data order and every noise draw).
    perm : ndarray of int, shape (N,)
        This epoch's order of the training points; ``position`` indexes into it.
    position, step, samples, epoch : int
        Counters; ``samples`` counts training datapoints evaluated (M per step), the x
        axis of Fig. 2 and Fig. 3.
    """

    params: dict
    optimizer: object
    rng: np.random.Generator
    perm: np.ndarray
    position: int = 0
    step: int = 0
    samples: int = 0
    epoch: int = 0


def new_state(algorithm, optimizer, rng: np.random.Generator) -> RunState:
    """Initial parameters (and any per-datapoint state) of ``algorithm``, then the first epoch order.

    The draws come from ``rng`` in this order: the parameters (§5: N(0, 0.01)), the
    algorithm's own state (MCEM's chains), the first permutation.

    Parameters
    ----------
    algorithm : an algorithm part of :mod:`aevb_np.algorithms`
        Its ``init_params`` and ``init_state`` are called; ``n_train`` is N.
    optimizer : aevb_np.optim.Adagrad or aevb_np.optim.SGD
        Stored in the state as it is.
    rng : numpy.random.Generator
        The run's generator, stored in the state after the draws.

    Returns
    -------
    RunState
        Counters at 0, ``perm`` a permutation of ``range(N)``.

    References
    ----------
    Kingma & Welling (2014), §5 (initialization), Algorithm 1.
    """
    params = algorithm.init_params(rng)
    algorithm.init_state(rng)
    return RunState(params=params, optimizer=optimizer, rng=rng, perm=rng.permutation(algorithm.n_train))


def algorithm_1(algorithm, state: RunState, x_train: np.ndarray, total_samples: int,
                after_step: Callable[[RunState, float], bool] | None = None) -> bool:
    """Run minibatch updates until ``state.samples`` reaches ``total_samples``.

    Parameters
    ----------
    algorithm : an algorithm part of :mod:`aevb_np.algorithms`
        Its ``step(params, x_train, idx, rng, optimizer)`` updates the parameters from the
        minibatch ``x_train[idx]`` and returns the value the progress bar shows.
    state : RunState
        Updated in place.
    x_train : ndarray, shape (N, D)
    total_samples : int
        The budget, in training samples evaluated.
    after_step : callable, optional
        ``after_step(state, value) -> bool``, called after every update; returning True
        stops the loop (Ctrl-C, a test's interruption).

    Returns
    -------
    bool
        True if the budget was spent, False if ``after_step`` stopped the loop.

    References
    ----------
    Kingma & Welling (2014), Algorithm 1 (the minibatch loop, §2.3) and Eq. (8); §5 (M = 100,
    training samples evaluated as the budget).
    """
    N, M = x_train.shape[0], algorithm.batch_size
    while state.samples < total_samples:
        if state.position + M > N:  # the next epoch, in a fresh random order
            state.perm, state.position, state.epoch = state.rng.permutation(N), 0, state.epoch + 1
        idx = state.perm[state.position : state.position + M]
        value = algorithm.step(state.params, x_train, idx, state.rng, state.optimizer)
        state.position, state.step, state.samples = state.position + M, state.step + 1, state.samples + M
        if after_step is not None and after_step(state, value):
            return state.samples >= total_samples
    return True
