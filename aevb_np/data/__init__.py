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

Modules
-------
:mod:`~aevb_np.data.files` (the catalogue: names, SHA-256, URLs, shapes, splits),
:mod:`~aevb_np.data.paths` (finding files, :func:`check_available`),
:mod:`~aevb_np.data.checksums`, :mod:`~aevb_np.data.download`,
:mod:`~aevb_np.data.parsers` (IDX, ``.amat``, ``.mat``) and :mod:`~aevb_np.data.loaders`
(:func:`load_dataset` and the per-dataset loaders).  Every public name is importable from
``aevb_np.data``.

References: Kingma & Welling (2014), §5; LeCun et al. (1998) for MNIST; B. Frey via
S. Roweis for Frey Face; Larochelle & Murray (2011) for binarized MNIST.
"""

from __future__ import annotations

import urllib.request  # noqa: F401  (tests replace urllib.request.urlopen through aevb_np.data.urllib)

from aevb_np.data.checksums import sha256_file, verify_sha256
from aevb_np.data.files import (_DOWNLOAD_TIMEOUT_S, _FILES, DATASET_SHAPES, DATASET_SPLITS, ENV_VAR,  # noqa: F401
                                FREY_FACE_N_TEST, FREY_FACE_N_TEST_RANDOM, FREY_FACE_SPLIT_SEED, FREY_SPLITS)
from aevb_np.data.loaders import frey_face_split_indices, load_binarized_mnist, load_dataset, load_frey_face, load_mnist
from aevb_np.data.parsers import parse_amat, parse_frey_mat, parse_idx
from aevb_np.data.paths import (_repo_root, check_available, is_source_checkout, resolve_data_file,  # noqa: F401
                                user_cache_dir)
from aevb_np.errors import ConfigError, DataError  # noqa: F401  (as before the split: data.DataError)

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
