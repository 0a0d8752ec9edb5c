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
  element with that id on the target page.

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
        page.wait_for_load_state("networkidle", timeout=30_000)
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
    problems = list(dict.fromkeys(problems))
    assert not problems, f"{page_path} ({info['title']}):\n  " + "\n  ".join(problems)
    assert requests, f"{page_path}: the browser made no request at all"
