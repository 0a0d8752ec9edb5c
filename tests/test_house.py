"""The house rules of issue 23, checked on the package's source: no import cycle among
aevb_np's modules (imports inside functions count), and no module above the size limits
(400 lines of code outside docstrings, 900 lines in all)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "aevb_np"
MAX_CODE, MAX_LINES = 400, 900
#: Modules other helpers are splitting now (issue 23's course tooling); empty when they are done.
SIZE_EXEMPT: set[str] = set()  # none: every module is within the limits


def modules() -> dict[str, Path]:
    """Dotted name → file, for every module of aevb_np (a package by its ``__init__``)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def code_lines(src: str) -> int:
    """Lines holding a token outside docstrings and comments (as shared/tools/house_check.py counts)."""
    doc = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
    lines = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(src).readline) if tok.type not in skip}
    return len(lines - doc)


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the aevb_np modules it imports anywhere in its file (top level or inside functions)."""
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods)
        resolved = set()
        for dep in deps:
            while dep and dep not in mods:  # a name inside a module counts as the module
                dep = dep.rpartition(".")[0]
            if dep and dep not in (name, "aevb_np"):
                resolved.add(dep)
        graph[name] = resolved
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("import aevb_np.b\n")
    b = tmp_path / "b.py"
    b.write_text("def f():\n    from aevb_np import a\n")
    c = tmp_path / "c.py"
    c.write_text("from aevb_np.a import x\n")
    graph = import_graph({"aevb_np.a": a, "aevb_np.b": b, "aevb_np.c": c})
    assert graph == {"aevb_np.a": {"aevb_np.b"}, "aevb_np.b": {"aevb_np.a"}, "aevb_np.c": {"aevb_np.a"}}
    assert cycles(graph) == [["aevb_np.a", "aevb_np.b"]]


def test_aevb_np_has_no_import_cycle():
    mods = modules()
    assert "aevb_np.train" in mods and "aevb_np.algorithms" in mods
    assert cycles(import_graph(mods)) == []


def test_code_lines_skip_docstrings_and_comments():
    src = '"""Doc\nstring."""\n\n# a comment\ndef f(x):\n    """One line."""\n    return (x +\n            1)\n'
    assert code_lines(src) == 3  # def, return, and the continuation line


def test_no_module_is_above_the_size_limits():
    over = []
    for name, path in modules().items():
        src = path.read_text(encoding="utf-8")
        lines, code = src.count("\n"), code_lines(src)
        if (code > MAX_CODE or lines > MAX_LINES) and name not in SIZE_EXEMPT:
            over.append(f"{name}: {lines} lines, {code} code")
    assert over == [], "modules above 400 code lines or 900 lines: " + "; ".join(over)
