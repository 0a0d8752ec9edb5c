"""The notebooks' exercises: the solved cells pass their checks, the student stubs say "not yet".

One source holds both versions: the notebooks in ``notebooks/`` carry the solutions between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; ``python -m aevb_np.exercises make-student``
replaces each block by ``raise NotImplementedError("Exercise N.k: ...")``.  Here every exercise
cell and its check cell are run directly (not the whole notebook, which trains models): the
solution must pass; the untouched stub must print "not yet" without raising, so "Run all"
goes on.  The graders' wrong-answer tests are in test_graders.py, the student copy's refusals
in test_student_copy.py, grading a class in test_grading.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from aevb_np import exercises
from aevb_np.course.student import source

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


CASES = [(path, ex) for path in NOTEBOOKS for ex in exercises.find_exercises(_load(path))]
IDS = [f"{p.name[:2]}-ex{e['number']}" for p, e in CASES]


def _run(nb: dict, ex: dict) -> str:
    """Execute the exercise cell and its check cell with only numpy and aevb_np.exercises in scope."""
    namespace = {"np": np, "exercises": exercises}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source(nb["cells"][ex["cell"]]), f"exercise {ex['number']}", "exec"), namespace)
        exec(compile(source(nb["cells"][ex["check_cell"]]), f"check {ex['number']}", "exec"), namespace)
    return out.getvalue()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_has_two_to_four_exercises_numbered_after_it(path):
    found = exercises.find_exercises(_load(path))
    assert 2 <= len(found) <= 4, f"{path.name}: {len(found)} exercises"
    chapter = str(int(path.name[:2]))
    assert [e["number"] for e in found] == [f"{chapter}.{k}" for k in range(1, len(found) + 1)]


def test_the_registry_names_the_function_each_exercise_cell_defines_and_nothing_else():
    seen = {}
    for path, ex in CASES:
        nb = _load(path)
        defined = re.findall(r"^def (\w+)\(", source(nb["cells"][ex["cell"]]), flags=re.M)
        seen[ex["number"]] = defined
        assert defined == [exercises.EXERCISES[ex["number"]].function], (path.name, ex["number"], defined)
        assert source(nb["cells"][ex["check_cell"]]).strip() == f'exercises.check("{ex["number"]}", {defined[0]})'
    assert sorted(seen) == sorted(exercises.EXERCISES), "an exercise of the registry is in no notebook, or the reverse"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "student"
    exercises.make_student(REPO / "notebooks", out)
    return out


@pytest.mark.parametrize("path, ex", CASES, ids=IDS)
def test_solved_exercise_passes_its_check(path, ex):
    printed = _run(_load(path), ex)
    assert printed.startswith(f"✓ Exercise {ex['number']} passed"), printed


@pytest.mark.parametrize("path, ex", CASES, ids=IDS)
def test_student_stub_says_not_yet_and_lets_the_notebook_go_on(path, ex, student_dir):
    student = _load(student_dir / path.name)
    stub = source(student["cells"][ex["cell"]])
    solved = source(_load(path)["cells"][ex["cell"]])
    assert exercises.BEGIN not in stub and exercises.END not in stub
    assert f"raise NotImplementedError({'Exercise ' + ex['number'] + ': ' + ex['title']!r})" in stub
    assert stub.splitlines()[:2] == solved.splitlines()[:2]  # the signature and docstring stay
    printed = _run(student, ex)  # no exception: "Run all" goes on
    lines = printed.strip().splitlines()
    assert lines[0] == f"✗ not yet — Exercise {ex['number']}: not written yet (the function still raises NotImplementedError)"
    assert lines[1] == f"  (the rest of the notebook goes on with {exercises.EXERCISES[ex['number']].fallback})"
    assert len(lines) == 2


def test_student_notebooks_differ_from_the_solved_ones_only_in_the_solution_blocks(student_dir):
    for path in NOTEBOOKS:
        solved, student = _load(path), _load(student_dir / path.name)
        assert len(solved["cells"]) == len(student["cells"])
        changed = [i for i, (a, b) in enumerate(zip(solved["cells"], student["cells"])) if a["source"] != b["source"]]
        assert changed == [e["cell"] for e in exercises.find_exercises(solved)], path.name


def test_strip_solutions_keeps_indentation_and_rejects_an_unclosed_block():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    assert exercises.strip_solutions(src, "9.9: f") == "def f(x):\n    raise NotImplementedError('Exercise 9.9: f')\n"
    with pytest.raises(ValueError, match="without"):
        exercises.strip_solutions("    ### BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(ValueError, match="END SOLUTION without"):
        exercises.strip_solutions("    ### END SOLUTION\n")


def test_an_exercise_whose_check_cell_grades_another_number_is_refused():
    nb = {"cells": [
        {"cell_type": "code", "source": "# Exercise 2.1: x\ndef f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n"},
        {"cell_type": "code", "source": 'exercises.check("2.2", f)'},
    ]}
    with pytest.raises(ValueError, match=r"not followed by exercises.check\('2.1'"):
        exercises.find_exercises(nb)


def test_check_of_an_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="no exercise '9.9'.*1.1, 1.2"):
        exercises.check("9.9", lambda: None)


def test_the_instructors_page_lists_every_exercise_with_its_grader():
    page = (REPO / "docs" / "instructors.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d\.\d) [^|]*\| `(check_\w+)` \|", page, flags=re.M))
    assert rows == {n: e.grader.__name__ for n, e in exercises.EXERCISES.items()}
    for command in ("make-student notebooks/", "grade submissions/ --out scores.csv"):
        assert f"python -m aevb_np.exercises {command}" in page
