"""The one training loop: every algorithm's wiring checked exactly, exact resume for all
four, §5's step-size protocol (--lr auto), divergence, the training subset, the run folder."""

import dataclasses
import json

import numpy as np
import pytest

from aevb_np import bounds, checkpoint, full_vb, model, optim
from aevb_np import data as data_mod
from aevb_np.baselines import mcem, wake_sleep
from aevb_np.errors import ConfigError, TrainingDivergedError
from aevb_np.train import ALGORITHMS, TrainConfig, build_parser, main, train


@pytest.fixture(scope="module")
def mnist_small():
    """200 training and 100 test images; the test images are other digits than the training ones."""
    x_train, _ = data_mod.load_dataset("mnist", "train")
    x_test, _ = data_mod.load_dataset("mnist", "test")
    return x_train[:200].copy(), x_test[:100].copy()


def _config(algorithm, **kw):
    base = dict(algorithm=algorithm, hidden=16, n_latent=3, batch_size=20, eval_train_size=50, eval_every=10**9,
                checkpoint_every=3, seed=11)
    if algorithm == "mcem":
        base.update(evaluation="hmc-is", eval_test_size=10, eval_train_size=10)
    base.update(kw)
    return TrainConfig(**base)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for g in a:
        for k in a[g]:
            np.testing.assert_array_equal(a[g][k], b[g][k], err_msg=f"{g}/{k}")


# --------------------------------------------------------------------------- wiring, exactly


def _expected_one_sgd_step(algorithm, config, x_train, lr):
    """θ + lr·((N/M)·∇Σ_i objective_i + ∇ log p(θ)), computed without the loop (AEVB, wake-sleep, full VB)."""
    N, M = x_train.shape[0], config.batch_size
    rng = np.random.default_rng(config.seed)
    D, H, Nz = x_train.shape[1], config.resolved_hidden(), config.n_latent
    if algorithm == "full-vb":
        params = full_vb.init_full_vb_params(D, H, Nz, rng, "bernoulli", config.init_std)
    else:
        params = model.init_params(D, H, Nz, "bernoulli", rng, config.init_std)
    xb = x_train[rng.permutation(N)[:M]]
    if algorithm == "aevb":
        _, g = bounds.estimator_B(params, xb, rng.standard_normal((1, M, Nz)))  # ∇ of Σ_i elbo_i
    elif algorithm == "wake-sleep":
        _, g = wake_sleep.wake_sleep_gradients(params, xb, rng)  # wake ∇_θ, sleep ∇_φ of Σ_i
    elif algorithm == "full-vb":
        eps = rng.standard_normal((1, M, Nz))
        _, g = full_vb.full_vb_estimator(params, xb, eps, full_vb.draw_zeta(params, rng), N)
        # Its prior is inside the bound: no weight decay, and the KL over θ carries weight M/N in Σ_i.
        return {grp: {k: v + lr * (N / M) * g[grp][k] for k, v in arr.items()} for grp, arr in params.items()}
    return {grp: {k: v + lr * ((N / M) * g[grp][k] - v) for k, v in arr.items()} for grp, arr in params.items()}


@pytest.mark.parametrize("algorithm", ["aevb", "wake-sleep", "full-vb"])
def test_one_sgd_step_of_the_loop_is_theta_plus_lr_times_the_scaled_gradient_and_prior(tmp_path, mnist_small,
                                                                                      algorithm):
    x_train, x_test = mnist_small
    lr = 1e-3
    config = _config(algorithm, optimizer="sgd", lr=lr, max_samples=20)
    result = train(config, tmp_path / "run", progress=False, data=mnist_small)
    expected = _expected_one_sgd_step(algorithm, config, x_train, lr)
    for g in expected:
        for k in expected[g]:
            # N/M applied twice (or not at all) would be off by a factor 10 in the step.
            np.testing.assert_allclose(result["params"][g][k], expected[g][k], rtol=1e-12, atol=1e-15,
                                       err_msg=f"{algorithm} {g}/{k}")


def test_one_sgd_step_of_mcem_runs_the_e_step_on_the_minibatch_chains_then_scaled_m_steps(tmp_path, mnist_small):
    x_train, _ = mnist_small
    lr, N, M = 1e-3, 200, 20
    config = _config("mcem", optimizer="sgd", lr=lr, max_samples=M)
    result = train(config, tmp_path / "run", progress=False, data=mnist_small)
    rng = np.random.default_rng(config.seed)
    theta = mcem.init_decoder(784, 16, 3, rng, "bernoulli", 0.01)
    z = rng.standard_normal((N, 3))
    idx = rng.permutation(N)[:M]
    theta0 = {k: v.copy() for k, v in theta.items()}
    mcem.mcem_step(theta, x_train[idx], z[idx], np.full(M, 0.3), rng, optim.SGD(lr, scale=N / M), n_leapfrog=10,
                   n_updates=5, target_accept=0.9)
    for k in theta:
        np.testing.assert_array_equal(result["params"]["theta"][k], theta[k], err_msg=k)
    # The step did move θ (the comparison above is not between two untouched copies).
    assert max(float(np.abs(theta[k] - theta0[k]).max()) for k in theta) > 1e-4


def test_logged_bounds_are_the_lower_bound_of_the_training_subset_and_of_the_test_set(tmp_path, mnist_small):
    x_train, x_test = mnist_small
    config = _config("aevb", max_samples=20, eval_train_size=50)
    result = train(config, tmp_path / "run", progress=False, data=mnist_small)
    params0 = model.init_params(784, 16, 3, "bernoulli", np.random.default_rng(config.seed))
    rng = np.random.default_rng([config.seed, 0xE7A1, 0])  # the evaluation's own generator at step 0
    train_lb = bounds.lower_bound(params0, x_train[:50], rng).mean()
    test_lb = bounds.lower_bound(params0, x_test, rng).mean()
    row = result["log"][0]
    assert row["train_lower_bound"] == pytest.approx(train_lb, rel=1e-14)
    assert row["test_lower_bound"] == pytest.approx(test_lb, rel=1e-14)
    assert abs(train_lb - test_lb) > 1e-3  # different arrays, so the two cannot be confused


def test_train_subset_trains_on_the_first_n_points_and_scales_by_that_n(tmp_path, mnist_small):
    x_train, _ = mnist_small
    config = _config("aevb", optimizer="sgd", lr=1e-3, max_samples=20, train_subset=100)
    result = train(config, tmp_path / "run", progress=False, data=mnist_small)
    expected = _expected_one_sgd_step("aevb", dataclasses.replace(config), x_train[:100], 1e-3)
    np.testing.assert_allclose(result["params"]["theta"]["W2"], expected["theta"]["W2"], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- exact resume, all four


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_stopped_and_resumed_is_bit_identical(tmp_path, mnist_small, algorithm):
    config = _config(algorithm, max_samples=240, eval_every=100)
    straight = train(config, tmp_path / "a", progress=False, data=mnist_small)
    part = train(config, tmp_path / "b", progress=False, data=mnist_small, stop_after_steps=5)
    assert not part["finished"] and part["step"] == 5
    resumed = train(config, tmp_path / "b", resume=True, progress=False, data=mnist_small)
    assert resumed["finished"] and resumed["step"] == 12
    _assert_same(resumed["params"], straight["params"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows]  # noqa: E731
    assert strip(resumed["log"]) == strip(straight["log"])
    if algorithm == "mcem":  # the chains are part of the checkpoint
        saved = checkpoint.load(tmp_path / "b" / "checkpoint.npz")["extra"]
        assert saved["z"].shape == (200, 3) and saved["step_size"].shape == (200,)


# --------------------------------------------------------------------------- §5's step size


def test_lr_auto_tries_the_three_rates_records_them_and_equals_a_run_with_the_winner(tmp_path, mnist_small):
    config = _config("aevb", lr="auto", lr_trial_samples=200, max_samples=400)
    auto = train(config, tmp_path / "auto", progress=False, data=mnist_small)
    saved = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert saved["lr"] == "auto" and saved["lr_auto"]["candidates"] == [0.01, 0.02, 0.1]
    scores = saved["lr_auto"]["scores"]
    assert set(scores) == {"0.01", "0.02", "0.1"}
    finite = {k: v for k, v in scores.items() if v is not None}
    assert saved["lr_auto"]["chosen"] == float(max(finite, key=finite.get)) == auto["lr"]
    plain = train(dataclasses.replace(config, lr=auto["lr"]), tmp_path / "plain", progress=False, data=mnist_small)
    _assert_same(auto["params"], plain["params"])
    # Each trial's score is the training-subset bound after lr_trial_samples samples from the same start.
    trial = train(dataclasses.replace(config, lr=0.02, max_samples=200), tmp_path / "t", progress=False,
                  data=mnist_small)
    params_rng = np.random.default_rng([config.seed, 0x1A, 0])
    assert scores["0.02"] == pytest.approx(bounds.lower_bound(trial["params"], mnist_small[0][:50], params_rng).mean(),
                                           rel=1e-12)


def test_resuming_an_lr_auto_run_never_reruns_the_trials(tmp_path, mnist_small, monkeypatch):
    config = _config("aevb", lr="auto", lr_trial_samples=100, max_samples=400)
    train(config, tmp_path / "r", progress=False, data=mnist_small, stop_after_steps=4)
    import aevb_np.train as train_mod

    def boom(*a, **k):
        raise AssertionError("the trials ran again")

    monkeypatch.setattr(train_mod, "choose_lr", boom)
    resumed = train(config, tmp_path / "r", resume=True, progress=False, data=mnist_small)
    assert resumed["finished"]


def test_a_diverging_trial_loses_with_a_note_and_the_run_goes_on(tmp_path, mnist_small, monkeypatch):
    # Make lr 0.1 blow up: its trial's bound runs away, and the run continues with another rate.
    real = bounds.estimator_B

    def explosive(params, x, eps, **kw):
        elbo, grads = real(params, x, eps, **kw)
        opt_lr["steps"] += 1
        if opt_lr["lr"] == 0.1 and opt_lr["steps"] > 2:
            elbo = elbo * np.nan  # lr 0.1 overflows after two steps
        return elbo, grads

    opt_lr = {"lr": None, "steps": 0}
    real_make = optim.Adagrad.__init__

    def remember(self, lr=0.02, *a, **k):
        opt_lr["lr"], opt_lr["steps"] = lr, 0
        real_make(self, lr, *a, **k)

    monkeypatch.setattr(bounds, "estimator_B", explosive)
    monkeypatch.setattr(optim.Adagrad, "__init__", remember)
    config = _config("aevb", lr="auto", lr_trial_samples=100, max_samples=100)
    result = train(config, tmp_path / "d", progress=False, data=mnist_small)
    saved = json.loads((tmp_path / "d" / "config.json").read_text())["lr_auto"]
    assert saved["scores"]["0.1"] is None and "diverged" in saved["notes"]["0.1"]
    assert result["lr"] in (0.01, 0.02) and result["finished"]


def test_cli_lr_auto_for_wake_sleep_picks_a_rate_and_says_so(tmp_path, capsys):
    status = main(["--algorithm", "wake-sleep", "--lr", "auto", "--lr-trial-samples", "500", "--dataset", "frey-face",
                   "--hidden", "10", "--n-latent", "2", "--max-samples", "500", "--eval-every", "1000000",
                   "--eval-train-size", "100", "--out", str(tmp_path / "ws"), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    chosen = json.loads((tmp_path / "ws" / "config.json").read_text())["lr_auto"]["chosen"]
    assert chosen in (0.01, 0.02, 0.1) and f"at lr {chosen:g};" in out


# --------------------------------------------------------------------------- divergence


def test_a_wake_sleep_blow_up_ends_in_a_clear_diverged_error_not_a_result(tmp_path, capsys, monkeypatch):
    # Issue 14: wake-sleep at lr 0.1 (MNIST, Nz = 20, float32) ran away to −7.9·10¹⁰ nats and
    # the run ended with "done".  Here the wake objective runs away from step 5 on and stays.
    real = wake_sleep.wake_sleep_gradients
    calls = {"n": 0}

    def runaway(params, x, rng, **kw):
        calls["n"] += 1
        objectives, grads = real(params, x, rng, **kw)
        if calls["n"] >= 5:
            objectives = {**objectives, "wake": objectives["wake"] - 7.9e10}
        return objectives, grads

    monkeypatch.setattr(wake_sleep, "wake_sleep_gradients", runaway)
    status = main(["--algorithm", "wake-sleep", "--lr", "0.1", "--dataset", "frey-face", "--hidden", "10",
                   "--n-latent", "2", "--max-samples", "20000", "--eval-every", "1000000",
                   "--out", str(tmp_path / "ws"), "--no-progress", "--dtype", "float32"])
    err = capsys.readouterr().err
    assert status == 2 and "training diverged at step 104" in err, err
    assert not (tmp_path / "ws" / "summary.json").exists()


@pytest.mark.slow
def test_wake_sleep_at_lr_0_1_on_mnist_float32_diverges_for_real(tmp_path, capsys):
    """The run of issue 14 itself (a few minutes): MNIST, Nz = 20, 500 hidden, float32, lr 0.1."""
    status = main(["--algorithm", "wake-sleep", "--lr", "0.1", "--dtype", "float32", "--max-samples", "300000",
                   "--eval-every", "100000", "--out", str(tmp_path / "ws"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "training diverged at step" in err, err


def _shifted_estimator(monkeypatch, steps, shift=-1e7):
    """estimator_B whose bound is shifted by ``shift`` on the calls (1-based) in ``steps``."""
    real = bounds.estimator_B
    calls = {"n": 0}

    def shifted(params, x, eps, **kw):
        calls["n"] += 1
        elbo, grads = real(params, x, eps, **kw)
        return (elbo + shift if calls["n"] in steps else elbo), grads

    monkeypatch.setattr(bounds, "estimator_B", shifted)


def test_a_bound_that_stays_far_below_its_start_is_divergence(tmp_path, mnist_small, monkeypatch):
    _shifted_estimator(monkeypatch, range(8, 10**6))  # from step 8 on, 10⁷ nats below: a blow-up that stays
    with pytest.raises(TrainingDivergedError,
                       match=r"diverged at step 107 \(the objective stayed below .* for 100 steps.*last good state"):
        train(_config("aevb", max_samples=4000), tmp_path / "r", progress=False, data=mnist_small)
    # Checkpoints every 3 steps; those from step 9 on were skipped while the bound was down.
    assert checkpoint.load(tmp_path / "r" / "checkpoint.npz")["step"] == 6


def test_a_dip_of_a_few_steps_is_not_divergence(tmp_path, mnist_small, monkeypatch):
    # Adagrad's first steps can take the bound tens of thousands of nats down before it recovers.
    _shifted_estimator(monkeypatch, range(3, 9), shift=-5e4)
    result = train(_config("aevb", max_samples=400), tmp_path / "r", progress=False, data=mnist_small)
    assert result["finished"]


def test_an_overflowing_accumulator_is_divergence_and_is_never_checkpointed(tmp_path, mnist_small, monkeypatch):
    real_step = optim.Adagrad.step
    calls = {"n": 0}

    def overflow(self, params, grads):
        real_step(self, params, grads)
        calls["n"] += 1
        if calls["n"] == 5:
            self.accumulators["theta"]["W1"][0, 0] = np.inf  # float32's fate at lr 0.1
    monkeypatch.setattr(optim.Adagrad, "step", overflow)
    with pytest.raises(TrainingDivergedError, match="accumulator for theta/W1 overflowed"):
        train(_config("aevb", max_samples=400), tmp_path / "o", progress=False, data=mnist_small)
    assert checkpoint.load(tmp_path / "o" / "checkpoint.npz")["step"] == 3


# --------------------------------------------------------------------------- the run folder and the CLI


def test_an_out_folder_with_files_of_its_own_is_refused_and_force_removes_only_run_files(tmp_path, mnist_small):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "params.npz").write_bytes(b"someone else's")
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not empty"):
        train(_config("aevb", max_samples=20), out, progress=False, data=mnist_small)
    assert (out / "params.npz").read_bytes() == b"someone else's"
    # --force restarts a run; a folder with no run in it is not one, so nothing of the user's is replaced.
    with pytest.raises(ConfigError, match="holds no run"):
        train(_config("aevb", max_samples=20), out, progress=False, data=mnist_small, force=True)
    assert (out / "params.npz").read_bytes() == b"someone else's" and not (out / "config.json").exists()
    run = tmp_path / "run"
    train(_config("aevb", max_samples=20), run, progress=False, data=mnist_small)
    (run / "notes.txt").write_text("keep me")
    train(_config("aevb", max_samples=20), run, progress=False, data=mnist_small, force=True)
    assert (run / "notes.txt").read_text() == "keep me" and (run / "summary.json").exists()


def test_nothing_is_written_into_out_before_the_data_load(tmp_path, capsys):
    out = tmp_path / "never"
    status = main(["--data-dir", str(tmp_path / "no-data-here"), "--out", str(out), "--no-progress"])
    assert status == 2 and not out.exists()


def test_every_config_field_has_a_flag_with_help_and_the_parser_default_is_the_field_default():
    parser = build_parser("aevb-train")
    by_dest = {a.dest: a for a in parser._actions}
    records = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("flag", True) is None}
    # lr_auto is filled by --lr auto and environment by train() at each start: records, not flags
    assert records == {"lr_auto", "environment"}
    for field in dataclasses.fields(TrainConfig):
        if field.name in records:
            assert field.name not in by_dest, field.name
            continue
        action = by_dest[field.name]
        assert action.help and action.default == field.default, field.name
        assert action.help.count("default") <= 1, action.help


def test_config_json_records_the_hidden_size_used_and_the_frey_split(tmp_path):
    status = main(["--dataset", "frey-face", "--hidden", "10", "--n-latent", "2", "--max-samples", "100",
                   "--frey-split", "tail", "--out", str(tmp_path / "f"), "--no-progress"])
    assert status == 0
    saved = json.loads((tmp_path / "f" / "config.json").read_text())
    assert saved["frey_split"] == "tail" and saved["hidden"] == 10
    status = main(["--dataset", "frey-face", "--n-latent", "2", "--max-samples", "100", "--out", str(tmp_path / "g"),
                   "--no-progress", "--eval-train-size", "50"])
    assert json.loads((tmp_path / "g" / "config.json").read_text())["hidden"] == 200


def test_quadrature_evaluation_is_refused_above_three_latent_dimensions():
    with pytest.raises(ConfigError, match="Nz <= 3 only, got --n-latent 20"):
        TrainConfig(evaluation="quadrature").validate()


def test_marginal_evaluation_of_a_run_equals_the_quadrature_on_the_same_points(tmp_path, mnist_small, monkeypatch):
    from aevb_np import marginal
    from aevb_np import train as train_mod

    monkeypatch.setitem(train_mod.MARGINAL_SETTINGS, "quadrature", dict(grid=31, limit=7.0))  # a coarse grid: fast
    config = _config("aevb", max_samples=20, evaluation="quadrature", eval_train_size=5, eval_test_size=5)
    result = train(config, tmp_path / "q", progress=False, data=mnist_small)
    params0 = model.init_params(784, 16, 3, "bernoulli", np.random.default_rng(config.seed))
    truth = marginal.quadrature_log_px({"theta": params0["theta"]}, mnist_small[1][:5], grid=31, limit=7.0)
    assert result["log"][0]["test_log_px"] == pytest.approx(truth.mean(), rel=1e-12)

# --------------------------------------------------------------------------- --logvar-scale (wake-sleep)


def test_logvar_scale_gives_wake_sleep_the_authors_log_variance_head(tmp_path, mnist_small):
    """--logvar-scale 0.1: W5 and b5 start at 0, and the optimizer steps W5 as 0.1·u (anglepy MLBN_Inverse)."""
    from aevb_np.algorithms import PARTS

    config = _config("wake-sleep", logvar_scale=0.1, max_samples=40)
    part = PARTS["wake-sleep"](config, 784, 200)
    params = part.init_params(np.random.default_rng(0))
    assert not params["phi"]["W5"].any() and not params["phi"]["b5"].any()
    assert params["phi"]["W4"].any()  # the rest as §5
    assert part.make_optimizer(0.01).scaled_heads == {"phi/W5": 0.1}
    plain = PARTS["wake-sleep"](_config("wake-sleep"), 784, 200)
    assert plain.make_optimizer(0.01).scaled_heads == {}  # the default is the paper's encoder
    result = train(config, tmp_path / "ls", progress=False, data=mnist_small)
    assert result["finished"] and np.isfinite(result["test_lower_bound"])
    assert json.loads((tmp_path / "ls" / "config.json").read_text())["logvar_scale"] == 0.1


def test_logvar_scale_is_a_flag_and_only_for_wake_sleep_or_aevb_with_adagrad(tmp_path, capsys):
    args = build_parser("t").parse_args(["--algorithm", "wake-sleep", "--logvar-scale", "0.1"])
    assert args.logvar_scale == 0.1
    TrainConfig(algorithm="aevb", logvar_scale=0.1).validate()  # anglepy's AEVB encoder has it too
    for bad in (dict(algorithm="full-vb"), dict(algorithm="wake-sleep", optimizer="sgd"),
                dict(algorithm="aevb", optimizer="sgd")):
        with pytest.raises(ConfigError, match="--logvar-scale"):
            TrainConfig(logvar_scale=0.1, **bad).validate()
    with pytest.raises(ConfigError, match="--logvar-scale"):
        TrainConfig(algorithm="wake-sleep", logvar_scale=-1.0).validate()


# --------------------------------------------------------------------------- Frey Face diagnostics of the authors' code


def test_logvar_scales_give_aevb_scaled_heads_started_at_zero_and_default_runs_are_unchanged(tmp_path):
    """--logvar-scale (encoder) and --decoder-logvar-scale (Gaussian decoder) for AEVB: the heads
    start at 0 and the optimizer steps them as s·u; without them the parameters are the plain draw."""
    from aevb_np.algorithms import PARTS

    plain_cfg = TrainConfig(dataset="frey-face", hidden=7, n_latent=3, dtype="float64")
    plain = PARTS["aevb"](plain_cfg, 560, 50)
    p0 = plain.init_params(np.random.default_rng(3))
    assert plain.make_optimizer(0.01).scaled_heads == {} and plain.make_optimizer(0.01).warmup == 0
    ref = model.init_params(560, 7, 3, "gaussian", np.random.default_rng(3))
    for g in ref:
        for k in ref[g]:
            np.testing.assert_array_equal(p0[g][k], ref[g][k], err_msg=f"{g}/{k}")
    cfg = TrainConfig(dataset="frey-face", hidden=7, n_latent=3, dtype="float64", logvar_scale=0.1,
                      decoder_logvar_scale=0.2, adagrad_warmup=4)
    cfg.validate()
    part = PARTS["aevb"](cfg, 560, 50)
    p1 = part.init_params(np.random.default_rng(3))
    for g in ("phi", "theta"):
        assert not p1[g]["W5"].any() and not p1[g]["b5"].any()
        np.testing.assert_array_equal(p1[g]["W4"], p0[g]["W4"])  # the rest is the same draw
    opt = part.make_optimizer(0.01)
    assert opt.scaled_heads == {"phi/W5": 0.1, "theta/W5": 0.2} and opt.warmup == 4


def test_frey_diagnostic_flags_run_and_are_refused_where_they_mean_nothing(tmp_path):
    args = build_parser("t").parse_args(["--dataset", "frey-face", "--decoder-logvar-scale", "0.1",
                                         "--adagrad-warmup", "100"])
    assert args.decoder_logvar_scale == 0.1 and args.adagrad_warmup == 100
    status = main(["--dataset", "frey-face", "--hidden", "10", "--n-latent", "2", "--max-samples", "600",
                   "--decoder-logvar-scale", "0.1", "--adagrad-warmup", "3", "--eval-train-size", "50",
                   "--out", str(tmp_path / "d"), "--no-progress"])
    assert status == 0
    saved = json.loads((tmp_path / "d" / "config.json").read_text())
    assert saved["decoder_logvar_scale"] == 0.1 and saved["adagrad_warmup"] == 3
    log = [json.loads(line) for line in (tmp_path / "d" / "log.jsonl").read_text().splitlines()]
    assert np.isfinite(log[-1]["test_lower_bound"])
    for bad in (dict(), dict(dataset="frey-face", algorithm="full-vb"), dict(dataset="frey-face", optimizer="sgd")):
        with pytest.raises(ConfigError, match="--decoder-logvar-scale"):
            TrainConfig(decoder_logvar_scale=0.1, **bad).validate()
    with pytest.raises(ConfigError, match="--decoder-logvar-scale"):
        TrainConfig(dataset="frey-face", decoder_logvar_scale=0.0).validate()
    for bad in (dict(adagrad_warmup=-1), dict(adagrad_warmup=2.5), dict(adagrad_warmup=5, optimizer="sgd")):
        with pytest.raises(ConfigError, match="--adagrad-warmup"):
            TrainConfig(**bad).validate()


def test_mcem_fresh_chains_start_each_visit_from_a_prior_draw_of_the_run_stream(tmp_path, mnist_small):
    """--mcem-chains fresh: the E-step starts from z ~ N(0, I) drawn from the run's stream
    just before it (not from the chain's last state); the step size still adapts per point."""
    x_train, _ = mnist_small
    lr, N, M = 1e-3, 200, 20
    config = _config("mcem", optimizer="sgd", lr=lr, max_samples=M, mcem_chains="fresh")
    result = train(config, tmp_path / "run", progress=False, data=mnist_small)
    rng = np.random.default_rng(config.seed)
    theta = mcem.init_decoder(784, 16, 3, rng, "bernoulli", 0.01)
    rng.standard_normal((N, 3))  # the persistent chains' start, drawn and then not used
    idx = rng.permutation(N)[:M]
    z_fresh = rng.standard_normal((M, 3))
    mcem.mcem_step(theta, x_train[idx], z_fresh, np.full(M, 0.3), rng, optim.SGD(lr, scale=N / M), n_leapfrog=10,
                   n_updates=5, target_accept=0.9)
    for k in theta:
        np.testing.assert_array_equal(result["params"]["theta"][k], theta[k], err_msg=k)
    with pytest.raises(ConfigError, match="--mcem-chains applies to --algorithm mcem only"):
        _config("aevb", mcem_chains="fresh").validate()
    with pytest.raises(ConfigError, match="--mcem-chains must be persistent or fresh"):
        _config("mcem", mcem_chains="stale").validate()
