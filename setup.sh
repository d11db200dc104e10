#!/usr/bin/env bash
# Set up ketasim in its own virtual environment (.venv) and run the main job (the demo).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,web,docs]"
.venv/bin/ketasim demo --out out
