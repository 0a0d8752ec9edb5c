"""Every speed trick agrees with the plain form it replaces, and the fast step allocates nothing.

The fast training step (issue 6) writes gradients into a preallocated flat buffer
(``grads=``), keeps its intermediate arrays in a caller-owned ``workspace``, computes the
Bernoulli log-likelihood and its gradient from one softplus, and updates the flat
parameter buffer chunk by chunk (optionally on two threads).  Each test below pins one of
those to the textbook formula, in float64, or checks a property the speed work promises
(no silent float32 → float64 upcast, no large allocation once warm).
"""

import tracemalloc

import numpy as np
import pytest

from aevb_np import bounds, layers, model, optim
from aevb_np import distributions as dist
from aevb_np import params as P
from aevb_np.errors import ConfigError, ShapeError
from tests.conftest import plain_adagrad, small_model

EXACT = dict(rtol=1e-12, atol=1e-12)


def plain_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------------------- elementwise algebra


def test_fused_bernoulli_value_and_gradient_match_the_plain_formulas():
    r = np.random.default_rng(0)
    x = r.uniform(size=(6, 50))
    x[0] = (x[0] < 0.5).astype(float)  # binary rows and grey levels
    # Textbook form Σ x log y + (1 − x) log(1 − y), y = sigmoid(a), and x − y, for |a| <~ 8
    # (beyond that log(1 − y) itself loses digits, which is why the package avoids it).
    a = r.normal(scale=2.0, size=(3, 6, 50))
    ll, grad = dist.bernoulli_log_likelihood_and_grad(x, a)
    y = plain_sigmoid(a)
    np.testing.assert_allclose(ll, np.sum(x * np.log(y) + (1 - x) * np.log1p(-y), axis=-1), **EXACT)
    np.testing.assert_allclose(grad, x - y, **EXACT)
    # The package's own unfused pair, also at logits of size ~30.
    a = r.normal(scale=10.0, size=(3, 6, 50))
    ll, grad = dist.bernoulli_log_likelihood_and_grad(x, a)
    np.testing.assert_allclose(ll, dist.bernoulli_log_likelihood(x, a), **EXACT)
    np.testing.assert_allclose(grad, dist.bernoulli_log_likelihood_grad(x, a), **EXACT)


def test_fused_bernoulli_is_exact_and_finite_at_huge_logits():
    x = np.array([[0.0, 1.0, 0.3, 0.0, 1.0, 0.7]])
    a = np.array([[-1e4, -1e4, -1e4, 1e4, 1e4, 1e4]])
    ll, grad = dist.bernoulli_log_likelihood_and_grad(x, a)
    # sigmoid(−1e4) = 0 and sigmoid(1e4) = 1 exactly in float64.
    np.testing.assert_array_equal(grad, x - np.array([[0, 0, 0, 1, 1, 1]]))
    expected = np.sum(x * a - np.maximum(a, 0.0))  # softplus(a) = max(a, 0) here
    assert np.isfinite(ll).all() and abs(ll[0] - expected) < 1e-9


def test_fused_bernoulli_writes_into_the_given_buffers():
    r = np.random.default_rng(1)
    x, a = r.uniform(size=(4, 9)), r.normal(size=(1, 4, 9))
    grad, work = np.empty_like(a), np.empty_like(a)
    _, g = dist.bernoulli_log_likelihood_and_grad(x, a, grad=grad, work=work)
    assert g is grad
    np.testing.assert_allclose(work, np.logaddexp(0.0, a), **EXACT)  # work holds softplus(a)


def test_softplus_with_out_and_work_matches_logaddexp():
    a = np.concatenate([np.linspace(-50, 50, 1001), [-1e4, 1e4, 0.0]])
    out, work = np.empty_like(a), np.empty_like(a)
    assert layers.softplus(a, out=out, work=work) is out
    np.testing.assert_allclose(out, np.logaddexp(0.0, a), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(layers.softplus(a), out)  # same arithmetic without buffers


def test_tanh_backward_in_three_in_place_passes_matches_the_plain_form():
    r = np.random.default_rng(2)
    h, dout = np.tanh(r.normal(size=(5, 7))), r.normal(size=(5, 7))
    out = np.empty_like(h)
    assert layers.tanh_backward(dout, h, out=out) is out
    np.testing.assert_allclose(out, dout * (1.0 - h * h), **EXACT)
    h_copy = h.copy()
    layers.tanh_backward(dout, h_copy, out=h_copy)  # documented: out may be h itself
    np.testing.assert_allclose(h_copy, out, **EXACT)


def test_affine_backward_writes_gradients_into_given_arrays():
    r = np.random.default_rng(3)
    h, W, dout = r.normal(size=(6, 4)), r.normal(size=(3, 4)), r.normal(size=(6, 3))
    dh, dW, db = np.empty((6, 4)), np.empty((3, 4)), np.empty(3)
    got = layers.affine_backward(dout, h, W, dh=dh, dW=dW, db=db)
    assert got[0] is dh and got[1] is dW and got[2] is db
    np.testing.assert_allclose(dW, dout.T @ h, **EXACT)
    np.testing.assert_allclose(db, dout.sum(axis=0), **EXACT)
    np.testing.assert_allclose(dh, dout @ W, **EXACT)


# ----------------------------------------------------------------------------- estimator fast path


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
@pytest.mark.parametrize("L", [1, 3])
def test_estimator_with_grads_and_workspace_equals_the_plain_call(decoder, estimator, L):
    params, x, r = small_model(decoder, seed=L)
    fn = bounds.estimator_A if estimator == "A" else bounds.estimator_B
    grads, workspace = P.zeros_like(params), {}
    for trial in range(2):  # the second call reuses the workspace filled by the first
        eps = r.standard_normal((L, x.shape[0], 3))
        elbo_plain, g_plain = fn(params, x, eps)
        elbo_fast, g_fast = fn(params, x, eps, grads=grads, workspace=workspace)
        assert g_fast is grads
        np.testing.assert_array_equal(elbo_fast, elbo_plain)
        for g, arrays in g_plain.items():
            for k, v in arrays.items():
                np.testing.assert_allclose(g_fast[g][k], v, rtol=1e-13, atol=1e-15, err_msg=f"{g}.{k}")
    assert workspace, "the workspace should hold the intermediate arrays"


def test_log_likelihood_backward_with_row_weights_matches_the_plain_chain_rule():
    params, x, r = small_model("bernoulli", seed=4)
    theta = params["theta"]
    z = r.normal(size=(2 * x.shape[0], 3))
    dll = r.uniform(0.1, 2.0, size=(2, x.shape[0]))
    out = model.decode(theta, z)
    dz, g = model.log_likelihood_backward(theta, z, x, out, dll)
    # Plain chain rule written out: dlogits = w (x − sigmoid(a)), then the two layers.
    a, h = out["logits"], out["h"]
    dlogits = dll.reshape(-1, 1) * (np.tile(x, (2, 1)) - plain_sigmoid(a))
    da1 = (dlogits @ theta["W2"]) * (1 - h**2)
    np.testing.assert_allclose(g["W2"], dlogits.T @ h, **EXACT)
    np.testing.assert_allclose(g["b2"], dlogits.sum(0), **EXACT)
    np.testing.assert_allclose(g["W1"], da1.T @ z, **EXACT)
    np.testing.assert_allclose(dz, da1 @ theta["W1"], **EXACT)


def test_grads_land_in_one_flat_buffer_that_adagrad_updates_in_place():
    params, x, r = small_model("bernoulli")
    grads = P.zeros_like(params)
    flat = P.flat_buffer(grads)
    eps = r.standard_normal((1, x.shape[0], 3))
    _, out = bounds.estimator_B(params, x, eps, grads=grads, workspace={})
    assert P.flat_buffer(out) is flat
    _, plain = bounds.estimator_B(params, x, eps)
    np.testing.assert_allclose(flat, np.concatenate([v.ravel() for v in P.to_flat_dict(plain).values()]),
                               rtol=1e-13, atol=1e-15)


def test_lower_bound_with_its_workspace_equals_batch_by_batch_estimates():
    params, x, _ = small_model("bernoulli", M=7)
    got = bounds.lower_bound(params, x, np.random.default_rng(5), batch_size=3)
    rng = np.random.default_rng(5)
    want = np.concatenate([bounds.estimate(params, x[s : s + 3], rng, need_grad=False)[0] for s in range(0, 7, 3)])
    np.testing.assert_array_equal(got, want)


def test_grads_path_rejects_a_silent_dtype_mix():
    params, x, r = small_model("bernoulli")
    p32 = P.from_flat_dict(P.to_flat_dict(params), dtype=np.float32)
    eps = r.standard_normal((1, x.shape[0], 3)).astype(np.float32)
    with pytest.raises(ShapeError, match="x must have the parameters' dtype float32"):
        bounds.estimator_B(p32, x, eps, grads=P.zeros_like(p32))  # x is float64
    with pytest.raises(ShapeError, match=r"grads\['phi'\]\['W3'\]"):
        bounds.estimator_B(p32, x.astype(np.float32), eps, grads=P.zeros_like(params))  # float64 grads
    with pytest.raises(ShapeError, match="W2"):
        bad = P.zeros_like(p32)
        bad["theta"]["W2"] = np.zeros((3, 3), np.float32)
        bounds.estimator_B(p32, x.astype(np.float32), eps, grads=bad)


# ----------------------------------------------------------------------------- float32 end to end


def _all_arrays(obj):
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _all_arrays(v)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _all_arrays(v)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_float32_training_tracks_float64_from_the_same_start_and_noise(decoder):
    """300 Adagrad steps (grad_scale = N/M as in training) in both dtypes, same init, batches
    and eps: the float32 run's minibatch bounds stay within 0.1 % of the float64 run's.

    (Runs with different seeds differ by several nats at this stage: a systematic float32
    error, not noise, is what this catches.)
    """
    r = np.random.default_rng(11)
    n_x, M = 64, 20
    if decoder == "bernoulli":
        x = (r.uniform(size=(400, n_x)) < r.uniform(0.1, 0.9, size=n_x)).astype(np.float64)
    else:
        x = r.beta(2.0, 3.0, size=(400, n_x))
    p64 = model.init_params(n_x, 30, 4, decoder, r, init_std=0.1)
    p32 = P.from_flat_dict(P.to_flat_dict(p64), dtype=np.float32)
    runs = {}
    for name, p in (("64", p64), ("32", p32)):
        dtype = P.flat_buffer(p).dtype
        xs, batches = x.astype(dtype), np.random.default_rng(12)
        grads, ws, opt = P.zeros_like(p), {}, optim.Adagrad(0.01, scale=1.0)
        bounds_seen = []
        for _ in range(300):
            idx = batches.integers(0, len(x), M)
            eps = batches.standard_normal((1, M, 4)).astype(dtype)
            elbo, _ = bounds.estimator_B(p, xs[idx], eps, grads=grads, workspace=ws, grad_scale=len(x) / M)
            opt.step(p, grads)
            bounds_seen.append(float(elbo.mean()))
        runs[name] = np.array(bounds_seen)
    assert runs["64"][-50:].mean() > runs["64"][:50].mean() + 1.0, "the run should learn something"
    np.testing.assert_allclose(runs["32"], runs["64"], rtol=1e-3)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_float32_step_keeps_every_intermediate_in_float32(decoder):
    params, x, r = small_model(decoder)
    p32 = P.from_flat_dict(P.to_flat_dict(params), dtype=np.float32)
    x32 = x.astype(np.float32)
    eps = r.standard_normal((2, x.shape[0], 3)).astype(np.float32)
    phi, theta = p32["phi"], p32["theta"]
    ws: dict = {}
    # Each stage of the forward and backward pass, as the estimator chains them.
    enc = model.encode(phi, x32, ws)
    z = (enc[0] + np.exp(0.5 * enc[1]) * eps).reshape(-1, 3)
    out = model.decode(theta, z, ws)
    ll, dout = model.log_likelihood_and_grad(x32, out, ws)
    dz, gt = model.decode_backward(theta, z, out, dout, workspace=ws)
    gp = model.encode_backward(phi, x32, enc[2], enc[0], enc[1], workspace=ws)
    kl = (dist.neg_kl_standard_normal(enc[0], enc[1]), dist.neg_kl_standard_normal_grad(enc[0], enc[1]))
    opt = optim.Adagrad(0.01, scale=10.0)
    grads = P.zeros_like(p32)
    for fn in (bounds.estimator_A, bounds.estimator_B):
        elbo, _ = fn(p32, x32, eps, grads=grads, workspace=ws)
        opt.step(p32, grads)
        lb = bounds.lower_bound(p32, x32, np.random.default_rng(0))
    arrays = list(_all_arrays([enc, z, out, ll, dout, dz, gt, gp, kl, ws, grads, elbo, lb, p32, opt.accumulators,
                               opt._chunks._scratch]))
    assert len(arrays) > 40
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
@pytest.mark.parametrize("L", [1, 3])
def test_grad_scale_multiplies_every_gradient_and_leaves_the_bound(decoder, estimator, L):
    """grad_scale = N/M applied where backprop starts equals scaling the 816k gradients after."""
    params, x, r = small_model(decoder, seed=10 + L)
    fn = bounds.estimator_A if estimator == "A" else bounds.estimator_B
    eps = r.standard_normal((L, x.shape[0], 3))
    elbo, g = fn(params, x, eps)
    elbo_s, g_s = fn(params, x, eps, grads=P.zeros_like(params), workspace={}, grad_scale=600.0)
    np.testing.assert_array_equal(elbo_s, elbo)
    for grp, arrays in g.items():
        for k, v in arrays.items():
            np.testing.assert_allclose(g_s[grp][k], 600.0 * v, rtol=1e-12, atol=1e-12, err_msg=f"{grp}.{k}")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_grad_scale_must_be_positive_and_finite(bad):
    params, x, r = small_model("bernoulli")
    with pytest.raises(ConfigError, match="grad_scale must be a positive finite number"):
        bounds.estimator_B(params, x, r.standard_normal((1, x.shape[0], 3)), grad_scale=bad)


# ----------------------------------------------------------------------------- allocation and the optimizer


def test_warm_fast_step_allocates_no_large_array():
    """Once warm, a step of the MNIST model allocates only a few (M, Nz) temporaries.

    The plain call allocates every intermediate and 816k gradients (> 6 MB); the warm fast
    step must stay below half of one (M, H) = (100, 500) array (200 kB), i.e. it allocates
    nothing of the size of a hidden layer or a weight matrix.
    """
    rng = np.random.default_rng(6)
    params = model.init_params(784, 500, 20, "bernoulli", rng)
    x, eps = rng.uniform(size=(100, 784)), rng.standard_normal((1, 100, 20))
    grads, ws = P.zeros_like(params), {}
    opt = optim.Adagrad(0.02, scale=1.0)  # as in training: N/M is applied by the estimator

    def fast_step():
        bounds.estimator_B(params, x, eps, validate=False, grads=grads, workspace=ws, grad_scale=600.0)
        opt.step(params, grads)

    def peak_bytes(fn):
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    fast_step()
    fast = peak_bytes(fast_step)
    plain = peak_bytes(lambda: bounds.estimator_B(params, x, eps, validate=False))
    assert plain > 6_000_000  # the plain call returns 816k fresh float64 gradients
    assert fast < 100 * 500 * 8 / 2, f"warm fast step allocated {fast} bytes at peak (plain call: {plain})"


@pytest.mark.parametrize("threads", [1, 2])
def test_chunked_adagrad_matches_the_plain_formula_across_chunk_boundaries(threads):
    rng = np.random.default_rng(7)
    params = model.init_params(784, 100, 5, "bernoulli", rng, init_std=0.5)  # ~160k entries
    flat = P.flat_buffer(params)
    assert flat.size > 4 * (optim._CHUNK_BYTES // 8), "the test needs several chunks per thread"
    p_ref, G_ref = flat.copy(), np.full_like(flat, 1e-8)
    opt = optim.Adagrad(0.05, scale=30.0, threads=threads)
    for _ in range(3):
        grads = P.zeros_like(params)
        P.flat_buffer(grads)[...] = rng.normal(size=flat.size)
        p_ref, G_ref = plain_adagrad(p_ref, P.flat_buffer(grads), G_ref, 0.05, 30.0, True)
        opt.step(params, grads)
    np.testing.assert_allclose(flat, p_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(P.flat_buffer(opt.accumulators), G_ref, rtol=1e-13)


def test_two_threads_update_bit_for_bit_like_one():
    rng = np.random.default_rng(8)
    a = model.init_params(784, 100, 5, "bernoulli", rng)
    b = P.copy(a)
    one, two = optim.Adagrad(0.02, scale=50.0), optim.Adagrad(0.02, scale=50.0, threads=2)
    sgd1, sgd2 = optim.SGD(1e-3, scale=50.0), optim.SGD(1e-3, scale=50.0, threads=2)
    for _ in range(3):
        grads = P.zeros_like(a)
        P.flat_buffer(grads)[...] = rng.normal(size=P.flat_buffer(grads).size)
        one.step(a, grads)
        two.step(b, grads)
        sgd1.step(a, grads)
        sgd2.step(b, grads)
    np.testing.assert_array_equal(P.flat_buffer(a), P.flat_buffer(b))


def test_chunked_sgd_matches_the_plain_formula():
    rng = np.random.default_rng(9)
    params = model.init_params(784, 100, 5, "bernoulli", rng, init_std=0.5)
    before = P.flat_buffer(params).copy()
    grads = P.zeros_like(params)
    g = P.flat_buffer(grads)
    g[...] = rng.normal(size=g.size)
    optim.SGD(lr=0.01, scale=4.0).step(params, grads)
    np.testing.assert_allclose(P.flat_buffer(params), before + 0.01 * (4.0 * g - before), rtol=1e-14, atol=1e-16)


def test_optimizer_rejects_a_bad_thread_count():
    from aevb_np.errors import ConfigError

    with pytest.raises(ConfigError, match="threads must be a positive integer, got 0"):
        optim.Adagrad(0.02, threads=0)


# ----------------------------------------------------------------------------- HMC's target (App. D, App. E)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_decode_backward_z_gives_the_same_bits_as_decode_backward(decoder):
    params, x, r = small_model(decoder)
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    out = model.decode(theta, z)
    _, dout = model.log_likelihood_and_grad(x, out)
    dz_full, _ = model.decode_backward(theta, z, out, dout)
    dz = model.decode_backward_z(theta, z, out, dout)
    np.testing.assert_array_equal(dz, dz_full)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_posterior_target_agrees_with_its_plain_form_over_repeated_calls(decoder):
    """The fast target (one softplus, backward to z only, reused buffers) against the plain one,
    over several calls so that a buffer reused between calls would show."""
    from aevb_np import marginal

    params, x, r = small_model(decoder, seed=3)
    fast = marginal.posterior_target(params["theta"], x)
    plain = marginal.posterior_target_plain(params["theta"], x)
    kept = []
    for k in range(4):
        z = r.standard_normal((x.shape[0], 3)) * (1 + k)
        lp, g = fast(z)
        lp0, g0 = plain(z)
        kept.append((lp, g, lp0, g0))
        np.testing.assert_allclose(lp, lp0, rtol=1e-13, atol=1e-10)
        np.testing.assert_array_equal(g, g0)  # dz: the same products in the same order
    for lp, g, lp0, g0 in kept:  # earlier results not overwritten by later calls
        np.testing.assert_allclose(lp, lp0, rtol=1e-13, atol=1e-10)
        np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_posterior_target_in_float32_stays_within_1e_4_nats_of_float64(decoder):
    """Appendix D's evaluations run the decoder in float32 (issue 25); the log-joint HMC and the
    harmonic mean see, and its gradient, stay close to float64's."""
    from aevb_np import marginal

    params, x, r = small_model(decoder, seed=4)
    z = r.standard_normal((x.shape[0], 3))
    lp64, g64 = marginal.posterior_target(params["theta"], x)(z)
    lp32, g32 = marginal.posterior_target(params["theta"], x, dtype=np.float32)(z)
    assert lp32.dtype == g32.dtype == np.float64
    np.testing.assert_allclose(lp32, lp64, atol=1e-4, rtol=0)
    np.testing.assert_allclose(g32, g64, atol=1e-3 * np.abs(g64).max(), rtol=0)
