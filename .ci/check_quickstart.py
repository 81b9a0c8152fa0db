"""CI: the README's first quick-start command, checked as a user meets it.

`bash scripts/run.sh --port P` (started by .ci/run in its own fresh environment, from requirements.txt alone) must
serve the app, and the app must diagnose a bundled example with the bundled tiny model through its public API:
a reply in the official format. Run with any environment holding gradio_client and this package (CI: the test one):

    python .ci/check_quickstart.py --url http://127.0.0.1:P --pid PID [--wait 900]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
REQUEST_TIMEOUT_S = 5
DIAGNOSE_TIMEOUT_S = 300


def wait_for_server(url: str, pid: int, wait_s: float) -> float:
    """Seconds until ``url`` answers 200; exits when the launcher dies or the wait runs out."""
    started = time.monotonic()
    while time.monotonic() - started < wait_s:
        try:
            with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as reply:
                if reply.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"quickstart: scripts/run.sh (pid {pid}) exited before {url} answered; see its log")
        time.sleep(2)
    sys.exit(f"quickstart: {url} did not answer within {wait_s:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the scripts/run.sh process")
    ap.add_argument("--wait", type=float, default=900, help="seconds for set-up and launch")
    args = ap.parse_args()

    from gradio_client import Client, handle_file

    from vifailback_demo.core.answer import parse_answer

    up = wait_for_server(args.url, args.pid, args.wait)
    failed = next(e for e in json.loads((EXAMPLES / "index.json").read_text())["examples"] if not e["success"])
    client = Client(args.url, verbose=False, httpx_kwargs={"timeout": DIAGNOSE_TIMEOUT_S})
    started = time.monotonic()
    job = client.submit(
        video=handle_file(str(EXAMPLES / failed["clip"])), task=failed["task"], mode="avoidance", api_name="/diagnose"
    )
    out = job.result(timeout=DIAGNOSE_TIMEOUT_S)
    seconds = time.monotonic() - started
    reasoning, summary = out[0], out[1]
    parsed = parse_answer(reasoning)
    if not parsed.parseable or not summary:
        sys.exit(f"quickstart: example {failed['name']!r} got an unparseable diagnosis: {reasoning!r:.300}")
    verdict = "Successful" if parsed.success else f"Failed, {parsed.failure_type}, keyframe {parsed.keyframe}"
    print(f"quickstart: app up after {up:.0f} s; example {failed['name']!r} diagnosed in {seconds:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
