"""The student copy of the notebooks: solutions replaced by stubs, never written over anyone's work.

The notebooks in ``notebooks/`` hold the solutions between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers); :func:`make_student` writes a copy where each
block is ``raise NotImplementedError("Exercise 2.1: ...")``.  Nothing else changes: the
check cells stay and say "not yet" until the student writes the step.

The copy goes into a folder of its own, with a manifest (``.aevb_student.json``) of the
files written and their SHA-256.  Making the copy again is allowed only over a folder that
holds exactly those files, unedited; the solutions folder itself is always refused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_LINE = re.compile(r"^#\s*Exercise\s+(\d+\.\d+)\s*:\s*(.+?)\s*$", re.M)
CHECK_CALL = re.compile(r"exercises\.check\(\s*[\"'](\d+\.\d+)[\"']")
MANIFEST = ".aevb_student.json"


class StudentCopyError(ValueError):
    """The student copy would overwrite something it must not: the solutions, or a student's work."""


def source(cell: dict) -> str:
    """A cell's source as one string.

    Parameters
    ----------
    cell : dict
        An nbformat 4 cell, whose ``source`` is a string or a list of lines.

    Returns
    -------
    str
        The source joined.
    """
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_solutions(text: str, exercise: str | None = None) -> str:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` block by a stub.

    Parameters
    ----------
    text : str
        A code cell's source.
    exercise : str, optional
        "N.k: title" for the stub's message (default: just "Exercise").

    Returns
    -------
    str
        ``text`` with each block (its BEGIN and END lines included) replaced by
        ``raise NotImplementedError("Exercise N.k: title")`` at the BEGIN line's
        indentation; a missing final newline stays missing.

    Raises
    ------
    ValueError
        A block is not closed, or an END has no BEGIN.
    """
    out, inside, label = [], False, f"Exercise {exercise}" if exercise else "Exercise"
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {n}: {BEGIN} inside another solution block")
            inside = True
            out.append(f"{line[: len(line) - len(line.lstrip())]}raise NotImplementedError({label!r})\n")
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"line {n}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    joined = "".join(out)
    return joined[:-1] if joined.endswith("\n") and not text.endswith("\n") else joined


def find_exercises(nb: dict) -> list[dict]:
    """The exercises of a notebook: number, title, the exercise cell and its check cell.

    An exercise cell is a code cell whose first line is ``# Exercise N.k: title`` and that
    holds a solution block (or its stub); its check cell is the next code cell, which
    calls ``exercises.check("N.k", ...)``.

    Parameters
    ----------
    nb : dict
        A notebook as ``json.load`` reads an ``.ipynb`` (nbformat 4).

    Returns
    -------
    list of dict
        One per exercise, in cell order: ``number`` ("2.1"), ``title``, ``cell`` and
        ``check_cell`` (cell indices).

    Raises
    ------
    ValueError
        An exercise cell without a solution block, or without a check cell of its number.
    """
    cells = nb["cells"]
    found = []
    for i, cell in enumerate(cells):
        m = EXERCISE_LINE.match(source(cell)) if cell["cell_type"] == "code" else None
        if not m:
            continue
        if BEGIN not in source(cell) and "raise NotImplementedError" not in source(cell):
            raise ValueError(f"exercise {m.group(1)} (cell {i}) has no {BEGIN} block")
        j = next((k for k in range(i + 1, len(cells)) if cells[k]["cell_type"] == "code"), None)
        call = CHECK_CALL.search(source(cells[j])) if j is not None else None
        if call is None or call.group(1) != m.group(1):
            raise ValueError(f"exercise {m.group(1)} (cell {i}) is not followed by exercises.check({m.group(1)!r}, ...)")
        found.append({"number": m.group(1), "title": m.group(2), "cell": i, "check_cell": j})
    return found


def make_student_notebook(nb: dict) -> dict:
    """A copy of ``nb`` with every solution block replaced by its stub and outputs cleared.

    Parameters
    ----------
    nb : dict
        A solved notebook (nbformat 4); not modified.

    Returns
    -------
    dict
        The student notebook.

    Raises
    ------
    ValueError
        As :func:`find_exercises` and :func:`strip_solutions`.
    """
    student = copy.deepcopy(nb)
    titles = {e["cell"]: f"{e['number']}: {e['title']}" for e in find_exercises(nb)}
    for i, cell in enumerate(student["cells"]):
        if cell["cell_type"] != "code":
            continue
        if BEGIN in source(cell) or END in source(cell):
            cell["source"] = strip_solutions(source(cell), titles.get(i))
        cell["outputs"], cell["execution_count"] = [], None
    return student


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_unless_ours(src_dir: Path, out_dir: Path, force: bool) -> None:
    """Raise StudentCopyError unless writing the copy into ``out_dir`` destroys nothing."""
    if out_dir.resolve() == src_dir.resolve():
        raise StudentCopyError(f"{out_dir} is the solutions folder itself; write the student copy to another folder")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise StudentCopyError(f"{out_dir} exists and is not a folder")
    solved = [p.name for p in out_dir.glob("*.ipynb") if BEGIN in p.read_text(encoding="utf-8", errors="replace")]
    if solved:
        raise StudentCopyError(f"{out_dir} holds solved notebooks ({solved[0]}); write the student copy to another folder")
    present = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    if force or not present:
        return
    manifest = out_dir / MANIFEST
    if not manifest.exists():
        raise StudentCopyError(f"{out_dir} is not empty ({present[0]}) and was not made by make-student; "
                               "choose a new folder (or --force to overwrite)")
    written = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
    for name in present:
        if name not in written:
            raise StudentCopyError(f"{out_dir / name} was not written by make-student (a student's file?); "
                                   "choose a new folder (or --force to overwrite)")
        if _sha256(out_dir / name) != written[name]:
            raise StudentCopyError(f"{out_dir / name} was edited after make-student wrote it (a student's work?); "
                                   "choose a new folder (or --force to overwrite)")


def make_student(src_dir, out_dir, force: bool = False) -> list[Path]:
    """Write the student version of every ``*.ipynb`` of ``src_dir`` into ``out_dir``.

    Parameters
    ----------
    src_dir : path-like
        Folder of solved notebooks (``notebooks/``).
    out_dir : path-like
        Created if missing.  If it exists it must be empty or hold exactly the files an
        earlier ``make_student`` wrote there, unedited (see the module's docstring).
    force : bool
        Overwrite a folder that holds other or edited files.  Never overrides the refusal
        to write into ``src_dir`` itself or over solved notebooks.

    Returns
    -------
    list of Path
        The notebooks written, in name order.

    Raises
    ------
    FileNotFoundError
        ``src_dir`` holds no ``*.ipynb``.
    StudentCopyError
        ``out_dir`` is ``src_dir``, holds solved notebooks, or (without ``force``) holds
        files make-student did not write or that were edited since.
    ValueError
        As :func:`make_student_notebook`.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {src_dir}")
    _refuse_unless_ours(src_dir, out_dir, force)
    students = [(out_dir / p.name, make_student_notebook(read_notebook(p))) for p in paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    written = json.loads(manifest.read_text(encoding="utf-8")).get("files", {}) if manifest.exists() else {}
    for target, nb in students:
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written[target.name] = _sha256(target)
    manifest.write_text(json.dumps({"made_by": "python -m aevb_np.exercises make-student", "source": str(src_dir),
                                    "files": written}, indent=1) + "\n", encoding="utf-8")
    return [t for t, _ in students]


def read_notebook(path: Path) -> dict:
    """A notebook's JSON, as a dict.

    Raises
    ------
    StudentCopyError
        The file is not JSON (a broken or truncated notebook), named in the message.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise StudentCopyError(f"{path} is not a readable notebook ({exc})") from None
