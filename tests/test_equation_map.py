"""docs/equations.md names only functions and tests that exist, and covers the paper's equations.

The map's tables have a ``function`` column of backticked dotted names
(``aevb_np.module.function`` or ``aevb_np.module.Class.method``) and a ``test`` column of
backticked pytest node ids (``tests/test_x.py::test_name``, parametrized tests without the
``[...]`` part).  A renamed function or test fails here, naming the row it came from.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAP = REPO / "docs" / "equations.md"

# The numbered equations of the main text and the appendix formulas every version of the map
# must keep a row for (their code and tests are committed).
REQUIRED_ROWS = [f"Eq. ({n})" for n in range(1, 13)] + ["App. B", "Algorithm 1"]


def _cells(line: str) -> list[str]:
    """Split a markdown table row on unescaped pipes (``\\|`` is a pipe inside a cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip() for p in parts[1:-1]]


def parse_tables(text: str) -> list[dict[str, str]]:
    """Every row of every markdown table, as ``{header: cell}``."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
        elif all(set(c) <= set("-: ") for c in cells):
            continue  # the |---|---| separator
        else:
            rows.append(dict(zip(header, cells)))
    return rows


def _backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


ROWS = parse_tables(MAP.read_text(encoding="utf-8")) if MAP.exists() else []


def _named_in(column: str) -> list[tuple[str, str]]:
    """(name, the rows that cite it) for every backticked name of a column, each name once."""
    rows_citing: dict[str, list[str]] = {}
    for row in ROWS:
        for name in _backticked(row.get(column, "")):
            rows_citing.setdefault(name, []).append(row["equation"])
    return sorted((name, "; ".join(eqs)) for name, eqs in rows_citing.items())


FUNCTIONS = _named_in("function")
TESTS = _named_in("test")


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and getattr the rest; raise if missing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError names the missing piece
        return obj
    raise ModuleNotFoundError(f"no importable module in {dotted!r}")


def defined_tests(path: Path) -> set[str]:
    """Names of the test functions of a file: module level, and ``Class::method`` in classes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return names


def test_equation_map_exists_and_has_rows():
    assert MAP.exists(), f"{MAP} is missing"
    assert len(ROWS) >= 15, f"expected a row per equation, parsed {len(ROWS)} rows"


def test_every_row_names_a_function_and_a_test():
    empty = [row["equation"] for row in ROWS if not _backticked(row.get("function", "")) or not _backticked(row.get("test", ""))]
    assert not empty, f"rows without a function or a test: {empty}"


def test_map_keeps_a_row_for_every_implemented_numbered_equation():
    equations = " ".join(row["equation"] for row in ROWS)
    missing = [eq for eq in REQUIRED_ROWS if eq not in equations]
    assert not missing, f"docs/equations.md lost the rows for {missing}"


@pytest.mark.parametrize("name, equation", FUNCTIONS, ids=[f for f, _ in FUNCTIONS])
def test_function_named_in_the_map_exists(name, equation):
    assert name.startswith("aevb_np."), f"{equation}: {name!r} is not an aevb_np.module.function name"
    try:
        obj = resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{equation}: docs/equations.md names {name}, which does not exist ({exc})")
    assert obj is not None


@pytest.mark.parametrize("node, equation", TESTS, ids=[t for t, _ in TESTS])
def test_test_named_in_the_map_exists(node, equation):
    path, sep, name = node.partition("::")
    assert sep and path.startswith("tests/") and path.endswith(".py"), (
        f"{equation}: {node!r} is not a tests/file.py::test_name node id"
    )
    name = name.split("[", 1)[0]  # a parametrized id names the same function
    file = REPO / path
    assert file.exists(), f"{equation}: docs/equations.md names {path}, which does not exist"
    assert name in defined_tests(file), f"{equation}: {path} has no test named {name}"


def test_notebooks_named_in_the_map_exist():
    numbers = {n for row in ROWS for n in re.findall(r"\b(\d\d)\b", row.get("notebook", ""))}
    present = {p.name[:2] for p in (REPO / "notebooks").glob("*.ipynb")}
    assert numbers <= present, f"the map cites notebooks {sorted(numbers - present)}, not in notebooks/"


def test_parser_reads_escaped_pipes_and_separators():
    text = "| equation | function | test |\n|---|:--|--:|\n| Eq. (1) q(z\\|x) | `aevb_np.a.b` | `tests/t.py::x` |\n"
    assert parse_tables(text) == [{"equation": "Eq. (1) q(z\\|x)", "function": "`aevb_np.a.b`", "test": "`tests/t.py::x`"}]
