"""Where a run ran: BLAS threads, the machine, the library versions and the commit.

Training here multiplies small matrices (minibatches of M = 100 rows): OpenBLAS's threads
cost more than they give, and on a busy 2-core machine its default of one thread per core
made ``python -m aevb_np.train`` 2.2× slower than one thread
(``benchmarks/threads.py``).  :func:`blas_threads` sets the count for a block of code
(threadpoolctl, so it works after NumPy is imported); :func:`describe` records what a
run's ``config.json`` says about the machine, so that a log's timings can be read.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from aevb_np.checks import check_count

#: BLAS threads when the user does not say (``--threads``); see the module docstring and
#: ``benchmarks/results/threads-*.txt`` for the measurements behind it.
DEFAULT_THREADS = 1


def check_threads(threads) -> int:
    """``threads`` as a positive int, or :class:`~aevb_np.errors.ConfigError` naming it."""
    check_count(threads, "--threads")
    return int(threads)


@contextmanager
def blas_threads(threads: int):
    """Limit the BLAS libraries NumPy and SciPy use to ``threads`` threads inside the block.

    Parameters
    ----------
    threads : int
        At least 1.

    Raises
    ------
    ConfigError
        ``threads`` is not a positive integer.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=check_threads(threads), user_api="blas"):
        yield


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The commit of the checkout the package was imported from, or None (an installed copy)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+uncommitted changes" if dirty else "")


def describe(threads: int) -> dict:
    """What a run's ``config.json`` records about where it ran.

    Parameters
    ----------
    threads : int
        The BLAS threads the run was given (``--threads``).

    Returns
    -------
    dict
        ``cpu`` (model name), ``cores`` (logical CPUs), ``blas`` (library, version and
        kernel of each BLAS threadpoolctl finds), ``threads``, ``python``, ``numpy``,
        ``aevb_np`` (version) and ``commit`` (git, with ``+uncommitted changes`` when the
        tree differs from it; None outside a checkout).
    """
    from threadpoolctl import threadpool_info

    from aevb_np import __version__

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or 'kernel unknown'})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "blas": blas, "threads": check_threads(threads),
            "python": sys.version.split()[0], "numpy": np.__version__, "aevb_np": __version__,
            "commit": _git_commit()}
