"""SHA-256 of data files (cached per path, size and mtime) and their verification.

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from aevb_np.data.files import _CHUNK_BYTES, _REFETCH
from aevb_np.errors import DataError


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so a rewritten file is hashed afresh.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    The digest is cached per process, keyed on (absolute path, size, mtime), so loading
    the same unchanged file twice hashes it once.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    DataError
        If the file cannot be read.
    """
    path = Path(path).resolve()
    try:
        st = path.stat()
        return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from exc


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Check that a file's SHA-256 equals ``expected``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to check.
    expected : str
        The expected hex digest (from ``shared/data/SHA256SUMS``).

    Raises
    ------
    DataError
        On a mismatch; the message gives both digests and what to do.
    """
    got = sha256_file(path)
    if got != expected.lower():
        raise DataError(
            f"checksum mismatch for data file {path}: expected SHA-256 {expected}, got {got}; "
            f"the file is corrupt or a different version - {_REFETCH}"
        )
