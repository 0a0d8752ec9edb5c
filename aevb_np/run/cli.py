"""The command line of ``python -m aevb_np.train`` (``aevb-train``): one flag per
:class:`~aevb_np.run.config.TrainConfig` field, and a parser whose errors are one line.

:func:`aevb_np.train.main` runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from aevb_np import __version__, environment
from aevb_np.run.config import TrainConfig, _lr_value


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        """Print ``PROG: error: MESSAGE`` on stderr and exit with status 2.

        Parameters
        ----------
        message : str
            argparse's message.

        Raises
        ------
        SystemExit
            Always, with code 2.
        """
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(field: dataclasses.Field) -> str | None:
    flag = field.metadata.get("flag", "")
    return "--" + field.name.replace("_", "-") if flag == "" else flag


def _program_name() -> str:
    """``aevb-train`` when run as the console script, else ``python -m aevb_np.train``."""
    return "aevb-train" if Path(sys.argv[0]).name == "aevb-train" else "python -m aevb_np.train"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser, one flag per :class:`TrainConfig` field (help and default from the field).

    Parameters
    ----------
    prog : str, optional
        Program name in messages; default ``aevb-train`` or ``python -m aevb_np.train``
        depending on how it was started.

    Returns
    -------
    OneLineErrorParser
        With the field flags and ``--out``, ``--resume``, ``--force``, ``--download``,
        ``--no-progress`` and ``--version``.
    """
    p = OneLineErrorParser(prog=prog or _program_name(),
                           description="Train a variational auto-encoder with AEVB (Kingma & Welling 2014, "
                                       "Algorithm 1), or one of the paper's other algorithms.")
    for field in dataclasses.fields(TrainConfig):
        flag = _flag(field)
        if flag is None:
            continue
        meta, default = field.metadata, field.default
        if field.type == "bool":
            p.add_argument(flag, dest=field.name, action="store_false", default=default, help=meta["help"])
            continue
        kind = {"int": int, "int | None": int, "float": float, "float | str": _lr_value}.get(field.type, str)
        shown = "" if default is None or "(default" in meta["help"] else f" (default: {default})"
        p.add_argument(flag, dest=field.name, type=kind, default=default, choices=meta["choices"],
                       metavar=meta["metavar"], help=meta["help"] + shown)
    p.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-nz<Nz>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run saved in RUN_DIR")
    p.add_argument("--force", action="store_true", help="start again over the run in --out (removes only its files)")
    p.add_argument("--download", action="store_true", help="fetch missing data files into the user cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and CI)")
    p.add_argument("--threads", type=int, default=environment.DEFAULT_THREADS, metavar="N",
                   help="BLAS threads (default: %(default)s; one is fastest for these small matrices, and "
                        "2.2x faster than two on a busy 2-core machine: benchmarks/threads.py)")
    p.add_argument("--version", action="version", version=f"%(prog)s (aevb_np) {__version__}")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Map parsed flags to a :class:`TrainConfig` (every field that has a flag).

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`build_parser`'s ``parse_args``.

    Returns
    -------
    TrainConfig
        Not yet validated (:func:`train` validates it).
    """
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if _flag(f)})


def _explicit_flags(argv, prog: str) -> dict:
    """The flags the user actually typed (not argparse defaults), as TrainConfig fields."""
    parser = build_parser(prog)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return {f.name: given[f.name] for f in dataclasses.fields(TrainConfig) if f.name in given}
