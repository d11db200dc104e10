"""``python -m ketasim``: the same command-line interface as the ``ketasim`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
