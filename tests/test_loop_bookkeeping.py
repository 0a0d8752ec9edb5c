"""Algorithm 1's bookkeeping, pinned exactly (issue 26): the epoch orders, the epoch boundary,
the sample counter (the x axis of Fig. 2 and 3) and the data order across a resume.

The rule (``aevb_np.loop``): each epoch draws a fresh order ``perm = rng.permutation(N)``
from the run's generator; its minibatches are the consecutive slices ``perm[jM:(j+1)M]``,
j = 0 … N//M − 1, so the last *full* minibatch is used and the N mod M points left over
are not visited in that epoch; the next epoch starts when the next slice would not fit.
``samples`` grows by M per step, whatever L (z samples per datapoint).
"""

import numpy as np
import pytest

from aevb_np import algorithms, bounds
from aevb_np.loop import algorithm_1, new_state
from aevb_np.train import TrainConfig, train

SEED = 7


class _Recorder:
    """A stand-in algorithm part for :func:`algorithm_1`: its steps draw nothing and record
    the minibatch rows they are given (so the run's generator only draws the epoch orders)."""

    def __init__(self, N, M):
        self.n_train, self.batch_size = N, M
        self.batches = []

    def init_params(self, rng):
        return {"theta": {"w": rng.standard_normal(3)}}

    def init_state(self, rng):
        pass

    def step(self, params, x_train, idx, rng, opt):
        self.batches.append(np.array(idx, copy=True))
        return 0.0


def _run_loop(N, M, total, stop_at=None):
    """Run algorithm_1 with a recorder; return (part, state, counters after each step, finished)."""
    part = _Recorder(N, M)
    state = new_state(part, optimizer=None, rng=np.random.default_rng(SEED))
    counters = []

    def after_step(s, value):
        counters.append((s.step, s.samples, s.epoch, s.position))
        return stop_at is not None and s.step >= stop_at

    finished = algorithm_1(part, state, np.zeros((N, 2)), total, after_step)
    return part, state, counters, finished


@pytest.mark.parametrize("N, M, per_epoch", [(12, 4, 3), (11, 4, 2), (9, 4, 2)])
def test_each_epoch_is_a_fresh_permutation_cut_into_its_full_minibatches(N, M, per_epoch):
    """N = 12: the third slice ends exactly at N and is used; N = 11: 3 points are left over
    (a short minibatch of M − 1 must not appear); N = 9: 1 point left over."""
    epochs = 5
    part, state, counters, finished = _run_loop(N, M, epochs * per_epoch * M)
    assert finished and len(part.batches) == epochs * per_epoch
    # The reference: after the parameters' draw, the generator's next `epochs` permutations.
    rng = np.random.default_rng(SEED)
    rng.standard_normal(3)
    perms = [rng.permutation(N) for _ in range(epochs)]
    expected = [perms[e][j * M:(j + 1) * M] for e in range(epochs) for j in range(per_epoch)]
    assert all(b.shape == (M,) for b in part.batches)
    np.testing.assert_array_equal(np.stack(part.batches), np.stack(expected))
    np.testing.assert_array_equal(state.perm, perms[-1])
    for e in range(epochs):
        visited = np.concatenate(part.batches[e * per_epoch:(e + 1) * per_epoch])
        assert len(set(visited.tolist())) == per_epoch * M  # no point twice within an epoch
        np.testing.assert_array_equal(np.sort(perms[e]), np.arange(N))
        if e:  # a fresh order every epoch, not the first one again
            assert not np.array_equal(perms[e], perms[e - 1])
            assert not np.array_equal(visited, np.concatenate(part.batches[:per_epoch]))
    # The counters after step s = 1, 2, …: samples s·M, epoch (s−1)//B, position in the epoch.
    assert counters == [(s, s * M, (s - 1) // per_epoch, ((s - 1) % per_epoch + 1) * M)
                        for s in range(1, epochs * per_epoch + 1)]


def test_the_budget_is_reached_in_whole_minibatches_and_a_stopped_loop_continues_its_epoch():
    # A budget of 10 samples with M = 4 takes 3 steps (12 samples): the loop runs until it is reached.
    part, state, counters, finished = _run_loop(9, 4, 10)
    assert finished and (state.step, state.samples, state.epoch) == (3, 12, 1)
    # Stopped by after_step at step 3 (mid-epoch 1) and called again with the same state: the
    # minibatches are those of the run left alone.
    straight = _run_loop(9, 4, 40)[0].batches
    part, state, _, finished = _run_loop(9, 4, 40, stop_at=3)
    assert not finished and (state.step, state.epoch, state.position) == (3, 1, 4)
    assert algorithm_1(part, state, np.zeros((9, 2)), 40) is True
    np.testing.assert_array_equal(np.stack(part.batches), np.stack(straight))
    assert (state.step, state.samples, state.epoch) == (10, 40, 4)


# --------------------------------------------------------------------------- through train()

N_TRAIN, M = 11, 4  # two full minibatches per epoch, 3 points left over


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(26)
    return r.uniform(size=(N_TRAIN, 784)), r.uniform(size=(5, 784))


def _config(**kw):
    base = dict(hidden=4, n_latent=2, batch_size=M, eval_every=10**9, eval_train_size=N_TRAIN, checkpoint_every=1000,
                seed=SEED, max_samples=100 * M)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def recorded(monkeypatch):
    """The minibatch rows every AEVB step of train() is given, in order."""
    seen, real = [], algorithms.AEVB.step

    def recording(self, params, x_train, idx, rng, opt):
        seen.append(np.array(idx, copy=True))
        return real(self, params, x_train, idx, rng, opt)

    monkeypatch.setattr(algorithms.AEVB, "step", recording)
    return seen


def test_with_L_samples_of_z_the_sample_counter_counts_datapoints(tmp_path, data, monkeypatch):
    """L = 3: every step evaluates 3·M z samples but M datapoints; ``samples`` (the log's x axis)
    counts M per step, and the evaluation points (every 2·M samples) are crossed accordingly.
    (The run is stopped before its budget, so that it writes no pictures: fast.)"""
    real, eps_shapes = bounds.estimator_B, []

    def spy(params, x, eps, **kw):
        eps_shapes.append(eps.shape)
        return real(params, x, eps, **kw)

    monkeypatch.setattr(bounds, "estimator_B", spy)
    config = _config(samples_per_datapoint=3, eval_every=2 * M, max_samples=7 * M)
    result = train(config, tmp_path / "L3", progress=False, data=data, stop_after_steps=6)
    assert eps_shapes == [(3, M, 2)] * 6  # the L = 3 draws were made
    assert (result["step"], result["samples"]) == (6, 6 * M)
    rows = [(r["step"], r["samples"], r["epoch"]) for r in result["log"]]
    assert rows == [(0, 0, 0), (2, 8, 0), (4, 16, 1), (6, 24, 2)]


@pytest.mark.parametrize("stop_at", [3, 4])
def test_a_run_resumed_mid_epoch_or_at_its_end_visits_the_same_minibatches_as_one_left_alone(tmp_path, data,
                                                                                             recorded, stop_at):
    """stop_at 3: position 4 of epoch 1's order (one more minibatch of it to come); 4: the end of
    epoch 1 (the resumed run draws epoch 2's order)."""
    steps = 10  # five epochs
    straight = train(_config(), tmp_path / "a", progress=False, data=data, stop_after_steps=steps)
    alone = list(recorded)
    recorded.clear()
    part = train(_config(), tmp_path / "b", progress=False, data=data, stop_after_steps=stop_at)
    assert (part["step"], part["finished"]) == (stop_at, False)
    resumed = train(_config(), tmp_path / "b", resume=True, progress=False, data=data, stop_after_steps=steps)
    assert resumed["step"] == steps and len(recorded) == len(alone) == steps
    np.testing.assert_array_equal(np.stack(recorded), np.stack(alone))
    for g in straight["params"]:
        for k in straight["params"][g]:
            np.testing.assert_array_equal(resumed["params"][g][k], straight["params"][g][k], err_msg=f"{g}/{k}")
    # The run left alone: each epoch's two minibatches are 8 distinct points, a new order each epoch.
    epochs = [np.concatenate(alone[2 * e:2 * e + 2]) for e in range(steps // 2)]
    assert all(len(set(e.tolist())) == 2 * M for e in epochs)
    assert all(not np.array_equal(a, b) for a, b in zip(epochs, epochs[1:]))
