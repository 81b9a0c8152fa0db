#!/usr/bin/env bash
# Set up the virtual environment (once; later runs only top it up), check lint and formatting, and run the tests.
#   bash scripts/test.sh [pytest args]
# The arguments go to pytest after pyproject's addopts, and a later -m replaces addopts' -m 'not gpu and not slow':
#   bash scripts/test.sh                      the default run: every test but the slow and GPU ones
#   bash scripts/test.sh -m slow              only the slow tests (real training runs, the bundled model's bench and
#                                             verdict checks, memory growth, statistics over many episodes)
#   bash scripts/test.sh -m 'not gpu'         everything a CPU machine can run (the default run plus the slow tests)
#   bash scripts/test.sh -m gpu               the GPU tests (on a CUDA machine)
# Mark a test @pytest.mark.slow when it takes more than ~10 s on a 2-core CPU and no user path depends on it alone.
# VIFAILBACK_VENV picks the environment directory (CI passes a fresh one); default .venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VIFAILBACK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
# openpi's own client, as an independent peer for the wire-compatibility tests. --no-deps: it pins numpy<2, but
# its websocket client and codec run on numpy 2 (tests/policy/test_openpi_compat.py).
"$VENV/bin/python" -m pip install -q --no-deps openpi-client==0.1.2
# The browser test drives Debian's Chromium (Playwright cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; install Debian's chromium package or the browser test fails" >&2
  fi
fi
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest "$@"
