""""Run all" of every student notebook reaches the end, every check saying "not yet", no grader source shown.

The student copy (``make-student``) of the seven notebooks is executed once, each in a fresh
kernel, with errors *not* allowed: an unsolved exercise must not stop the notebook.  Then
every check cell's output must be the two-line "not yet" verdict, and no output anywhere
may contain a traceback or a line of the graders' source.  Several minutes: ``-m slow``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aevb_np import exercises
from aevb_np.course.student import find_exercises

REPO = Path(__file__).resolve().parents[1]
GRADER_SOURCES = sorted((REPO / "aevb_np" / "course").rglob("*.py"))


def _grader_lines() -> set[str]:
    """Lines of the course's code long enough to be recognisable if a traceback printed them."""
    lines = set()
    for path in GRADER_SOURCES:
        for line in path.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if len(s) > 30 and not s.startswith(("#", '"', "'")) and re.search(r"[=(]", s):
                lines.add(s)
    return lines


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            parts.append("\n".join(o.get("traceback", [])))
        elif "data" in o:
            parts.append(str(o["data"].get("text/plain", "")))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import nbformat
    from nbclient import NotebookClient
    out = tmp_path_factory.mktemp("student") / "course"
    exercises.make_student(REPO / "notebooks", out)
    done = {}
    for path in sorted(out.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=False,
                       resources={"metadata": {"path": str(out)}}).execute()
        done[path.name] = nb
    return done


@pytest.mark.slow
def test_every_student_notebook_runs_to_its_last_cell(executed):
    assert len(executed) == 7
    for name, nb in executed.items():
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), f"{name}: some code cells did not run"
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), name


@pytest.mark.slow
def test_every_check_says_not_yet_and_nothing_shows_the_graders(executed):
    secret = _grader_lines()
    assert len(secret) > 200
    for name, nb in executed.items():
        for ex in find_exercises(nb):
            text = _text(nb.cells[ex["check_cell"]].outputs)
            assert text.startswith(f"✗ not yet — Exercise {ex['number']}: not written yet"), (name, text)
            assert "the rest of the notebook goes on with the package's" in text, (name, text)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            text = _text(cell.outputs)
            assert "Traceback" not in text, (name, i)
            shown = [line for line in secret if line in text]
            assert not shown, (name, i, shown[:3])
