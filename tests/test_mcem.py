"""Tests of aevb_np.baselines.mcem: Monte Carlo EM with HMC (Appendix E).

The M-step gradient is checked against central finite differences; the whole algorithm
is checked to raise the *exact* log p(x) — computed by quadrature over a 2-D latent
space, independently of the code under test — of data drawn from a known decoder.
"""

import json
import math

import numpy as np
import pytest
from scipy.special import logsumexp

from aevb_np import distributions as dist
from aevb_np import model, optim
from aevb_np.baselines import mcem
from aevb_np.errors import ConfigError, ShapeError, SupportError
from aevb_np.gradcheck import numerical_gradient, relative_error
from aevb_np.layers import sigmoid

from conftest import small_model


def quadrature_log_px(theta, x, half_width=7.0, n=81):
    """log ∫ p_θ(x|z) N(z; 0, I) dz on an n×n grid (2-D latent): exact to ~1e-4 nats here."""
    g = np.linspace(-half_width, half_width, n)
    z = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    logits = model.decode(theta, z)["logits"]  # (G, D)
    ll = x @ logits.T - np.sum(np.logaddexp(0.0, logits), axis=1)  # (M, G): Eq. (11)
    return logsumexp(ll + dist.log_standard_normal(z), axis=1) + 2 * np.log(g[1] - g[0])


def synthetic_data(N=200, D=16, seed=0):
    """Binary data from a random 2-8-16 Bernoulli decoder with large weights."""
    r = np.random.default_rng(seed)
    true_theta = model.init_params(D, 8, 2, "bernoulli", r, init_std=1.5)["theta"]
    z = r.standard_normal((N, 2))
    x = (r.uniform(size=(N, D)) < sigmoid(model.decode(true_theta, z)["logits"])).astype(np.float64)
    return x, true_theta


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_m_step_gradient_matches_finite_differences(decoder):
    params, x, r = small_model(decoder)
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    scale = 7.0
    _, grads = mcem.m_step_objective_and_grad(theta, x, z, scale)
    for name, a in theta.items():
        num = numerical_gradient(lambda: mcem.m_step_objective_and_grad(theta, x, z, scale)[0], a, h=1e-4)
        assert relative_error(grads[name], num).max() < 1e-6, name


def test_m_step_objective_value_is_scaled_log_likelihood_plus_log_prior():
    params, x, r = small_model("bernoulli")
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    J, _ = mcem.m_step_objective_and_grad(theta, x, z, 3.0)
    ll = model.log_likelihood(x, model.decode(theta, z))[0]
    flat = np.concatenate([a.ravel() for a in theta.values()])
    log_prior = -0.5 * np.sum(flat**2) - 0.5 * flat.size * math.log(2 * math.pi)
    assert J == pytest.approx(3.0 * ll.sum() + log_prior, rel=1e-12)


def test_adagrad_on_log_likelihood_gradient_ascends_the_m_step_objective():
    # The optimizer builds scale·g − θ from log_likelihood_and_grad: the M-step gradient.
    params, x, r = small_model("bernoulli")
    theta = params["theta"]
    z = r.standard_normal((x.shape[0], 3))
    _, g = mcem.log_likelihood_and_grad(theta, x, z)
    _, full = mcem.m_step_objective_and_grad(theta, x, z, 4.0)
    for k in theta:
        np.testing.assert_allclose(4.0 * g[k] - theta[k], full[k], rtol=1e-12, atol=1e-14)
    before = mcem.m_step_objective_and_grad(theta, x, z, 4.0)[0]
    opt = optim.Adagrad(0.01, scale=4.0, weight_decay=True)
    for _ in range(5):
        opt.step({"theta": theta}, {"theta": mcem.log_likelihood_and_grad(theta, x, z)[1]})
    assert mcem.m_step_objective_and_grad(theta, x, z, 4.0)[0] > before + 1.0


def test_mcem_raises_exact_log_px_toward_the_data_generating_model():
    x, true_theta = synthetic_data()
    x_eval = x[:50]
    rng = np.random.default_rng(1)
    state = mcem.train_mcem(x, 2, 8, 0, rng, batch_size=50, lr=0.05)
    # At θ ≈ 0 every pixel is a fair coin: log p(x) = −16 log 2.
    start = quadrature_log_px(state.theta, x_eval).mean()
    assert start == pytest.approx(-16 * math.log(2), abs=0.01)
    curve = [start]
    for n_steps in (100, 200):
        mcem.train_mcem(x, 2, 8, n_steps, rng, state=state)
        curve.append(quadrature_log_px(state.theta, x_eval).mean())
    true = quadrature_log_px(true_theta, x_eval).mean()
    assert curve[0] < curve[1] < curve[2], curve
    assert curve[2] > true - 0.5, (curve, true)  # from 4.4 nats below the truth to within 0.5
    assert state.samples == 300 * 50 and state.step == 300
    # Appendix E: the step size is tuned to about 90% acceptance.
    recent = np.mean([h["accept_rate"] for h in state.history[-100:]])
    assert 0.8 < recent < 0.97, recent


def test_mcem_step_with_no_updates_leaves_theta_alone_and_moves_the_chains():
    params, x, r = small_model("bernoulli")
    theta = params["theta"]
    before = {k: v.copy() for k, v in theta.items()}
    z0 = r.standard_normal((x.shape[0], 3))
    opt = optim.Adagrad(0.02, scale=1.0)
    z, step, info = mcem.mcem_step(theta, x, z0.copy(), np.full(x.shape[0], 0.2), np.random.default_rng(0), opt,
                                   n_updates=0, n_hmc_steps=3)
    for k in theta:
        np.testing.assert_array_equal(theta[k], before[k])
    assert np.any(z != z0) and step.shape == (x.shape[0],) and 0.0 <= info["accept_rate"] <= 1.0


def test_mcem_is_deterministic_given_the_seed():
    x, _ = synthetic_data(N=60)
    a = mcem.train_mcem(x, 2, 4, 5, np.random.default_rng(3), batch_size=20)
    b = mcem.train_mcem(x, 2, 4, 5, np.random.default_rng(3), batch_size=20)
    for k in a.theta:
        np.testing.assert_array_equal(a.theta[k], b.theta[k])
    np.testing.assert_array_equal(a.z, b.z)


def test_mcem_bad_inputs_raise_clear_errors():
    x, _ = synthetic_data(N=60)
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="batch_size 100 is larger than the training set"):
        mcem.train_mcem(x, 2, 4, 1, rng)
    with pytest.raises(SupportError):
        mcem.train_mcem(x * 3.0, 2, 4, 1, rng, batch_size=10)
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 0"):
        mcem.train_mcem(x, 2, 4, -1, rng, batch_size=10)
    state = mcem.train_mcem(x, 2, 4, 0, rng, batch_size=10)
    with pytest.raises(ShapeError, match=r"z must have shape \(10, 2\)"):
        mcem.mcem_step(state.theta, x[:10], np.zeros((10, 3)), np.full(10, 0.1), rng, state.optimizer)
    with pytest.raises(ShapeError, match="state has chains for 60 datapoints"):
        mcem.train_mcem(x[:30], 2, 4, 1, rng, state=state)


def _load_fig3():
    """Import experiments/fig3.py (a script, not a package module) by path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "fig3.py"
    spec = importlib.util.spec_from_file_location("fig3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fig3_quick_trains_all_methods_through_the_one_loop_and_writes_png_and_table(tmp_path, capsys):
    from tests.test_experiments import _tracked_changes

    before = _tracked_changes()
    # Fig. 3 pipeline end to end on real MNIST with CI-sized budgets (--quick), one panel.
    fig3 = _load_fig3()
    assert fig3.main(["--quick", "--n-train", "1000", "--out", str(tmp_path)]) == 0
    png = (tmp_path / "fig3.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    for method in ("aevb", "mcem", "wake-sleep"):
        config = json.loads((tmp_path / "runs" / f"ntrain1000-{method}" / "config.json").read_text())
        assert config["train_subset"] == 1000 and config["hidden"] == 100 and config["n_latent"] == 3
        assert config["lr_auto"]["chosen"] in (0.01, 0.02, 0.1)
        rows = [json.loads(line) for line in (tmp_path / "runs" / f"ntrain1000-{method}" / "log.jsonl").open()]
        assert [r["samples"] for r in rows] == [0, 1000, 2000], method
        first, last = rows[0], rows[-1]
        # Untrained, every pixel is a fair coin: −784 log 2 = −543 nats.  After 2000 samples each
        # method is far above that, on train and on test.
        assert -560 < first["train_log_px"] < -520, (method, first)
        assert last["train_log_px"] > first["train_log_px"] + 150 and last["test_log_px"] > -400, (method, rows)
    table = (tmp_path / "fig3_table.md").read_text()
    assert "| 1000 | MCEM |" in table and "2e+03 (last)" in table
    assert "Wake-Sleep" in capsys.readouterr().out
    # Redrawing from the logs works without training.
    (tmp_path / "fig3.png").unlink()
    assert fig3.main(["--plot-only", "--n-train", "1000", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig3.png").exists()
    assert _tracked_changes() == before, "fig3 --quick wrote into the committed experiment outputs"


def test_fig3_bad_flags_exit_2(tmp_path, capsys):
    fig3 = _load_fig3()
    assert fig3.main(["--budget", "50", "--out", str(tmp_path)]) == 2
    assert "smaller than one minibatch" in capsys.readouterr().err
    assert fig3.main(["--quick"]) == 2
    assert "--quick needs --out" in capsys.readouterr().err


def test_fig3_ctrl_c_stops_the_whole_sweep_not_only_the_run_in_progress(tmp_path, capsys, monkeypatch):
    # A Ctrl-C used to stop one run and start the next one of the sweep.
    fig3 = _load_fig3()
    calls = []

    def interrupted_train(config, folder, **kwargs):
        calls.append(folder)
        return {"finished": False, "interrupted": True, "step": 7, "log": [{"samples": 700}]}

    monkeypatch.setattr(fig3, "train", interrupted_train)
    status = fig3.main(["--n-train", "1000", "--methods", "aevb", "mcem", "--budget", "1000", "--out", str(tmp_path)])
    assert status == 130
    assert calls == [tmp_path / "runs" / "ntrain1000-aevb"]
    assert "interrupted" in capsys.readouterr().err
