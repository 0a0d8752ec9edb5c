"""Wake-sleep (Hinton et al. 1995), the baseline of Kingma & Welling §5: gradients, dreams, training."""

import numpy as np
import pytest
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from aevb_np import bounds, data, model, optim
from aevb_np import params as P
from aevb_np.baselines import wake_sleep as ws
from aevb_np.errors import ConfigError, ShapeError
from aevb_np.gradcheck import max_relative_error
from tests.conftest import small_model

TOL = 1e-6
DECODERS = ["bernoulli", "gaussian"]


def _encoder_by_hand(phi, x):
    """Appendix C.2 encoder in plain numpy: (mu, standard deviation)."""
    h = np.tanh(x @ phi["W3"].T + phi["b3"])
    return h @ phi["W4"].T + phi["b4"], np.sqrt(np.exp(h @ phi["W5"].T + phi["b5"]))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("decoder", DECODERS)
def test_wake_objective_gradient_matches_finite_differences(decoder):
    params, x, r = small_model(decoder, seed=11)
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    value, grads = ws.wake_objective(theta, x, z)
    assert value.shape == (x.shape[0],)
    assert set(grads) == set(theta)
    for name, array in theta.items():
        assert grads[name].shape == array.shape
        err = max_relative_error(lambda: ws.wake_objective(theta, x, z, need_grad=False)[0].sum(), array, grads[name])
        assert err < TOL, f"wake {decoder}: d/dtheta.{name} relative error {err:.2e}"


@pytest.mark.parametrize("decoder", DECODERS)
def test_sleep_objective_gradient_matches_finite_differences(decoder):
    params, _, r = small_model(decoder, seed=12)
    phi = params["phi"]
    z_dream, x_dream = ws.dream(params["theta"], 6, r)
    # A binary pixel that is 0 in every dream gives an exactly-zero W3 column, which would
    # compare 0 against finite-difference round-off; one grey row (any input is valid
    # for the encoder) rules that out.
    x_dream[-1] = r.uniform(0.1, 0.9, size=x_dream.shape[1])
    value, grads = ws.sleep_objective(phi, x_dream, z_dream)
    assert value.shape == (6,)
    assert set(grads) == set(phi)
    for name, array in phi.items():
        assert grads[name].shape == array.shape
        err = max_relative_error(lambda: ws.sleep_objective(phi, x_dream, z_dream, need_grad=False)[0].sum(), array, grads[name])
        assert err < TOL, f"sleep {decoder}: d/dphi.{name} relative error {err:.2e}"


# --------------------------------------------------------------------------- forward values


def test_wake_objective_is_log_joint_written_out():
    """log p(x|z) (Eq. 11, from probabilities) + log N(z; 0, I), not via the package's helpers."""
    params, x, r = small_model("bernoulli", seed=13)
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    y = 1 / (1 + np.exp(-(np.tanh(z @ theta["W1"].T + theta["b1"]) @ theta["W2"].T + theta["b2"])))
    expected = np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=1) + norm.logpdf(z).sum(axis=1)
    np.testing.assert_allclose(ws.wake_objective(theta, x, z)[0], expected, rtol=1e-12)


def test_sleep_objective_is_encoder_gaussian_log_density_at_the_dream_code():
    params, _, r = small_model("gaussian", seed=14)
    z_dream, x_dream = ws.dream(params["theta"], 7, r)
    mu, sd = _encoder_by_hand(params["phi"], x_dream)
    expected = norm.logpdf(z_dream, mu, sd).sum(axis=1)
    np.testing.assert_allclose(ws.sleep_objective(params["phi"], x_dream, z_dream)[0], expected, rtol=1e-12)


# --------------------------------------------------------------------------- one step


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("n_dream", [None, 10])
def test_step_takes_theta_from_wake_and_phi_from_sleep_with_documented_noise(decoder, n_dream):
    """Replay the documented draw order by hand: wake e (M, Nz), dream z (K, Nz), decoder noise."""
    params, x, _ = small_model(decoder, seed=15)
    M, K = x.shape[0], n_dream or x.shape[0]
    objectives, grads = ws.wake_sleep_gradients(params, x, np.random.default_rng(99), n_dream=n_dream)

    replay = np.random.default_rng(99)
    mu, sd = _encoder_by_hand(params["phi"], x)
    z_wake = mu + sd * replay.standard_normal((M, 3))  # Eq. (9), sampled only
    z_dream = replay.standard_normal((K, 3))
    x_dream = ws.sample_decoder(params["theta"], z_dream, replay)
    wake, g_theta = ws.wake_objective(params["theta"], x, z_wake)
    sleep, g_phi = ws.sleep_objective(params["phi"], x_dream, z_dream)

    np.testing.assert_allclose(objectives["wake"], wake, rtol=1e-12)
    np.testing.assert_allclose(objectives["sleep"], sleep, rtol=1e-12)
    for k in params["theta"]:
        np.testing.assert_allclose(grads["theta"][k], g_theta[k], rtol=1e-12, atol=1e-14)
    for k in params["phi"]:  # sleep sum rescaled by M/K (documented) so both halves weigh M datapoints
        np.testing.assert_allclose(grads["phi"][k], g_phi[k] * (M / K), rtol=1e-12, atol=1e-14)
    # One flat buffer, so Adagrad takes its fast path.
    assert P.flat_buffer(grads) is not None


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("n_dream", [None, 10])
def test_kept_grads_and_workspace_give_the_plain_step(decoder, n_dream):
    """The training loop's path (gradients into a kept flat buffer, scratch kept across steps)
    equals the plain call, step after step, and writes into the buffer it was given."""
    params, x, _ = small_model(decoder, seed=17)
    grads, workspace = P.zeros_like(params), {}
    for seed in (1, 2, 3):  # later calls reuse the workspace filled by the first
        obj_plain, g_plain = ws.wake_sleep_gradients(params, x, np.random.default_rng(seed), n_dream=n_dream)
        obj_fast, g_fast = ws.wake_sleep_gradients(params, x, np.random.default_rng(seed), n_dream=n_dream,
                                                   grads=grads, workspace=workspace)
        assert g_fast is grads
        for name in ("wake", "sleep"):
            np.testing.assert_allclose(obj_fast[name], obj_plain[name], rtol=1e-13)
        for group in params:
            for k in params[group]:
                np.testing.assert_allclose(g_fast[group][k], g_plain[group][k], rtol=1e-12, atol=1e-14)
    assert set(workspace) == {"wake", "sleep"} and workspace["wake"] and workspace["sleep"]


def test_same_seed_gives_identical_gradients_and_another_seed_does_not():
    params, x, _ = small_model("gaussian", seed=16)
    _, g1 = ws.wake_sleep_gradients(params, x, np.random.default_rng(5))
    _, g2 = ws.wake_sleep_gradients(params, x, np.random.default_rng(5))
    _, g3 = ws.wake_sleep_gradients(params, x, np.random.default_rng(6))
    for group in params:
        for k in params[group]:
            np.testing.assert_array_equal(g1[group][k], g2[group][k])
    assert not np.allclose(g1["phi"]["W4"], g3["phi"]["W4"])
    assert not np.allclose(g1["theta"]["W4"], g3["theta"]["W4"])


def test_bad_arguments_raise_named_errors():
    params, x, r = small_model("bernoulli", seed=17)
    with pytest.raises(ConfigError, match="n_dream must be a positive integer, got 0"):
        ws.wake_sleep_gradients(params, x, r, n_dream=0)
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator"):
        ws.wake_sleep_gradients(params, x, 0)
    with pytest.raises(ShapeError, match=r"z must have shape \(5, 3\), got \(5, 4\)"):
        ws.wake_objective(params["theta"], x, np.zeros((5, 4)))
    with pytest.raises(ShapeError, match=r"x_dream must have shape \(M, 12\), got \(5, 11\)"):
        ws.sleep_objective(params["phi"], np.zeros((5, 11)), np.zeros((5, 3)))


# --------------------------------------------------------------------------- dreams


def test_bernoulli_dreams_are_binary_with_pixel_means_sigmoid_logits_within_5_se():
    params, _, r = small_model("bernoulli", seed=18)
    theta, K = params["theta"], 20_000
    z = np.tile(r.standard_normal((1, 3)), (K, 1))  # one code, many dreams
    x = ws.sample_decoder(theta, z, r)
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = model.decoder_mean(theta, z[:1])[0]
    se = np.sqrt(p * (1 - p) / K)
    assert np.all(np.abs(x.mean(axis=0) - p) < 5 * se + 1e-12), "pixel frequency outside 5 standard errors"


def test_gaussian_dreams_have_decoder_mean_and_variance_within_5_se():
    params, _, r = small_model("gaussian", seed=19)
    theta, K = params["theta"], 20_000
    z = np.tile(r.standard_normal((1, 3)), (K, 1))
    x = ws.sample_decoder(theta, z, r)
    out = model.decode(theta, z[:1])
    mu_x, var_x = out["mu"][0], np.exp(out["log_var"][0])
    assert np.all(np.abs(x.mean(axis=0) - mu_x) < 5 * np.sqrt(var_x / K)), "mean outside 5 standard errors"
    # Standard error of a normal sample variance: σ² sqrt(2 / (K − 1)).
    se_var = var_x * np.sqrt(2 / (K - 1))
    assert np.all(np.abs(x.var(axis=0, ddof=1) - var_x) < 5 * se_var), "variance outside 5 standard errors"


def test_dream_codes_come_from_the_standard_normal_prior():
    params, _, r = small_model("bernoulli", seed=20)
    K = 20_000
    z, x = ws.dream(params["theta"], K, r)
    assert z.shape == (K, 3) and x.shape == (K, 12)
    assert np.all(np.abs(z.mean(axis=0)) < 5 / np.sqrt(K)), "prior mean outside 5 standard errors"
    assert np.all(np.abs(z.var(axis=0) - 1) < 5 * np.sqrt(2 / K)), "prior variance outside 5 standard errors"


# --------------------------------------------------------------------------- training


def test_short_wake_sleep_training_raises_estimator_B_bound_on_mnist():
    """784-50-5 model, 2000 real MNIST images, 300 Adagrad steps (M = 100, lr = 0.02, §5 prior).

    Claims, on the estimator-B bound used for AEVB (so Fig. 2 curves compare):
    the bound rises by more than 250 nats from its start (about −543 = 784·log ½);
    and the *sleep-trained* encoder beats the initial (prior-like) encoder on the same
    trained decoder by more than 5 nats, i.e. the sleep phase alone taught φ to infer z.
    Observed (seed 2014): −543.5 → −196.4, and an encoder gain of 19.9 nats
    (9–14 nats with seeds 1–3).

    BLAS is held to one thread: for 100×784 matrices threads gain nothing, and on a
    busy machine OpenBLAS's spinning threads made this test 7× slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        _train_and_check_bounds()


def _train_and_check_bounds():
    x = data.load_mnist("train")[0][:2000]
    rng = np.random.default_rng(2014)
    params = model.init_params(784, 50, 5, "bernoulli", rng)
    phi_init = P.copy(params)["phi"]
    start = bounds.lower_bound(params, x, np.random.default_rng(1)).mean()
    opt = optim.Adagrad(0.02, scale=2000 / 100)
    for step in range(300):
        batch = x[(step % 20) * 100 : (step % 20 + 1) * 100]
        _, grads = ws.wake_sleep_gradients(params, batch, rng, validate=False)
        opt.step(params, grads)
    end = bounds.lower_bound(params, x, np.random.default_rng(1)).mean()
    with_init_encoder = bounds.lower_bound({"phi": phi_init, "theta": params["theta"]}, x, np.random.default_rng(1)).mean()
    assert end - start > 250, f"bound rose only from {start:.1f} to {end:.1f}"
    assert end - with_init_encoder > 5, f"trained encoder {end:.1f} vs initial encoder {with_init_encoder:.1f}"
