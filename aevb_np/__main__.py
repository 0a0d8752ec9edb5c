"""``python -m aevb_np``: what the package's commands are, and ``--version``.

Prints the command-line tools with a line each on what they do, where the data are
looked for, and where the documentation is. It runs nothing else: every command has
its own ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from aevb_np import __version__

__all__ = ["COMMANDS", "build_parser", "main", "overview"]

#: (how to run it, what it does), in the order a new user needs them.
COMMANDS = (
    ("aevb-train  (python -m aevb_np.train)",
     "train a VAE by AEVB (§3), wake-sleep, or full VB (App. F) on MNIST or Frey Face"),
    ("aevb-evaluate  (python -m aevb_np.evaluate)",
     "lower bound and log p(x) of a trained run (importance sampling; App. D)"),
    ("python -m aevb_np.check",
     "report: the paper's derivations checked against the code, row by row"),
)


def overview() -> str:
    """The text ``python -m aevb_np`` prints.

    Returns
    -------
    str
        Several lines: the version, the commands, the data search order and the
        documentation's whereabouts.
    """
    from aevb_np import data  # deferred: keeps --version free of NumPy's import time

    lines = [f"aevb_np {__version__}: Auto-Encoding Variational Bayes (Kingma & Welling, 2014) in NumPy",
             "", "commands (each has --help):"]
    width = max(len(cmd) for cmd, _ in COMMANDS)
    lines += [f"  {cmd:<{width}}  {what}" for cmd, what in COMMANDS]
    lines += ["",
              "data: --data-dir DIR, else the folder in the environment variable "
              f"{data.ENV_VAR}, else the user cache {data.user_cache_dir()};",
              "      --download fetches missing files there (checked by SHA-256)."]
    if data.is_source_checkout():
        lines += ["      From this source checkout also its data/ and ../shared/data.", "",
                  f"documentation: {data._repo_root() / 'README.md'} (and docs/)"]
    else:
        lines += ["", "documentation: README.md of the aevb_np repository or source distribution"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m aevb_np`` (no arguments besides --help and --version)."""
    p = argparse.ArgumentParser(prog="python -m aevb_np",
                                description="List aevb_np's commands; run one of them for real work.")
    p.add_argument("--version", action="version", version=f"aevb_np {__version__}")
    return p


def main(argv=None) -> int:
    """Print :func:`overview`; returns the exit status (argparse exits 2 on unknown flags).

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    """
    build_parser().parse_args(argv)
    print(overview())
    return 0


if __name__ == "__main__":
    sys.exit(main())
