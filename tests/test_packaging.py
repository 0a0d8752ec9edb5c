"""Packaging: the wheel and sdist hold what they should, an installed copy works, the
metadata files are sound, ``python -m aevb_np`` lists the commands, and ruff is clean.

The build runs on a copy of the repository's files in tmp_path (``git ls-files``), so the
repository itself gets no ``build/`` or ``*.egg-info``; without build isolation, so no
network is needed (setuptools, wheel and build come from the dev extra).
"""

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import aevb_np
from aevb_np import __main__ as cli_main
from aevb_np import data

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".gz", ".mat", ".amat", ".npz", ".npy", ".ipynb", ".png")


def _tracked_files():
    # tracked files and new ones not yet committed (but not git-ignored ones: data, builds)
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(wheel path, sdist path) built from a copy of the repository's tracked files."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files are tracked")
    pytest.importorskip("build", reason="the dev extra installs build")
    src = tmp_path_factory.mktemp("src")
    for name in _tracked_files():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    # Without --sdist/--wheel, build makes the sdist and then the wheel *from the sdist*:
    # so the wheel's contents also show that the sdist is complete.
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_wheel_holds_the_package_typed_and_licensed_and_nothing_else(dists):
    wheel, _ = dists
    assert wheel.name == f"aevb_np-{aevb_np.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"aevb_np", f"aevb_np-{aevb_np.__version__}.dist-info"}  # no tests/, data/, notebooks/
    assert "aevb_np/py.typed" in names and "aevb_np/__main__.py" in names and "aevb_np/data/__init__.py" in names
    # every subpackage of issue 23's layout ships (setup.cfg: packages = find:)
    for package in ("baselines", "data", "full_vb", "marginal", "run", "course"):
        assert f"aevb_np/{package}/__init__.py" in names, package
    assert any(n.endswith(".dist-info/LICENSE") or n.endswith("/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.endswith(DATA_SUFFIXES) or "/tests/" in n or "__pycache__" in n]


def test_wheel_metadata_declares_the_floors_and_entry_points(dists):
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as z:
        info = f"aevb_np-{aevb_np.__version__}.dist-info"
        meta = email.message_from_bytes(z.read(f"{info}/METADATA"))
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert meta["Version"] == aevb_np.__version__ and meta["License"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10"
    # "numpy>=1.23" (setuptools >= 69) or "numpy (>=1.23)" (older setuptools)
    requires = [re.sub(r"[ ()]", "", req) for req in meta.get_all("Requires-Dist")]
    for req in ("numpy>=1.23", "scipy>=1.9", "matplotlib>=3.7", "tqdm>=4.64", "platformdirs>=3.0"):
        assert req in requires, (req, requires)
    assert "aevb-train = aevb_np.train:main" in entry_points
    assert "aevb-evaluate = aevb_np.evaluate:main" in entry_points


def test_floors_file_pins_every_declared_minimum():
    """.ci/floors.txt pins exactly the `>=` floors of install_requires and the dev extra."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = cfg["options"]["install_requires"].split() + cfg["options.extras_require"]["dev"].split()
    floors = dict(re.fullmatch(r"([\w.-]+)>=([\w.]+)", req).groups() for req in declared)
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    assert set(pins) == set(floors)
    for name, floor in floors.items():
        # the pin is the floor itself, padded with zeros (numpy>=1.23 -> numpy==1.23.0)
        assert pins[name].split(".")[: len(floor.split("."))] == floor.split("."), (name, pins[name], floor)
        assert set(pins[name].split(".")[len(floor.split(".")):]) <= {"0"}, (name, pins[name], floor)


def test_sdist_carries_metadata_files_and_leaves_out_tests_and_data(dists):
    _, sdist = dists
    stem = f"aevb_np-{aevb_np.__version__}"
    with tarfile.open(sdist) as t:
        names = {n[len(stem) + 1:] for n in t.getnames() if n.startswith(stem + "/")}
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "CITATION.cff", "setup.cfg", "pyproject.toml",
                   "MANIFEST.in", "aevb_np/py.typed", "aevb_np/__main__.py", "aevb_np/baselines/__init__.py"):
        assert needed in names, needed
    # tests need the real data and the notebooks, so none of them is shipped (not a broken half)
    assert not [n for n in names if n.startswith(("tests", "notebooks", "data/", "experiments", "benchmarks"))]
    assert not [n for n in names if n.endswith(DATA_SUFFIXES)]


def test_installed_wheel_runs_outside_the_checkout(dists, tmp_path):
    """pip install of the wheel into a fresh folder; then the installed copy is used, not the repo's."""
    wheel, _ = dists
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in (data.ENV_VAR, "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True)

    where = run("-c", "import aevb_np, aevb_np.data as d; print(aevb_np.__file__); print(d.is_source_checkout())")
    assert where.stdout.splitlines() == [str(site / "aevb_np" / "__init__.py"), "False"]
    assert run("-m", "aevb_np", "--version").stdout == f"aevb_np {aevb_np.__version__}\n"
    overview = run("-m", "aevb_np").stdout
    assert "README.md of the aevb_np repository or source distribution" in overview
    assert "checkout" not in overview
    # no data anywhere: one line naming the ways to get them, exit 2, nothing created
    ev = run("-m", "aevb_np.evaluate", "--version")
    assert ev.returncode == 0 and ev.stdout == f"python -m aevb_np.evaluate (aevb_np) {aevb_np.__version__}\n"
    msg = run("-c", "import aevb_np.data as d; d.check_available('frey-face')").stderr.splitlines()[-1]
    assert msg.startswith("aevb_np.errors.DataError: data file freyface/frey_rawface.mat not found")
    for needed in ("--download", "--data-dir", "AEVB_NP_DATA", str(tmp_path / "cache" / "aevb_np")):
        assert needed in msg
    assert str(ROOT) not in msg and not (tmp_path / "cache").exists()
    # the training CLI of the installed copy: without data, one line naming the three ways, exit 2, no --out made
    train_cli = run("-m", "aevb_np.train", "--max-samples", "2000", "--out", "run", "--no-progress")
    assert train_cli.returncode == 2 and len(train_cli.stderr.splitlines()) == 1, train_cli.stderr
    for needed in ("--download", "--data-dir", "AEVB_NP_DATA"):
        assert needed in train_cli.stderr
    assert not (tmp_path / "run").exists()
    # with --data-dir it trains (offline here; --download would fetch into the user cache instead)
    shared = ROOT.parent / "shared" / "data"
    if shared.exists():
        ok = run("-m", "aevb_np.train", "--dataset", "frey-face", "--hidden", "10", "--n-latent", "2",
                 "--max-samples", "2000", "--data-dir", str(shared), "--out", "run", "--no-progress")
        assert ok.returncode == 0 and "done: 2000 samples" in ok.stdout, ok.stderr


def test_python_m_aevb_np_lists_the_commands_and_points_to_the_readme(capsys):
    assert cli_main.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"aevb_np {aevb_np.__version__}: Auto-Encoding Variational Bayes")
    for command in ("aevb-train", "python -m aevb_np.train", "aevb-evaluate", "python -m aevb_np.evaluate",
                    "python -m aevb_np.check"):
        assert command in out, command
    assert f"documentation: {ROOT / 'README.md'}" in out  # the suite runs from the checkout
    assert "--download" in out and "AEVB_NP_DATA" in out


def test_python_m_aevb_np_version_and_bad_flag():
    ok = subprocess.run([sys.executable, "-m", "aevb_np", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == f"aevb_np {aevb_np.__version__}\n"
    bad = subprocess.run([sys.executable, "-m", "aevb_np", "--bogus"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.splitlines()[-1] == (
        "python -m aevb_np: error: unrecognized arguments: --bogus")


def test_license_and_citation_files():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n\nCopyright (c) 2026 aevb_np developers\n")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and f"version: {aevb_np.__version__}" in cff and "license: MIT" in cff
    assert "title: Auto-Encoding Variational Bayes" in cff and 'value: "arXiv:1312.6114"' in cff
    assert "family-names: Kingma" in cff and "family-names: Welling" in cff and "year: 2014" in cff
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(cff)
    assert doc["preferred-citation"]["authors"][0] == {"family-names": "Kingma", "given-names": "Diederik P."}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n") and "## Unreleased" in changelog
    assert f"## {aevb_np.__version__} - " in changelog


def test_ruff_is_clean():
    """The configuration in pyproject.toml; ruff comes with the dev extra."""
    if shutil.which("ruff") is None:
        pytest.importorskip("ruff", reason="the dev extra installs ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
