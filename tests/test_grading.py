"""Grading a class for real: submitted notebooks run in fresh kernels, a CSV score table comes out.

A tiny class hands in notebook 03 (the shortest): alice the solved notebook (in a folder of
her own), bob the untouched student copy (as bob.ipynb), carol a copy with the usual slip in
3.1, a correct 3.2 and a 3.3 that returns the numbers her notebook's check printed as passed
(hard-coded outputs).  Grading draws other inputs, so carol's 3.3 fails: 3/3, 0/3, 1/3.
The default run grades the same answers in three-cell notebooks (fresh kernels all the
same), plus dave, whose notebook replaces the graders (0/3: the grader reloads them); the
slow run grades the full notebook 03 of each student.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from aevb_np import exercises
from aevb_np.course.cli import main
from aevb_np.course.grading import GradingError, Row, find_submissions, write_scores
from aevb_np.course.student import source

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "03_backprop_by_hand.ipynb"


def _hard_coded_heads_backward() -> str:
    """A 3.3 answer that returns, as literals, what the solution gives on the notebook's inputs."""
    recorded = []

    def spy(dmu, dlv, h, W4, W5):
        out = (dmu @ W4 + dlv @ W5, dmu.T @ h, dmu.sum(axis=0), dlv.T @ h, dlv.sum(axis=0))
        recorded.append(out)
        return out

    assert exercises.check_heads_backward(spy).startswith("Exercise 3.3 passed")
    literals = ", ".join(f"np.array({a.tolist()!r})" for a in recorded[0])
    return f"def heads_backward(dmu, dlog_var, h, W4, W5):\n    return ({literals})\n"


CAROL = {
    "3.1": "def tanh_backward_mine(dh, h):\n    return dh * (1.0 - h)\n",  # the square left out
    "3.2": "def mu_log_var_backward(dz, mu, log_var, eps):\n    s = np.exp(0.5 * log_var)\n"
           "    return dz.sum(0) - mu, np.sum(dz * 0.5 * s * eps, 0) + 0.5 * (1 - s**2)\n",
    "3.3": _hard_coded_heads_backward(),
}


def _edit(nb: dict, number: str, text: str) -> None:
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and re.match(rf"#\s*Exercise {re.escape(number)}:", "".join(cell["source"])):
            cell["source"] = f"# Exercise {number}: edited\n" + text
            return
    raise AssertionError(f"no exercise {number}")


def _real_class(subs: Path, student: Path) -> None:
    """The class handing in notebook 03 itself (alice solved, bob untouched, carol slips)."""
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / NOTEBOOK).write_bytes((REPO / "notebooks" / NOTEBOOK).read_bytes())
    (subs / "bob.ipynb").write_bytes((student / NOTEBOOK).read_bytes())
    carol = json.loads((student / NOTEBOOK).read_text(encoding="utf-8"))
    for number, text in CAROL.items():
        _edit(carol, number, text)
    (subs / "carol").mkdir()
    (subs / "carol" / NOTEBOOK).write_text(json.dumps(carol), encoding="utf-8")


def _tiny_class(subs: Path, student: Path) -> None:
    """The same answers in three-cell notebooks titled "# 3 · …": the grading path, fast."""
    solved = json.loads((REPO / "notebooks" / NOTEBOOK).read_text(encoding="utf-8"))
    stubbed = json.loads((student / NOTEBOOK).read_text(encoding="utf-8"))
    cells = {"alice": [], "bob": [], "carol": list(CAROL.values())}
    for ex in exercises.find_exercises(solved):
        cells["alice"].append(source(solved["cells"][ex["cell"]]))
        cells["bob"].append(source(stubbed["cells"][ex["cell"]]))
    # dave leaves the stubs and replaces the graders from his notebook: the grader reloads them
    cells["dave"] = cells["bob"] + ["import aevb_np.course.graders as g\n"
                                    "g.grade = lambda number, fn, seed: (True, 'Exercise ' + number + ' passed')"]
    (subs / "alice").mkdir(parents=True)
    (subs / "carol").mkdir()
    for name, path in (("alice", subs / "alice" / NOTEBOOK), ("bob", subs / "bob.ipynb"),
                       ("carol", subs / "carol" / NOTEBOOK), ("dave", subs / "dave.ipynb")):
        nbformat.write(_tiny_notebook(["import numpy as np"] + cells[name]), str(path))


def _grade_class(root: Path, build) -> dict:
    student = root / "student"
    exercises.make_student(REPO / "notebooks", student)
    subs = root / "submissions"
    build(subs, student)
    (subs / ".DS_Store").write_text("", encoding="utf-8")  # not a student
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    out = root / "scores.csv"
    status = main(["grade", str(subs), "--out", str(out), "--seed", "20141220", "--time-limit", "300"])
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"status": status, "rows": rows, "out": out, "subs": subs, "before": before}


@pytest.fixture(scope="module", params=["tiny", pytest.param("notebook 03", marks=pytest.mark.slow)])
def graded(request, tmp_path_factory):
    return _grade_class(tmp_path_factory.mktemp("class"), _tiny_class if request.param == "tiny" else _real_class)


def test_the_score_table_gives_full_zero_and_partial_points(graded):
    assert graded["status"] == 0
    rows = graded["rows"]
    assert list(rows[0]) == ["student", "exercise", "points", "verdict", "total"]
    table = {(r["student"], r["exercise"]): (int(r["points"]), r["verdict"], int(r["total"])) for r in rows}
    students = ("alice", "bob", "carol", "dave") if ("dave", "3.1") in table else ("alice", "bob", "carol")
    assert sorted(table) == [(s, n) for s in students for n in ("3.1", "3.2", "3.3")]
    assert [table["alice", n][0] for n in ("3.1", "3.2", "3.3")] == [1, 1, 1]
    assert [table["bob", n][0] for n in ("3.1", "3.2", "3.3")] == [0, 0, 0]
    assert [table["carol", n][0] for n in ("3.1", "3.2", "3.3")] == [0, 1, 0]
    assert {s: table[s, "3.1"][2] for s in ("alice", "bob", "carol")} == {"alice": 3, "bob": 0, "carol": 1}
    if "dave" in students:  # replacing the graders from the notebook gains nothing
        assert [table["dave", n][:1] + (table["dave", n][2],) for n in ("3.1", "3.2", "3.3")] == [(0, 0)] * 3
        assert all("not written yet" in table["dave", n][1] for n in ("3.1", "3.2", "3.3"))


def test_each_verdict_says_why(graded):
    verdicts = {(r["student"], r["exercise"]): r["verdict"] for r in graded["rows"]}
    assert verdicts["alice", "3.1"].startswith("Exercise 3.1 passed")
    assert "not written yet" in verdicts["bob", "3.2"]
    assert "the square left out" in verdicts["carol", "3.1"]
    assert verdicts["carol", "3.3"].startswith("Exercise 3.3: dh is wrong at entry"), verdicts["carol", "3.3"]


def test_grading_reads_the_submissions_and_never_writes_them_or_over_the_table(graded):
    assert {p: p.read_bytes() for p in graded["subs"].rglob("*") if p.is_file()} == graded["before"]
    table = graded["out"].read_bytes()
    assert main(["grade", str(graded["subs"]), "--out", str(graded["out"])]) == 2  # refused before any kernel starts
    assert graded["out"].read_bytes() == table
    with pytest.raises(GradingError, match="exists"):
        write_scores([Row("x", "1.1", 0, "v", 0)], graded["out"])
    assert graded["out"].read_bytes() == table


@pytest.mark.parametrize("flags, message", [
    (["--seed", "-1"], "--seed must be a non-negative integer"),
    (["--time-limit", "inf"], "--time-limit must be a positive number"),
    (["--time-limit", "nan"], "--time-limit must be a positive number"),
    (["--time-limit", "0"], "--time-limit must be a positive number"),
])
def test_impossible_grading_flags_are_one_line_and_exit_2_before_any_kernel(tmp_path, capsys, flags, message):
    # A negative seed used to reach NumPy inside every kernel: each answer scored 0 and the
    # command still exited 0.
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / NOTEBOOK).write_text("{}", encoding="utf-8")
    assert main(["grade", str(subs), "--out", str(tmp_path / "scores.csv")] + flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "scores.csv").exists()
    with pytest.raises(GradingError, match="non-negative"):
        from aevb_np.course.grading import grade_submissions
        grade_submissions(subs, seed=-1)


def test_scores_go_neither_into_a_missing_folder_nor_among_the_submissions(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / NOTEBOOK).write_text("{}", encoding="utf-8")
    assert main(["grade", str(subs), "--out", str(tmp_path / "nowhere" / "scores.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["grade", str(subs), "--out", str(subs / "ann" / "scores.csv")]) == 2
    assert "inside the submissions folder" in capsys.readouterr().err
    assert sorted(p.name for p in subs.rglob("*")) == sorted(["ann", NOTEBOOK])


def test_the_layouts_and_an_empty_folder(tmp_path):
    (tmp_path / "dan").mkdir()
    (tmp_path / "dan" / "02_lower_bound_and_kl.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "eve.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "readme.txt").write_text("", encoding="utf-8")
    found = find_submissions(tmp_path)
    assert [(s, [p.name for p in nbs]) for s, nbs in found] == [("dan", ["02_lower_bound_and_kl.ipynb"]),
                                                               ("eve", ["eve.ipynb"])]
    with pytest.raises(GradingError, match="is not a folder of submissions"):
        find_submissions(tmp_path / "dan" / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradingError, match="holds no notebooks"):
        find_submissions(tmp_path / "empty")


def _tiny_notebook(cells: list[str], title: str = "# 3 · a submission") -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title)] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


@pytest.mark.slow
def test_a_notebook_over_the_time_limit_is_stopped_and_graded_on_what_it_defined(tmp_path):
    from aevb_np.course.grading import grade_submissions
    nb = _tiny_notebook(["import numpy as np\n"
                         "def neg_kl(mu, log_var):\n    return 0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)\n",
                         "import time\ntime.sleep(600)\n",
                         "def neg_kl_grad(mu, log_var):\n    return -mu, 0.5 * (1 - np.exp(log_var))\n"], "# 2 · late")
    nbformat.write(nb, str(tmp_path / "frank.ipynb"))
    rows, seed = grade_submissions(tmp_path, seed=3, time_limit=8, log=lambda line: None)
    got = {r.exercise: (r.points, r.verdict) for r in rows}
    assert got["2.1"][0] == 1
    assert got["2.2"][0] == 0 and "hit the 8 s limit at cell 2" in got["2.2"][1], got["2.2"]
    assert np.isclose(seed, 3)


def test_an_unknown_kernel_is_one_clear_error(tmp_path):
    from aevb_np.course.grading import run_and_grade
    nbformat.write(_tiny_notebook(["x = 1"]), str(tmp_path / "a.ipynb"))
    with pytest.raises(GradingError, match="no Jupyter kernel named 'no-such-kernel'"):
        run_and_grade(tmp_path / "a.ipynb", ["3.1"], seed=1, time_limit=10, kernel_name="no-such-kernel")


def test_a_broken_notebook_is_named_and_scored_zero_without_stopping_the_class(tmp_path, capsys):
    # A truncated .ipynb used to stop the whole class's grading with a JSON error naming no file.
    from aevb_np.course.grading import grade_submissions

    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / NOTEBOOK).write_text('{"cells": [', encoding="utf-8")
    (subs / "ben").mkdir()
    (subs / "ben" / "notes.ipynb").write_text(json.dumps(_tiny_notebook(["x = 1"], title="# my notes")),
                                              encoding="utf-8")
    rows, _ = grade_submissions(subs, seed=1, time_limit=60)
    ann = [r for r in rows if r.student == "ann"]
    assert len(ann) == 1 and ann[0].points == 0 and "is not a readable notebook" in ann[0].verdict
    assert NOTEBOOK in ann[0].verdict


def test_list_names_a_broken_notebook_in_one_line(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    assert main(["list", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "broken.ipynb is not a readable notebook" in err and len(err.strip().splitlines()) == 1
