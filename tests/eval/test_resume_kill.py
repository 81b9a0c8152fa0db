"""Resume after SIGKILL: a real ``python -m eval run`` subprocess is killed midway, then rerun to completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eval.runner import SAMPLES_FILE
from tests.eval.benchdata import Bench
from tests.fakes.httpserver import fake_openai_server, prompt_of

REPO_ROOT = Path(__file__).resolve().parents[2]


def _complete_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


def _command(bench: Bench, out: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "eval", "run", "--bench", str(bench.path), "--dataset-root", str(bench.root),
        "--out", str(out), "--base-url", url, "--served-model", "fake-vlm", "--concurrency", "2", "--quiet",
        "--request-timeout", "10",
    ]  # fmt: skip


def test_killed_run_resumes_without_redoing_or_duplicating(bench: Bench, tmp_path: Path) -> None:
    out = tmp_path / "run"
    samples = out / SAMPLES_FILE
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with fake_openai_server(lambda req, n: (200, "A"), delay_s=0.05) as server:
        proc = subprocess.Popen(_command(bench, out, server.url), cwd=REPO_ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
            while _complete_lines(samples) < 6:
                assert proc.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, "no progress within 60 s"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        # Requests the killed process had already sent may still be read by the server: let it settle first.
        settled = time.monotonic() + 0.5
        while (time.monotonic() < settled or server.in_flight) and time.monotonic() < settled + 5:
            time.sleep(0.05)
        first_run_requests = len(server.requests)

        done_before = [
            json.loads(line) for line in samples.read_bytes().splitlines(keepends=True) if line.endswith(b"\n")
        ]
        assert 6 <= len(done_before) < len(bench.records)
        # Simulate the worst case of a kill during a write: half a line at the end of the file.
        with open(samples, "ab") as fh:
            fh.write(b'{"id": "000099-torn", "tag": "failure_det')

        result = subprocess.run(_command(bench, out, server.url), cwd=REPO_ROOT, env=env, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        second_run_prompts = [prompt_of(r) for r in server.requests[first_run_requests:]]

    finished_prompts = {s["prompt"] for s in done_before}
    assert not finished_prompts & set(second_run_prompts), "finished items were requested again"
    assert len(second_run_prompts) == len(bench.records) - len(done_before)
    raw_lines = samples.read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\n") for line in raw_lines)
    final = [json.loads(line) for line in raw_lines]  # no torn line left: every line parses
    assert len(final) == len(bench.records)
    assert len({s["id"] for s in final}) == len(final)
    assert all(s["id"] != "000099-torn" for s in final)
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] and report["counts"]["scored"] == len(bench.records)
