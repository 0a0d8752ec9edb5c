"""The datasets as float arrays in [0, 1]: MNIST, binarized MNIST, Frey Face (and its split),
and the one entry point :func:`load_dataset`.

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from aevb_np.data.checksums import verify_sha256
from aevb_np.data.files import (_FREY_FACE_N_FRAMES, _REFETCH, DATASET_SPLITS, FREY_FACE_N_TEST,
                                FREY_FACE_N_TEST_RANDOM, FREY_FACE_SPLIT_SEED, FREY_SPLITS, _check_split)
from aevb_np.data.parsers import parse_amat, parse_frey_mat, parse_idx
from aevb_np.data.paths import _expected_sha256, _spec, resolve_data_file
from aevb_np.errors import ConfigError, DataError


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
