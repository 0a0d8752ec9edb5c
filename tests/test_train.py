"""End-to-end training on real MNIST, exact resume, and the run folder's contents."""

import json

import numpy as np
import pytest

from aevb_np import checkpoint
from aevb_np.train import TrainConfig, main, train

SMALL = dict(hidden=40, n_latent=5, batch_size=50, eval_train_size=500, checkpoint_every=7)


def test_training_on_real_mnist_raises_the_test_lower_bound(tmp_path):
    config = TrainConfig(hidden=200, n_latent=10, max_samples=12_000, eval_every=6_000, eval_train_size=2000, seed=1)
    result = train(config, tmp_path / "run", progress=False)
    first, last = result["log"][0], result["log"][-1]
    assert first["samples"] == 0 and last["samples"] == 12_000
    # At initialization q ≈ p(z) and the decoder outputs ≈ ½ everywhere: about −784·log 2 ≈ −543 nats.
    assert -560 < first["test_lower_bound"] < -530
    # 120 Adagrad steps already learn the pixel marginals and more: a gain of well over 250 nats.
    assert last["test_lower_bound"] > first["test_lower_bound"] + 250, result["log"]
    for name in ("config.json", "checkpoint.npz", "log.jsonl", "params.npz", "samples.png", "summary.json",
                 "curves.png", "reconstructions.png"):
        assert (tmp_path / "run" / name).exists(), name
    saved = checkpoint.load_params(tmp_path / "run" / "params.npz")
    np.testing.assert_array_equal(saved["theta"]["W2"], result["params"]["theta"]["W2"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert rows == result["log"]


@pytest.mark.parametrize("stop_at", [1, 7, 23])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, stop_at):
    config = TrainConfig(max_samples=2_000, eval_every=600, seed=3, **SMALL)
    straight = train(config, tmp_path / "a", progress=False)
    part = train(config, tmp_path / "b", progress=False, stop_after_steps=stop_at)
    assert not part["finished"] and part["step"] == stop_at
    resumed = train(config, tmp_path / "b", resume=True, progress=False)
    assert resumed["finished"] and resumed["step"] == straight["step"]
    for g in straight["params"]:
        for k in straight["params"][g]:
            np.testing.assert_array_equal(resumed["params"][g][k], straight["params"][g][k])
    assert resumed["log"] == [
        {**row, "train_seconds": r2["train_seconds"]} for row, r2 in zip(straight["log"], resumed["log"])
    ]


def test_resume_may_extend_the_budget(tmp_path):
    config = TrainConfig(max_samples=500, eval_every=10_000, seed=4, **SMALL)
    train(config, tmp_path / "r", progress=False)
    longer = TrainConfig(max_samples=1_000, eval_every=10_000, seed=4, **SMALL)
    result = train(longer, tmp_path / "r", resume=True, progress=False)
    assert result["samples"] == 1_000
    straight = train(longer, tmp_path / "s", progress=False)
    np.testing.assert_array_equal(result["params"]["phi"]["W3"], straight["params"]["phi"]["W3"])


def test_cli_trains_and_prints_a_summary(tmp_path, capsys):
    status = main(["--hidden", "20", "--n-latent", "2", "--max-samples", "600", "--eval-every", "300",
                   "--out", str(tmp_path / "cli"), "--no-progress"])
    assert status == 0
    out = capsys.readouterr().out
    assert "test lower bound" in out and "done: 600 samples" in out


def test_frey_face_trains_with_the_gaussian_decoder_and_a_positive_bound(tmp_path):
    config = TrainConfig(dataset="frey-face", n_latent=5, lr=0.01, max_samples=20_000, eval_every=10_000, seed=0)
    result = train(config, tmp_path / "frey", progress=False)
    assert config.resolved_hidden() == 200
    first, last = result["log"][0]["test_lower_bound"], result["log"][-1]["test_lower_bound"]
    # A density over [0,1]^560: once the per-pixel variances shrink below 1/(2π e) ≈ 0.06 the bound is > 0.
    assert last > first + 300 and last > 0, result["log"]


def test_wake_sleep_trains_from_the_same_loop_and_is_evaluated_with_the_same_bound(tmp_path):
    config = TrainConfig(dataset="frey-face", algorithm="wake-sleep", n_latent=5, lr=0.01, max_samples=10_000,
                         eval_every=10_000, seed=0)
    result = train(config, tmp_path / "ws", progress=False)
    first, last = result["log"][0]["test_lower_bound"], result["log"][-1]["test_lower_bound"]
    assert last > first + 300, result["log"]


def test_log_spaced_evaluation_points_for_fig2():
    from aevb_np.train import _crosses_eval_point

    config = TrainConfig(eval_every=10**9, eval_per_decade=4)
    points = [s for s in range(100, 100_001, 100) if _crosses_eval_point(s - 100, s, config)]
    # 10^(k/4): 178, 316, 562, 1000, ... each reached at the first multiple of M = 100 past it.
    assert points == [200, 400, 600, 1000, 1800, 3200, 5700, 10000, 17800, 31700, 56300, 100000]


def test_full_vb_trains_from_the_cli_loop_and_draws_samples_and_posterior_std(tmp_path):
    config = TrainConfig(algorithm="full-vb", hidden=50, n_latent=5, lr=0.1, max_samples=6_000, eval_every=6_000,
                         eval_train_size=1000, seed=0)
    result = train(config, tmp_path / "fvb", progress=False)
    first, last = result["log"][0]["test_lower_bound"], result["log"][-1]["test_lower_bound"]
    assert last > first + 250, result["log"]
    assert (tmp_path / "fvb" / "posterior_std.png").exists() and (tmp_path / "fvb" / "samples.png").exists()
    saved = checkpoint.load_params(tmp_path / "fvb" / "params.npz")
    assert set(saved) == {"phi", "theta_mu", "theta_log_var"}
    # Resuming a full-VB run is exact too.
    part = train(config, tmp_path / "fvb2", progress=False, stop_after_steps=17)
    assert not part["finished"]
    resumed = train(config, tmp_path / "fvb2", resume=True, progress=False)
    np.testing.assert_array_equal(resumed["params"]["theta_log_var"]["W2"], result["params"]["theta_log_var"]["W2"])


def test_binarized_mnist_trains_from_the_cli(tmp_path, capsys):
    status = main(["--dataset", "binarized-mnist", "--hidden", "50", "--n-latent", "5", "--max-samples", "3000",
                   "--eval-every", "3000", "--out", str(tmp_path / "bin"), "--no-progress"])
    assert status == 0
    rows = [json.loads(line) for line in (tmp_path / "bin" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["test_lower_bound"] > rows[0]["test_lower_bound"] + 250, rows


@pytest.mark.parametrize("name", ["appendix_d", "HMC-IS", ""])
def test_evaluate_rows_refuses_an_unknown_evaluation_name(name):
    # It used to fall through to "hmc-is": a misspelt name must not log another estimator's number.
    from aevb_np.algorithms import PARTS
    from aevb_np.errors import ConfigError
    from aevb_np.train import evaluate_rows

    config = TrainConfig(hidden=5, n_latent=2, seed=0)
    part = PARTS["aevb"](config, 4, 10)
    rng = np.random.default_rng(0)
    params = part.init_params(rng)
    x = rng.random((3, 4))
    assert evaluate_rows(part, params, x, "bound", rng).shape == (3,)
    with pytest.raises(ConfigError, match="is not one of bound, appendix-d, hmc-is, quadrature"):
        evaluate_rows(part, params, x, name, rng)
