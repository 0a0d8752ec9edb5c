"""The course's command line: ``python -m aevb_np.exercises {make-student, list, grade}``.

* ``make-student SRC OUT`` — the student copy of the notebooks of SRC in OUT (solutions
  replaced by stubs); refuses SRC itself, solved notebooks, and (without ``--force``) a
  folder holding files it did not write or that were edited since.
* ``list SRC`` — the exercises of the notebooks of SRC.
* ``grade SUBMISSIONS --out scores.csv`` — run every submitted notebook in a fresh kernel,
  grade its exercises on freshly drawn inputs and write the score table (CSV: student,
  exercise, points, verdict, total); never overwrites a file.

A user's mistake prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from aevb_np.course.graders import EXERCISES
from aevb_np.course.grading import GradingError, grade_submissions, write_scores
from aevb_np.course.student import StudentCopyError, find_exercises, make_student, read_notebook


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aevb_np.exercises",
                                     description="The course's exercises: the student copy, the list, grading a class.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make-student", help="write the notebooks with their solutions replaced by stubs")
    p.add_argument("src", help="folder of solved notebooks (notebooks/)")
    p.add_argument("out", help="a new folder for the student copy")
    p.add_argument("--force", action="store_true",
                   help="overwrite a folder holding other or edited files (never the solutions)")
    q = sub.add_parser("list", help="list the exercises of the notebooks of a folder")
    q.add_argument("src")
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks and write a CSV score table")
    g.add_argument("submissions", help="SUBMISSIONS/<student>/<notebook>.ipynb or SUBMISSIONS/<student>.ipynb")
    g.add_argument("--out", required=True, help="the CSV to write (must not exist)")
    g.add_argument("--seed", type=int, default=None, help="the grading inputs' seed (default: drawn now)")
    g.add_argument("--time-limit", type=float, default=600.0, help="seconds each notebook may run (default 600)")
    return parser


def main(argv=None) -> int:
    """Run a command; see the module's docstring.

    Parameters
    ----------
    argv : list of str, optional
        Default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 for a user's mistake (one line on stderr).

    Raises
    ------
    SystemExit
        From argparse: ``--help``, or a missing or unknown command or option.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "make-student":
            for path in make_student(args.src, args.out, force=args.force):
                n = len(find_exercises(read_notebook(path)))
                print(f"{path}  ({n} exercises)")
            print(f"work in {args.out}: open it with `jupyter lab {args.out}`")
        elif args.command == "list":
            paths = sorted(Path(args.src).glob("*.ipynb"))
            if not paths:
                raise FileNotFoundError(f"no notebooks in {args.src}")
            for path in paths:
                for e in find_exercises(read_notebook(path)):
                    grader = EXERCISES[e["number"]].grader.__name__
                    print(f"{path.name}  Exercise {e['number']}: {e['title']}  (graded by exercises.{grader})")
        else:
            if not math.isfinite(args.time_limit) or args.time_limit <= 0:
                raise GradingError(f"--time-limit must be a positive number of seconds, got {args.time_limit:g}")
            if args.seed is not None and args.seed < 0:
                raise GradingError(f"--seed must be a non-negative integer, got {args.seed}")
            out = Path(args.out)
            if out.exists():
                raise GradingError(f"{args.out} exists; remove it or choose another --out (the grader never overwrites a file)")
            if not out.parent.is_dir():
                raise GradingError(f"--out {args.out}: the folder {out.parent} does not exist")
            if out.resolve().is_relative_to(Path(args.submissions).resolve()):
                raise GradingError(f"--out {args.out} is inside the submissions folder; write the scores elsewhere")
            rows, seed = grade_submissions(args.submissions, seed=args.seed, time_limit=args.time_limit)
            write_scores(rows, args.out)
            print(f"wrote {args.out}: {len(rows)} rows; inputs drawn from seed {seed} (--seed {seed} grades the same inputs)")
    except (StudentCopyError, GradingError, FileNotFoundError, ValueError) as e:
        print(f"{_parser().prog} {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0
