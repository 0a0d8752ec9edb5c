"""The site's own Sphinx pieces: generated pages, the course table, the equation map's links.

At ``builder-inited`` (before Sphinx looks for source files) this writes ``docs/generated/``:

* ``check_report.md``: the output of ``python -m aevb_np.check --format markdown``, or a note
  that this version of the package has no such module (an error instead when the config value
  ``aevb_require_check_report`` is true);
* ``fig2.md``, ``fig3.md``, ``fig45.md``: the figures and tables found in
  ``experiments/fig2_out``, ``experiments/fig3_out`` and ``experiments/fig45_out``;
* ``tests/*.md``: the source of every test that ``docs/equations.md`` cites, one section each.

The ``course-table`` directive builds the table of the course from ``notebooks/*.ipynb`` (title,
goal, exercises) and fills in each notebook's run time measured when the site was built.
On the ``equations`` page, every backticked ``aevb_np.*`` name links to its API entry and to its
highlighted source (viewcode), and every ``tests/...::test`` node id links to the test's source.

Files are rewritten only when their text changes, so an unchanged build reads nothing again.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.ext.viewcode import viewcode_anchor
from sphinx.pycode import ModuleAnalyzer
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
GENERATED = DOCS / "generated"
NOTEBOOKS = REPO / "notebooks"
EQUATIONS_DOC = "equations"
#: Pages with wide tables, given the whole width of the window (see _static/aevb.css).
WIDE_DOCS = (EQUATIONS_DOC, "reproducing")
COURSE_DOCS_KEY = "aevb_course_docs"

DATASET_NAMES = {"mnist": "MNIST", "frey-face": "Frey Face", "binarized-mnist": "binarized MNIST"}


# -- helpers --------------------------------------------------------------------------------------


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def shift_headings(markdown: str, top: int) -> str:
    """Shift the ATX headings of ``markdown`` (outside code fences) so the highest is level ``top``."""
    lines = markdown.splitlines()
    fence = None
    levels = []
    for line in lines:
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m:
            fence = None if fence and line.startswith(fence) else (fence or m.group(1))
        elif fence is None and (h := re.match(r"^(#{1,6})\s", line)):
            levels.append(len(h.group(1)))
    if not levels:
        return markdown
    shift = top - min(levels)
    out, fence = [], None
    for line in lines:
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m:
            fence = None if fence and line.startswith(fence) else (fence or m.group(1))
        elif fence is None and (h := re.match(r"^(#{1,6})(\s.*)$", line)):
            line = "#" * min(6, max(1, len(h.group(1)) + shift)) + h.group(2)
        out.append(line)
    return "\n".join(out) + "\n"


def resolve(dotted: str):
    """(module name, qualified name in it, object) for ``aevb_np.module[.Class].name``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        modname = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return modname, ".".join(parts[cut:]), obj
    raise ModuleNotFoundError(dotted)


def equation_map_rows() -> list[dict[str, str]]:
    """The rows of docs/equations.md's tables, parsed as tests/test_equation_map.py parses them."""
    rows, header = [], None
    for line in (DOCS / "equations.md").read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if header is None:
            header = [c.lower() for c in cells]
        elif not all(set(c) <= set("-: ") for c in cells):
            rows.append(dict(zip(header, cells)))
    return rows


def test_label(node_id: str) -> str:
    """The Sphinx label of a test's section: ``tests/test_x.py::C::t`` -> ``aevb-test-test_x-c-t``."""
    path, _, name = node_id.partition("::")
    name = name.split("[", 1)[0]
    return "aevb-test-" + Path(path).stem + "-" + name.replace("::", "-").lower()


# -- generated pages ----------------------------------------------------------------------------


def generate_check_report(app: Sphinx) -> None:
    target = GENERATED / "check_report.md"
    if importlib.util.find_spec("aevb_np.check") is None:
        if app.config.aevb_require_check_report:
            raise ExtensionError(
                "the check report is required (AEVB_NP_REQUIRE_CHECK_REPORT=1) but this checkout "
                f"has no aevb_np.check module ({REPO / 'aevb_np' / 'check.py'} is missing), so "
                "`python -m aevb_np.check --format markdown` cannot run"
            )
        write_if_changed(
            target,
            "```{note}\nThis version of the package has no `aevb_np.check` module, so the site "
            "has no check report. The page is generated from the output of "
            "`python -m aevb_np.check --format markdown` when the module exists.\n```\n",
        )
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, "-m", "aevb_np.check", "--format", "markdown"]
    logger.info("running %s", " ".join(cmd[1:]))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        logger.warning(
            "`python -m aevb_np.check --format markdown` exited with status %d (a row failed, or "
            "the command broke); its report is on the page as printed. stderr:\n%s",
            proc.returncode,
            proc.stderr.strip()[-3000:],
        )
    if not proc.stdout.strip():
        raise ExtensionError(f"`{' '.join(cmd[1:])}` printed nothing; stderr:\n{proc.stderr[-3000:]}")
    write_if_changed(target, shift_headings(proc.stdout, top=2))


def _figure_caption(stem: str) -> str:
    """``fig2_mnist_nz20`` -> ``MNIST, Nz = 20``; anything else is shown as its file name."""
    words = stem.split("_")
    dataset = next((DATASET_NAMES[w] for w in words if w in DATASET_NAMES), None)
    nz = next((w[2:] for w in words if re.fullmatch(r"nz\d+", w)), None)
    kind = next((w for w in words if w in ("manifold", "samples", "scatter")), None)
    parts = [p for p in (kind and {"scatter": "latent scatter"}.get(kind, kind), dataset, nz and f"Nz = {nz}") if p]
    return ", ".join(parts) if dataset else stem


def _sort_key(path: Path):
    nz = re.search(r"nz(\d+)", path.stem)
    return (re.sub(r"_?nz\d+", "", path.stem), int(nz.group(1)) if nz else 0)


def generate_figures(out_name: str, folder: Path, prefix: str | None = None, exclude: tuple[str, ...] = (),
                     gallery: bool = False) -> None:
    """A page fragment with every table (``*.md``) and image (``*.png``) of ``folder``.

    ``exclude``: file names the page shows elsewhere (a table in a block the script writes, a
    figure in the discussion).  ``gallery``: the images side by side in a grid, each at about its
    own size (class ``aevb-gallery``, see ``_static/aevb.css``) instead of one per column width.
    """
    rel = os.path.relpath(folder, DOCS).replace(os.sep, "/")  # the including page is in docs/
    repo_rel = folder.relative_to(REPO).as_posix()
    if not folder.is_dir():
        text = f"`{repo_rel}/` does not exist in this checkout: no run of this figure is committed.\n"
        write_if_changed(GENERATED / out_name, text)
        return
    parts = []
    for table in sorted(t for t in folder.glob("*.md") if t.name not in exclude):
        parts.append(f"Table `{repo_rel}/{table.name}`:\n\n" + shift_headings(table.read_text(encoding="utf-8"), top=4))
    images = sorted((p for p in folder.glob("*.png") if (prefix is None or p.name.startswith(prefix))
                     and p.name not in exclude), key=_sort_key)
    figures = []
    for image in images:
        caption = _figure_caption(image.stem)
        figures.append(
            f":::{{figure}} {rel}/{image.name}\n:alt: {caption}\n:width: 100%\n\n"
            f"{caption} (`{repo_rel}/{image.name}`)\n:::\n"
        )
    if gallery and figures:
        figures = ["::::{container} aevb-gallery\n" + "\n".join(figures) + "::::\n"]
    parts += figures
    if not parts:
        parts.append(f"`{repo_rel}/` holds no table or image yet.\n")
    write_if_changed(GENERATED / out_name, "\n".join(parts))


def generate_test_pages() -> None:
    """One page per test file cited by the equation map: each cited test's source and its rows."""
    cited: dict[str, dict[str, list[str]]] = {}
    for row in equation_map_rows():
        for node_id in re.findall(r"`([^`]+)`", row.get("test", "")):
            path, _, name = node_id.partition("::")
            cited.setdefault(path, {}).setdefault(name.split("[", 1)[0], []).append(row["equation"])
    index = [
        "# The tests the equation map cites\n",
        "Every test that [the equation map](../../equations.md) names, with its source as it is "
        "in `tests/`, grouped by file. Run one with `python -m pytest 'tests/FILE.py::NAME'`.\n",
        "```{toctree}\n:maxdepth: 1\n",
    ]
    for path, tests in sorted(cited.items()):
        stem = Path(path).stem
        index.append(stem)
        lines = [f"# `{path}`\n"]
        source_rel = os.path.relpath(REPO / path, GENERATED / "tests").replace(os.sep, "/")
        for name, equations in tests.items():
            rows = "; ".join(dict.fromkeys(e.replace("\\|", "|") for e in equations))
            lines += [
                f"({test_label(path + '::' + name)})=",
                f"## `{name.replace('::', '.')}`\n",
                f"Cited for: {rows}.\n",
                f"```{{literalinclude}} {source_rel}\n:pyobject: {name.replace('::', '.')}\n:language: python\n```\n",
            ]
        write_if_changed(GENERATED / "tests" / f"{stem}.md", "\n".join(lines))
    index.append("```\n")
    write_if_changed(GENERATED / "tests" / "index.md", "\n".join(index))


def generate_script_description(script: Path) -> None:
    """The module docstring of an experiment script (its description and commands), verbatim."""
    import ast

    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or "(no description)"
    text = (
        f"What `{script.relative_to(REPO).as_posix()}` does, in its own words:\n\n"
        f"````text\n{doc}\n````\n"
    )
    write_if_changed(GENERATED / f"script_{script.stem}.md", text)


def public_members(module) -> dict[str, list[str]]:
    """The public classes, exceptions and functions a module defines (its ``__all__`` if it has one)."""
    import inspect

    import types

    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out: dict[str, list[str]] = {"classes": [], "exceptions": [], "functions": [], "data": []}
    documented = [n for (scope, n) in ModuleAnalyzer.for_module(module.__name__).find_attr_docs() if scope == ""]
    exported = getattr(module, "__all__", [])
    for name in dict.fromkeys(documented + list(exported)):
        obj = getattr(module, name, None)
        if not (callable(obj) or isinstance(obj, types.ModuleType)) and name in vars(module):
            out["data"].append(name)
    for name in names:
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported from elsewhere: documented where it is defined
        if inspect.isclass(obj):
            out["exceptions" if issubclass(obj, BaseException) else "classes"].append(name)
        elif inspect.isfunction(obj):
            out["functions"].append(name)
    return out


def _private_package_base(cls) -> bool:
    """True if ``cls`` inherits from a private class of this package (whose members have no page)."""
    return any(base.__name__.startswith("_") and base.__module__.startswith("aevb_np")
               for base in cls.__mro__[1:])


def api_modules() -> list[str]:
    """Every module of the package but the top level, in dotted-name order."""
    import pkgutil

    import aevb_np

    return sorted(m.name for m in pkgutil.walk_packages(aevb_np.__path__, "aevb_np.") if not m.name.endswith("__main__"))


def generate_api_pages() -> None:
    """``docs/api/generated/MODULE.rst``: the module's docstring, a summary table, every member."""
    out_dir = DOCS / "api" / "generated"
    wanted = set()
    for modname in api_modules():
        module = importlib.import_module(modname)
        members = public_members(module)
        title = f"``{modname}``"
        lines = [title, "=" * len(title), "", f".. automodule:: {modname}", "   :no-members:", ""]
        directives = {"classes": "autoclass", "exceptions": "autoexception", "functions": "autofunction", "data": "autodata"}
        headings = {"classes": "Classes", "exceptions": "Exceptions", "functions": "Functions", "data": "Constants"}
        kinds = ("classes", "exceptions", "functions", "data")
        for kind in kinds:
            if members[kind]:
                lines += [f".. rubric:: {headings[kind]}", "", ".. autosummary::", ""]
                lines += [f"   {name}" for name in members[kind]] + [""]
        for kind in kinds:
            for name in members[kind]:
                lines += [f".. {directives[kind]}:: {name}"]
                if kind in ("classes", "exceptions"):
                    lines += ["   :members:", "   :undoc-members:", "   :show-inheritance:"]
                    if _private_package_base(getattr(module, name)):
                        # e.g. the parts of Algorithm 1 share make_optimizer, reparam, … from
                        # algorithms._Part, which has no page of its own: show them on each part.
                        lines += ["   :inherited-members:"]
                lines += [""]
        wanted.add(f"{modname}.rst")
        write_if_changed(out_dir / f"{modname}.rst", "\n".join(lines).rstrip() + "\n")
    for stale in out_dir.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()


def generate(app: Sphinx) -> None:
    GENERATED.mkdir(exist_ok=True)
    generate_api_pages()
    for script in sorted((REPO / "experiments").glob("fig*.py")):
        generate_script_description(script)
    generate_check_report(app)
    # fig2_table.md, fig2.png, fig3_table.md and fig3.png are in reproducing.md's discussion
    generate_figures("fig2.md", REPO / "experiments" / "fig2_out", exclude=("fig2_table.md", "fig2.png"), gallery=True)
    generate_figures("fig4.md", REPO / "experiments" / "fig45_out", prefix="fig4")
    generate_figures("fig5.md", REPO / "experiments" / "fig45_out", prefix="fig5")
    generate_figures("latent.md", REPO / "experiments" / "fig45_out", prefix="latent")
    generate_test_pages()


# -- the course table ----------------------------------------------------------------------------


def _field(text: str, name: str) -> str | None:
    """The value of a ``**Name:** value`` paragraph line, with its continuation lines.

    The value ends at a blank line, a heading, a list item, or the next ``**Field:**``; a
    trailing " ·" separator is dropped.
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(rf"^\s*\*\*(?:{name})\s*:?\*\*\s*:?\s*(.*)$", line, re.I) or re.match(rf"^\s*(?:{name})\s*:\s*(.*)$", line, re.I)
        if not m:
            continue
        value = [m.group(1)]
        for nxt in lines[i + 1 :]:
            if not nxt.strip() or re.match(r"^\s*(#|[*+-]\s|\d+\.\s|\*\*[^*]+\*\*)", nxt):
                break
            value.append(nxt.strip())
        return re.sub(r"\s*·\s*$", "", " ".join(v.strip() for v in value)).strip() or None
    return None


def _plain_title(text: str) -> str:
    """A heading's text as its section node shows it: no ``$``, backticks or emphasis marks."""
    return re.sub(r"[$`*_]", "", text).strip()


def notebook_summary(path: Path) -> dict:
    """Title, goal, stated run time and exercise headings of a notebook, from its markdown cells.

    The goal is a ``Goal:`` line of the first cells if there is one, else the notebook's title;
    the stated run time a ``Run time:`` line if there is one.  Exercises are the markdown headings
    that start with "Exercise".
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    title, goal, runtime, exercises = path.stem, None, None, []
    for i, text in enumerate(cells):
        for line in text.splitlines():
            h = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if h and i == 0 and len(h.group(1)) == 1 and title == path.stem:
                title = h.group(2)
            elif h and re.match(r"(?i)exercise\b", h.group(2)):
                exercises.append(h.group(2))
        if i < 3:
            goal = goal or _field(text, r"goals?")
            runtime = runtime or _field(text, r"run\s*time|running time")
    return {"title": title, "goal": goal, "runtime": runtime, "exercises": exercises}


def _role_text(text: str) -> str:
    """Text safe inside a role's backticks, before a ``<target>``."""
    return text.replace("`", "'").replace("<", "\\<")


class section_link_node(nodes.Inline, nodes.TextElement):
    """Placeholder for a link to the section of another document whose title is the node's text."""


class NbSectionRole(SphinxRole):
    """``{nb-section}`Exercise 1 <notebooks/01_x>```: link to that section of that notebook."""

    def run(self):
        m = re.fullmatch(r"(.*?)\s*<([^<>]+)>", self.text, re.S)
        title, docname = (m.group(1), m.group(2)) if m else (self.text, "")
        title = title.replace("\\<", "<")
        return [section_link_node(title, title, docname=docname)], []


class runtime_node(nodes.Inline, nodes.TextElement):
    """Placeholder for a notebook's measured execution time, filled in after all docs are read."""


class NbRuntimeRole(SphinxRole):
    def run(self):
        return [runtime_node("", "", docname=self.text)], []


class CourseTable(SphinxDirective):
    """The table of the course: one row per ``notebooks/*.ipynb``, in file-name order."""

    has_content = False

    def run(self):
        rows = [
            "| | notebook | goal | run time when this site was built | exercises |",
            "|---|---|---|---|---|",
        ]
        for path in sorted(NOTEBOOKS.glob("*.ipynb")):
            self.env.note_dependency(str(path))
            info = notebook_summary(path)
            number = path.stem.split("_", 1)[0]
            title = re.sub(r"^\s*\d+\s*[·.:—-]+\s*", "", info["title"])
            goal = info["goal"] or title
            runtime = f"{{nb-runtime}}`notebooks/{path.stem}`"
            if info["runtime"]:
                # "about 5 s at the settings below" reads wrong in a table: the settings are the notebook's
                stated = re.sub(r"\s*\bat the settings below\b", "", info["runtime"]).strip()
                runtime += f" (the notebook says: {stated})"
            docname = f"notebooks/{path.stem}"
            exercises = "<br>".join(f"{{nb-section}}`{_role_text(e)} <{docname}>`" for e in info["exercises"]) or "none yet"
            cell = lambda s: s.replace("|", "\\|")  # noqa: E731
            title_link = f"{{doc}}`{_role_text(title)} </{docname}>`"
            rows.append(f"| {number} | {cell(title_link)} | {cell(goal)} | {runtime} | {cell(exercises)} |")
        container = nodes.container(classes=["aevb-course-table"])
        self.state.nested_parse(self.content.__class__("\n".join(rows).splitlines(), source=self.get_source_info()[0]), self.content_offset, container)
        COURSE = getattr(self.env, COURSE_DOCS_KEY, set())
        COURSE.add(self.env.current_document.docname)
        setattr(self.env, COURSE_DOCS_KEY, COURSE)
        return [container]


class RuntimeTransform(SphinxPostTransform):
    default_priority = 8

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        for node in list(self.document.findall(section_link_node)):
            target = self.env.get_doctree(node["docname"])
            title = node.astext()
            sections = [s for s in target.findall(nodes.section) if s["ids"] and _plain_title(s[0].astext()) == _plain_title(title)]
            if not sections:
                logger.warning("no section titled %r in %s", title, node["docname"], location=node)
                node.replace_self(nodes.Text(title))
                continue
            uri = self.app.builder.get_relative_uri(self.env.docname, node["docname"]) + "#" + sections[0]["ids"][0]
            # the link shows the heading as the notebook renders it (its math typeset, too)
            content = [child.deepcopy() for child in sections[0][0].children]
            node.replace_self(nodes.reference("", "", *content, refuri=uri, internal=True))

        for node in list(self.document.findall(runtime_node)):
            data = NbMetadataCollector.get_exec_data(self.env, node["docname"])
            if data and data.get("runtime") is not None:
                text = f"{data['runtime']:.0f} s" + ("" if data.get("succeeded", True) else " (failed)")
            else:
                text = "not executed in this build"
            node.replace_self(nodes.Text(text))


def course_docs_to_update(app: Sphinx, env) -> list[str]:
    return sorted(getattr(env, COURSE_DOCS_KEY, set()))


def purge_course(app: Sphinx, env, docname: str) -> None:
    getattr(env, COURSE_DOCS_KEY, set()).discard(docname)


def merge_course(app: Sphinx, env, docnames, other) -> None:
    setattr(env, COURSE_DOCS_KEY, getattr(env, COURSE_DOCS_KEY, set()) | getattr(other, COURSE_DOCS_KEY, set()))


# -- the equation map's links --------------------------------------------------------------------


def link_equation_map(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    docname = env.current_document.docname
    if docname.startswith("generated/tests/"):
        section = doctree.next_node(nodes.section)
        if section is not None:
            section["classes"].append("aevb-tests")  # long test names as headings: see aevb.css
    if docname.startswith("notebooks/"):
        note_solutions_shown(doctree, docname)
    if docname in WIDE_DOCS:
        section = doctree.next_node(nodes.section)
        if section is not None:
            section["classes"].append("aevb-wide")  # the page's CSS gives it the whole width
            if docname == EQUATIONS_DOC:
                section["classes"].append("aevb-equations")
    if docname != EQUATIONS_DOC:
        return
    for table in doctree.findall(nodes.table):
        for literal in list(table.findall(nodes.literal)):
            text = literal.astext()
            if text.startswith("aevb_np."):
                literal.replace_self(_function_links(text, docname))
            elif re.fullmatch(r"tests/\w+\.py::[\w:\[\]-]+", text):
                xref = addnodes.pending_xref(
                    "", refdomain="std", reftype="ref", reftarget=test_label(text), refexplicit=True, refwarn=True, refdoc=docname
                )
                xref += nodes.literal(text, text)
                literal.replace_self(xref)


def _function_links(name: str, docname: str) -> list[nodes.Node]:
    modname, qualname, _ = resolve(name)
    xref = addnodes.pending_xref("", refdomain="py", reftype="obj", reftarget=name, refexplicit=False, refwarn=True, refdoc=docname)
    xref += nodes.literal(name, name, classes=["xref", "py", "py-obj"])
    out: list[nodes.Node] = [xref]
    tags = ModuleAnalyzer.for_module(modname).find_tags()
    if qualname in tags:
        pagename = "_modules/" + modname.replace(".", "/")
        out.append(viewcode_anchor(reftarget=pagename, refid=qualname, refdoc=docname))
    return out


class RepoLinkTransform(SphinxPostTransform):
    """Links of the notebooks to repository files, made to work on the site.

    A notebook opened in Jupyter links to ``../docs/equations.md`` or ``../aevb_np/bounds.py``;
    on the site the notebook is ``docs/notebooks/NAME`` (through the symlink), so such a path
    points to no file.  Before myst-parser resolves the links (priority 9), a link whose target
    is a repository file is pointed at that file's page: a page of the site for ``docs/*``, the
    highlighted source (viewcode) for ``aevb_np/*.py``, the cited-tests page for ``tests/*.py``.
    Anything else is left for myst-parser, which warns.
    """

    default_priority = 5

    def run(self, **kwargs) -> None:
        docname = self.env.docname
        for node in list(self.document.findall(addnodes.pending_xref)) + list(self.document.findall(addnodes.download_reference)):
            if node.get("reftype") != "myst" or node.get("refdomain") not in (None, ""):
                continue
            target, _, anchor = node["reftarget"].partition("#")
            here = Path(self.env.doc2path(docname))
            repo_path = (REPO / "notebooks" / target).resolve() if docname.startswith("notebooks/") else (here.parent / target).resolve()
            try:
                rel = repo_path.relative_to(REPO).as_posix()
            except ValueError:
                continue
            if rel.startswith("docs/") and (doc := self.env.path2doc(str(DOCS / rel[5:]))):
                node["refdomain"], node["reftarget"] = "doc", doc
                node["reftargetid"] = anchor or None
                continue
            page = None
            if re.fullmatch(r"aevb_np/[\w/]+\.py", rel) and repo_path.is_file():
                modname = rel[:-3].replace("/", ".").removesuffix(".__init__")
                page = "_modules/" + modname.replace(".", "/")
            elif re.fullmatch(r"tests/\w+\.py", rel) and (GENERATED / "tests" / f"{repo_path.stem}.md").is_file():
                page = f"generated/tests/{repo_path.stem}"
            if page:
                uri = self.app.builder.get_relative_uri(docname, page) + (f"#{anchor}" if anchor else "")
                node.replace_self(nodes.reference("", "", *node.children, refuri=uri, internal=True))


def escape_norm_bars(app, what, name, obj, options, lines) -> None:
    """Show plain-text notation in a docstring as written, where reST would read markup.

    Two patterns outside inline literals are escaped: ``|word|`` (a norm or absolute value,
    which reST reads as a substitution) and a quoted word ending in an underscore, such as the
    file-name prefix "02_" (which reST reads as a reference to a target "02").
    """
    for i, line in enumerate(lines):
        parts = line.split("``")  # the odd parts are inline literals: left alone
        parts[::2] = [re.sub(r"(?<![\\`|])\|(\w+)\|(?!`)", r"\\|\1\\|", p) for p in parts[::2]]
        parts[::2] = [re.sub(r'(?<=["“]\w)(\w*)_(?=[\s"”…])', r"\1\\_", p) for p in parts[::2]]
        lines[i] = "``".join(parts)


#: Abbreviations after which a docstring's first sentence goes on: autosummary's summary line of
#: ``draw_eps`` must not stop at "… for Eq." (Sphinx knows only "et al.", "e.g.", "i.e.", "vs.").
ABBREVIATIONS = ("Eq.", "Eqs.", "App.", "Fig.", "Sec.", "Alg.", "w.r.t.", "e.g.", "i.e.", "cf.", "et al.", "resp.")


def extend_summary_abbreviations(app: Sphinx, config) -> None:
    """Teach autosummary's first-sentence split the paper's abbreviations (:data:`ABBREVIATIONS`)."""
    from sphinx.ext import autosummary

    known = tuple(autosummary.WELL_KNOWN_ABBREVIATIONS)
    autosummary.WELL_KNOWN_ABBREVIATIONS = known + tuple(a for a in ABBREVIATIONS if a not in known)


#: The command that makes the student copy of the notebooks (the exercises CLI's make-student).
STUDENT_COPY = "python -m aevb_np.exercises make-student notebooks/ my-course/"


def note_solutions_shown(doctree: nodes.document, docname: str) -> None:
    """A note at the top of a notebook's page: this page shows the solutions; where the student copy is."""
    section = doctree.next_node(nodes.section)
    if section is None:
        return
    course = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/course", refexplicit=True,
                                   refwarn=True, refdoc=docname)
    course += nodes.inline("", "the course page")
    para = nodes.paragraph()
    para += nodes.Text("This page is the notebook with its solutions, executed when the site was built: "
                       "every exercise below shows its answer. To do the exercises, make the student copy "
                       "(solutions replaced by stubs) from a clone of the repository with ")
    para += nodes.literal(STUDENT_COPY, STUDENT_COPY)
    para += nodes.Text(" and work in ")
    para += nodes.literal("my-course/", "my-course/")
    para += nodes.Text(" (see ")
    para += course
    para += nodes.Text(").")
    note = nodes.admonition("", nodes.title("", "Solutions shown"), para, classes=["note", "aevb-solutions-shown"])
    section.insert(1, note)


def setup(app: Sphinx) -> dict:
    app.add_config_value("aevb_require_check_report", False, "env", types=frozenset({bool}))
    app.connect("builder-inited", generate)
    app.add_node(runtime_node)
    app.add_role("nb-runtime", NbRuntimeRole())
    app.add_node(section_link_node)
    app.add_role("nb-section", NbSectionRole())
    app.connect("autodoc-process-docstring", escape_norm_bars)
    app.add_directive("course-table", CourseTable)
    app.add_post_transform(RuntimeTransform)
    app.add_post_transform(RepoLinkTransform)
    app.connect("env-updated", course_docs_to_update)
    app.connect("env-purge-doc", purge_course)
    app.connect("env-merge-info", merge_course)
    app.connect("doctree-read", link_equation_map)
    app.connect("config-inited", extend_summary_abbreviations)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
