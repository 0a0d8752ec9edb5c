"""The divergence rule as the README states it (issue 26): a run stops when its bound "stays ten
times its initial magnitude below its start for 100 steps", i.e. 100 *consecutive* steps below
the floor v0 − 10·max(1, |v0|); a dip that recovers starts the count again."""

import numpy as np
import pytest

from aevb_np import bounds
from aevb_np.errors import TrainingDivergedError
from aevb_np.train import DivergenceCheck, TrainConfig, train

PATIENCE = 100  # the README's "for 100 steps"
V0, LOW, UP = -100.0, -2000.0, -500.0  # floor −100 − 10·100 = −1100: LOW is below it, UP above


def _first_divergence(values):
    """Feed one run's objectives to a fresh check; the 1-based step it stops at (None: never), the reason."""
    check = DivergenceCheck()
    for k, v in enumerate(values, start=1):
        reason = check.objective(v)
        if reason is not None:
            return k, reason
    return None, None


def _dips(*lengths):
    """V0, then dips of the given lengths below the floor, each followed by one step above it."""
    values = [V0]
    for n in lengths:
        values += [LOW] * n + [UP]
    return values


@pytest.mark.parametrize("lengths, stops_at", [
    ((99,), None),                 # one step short
    ((100,), 101),                 # the 100th step in a row below: step 1 + 100
    ((99, 99), None),              # dip, recover, dip: 198 low steps, never 100 in a row
    ((99, 99, 99, 99), None),      # a counter that never resets would stop at step 102
    ((99, 100), 1 + 100 + 100),    # the second dip reaches 100: V0, 99 low, 1 up, then 100 low
    ((1, 98, 100), 1 + 2 + 99 + 100),
    ((50, 99, 101), 1 + 51 + 100 + 100),
])
def test_only_patience_consecutive_steps_below_the_floor_are_divergence(lengths, stops_at):
    step, reason = _first_divergence(_dips(*lengths))
    assert step == stops_at, (lengths, step)
    if stops_at is not None:
        assert reason.startswith("the objective stayed below -1100,") and "for 100 steps" in reason, reason


def test_the_floor_is_set_by_the_first_value_and_a_value_on_it_is_not_below():
    check = DivergenceCheck()
    assert check.objective(V0) is None and check.floor("objective", 5.0) == -1100.0  # the first value fixed it
    for v, in_dip in ((-1100.0, False), (-1100.5, True), (-1100.0, False), (np.nextafter(-1100.0, -np.inf), True)):
        assert check.objective(v) is None and check.in_dip is in_dip, v
    # |v0| < 1: the floor is v0 − 10; a positive start (Frey Face densities): v0 − 10·v0.
    assert DivergenceCheck().floor("objective", -0.5) == -10.5
    assert DivergenceCheck().floor("objective", 200.0) == -1800.0
    # A positive start and its floor −1800: 99 steps at −1801, one at −1799, 100 at −1801.
    values = [200.0] + [-1801.0] * 99 + [-1799.0] + [-1801.0] * PATIENCE
    assert _first_divergence(values[:-1])[0] is None and _first_divergence(values)[0] == len(values)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_objective_is_divergence_at_once(value):
    assert _first_divergence([V0, UP, value]) == (3, f"the objective is {value}")


# --------------------------------------------------------------------------- the same rule in a run


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(14)
    return r.uniform(size=(40, 784)), r.uniform(size=(5, 784))


def _run(tmp_path, data, monkeypatch, low_steps, budget_steps):
    """train() whose step objective (estimator B) is shifted 10⁷ nats down on the calls in ``low_steps``."""
    real, calls = bounds.estimator_B, {"n": 0}

    def shifted(params, x, eps, **kw):
        calls["n"] += 1
        elbo, grads = real(params, x, eps, **kw)
        return (elbo - 1e7 if calls["n"] in low_steps else elbo), grads

    monkeypatch.setattr(bounds, "estimator_B", shifted)
    config = TrainConfig(hidden=4, n_latent=2, batch_size=10, max_samples=10 * (budget_steps + 1), eval_every=10**9,
                         eval_train_size=10, checkpoint_every=10**6, seed=2)
    return train(config, tmp_path / "run", progress=False, data=data, stop_after_steps=budget_steps)


def test_a_run_that_dips_recovers_and_dips_again_below_the_patience_goes_on(tmp_path, data, monkeypatch):
    # Steps 2–100 and 102–200 far below (99 each), step 101 recovered: 198 low steps in all.
    low = set(range(2, 101)) | set(range(102, 201))
    result = _run(tmp_path, data, monkeypatch, low, 210)
    assert result["step"] == 210 and np.isfinite(result["test_lower_bound"])


def test_a_run_whose_second_dip_reaches_the_patience_diverges_at_its_100th_step(tmp_path, data, monkeypatch):
    low = set(range(2, 101)) | set(range(102, 202))  # the second dip: steps 102–201, 100 in a row
    with pytest.raises(TrainingDivergedError, match=r"training diverged at step 201 \(the objective stayed below"):
        _run(tmp_path, data, monkeypatch, low, 210)
