"""What the experiment scripts share: reading a run folder, and writing a table into docs/reproducing.md."""

from __future__ import annotations

import json
from pathlib import Path

from aevb_np.errors import ConfigError

#: The page of the site where the reproduction is discussed; its marked blocks are the scripts'.
REPRODUCING = Path(__file__).resolve().parents[1] / "docs" / "reproducing.md"


def check_out_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file, or a folder of someone else's files.

    A folder an experiment script wrote holds its ``runs/`` subfolder; any other folder that is
    not empty is refused, so that the script never writes over a file it did not create. The
    scripts check a folder given with ``--out``; their default folders are the repository's own.

    Raises
    ------
    ConfigError
        ``out`` exists and is not a folder, or is a non-empty folder without ``runs/``.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.is_dir() and not (out / "runs").is_dir() and any(out.iterdir()):
        raise ConfigError(f"--out {out} holds files this script did not write (it has no runs/ folder); "
                          "choose an empty or new folder")


def read_run(folder: Path) -> tuple[dict | None, list[dict]]:
    """A run folder's ``config.json`` and ``log.jsonl`` rows (None, [] if it holds no run)."""
    if not (folder / "config.json").exists():
        return None, []
    config = json.loads((folder / "config.json").read_text())
    path = folder / "log.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return config, rows


WALL_TIME_NOTE = ("Wall time: the run's own elapsed time to its last evaluation (training and evaluations, "
                  "summed over resumptions; not §5's step-size trials), one BLAS thread, on this project's "
                  "2-core machine shared with other work.")


def wall_time(rows: list[dict]) -> str:
    """The elapsed time logged with a run's last evaluation, as ``"1 h 05 min"`` or ``"7 min"``."""
    minutes = round(rows[-1]["train_seconds"] / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def doc_markers(name: str, script: str) -> tuple[str, str]:
    """The two comments that delimit the block ``script --update-docs`` writes."""
    return f"<!-- {name}:start (written by {script} --update-docs) -->", f"<!-- {name}:end -->"


def update_doc(text: str, markers: tuple[str, str], doc: Path = REPRODUCING) -> None:
    """Put ``text`` between the two markers of ``doc`` (the only part of it a script writes)."""
    start, end = markers
    content = doc.read_text()
    if start not in content or end not in content:
        raise ConfigError(f"{doc} has no block marked {start!r} … {end!r} to write the table into")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(head + start + "\n" + text + end + tail)
