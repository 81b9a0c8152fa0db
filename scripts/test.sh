#!/usr/bin/env bash
# Set up the virtual environment (once; later runs only top it up) and run the whole test suite.
#   bash scripts/test.sh [pytest args]        e.g. bash scripts/test.sh -m slow
# VIFAILBACK_VENV picks the environment directory (CI passes a fresh one); default .venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VIFAILBACK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest "$@"
