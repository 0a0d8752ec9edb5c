"""The catalogue of data files: each file's name, SHA-256 (compressed and raw) and URLs, and the
datasets' shapes, splits and constants.

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import types
from dataclasses import dataclass

from aevb_np.errors import ConfigError

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

_HOW_DOWNLOAD = "run with --download (download=True in Python)"
_REFETCH = "delete it and fetch it again with --download (download=True), or copy a good one"


def _check_split(split: str, allowed: tuple[str, ...], what: str) -> None:
    if split not in allowed:
        raise ConfigError(f"split for {what} must be one of {list(allowed)}, got {split!r}")
