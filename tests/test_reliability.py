"""Nothing a user trained is lost; every bad input gets one clear error (issue: reliability).

* Kill-and-resume: a CLI run in a subprocess is killed with SIGKILL at seeded random
  moments, resumed each time with ``--resume``, and must end with parameters bit-for-bit
  equal to the same run done in one go.  SIGINT saves a checkpoint and exits 130 with a
  message saying how to resume.
* A table of bad inputs runs each case through the public API and/or the CLI and asserts
  the exception type or exit status 2, the one-line message, and that no file that existed
  before changed.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aevb_np import bounds, checkpoint, model
from aevb_np.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NonFiniteError,
    ShapeError,
    SupportError,
    TrainingDivergedError,
)
from aevb_np.train import TrainConfig, main, train

REPO = Path(__file__).resolve().parents[1]
# Frey Face keeps start-up short (a 1 MB file), so most of each subprocess's life is training.
RUN_FLAGS = ["--dataset", "frey-face", "--lr", "0.01", "--hidden", "100", "--n-latent", "5", "--batch-size", "50",
             "--max-samples", "30000", "--eval-every", "10000", "--checkpoint-every", "3", "--seed", "11", "--no-progress"]
RUN_CONFIG = TrainConfig(dataset="frey-face", lr=0.01, hidden=100, n_latent=5, batch_size=50, max_samples=30000,
                         eval_every=10000, checkpoint_every=3, seed=11)
# Same BLAS thread count as the test process (see conftest.py), so results agree bit for bit.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "aevb_np.train", *args], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(path: Path, proc, timeout=60.0):
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.02)
    return True


def _assert_same_params(a, b):
    for g in a:
        for k in a[g]:
            np.testing.assert_array_equal(a[g][k], b[g][k], err_msg=f"{g}/{k}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The parameters of RUN_CONFIG trained in one go, in-process."""
    return train(RUN_CONFIG, tmp_path_factory.mktemp("ref") / "run", progress=False)["params"]


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, reference):
    run = tmp_path / "killed"
    rng = np.random.default_rng(2024)
    proc = _cli([*RUN_FLAGS, "--out", str(run)])
    kills = 0
    for _ in range(3):
        if not _wait_for(run / "checkpoint.npz", proc):
            break
        time.sleep(float(rng.uniform(0.0, 0.6)))  # an arbitrary moment, possibly mid-save
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        # A kill never leaves a broken checkpoint: the previous one is whole.
        checkpoint.load(run / "checkpoint.npz")
        proc = _cli(["--resume", str(run), "--no-progress"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert kills >= 2, "the run finished before it could be killed twice; make it longer"
    _assert_same_params(checkpoint.load_params(run / "params.npz"), reference)


def test_sigint_saves_and_says_how_to_resume(tmp_path, reference):
    run = tmp_path / "interrupted"
    proc = _cli([*RUN_FLAGS, "--out", str(run)])
    assert _wait_for(run / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert f"--resume {run}" in out
    assert "Traceback" not in err
    assert main(["--resume", str(run), "--no-progress"]) == 0
    _assert_same_params(checkpoint.load_params(run / "params.npz"), reference)


def test_nan_during_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = bounds.estimator_B
    calls = {"n": 0}

    def poisoned(params, x, eps, **kw):
        calls["n"] += 1
        if calls["n"] == 10:  # the 10th step: a parameter becomes NaN
            params["theta"]["W4"][0, 0] = np.nan
        return real(params, x, eps, **kw)

    monkeypatch.setattr(bounds, "estimator_B", poisoned)
    config = TrainConfig(dataset="frey-face", hidden=20, n_latent=2, batch_size=50, max_samples=5000,
                         eval_every=10_000, checkpoint_every=4, seed=1)
    with pytest.raises(TrainingDivergedError, match=r"diverged at step 10 .*W4.*last good state"):
        train(config, tmp_path / "nan", progress=False)
    state = checkpoint.load(tmp_path / "nan" / "checkpoint.npz")
    assert state["step"] == 8 and np.isfinite(state["params"]["theta"]["W4"]).all()


# ----------------------------------------------------------------- checkpoints


def _small_checkpoint(tmp_path):
    config = TrainConfig(dataset="frey-face", hidden=10, n_latent=2, batch_size=50, max_samples=500, eval_every=10_000, seed=0)
    train(config, tmp_path / "ck", progress=False)
    return tmp_path / "ck" / "checkpoint.npz"


def test_truncated_checkpoint_is_named_and_never_half_loaded(tmp_path):
    path = _small_checkpoint(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load(path)


def test_altered_checkpoint_fails_its_digest(tmp_path):
    path = _small_checkpoint(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["params/phi/W3"][0, 0] += 1e-3  # a silent edit, valid zip and all
    checkpoint.atomic_savez(path, arrays)
    with pytest.raises(CheckpointError, match="SHA-256"):
        checkpoint.load(path)


def test_resume_with_contradicting_config_is_refused(tmp_path):
    _small_checkpoint(tmp_path)
    other = TrainConfig(dataset="frey-face", hidden=10, n_latent=3, batch_size=50, max_samples=500, eval_every=10_000, seed=0)
    with pytest.raises(ConfigError, match=r"n_latent was 2 in the saved run, got 3; only epochs, max_samples"):
        train(other, tmp_path / "ck", resume=True, progress=False)


# ----------------------------------------------------------------- the bad-input table


def _snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tiny():
    params = model.init_params(12, 7, 3, "bernoulli", np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(size=(4, 12))
    eps = np.random.default_rng(2).standard_normal((1, 4, 3))
    return params, x, eps


def _with(params, group, name, value):
    p = {g: dict(a) for g, a in params.items()}
    if value is None:
        del p[group][name]
    else:
        p[group][name] = value
    return p


API_CASES = [
    ("x 3-D", lambda p, x, e: (p, x.reshape(4, 3, 4), e), ShapeError, r"x must have shape \(M, 12\), got \(4, 3, 4\)"),
    ("x wrong D", lambda p, x, e: (p, x[:, :10], e), ShapeError, r"x must have shape \(M, 12\), got \(4, 10\)"),
    ("x integer dtype", lambda p, x, e: (p, (x > 0.5).astype(np.int64), e), ShapeError, "x must have a floating dtype"),
    ("x list", lambda p, x, e: (p, x.tolist(), e), ShapeError, "x must be a numpy array, got list"),
    ("x NaN", lambda p, x, e: (p, np.where(np.arange(12) == 5, np.nan, x), e), NonFiniteError, r"x must be finite, got 4 NaN/inf value\(s\), first at index \(0, 5\)"),
    ("x inf", lambda p, x, e: (p, np.where(np.arange(12) == 0, np.inf, x), e), NonFiniteError, "x must be finite"),
    ("x above 1", lambda p, x, e: (p, x * 3, e), SupportError, r"x must lie in \[0, 1\] for a Bernoulli likelihood"),
    ("x negative", lambda p, x, e: (p, x - 0.5, e), SupportError, r"x must lie in \[0, 1\]"),
    ("x no rows", lambda p, x, e: (p, x[:0], e[:, :0]), ShapeError, r"x holds no datapoints \(shape \(0, 12\)\)"),
    ("eps wrong M", lambda p, x, e: (p, x, e[:, :3]), ShapeError, r"eps must have shape \(M, 4, 3\), got \(1, 3, 3\)"),
    ("eps 2-D", lambda p, x, e: (p, x, e[0]), ShapeError, r"eps must have shape"),
    ("eps NaN", lambda p, x, e: (p, x, e * np.nan), NonFiniteError, "eps must be finite"),
    ("params missing W2", lambda p, x, e: (_with(p, "theta", "W2", None), x, e), ShapeError, r"missing \['W2'\]"),
    ("params extra", lambda p, x, e: (_with(p, "theta", "W7", np.zeros(3)), x, e), ShapeError, r"unexpected \['W7'\]"),
    ("params misshapen", lambda p, x, e: (_with(p, "theta", "b2", np.zeros(11)), x, e), ShapeError, r"params\['theta'\]\['b2'\] must have shape \(12,\), got \(11,\)"),
    ("params NaN", lambda p, x, e: (_with(p, "phi", "W4", np.full((3, 7), np.nan)), x, e), NonFiniteError, r"params\['phi'\]\['W4'\] holds NaN"),
    ("params not a dict", lambda p, x, e: ([1, 2], x, e), ShapeError, "params must be"),
]


@pytest.mark.parametrize("case, edit, error, message", API_CASES, ids=[c[0] for c in API_CASES])
@pytest.mark.parametrize("estimator", [bounds.estimator_A, bounds.estimator_B], ids=["A", "B"])
def test_bad_input_to_the_estimators_is_a_clear_error(tiny, case, edit, error, message, estimator):
    params, x, eps = edit(*tiny)
    with pytest.raises(error, match=message):
        estimator(params, x, eps)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "existing"
    assert main(["--dataset", "frey-face", "--hidden", "10", "--n-latent", "2", "--max-samples", "200",
                 "--out", str(run), "--no-progress"]) == 0
    return run


CLI_CASES = [
    ("lr zero", ["--lr", "0"], "--lr must be a positive finite number, got 0.0"),
    ("lr negative", ["--lr", "-0.1"], "--lr must be a positive finite number"),
    ("lr nan", ["--lr", "nan"], "--lr must be a positive finite number, got nan"),
    ("lr inf", ["--lr", "inf"], "--lr must be a positive finite number, got inf"),
    ("lr not a number", ["--lr", "fast"], "argument --lr: must be a positive number or 'auto', got 'fast'"),
    ("batch size zero", ["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    ("batch size larger than data", ["--dataset", "frey-face", "--batch-size", "5000"], "--batch-size 5000 is larger than the training set (1600 datapoints)"),
    ("hidden zero", ["--hidden", "0"], "--hidden must be a positive integer, got 0"),
    ("hidden negative", ["--hidden", "-5"], "--hidden must be a positive integer, got -5"),
    ("n-latent zero", ["--n-latent", "0"], "--n-latent must be a positive integer, got 0"),
    ("epochs zero", ["--epochs", "0"], "--epochs must be a positive finite number, got 0.0"),
    ("epochs nan", ["--epochs", "nan"], "--epochs must be a positive finite number, got nan"),
    ("epochs negative", ["--epochs", "-1"], "--epochs must be a positive finite number"),
    ("samples per datapoint zero", ["--samples-per-datapoint", "0"], "--samples-per-datapoint must be a positive integer"),
    ("unknown dataset", ["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
    ("unknown estimator", ["--estimator", "C"], "argument --estimator: invalid choice: 'C'"),
    ("missing data files", ["--data-dir", "{tmp}/empty"], "not found"),
    ("unwritable out", ["--out", "/proc/aevb-np-run"], "--out /proc/aevb-np-run is not writable"),
    ("out is a file", ["--out", "{tmp}/afile"], "exists and is not a folder"),
    ("out holds a run", ["--out", "{run}"], "already holds a run; pass --resume"),
    ("resume nothing", ["--resume", "{tmp}/nothing"], "no run there (no config.json)"),
    ("resume contradicting", ["--resume", "{run}", "--n-latent", "7"], "n_latent was 2 in the saved run, got 7"),
    ("resume other dataset", ["--resume", "{run}", "--dataset", "mnist"], "dataset was 'frey-face' in the saved run, got 'mnist'"),
    # flags the run would have ignored
    ("resume with out", ["--resume", "{run}", "--out", "{tmp}/other"], "--out and --force do not apply"),
    ("resume with force", ["--resume", "{run}", "--force"], "--out and --force do not apply"),
    ("frey split with mnist", ["--frey-split", "tail"], "--frey-split applies to --dataset frey-face only"),
    ("trial length without lr auto", ["--lr-trial-samples", "500"], "applies with --lr auto only"),
    ("negative seed", ["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    ("eval test size beyond the test set", ["--dataset", "frey-face", "--eval-test-size", "5000"], "the frey-face test set has"),
]


@pytest.mark.parametrize("case, args, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_flags_exit_2_with_one_line_and_change_nothing(tmp_path, capsys, finished_run, case, args, message):
    run = tmp_path / "existing"
    shutil.copytree(finished_run, run)
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    capsys.readouterr()
    before = _snapshot(tmp_path)
    args = [a.format(tmp=tmp_path, run=run) for a in args]
    base = ["--no-progress"] + ([] if any(a in ("--out", "--resume") for a in args) else ["--out", str(tmp_path / "new")])
    try:
        status = main(base + args)
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        status = exc.code
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert "Traceback" not in captured.err
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "an existing file changed"


def test_corrupt_data_file_is_a_clear_error_naming_it(tmp_path):
    src = Path(__file__).resolve().parents[2] / "shared" / "data" / "freyface" / "frey_rawface.mat"
    bad = tmp_path / "data" / "freyface"
    bad.mkdir(parents=True)
    blob = bytearray(src.read_bytes())
    blob[1000] ^= 0xFF
    (bad / "frey_rawface.mat").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="frey_rawface.mat"):
        train(TrainConfig(dataset="frey-face", data_dir=str(tmp_path / "data"), max_samples=100), tmp_path / "run", progress=False)


@pytest.mark.parametrize("saved", [False, True], ids=["nothing saved yet", "config saved"])
def test_ctrl_c_before_the_loop_says_what_was_kept(tmp_path, monkeypatch, capsys, saved):
    """Ctrl-C while the data load or §5's step-size trials run (before the loop handles
    SIGINT) exits 130; it offers --resume only when the run folder holds a run to resume."""
    import aevb_np.train as train_mod

    out = tmp_path / "run"

    def interrupted(config, folder, **kwargs):
        if saved:
            folder.mkdir()
            (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    assert main(["--dataset", "frey-face", "--out", str(out), "--no-progress"]) == 130
    printed = capsys.readouterr().out
    if saved:
        assert f"resume with: python -m aevb_np.train --resume {out}" in printed or f"--resume {out}" in printed
        assert "nothing was saved" not in printed
    else:
        assert "interrupted before the run started; nothing was saved" in printed
        assert "--resume" not in printed
