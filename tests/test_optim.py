"""Adagrad and SGD follow the gradient of (N/M)·Σ elbo + log p(θ) exactly as documented."""

import numpy as np
import pytest

from aevb_np import optim, params as P
from aevb_np.errors import ConfigError
from tests.conftest import plain_adagrad, small_model


def textbook_adagrad(p, g, G, lr, scale, wd, eps):
    """Duchi et al.'s form: G starts at 0 and eps is added to √G."""
    d = scale * g - (p if wd else 0.0)
    G = G + d * d
    return p + lr * d / (np.sqrt(G) + eps), G


def _random_grads(params, r):
    """A flat-backed gradient dict of standard normals, and its flat-name view."""
    grads = P.zeros_like(params)
    for v in P.to_flat_dict(grads).values():
        v[...] = r.normal(size=v.shape)
    return grads, P.to_flat_dict(grads)


@pytest.mark.parametrize("weight_decay", [True, False])
def test_adagrad_matches_plain_formula_over_several_steps(weight_decay):
    params, _, r = small_model("bernoulli")
    ref = P.to_flat_dict(P.copy(params))
    acc = {k: np.full_like(v, 1e-8) for k, v in ref.items()}
    opt = optim.Adagrad(lr=0.05, scale=30.0, weight_decay=weight_decay)
    for _ in range(4):
        grads, flat_g = _random_grads(params, r)
        for k in ref:
            ref[k], acc[k] = plain_adagrad(ref[k], flat_g[k], acc[k], 0.05, 30.0, weight_decay)
        opt.step(params, grads)
    for k, v in P.to_flat_dict(params).items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-13, atol=1e-15)
    for k, v in opt.state_dict().items():
        np.testing.assert_allclose(v, acc[k], rtol=1e-13)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_eps_in_the_accumulator_agrees_with_the_textbook_form(scale):
    """Starting G at eps (one pass fewer) moves θ as √G + eps does, to ~eps/√G relative."""
    params, _, r = small_model("bernoulli")
    ref = P.to_flat_dict(P.copy(params))
    acc = {k: np.zeros_like(v) for k, v in ref.items()}
    opt = optim.Adagrad(lr=0.05, scale=scale)
    first_G = None
    for _ in range(5):
        grads, flat_g = _random_grads(params, r)
        for k in ref:
            ref[k], acc[k] = textbook_adagrad(ref[k], flat_g[k], acc[k], 0.05, scale, True, 1e-8)
        first_G = first_G or {k: v.copy() for k, v in acc.items()}
        opt.step(params, grads)
    for k, v in P.to_flat_dict(params).items():
        # Per step |lr·d/√(G+eps) − lr·d/(√G+eps)| <= lr·eps·(1/√G + 1/(2G)) since |d| <= √G,
        # and G only grows: five steps at the first step's G bound the total.
        G1 = first_G[k]
        bound = 5 * 0.05 * 1e-8 * (1 / np.sqrt(G1) + 0.5 / G1)
        assert np.all(np.abs(v - ref[k]) <= bound + 1e-15), k


def test_adagrad_flat_path_equals_per_array_path():
    """A dict of separate arrays (no shared buffer) is updated identically to the flat views."""
    params, _, r = small_model("gaussian")
    loose = {g: {k: v.copy() for k, v in a.items()} for g, a in params.items()}
    assert P.flat_buffer(params) is not None and P.flat_buffer(loose) is None
    grads = {g: {k: r.normal(size=v.shape) for k, v in a.items()} for g, a in params.items()}
    a, b = optim.Adagrad(0.1, scale=7.0), optim.Adagrad(0.1, scale=7.0)
    for _ in range(3):
        a.step(params, grads)
        b.step(loose, grads)
    for g in params:
        for k in params[g]:
            np.testing.assert_array_equal(params[g][k], loose[g][k])


def test_first_adagrad_step_moves_each_entry_by_lr_times_sign():
    params, _, _ = small_model("bernoulli")
    before = P.copy(params)
    grads = P.zeros_like(params)
    grads["theta"]["b2"][...] = np.linspace(-3, 3, grads["theta"]["b2"].size) + 0.1
    opt = optim.Adagrad(lr=0.02, scale=1.0, weight_decay=False)
    opt.step(params, grads)
    np.testing.assert_allclose(params["theta"]["b2"] - before["theta"]["b2"], 0.02 * np.sign(grads["theta"]["b2"]), rtol=1e-6)
    np.testing.assert_array_equal(params["phi"]["W3"], before["phi"]["W3"])


def test_weight_decay_alone_shrinks_toward_zero():
    params, _, _ = small_model("bernoulli")
    grads = P.zeros_like(params)
    before = P.copy(params)
    optim.SGD(lr=0.1, scale=1.0).step(params, grads)
    np.testing.assert_allclose(params["phi"]["W3"], 0.9 * before["phi"]["W3"], rtol=1e-14)


def test_adagrad_state_round_trips_for_exact_resume():
    params, _, r = small_model("bernoulli")
    grads = {g: {k: r.normal(size=v.shape) for k, v in a.items()} for g, a in params.items()}
    a = optim.Adagrad(0.1, scale=3.0)
    a.step(params, grads)
    b = optim.Adagrad(0.1, scale=3.0)
    b.load_state_dict(a.state_dict(), params)
    p2 = P.copy(params)
    a.step(params, grads)
    b.step(p2, grads)
    for g in params:
        for k in params[g]:
            np.testing.assert_array_equal(params[g][k], p2[g][k])


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate_is_a_config_error(lr):
    with pytest.raises(ConfigError, match="lr must be a positive finite number"):
        optim.Adagrad(lr)


@pytest.mark.parametrize("weight_decay", [True, False])
def test_a_scaled_head_is_adagrad_on_u_equal_W_over_s_written_in_W(weight_decay):
    """scaled_heads {'phi/W5': s}: W5 moves as s·u, with u = W5/s stepped by plain Adagrad on ∂/∂u = s·∂/∂W5
    under u's own N(0, I) prior (the authors' logvar_factor); every other array is untouched by it."""
    s = 0.1
    params, _, r = small_model("bernoulli")
    plain = P.copy(params)  # the same run without scaled heads: arrays other than W5 must not care
    u = P.to_flat_dict(P.copy(params))["phi/W5"] / s
    G_u = np.full_like(u, 1e-8)
    opt = optim.Adagrad(lr=0.05, scale=30.0, weight_decay=weight_decay, scaled_heads={"phi/W5": s})
    ref_opt = optim.Adagrad(lr=0.05, scale=30.0, weight_decay=weight_decay)
    for _ in range(4):
        grads, flat_g = _random_grads(params, r)
        u, G_u = plain_adagrad(u, s * flat_g["phi/W5"], G_u, 0.05, 30.0, weight_decay)
        opt.step(params, grads)
        ref_opt.step(plain, grads)
    got, ref = P.to_flat_dict(params), P.to_flat_dict(plain)
    np.testing.assert_allclose(got["phi/W5"], s * u, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(opt.state_dict()["phi/W5"], G_u, rtol=1e-13)
    assert not np.allclose(got["phi/W5"], ref["phi/W5"])  # it does change W5's steps
    for k in got:
        if k != "phi/W5":
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


@pytest.mark.parametrize("scaled_heads", [None, {"phi/W5": 0.1}])
def test_warmup_steps_only_accumulate_then_adagrad_goes_on_from_the_filled_accumulators(scaled_heads):
    """warmup K (anglepy wzoptim step_va): K steps add g² to G and leave θ alone; then plain Adagrad."""
    params, _, r = small_model("gaussian")
    start = P.to_flat_dict(P.copy(params))
    ref = P.to_flat_dict(P.copy(params))
    acc = {k: np.full_like(v, 1e-8) for k, v in ref.items()}
    s = (scaled_heads or {}).get("phi/W5")
    if s is not None:
        ref["phi/W5"] = ref["phi/W5"] / s  # the reference steps u = W5/s
    opt = optim.Adagrad(lr=0.05, scale=30.0, weight_decay=True, scaled_heads=scaled_heads, warmup=3)
    for step in range(6):
        grads, flat_g = _random_grads(params, r)
        for k in ref:
            g = flat_g[k] * (s if k == "phi/W5" and s is not None else 1.0)
            new, acc[k] = plain_adagrad(ref[k], g, acc[k], 0.05, 30.0, True)
            if step >= 3:
                ref[k] = new
        opt.step(params, grads)
        if step < 3:
            for k, v in P.to_flat_dict(params).items():
                np.testing.assert_array_equal(v, start[k], err_msg=k)
        assert int(opt.state_dict()["warmup/done"]) == min(step + 1, 3)
    if s is not None:
        ref["phi/W5"] = ref["phi/W5"] * s
    for k, v in P.to_flat_dict(params).items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-12, atol=1e-15, err_msg=k)
    # An exact resume: a fresh optimizer loaded from the state continues identically.
    state = {k: v.copy() for k, v in opt.state_dict().items()}
    again = optim.Adagrad(lr=0.05, scale=30.0, weight_decay=True, scaled_heads=scaled_heads, warmup=3)
    again.load_state_dict(state, params)
    copy = P.copy(params)
    grads, _ = _random_grads(params, r)
    opt.step(params, grads)
    again.step(copy, grads)
    for k, v in P.to_flat_dict(params).items():
        np.testing.assert_array_equal(v, P.to_flat_dict(copy)[k], err_msg=k)


def test_warmup_zero_is_the_default_and_keeps_the_state_as_before():
    params, _, r = small_model("bernoulli")
    opt, default = optim.Adagrad(lr=0.05, warmup=0), optim.Adagrad(lr=0.05)
    copy = P.copy(params)
    grads, _ = _random_grads(params, r)
    opt.step(params, grads)
    default.step(copy, grads)
    assert "warmup/done" not in opt.state_dict()
    for k, v in P.to_flat_dict(params).items():
        np.testing.assert_array_equal(v, P.to_flat_dict(copy)[k], err_msg=k)


@pytest.mark.parametrize("warmup", [-1, 1.5, True, "10"])
def test_a_bad_warmup_is_a_config_error(warmup):
    with pytest.raises(ConfigError, match="warmup"):
        optim.Adagrad(warmup=warmup)


def test_a_bad_scaled_head_factor_is_a_config_error():
    with pytest.raises(ConfigError, match="scaled_heads"):
        optim.Adagrad(scaled_heads={"phi/W5": 0.0})


@pytest.mark.parametrize("threads", [1, 2])
def test_the_plain_adagrad_step_and_the_fast_one_agree_bit_for_bit_over_300_aevb_steps_on_mnist(threads):
    """optim.adagrad_step (§5 in three lines) and Adagrad.step (chunked, in place, threaded) run
    side by side on 300 real MNIST minibatches of AEVB (estimator B, N/M = 20, the prior as
    weight decay): the parameters and accumulators are equal to the last bit at every step."""
    from aevb_np import bounds, model
    from aevb_np.data import load_mnist

    x = load_mnist("train")[0][:2000]
    rng = np.random.default_rng(5)
    fast = model.init_params(784, 50, 5, "bernoulli", rng)
    plain = P.copy(fast)
    G = P.zeros_like(plain)
    for arrays in G.values():
        for a in arrays.values():
            a.fill(1e-8)
    opt = optim.Adagrad(lr=0.02, scale=20.0, weight_decay=True, threads=threads)
    for step in range(300):
        xb = x[rng.choice(2000, 100, replace=False)]
        eps = rng.standard_normal((1, 100, 5))
        _, g_fast = bounds.estimator_B(fast, xb, eps)
        _, g_plain = bounds.estimator_B(plain, xb, eps)
        opt.step(fast, g_fast)
        optim.adagrad_step(plain, g_plain, G, lr=0.02, scale=20.0, weight_decay=True)
        for group in fast:
            for name in fast[group]:
                np.testing.assert_array_equal(fast[group][name], plain[group][name], err_msg=f"{group}/{name} {step}")
    for key, acc in opt.state_dict().items():
        group, name = key.split("/")
        np.testing.assert_array_equal(acc, G[group][name], err_msg=key)
    assert not np.array_equal(fast["theta"]["W2"], model.init_params(784, 50, 5, "bernoulli",
                                                                     np.random.default_rng(5))["theta"]["W2"])
