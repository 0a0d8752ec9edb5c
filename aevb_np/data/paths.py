"""Where data files are looked for (``data_dir``, ``$AEVB_NP_DATA``, the user cache, a source
checkout's folders), and finding, checking and downloading every file of a dataset.

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from aevb_np.data.checksums import verify_sha256
from aevb_np.data.download import _download
from aevb_np.data.files import _FILES, _HOW_DOWNLOAD, DATASET_SPLITS, ENV_VAR, _check_split, _FileSpec
from aevb_np.errors import ConfigError, DataError

#: How the messages tell a user to fetch, point at, or name a data folder.






def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # aevb_np/data/paths.py -> the checkout


def is_source_checkout() -> bool:
    """Whether aevb_np runs from a source checkout rather than an installed copy.

    True when the folder above the package holds both ``setup.cfg`` and ``.git`` (a
    folder, or the file a ``git worktree`` writes): a clone of the repository. An
    installed package sits in ``site-packages``, and an unpacked sdist has no ``.git``.

    Returns
    -------
    bool
    """
    root = _repo_root()
    return (root / "setup.cfg").is_file() and (root / ".git").exists()


def user_cache_dir() -> Path:
    """The per-user folder downloads go to and the loaders search after ``AEVB_NP_DATA``.

    :func:`platformdirs.user_cache_dir` for the application ``aevb_np``:
    ``~/.cache/aevb_np`` on Linux (``$XDG_CACHE_HOME/aevb_np`` if that is set),
    ``~/Library/Caches/aevb_np`` on macOS, ``%LOCALAPPDATA%\\aevb_np\\Cache`` on Windows.
    Nothing is created until a download needs it.

    Returns
    -------
    pathlib.Path
    """
    return Path(platformdirs.user_cache_dir("aevb_np", appauthor=False))


def _repo_cache_dir() -> Path:
    """The checkout's git-ignored ``data/`` folder (searched only in a source checkout)."""
    return _repo_root() / "data"


def _shared_data_dir() -> Path:
    """``../shared/data`` relative to the checkout (searched only in a source checkout)."""
    return _repo_root().parent / "shared" / "data"


def _search_dirs(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """(label, directory) pairs in search order; only ``data_dir`` when it is given."""
    if data_dir is not None:
        return [("--data-dir", Path(data_dir).expanduser())]
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append((ENV_VAR, Path(env).expanduser()))
    dirs.append(("user cache", user_cache_dir()))
    if is_source_checkout():
        dirs.append(("checkout data/", _repo_cache_dir()))
        dirs.append(("checkout ../shared/data", _shared_data_dir()))
    return dirs


def _download_dir(data_dir: str | os.PathLike | None) -> Path:
    """Where ``download=True`` puts files: ``data_dir`` if given, else the user cache."""
    return Path(data_dir).expanduser() if data_dir is not None else user_cache_dir()


def _find(spec: "_FileSpec", dirs: list[tuple[str, Path]]) -> Path | None:
    for _, directory in dirs:
        for path in _candidates(spec, directory):
            if path.is_file():
                return path
    return None


def _not_found_message(specs: list["_FileSpec"], data_dir: str | os.PathLike | None) -> str:
    """One line: which files are missing, where they were looked for, what to do.

    Only folders that exist are listed (an installed copy has no checkout folders to
    list, and a folder that does not exist holds nothing).
    """
    dirs = _search_dirs(data_dir)
    them = "it" if len(specs) == 1 else "them"
    if len(specs) == 1:
        names = " or ".join(name for name, _ in specs[0].forms())
        what = (f"data file {specs[0].relname} not found (looked for {names} in "
                f"<dir>/{specs[0].subdir}/ and <dir>/")
    else:
        what = (f"data files {', '.join(s.relname for s in specs)} not found (looked in "
                "<dir>/<subdir>/ and <dir>/")
    existing = [f"{label} {d}" for label, d in dirs if d.is_dir()]
    if data_dir is not None:
        where = f" of --data-dir {dirs[0][1]}" if existing else f"; --data-dir {dirs[0][1]} does not exist"
        hint = (f"put {them} there, {_HOW_DOWNLOAD} to fetch {them} into it, or leave out "
                f"--data-dir (data_dir) to search the folder named by the environment variable "
                f"{ENV_VAR} and the user cache {user_cache_dir()}")
    else:
        where = f" of: {'; '.join(existing)}" if existing else "; none of the search folders exists"
        env = [d for label, d in dirs if label == ENV_VAR and not d.is_dir()]
        if env:  # a folder the user named deserves a word even when it is missing
            where += f"; {ENV_VAR} names {env[0]}, which does not exist"
        hint = (f"{_HOW_DOWNLOAD} to fetch {them} into the user cache {user_cache_dir()}, or point "
                f"--data-dir (data_dir=...) or the environment variable {ENV_VAR} at a folder "
                f"that holds {them}")
    return f"{what}{where}); {hint}"


def _candidates(spec: _FileSpec, directory: Path) -> list[Path]:
    """Every accepted location of ``spec`` in one directory: nested first, then flat."""
    bases = (directory / spec.subdir, directory)
    return [base / name for base in bases for name, _ in spec.forms()]


def _spec(relname: str) -> _FileSpec:
    try:
        return _FILES[relname]
    except KeyError:
        raise ConfigError(
            f"relname must be one of {sorted(_FILES)}, got {relname!r}"
        ) from None


def _expected_sha256(spec: _FileSpec, path: Path) -> str:
    """The checksum of whichever form (compressed or not) ``path`` is."""
    return dict(spec.forms())[path.name]


def resolve_data_file(
    relname: str, data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> Path:
    """Find a data file on disk, downloading it first if asked to and it is missing.

    Parameters
    ----------
    relname : str
        Relative name as in ``shared/data``, e.g. ``"mnist/train-images-idx3-ubyte.gz"``.
    data_dir : str or os.PathLike, optional
        Search only this directory (as ``<data_dir>/<subdir>/<name>`` or
        ``<data_dir>/<name>``). When omitted: ``$AEVB_NP_DATA``, then the per-user cache,
        then (in a source checkout only) the checkout's ``data/`` and ``../shared/data``.
    download : bool, default False
        If the file is found nowhere, fetch it into ``data_dir`` (or the user cache when
        ``data_dir`` is omitted) and verify its SHA-256.

    Returns
    -------
    pathlib.Path
        The first existing candidate: the canonical name (e.g. ``.gz``) before the
        decompressed one within each directory.

    Raises
    ------
    ConfigError
        If ``relname`` is not one of the known data files.
    DataError
        If the file is in none of the searched places (the message names ``--download``,
        ``--data-dir`` and ``AEVB_NP_DATA`` and lists the folders that exist), or the
        download fails or does not match its checksum.

    References
    ----------
    Kingma & Welling (2014), §5 (the datasets).
    """
    spec = _spec(relname)
    path = _find(spec, _search_dirs(data_dir))
    if path is not None:
        return path
    if download:
        return _download(spec, _download_dir(data_dir) / spec.subdir)
    raise DataError(_not_found_message([spec], data_dir))


def _dataset_files(name: str, splits) -> list[str]:
    """Relative names of the files behind ``splits`` (all when None) of dataset ``name``."""
    if name not in DATASET_SPLITS:
        raise ConfigError(f"dataset must be one of {list(DATASET_SPLITS)}, got {name!r}")
    if splits is None:
        splits = DATASET_SPLITS[name]
    elif isinstance(splits, str):
        splits = (splits,)
    for split in splits:
        _check_split(split, DATASET_SPLITS[name], name)
    if name == "frey-face":
        return ["freyface/frey_rawface.mat"]
    out = []
    for split in splits:
        if name == "mnist":
            prefix = "train" if split == "train" else "t10k"
            out += [f"mnist/{prefix}-images-idx3-ubyte.gz", f"mnist/{prefix}-labels-idx1-ubyte.gz"]
        else:
            out.append(f"binarized_mnist/binarized_mnist_{split}.amat.gz")
    return list(dict.fromkeys(out))


def check_available(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    *,
    splits=None,
    verify: bool = True,
) -> list[Path]:
    """Make sure every file of a dataset is on disk (fetching it if asked), before any work.

    For commands that must not write anything (a run folder, a results file) when the
    data are missing: call this first, then load. It searches exactly as
    :func:`load_dataset` does.

    Parameters
    ----------
    name : {"mnist", "binarized-mnist", "frey-face"}
        Dataset name.
    data_dir : str or os.PathLike, optional
        Search only this directory (the CLIs' ``--data-dir``); see the module docstring
        for the search order when omitted.
    download : bool, default False
        Fetch the missing files (the CLIs' ``--download``) into ``data_dir``, or the
        user cache when ``data_dir`` is omitted, each verified by its SHA-256.
    splits : str or sequence of str, optional
        Only the files of these splits (default: every split of the dataset).
    verify : bool, default True
        Also check the SHA-256 of files already on disk (hashes are cached per process,
        so the loader's own check afterwards costs nothing).

    Returns
    -------
    list of pathlib.Path
        The files found (or downloaded), in a fixed order.

    Raises
    ------
    ConfigError
        If ``name`` or a split is unknown.
    DataError
        If files are missing and ``download`` is False: one line naming the missing
        files, the folders searched that exist, ``--download``, ``--data-dir`` and the
        environment variable ``AEVB_NP_DATA``. Also if a download fails or a file fails
        its checksum.

    Examples
    --------
    >>> from aevb_np import data
    >>> paths = data.check_available("frey-face")  # doctest: +SKIP
    """
    specs = [_spec(relname) for relname in _dataset_files(name, splits)]
    dirs = _search_dirs(data_dir)
    found = {spec.relname: _find(spec, dirs) for spec in specs}
    missing = [spec for spec in specs if found[spec.relname] is None]
    if missing and not download:
        raise DataError(_not_found_message(missing, data_dir))
    for spec in missing:
        found[spec.relname] = _download(spec, _download_dir(data_dir) / spec.subdir)
    if verify:
        for spec in specs:
            path = found[spec.relname]
            verify_sha256(path, _expected_sha256(spec, path))
    return [found[spec.relname] for spec in specs]
