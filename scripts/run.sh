#!/usr/bin/env bash
# Set up the virtual environment (once; later runs only top it up) and launch the app offline with the bundled
# tiny model and examples:  bash scripts/run.sh [app.py flags]   e.g. --port 7861 --model /models/ViFailback-8B
# VIFAILBACK_VENV picks the environment directory; default .venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VIFAILBACK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
exec "$VENV/bin/python" app.py "$@"
