"""Tests of the evaluation CLI (python -m aevb_np.evaluate) on a tiny run trained on real MNIST."""

import io
import json

import numpy as np
import pytest

import aevb_np
from aevb_np import bounds, checkpoint, full_vb, marginal
from aevb_np import data as data_mod
from aevb_np.evaluate import evaluate, main
from aevb_np.train import TrainConfig, train

QUIET = dict(progress=False, echo=lambda *a: None)


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
    path = run_dir / "evaluation-test-K200-seed1-appendix-d-n100.json"
    assert f"results written to {path} (earlier evaluations are kept)" in out
    res = json.loads(path.read_text())
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
    res = evaluate(run_dir, iw_samples=20, max_points=50, seed=3, **QUIET)
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


def test_every_evaluation_is_kept_in_its_own_file(run_dir, tmp_path):
    (run_dir / "evaluation.json").write_text('{"mine": true}')  # e.g. from an older version
    first = evaluate(run_dir, iw_samples=5, max_points=20, seed=4, **QUIET)
    again = evaluate(run_dir, iw_samples=5, max_points=20, seed=4, **QUIET)
    other = evaluate(run_dir, iw_samples=0, max_points=20, seed=4, **QUIET)
    names = [res["results_file"] for res in (first, again, other)]
    assert names == [str(run_dir / "evaluation-test-K5-seed4-n20.json"),
                     str(run_dir / "evaluation-test-K5-seed4-n20-2.json"),
                     str(run_dir / "evaluation-test-K0-seed4-n20.json")]
    # the first file still holds the first evaluation; same seed, same numbers
    kept = json.loads((run_dir / "evaluation-test-K5-seed4-n20.json").read_text())
    assert kept["importance_sampled"]["mean"] == first["importance_sampled"]["mean"]
    assert again["importance_sampled"]["mean"] == first["importance_sampled"]["mean"]
    assert kept["settings"] == {"iw_samples": 5, "appendix_d": False, "max_points": 20, "lb_samples": 1,
                                "batch_size": 100}
    assert "importance_sampled" not in other and other["lower_bound"]["mean"] == first["lower_bound"]["mean"]
    assert json.loads((run_dir / "evaluation.json").read_text()) == {"mine": True}


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"aevb-evaluate (aevb_np) {aevb_np.__version__}\n"


def test_more_points_than_the_split_has_or_a_config_that_contradicts_params_exit_2(run_dir, tmp_path, capsys):
    # --max-points beyond the split evaluated the whole split under a file name with the request;
    # a config.json whose n_latent contradicts params.npz was evaluated with no word.
    assert main([str(run_dir), "--max-points", "100000", "--iw-samples", "0"]) == 2
    err = capsys.readouterr().err
    assert "--max-points 100000: the test split of mnist has 10000 points" in err and err.count("\n") == 1
    run = tmp_path / "run"
    run.mkdir()
    config = json.loads((run_dir / "config.json").read_text())
    config["n_latent"] = 5
    (run / "config.json").write_text(json.dumps(config))
    (run / "params.npz").write_bytes((run_dir / "params.npz").read_bytes())
    assert main([str(run), "--iw-samples", "0", "--max-points", "10"]) == 2
    err = capsys.readouterr().err
    assert "says n_latent = 5, but params.npz has 2" in err and err.count("\n") == 1
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "params.npz"]


def _copy_run_without_data(run_dir, tmp_path):
    """The run's config and params in a new folder, pointing at an empty data folder."""
    run = tmp_path / "run"
    run.mkdir()
    config = json.loads((run_dir / "config.json").read_text())
    config["data_dir"] = str(tmp_path / "nodata")
    (run / "config.json").write_text(json.dumps(config))
    (run / "params.npz").write_bytes((run_dir / "params.npz").read_bytes())
    return run


def test_missing_data_names_download_and_writes_nothing(run_dir, tmp_path, capsys):
    run = _copy_run_without_data(run_dir, tmp_path)
    before = sorted(p.name for p in run.iterdir())
    assert main([str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aevb-evaluate: error: data files mnist/t10k-images")
    for needed in ("--download", "--data-dir", "AEVB_NP_DATA"):
        assert needed in err
    assert sorted(p.name for p in run.iterdir()) == before
    assert not (tmp_path / "nodata").exists()


def test_download_flag_fetches_the_missing_files_then_evaluates(run_dir, tmp_path, monkeypatch, capsys):
    run = _copy_run_without_data(run_dir, tmp_path)
    served = {}
    for relname in ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"):
        served[data_mod._FILES[relname].urls[0]] = data_mod.resolve_data_file(relname).read_bytes()
    calls = []

    def fake_urlopen(url, timeout=None):  # no network in tests: serve the real files' bytes
        calls.append(url)
        return io.BytesIO(served[url])

    monkeypatch.setattr(data_mod.urllib.request, "urlopen", fake_urlopen)
    assert main([str(run), "--download", "--iw-samples", "5", "--max-points", "10", "--no-progress"]) == 0
    assert sorted(calls) == sorted(served)
    assert sorted(p.name for p in (tmp_path / "nodata" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert (run / "evaluation-test-K5-seed0-n10.json").is_file()


# --------------------------------------------------------------------------- full VB (Appendix F)


@pytest.fixture(scope="module")
def full_vb_run(tmp_path_factory):
    """A 784-20-2 full-VB run (Appendix F) after 2000 samples on MNIST."""
    out = tmp_path_factory.mktemp("eval_fvb") / "run"
    config = TrainConfig(algorithm="full-vb", hidden=20, n_latent=2, max_samples=2_000, eval_every=100_000,
                         eval_train_size=100, seed=5)
    train(config, out, progress=False)
    return out


def test_full_vb_run_gets_its_own_bound_matching_direct_calls(full_vb_run, capsys):
    assert main([str(full_vb_run), "--max-points", "40", "--seed", "2", "--lb-samples", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    res = json.loads((full_vb_run / "evaluation-test-K0-seed2-n40.json").read_text())
    params = checkpoint.load_params(full_vb_run / "params.npz")
    x = data_mod.load_dataset("mnist", "test")[0][:40]
    rng = np.random.default_rng([2, 0xE7A1])
    lb = full_vb.lower_bound(params, x, rng, 60000, L=3)
    r = res["full_vb_bound"]
    assert r["n_train"] == 60000 and r["L"] == 3 and "lower_bound" not in res
    assert r["mean"] == pytest.approx(lb.mean(), abs=1e-9)
    # E_q(θ)[L(θ, φ; x)] adds back the KL over θ spread over the N training points
    kl = -full_vb.neg_kl_theta(params) / 60000
    assert kl > 0 and r["kl_theta_per_datapoint"] == pytest.approx(kl, rel=1e-12)
    assert r["expected_elbo"]["mean"] == pytest.approx(lb.mean() + kl, abs=1e-9)
    assert "full VB (App. F)" in out and f"{r['mean']:.2f} ± {r['stderr']:.2f}" in out


@pytest.mark.parametrize("flags, fragment", [
    (["--iw-samples", "10"], "--iw-samples 10: RUN_DIR"),
    (["--appendix-d"], "--appendix-d: RUN_DIR"),
])
def test_full_vb_run_refuses_the_log_px_estimators_in_one_line(full_vb_run, flags, fragment, capsys):
    before = sorted(p.name for p in full_vb_run.iterdir())
    assert main([str(full_vb_run), *flags, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aevb-evaluate: error: {fragment}")
    assert "is a full-VB run (Appendix F)" in err and "KeyError" not in err
    assert sorted(p.name for p in full_vb_run.iterdir()) == before
