"""The nested parameter dict: views into one buffer, round trips, and shape checks."""

import numpy as np
import pytest

from aevb_np import model, params as P
from aevb_np.errors import ConfigError, ShapeError


def test_init_params_have_paper_names_orientation_and_std(rng):
    params = model.init_params(784, 500, 20, "bernoulli", rng)
    assert P.shapes_of(params) == {
        "phi": {"W3": (500, 784), "b3": (500,), "W4": (20, 500), "b4": (20,), "W5": (20, 500), "b5": (20,)},
        "theta": {"W1": (500, 20), "b1": (500,), "W2": (784, 500), "b2": (784,)},
    }
    flat = P.flat_buffer(params)
    assert flat is not None and flat.size == 2 * 784 * 500 + 784 + 2 * 500 + 3 * 20 * 500 + 2 * 20 == 815_824
    # std 0.01 (our reading of N(0, 0.01)): the sample std of ~800k draws is within 0.5 % of it.
    assert abs(flat.std() - 0.01) < 5e-5 and abs(flat.mean()) < 5e-5


def test_gaussian_decoder_uses_appendix_c2_names(rng):
    params = model.init_params(560, 200, 5, "gaussian", rng)
    assert sorted(params["theta"]) == ["W3", "W4", "W5", "b3", "b4", "b5"]
    assert params["theta"]["W4"].shape == (560, 200) and params["theta"]["W3"].shape == (200, 5)
    assert model.architecture(params) == (560, 200, 5, "gaussian")


def test_flat_dict_round_trip_and_copy_are_independent(rng):
    params = model.init_params(12, 7, 3, "gaussian", rng)
    back = P.from_flat_dict(P.to_flat_dict(params))
    assert P.flat_buffer(back) is not None
    c = P.copy(params)
    c["phi"]["W3"][0, 0] += 1.0
    assert params["phi"]["W3"][0, 0] != c["phi"]["W3"][0, 0]
    for g in params:
        for k in params[g]:
            np.testing.assert_array_equal(params[g][k], back[g][k])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: p["theta"].pop("W2"), r"missing \['W2'\]"),
        (lambda p: p["phi"].__setitem__("W9", np.zeros(2)), r"unexpected \['W9'\]"),
        (lambda p: p["phi"].__setitem__("W3", np.zeros((7, 11))), r"params\['phi'\]\['W3'\] must have shape \(7, 12\), got \(7, 11\)"),
        (lambda p: p.pop("theta"), "missing the group 'theta'"),
    ],
)
def test_check_params_names_the_bad_array(rng, edit, message):
    params = model.init_params(12, 7, 3, "bernoulli", rng)
    edit(params)
    with pytest.raises(ShapeError, match=message):
        P.check_params(params, model.param_shapes(12, 7, 3, "bernoulli"))


@pytest.mark.parametrize("args", [(0, 7, 3), (12, -1, 3), (12, 7, 2.5), (12, 7, True)])
def test_param_shapes_rejects_non_positive_sizes(args):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        model.param_shapes(*args)


def test_init_params_requires_a_generator():
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator"):
        model.init_params(12, 7, 3, "bernoulli", None)
