"""Parsers of the stored formats: MNIST's IDX, binarized MNIST's ``.amat``, Frey Face's ``.mat``.

See :mod:`aevb_np.data` for the whole story (where files are looked for, downloads).
"""

from __future__ import annotations

import io
import math

import numpy as np
import scipy.io

from aevb_np.data.files import _AMAT_LINE_BYTES, _FREY_FACE_N_FRAMES, _REFETCH
from aevb_np.errors import DataError


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
