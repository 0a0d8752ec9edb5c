"""Committed notebooks are clean, start by saying what they teach, and keep their knobs on top.

The notebooks themselves are executed by nbmake (``pytest --nbmake notebooks/``); this file
checks what nbmake does not: that no outputs or execution counts are committed (the
nbstripout filter of ``.gitattributes`` and the pre-commit hook should have removed them),
that each notebook opens with a markdown cell naming what the reader will learn and the
paper sections, in one title style with its goal, run time and links (paper, equation map,
source), and that a ``parameters`` cell holds the settings CI runs with.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_reparameterization_trick.ipynb",
    "02_lower_bound_and_kl.ipynb",
    "03_backprop_by_hand.ipynb",
    "04_training_on_mnist.ipynb",
    "05_frey_face.ipynb",
    "06_marginal_likelihood.ipynb",
    "07_full_vb.ipynb",
]
IDS = [p.name for p in NOTEBOOKS]

# A global-state RNG call: np.random.<anything>( other than the Generator constructors.
LEGACY_RNG = re.compile(r"np\.random\.(?!default_rng\b|Generator\b)\w+\s*\(")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_the_teaching_notebooks_are_all_there():
    missing = [name for name in EXPECTED if not (REPO / "notebooks" / name).exists()]
    assert not missing, f"notebooks/ is missing {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_without_outputs_or_execution_counts(path):
    nb = _load(path)
    assert nb.get("nbformat") == 4, f"{path.name}: nbformat {nb.get('nbformat')}, expected 4"
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; run `nbstripout {path.relative_to(REPO)}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_starts_with_what_it_teaches_and_the_paper_sections(path):
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: the first cell is {first['cell_type']}, not markdown"
    text = _source(first)
    assert "learn" in text.lower(), f"{path.name}: the first cell should say what the reader will learn"
    assert re.search(r"§\d|Eq\. \(\d+|Appendix [A-F]", text), f"{path.name}: the first cell cites no paper section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_opens_with_one_title_style_goal_run_time_and_links(path):
    text = _source(_load(path)["cells"][0])
    number = int(path.name[:2])
    title = text.splitlines()[0]
    assert re.fullmatch(rf"# {number} · \S.*", title), f"{path.name}: title {title!r} is not '# {number} · ...'"
    for field in ("**Goal:**", "**Run time:**", "**Paper:**", "**Equation map:**", "**Code:**", "**Exercises:**"):
        assert field in text, f"{path.name}: the first cell has no {field}"
    assert "https://arxiv.org/abs/1312.6114" in text, f"{path.name}: no link to the paper"
    links = re.findall(r"\]\((\.\./[^)#]+)\)", text)
    assert "../docs/equations.md" in links, f"{path.name}: no link to the equation map"
    assert any(link.startswith("../aevb_np/") for link in links), f"{path.name}: no link to the source"
    broken = [link for link in links if not (path.parent / link).resolve().exists()]
    assert not broken, f"{path.name}: links to missing files {broken}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_one_parameters_cell_before_any_other_code(path):
    cells = _load(path)["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', expected exactly 1"
    i = tagged[0]
    assert cells[i]["cell_type"] == "code", f"{path.name}: the parameters cell must be a code cell"
    first_code = next(j for j, c in enumerate(cells) if c["cell_type"] == "code")
    assert i == first_code, f"{path.name}: the parameters cell (#{i}) must be the first code cell (#{first_code})"
    assignments = re.findall(r"^([A-Z][A-Z0-9_]*)\s*=", _source(cells[i]), flags=re.M)
    assert "SEED" in assignments, f"{path.name}: the parameters cell should set SEED, got {assignments}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_draws_randomness_only_from_an_explicit_generator(path):
    code = "\n".join(_source(c) for c in _load(path)["cells"] if c["cell_type"] == "code")
    assert "np.random.default_rng(" in code, f"{path.name}: no np.random.default_rng(SEED)"
    legacy = LEGACY_RNG.findall(code)
    assert not legacy, f"{path.name}: global-state RNG calls {legacy}; use the Generator"
    assert "sys.path" not in code, f"{path.name}: import the installed package instead of editing sys.path"


def test_repo_strips_notebook_outputs_with_nbstripout():
    attributes = (REPO / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "*.ipynb filter=nbstripout" in attributes and "*.ipynb diff=ipynb" in attributes
    hooks = (REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert "kynan/nbstripout" in hooks and re.search(r"id:\s*nbstripout\b", hooks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_valid_nbformat_with_an_id_on_every_cell(path):
    # nbformat 4.5 requires a cell id; a cell added by hand without one is "fixed" silently by
    # today's nbformat with a warning, and will be an error in a future one.
    nbformat = pytest.importorskip("nbformat")
    nb = _load(path)
    missing = [i for i, cell in enumerate(nb["cells"]) if "id" not in cell]
    assert not missing, f"{path.name}: cells {missing} have no id"
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_leaves_no_folder_behind(path):
    # Each run of a notebook (a student's, CI's, the site build's) would otherwise leave its
    # run folder (checkpoints of several MB) in the temp directory: a folder made with
    # tempfile.mkdtemp must be removed by the notebook; TemporaryDirectory removes itself
    # when the kernel stops.
    code = "\n".join(_source(c) for c in _load(path)["cells"] if c["cell_type"] == "code")
    made = re.findall(r"^\s*(\w+)\s*=.*tempfile\.mkdtemp\(", code, flags=re.M)
    for name in made:
        assert re.search(rf"shutil\.rmtree\(\s*{name}\s*\)", code), (
            f"{path.name}: {name} made with tempfile.mkdtemp is never removed; use tempfile.TemporaryDirectory")
