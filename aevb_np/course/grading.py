"""Grading a class: run every submitted notebook in a fresh kernel and write a score table.

A folder of submissions holds one entry per student, either a folder of notebooks
(``SUBMISSIONS/<student>/<notebook>.ipynb``, one or more of the seven) or a single notebook
(``SUBMISSIONS/<student>.ipynb``).  Each notebook runs top to bottom in a fresh Jupyter
kernel, in its own folder, within a time limit; errors in a cell do not stop it.  Then one
more cell, added by the grader, looks up each exercise's function by the name the
notebook defines (``neg_kl`` for 2.1, …) and grades it on inputs drawn from a seed chosen
when grading starts — not the notebook's inputs — so an answer that returns hard-coded
numbers fails.  The submitted files are read, never written.

Which exercises a notebook is graded on follows from its number: the "# 2 · …" title of
its first cell, or the ``02_`` at the start of its file name.  An exercise whose function is
missing scores 0 with the reason.

Limits: the graders run inside the student's kernel.  A fresh seed defeats hard-coded
outputs and the grader's modules are reloaded before grading, but a student who sets out
to patch NumPy or the package from the notebook is not stopped; read the notebooks.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aevb_np.course.graders import EXERCISES

HEADER = ("student", "exercise", "points", "verdict", "total")
TITLE = re.compile(r"^#\s+(\d+)\s+·")
FILE_NUMBER = re.compile(r"^(\d+)_")

# The cell the grader appends: reload the graders (an earlier cell may have replaced them),
# grade each exercise with the run's seed (the student's prints are captured), then print
# one line that starts with a token the notebook cannot know.
_GRADE_CELL = """\
import contextlib as _gc, importlib as _gi, io as _gio, json as _gj
import aevb_np.course.verdict, aevb_np.course.graders.sampling, aevb_np.course.graders.gradients
import aevb_np.course.graders.training, aevb_np.course.graders.marginal_likelihood, aevb_np.course.graders
for _gm in ("verdict", "graders.sampling", "graders.gradients", "graders.training",
            "graders.marginal_likelihood", "graders"):
    _gi.reload(_gi.import_module("aevb_np.course." + _gm))
_gg, _gr = _gi.import_module("aevb_np.course.graders"), {{}}
for _gn, _gf in {names!r}.items():
    _gfn = globals().get(_gf)
    with _gc.redirect_stdout(_gio.StringIO()), _gc.redirect_stderr(_gio.StringIO()):
        _gr[_gn] = (_gg.grade(_gn, _gfn, {seed}) if callable(_gfn)
                    else (False, f"Exercise {{_gn}}: the notebook defines no function {{_gf}}()"))
print({token!r} + _gj.dumps(_gr))
"""


class GradingError(ValueError):
    """The submissions or the score file are not usable: nothing was graded or written."""


@dataclass
class Row:
    """One line of the score table."""

    student: str
    exercise: str
    points: int
    verdict: str
    total: int = 0


def find_submissions(folder) -> list[tuple[str, list[Path]]]:
    """(student, notebooks) for every entry of ``folder``, in name order.

    Parameters
    ----------
    folder : path-like
        ``<student>/<notebook>.ipynb`` folders and ``<student>.ipynb`` files; hidden entries
        and other files are ignored.

    Returns
    -------
    list of (str, list of Path)
        The student's name and their notebooks.

    Raises
    ------
    GradingError
        ``folder`` is missing or holds no notebook.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of submissions")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(entry.glob("*.ipynb"))
            if notebooks:
                found.append((entry.name, notebooks))
        elif entry.suffix == ".ipynb":
            found.append((entry.stem, [entry]))
    if not found:
        raise GradingError(f"{folder} holds no notebooks (expected <student>/<notebook>.ipynb or <student>.ipynb)")
    return found


def chapter_of(path: Path, nb: dict) -> int | None:
    """The notebook's number, from its title cell or its file name.

    Parameters
    ----------
    path : Path
        The notebook's file (its name is read, ``03_…``).
    nb : dict
        The notebook (its first cell is read, "# 3 · …").

    Returns
    -------
    int or None
        The number, or None if neither says.
    """
    for cell in nb.get("cells", [])[:1]:
        src = cell.get("source", "")
        m = TITLE.match("".join(src) if isinstance(src, list) else src)
        if cell.get("cell_type") == "markdown" and m:
            return int(m.group(1))
    m = FILE_NUMBER.match(path.name)
    return int(m.group(1)) if m else None


def _run_cells(client, nb, deadline: float, time_limit: float, grade_limit: float) -> str:
    """Run the notebook's code cells until ``deadline``, then the grading cell (the last one).

    Returns the note on the time limit ("" if it was not reached).
    """
    note = ""
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells[:-1]):
            if cell.cell_type != "code":
                continue
            budget = int(deadline - time.monotonic())
            if budget >= 1:
                client.timeout, started = budget, time.monotonic()
                client.execute_cell(cell, i)  # interrupted after ``budget`` seconds
            if budget < 1 or time.monotonic() - started >= budget:
                note = f" (the notebook hit the {time_limit:g} s limit at cell {i}; later cells were not run)"
                break
        client.timeout = int(grade_limit)
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    return note


def run_and_grade(path: Path, numbers: list[str], seed: int, time_limit: float, grade_limit: float = 300.0,
                  kernel_name: str = "python3") -> tuple[dict[str, tuple[bool, str]], str]:
    """Run one notebook in a fresh kernel, then grade its exercises.

    Parameters
    ----------
    path : Path
        The submitted notebook; read, never written (it runs from a copy in memory).
    numbers : list of str
        The exercises to grade ("3.1", …).
    seed : int
        The grading inputs' seed.
    time_limit : float
        Seconds the notebook's own cells may run in all; the cell running then is
        interrupted and the rest skipped.
    grade_limit : float
        Seconds for the grading cell.
    kernel_name : str
        The Jupyter kernel.

    Returns
    -------
    (dict, str)
        ``{number: (passed, verdict)}``, and a note saying where the time limit was hit
        ("" if it was not).

    Raises
    ------
    GradingError
        nbclient or the kernel is missing.
    """
    try:
        import nbformat
        from jupyter_client.kernelspec import NoSuchKernel
        from nbclient import NotebookClient
    except ImportError as e:
        raise GradingError(f"grading runs notebooks with nbclient and ipykernel ({e}); "
                           "install them with pip install -e \".[notebooks]\"") from None

    nb = nbformat.read(str(path), as_version=4)
    token = f"AEVB-GRADES-{secrets.token_hex(8)}:"
    names = {n: EXERCISES[n].function for n in numbers}
    nb.cells.append(nbformat.v4.new_code_cell(_GRADE_CELL.format(names=names, seed=seed, token=token)))
    client = NotebookClient(nb, timeout=int(time_limit), kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(path.parent)}})
    deadline = time.monotonic() + time_limit
    try:
        note = _run_cells(client, nb, deadline, time_limit, grade_limit)
    except NoSuchKernel:
        raise GradingError(f"no Jupyter kernel named {kernel_name!r}: install ipykernel "
                           "(pip install -e \".[notebooks]\")") from None

    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    line = next((ln for ln in text.splitlines() if ln.startswith(token)), None)
    if line is None:
        return {n: (False, f"Exercise {n}: grading did not finish{note}") for n in numbers}, note
    return {n: tuple(v) for n, v in json.loads(line[len(token):]).items()}, note


def grade_submissions(folder, seed: int | None = None, time_limit: float = 600.0,
                      log=print) -> tuple[list[Row], int]:
    """Grade every submission of ``folder``: the score rows and the seed the inputs were drawn from.

    Parameters
    ----------
    folder : path-like
        The submissions (see the module's docstring).
    seed : int, optional
        The grading inputs' seed; default drawn now from the operating system.
    time_limit : float
        Seconds each notebook may run (then the grader cell runs on what is defined).
    log : callable
        Progress lines (``print``).

    Returns
    -------
    (list of Row, int)
        One row per student and exercise (1 point for a pass), and the seed.

    Raises
    ------
    GradingError
        As :func:`find_submissions`; a negative ``seed`` (NumPy's generators refuse it, and
        every answer would score 0 with no word).
    """
    seed = secrets.randbelow(2**63) if seed is None else int(seed)
    if seed < 0:
        raise GradingError(f"the grading seed must be a non-negative integer, got {seed}")
    rows: list[Row] = []
    for student, notebooks in find_submissions(folder):
        mine: list[Row] = []
        for path in notebooks:
            try:
                chapter = chapter_of(path, json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:  # one broken file must not stop the class
                log(f"{student}: {path.name} is not a readable notebook ({exc}); nothing in it graded")
                mine.append(Row(student, "-", 0, f"{path.name} is not a readable notebook ({exc}); nothing in it graded"))
                continue
            numbers = [n for n, e in EXERCISES.items() if e.chapter == chapter]
            if not numbers:
                log(f"{student}: {path.name} is not one of the course's notebooks; skipped")
                continue
            results, note = run_and_grade(path, numbers, seed, time_limit)
            for n in numbers:
                ok, why = results.get(n, (False, f"Exercise {n}: not graded"))
                mine.append(Row(student, n, int(ok), why + (note if not ok else "")))
        total = sum(r.points for r in mine)
        for r in mine:
            r.total = total
        log(f"{student}: {total}/{len(mine)}")
        rows += mine
    return rows, seed


def write_scores(rows: list[Row], out) -> Path:
    """Write the score table as CSV (student, exercise, points, verdict, total); never over a file.

    Parameters
    ----------
    rows : list of Row
        From :func:`grade_submissions`.
    out : path-like
        The CSV to create.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    GradingError
        ``out`` exists already (the table is written to a temporary file first and linked
        into place only if the name is still free).
    """
    out = Path(out)
    if out.exists():
        raise GradingError(f"{out} exists; remove it or choose another --out (the grader never overwrites a file)")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((r.student, r.exercise, r.points, r.verdict, r.total) for r in rows)
    fd, tmp = tempfile.mkstemp(prefix=".scores-", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, out)  # fails if the name was taken meanwhile: no overwrite, ever
        except FileExistsError:
            raise GradingError(f"{out} exists; remove it or choose another --out") from None
    finally:
        os.unlink(tmp)
    return out
