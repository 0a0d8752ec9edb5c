"""docs/code_tour.md ("One AEVB step, line by line") against one real training step.

The step is traced with ``sys.setprofile`` inside ``aevb_np.train.train`` on real MNIST
(AEVB, estimator B, Adagrad, float64): the tour must name every function of aevb_np the
step calls, in the order they are first called, and nothing else; closures count as the
function that defines them.  The counts the page states are recomputed from the source.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from aevb_np.data import load_mnist
from aevb_np.train import TrainConfig, train

TOUR = Path(__file__).resolve().parents[1] / "docs" / "code_tour.md"


def tour_names() -> list[str]:
    """The dotted names of the tour's table, in order (first backticked name of each row)."""
    names = []
    for line in TOUR.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*\d+\s*\|\s*`(aevb_np\.[\w.]+)`", line)
        if m:
            names.append(m.group(1))
    return names


def resolve(dotted: str):
    """The function (or method) a dotted name of the tour names; ImportError/AttributeError if none."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return inspect.unwrap(obj)
    raise ImportError(dotted)


def nested_codes(code: types.CodeType) -> set:
    """``code`` and every code object defined inside it (closures, lambdas, comprehensions)."""
    out = {code}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= nested_codes(const)
    return out


def traced_step(tmp_path) -> list[types.CodeType]:
    """Code objects of aevb_np run by the second AEVB step of a real run, in first-call order
    (the second: the first also allocates the kept buffers), plus the loop that calls it."""
    x_train, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    config = TrainConfig(hidden=50, n_latent=5, batch_size=100, max_samples=300, eval_train_size=100,
                         eval_test_size=100, eval_every=10**6, seed=3)
    from aevb_np import algorithms, loop

    step_code, loop_code = algorithms.AEVB.step.__code__, loop.algorithm_1.__code__
    seen, state = [], {"steps": 0, "recording": False}

    def profile(frame, event, arg):
        code = frame.f_code
        if event == "call" and code is step_code:
            state["steps"] += 1
            state["recording"] = state["steps"] == 2
        if state["recording"] and event == "call" and frame.f_globals.get("__name__", "").startswith("aevb_np"):
            if code not in seen:
                seen.append(code)
        if event == "return" and code is step_code:
            state["recording"] = False

    sys.setprofile(profile)
    try:
        train(config, tmp_path / "run", data=(x_train[:1000], x_test[:100]), progress=False)
    finally:
        sys.setprofile(None)
    assert state["steps"] == 3, "the run took three steps (300 samples, M = 100)"
    return [loop_code] + seen


def test_every_function_the_tour_names_exists_and_is_a_function():
    names = tour_names()
    assert len(names) >= 20 and len(set(names)) == len(names)
    for name in names:
        assert inspect.isfunction(resolve(name)), name


def test_the_tour_is_the_step_one_aevb_update_runs_in_order(tmp_path):
    names = tour_names()
    owners = {}  # code object -> the tour name whose function defines it
    for name in names:
        for code in nested_codes(resolve(name).__code__):
            owners[code] = name
    called = traced_step(tmp_path)
    missing = [f"{c.co_filename}:{c.co_firstlineno} {c.co_name}" for c in called if c not in owners]
    assert missing == [], "the step calls functions the tour leaves out"
    order = list(dict.fromkeys(owners[c] for c in called))
    assert sorted(set(names) - set(order)) == [], "the tour names functions the step does not call"
    assert order == names, "the tour's order is not the order of the first calls"


def test_the_tours_counts_are_those_of_the_source():
    functions = [resolve(name) for name in tour_names()]
    files = {inspect.getsourcefile(f) for f in functions}
    lines = sum(len(inspect.getsourcelines(f)[0]) for f in functions)
    stated = re.search(r"<!-- tour-count -->(.*?)<!-- /tour-count -->", TOUR.read_text(encoding="utf-8")).group(1)
    assert stated == (f"{len(functions)} functions in {len(files)} files, {lines} lines of source "
                      f"(docstrings included)")


@pytest.mark.parametrize("name", ["aevb_np.reparam.gaussian_sample", "aevb_np.reparam.gaussian_sample_backward",
                                  "aevb_np.optim.Adagrad.step"])
def test_the_step_runs_the_functions_the_notebooks_teach(name):
    """Eq. (10)'s sample and its backward, and §5's Adagrad, are on the step's path (the tour
    test above checks the path), and the plain Adagrad is named beside the fast one."""
    assert name in tour_names()
    assert inspect.isfunction(resolve("aevb_np.optim.adagrad_step"))
    assert "`aevb_np.optim.adagrad_step`" in TOUR.read_text(encoding="utf-8")
