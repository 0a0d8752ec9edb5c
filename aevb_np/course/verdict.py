"""What a grader tells a student: the verdict, and the comparisons that decide it.

A grader (``aevb_np.course.graders``) builds its own inputs, calls the student's function
through :func:`call` and compares the outputs with the package's own computation through
:func:`compare`.  Whatever goes wrong becomes an :class:`ExerciseError` whose message says
*what* is wrong — which output, which entry, by how much, and the named slip when the
answer matches one — and never the reference value or the grader's source: a notebook shows
the message alone, without a traceback (``_render_traceback_``), and :func:`verdict` turns it
into one printed line that does not stop "Run all".

Tolerances follow the answer's precision: a float32 answer is held to float32 rounding.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from aevb_np.gradcheck import relative_error

# Relative error (gradcheck.relative_error) a correct float64 implementation stays below.
EXACT_TOL = 1e-9       # the same formula evaluated another way
GRAD_TOL = 1e-6        # against fourth-order central differences
# A float32 answer is rounded at float32's eps (1.2e-7) in every operation; 64 eps leaves
# room for a sum of a few dozen terms while every named slip (an O(1) change) still fails.
ROUNDING_ULPS = 64

# Frames of these folders are the grader's or NumPy's, not the student's.
_NOT_STUDENT = (str(Path(__file__).resolve().parents[1]), str(Path(np.__file__).resolve().parent))


class ExerciseError(AssertionError):
    """A student's function does not compute the step the exercise asks for.

    The message starts with "Exercise N.k" and says what is wrong.  In IPython the error
    shows its message alone: ``_render_traceback_`` hides the grader's frames and source.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"✗ {self}"]


def rng(seed: int | None, tag: int) -> np.random.Generator:
    """The generator of a grader's inputs.

    Parameters
    ----------
    seed : int or None
        None: the fixed inputs of the notebook's check cell.  An integer: a grading run's
        seed, drawn when it starts and stored in no notebook, so hard-coded outputs fail.
    tag : int
        The grader's own number (101 for 1.1, …), so that graders draw different inputs.

    Returns
    -------
    numpy.random.Generator
        ``default_rng(tag)`` or ``default_rng([seed, tag])``.
    """
    return np.random.default_rng(tag if seed is None else [int(seed), tag])


def _student_frames(tb) -> str:
    """Where in the student's own code an exception was raised: " (at line N: `code`)"."""
    frames = [f for f in traceback.extract_tb(tb) if not str(Path(f.filename).resolve()).startswith(_NOT_STUDENT)]
    if not frames:
        return ""
    f = frames[-1]
    return f" (line {f.lineno} of your code: `{(f.line or '').strip()}`)"


def call(ex: str, fn: Callable, *args, forbidden: Iterable[tuple[Callable, str]] = ()):
    """Call the student's function; a stub, an exception or a call of the package's answer fails.

    Parameters
    ----------
    ex : str
        The exercise's number, "2.1".
    fn : callable
        The student's function.
    *args
        Its arguments (the grader passes copies).
    forbidden : iterable of (function, name)
        The package's own implementations of this step: if ``fn`` calls one of them (even
        through another name or a wrapper) the answer is refused.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    ExerciseError
        ``fn`` is not callable, raises (NotImplementedError: not written yet), or calls a
        forbidden function.
    """
    if not callable(fn):
        raise ExerciseError(f"Exercise {ex}: expected a function, got {type(fn).__name__}")
    codes = {getattr(f, "__code__", None): name for f, name in forbidden}
    codes.pop(None, None)
    hit: list[str] = []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in codes and not hit:
            hit.append(codes[frame.f_code])

    previous = sys.getprofile()
    try:
        if codes:
            sys.setprofile(watch)
        try:
            out = fn(*args)
        finally:
            if codes:
                sys.setprofile(previous)
    except NotImplementedError:
        raise ExerciseError(f"Exercise {ex}: not written yet (the function still raises NotImplementedError)") from None
    except ExerciseError:
        raise
    except Exception as e:  # the student's bug: report it as the grade, with where it happened
        raise ExerciseError(f"Exercise {ex}: your function raised {type(e).__name__}: {e}"
                            f"{_student_frames(e.__traceback__)}") from None
    if hit:
        raise ExerciseError(f"Exercise {ex}: your function calls the package's own {hit[0]}, "
                            "which is the answer; write the step yourself")
    return out


def array(ex: str, name: str, value, shape: tuple) -> np.ndarray:
    """The student's output as a float array of the expected shape, or an ExerciseError.

    Parameters
    ----------
    ex, name : str
        The exercise's number and the output's name, for the message.
    value : array_like
        What the student's function returned for this output.
    shape : tuple of int
        The shape the exercise asks for (``()`` for one number).

    Returns
    -------
    ndarray
        float64 or float32 (kept: :func:`compare` sets the tolerance from it); integers and
        Python floats become float64.

    Raises
    ------
    ExerciseError
        None, not numbers, float16 or wider than float64, the wrong shape, or a
        non-finite entry (named).
    """
    if value is None:
        raise ExerciseError(f"Exercise {ex}: {name} is None; expected an array of shape {tuple(shape)}")
    try:
        a = np.asarray(value)
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
    except Exception:
        a = None
    if a is None or a.dtype.kind != "f":
        raise ExerciseError(f"Exercise {ex}: {name} is a {type(value).__name__}, not an array of numbers")
    if a.dtype.itemsize < 4 or a.dtype.itemsize > 8:
        raise ExerciseError(f"Exercise {ex}: {name} is {a.dtype}; return float64 (or float32)")
    if a.shape != tuple(shape):
        raise ExerciseError(f"Exercise {ex}: {name} has shape {a.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(a)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ExerciseError(f"Exercise {ex}: {name} holds a non-finite value ({a[bad]}) at entry {bad}")
    return a


def as_tuple(ex: str, value, names: tuple[str, ...]) -> tuple:
    """``value`` as a tuple of ``len(names)`` outputs, or an ExerciseError naming what came back.

    Parameters
    ----------
    ex : str
        The exercise's number.
    value : object
        What the student's function returned.
    names : tuple of str
        The outputs the exercise asks for, in order.

    Returns
    -------
    tuple
        ``value`` as a tuple.

    Raises
    ------
    ExerciseError
        Not a tuple or list of that length.
    """
    if value is None or not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = type(value).__name__ + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise ExerciseError(f"Exercise {ex}: expected a tuple ({', '.join(names)}), got {got}")
    return tuple(value)


def tolerance(tol: float, dtype) -> float:
    """The relative tolerance for an answer of ``dtype``.

    Parameters
    ----------
    tol : float
        The tolerance for a float64 answer.
    dtype : numpy dtype
        The answer's floating dtype.

    Returns
    -------
    float
        ``tol`` for float64; at least ROUNDING_ULPS × eps of a lower precision (7.6e-6
        for float32).
    """
    return max(tol, ROUNDING_ULPS * float(np.finfo(dtype).eps)) if np.dtype(dtype).itemsize < 8 else tol


def compare(ex: str, name: str, got: np.ndarray, expected: np.ndarray, tol: float,
            hints: dict[str, np.ndarray] | None = None) -> float:
    """Largest relative error of ``got`` against ``expected``; ExerciseError above the tolerance.

    Parameters
    ----------
    ex, name : str
        The exercise's number and the output's name, for the message.
    got : ndarray
        The student's output (float64 or float32, from :func:`array`).
    expected : ndarray
        The package's value, same shape; never shown in the message.
    tol : float
        Relative tolerance for a float64 answer (see :func:`tolerance`).
    hints : dict, optional
        A usual slip's description → what that slip computes; a match is named.

    Returns
    -------
    float
        The largest relative error (dimensionless).

    Raises
    ------
    ExerciseError
        Above the tolerance: the message names the output, the entry, the relative error
        (and, for one number, whether the answer is too large or too small) and the slip.
    """
    tol = tolerance(tol, got.dtype)
    err = relative_error(got, expected)
    worst = float(err.max()) if err.size else 0.0
    if worst <= tol:
        return worst
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape)) if err.ndim else ()
    where = f"at entry {idx}" if idx else "for the one number returned"
    msg = f"Exercise {ex}: {name} is wrong {where}: relative error {worst:.2g} (tolerance {tol:.0e})"
    for slip, value in (hints or {}).items():
        if np.shape(value) == got.shape and float(relative_error(got, value).max()) <= max(1e-8, tol):
            msg += f"; it matches a usual slip: {slip}"
            break
    raise ExerciseError(msg)


_GRADER_SECTIONS = """
    Parameters
    ----------
    fn : callable
        The student's function, called with the grader's inputs as described above.
    seed : int, optional
        None for the notebook's fixed inputs; an integer draws fresh ones (grading).

    Returns
    -------
    str
        "Exercise {ex} passed: …", saying what was checked.

    Raises
    ------
    ExerciseError
        {raises}; the message names the output, the entry and the error, and the slip
        when the answer matches a usual one, never the expected value.

    References
    ----------
    Kingma & Welling (2014), {ref}.
    """


def grader_doc(ex: str, ref: str, raises: str = "Not written, raises, calls the package's answer, "
                                                "or returns the wrong type, shape or value"):
    """Complete a grader's docstring with the sections every grader shares (numpydoc).

    Parameters
    ----------
    ex : str
        The exercise's number.
    ref : str
        The paper's section or equation, e.g. "Appendix B".
    raises : str
        When the grader raises ExerciseError.

    Returns
    -------
    callable
        A decorator that appends Parameters, Returns, Raises and References to the
        grader's own summary and returns the grader.
    """
    def decorate(fn):
        fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _GRADER_SECTIONS.format(ex=ex, raises=raises, ref=ref)
        return fn
    return decorate


def passed(ex: str, what: str) -> str:
    """The line a grader returns on success.

    Parameters
    ----------
    ex : str
        The exercise's number.
    what : str
        What was checked.

    Returns
    -------
    str
        "Exercise N.k passed: " + ``what``.
    """
    return f"Exercise {ex} passed: {what}"


def verdict(ex: str, grade: Callable[[], str], fallback: str) -> bool:
    """Run ``grade()`` and print one line: passed, or what is wrong; never raise.

    Parameters
    ----------
    ex : str
        The exercise's number.
    grade : callable
        ``grade() -> str``, a grader bound to the student's function.
    fallback : str
        What the rest of the notebook uses instead of the student's function.

    Returns
    -------
    bool
        Whether the exercise passed.
    """
    try:
        line = grade()
    except ExerciseError as e:
        print(f"✗ not yet — {e}\n  (the rest of the notebook goes on with {fallback})")
        return False
    except Exception as e:  # a grader's own failure on a strange answer: still no traceback
        print(f"✗ not yet — Exercise {ex}: could not grade the answer ({type(e).__name__}: {e})\n"
              f"  (the rest of the notebook goes on with {fallback})")
        return False
    print(f"✓ {line}")
    return True
