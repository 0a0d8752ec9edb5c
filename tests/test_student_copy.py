"""make-student never overwrites the solutions or a student's work.

It writes into a new or empty folder, or over exactly the files it wrote there itself
(recorded with their SHA-256 in ``.aevb_student.json``) while they are unedited; it refuses
the solutions folder, solved notebooks, files it did not write and files a student edited,
with one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aevb_np import exercises
from aevb_np.course.student import MANIFEST, StudentCopyError

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture()
def solutions(tmp_path):
    """A copy of the solved notebooks (the real folder is never the one at risk in a test)."""
    src = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", src, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return src


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aevb_np.exercises", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_make_student_writes_every_notebook_and_a_manifest_and_may_run_again_over_its_own_copy(solutions, tmp_path):
    out = tmp_path / "course"
    written = exercises.make_student(solutions, out)
    assert [p.name for p in written] == NAMES
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == NAMES
    before = _snapshot(out)
    exercises.make_student(solutions, out)  # unedited: allowed, and the same bytes
    assert _snapshot(out) == before


def test_the_solutions_folder_is_refused_even_with_force(solutions):
    before = _snapshot(solutions)
    for force in (False, True):
        with pytest.raises(StudentCopyError, match="is the solutions folder itself"):
            exercises.make_student(solutions, solutions, force=force)
    assert _snapshot(solutions) == before


def test_a_folder_of_solved_notebooks_is_refused_even_with_force(solutions, tmp_path):
    other = tmp_path / "copy_of_solutions"
    shutil.copytree(solutions, other)
    with pytest.raises(StudentCopyError, match="holds solved notebooks"):
        exercises.make_student(solutions, other, force=True)


def test_an_edited_notebook_is_refused_and_kept_and_force_overwrites_it(solutions, tmp_path):
    out = tmp_path / "course"
    exercises.make_student(solutions, out)
    target = out / NAMES[1]
    nb = json.loads(target.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "raise NotImplementedError" in "".join(c["source"]))
    cell["source"] = "".join(cell["source"]).replace("raise NotImplementedError", "return 0.5 * np.sum(  # my answer\n    0) #")
    target.write_text(json.dumps(nb), encoding="utf-8")
    work = target.read_bytes()
    with pytest.raises(StudentCopyError, match=f"{NAMES[1]} was edited after make-student wrote it"):
        exercises.make_student(solutions, out)
    assert target.read_bytes() == work
    exercises.make_student(solutions, out, force=True)
    assert target.read_bytes() != work


def test_a_file_make_student_did_not_write_is_refused(solutions, tmp_path):
    out = tmp_path / "course"
    exercises.make_student(solutions, out)
    (out / ".ipynb_checkpoints").mkdir()
    (out / ".ipynb_checkpoints" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(StudentCopyError, match="notes.txt was not written by make-student"):
        exercises.make_student(solutions, out)


def test_a_non_empty_folder_without_a_manifest_is_refused(solutions, tmp_path):
    out = tmp_path / "homework"
    out.mkdir()
    (out / "essay.md").write_text("mine", encoding="utf-8")
    with pytest.raises(StudentCopyError, match="is not empty .essay.md. and was not made by make-student"):
        exercises.make_student(solutions, out)
    assert [p.name for p in out.iterdir()] == ["essay.md"]


def test_the_command_line_refuses_with_one_line_and_status_2(solutions, tmp_path):
    before = _snapshot(solutions)
    out = _cli("make-student", solutions, solutions)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is the solutions folder itself" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert _snapshot(solutions) == before
    ok = _cli("make-student", solutions, tmp_path / "course")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("exercises)") == len(NAMES) and "work in" in ok.stdout


def test_main_returns_2_with_one_line_for_each_refusal(solutions, tmp_path, capsys):
    from aevb_np.course.cli import main
    assert main(["make-student", str(solutions), str(tmp_path / "course")]) == 0
    assert main(["make-student", str(solutions), str(tmp_path / "course")]) == 0
    (tmp_path / "course" / "scratch.py").write_text("x = 1\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["make-student", str(solutions), str(tmp_path / "course")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scratch.py was not written by make-student" in err[0]
    assert main(["list", str(solutions)]) == 0
    assert capsys.readouterr().out.count("Exercise ") == len(exercises.EXERCISES)
    assert main(["list", str(tmp_path / "nothing")]) == 2
    assert "no notebooks in" in capsys.readouterr().err
