#!/usr/bin/env bash
# Set up ketasim in its own virtual environment (.venv) and run the main job (the demo).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # pip's own refusal of an older Python is pages long: say it in one line first
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    found=$(command -v "$PY" >/dev/null 2>&1 && "$PY" -V 2>&1 || echo "not found")
    echo "setup.sh: ketasim needs Python >= 3.11; $PY is $found (run PYTHON=python3.12 ./setup.sh with a newer one)" >&2
    exit 1
  fi
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,web,docs]"
.venv/bin/ketasim demo --out out
