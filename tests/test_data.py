"""Tests for aevb_np.data: the real files, path resolution, corrupt files, downloads.

The real datasets are read from ../shared/data (or $AEVB_NP_DATA); the expected numbers
come from shared/data/README.md. No test touches the network: an autouse fixture
replaces urllib.request.urlopen, and the download tests serve local bytes through it.
"""

import dataclasses
import gzip
import hashlib
import http.server
import io
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from aevb_np import data
from aevb_np.errors import ConfigError, DataError

SHARED = Path(data.__file__).resolve().parents[3] / "shared" / "data"  # aevb_np/data/__init__.py
REAL_URLOPEN = urllib.request.urlopen  # kept for the one test that talks to a local server
REAL_USER_CACHE_DIR = data.user_cache_dir  # every test but one sees a temporary one
LABELS_T10K = "mnist/t10k-labels-idx1-ubyte.gz"
IMAGES_T10K = "mnist/t10k-images-idx3-ubyte.gz"


def _default_paths():
    # Resolved once at import, before any test redirects the search places.
    found = {}
    for relname in data._FILES:
        try:
            found[relname] = data.resolve_data_file(relname)
        except DataError:
            pass
    return found


REAL_PATHS = _default_paths()


def _real(relname):
    """Path of a real data file, as the default search (no data_dir) finds it."""
    if relname not in REAL_PATHS:
        pytest.fail(f"real data file {relname} not found; see shared/data/README.md")
    return REAL_PATHS[relname]


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """No test opens a connection, nor reads or writes the real per-user cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(data.paths, "user_cache_dir", lambda: tmp_path / "unused-user-cache")


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Point every default search place into tmp_path; return (env, user, cache, shared).

    ``env`` is for $AEVB_NP_DATA (unset here), ``user`` the per-user cache, ``cache`` and
    ``shared`` the checkout's data/ and ../shared/data (searched: this is a checkout).
    """
    env, user = tmp_path / "env", tmp_path / "user-cache"
    cache, shared = tmp_path / "cache", tmp_path / "shared"
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data.paths, "user_cache_dir", lambda: user)
    monkeypatch.setattr(data.paths, "is_source_checkout", lambda: True)
    monkeypatch.setattr(data.paths, "_repo_cache_dir", lambda: cache)
    monkeypatch.setattr(data.paths, "_shared_data_dir", lambda: shared)
    return env, user, cache, shared


@pytest.fixture
def installed(isolated, monkeypatch):
    """As ``isolated``, but the package runs from an installed copy (no checkout folders)."""
    monkeypatch.setattr(data.paths, "is_source_checkout", lambda: False)
    return isolated


def _place(relname, directory, *, flat=False):
    """Symlink the real file into directory (nested as in shared/data, or flat)."""
    src = _real(relname)
    dest = directory / (Path(relname).name if flat else relname)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dest)
    return dest


def _write(directory, relname, payload):
    dest = directory / relname
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(payload)
    return dest


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def mnist_train():
    return data.load_mnist("train")


def test_mnist_train_has_documented_shape_range_mean_and_labels(mnist_train):
    x, y = mnist_train
    assert x.shape == (60000, 784) and x.dtype == np.float64
    assert y.shape == (60000,) and y.dtype == np.uint8
    assert x.min() == 0.0 and x.max() == 1.0
    assert abs(x.mean() * 255 - 33.318) < 5e-4  # README: mean pixel 33.318
    assert y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_pixels_are_stored_bytes_over_255(mnist_train):
    x, _ = mnist_train
    scaled = x[:1000] * 255
    np.testing.assert_array_equal(scaled, np.round(scaled))
    assert x.flags.c_contiguous and x.flags.writeable


def test_mnist_test_has_documented_shape_mean_and_label_counts():
    x, y = data.load_mnist("test")
    assert x.shape == (10000, 784) and x.dtype == np.float64 and y.dtype == np.uint8
    assert x.min() == 0.0 and x.max() == 1.0
    assert abs(x.mean() * 255 - 33.791) < 5e-4  # README: mean pixel 33.791
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_frey_face_has_documented_shape_and_value_range():
    x = data.load_frey_face()
    assert x.shape == (1965, 560) and x.dtype == np.float64 and x.flags.c_contiguous
    assert x.min() == 8 / 255 and x.max() == 238 / 255  # README: values 8..238
    assert abs(x.mean() * 255 - 154.46) < 5e-3


def test_frey_face_rows_are_columns_of_ff():
    # Each column of the stored (560, 1965) matrix is one face; each row of x must be one.
    ff = scipy.io.loadmat(_real("freyface/frey_rawface.mat"))["ff"]
    x = data.load_frey_face()
    np.testing.assert_array_equal(x[0] * 255, ff[:, 0])
    np.testing.assert_array_equal(x[-1] * 255, ff[:, -1])


@pytest.mark.parametrize(
    "split, n, mean", [("train", 50000, 0.1306), ("valid", 10000, 0.1311), ("test", 10000, 0.1325)]
)
def test_binarized_mnist_has_documented_shape_values_and_mean(split, n, mean):
    x = data.load_binarized_mnist(split)
    assert x.shape == (n, 784) and x.dtype == np.float64
    assert np.all((x == 0.0) | (x == 1.0)) and x.min() == 0.0 and x.max() == 1.0
    assert round(x.mean(), 4) == mean  # README, to 4 decimals


@pytest.mark.parametrize(
    "name, split, n, has_labels",
    [
        ("mnist", "test", 10000, True),
        ("binarized-mnist", "valid", 10000, False),
        ("frey-face", "all", 1965, False),
    ],
)
def test_load_dataset_rows_reshape_to_dataset_shapes(name, split, n, has_labels):
    x, y = data.load_dataset(name, split)
    d, image_shape = data.DATASET_SHAPES[name]
    assert x.shape == (n, d) and d == np.prod(image_shape)
    assert (y is not None) == has_labels
    assert x.reshape(n, *image_shape).shape == (n, *image_shape)


@pytest.mark.parametrize("name, split", [("mnist", "test"), ("binarized-mnist", "valid"), ("frey-face", "all")])
def test_float32_loading_is_the_float64_data_rounded_once(name, split):
    """dtype=float32 converts from the stored values directly (no float64 copy is made)."""
    x64, _ = data.load_dataset(name, split)
    x32, _ = data.load_dataset(name, split, dtype=np.float32)
    assert x32.dtype == np.float32 and x32.flags.c_contiguous and x32.shape == x64.shape
    # bytes/255 computed in float32 is correctly rounded, so it differs from the float64
    # value by at most half a float32 ulp.
    np.testing.assert_allclose(x32, x64, rtol=2.0**-24, atol=0)


@pytest.mark.parametrize("bad", [np.int32, np.float16, "complex128", "nonsense", None])
def test_loaders_reject_a_non_float_dtype(bad):
    with pytest.raises(ConfigError, match="dtype must be float32 or float64"):
        data.load_dataset("frey-face", "all", dtype=bad)


def test_frey_face_tail_split_is_last_197_frames_as_test():
    x_all, _ = data.load_dataset("frey-face", "all")
    x_train, _ = data.load_dataset("frey-face", "train", frey_split="tail")
    x_test, _ = data.load_dataset("frey-face", "test", frey_split="tail")
    assert data.FREY_FACE_N_TEST == 197
    assert x_train.shape == (1768, 560) and x_test.shape == (197, 560)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x_all)
    np.testing.assert_array_equal(x_test, x_all[-197:])


def test_frey_face_random_split_holds_out_a_fixed_random_365_frames():
    x_all, _ = data.load_dataset("frey-face", "all")
    x_train, _ = data.load_dataset("frey-face", "train")  # "random" is the default
    x_test, _ = data.load_dataset("frey-face", "test", frey_split="random")
    train_idx, test_idx = data.frey_face_split_indices("random")
    assert x_train.shape == (1600, 560) and x_test.shape == (365, 560)
    assert np.union1d(train_idx, test_idx).tolist() == list(range(1965))
    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(x_train, x_all[train_idx])
    np.testing.assert_array_equal(x_test, x_all[test_idx])
    # Interleaved, not a stretch of video: test frames are spread over the whole video
    # (every tenth of it holds some), unlike the tail split's last 197.
    assert len(np.unique(test_idx * 10 // 1965)) == 10
    # Fixed: the same frames on every call (and every machine: seeded permutation).
    np.testing.assert_array_equal(data.frey_face_split_indices("random")[1], test_idx)


def test_frey_split_rejects_unknown_names():
    with pytest.raises(ConfigError, match="frey_split must be one of random, tail"):
        data.load_dataset("frey-face", "train", frey_split="middle")


def test_loaders_return_fresh_arrays_each_call():
    x1 = data.load_frey_face()
    x1[:] = -1.0
    x2 = data.load_frey_face()
    assert x2.min() == 8 / 255


def test_sha256_of_real_files_match_shared_sha256sums():
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, relname = line.split()
        assert data._FILES[relname].sha256 == digest
        assert data.sha256_file(_real(relname)) == digest


# --------------------------------------------------------------------------- bad names


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: data.load_dataset("cifar10", "train"), "dataset must be one of"),
        (lambda: data.load_dataset("frey-face", "valid"), "split for frey-face"),
        (lambda: data.load_mnist("valid"), "split for mnist must be one of ['train', 'test']"),
        (lambda: data.load_binarized_mnist("all"), "got 'all'"),
        (lambda: data.resolve_data_file("mnist/nope.gz"), "relname must be one of"),
    ],
)
def test_unknown_dataset_or_split_raises_config_error(call, fragment):
    with pytest.raises(ConfigError) as info:
        call()
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- path resolution


def test_env_var_wins_over_user_cache_repo_cache_and_shared(isolated, monkeypatch):
    env, user, cache, shared = isolated
    for directory in isolated:
        _place(LABELS_T10K, directory)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    assert data.resolve_data_file(LABELS_T10K) == env / LABELS_T10K


def test_user_cache_wins_over_the_checkout_folders(isolated):
    env, user, cache, shared = isolated
    for directory in (user, cache, shared):
        _place(LABELS_T10K, directory)
    assert data.resolve_data_file(LABELS_T10K) == user / LABELS_T10K


def test_repo_cache_wins_over_shared(isolated):
    env, user, cache, shared = isolated
    _place(LABELS_T10K, cache)
    _place(LABELS_T10K, shared)
    assert data.resolve_data_file(LABELS_T10K) == cache / LABELS_T10K


def test_shared_is_the_last_resort_and_env_var_falls_through(isolated, monkeypatch):
    env, user, cache, shared = isolated
    env.mkdir()
    user.mkdir()
    _place(LABELS_T10K, shared)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    assert data.resolve_data_file(LABELS_T10K) == shared / LABELS_T10K


def test_installed_copy_never_searches_the_checkout_folders(installed):
    env, user, cache, shared = installed
    _place(LABELS_T10K, cache)
    _place(LABELS_T10K, shared)
    with pytest.raises(DataError):
        data.resolve_data_file(LABELS_T10K)
    _place(LABELS_T10K, user)
    assert data.resolve_data_file(LABELS_T10K) == user / LABELS_T10K


def test_source_checkout_needs_setup_cfg_and_git_above_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data.paths, "_repo_root", lambda: tmp_path)
    assert not data.is_source_checkout()  # site-packages: neither
    (tmp_path / "setup.cfg").write_text("[metadata]\n")
    assert not data.is_source_checkout()  # an unpacked sdist: no .git
    (tmp_path / ".git").write_text("gitdir: /elsewhere\n")  # a git worktree's .git file
    assert data.is_source_checkout()
    # and this very test run is from a checkout (the suite runs in the repository)
    monkeypatch.undo()
    assert data.is_source_checkout()


def test_user_cache_dir_is_platformdirs_cache_for_aevb_np(monkeypatch, tmp_path):
    if sys.platform != "linux":
        pytest.skip("XDG_CACHE_HOME is the Linux override")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert REAL_USER_CACHE_DIR() == tmp_path / "aevb_np"


def test_explicit_data_dir_wins_over_env_var(isolated, monkeypatch, tmp_path):
    env = isolated[0]
    explicit = tmp_path / "explicit"
    _place(LABELS_T10K, env)
    _place(LABELS_T10K, explicit)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    assert data.resolve_data_file(LABELS_T10K, explicit) == explicit / LABELS_T10K


def test_explicit_data_dir_without_the_file_is_an_error_not_a_fallback(
    isolated, monkeypatch, tmp_path
):
    env, user, cache, shared = isolated
    for directory in isolated:
        _place(LABELS_T10K, directory)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    with pytest.raises(DataError) as info:
        data.resolve_data_file(LABELS_T10K, explicit)
    msg = str(info.value)
    assert f"of --data-dir {explicit})" in msg and "leave out --data-dir" in msg
    assert "--download" in msg and data.ENV_VAR in msg
    assert str(env) not in msg and str(cache) not in msg and "\n" not in msg


def test_flat_layout_is_accepted_and_nested_is_preferred(tmp_path):
    flat = _place(LABELS_T10K, tmp_path, flat=True)
    assert data.resolve_data_file(LABELS_T10K, tmp_path) == flat
    nested = _place(LABELS_T10K, tmp_path)
    assert data.resolve_data_file(LABELS_T10K, tmp_path) == nested


def test_load_mnist_through_env_var_matches_the_real_files(isolated, monkeypatch):
    env = isolated[0]
    x_ref, y_ref = data.load_mnist("test", _real(LABELS_T10K).parent)
    _place(IMAGES_T10K, env, flat=True)
    _place(LABELS_T10K, env, flat=True)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    x, y = data.load_mnist("test")
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_decompressed_idx_file_is_accepted_with_its_own_checksum(tmp_path):
    _place(IMAGES_T10K, tmp_path)
    raw = gzip.decompress(_real(LABELS_T10K).read_bytes())
    dest = _write(tmp_path, "mnist/t10k-labels-idx1-ubyte", raw)
    assert data.resolve_data_file(LABELS_T10K, tmp_path) == dest
    _, y = data.load_mnist("test", tmp_path)
    assert y[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]


def test_decompressed_amat_file_is_accepted_with_its_own_checksum(tmp_path):
    relname = "binarized_mnist/binarized_mnist_valid.amat.gz"
    raw = gzip.decompress(_real(relname).read_bytes())
    _write(tmp_path, "binarized_mnist_valid.amat", raw)
    np.testing.assert_array_equal(
        data.load_binarized_mnist("valid", tmp_path), data.load_binarized_mnist("valid")
    )


def test_missing_file_message_lists_the_existing_search_places_and_what_to_do(isolated, monkeypatch):
    env, user, cache, shared = isolated
    env.mkdir()
    shared.mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(env))
    with pytest.raises(DataError) as info:
        data.load_frey_face()
    msg = str(info.value)
    assert msg.startswith("data file freyface/frey_rawface.mat not found (looked for frey_rawface.mat in "
                          "<dir>/freyface/ and <dir>/ of: ")
    assert f"of: AEVB_NP_DATA {env}; checkout ../shared/data {shared}); " in msg
    # folders that do not exist are not listed as searched
    assert f"checkout data/ {cache}" not in msg and f"user cache {user})" not in msg
    # ... and the message says how to fetch the file, and the two ways to point at it
    assert f"run with --download (download=True in Python) to fetch it into the user cache {user}" in msg
    assert "--data-dir (data_dir=...) or the environment variable AEVB_NP_DATA" in msg
    assert "\n" not in msg


def test_missing_file_outside_a_checkout_names_only_the_install_s_places(installed):
    env, user, cache, shared = installed
    for directory in installed:
        directory.mkdir()
    with pytest.raises(DataError) as info:
        data.load_mnist("test")
    msg = str(info.value)
    assert f"of: user cache {user}); " in msg
    assert str(cache) not in msg and str(shared) not in msg and "checkout" not in msg
    for needed in ("--download", "--data-dir", "AEVB_NP_DATA"):
        assert needed in msg


def test_missing_file_with_no_search_folder_says_none_exists(installed, monkeypatch, tmp_path):
    with pytest.raises(DataError) as info:
        data.load_frey_face()
    msg = str(info.value)
    assert "and <dir>/; none of the search folders exists); run with --download" in msg
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(DataError) as info:
        data.load_frey_face()
    assert f"exists; AEVB_NP_DATA names {tmp_path / 'typo'}, which does not exist); run with" in str(info.value)


def test_an_installed_copy_outside_the_repo_reports_no_repository_paths(tmp_path):
    """A copy of the package in a site-packages-like folder, run in a fresh process."""
    site = tmp_path / "site-packages"
    src = Path(data.__file__).resolve().parents[1]  # the aevb_np package
    shutil.copytree(src, site / "aevb_np", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != data.ENV_VAR}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    code = ("from aevb_np import data\n"
            "print(data.is_source_checkout())\n"
            "try:\n    data.check_available('mnist', splits='test')\n"
            "except data.DataError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == "False"
    msg = out[1]
    assert msg.startswith("data files mnist/t10k-images-idx3-ubyte.gz, mnist/t10k-labels-idx1-ubyte.gz not found")
    assert "none of the search folders exists" in msg
    assert f"into the user cache {tmp_path / 'xdg' / 'aevb_np'}," in msg
    assert "site-packages" not in msg and "shared" not in msg
    assert not (tmp_path / "xdg").exists()  # a failed lookup creates nothing


# --------------------------------------------------------------------------- check_available


def test_check_available_returns_every_file_of_the_dataset(isolated):
    env, user, cache, shared = isolated
    paths = data.check_available("mnist", _real(LABELS_T10K).parents[1])
    assert [p.name for p in paths] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert [p.name for p in data.check_available("binarized-mnist", SHARED, splits=["valid", "test"])] == [
        "binarized_mnist_valid.amat.gz", "binarized_mnist_test.amat.gz"]
    assert data.check_available("frey-face", SHARED, splits="test") == [SHARED / "freyface" / "frey_rawface.mat"]


def test_check_available_lists_only_the_missing_files(isolated, tmp_path):
    _place(IMAGES_T10K, tmp_path / "d")
    with pytest.raises(DataError) as info:
        data.check_available("mnist", tmp_path / "d", splits="test")
    msg = str(info.value)
    assert msg.startswith(f"data file {LABELS_T10K} not found") and IMAGES_T10K not in msg
    assert "to fetch it into it" in msg


def test_check_available_verifies_files_already_on_disk(isolated, tmp_path):
    _write(tmp_path, "freyface/frey_rawface.mat", b"not the faces")
    with pytest.raises(DataError, match="checksum mismatch for data file"):
        data.check_available("frey-face", tmp_path)
    assert data.check_available("frey-face", tmp_path, verify=False) == [tmp_path / "freyface/frey_rawface.mat"]


@pytest.mark.parametrize("call, fragment", [
    (lambda: data.check_available("cifar10"), "dataset must be one of"),
    (lambda: data.check_available("mnist", splits="valid"), "split for mnist must be one of"),
])
def test_check_available_rejects_unknown_names(call, fragment):
    with pytest.raises(ConfigError, match=fragment):
        call()


# --------------------------------------------------------------------------- corrupt files


def _copy_with(tmp_path, relname, payload):
    """A data_dir holding the real t10k images and `payload` in place of relname."""
    if relname != IMAGES_T10K:
        _place(IMAGES_T10K, tmp_path)
    return _write(tmp_path, relname, payload)


def test_flipped_byte_fails_checksum_with_expected_and_got(tmp_path):
    blob = bytearray(_real(LABELS_T10K).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path = _copy_with(tmp_path, LABELS_T10K, bytes(blob))
    with pytest.raises(DataError) as info:
        data.load_mnist("test", tmp_path)
    msg = str(info.value)
    assert f"checksum mismatch for data file {path}" in msg
    assert f"expected SHA-256 {data._FILES[LABELS_T10K].sha256}" in msg
    assert f"got {data.sha256_file(path)}" in msg
    assert "delete it" in msg and "download=True" in msg


def test_truncated_gzip_is_reported_as_truncated(tmp_path):
    blob = _real(LABELS_T10K).read_bytes()
    path = _copy_with(tmp_path, LABELS_T10K, blob[: len(blob) // 2])
    with pytest.raises(DataError, match="checksum mismatch"):  # the checksum is checked first
        data.load_mnist("test", tmp_path)
    with pytest.raises(DataError) as info:
        data.load_mnist("test", tmp_path, verify=False)
    assert f"data file {path} is truncated" in str(info.value)


def test_non_gzip_bytes_are_reported_as_not_gzip(tmp_path):
    path = _copy_with(tmp_path, LABELS_T10K, b"this is a text file, not gzip\n")
    with pytest.raises(DataError) as info:
        data.load_mnist("test", tmp_path, verify=False)
    assert f"data file {path} is not a valid gzip file" in str(info.value)


def test_labels_in_place_of_images_fail_the_magic_number_check(tmp_path):
    labels_idx = gzip.decompress(_real(LABELS_T10K).read_bytes())
    _write(tmp_path, IMAGES_T10K, gzip.compress(labels_idx))
    _place(LABELS_T10K, tmp_path)
    with pytest.raises(DataError) as info:
        data.load_mnist("test", tmp_path, verify=False)
    assert "IDX magic number is 0x00000801, expected 0x00000803" in str(info.value)


def _idx(magic, shape, payload_len):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)
    return header + bytes(payload_len)


def test_parse_idx_reads_declared_shape():
    out = data.parse_idx(_idx(0x803, (2, 3, 4), 24), ndim=3)
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8


@pytest.mark.parametrize(
    "buf, ndim, fragment",
    [
        (_idx(0x801, (5,), 5), 3, "magic number is 0x00000801, expected 0x00000803"),
        (_idx(0x803, (2, 3, 4), 24), 1, "magic number is 0x00000803, expected 0x00000801"),
        (_idx(0x0D03, (2, 3, 4), 24), 3, "magic number is 0x00000d03"),  # float IDX
        (_idx(0x801, (10,), 9), 1, "declares shape (10,) = 10 bytes of data, but 9 bytes follow"),
        (_idx(0x801, (10,), 11), 1, "but 11 bytes follow"),
        (_idx(0x803, (2, 3), 0), 3, "too short for an IDX header of 16 bytes"),
        (b"\x00\x00", 1, "2 bytes is too short for an IDX magic number"),
    ],
    ids=["labels-as-images", "images-as-labels", "float-idx", "short-payload", "trailing-bytes",
         "short-header", "no-magic"],
)
def test_parse_idx_rejects_bad_headers(buf, ndim, fragment):
    with pytest.raises(DataError) as info:
        data.parse_idx(buf, ndim=ndim, source="f.idx")
    assert str(info.value).startswith("f.idx: ") and fragment in str(info.value)


def _amat_line(bits):
    return (" ".join(str(b) for b in bits) + "\n").encode()


def test_parse_amat_reads_rows_in_order():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(3, 784))
    out = data.parse_amat(b"".join(_amat_line(row) for row in bits))
    assert out.shape == (3, 784) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, bits)


_ZEROS, _ONES = _amat_line([0] * 784), _amat_line([1] * 784)


@pytest.mark.parametrize(
    "buf, fragment",
    [
        (_ZEROS + _ONES[:4] + b"2" + _ONES[5:], "line 2, value 3 is b'2', expected '0' or '1'"),
        (_ZEROS + _ONES[:5] + b"\t" + _ONES[6:], "line 2, byte 6 is b'\\t', expected a space"),
        (_ZEROS + _ONES[:-1] + b" ", "line 2, byte 1568 is b' ', expected '\\n' (end of line)"),
        (_ZEROS + _ONES[:-1], "3135 bytes is not a whole number of 1568-byte lines"),
        (b"", "0 bytes is not a whole number"),
    ],
    ids=["bad-value", "tab-separator", "no-newline", "short-line", "empty"],
)
def test_parse_amat_rejects_bad_values_and_separators(buf, fragment):
    with pytest.raises(DataError) as info:
        data.parse_amat(buf, source="f.amat")
    assert str(info.value).startswith("f.amat: ") and fragment in str(info.value)


def _mat_bytes(**variables):
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


@pytest.mark.parametrize(
    "buf, fragment",
    [
        (b"definitely not a MAT-file" * 10, "not a readable MATLAB .mat file"),
        (_mat_bytes(X=np.zeros((2, 2), np.uint8)), "expected a variable 'ff'"),
        (_mat_bytes(ff=np.zeros((1965, 560), np.uint8)), "got uint8 of shape (1965, 560)"),
        (_mat_bytes(ff=np.zeros((560, 1965))), "got float64 of shape (560, 1965)"),
    ],
    ids=["not-a-mat-file", "no-ff", "transposed-ff", "float-ff"],
)
def test_parse_frey_mat_rejects_wrong_contents(buf, fragment):
    with pytest.raises(DataError) as info:
        data.parse_frey_mat(buf, source="f.mat")
    assert fragment in str(info.value)


def test_sha256_cache_notices_a_rewritten_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100)
    first = data.sha256_file(path)
    path.write_bytes(b"b" * 100)  # same size; force a different mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert data.sha256_file(path) != first
    assert data.sha256_file(path) == hashlib.sha256(b"b" * 100).hexdigest()


# --------------------------------------------------------------------------- downloads (offline)


class _FakeServer:
    """Stands in for urllib.request.urlopen; serves bytes per URL and records calls."""

    def __init__(self, responses):
        self.responses = responses  # url -> bytes or an exception
        self.calls = []

    def __call__(self, url, timeout=None):
        self.calls.append((url, timeout))
        answer = self.responses.get(url, urllib.error.URLError("no route to host"))
        if isinstance(answer, Exception):
            raise answer
        return io.BytesIO(answer)


def test_missing_file_is_not_downloaded_without_download_flag(tmp_path, monkeypatch):
    server = _FakeServer({})
    monkeypatch.setattr(data.urllib.request, "urlopen", server)
    with pytest.raises(DataError, match="not found"):
        data.resolve_data_file(LABELS_T10K, tmp_path)
    assert server.calls == []


def test_download_stores_verified_file_in_data_dir(tmp_path, monkeypatch):
    blob = _real(LABELS_T10K).read_bytes()
    urls = data._FILES[LABELS_T10K].urls
    server = _FakeServer({urls[1]: blob})  # the first mirror is down
    monkeypatch.setattr(data.urllib.request, "urlopen", server)
    path = data.resolve_data_file(LABELS_T10K, tmp_path, download=True)
    assert path == tmp_path / LABELS_T10K and path.read_bytes() == blob
    assert [url for url, _ in server.calls] == list(urls[:2])
    assert all(timeout == data._DOWNLOAD_TIMEOUT_S for _, timeout in server.calls)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .part left


def test_download_without_data_dir_goes_to_the_user_cache(isolated, monkeypatch):
    env, user, cache, shared = isolated
    blob = _real("freyface/frey_rawface.mat").read_bytes()
    (url,) = data._FILES["freyface/frey_rawface.mat"].urls
    monkeypatch.setattr(data.urllib.request, "urlopen", _FakeServer({url: blob}))
    x = data.load_frey_face(download=True)
    assert (user / "freyface" / "frey_rawface.mat").read_bytes() == blob
    assert not cache.exists()
    assert x.shape == (1965, 560)


def test_download_with_wrong_bytes_is_rejected_and_not_kept(tmp_path, monkeypatch):
    spec = data._FILES[LABELS_T10K]
    server = _FakeServer({url: b"<html>moved</html>" for url in spec.urls})
    monkeypatch.setattr(data.urllib.request, "urlopen", server)
    target = tmp_path / "new" / "data"
    with pytest.raises(DataError) as info:
        data.resolve_data_file(LABELS_T10K, target, download=True)
    msg = str(info.value)
    assert msg.startswith(f"could not download {LABELS_T10K}")
    assert msg.count("checksum mismatch") == len(spec.urls) and "nothing was kept" in msg
    assert f"expected SHA-256 {spec.sha256}, got {hashlib.sha256(b'<html>moved</html>').hexdigest()}" in msg
    assert list(tmp_path.iterdir()) == []  # no partial file, and not the folders it made


def test_failed_download_keeps_folders_that_were_there_before(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mine.txt").write_text("not ours")
    monkeypatch.setattr(data.urllib.request, "urlopen", _FakeServer({}))
    with pytest.raises(DataError, match="no route to host"):
        data.resolve_data_file(LABELS_T10K, tmp_path, download=True)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == ["mine.txt"]


def test_installed_copy_downloads_into_the_user_cache(installed, monkeypatch):
    env, user, cache, shared = installed
    blob = _real(LABELS_T10K).read_bytes()
    monkeypatch.setattr(data.urllib.request, "urlopen", _FakeServer({data._FILES[LABELS_T10K].urls[0]: blob}))
    assert data.resolve_data_file(LABELS_T10K, download=True) == user / LABELS_T10K


def test_check_available_downloads_only_the_missing_files(installed, monkeypatch):
    env, user, cache, shared = installed
    _place(IMAGES_T10K, user)
    blob = _real(LABELS_T10K).read_bytes()
    server = _FakeServer({data._FILES[LABELS_T10K].urls[0]: blob})
    monkeypatch.setattr(data.urllib.request, "urlopen", server)
    paths = data.check_available("mnist", splits="test", download=True)
    assert paths == [user / IMAGES_T10K, user / LABELS_T10K]
    assert [url for url, _ in server.calls] == [data._FILES[LABELS_T10K].urls[0]]
    assert (user / LABELS_T10K).read_bytes() == blob


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` (path -> bytes) of its server; 404 for anything else."""

    def do_GET(self):  # noqa: N802 (the http.server API)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server():
    """A real HTTP server on 127.0.0.1 (an ephemeral port) in a thread; yields (server, base URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_over_http_from_a_local_server(installed, monkeypatch, local_server):
    env, user, cache, shared = installed
    server, base = local_server
    good, bad = _real(LABELS_T10K).read_bytes(), b"\x1f\x8b tampered"
    server.files = {"/good/t10k-labels-idx1-ubyte.gz": good, "/bad/t10k-labels-idx1-ubyte.gz": bad}
    spec = data._FILES[LABELS_T10K]
    monkeypatch.setattr(data.urllib.request, "urlopen", REAL_URLOPEN)  # real sockets, loopback only

    # Both files point at the local server only (nothing here may reach the internet).
    images = data._FILES[IMAGES_T10K]
    monkeypatch.setitem(data._FILES, IMAGES_T10K, dataclasses.replace(images, urls=(f"{base}/images.gz",)))
    server.files["/images.gz"] = _real(IMAGES_T10K).read_bytes()

    # every mirror serves wrong bytes (or nothing): a clear error, nothing left behind
    urls = (f"{base}/bad/t10k-labels-idx1-ubyte.gz", f"{base}/missing.gz")
    monkeypatch.setitem(data._FILES, LABELS_T10K, dataclasses.replace(spec, urls=urls))
    with pytest.raises(DataError) as info:
        data.check_available("mnist", splits="test", download=True)
    msg = str(info.value)
    assert msg.startswith(f"could not download {LABELS_T10K} ({urls[0]}: checksum mismatch for {urls[0]}: "
                          f"expected SHA-256 {spec.sha256}, got {hashlib.sha256(bad).hexdigest()}")
    assert f"{urls[1]}: HTTP Error 404" in msg
    # the images arrived (verified) before the labels failed; no trace of the labels
    assert sorted(p.name for p in (user / "mnist").iterdir()) == ["t10k-images-idx3-ubyte.gz"]

    # a mirror that serves the right bytes: stored in the user cache, verified, no .part left
    urls = (f"{base}/missing.gz", f"{base}/good/t10k-labels-idx1-ubyte.gz")
    monkeypatch.setitem(data._FILES, LABELS_T10K, dataclasses.replace(spec, urls=urls))
    paths = data.check_available("mnist", splits="test", download=True)
    assert paths == [user / IMAGES_T10K, user / LABELS_T10K] and paths[1].read_bytes() == good
    assert sorted(p.name for p in (user / "mnist").iterdir()) == [IMAGES_T10K[6:], LABELS_T10K[6:]]
    _, y = data.load_mnist("test")
    assert y[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]


def test_binarized_download_is_stored_as_uncompressed_amat(tmp_path, monkeypatch):
    relname = "binarized_mnist/binarized_mnist_valid.amat.gz"
    raw = gzip.decompress(_real(relname).read_bytes())
    (url,) = data._FILES[relname].urls
    assert url.endswith("/binarized_mnist_valid.amat")
    monkeypatch.setattr(data.urllib.request, "urlopen", _FakeServer({url: raw}))
    x = data.load_binarized_mnist("valid", tmp_path, download=True)
    assert (tmp_path / "binarized_mnist" / "binarized_mnist_valid.amat").read_bytes() == raw
    assert round(x.mean(), 4) == 0.1311


def test_shared_data_readme_layout_is_what_the_loader_expects():
    # Guards the file table against drift from shared/data (names and subfolders).
    for relname in data._FILES:
        assert (SHARED / relname).is_file(), relname
