"""The paper's derivations checked against the code, as a report: ``python -m aevb_np.check``.

One row per comparison (the rows are in :mod:`aevb_np.course.check_rows`): the equation or
appendix of Kingma & Welling (2014), what is compared with what, the measured error, the
tolerance, and pass/fail.

Usage::

    python -m aevb_np.check                       # every row, as a text table
    python -m aevb_np.check --appendix B          # the rows of Appendix B
    python -m aevb_np.check --equation 10 --equation 3
    python -m aevb_np.check --format markdown     # the table of the docs' derivations page

The exit status is 0 when every selected row passes, 1 otherwise.  Everything is seeded, so
the report is the same on every run; the text table fits the terminal's width (``COLUMNS``,
80 when there is no terminal) and ends with the legend of the error column's units
(:data:`LEGEND`) and the time the report took.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
import time
import unicodedata

from aevb_np.course.check_rows import APPENDICES, CHECKS, EQUATIONS, Row

#: The units of the error column, printed under the report.
LEGEND = ("Units of the error column: \"rel.\" is a relative error |a − b| / max(1e-8, |a| + |b|), the "
          "largest over the entries compared; \"nats\" is the largest absolute difference of "
          "log-densities per datapoint; \"SE\" is |Monte Carlo mean − exact value| in standard errors "
          "of that mean. A row passes when its error is at most its tolerance.")

MIN_COMPARED = 24  # the "compared" column never gets narrower than this, whatever the terminal


def run(equations=None, appendices=None) -> list[Row]:
    """The report's rows, for the selected equations and appendices (all when both are None).

    Parameters
    ----------
    equations : iterable of str, optional
        Equation numbers, e.g. ``["3", "10"]`` (of :data:`aevb_np.course.check_rows.EQUATIONS`).
    appendices : iterable of str, optional
        Appendix letters, e.g. ``["B"]`` (of :data:`aevb_np.course.check_rows.APPENDICES`).

    Returns
    -------
    list of Row

    Raises
    ------
    ValueError
        An equation or appendix that has no rows.
    """
    eqs = None if equations is None else {str(e).strip("() ") for e in equations}
    apps = None if appendices is None else {str(a).strip().upper() for a in appendices}
    for given, known, what in ((eqs, EQUATIONS, "equation"), (apps, APPENDICES, "appendix")):
        unknown = sorted((given or set()) - set(known))
        if unknown:
            raise ValueError(f"no rows for {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    everything = eqs is None and apps is None
    rows: list[Row] = []
    for check in CHECKS:
        chosen = (check.key in eqs if eqs is not None and check.kind == "equation" else False) or \
                 (check.key in apps if apps is not None and check.kind == "appendix" else False)
        if everything or chosen:
            rows.extend(check.run())
    return rows


def _error_text(row: Row) -> tuple[str, str]:
    if row.unit == "SE":
        return f"{row.error:.2f} SE", f"{row.tolerance:g} SE"
    if row.unit == "nats":
        return f"{row.error:.2g} nats", f"{row.tolerance:g} nats"
    return f"{row.error:.1e} rel.", f"{row.tolerance:g} rel."


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: combining marks (the tilde of L̃) take none."""
    return sum(not unicodedata.combining(c) for c in text)


def _ljust(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` columns.

    At the last space that fits; else after the last ``_``, ``.`` or ``(`` that fits (a long
    dotted name); else mid-word.
    """
    out = []
    while _width(text) > width:
        fits = 0
        while fits < len(text) and _width(text[: fits + 1]) <= width:
            fits += 1
        space = text.rfind(" ", 0, fits + 1)
        inner = max(text.rfind(c, 0, fits) for c in "_.(")
        cut = space if space > 0 else (inner + 1 if inner > 0 else fits)
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return out + [text]


def format_rows(rows: list[Row], fmt: str = "text", width: int | None = None) -> str:
    """The report as a text table or a markdown table (``fmt`` "text" or "markdown").

    Parameters
    ----------
    rows : list of Row
        From :func:`run`.
    fmt : {"text", "markdown"}
        ``"text"``: a table at most ``width`` characters wide, the "compared" column wrapped;
        ``"markdown"``: the table of the docs' derivations page.
    width : int, optional
        Of the text table; default the terminal's width (``COLUMNS``; 80 without a terminal).

    Returns
    -------
    str
        The table, a line "K of N rows pass." and the legend of the units (:data:`LEGEND`),
        ending with a newline.

    Raises
    ------
    ValueError
        ``fmt`` is neither "text" nor "markdown".
    """
    header = ("equation", "compared", "error", "tolerance", "result")
    body = [(r.where, r.compared, *_error_text(r), "pass" if r.passed else "FAIL") for r in rows]
    summary = f"{sum(r.passed for r in rows)} of {len(rows)} rows pass."
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
        return "\n".join(lines) + f"\n\n{summary}\n\n{LEGEND}\n"
    if fmt != "text":
        raise ValueError(f"format must be 'text' or 'markdown', got {fmt!r}")
    width = width or shutil.get_terminal_size((80, 24)).columns
    widths = [max(_width(h), *(_width(b[i]) for b in body)) if body else _width(h) for i, h in enumerate(header)]
    widths[1] = max(MIN_COMPARED, min(widths[1], width - (sum(widths) - widths[1]) - 2 * (len(header) - 1)))
    lines = []

    def emit(cells):
        for i, chunk in enumerate(_wrap(cells[1], widths[1])):
            row = [cells[0] if i == 0 else "", chunk] + [c if i == 0 else "" for c in cells[2:]]
            lines.append("  ".join(_ljust(c, w) for c, w in zip(row, widths)).rstrip())

    emit(header)
    lines.append("  ".join("-" * w for w in widths))
    for cells in body:
        emit(cells)
    text_width = max(MIN_COMPARED, min(width, len(lines[1])))
    footer = [summary, ""] + textwrap.wrap(LEGEND, text_width)
    return "\n".join(lines + [""] + footer) + "\n"


def main(argv=None) -> int:
    """Command line: print the report; exit 0 if every selected row passes, 1 if one fails.

    Parameters
    ----------
    argv : list of str, optional
        ``--equation N`` and ``--appendix X`` (repeatable), ``--format text|markdown``;
        default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 if every selected row passes, else 1.

    Raises
    ------
    SystemExit
        From argparse: ``--help`` (status 0) or an unknown choice (status 2).
    """
    parser = argparse.ArgumentParser(prog="python -m aevb_np.check",
                                     description="The paper's derivations checked against the code, one row per comparison.")
    parser.add_argument("--equation", action="append", metavar="N", choices=EQUATIONS,
                        help=f"select the rows of Eq. (N); repeatable; one of {', '.join(EQUATIONS)}")
    parser.add_argument("--appendix", action="append", metavar="X", type=str.upper, choices=APPENDICES,
                        help=f"select the rows of Appendix X; repeatable; one of {', '.join(APPENDICES)}")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.equation, args.appendix)
    print(format_rows(rows, args.format), end="")
    if args.format == "text":
        print(f"(seeded; {time.perf_counter() - start:.1f} s)")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
