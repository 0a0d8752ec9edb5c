"""Full VB's logged bound (Appendix F, issue 26): each datapoint's share of L(φ; X),
E_q(θ)[L(θ, φ; x_i)] − KL(q_φ(θ) ‖ p(θ)) / N, with N the *training* set's size whatever the
size of the set evaluated (the first training points, the test set, a set larger than N)."""

import numpy as np
import pytest

from aevb_np import bounds
from aevb_np import full_vb as fv
from aevb_np.train import TrainConfig, train


def _kl_written_out(params):
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), over every decoder entry."""
    mu, log_var = params["theta_mu"], params["theta_log_var"]
    return 0.5 * sum(float(np.sum(mu[k] ** 2 + np.exp(log_var[k]) - 1.0 - log_var[k])) for k in mu)


def _reference(params, x, seed, N, batch_size):
    """Per batch: ε (1, n, Nz) then ζ from the generator, θ̃ = μ + σ ζ, estimator B with θ̃, minus KL/N."""
    rng, kl, out = np.random.default_rng(seed), _kl_written_out(params), []
    nz = params["phi"]["W4"].shape[0]
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        eps = rng.standard_normal((1, xb.shape[0], nz))
        zeta = {k: rng.standard_normal(v.shape) for k, v in params["theta_mu"].items()}
        theta = {k: params["theta_mu"][k] + np.exp(0.5 * params["theta_log_var"][k]) * zeta[k]
                 for k in params["theta_mu"]}
        elbo, _ = bounds.estimator_B({"phi": params["phi"], "theta": theta}, xb, eps, need_grad=False)
        out.append(elbo - kl / N)
    return np.concatenate(out)


@pytest.mark.parametrize("n_eval, N", [(3, 40), (40, 40), (37, 500), (37, 7)])
def test_lower_bound_subtracts_the_kl_over_the_training_n_on_sets_of_any_size(n_eval, N):
    """37 points in batches of 16 (three draws of θ); N = 7: a set larger than the training set."""
    r = np.random.default_rng(3)
    params = fv.init_full_vb_params(10, 6, 3, r, "bernoulli", init_std=0.5)
    for a in params["theta_log_var"].values():
        a[...] = r.normal(-2.0, 0.5, size=a.shape)
    x = r.uniform(0.05, 0.95, size=(n_eval, 10))
    kl = _kl_written_out(params)
    assert fv.neg_kl_theta(params) == pytest.approx(-kl, rel=1e-13) and kl > 50  # a share that shows
    got = fv.lower_bound(params, x, np.random.default_rng(99), N, batch_size=16)
    np.testing.assert_allclose(got, _reference(params, x, 99, N, 16), rtol=1e-13)
    # The same draws with another N differ by KL·(1/N' − 1/N) on every point, not by 0.
    other = fv.lower_bound(params, x, np.random.default_rng(99), 2 * N, batch_size=16)
    np.testing.assert_allclose(other - got, np.full(n_eval, kl / (2 * N)), rtol=1e-9)


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(6)
    return r.uniform(size=(200, 784)), r.uniform(size=(9, 784))


def test_the_run_logs_the_bound_with_the_training_sets_n_for_the_train_and_test_rows(tmp_path, data):
    """Three runs, same seed (so the same initial q(θ) and the same evaluation draws), trained on
    N = 200, 100 and 40 points; each evaluated at step 0 on the first 30 training points and on
    7 test points.  The logged numbers differ only by the KL's share: −KL/N with the training N."""
    seed, H, Nz = 4, 4, 2
    rows = {}
    for N in (200, 100, 40):
        config = TrainConfig(algorithm="full-vb", hidden=H, n_latent=Nz, batch_size=20, seed=seed, train_subset=N,
                             eval_train_size=30, eval_test_size=7, eval_every=10**9, max_samples=1000)
        result = train(config, tmp_path / f"n{N}", progress=False, data=data, stop_after_steps=1)
        (row,) = result["log"]
        assert row["step"] == 0
        rows[N] = np.array([row["train_lower_bound"], row["test_lower_bound"]])
    # The initial q(θ): μ_θ ~ N(0, 0.01²) drawn after φ, log σ_θ² = −9; its KL is ≈ 4 nats per entry.
    params0 = fv.init_full_vb_params(784, H, Nz, np.random.default_rng(seed), "bernoulli", 0.01)
    kl = _kl_written_out(params0)
    assert kl == pytest.approx(0.5 * (np.exp(-9.0) + 8.0) * (H * Nz + H + 784 * H + 784), rel=1e-4)
    np.testing.assert_allclose(rows[100] - rows[200], -kl * (1 / 100 - 1 / 200), rtol=1e-8)
    np.testing.assert_allclose(rows[40] - rows[200], -kl * (1 / 40 - 1 / 200), rtol=1e-8)
    # What is left once KL/N is added back is the same E_q(θ)[L(θ, φ; x)] in every run.
    np.testing.assert_allclose(rows[40] + kl / 40, rows[200] + kl / 200, rtol=1e-12)
