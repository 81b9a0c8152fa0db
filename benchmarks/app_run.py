"""The app's Run -> rendered result with the bundled tiny model on a bundled example, through the launched app and
gradio_client (what a user waits for after pressing Run).

    python benchmarks/app_run.py [--model assets/models/vifailback-tiny] [--repeats 3]

The first run includes loading the model; the warm runs are the number to quote. Target: under 5 s warm on a
2-core CPU. This machine is noisy; quote absolute times only from a quiet machine. The functional check of the same
path is ``tests/models/test_bundled_model.py::test_app_run_to_result_with_the_bundled_model``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from vifailback_demo.services import build_services  # noqa: E402
from vifailback_demo.services.config import AppConfig  # noqa: E402
from vifailback_demo.ui import build_demo, launch  # noqa: E402

TARGET_S = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "vifailback-tiny"))
    parser.add_argument("--repeats", type=int, default=3, help="warm runs after the first")
    args = parser.parse_args()
    index = json.loads((REPO / "assets" / "examples" / "index.json").read_text())
    example = next(e for e in index["examples"] if not e["success"])
    clip = REPO / "assets" / "examples" / example["clip"]
    with tempfile.TemporaryDirectory() as data_dir:
        config = AppConfig(data_dir=Path(data_dir), backend="transformers", model=args.model, scripted_delay_s=0.0)
        services = build_services(config)
        demo = build_demo(services)
        launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            client = Client(demo.local_url, verbose=False, httpx_kwargs={"timeout": 120})
            timings = []
            for _ in range(1 + max(1, args.repeats)):
                started = time.perf_counter()
                job = client.submit(
                    video=handle_file(str(clip)), task=example["task"], mode="avoidance", api_name="/diagnose"
                )
                summary = job.result(timeout=120)[1]
                timings.append(time.perf_counter() - started)
        finally:
            demo.close()
            services.close()
    warm = statistics.median(timings[1:])
    status = "ok" if warm < TARGET_S else "OVER TARGET"
    print(f"example: {example['name']}, answer: {summary.splitlines()[0] if summary else '(empty)'}")
    print(
        f"Run -> rendered result: first {timings[0]:.2f} s (loads the model), warm {warm:.2f} s "
        f"(median of {len(timings) - 1}) | target < {TARGET_S} s warm: {status}"
    )


if __name__ == "__main__":
    main()
