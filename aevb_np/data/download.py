"""Fetching a missing data file: streamed into a temporary file beside the target, its SHA-256
checked, then renamed into place (only with ``download=True``).

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from pathlib import Path

from aevb_np.data.files import _CHUNK_BYTES, _DOWNLOAD_TIMEOUT_S, ENV_VAR, _FileSpec
from aevb_np.atomic import atomic_write
from aevb_np.errors import DataError


def _fetch(url: str, dest: Path, expected: str) -> None:
    """Stream ``url`` into ``dest`` atomically, checking the SHA-256 on the way."""
    def stream(out):
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if got != expected:  # before the rename: a bad download never lands
            raise DataError(
                f"checksum mismatch for {url}: expected SHA-256 {expected}, got {got}; "
                "the server sent different bytes"
            )

    atomic_write(dest, stream, suffix=".part")


def _download(spec: _FileSpec, folder: Path) -> Path:
    name, expected = spec.forms()[1] if spec.urls_serve_raw else spec.forms()[0]
    dest = folder / name
    created = [d for d in (folder, *folder.parents) if not d.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create download folder {folder} for {spec.relname}: {exc}"
        ) from exc
    failures = []
    for url in spec.urls:
        try:
            _fetch(url, dest, expected)
            return dest
        except (OSError, http.client.HTTPException, DataError) as exc:
            failures.append(f"{url}: {exc}")
    for directory in created:  # innermost first; leave no empty folder behind
        try:
            directory.rmdir()
        except OSError:
            break
    raise DataError(
        f"could not download {spec.relname} ({' | '.join(failures)}); nothing was kept. "
        f"Copy the file into {folder}, or point --data-dir or {ENV_VAR} at a folder that holds it"
    )
