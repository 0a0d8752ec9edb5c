"""The README's short summary of the reproduction: Fig. 2's test bounds at 10⁷ samples and
Fig. 3's test log p(x) at each run's last point, ours against the paper's.

It reads the two committed tables, ``experiments/fig2_out/fig2_table.md`` and
``experiments/fig3_out/fig3_table.md`` (written from the run logs by ``fig2.py`` and ``fig3.py``;
``tests/test_experiments.py`` checks that they are what the logs give), and prints the summary.
``--update-readme`` also writes it into the README's marked block (``tests/test_site.py`` checks
that the block is what this prints). The whole discussion is on ``docs/reproducing.md``.

Usage::

    python experiments/readme_summary.py [--update-readme]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_folders import update_doc  # noqa: E402

README = HERE.parent / "README.md"
FIG2_TABLE = HERE / "fig2_out" / "fig2_table.md"
FIG3_TABLE = HERE / "fig3_out" / "fig3_table.md"
MARKERS = ("<!-- summary:start (written by experiments/readme_summary.py --update-readme) -->",
           "<!-- summary:end -->")


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of a markdown table, keyed by header; repeated headers ("ours", "Δ") get the
    prefix of the last header that had one ("train: paper" then "ours" → "train: ours")."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("|")]
    header, prefix = [], ""
    for cell in (c.strip() for c in lines[0].strip("|").split("|")):
        if ":" in cell:
            prefix = cell.split(":")[0] + ": "
            header.append(cell)
        else:
            header.append(prefix + cell if prefix else cell)
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


def summary() -> str:
    """The two small tables and their one-line notes, as markdown ending with a newline."""
    fig2 = [r for r in read_table(FIG2_TABLE) if r["at"] == "1e+07"]
    panels = list(dict.fromkeys(r["panel"] for r in fig2))
    out = ["| Fig. 2 panel, test bound at 10⁷ | AEVB: paper | ours | wake-sleep: paper | ours |",
           "|---|---:|---:|---:|---:|"]
    for panel in panels:
        cells = []
        for algorithm in ("AEVB", "Wake-Sleep"):
            row = next((r for r in fig2 if r["panel"] == panel and r["algorithm"] == algorithm), None)
            cells += [row["test: paper"], row["test: ours"]] if row else ["—", "—"]
        out.append(f"| {panel} | " + " | ".join(cells) + " |")
    out += ["", "| Fig. 3, test log p(x) | algorithm | samples | paper | ours |", "|---:|---|---:|---:|---:|"]
    rows = read_table(FIG3_TABLE)
    for r in rows:
        last = r["at"].endswith("(last)") or r is next(x for x in reversed(rows)
                                                       if (x["N_train"], x["algorithm"]) == (r["N_train"], r["algorithm"]))
        if last:
            out.append(f"| {r['N_train']} | {r['algorithm']} | {r['at'].replace(' (last)', '')} | "
                       f"{r['test: paper']} | {r['test: ours']} |")
    out += ["", "Nats per datapoint (Frey Face: a density, positive); the paper's values read from its "
            "PDF's vector drawing; \"—\": no point of the paper's curve there. From "
            "`experiments/fig2_out/fig2_table.md` and `experiments/fig3_out/fig3_table.md`."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python experiments/readme_summary.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true", help="also write the summary into README.md's marked block")
    args = parser.parse_args(argv)
    text = summary()
    if args.update_readme:
        update_doc(text, MARKERS, README)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
