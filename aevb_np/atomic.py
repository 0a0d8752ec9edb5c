"""The one atomic write of the package: a temporary file beside the target, flushed and
``fsync``-ed, then moved over it with ``os.replace`` (atomic on POSIX), and the folder synced.

A crash or an error at any moment leaves either the old file or the new one, never a
half-written file, and no temporary file behind.  Checkpoints, the run folder's JSON
files, the pictures and the downloaded data files are all written through
:func:`atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable, *, suffix: str = ".tmp", text: bool = False,
                 open_error: Callable[[OSError], Exception] | None = None) -> None:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file that then replaces ``path``.

    Parameters
    ----------
    path : str or path-like
        The file written; its folder must exist.  Replaced only once the new file is
        complete and on disk.
    write : callable
        ``write(f)`` with ``f`` the open temporary file (binary, or text in UTF-8 if
        ``text``).  An exception it raises removes the temporary file and propagates;
        ``path`` is left as it was.
    suffix : str
        Of the temporary file's name (``<name>.<random><suffix>``, in ``path``'s folder).
    text : bool
        Open the temporary file in text mode.
    open_error : callable, optional
        ``open_error(exc)`` makes the exception raised when the temporary file cannot be
        created (default: the ``OSError`` itself).

    Raises
    ------
    OSError
        The folder cannot be written (unless ``open_error``), or writing, syncing or
        renaming fails; the temporary file is removed.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=suffix, dir=path.parent)
    except OSError as exc:
        if open_error is None:
            raise
        raise open_error(exc) from None
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)  # the rename itself reaches the disk
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
