"""Atomic, verifiable checkpoints of a training run, for exact resume.

A checkpoint is one ``.npz`` file holding everything the next step depends on:

* ``params/phi/W3`` …     the parameters, in the paper's names;
* ``optim/phi/W3`` …      the optimizer state (Adagrad's accumulators G);
* ``rng_state``           the ``bit_generator.state`` of the run's Generator, as JSON;
* ``perm``, counters      the current epoch's data order and position, the step,
                          sample and epoch counters;
* ``config``              the run's configuration, as JSON;
* ``sha256``              a digest of all of the above, checked on load.

It is written to a temporary file in the same folder, flushed and ``fsync``-ed, then
moved over the old one with ``os.replace`` (atomic on POSIX): a crash at any moment
leaves either the old or the new checkpoint whole, never half of one.  Loading uses
``allow_pickle=False`` and verifies the digest and the structure, so a truncated or
edited file is named as such instead of yielding half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from aevb_np.atomic import atomic_write
from aevb_np.errors import CheckpointError
from aevb_np.params import Params, from_flat_dict, to_flat_dict

FORMAT_VERSION = 1


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of every array, in sorted order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _json_array(obj) -> np.ndarray:
    """A JSON document stored as a uint8 array (loadable with ``allow_pickle=False``)."""
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode(), dtype=np.uint8)


def _from_json_array(a: np.ndarray):
    return json.loads(bytes(a.astype(np.uint8)).decode())


def _read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickles), or a :class:`CheckpointError` naming ``what``."""
    if not path.exists():
        raise CheckpointError(f"no {what} at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise CheckpointError(
            f"{what} {path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
            "delete it to start again, or restore a copy"
        ) from None


def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as ``.npz`` atomically (temp file, fsync, ``os.replace``).

    Parameters
    ----------
    path : str or path-like
        The file written (its folder must exist); it is replaced only once the new
        file is complete.
    arrays : dict of str to ndarray
        Saved under their keys (``np.savez``).

    Raises
    ------
    CheckpointError
        The folder cannot be written (the temporary file cannot be created).
    OSError
        Writing, syncing or renaming fails later; the temporary file is removed and
        ``path`` is left as it was.
    """
    path = Path(path)
    atomic_write(path, lambda f: np.savez(f, **arrays),
                 open_error=lambda exc: CheckpointError(f"cannot write to {path.parent}: {exc.strerror}"))


def save(path, *, params: Params, optim_state: dict, rng: np.random.Generator, perm: np.ndarray,
         position: int, step: int, samples: int, epoch: int, config: dict, extra: dict | None = None) -> None:
    """Save a complete training state atomically.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file to (over)write.
    params : dict
        Model parameters.
    optim_state : dict
        ``optimizer.state_dict()``.
    rng : numpy.random.Generator
        The run's generator; its exact state is saved.
    perm : ndarray of int, shape (N,)
        Data order of the current epoch.
    position : int
        Index into ``perm`` of the next minibatch.
    step, samples, epoch : int
        Counters.
    config : dict
        JSON-serializable run configuration.
    extra : dict of str to ndarray, optional
        Any other state an algorithm carries between steps (MCEM's chains), saved as is.
    """
    arrays = {f"params/{k}": v for k, v in to_flat_dict(params).items()}
    arrays.update({f"optim/{k}": v for k, v in optim_state.items()})
    arrays["rng_state"] = _json_array(rng.bit_generator.state)
    arrays["perm"] = np.asarray(perm, dtype=np.int64)
    arrays["counters"] = np.array([position, step, samples, epoch, FORMAT_VERSION], dtype=np.int64)
    arrays["config"] = _json_array(config)
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    arrays["sha256"] = np.frombuffer(_digest(arrays).encode(), dtype=np.uint8)
    atomic_savez(path, arrays)


def load(path) -> dict:
    """Load and verify a checkpoint written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        The ``checkpoint.npz`` file.

    Returns
    -------
    dict
        ``params``, ``optim_state``, ``rng_state`` (a dict for
        ``bit_generator.state``), ``perm``, ``position``, ``step``, ``samples``,
        ``epoch``, ``config``, ``extra`` (a dict, empty unless :func:`save` was given one).

    Raises
    ------
    CheckpointError
        Missing, truncated or corrupt file, digest mismatch, or missing entries.
    """
    path = Path(path)
    arrays = _read_npz(path, "checkpoint")
    required = ("rng_state", "perm", "counters", "config", "sha256")
    missing = [k for k in required if k not in arrays]
    if missing or not any(k.startswith("params/") for k in arrays):
        raise CheckpointError(f"checkpoint {path} is incomplete: missing {missing or ['params/*']}")
    stored = bytes(arrays.pop("sha256")).decode(errors="replace")
    if _digest(arrays) != stored:
        raise CheckpointError(f"checkpoint {path} failed its SHA-256 check: the file was altered or damaged")
    position, step, samples, epoch, version = (int(v) for v in arrays["counters"])
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}, expected {FORMAT_VERSION}")
    return {
        "params": from_flat_dict({k[7:]: v for k, v in arrays.items() if k.startswith("params/")}),
        "optim_state": {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")},
        "rng_state": _from_json_array(arrays["rng_state"]),
        "perm": arrays["perm"],
        "position": position,
        "step": step,
        "samples": samples,
        "epoch": epoch,
        "config": _from_json_array(arrays["config"]),
        "extra": {k[6:]: v for k, v in arrays.items() if k.startswith("extra/")},
    }


def save_params(path, params: Params) -> None:
    """Save only the parameters (``phi/W3`` …) atomically, e.g. ``params.npz`` of a finished run.

    Parameters
    ----------
    path : str or path-like
    params : dict of dict of ndarray
        Saved with keys ``"group/name"`` (:func:`aevb_np.params.to_flat_dict`).

    Raises
    ------
    CheckpointError
        The folder cannot be written (see :func:`atomic_savez`).
    """
    atomic_savez(path, to_flat_dict(params))


def load_params(path) -> Params:
    """Load parameters saved by :func:`save_params` (or from a full checkpoint).

    Parameters
    ----------
    path : str or path-like
        A ``params.npz`` or a ``checkpoint.npz`` (recognized by its digest, and verified).

    Returns
    -------
    dict of dict of ndarray
        The groups ``phi``, ``theta``, ``theta_mu``, ``theta_log_var`` found in the
        file, in one fresh flat buffer; other arrays are ignored.

    Raises
    ------
    CheckpointError
        Missing or corrupt file, or no parameter arrays in it.
    """
    path = Path(path)
    arrays = _read_npz(path, "parameter file")
    if "sha256" in arrays:
        return load(path)["params"]
    groups = ("phi", "theta", "theta_mu", "theta_log_var")  # the last two: full VB (App. F)
    keys = [k for k in arrays if k.count("/") == 1 and k.split("/")[0] in groups]
    if not keys:
        raise CheckpointError(f"{path} holds no parameter arrays named like 'phi/W3'")
    return from_flat_dict({k: arrays[k] for k in keys})
