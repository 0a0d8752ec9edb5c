"""The built documentation site, driven page by page in a real headless browser.

For every HTML page of ``docs/_build/html`` (built by ``make -C docs html``), served from a local
HTTP server on 127.0.0.1, Chromium (Debian's, at ``/usr/bin/chromium``, through Playwright) checks:

* the page loads with no console error and no uncaught script error;
* every request it makes goes to 127.0.0.1 (the site loads nothing from the network: MathJax,
  fonts and scripts are served by the site itself), and none fails or gets an HTTP error;
* its math is typeset: every ``.math`` element holds MathJax output, and no raw ``$…$``,
  ``\\(…\\)`` or ``\\[…\\]`` is left in the visible text outside code;
* every image has loaded (``naturalWidth > 0``);
* every internal link resolves to a file of the site and, if it has a ``#fragment``, to an
  element with that id on the target page;
* the page declares a favicon that loads (and ``/favicon.ico`` is there for browsers that ask);
* no code cell of a notebook is wider than its column (long lines wrap), and each notebook page
  says, at the top, that it shows the solutions and how to make the student copy;
* a table wider than its column carries the visible hint that it scrolls sideways;
* an image shown at less than 3/4 of its own width links to itself at full size (Fig. 2's
  nine panels), and the reproducing page's single panels are shown at a readable size;
* no API summary line stops at an abbreviation ("… for Eq.");
* the check report has the legend of its error units, and the course table no "at the settings below".

Without a built site, Playwright or Chromium the tests skip and say which is missing; with
``AEVB_NP_REQUIRE_SITE=1`` (as ``.ci/run`` sets) they fail instead.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "docs" / "_build" / "html"
CHROMIUM = os.environ.get("AEVB_NP_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("AEVB_NP_REQUIRE_SITE", "") not in ("", "0")
BUILD_HINT = 'pip install -e ".[docs]" && make -C docs html'


def _missing(reason: str):
    """Skip with the reason, or fail with it when the site is required."""
    if REQUIRED:
        pytest.fail(f"AEVB_NP_REQUIRE_SITE is set but {reason}")
    pytest.skip(reason)


def site_pages() -> list[str]:
    """Every HTML page of the built site, as a path relative to the site root."""
    if not (SITE / "index.html").exists():
        return []
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if p.relative_to(SITE).parts[0] not in ("_static", "_sources", "_images")
    )


PAGES = site_pages()


# -- the local server ---------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def server():
    if not PAGES:
        _missing(f"the site is not built ({SITE / 'index.html'} is missing; build it with `{BUILD_HINT}`)")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(f"the Python package playwright is not installed (`{BUILD_HINT}` installs it)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM} (`apt-get install chromium`, or set AEVB_NP_CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


# -- what the site's HTML files contain -----------------------------------------------------------


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def site_file(url_path: str) -> Path:
    path = SITE / urllib.parse.unquote(url_path).lstrip("/")
    return path / "index.html" if url_path.endswith("/") or path.is_dir() else path


# -- the page checks ------------------------------------------------------------------------------

# Text left outside code once MathJax has run, that is TeX it did not typeset.
RAW_MATH = re.compile(r"\\\(|\\\[|\$\$|(?<![\w$])\$(?=[^\s$])[^$\n]{1,200}(?<=[^\s$])\$(?![\w$])")

PAGE_SCRIPT = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map(img => img.complete ? null : img.decode().catch(() => null)));
  const maths = Array.from(document.querySelectorAll(".math"));
  const clone = document.body.cloneNode(true);
  for (const el of clone.querySelectorAll("pre, code, script, style, mjx-container, .highlight, .linenos, kbd, samp")) {
    el.remove();
  }
  return {
    images: images.map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0})),
    mathCount: maths.length,
    untypeset: maths.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80)),
    mathjaxOutput: document.querySelectorAll("mjx-container").length,
    text: clone.textContent,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    title: document.title,
    favicon: (document.querySelector("link[rel~='icon']") || {}).href || null,
    cutCode: Array.from(document.querySelectorAll("div.cell pre"))
      .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
      .map(pre => pre.textContent.split(String.fromCharCode(10)).sort((a, b) => b.length - a.length)[0].slice(0, 80)),
    solutionsNote: Array.from(document.querySelectorAll(".aevb-solutions-shown"))
      .filter(el => el.getBoundingClientRect().height > 0).map(el => el.textContent),
    clippedTables: Array.from(document.querySelectorAll(".bd-article table")).filter(table => {
      const box = table.parentElement;
      const scrolls = table.scrollWidth > table.clientWidth + 1 || box.scrollWidth > box.clientWidth + 1;
      const hint = table.previousElementSibling;
      const hinted = hint && hint.classList.contains("aevb-scroll-hint") && hint.getBoundingClientRect().height > 0;
      return scrolls && !hinted;
    }).map(table => table.textContent.trim().slice(0, 60)),
    shrunkImages: images.filter(img => img.naturalWidth > 0 && img.getBoundingClientRect().width < 0.75 * img.naturalWidth)
      .map(img => {
        const a = img.closest("a[href]");
        const file = (img.currentSrc || img.src).split("/").pop();
        return {src: img.currentSrc || img.src, linked: !!a && a.href.split("/").pop() === file,
                shown: Math.round(img.getBoundingClientRect().width), natural: img.naturalWidth};
      }),
    galleryWidths: Array.from(document.querySelectorAll(".aevb-gallery img")).map(img => img.getBoundingClientRect().width),
    summaries: Array.from(document.querySelectorAll("table.autosummary td:nth-child(2)")).map(td => td.textContent.trim()),
    pageText: document.body.innerText,
  };
}
"""


@pytest.mark.parametrize("page_path", PAGES or ["(the site is not built)"])
def test_page(page_path, server, browser):
    base = urllib.parse.urlsplit(server)
    requests, non_local, failed, errors = [], [], [], []
    context = browser.new_context()

    def route(route_):
        url = urllib.parse.urlsplit(route_.request.url)
        if url.scheme in ("data", "blob", "about") or (url.hostname, url.port) == (base.hostname, base.port):
            route_.continue_()
        else:
            non_local.append(route_.request.url)
            route_.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} (HTTP {r.status})"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    try:
        page.goto(server + page_path, wait_until="load", timeout=60_000)
        info = page.evaluate(PAGE_SCRIPT)
        page.wait_for_load_state("networkidle", timeout=90_000)  # a busy 2-core machine
    finally:
        context.close()

    problems = []
    problems += [f"request to a non-local host: {u}" for u in non_local]
    problems += [f"failed request: {f}" for f in failed if not any(f.startswith(u) for u in non_local)]
    problems += errors
    problems += [f"image not loaded: {img['src']}" for img in info["images"] if not img["ok"]]
    problems += [f"math not typeset: {t!r}" for t in info["untypeset"]]
    if info["mathCount"] and not info["mathjaxOutput"]:
        problems.append(f"{info['mathCount']} math elements but no MathJax output")
    problems += [f"raw TeX in the visible text: {m.group(0)[:80]!r}" for m in RAW_MATH.finditer(info["text"])]
    for href in dict.fromkeys(info["links"]):
        url = urllib.parse.urlsplit(href)
        if (url.hostname, url.port) != (base.hostname, base.port):
            continue  # an external link (the paper, a package's home page): not followed offline
        target = site_file(url.path)
        if not target.is_file():
            problems.append(f"broken link: {href} (no file {target.relative_to(SITE)})")
        elif url.fragment and target.suffix == ".html" and urllib.parse.unquote(url.fragment) not in ids_of(target):
            problems.append(f"broken link: {href} (no id {url.fragment!r} in {target.relative_to(SITE)})")
    problems += site_layout_problems(page_path, info)
    problems = list(dict.fromkeys(problems))
    assert not problems, f"{page_path} ({info['title']}):\n  " + "\n  ".join(problems)
    assert requests, f"{page_path}: the browser made no request at all"


# -- what issue 24 asked of the site's layout -----------------------------------------------------

# The first-sentence split must not stop after one of these ("draw_eps … for Eq.").
CUT_SUMMARY = re.compile(r"(?:\b(?:Eqs?|App|Fig|Sec|Alg)\.|w\.r\.t\.|e\.g\.|i\.e\.|cf\.)$")


def site_layout_problems(page_path: str, info: dict) -> list[str]:
    """What a page shows wrong by issue 24's list (see the module docstring), as messages."""
    problems = []
    if not info["favicon"]:
        problems.append("no favicon declared")
    problems += [f"code cut at the column's edge: {line!r}" for line in info["cutCode"]]
    problems += [f"a table wider than its column with no scroll hint: {text!r}" for text in info["clippedTables"]]
    problems += [f"image shown at {img['shown']} of {img['natural']} px with no link to its full size: {img['src']}"
                 for img in info["shrunkImages"] if not img["linked"]]
    problems += [f"API summary cut at an abbreviation: {s!r}" for s in info["summaries"] if CUT_SUMMARY.search(s)]
    if page_path.startswith("notebooks/"):
        note = " ".join(info["solutionsNote"])
        if "solutions" not in note or "make-student" not in note:
            problems.append(f"no visible note that the page shows the solutions and how to make the student copy: {note!r}")
    if page_path == "reproducing.html":
        if len(info["galleryWidths"]) != 9 or min(info["galleryWidths"]) < 400:
            problems.append(f"Fig. 2's nine panels not each shown at a readable width: {info['galleryWidths']}")
        if not any(img["linked"] and img["src"].endswith("fig2.png") for img in info["shrunkImages"]):
            problems.append("the nine-panel fig2.png is not a click-to-enlarge link")
    if page_path == "check.html" and "Units of the error column" not in info["pageText"]:
        problems.append("the check report has no legend of its error units")
    if page_path == "course.html" and "at the settings below" in info["pageText"]:
        problems.append('the course table says "at the settings below"')
    return problems


def test_favicon_is_served_at_the_root(server):
    import urllib.request

    with urllib.request.urlopen(server + "favicon.ico", timeout=10) as response:
        assert response.status == 200 and response.read(4) == b"\x00\x00\x01\x00"  # an ICO header


def test_api_summary_lines_are_whole_sentences():
    """Without a browser: every autosummary line of the built API pages ends where its sentence does."""
    pages = sorted((SITE / "api" / "generated").glob("*.html")) if PAGES else []
    if not pages:
        _missing("the site is not built")
    cut = []
    for page in pages:
        for cell in re.findall(r'<td><p>(.*?)</p></td>\s*</tr>', page.read_text(encoding="utf-8"), re.S):
            text = re.sub(r"<[^>]+>", "", cell).strip()
            if CUT_SUMMARY.search(text):
                cut.append(f"{page.name}: {text}")
    assert not cut, "\n".join(cut)


# -- the README and the reproducing page (no browser needed) -----------------------------------


def _experiments_module(name: str):
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO / "experiments"))
    try:
        spec = importlib.util.spec_from_file_location(f"_site_{name}", REPO / "experiments" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "experiments"))


def test_readme_is_short_and_starts_with_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert 140 <= len(text.splitlines()) <= 180
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [ln.split("#")[0].strip() for ln in block] == [
        "pip install -e . && python -m aevb_np.train", 'pip install -e ".[dev]" && python -m pytest']
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "\npython -m pytest\n" in ci  # the README's test command is the one CI runs
    # the course: the student copy is made before anything is opened, and opened from there
    course = text.split("## The course in three steps", 1)[1].split("\n## ", 1)[0]
    assert course.index("make-student notebooks/ my-course/") < course.index("jupyter lab my-course/")
    assert "jupyter lab notebooks/" not in text


def test_readme_summary_block_is_what_the_script_prints_from_the_committed_tables():
    summary = _experiments_module("readme_summary")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = summary.MARKERS
    assert text.split(start, 1)[1].split(end, 1)[0] == "\n" + summary.summary()
    assert "| MNIST Nz=20 | -104.8 | " in summary.summary()  # the paper's AEVB test bound at 10⁷, as read


def test_the_reproduction_blocks_live_on_the_reproducing_page_and_not_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    page = (REPO / "docs" / "reproducing.md").read_text(encoding="utf-8")
    for name, script in (("fig2-table", "experiments/fig2.py"), ("fig3-table", "experiments/fig3.py")):
        start, end = _experiments_module("run_folders").doc_markers(name, script)
        assert start in page and end in page and start not in readme and f"<!-- {name}" not in readme


def test_update_doc_writes_between_the_markers_only_and_refuses_a_page_without_them(tmp_path):
    from aevb_np.errors import ConfigError

    run_folders = _experiments_module("run_folders")
    markers = run_folders.doc_markers("t", "s.py")
    page = tmp_path / "page.md"
    page.write_text(f"head\n{markers[0]}\nold\n{markers[1]}\ntail\n")
    run_folders.update_doc("new\n", markers, page)
    assert page.read_text() == f"head\n{markers[0]}\nnew\n{markers[1]}\ntail\n"
    page.write_text("no markers\n")
    with pytest.raises(ConfigError, match="no block marked"):
        run_folders.update_doc("new\n", markers, page)
    assert page.read_text() == "no markers\n"


def test_docstring_notation_is_escaped_for_rest_so_the_api_pages_build_without_warnings():
    """A quoted file-name prefix ("02_") and a norm (|p|) in plain text are shown as written."""
    pytest.importorskip("sphinx", reason="the docs extension needs Sphinx: pip install -e '.[docs]'")
    import sys

    import docutils.core
    import docutils.nodes

    sys.path.insert(0, str(REPO / "docs" / "_ext"))
    try:
        import aevb_docs
    finally:
        sys.path.remove(str(REPO / "docs" / "_ext"))
    lines = ['its file name starts "02_", its title "3 · …" (file "03_…");', "the norm |p|^2 of ``x_`` and a_b_ c"]
    aevb_docs.escape_norm_bars(None, None, None, None, None, lines)
    assert lines == ['its file name starts "02\\_", its title "3 · …" (file "03\\_…");',
                     "the norm \\|p\\|^2 of ``x_`` and a_b_ c"]
    doctree = docutils.core.publish_doctree(lines[0], settings_overrides={"report_level": 5})
    assert not list(doctree.findall(docutils.nodes.system_message))
    assert doctree.astext() == 'its file name starts "02_", its title "3 · …" (file "03_…");'
