"""``vifailback diagnose --backend openai --deadline S``: a stuck or broken server ends the command with exit 2 and
one line on stderr, within the deadline (plus the clip's sampling and a margin for a loaded machine)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes.httpserver import HTML, RawServer, answer, hang, ping_forever
from tests.video.clips import TASK
from vifailback_demo.cli import diagnose
from vifailback_demo.cli.main import main
from vifailback_demo.models import backend

DEADLINE = 1.0
#: Sampling the 4 s test clip, plus scheduling slack on a loaded machine.
MARGIN = 2.5


def _diagnose(capsys, url: str, out: Path, *extra: str) -> tuple[int, str, str, float]:
    argv = ["diagnose", "--backend", "openai", "--model", "ViFailback-8B", "--base-url", url, "--out", str(out)]
    start = time.perf_counter()
    code = main([*argv, *extra])
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("script", [ping_forever, hang], ids=["ping", "hang"])
def test_a_stuck_server_ends_the_command_at_the_deadline(capsys, h264_clip: Path, tmp_path: Path, script, stream):
    flags = ["--timeout", "5", "--deadline", str(DEADLINE), *(["--stream"] if stream else [])]
    with RawServer(script) as server:
        code, out, err, elapsed = _diagnose(capsys, server.url, tmp_path / "o", str(h264_clip), "--task", TASK, *flags)
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("vifailback diagnose: error: ") and f"within the {DEADLINE:g} s deadline" in err
    assert elapsed < DEADLINE + MARGIN, elapsed
    assert not (tmp_path / "o" / "diagnosis.json").exists()


def test_html_instead_of_events_is_one_line_not_an_unreadable_answer(capsys, h264_clip: Path, tmp_path: Path):
    with RawServer(answer(HTML, content_type="text/html")) as server:
        code, out, err, _ = _diagnose(capsys, server.url, tmp_path / "o", str(h264_clip), "--task", TASK, "--stream")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "expected server-sent events from /chat/completions, got '<!DOCTYPE html>' (content-type text/html)" in err
    assert not (tmp_path / "o" / "diagnosis.json").exists()


@pytest.mark.parametrize("value", ["0", "-3", "abc", "nan", "inf"])
def test_a_bad_deadline_is_refused_in_one_line(capsys, tmp_path: Path, value: str) -> None:
    code, out, err, _ = _diagnose(capsys, "http://127.0.0.1:1/v1", tmp_path, "clip.mp4", "--task", TASK,
                                  f"--deadline={value}")  # fmt: skip
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"argument --deadline: expected seconds > 0, got '{value}'" in err


def test_help_numbers_match_the_library() -> None:
    assert (diagnose.DEADLINE_BASE_S, diagnose.DEADLINE_PER_TOKEN_S) == (
        backend.DEADLINE_BASE_S,
        backend.DEADLINE_PER_TOKEN_S,
    )
