"""Tests of the evaluation CLI (python -m aevb_np.evaluate) on a tiny run trained on real MNIST."""

import json

import numpy as np
import pytest

from aevb_np import bounds, checkpoint, marginal
from aevb_np import data as data_mod
from aevb_np.evaluate import evaluate, main
from aevb_np.train import TrainConfig, train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 784-20-2 VAE after 3000 samples of AEVB on MNIST (about a second of training)."""
    out = tmp_path_factory.mktemp("eval") / "run"
    config = TrainConfig(hidden=20, n_latent=2, max_samples=3_000, eval_every=100_000, eval_train_size=100, seed=2)
    train(config, out, progress=False)
    return out


def test_cli_prints_bound_and_estimates_and_writes_json(run_dir, capsys):
    status = main([str(run_dir), "--iw-samples", "200", "--max-points", "100", "--appendix-d", "--hmc-samples", "60",
                   "--hmc-fit", "60", "--hmc-burnin", "60", "--lb-samples", "20", "--no-progress", "--seed", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "lower bound (estimator B, L=20)" in out and "importance sampled (K=200)" in out and "Appendix D" in out
    res = json.loads((run_dir / "evaluation.json").read_text())
    assert res["n_points"] == 100 and res["split"] == "test" and res["params_file"] == "params.npz"
    lb, iw, ad = res["lower_bound"], res["importance_sampled"], res["appendix_d"]
    # The printed numbers are the JSON's, rounded to 2 decimals.
    assert f"{iw['mean']:.2f} ± {iw['stderr']:.2f}" in out
    # IS with K=200 is above the bound on average: the paired gap is positive by > 4 SE.
    assert iw["gap_to_lower_bound"]["mean"] > 4 * iw["gap_to_lower_bound"]["stderr"]
    assert iw["mean"] > lb["mean"]
    # Nz = 2: the Appendix D estimate and IS agree to a fraction of a nat on average.
    assert abs(ad["mean"] - iw["mean"]) < 0.5, (ad["mean"], iw["mean"])
    assert 0.7 < ad["mean_accept_rate"] < 1.0


def test_evaluate_matches_direct_calls_with_the_same_seed(run_dir):
    res = evaluate(run_dir, iw_samples=20, max_points=50, seed=3, progress=False, echo=lambda *a: None)
    params = checkpoint.load_params(run_dir / "params.npz")
    x = data_mod.load_dataset("mnist", "test")[0][:50]
    rng = np.random.default_rng([3, 0xE7A1])
    lb = bounds.lower_bound(params, x, rng)
    iw = marginal.importance_sampled_log_px(params, x, 20, rng)
    assert res["lower_bound"]["mean"] == pytest.approx(lb.mean(), abs=1e-9)
    assert res["importance_sampled"]["mean"] == pytest.approx(iw.mean(), abs=1e-9)


def test_missing_run_dir_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    status = main([str(tmp_path / "nope"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("aevb-evaluate: error: RUN_DIR") and "not a folder" in err


def test_run_dir_without_params_or_with_bad_flags_exits_2(tmp_path, run_dir, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps({"dataset": "mnist"}))
    assert main([str(tmp_path / "empty")]) == 2
    assert "neither params.npz nor checkpoint.npz" in capsys.readouterr().err
    assert main([str(run_dir), "--iw-samples", "-1"]) == 2
    assert "--iw-samples must be an integer >= 0" in capsys.readouterr().err
    assert main([str(run_dir), "--split", "valid"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
