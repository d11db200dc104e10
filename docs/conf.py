"""Sphinx configuration of the ketasim documentation.

Build (offline, warnings are errors):  .venv/bin/sphinx-build -W --keep-going -b html docs site
The model page, parameter tables and figures are generated at build time from the installed package
(``_ext/ketasim_docs.py``), so they cannot drift from the code and data.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from importlib.metadata import version as _version  # noqa: E402

project = "ketasim"
author = "the ketasim authors"
copyright = "2026, the ketasim authors (MIT licence)"
release = _version("ketasim")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "ketasim_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "tutorials/README.md"]
templates_path = []

html_theme = "furo"
html_title = f"ketasim {release}"
html_static_path = []
# Equations are written as code (as in the docstrings), not TeX: the site loads nothing from a CDN, so it
# reads the same offline (no MathJax).

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
suppress_warnings = ["myst.header"]
