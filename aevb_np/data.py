"""Datasets of Kingma & Welling (2014), §5: MNIST and Frey Face, plus fixed binarized MNIST.

Three datasets, one entry point (:func:`load_dataset`):

========================  ==================  =====================  ==================
name                      splits              ``x``                  labels
========================  ==================  =====================  ==================
``"mnist"``               train, test         (N, 784) in [0, 1]     ``y`` uint8 (N,)
``"binarized-mnist"``     train, valid, test  (N, 784) in {0, 1}     none
``"frey-face"``           train, test, all    (N, 560) in [0, 1]     none
========================  ==================  =====================  ==================

Every ``x`` is a fresh, writable, C-contiguous float64 array: one row per datapoint,
pixels in row-major image order (reshape with :data:`DATASET_SHAPES`). MNIST and Frey
Face intensities are the stored bytes divided by 255; the paper models MNIST with a
Bernoulli decoder (App. C.1) and Frey Face with a Gaussian one (App. C.2). Whether to
binarize MNIST is the caller's choice, not this module's.

Where the files are looked for
------------------------------
Each file has a relative name such as ``mnist/train-images-idx3-ubyte.gz`` (the layout of
``shared/data``). It is searched for in this order:

1. ``data_dir`` (the CLIs' ``--data-dir``), when the caller passes one. Then *only*
   there: an explicit directory that lacks the file is an error, not a reason to quietly
   read some other copy.
2. the directory named by the environment variable ``AEVB_NP_DATA``;
3. the per-user cache, where downloads go: :func:`user_cache_dir`, the platform's cache
   folder for ``aevb_np`` as :mod:`platformdirs` defines it (``~/.cache/aevb_np`` on
   Linux, or ``$XDG_CACHE_HOME/aevb_np``);
4. only when the package runs from a source checkout (the folder above the package holds
   ``setup.cfg`` and ``.git``; see :func:`is_source_checkout`): the checkout's ``data/``
   folder, then ``../shared/data`` beside the checkout (where tests and CI keep the real
   files). An installed copy never looks beside ``site-packages``.

In each directory both ``<dir>/<subdir>/<name>`` and the flat ``<dir>/<name>`` are
accepted, and so is the decompressed form of a ``.gz`` file (e.g.
``train-images-idx3-ubyte``); each form has its own SHA-256 below. Every file is checked
against that SHA-256 before it is parsed (``verify=False`` skips the check, for
experiments on modified files only). :func:`check_available` does the search (and the
download) for every file of a dataset at once, so that a command can fail before it
writes anything.

Downloads
---------
Only with ``download=True`` (the CLIs' ``--download``; default ``False``, and nothing
here touches the network otherwise). A missing file is fetched with
:mod:`urllib.request` from the public URLs below, its SHA-256 checked while it streams
into a temporary file beside the target, and only then renamed into place: into
``data_dir`` if one was passed, else into the per-user cache. A failed or mismatching
download leaves nothing behind (neither the partial file nor folders it created).
MNIST and Frey Face are stored exactly as served. The binarized MNIST files are served
uncompressed (``.amat``, 78 MB for train); they are stored uncompressed too, so that the
stored bytes can be checked against the published SHA-256 of the original ``.amat``
(re-compressing would give bytes whose hash nobody published).

References: Kingma & Welling (2014), §5; LeCun et al. (1998) for MNIST; B. Frey via
S. Roweis for Frey Face; Larochelle & Murray (2011) for binarized MNIST.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import math
import os
import tempfile
import types
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
import scipy.io

from aevb_np.errors import ConfigError, DataError

__all__ = [
    "DATASET_SHAPES",
    "DATASET_SPLITS",
    "ENV_VAR",
    "FREY_FACE_N_TEST",
    "FREY_FACE_N_TEST_RANDOM",
    "FREY_SPLITS",
    "check_available",
    "frey_face_split_indices",
    "is_source_checkout",
    "load_binarized_mnist",
    "load_dataset",
    "load_frey_face",
    "load_mnist",
    "parse_amat",
    "parse_frey_mat",
    "parse_idx",
    "resolve_data_file",
    "sha256_file",
    "user_cache_dir",
    "verify_sha256",
]

#: Environment variable naming a directory that holds the data files.
ENV_VAR = "AEVB_NP_DATA"

#: name -> (D, image_shape): the data dimension and how one row reshapes into an image.
DATASET_SHAPES = types.MappingProxyType(
    {
        "mnist": (784, (28, 28)),
        "binarized-mnist": (784, (28, 28)),
        "frey-face": (560, (28, 20)),
    }
)

#: name -> the splits :func:`load_dataset` accepts for it.
DATASET_SPLITS = types.MappingProxyType(
    {
        "mnist": ("train", "test"),
        "binarized-mnist": ("train", "valid", "test"),
        "frey-face": ("train", "test", "all"),
    }
)

#: Frey Face has no official split; two are offered (``frey_split`` of :func:`load_dataset`).
#: "tail": the last 197 frames (10% of 1965, rounded up) are "test", the first 1768 "train".
FREY_FACE_N_TEST = 197
#: "random": a fixed random 365 of the 1965 frames are "test" and the other 1600 "train",
#: the split of the authors' later code; Fig. 2's test curves, which track the training
#: curves, fit this split (interleaved frames) and not the tail one.
FREY_FACE_N_TEST_RANDOM = 365
#: Seed of the fixed permutation behind the "random" split (the arXiv number).
FREY_FACE_SPLIT_SEED = 13126114
FREY_SPLITS = ("random", "tail")

_FREY_FACE_N_FRAMES = 1965
_AMAT_LINE_BYTES = 2 * 784  # 784 characters '0'/'1', each followed by ' ' or the final '\n'
_DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 20

_MNIST_MIRRORS = (
    # The S3 mirror comes first: yann.lecun.com often refuses scripted downloads.
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_BINARIZED_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"


@dataclass(frozen=True)
class _FileSpec:
    """One data file: where it lives, its checksums, and where to download it."""

    subdir: str
    name: str  # as stored in shared/data
    sha256: str
    raw_name: str | None = None  # decompressed form of a .gz file, also accepted
    raw_sha256: str | None = None
    urls: tuple[str, ...] = ()
    urls_serve_raw: bool = False  # the URLs serve raw_name, not name

    @property
    def relname(self) -> str:
        return f"{self.subdir}/{self.name}"

    def forms(self) -> list[tuple[str, str]]:
        """(file name, expected SHA-256) for each accepted form, canonical first."""
        out = [(self.name, self.sha256)]
        if self.raw_name is not None:
            out.append((self.raw_name, self.raw_sha256))
        return out


def _mnist_spec(stem: str, sha_gz: str, sha_raw: str) -> _FileSpec:
    return _FileSpec(
        "mnist",
        stem + ".gz",
        sha_gz,
        stem,
        sha_raw,
        tuple(url + stem + ".gz" for url in _MNIST_MIRRORS),
    )


def _binarized_spec(split: str, sha_gz: str, sha_raw: str) -> _FileSpec:
    raw = f"binarized_mnist_{split}.amat"
    return _FileSpec(
        "binarized_mnist", raw + ".gz", sha_gz, raw, sha_raw, (_BINARIZED_URL + raw,), True
    )


# SHA-256s from shared/data/README.md; the decompressed ones equal TFDS's published checksums.
_FILES = {
    spec.relname: spec
    for spec in (
        _mnist_spec(
            "train-images-idx3-ubyte",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        _mnist_spec(
            "train-labels-idx1-ubyte",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        _mnist_spec(
            "t10k-images-idx3-ubyte",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        _mnist_spec(
            "t10k-labels-idx1-ubyte",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        _FileSpec(
            "freyface",
            "frey_rawface.mat",
            "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64",
            urls=("https://cs.nyu.edu/~roweis/data/frey_rawface.mat",),
        ),
        _binarized_spec(
            "train",
            "af247bd6075cf9adc4715459dcd5f13eaa99a2c92d8d81379a05da94770b6c0e",
            "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
        ),
        _binarized_spec(
            "valid",
            "533b71bc0198f4d73c54ae5fe6c96fc08dc3cf1b3fae24c5521dbc0452507e38",
            "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
        ),
        _binarized_spec(
            "test",
            "32a3c54d03504632bf9f131b4a148c7567aa6fc87da017049b044bdc14c2a0f2",
            "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
        ),
    )
}


# --------------------------------------------------------------------------- paths

#: How the messages tell a user to fetch, point at, or name a data folder.
_HOW_DOWNLOAD = "run with --download (download=True in Python)"
_REFETCH = "delete it and fetch it again with --download (download=True), or copy a good one"


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


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

# --------------------------------------------------------------------------- checksums


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


# --------------------------------------------------------------------------- download


def _fetch(url: str, dest: Path, expected: str) -> None:
    """Stream ``url`` into ``dest`` atomically, checking the SHA-256 on the way."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            url, timeout=_DOWNLOAD_TIMEOUT_S
        ) as response:
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if got != expected:
            raise DataError(
                f"checksum mismatch for {url}: expected SHA-256 {expected}, got {got}; "
                "the server sent different bytes"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


# --------------------------------------------------------------------------- reading bytes


def _read_payload(
    relname: str, data_dir: str | os.PathLike | None, verify: bool, download: bool
) -> tuple[bytes, str]:
    """Locate, verify and (if ``.gz``) decompress one file; return (bytes, source label)."""
    spec = _spec(relname)
    path = resolve_data_file(relname, data_dir, download=download)
    if verify:
        verify_sha256(path, _expected_sha256(spec, path))
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from exc
    if path.suffix != ".gz":
        return blob, str(path)
    try:
        return gzip.decompress(blob), str(path)
    except EOFError as exc:
        raise DataError(
            f"data file {path} is truncated (the gzip stream ends early); {_REFETCH}"
        ) from exc
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(
            f"data file {path} is not a valid gzip file ({exc}); {_REFETCH}"
        ) from exc


# --------------------------------------------------------------------------- parsers


def parse_idx(buf: bytes, *, ndim: int, source: str = "<bytes>") -> np.ndarray:
    """Decode an unsigned-byte IDX file (the MNIST format) from its decompressed bytes.

    Layout, big-endian: magic ``0x00000800 | ndim`` (``0x803`` images, ``0x801`` labels),
    ``ndim`` int32 sizes, then the uint8 payload in row-major order.

    Parameters
    ----------
    buf : bytes
        The whole decompressed file.
    ndim : int
        Expected number of dimensions: 3 for images, 1 for labels.
    source : str, optional
        Name of the file, used in error messages.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 view of ``buf`` with the declared shape, e.g. (N, 28, 28).

    Raises
    ------
    DataError
        If the header is short, the magic number is wrong, or the declared sizes do not
        match the payload length.
    """
    expected_magic = 0x800 | ndim
    if len(buf) < 4:
        raise DataError(f"{source}: {len(buf)} bytes is too short for an IDX magic number")
    magic = int.from_bytes(buf[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"{source}: IDX magic number is 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(unsigned bytes, {ndim} dimensions); this is not the right MNIST file"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(
            f"{source}: {len(buf)} bytes is too short for an IDX header of {header} bytes"
        )
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    declared, present = math.prod(shape), len(buf) - header
    if declared != present:
        raise DataError(
            f"{source}: IDX header declares shape {shape} = {declared} bytes of data, but "
            f"{present} bytes follow; the file is truncated or damaged"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(shape)


def parse_amat(buf: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode a binarized-MNIST ``.amat`` text file from its (decompressed) bytes.

    Each line is 784 characters ``0``/``1`` separated by single spaces and ended by
    ``\\n`` (1568 bytes); this fixed layout lets the whole file be read as one
    (N, 1568) byte array instead of being parsed as text.

    Parameters
    ----------
    buf : bytes
        The whole decompressed file.
    source : str, optional
        Name of the file, used in error messages.

    Returns
    -------
    numpy.ndarray
        uint8 array (N, 784) of 0/1 pixels, row-major 28x28 per row.

    Raises
    ------
    DataError
        If the length is not a whole number of lines, a value is not ``0``/``1``, or a
        separator is not a space (a line end is not ``\\n``).

    References
    ----------
    Larochelle & Murray (2011), the fixed binarization of MNIST.
    """
    if len(buf) == 0 or len(buf) % _AMAT_LINE_BYTES:
        raise DataError(
            f"{source}: {len(buf)} bytes is not a whole number of {_AMAT_LINE_BYTES}-byte lines "
            "(784 values '0'/'1' separated by spaces, one image per line)"
        )
    lines = np.frombuffer(buf, dtype=np.uint8).reshape(-1, _AMAT_LINE_BYTES)
    # uint8 arithmetic wraps, so every byte other than '0'/'1' maps above 1.
    bits = lines[:, 0::2] - np.uint8(ord("0"))
    bad = bits > 1
    if bad.any():
        row, col = np.argwhere(bad)[0]
        char = bytes([lines[row, 2 * col]])
        raise DataError(
            f"{source}: line {row + 1}, value {col + 1} is {char!r}, expected '0' or '1'"
        )
    separators = lines[:, 1::2]
    expected = np.full(separators.shape[1], ord(" "), dtype=np.uint8)
    expected[-1] = ord("\n")
    bad = separators != expected
    if bad.any():
        row, col = np.argwhere(bad)[0]
        char = bytes([separators[row, col]])
        want = "'\\n' (end of line)" if col == len(expected) - 1 else "a space"
        raise DataError(
            f"{source}: line {row + 1}, byte {2 * col + 2} is {char!r}, expected {want}"
        )
    return bits


def parse_frey_mat(buf: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode ``frey_rawface.mat`` from its bytes into one face per row.

    Parameters
    ----------
    buf : bytes
        The whole MATLAB v5 file, holding a uint8 variable ``ff`` of shape (560, 1965)
        with one 28x20 face per column.
    source : str, optional
        Name of the file, used in error messages.

    Returns
    -------
    numpy.ndarray
        uint8 array (1965, 560): ``ff.T``, each row a face in row-major 28x20 order.

    Raises
    ------
    DataError
        If the bytes are not a readable MAT-file, or ``ff`` is missing or has the wrong
        shape or dtype.
    """
    try:
        contents = scipy.io.loadmat(io.BytesIO(buf))
    # loadmat fails on foreign bytes with many unrelated types (IndexError, ValueError,
    # OSError, MatReadError, ...); any of them means "not this file format".
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f"{source}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc}); "
            f"{_REFETCH}"
        ) from exc
    if "ff" not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise DataError(f"{source}: expected a variable 'ff' (the face pixels), found {found}")
    ff = contents["ff"]
    if ff.shape != (560, _FREY_FACE_N_FRAMES) or ff.dtype != np.uint8:
        raise DataError(
            f"{source}: variable 'ff' must be uint8 of shape (560, {_FREY_FACE_N_FRAMES}), "
            f"got {ff.dtype} of shape {ff.shape}"
        )
    return ff.T


# --------------------------------------------------------------------------- loaders


def _check_split(split: str, allowed: tuple[str, ...], what: str) -> None:
    if split not in allowed:
        raise ConfigError(f"split for {what} must be one of {list(allowed)}, got {split!r}")


def _float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype) if dtype is not None else None  # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f" or dt.itemsize not in (4, 8):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def _to_unit_interval(pixels: np.ndarray, dtype=np.float64) -> np.ndarray:
    """uint8 (N, ...) -> fresh C-contiguous float (N, D) holding pixels / 255.

    Converting from the bytes straight to ``dtype`` means a float32 run never holds a
    float64 copy of the training set (188 MB less for MNIST).
    """
    x = np.array(pixels.reshape(len(pixels), -1), dtype=_float_dtype(dtype), order="C")
    x /= 255.0
    return x


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = False,
    dtype=np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST images as [0, 1] intensities, with their digit labels.

    Parameters
    ----------
    split : {"train", "test"}
        60000 training or 10000 test images.
    data_dir : str or os.PathLike, optional
        Directory holding ``mnist/*.gz`` (or the files flat); see the module docstring
        for the search order when omitted.
    verify : bool, default True
        Check each file's SHA-256 before parsing it.
    download : bool, default False
        Fetch missing files from the public mirrors (needs network access).
    dtype : {numpy.float64, numpy.float32}, default float64
        Floating type of the returned intensities (converted from the stored bytes).

    Returns
    -------
    x : numpy.ndarray
        ``dtype`` (N, 784), pixel bytes / 255, each row a row-major 28x28 image.
    y : numpy.ndarray
        uint8 (N,), digits 0-9.

    Raises
    ------
    ConfigError
        If ``split`` is not "train" or "test", or ``dtype`` is not float32/float64.
    DataError
        If a file is missing, corrupt, fails its checksum, or images and labels disagree.

    References
    ----------
    Kingma & Welling (2014), §5; LeCun et al. (1998).
    """
    _check_split(split, DATASET_SPLITS["mnist"], "mnist")
    dtype = _float_dtype(dtype)
    prefix = "train" if split == "train" else "t10k"
    buf, src = _read_payload(f"mnist/{prefix}-images-idx3-ubyte.gz", data_dir, verify, download)
    images = parse_idx(buf, ndim=3, source=src)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{src}: images must be 28x28, got {images.shape[1:]}")
    buf, src = _read_payload(f"mnist/{prefix}-labels-idx1-ubyte.gz", data_dir, verify, download)
    labels = parse_idx(buf, ndim=1, source=src).copy()
    if len(labels) != len(images):
        raise DataError(
            f"{src}: {len(labels)} labels for {len(images)} images in the {split} split"
        )
    return _to_unit_interval(images, dtype), labels


def load_frey_face(
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = False,
    dtype=np.float64,
) -> np.ndarray:
    """Load all 1965 Frey Face frames as [0, 1] intensities.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Directory holding ``freyface/frey_rawface.mat`` (or the file flat); see the
        module docstring for the search order when omitted.
    verify : bool, default True
        Check the file's SHA-256 before parsing it.
    download : bool, default False
        Fetch the file from Sam Roweis' page if missing (needs network access).
    dtype : {numpy.float64, numpy.float32}, default float64
        Floating type of the result.

    Returns
    -------
    numpy.ndarray
        ``dtype`` (1965, 560), pixel bytes / 255 (stored values run 8..238); each row is a
        28x20 face in row-major order, frames in video order.

    Raises
    ------
    ConfigError
        If ``dtype`` is not float32/float64.
    DataError
        If the file is missing, corrupt or fails its checksum.

    References
    ----------
    Kingma & Welling (2014), §5 and App. C.2 (Gaussian decoder for these data).
    """
    dtype = _float_dtype(dtype)
    buf, src = _read_payload("freyface/frey_rawface.mat", data_dir, verify, download)
    return _to_unit_interval(parse_frey_mat(buf, source=src), dtype)


def load_binarized_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = False,
    dtype=np.float64,
) -> np.ndarray:
    """Load the fixed binarization of MNIST (Larochelle & Murray) as 0/1 floats.

    Parameters
    ----------
    split : {"train", "valid", "test"}
        50000, 10000 or 10000 images.
    data_dir : str or os.PathLike, optional
        Directory holding ``binarized_mnist/*.amat.gz`` (or ``.amat``, or the files
        flat); see the module docstring for the search order when omitted.
    verify : bool, default True
        Check the file's SHA-256 before parsing it.
    download : bool, default False
        Fetch the (uncompressed) ``.amat`` if missing (needs network access).
    dtype : {numpy.float64, numpy.float32}, default float64
        Floating type of the result.

    Returns
    -------
    numpy.ndarray
        ``dtype`` (N, 784) with values in {0, 1}, each row a row-major 28x28 image.

    Raises
    ------
    ConfigError
        If ``split`` is not "train", "valid" or "test", or ``dtype`` is not float32/float64.
    DataError
        If the file is missing, corrupt, fails its checksum or is not 0/1 text.

    References
    ----------
    Larochelle & Murray (2011); the usual benchmark for log p(x) of VAEs.
    """
    _check_split(split, DATASET_SPLITS["binarized-mnist"], "binarized-mnist")
    dtype = _float_dtype(dtype)
    relname = f"binarized_mnist/binarized_mnist_{split}.amat.gz"
    buf, src = _read_payload(relname, data_dir, verify, download)
    return parse_amat(buf, source=src).astype(dtype)


def frey_face_split_indices(frey_split: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (into the 1965 video frames) of the Frey Face train and test splits.

    Parameters
    ----------
    frey_split : {"random", "tail"}
        "random": a fixed permutation (seed :data:`FREY_FACE_SPLIT_SEED`) holds out 365
        frames as test and keeps 1600 for training, as the authors' later code does;
        "tail": the last 197 frames are test, the first 1768 train.

    Returns
    -------
    train, test : numpy.ndarray
        int64 (1600,) and (365,) for "random", (1768,) and (197,) for "tail"; each in
        increasing (video) order, disjoint, together every frame.

    Raises
    ------
    ConfigError
        If ``frey_split`` is neither "random" nor "tail".
    """
    if frey_split not in FREY_SPLITS:
        raise ConfigError(f"frey_split must be one of {', '.join(FREY_SPLITS)}, got {frey_split!r}")
    n = _FREY_FACE_N_FRAMES
    if frey_split == "tail":
        return np.arange(n - FREY_FACE_N_TEST), np.arange(n - FREY_FACE_N_TEST, n)
    perm = np.random.default_rng(FREY_FACE_SPLIT_SEED).permutation(n)
    return np.sort(perm[FREY_FACE_N_TEST_RANDOM:]), np.sort(perm[:FREY_FACE_N_TEST_RANDOM])


def load_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = False,
    dtype=np.float64,
    frey_split: str = "random",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load one split of a dataset by name: the single entry point for training code.

    Frey Face has no official split and the paper does not state one; ``frey_split``
    chooses (see :func:`frey_face_split_indices`). "random" (the default, and what Fig. 2
    uses) holds out a fixed random 365 of the 1965 frames: test faces are then
    interleaved with training faces of the same stretch of video, and the test bound
    tracks the training bound, as the paper's Fig. 2 curves do. "tail" holds out the
    last 197 frames, an unseen stretch of video: a harder test of generalisation.
    "all" is every frame, in video order, whatever the split.

    Parameters
    ----------
    name : {"mnist", "binarized-mnist", "frey-face"}
        Dataset name; see :data:`DATASET_SHAPES` for each one's shape.
    split : str
        One of :data:`DATASET_SPLITS` ``[name]``.
    data_dir : str or os.PathLike, optional
        Directory holding the files; see the module docstring for the search order.
    verify : bool, default True
        Check SHA-256s before parsing.
    download : bool, default False
        Fetch missing files (needs network access).
    dtype : {numpy.float64, numpy.float32}, default float64
        Floating type of ``x`` (converted from the stored bytes or text).
    frey_split : {"random", "tail"}, default "random"
        Which Frey Face split (ignored by the other datasets).

    Returns
    -------
    x : numpy.ndarray
        ``dtype`` (N, D): D = 784 for the MNIST variants, 560 for Frey Face.
    y : numpy.ndarray or None
        uint8 (N,) digit labels for "mnist"; None for the others.

    Raises
    ------
    ConfigError
        If ``name`` or ``split`` is unknown, or ``dtype`` is not float32/float64.
    DataError
        If a file is missing, corrupt or fails its checksum.

    References
    ----------
    Kingma & Welling (2014), §5.
    """
    if name not in DATASET_SPLITS:
        raise ConfigError(f"dataset must be one of {list(DATASET_SPLITS)}, got {name!r}")
    _check_split(split, DATASET_SPLITS[name], name)
    dtype = _float_dtype(dtype)
    kwargs = dict(verify=verify, download=download, dtype=dtype)
    if name == "mnist":
        return load_mnist(split, data_dir, **kwargs)
    if name == "binarized-mnist":
        return load_binarized_mnist(split, data_dir, **kwargs), None
    train_idx, test_idx = frey_face_split_indices(frey_split)  # checks frey_split first
    x = load_frey_face(data_dir, **kwargs)
    if split == "train":
        x = x[train_idx]
    elif split == "test":
        x = x[test_idx]
    return x, None
