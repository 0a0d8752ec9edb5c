"""Sphinx configuration of the aevb_np site.

Build with ``make -C docs html`` (warnings are errors).  Everything on the site comes from
files in the repository at build time: the notebooks are executed from ``notebooks/``
(``docs/notebooks`` is a symlink to it), the API pages from the docstrings, the figures and
tables of "Reproducing the paper" from ``experiments/*_out/``, the check report from
``python -m aevb_np.check --format markdown``.  The pieces that are generated go to
``docs/generated/`` (not committed); ``_ext/aevb_docs.py`` writes them.

Environment variables:

``AEVB_NP_DOCS_EXECUTE``
    myst-nb's execution mode: ``cache`` (the default: execute, and keep the results in
    ``docs/_build/.jupyter_cache`` for the next build), ``force`` or ``off`` (render the
    notebooks without outputs; for iterating on the layout).
``AEVB_NP_REQUIRE_CHECK_REPORT``
    ``1``: fail the build if ``aevb_np.check`` does not exist.  Otherwise its page says that
    this version of the package has no check report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # the aevb_np of this checkout, not another installed one
sys.path.insert(0, str(DOCS / "_ext"))

import aevb_np  # noqa: E402

project = "aevb_np"
author = "the aevb_np authors"
copyright = "the aevb_np authors, MIT licence"
release = version = aevb_np.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "aevb_docs",
]

root_doc = "index"
exclude_patterns = [
    "_build",
    "node_modules",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "_static/mathjax",
    "_extra",
    "generated/*.md",  # fragments that pages include (generated/tests/ are pages of their own)
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
nitpicky = False

# -- MyST and myst-nb -----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("AEVB_NP_DOCS_EXECUTE", "cache")
# The notebooks' latent explorer draws its static picture here: a page has no kernel to run
# the widget (aevb_np.course.explorer).  The kernels that execute the notebooks inherit it.
os.environ.setdefault("AEVB_NP_STATIC_WIDGETS", "1")
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 1200  # seconds per cell; the training cells take a minute or two
nb_execution_raise_on_error = True  # a notebook whose assert fails fails the build
nb_execution_show_tb = True
nb_merge_streams = True

# -- API: autodoc, autosummary, numpydoc, viewcode -------------------------------------------
autosummary_generate = False  # the API pages are written by _ext/aevb_docs.py
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # autodoc lists the members; no stub pages per method
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
viewcode_line_numbers = True

# -- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"aevb_np {release}"
html_static_path = ["_static"]
html_css_files = ["aevb.css"]
html_js_files = ["aevb.js"]  # says so above a table that scrolls sideways
# A white nabla on dark blue, 16/32/48 px (drawn once with Pillow); _extra puts it at the site's
# root too, where browsers look for /favicon.ico.
html_favicon = "_extra/favicon.ico"
html_extra_path = ["_extra"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # no icon links, no search-as-you-type service, no analytics: nothing leaves the site
    "icon_links": [],
    # the equation map and the course are wide tables: give them the whole width
    "secondary_sidebar_items": {"**": ["page-toc"], "equations": [], "course": [], "reproducing": []},
}
html_sidebars = {"equations": [], "course": [], "reproducing": []}
# The theme's script reports an empty mode as a console error on a first visit; say "auto".
html_context = {"default_mode": "auto"}
html_show_sourcelink = False
html_copy_source = False

# MathJax 3 from npm, copied into _static/mathjax by the Makefile; no CDN.
mathjax_path = "mathjax/tex-chtml.js"
if not (DOCS / "_static" / "mathjax" / "tex-chtml.js").exists():
    raise RuntimeError(
        "docs/_static/mathjax/tex-chtml.js is missing: build with `make -C docs html`, which runs "
        "`npm ci` in docs/ and copies MathJax 3 (node_modules/mathjax/es5) into docs/_static/mathjax"
    )

# -- aevb_docs (docs/_ext/aevb_docs.py) -------------------------------------------------------
aevb_require_check_report = os.environ.get("AEVB_NP_REQUIRE_CHECK_REPORT", "") not in ("", "0")
