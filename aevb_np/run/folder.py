"""The run folder: ``config.json``, ``log.jsonl``, ``summary.json``, the checkpoint; creating,
checking, resuming and ``--force``.

References
----------
Kingma & Welling (2014), Algorithm 1 (the loop a checkpoint resumes exactly).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from aevb_np import checkpoint
from aevb_np.atomic import atomic_write
from aevb_np.errors import ConfigError
from aevb_np.loop import RunState
from aevb_np.run.config import TrainConfig
from aevb_np.run.lr_auto import effective_lr

# Fields that may differ when resuming; every other field must match the saved config.
RESUMABLE_CHANGES = ("epochs", "max_samples", "eval_every", "eval_per_decade", "checkpoint_every", "data_dir")
#: Files a run writes into its folder (``--force`` removes these and nothing else).
RUN_FILES = ("config.json", "checkpoint.npz", "log.jsonl", "params.npz", "samples.png", "summary.json",
             "posterior_std.png", "curves.png", "reconstructions.png")


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True)), text=True)


def _read_log(path: Path, max_step: int) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= max_step]


def _write_log(path: Path, rows: list[dict]) -> None:
    atomic_write(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows)), text=True)


def prepare_run_dir(out: Path, config: TrainConfig, resume: bool, force: bool) -> TrainConfig:
    """Create or check the run folder; on resume return the saved config (with allowed changes).

    Parameters
    ----------
    out : path-like
        The run folder (created with its parents if missing).
    config : TrainConfig
        The requested settings.
    resume : bool
        Continue the run in ``out``: its saved config is kept, except the fields of
        :data:`RESUMABLE_CHANGES`, which come from ``config``.
    force : bool
        Start again over a run in ``out``: only the files of :data:`RUN_FILES` are removed.

    Returns
    -------
    TrainConfig
        On resume the merged, validated config; otherwise ``config`` with ``hidden``
        resolved, as written to ``out/config.json``.

    Raises
    ------
    ConfigError
        ``out`` holds another run, or files that are not a run's, and neither ``resume``
        nor ``force`` is set; or the resumed run's config contradicts the requested one in
        a field that may not change; or ``out`` is not a writable folder, or its
        ``config.json`` is unreadable.
    """
    out = Path(out)
    cfg_path = out / "config.json"
    if resume:
        if not cfg_path.exists():
            raise ConfigError(f"--resume {out}: no run there (no config.json); start it without --resume")
        saved = _saved_config(out)
        requested = dataclasses.asdict(config)
        for field, value in dataclasses.asdict(saved).items():
            if field in RESUMABLE_CHANGES or field in ("lr_auto", "environment") or requested.get(field) is None:
                continue
            if requested[field] != value:
                raise ConfigError(
                    f"--resume {out}: {field} was {value!r} in the saved run, got {requested[field]!r}; "
                    f"only {', '.join(RESUMABLE_CHANGES)} may change when resuming"
                )
        merged = dataclasses.replace(saved, **{f: requested[f] for f in RESUMABLE_CHANGES})
        merged.validate()
        return merged
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.exists() and force and not cfg_path.exists() and any(out.iterdir()):
        # --force restarts a run; a folder without a run's config.json holds someone else's files
        # (a params.npz of theirs would be replaced), so it is refused as a non-empty folder is.
        raise ConfigError(f"--force {out}: the folder holds no run (no config.json) but is not empty; "
                          f"choose an empty or new folder")
    if out.exists() and not force:
        if cfg_path.exists():
            raise ConfigError(f"--out {out} already holds a run; pass --resume {out} to continue it "
                              f"or --force to start it again")
        others = sorted(p.name for p in out.iterdir())
        if others:
            raise ConfigError(f"--out {out} is not empty (it holds {', '.join(others[:3])}"
                              f"{' …' if len(others) > 3 else ''}); choose an empty or new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out {out} is not writable: {exc.strerror}") from None
    if force:  # only what a run writes; anything else in the folder stays
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    config = dataclasses.replace(config, hidden=config.resolved_hidden())
    _write_json(cfg_path, dataclasses.asdict(config))
    return config


def _saved_config(run_dir: Path) -> TrainConfig:
    try:
        return TrainConfig(**json.loads((run_dir / "config.json").read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"--resume {run_dir}: config.json is unreadable ({exc})") from None



def _restore(part, config: TrainConfig, ckpt_path: Path) -> RunState:
    saved = checkpoint.load(ckpt_path)
    params = saved["params"]
    opt = part.make_optimizer(effective_lr(config))
    opt.load_state_dict(saved["optim_state"], params)
    part.load_state_arrays(saved["extra"])
    rng = np.random.default_rng(config.seed)
    rng.bit_generator.state = saved["rng_state"]
    return RunState(params=params, optimizer=opt, rng=rng, perm=saved["perm"], position=saved["position"],
                    step=saved["step"], samples=saved["samples"], epoch=saved["epoch"])
