"""Shared settings of the tutorial scripts: where they write and how many virtual patients they use.

CI runs every tutorial with ``KETASIM_TUTORIAL_N=20`` (seconds each, see tests/test_docs.py); the default
sizes are the ones the pages describe.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def size(default: int) -> int:
    """Population size: the page's default, or KETASIM_TUTORIAL_N (CI uses a small one)."""
    return int(os.environ.get("KETASIM_TUTORIAL_N", default))


def out_dir() -> Path:
    """Folder for files the tutorials write (KETASIM_TUTORIAL_OUT, default out/tutorials)."""
    p = Path(os.environ.get("KETASIM_TUTORIAL_OUT", "out/tutorials"))
    p.mkdir(parents=True, exist_ok=True)
    return p
