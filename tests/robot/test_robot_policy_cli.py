"""`vifailback robot ...` and `vifailback policy ...` end to end, as a user runs them: real processes, a real
pseudo-terminal, a real MJPEG stream, a real websocket policy server, a rosbridge fake on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robot.test_lerobot_robot import FakeSO101
from vifailback_demo.cli.main import main
from vifailback_demo.robot.rosbridge_fake import FakeRosbridge

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "vifailback_demo"]


def _run(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start a serving command and return it with its first stdout line (what it prints once it is up)."""
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"{args} printed nothing: {proc.stderr.read()}")
    return proc, line


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_emulated_serial_robot_and_mjpeg_camera_are_checked_end_to_end():
    proc, line = _start("robot", "emulate", "--robot", "sim", "--seed", "3", "--camera-port", "0")
    try:
        info = json.loads(line)
        assert info["device"].startswith("/dev/pts/") and info["camera_url"].startswith("http://127.0.0.1:")
        result = _run("robot", "check", "--robot", f"serial:{info['device']}", "--camera", info["camera_url"], "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["name"] == "sim" and report["action_space"] == "ee"
        assert list(report["action_features"])[:2] == ["left.x", "left.y"]
        assert report["observation"]["head"] == [224, 224, 3]
        assert report["observation"]["left.gap"] == pytest.approx(0.08)
    finally:
        started = time.monotonic()
        assert _stop(proc) == 0
        assert time.monotonic() - started < 10


def test_robot_check_errors_are_one_line():
    missing = _one_line_error(
        _run("robot", "check", "--robot", "serial:/dev/vifailback-no-such-port", "--timeout", "1")
    )
    assert "/dev/vifailback-no-such-port" in missing
    assert "drop --camera" in _one_line_error(_run("robot", "check", "--robot", "sim", "--camera", "0"))
    assert "robot spec must be" in _one_line_error(_run("robot", "check", "--robot", "ur5:10.0.0.1"))
    started = time.monotonic()
    refused = _one_line_error(_run("robot", "check", "--robot", "rosbridge:ws://127.0.0.1:1", "--timeout", "1"))
    assert "127.0.0.1:1" in refused and time.monotonic() - started < 20


def test_robot_check_reads_a_rosbridge_robot():
    with FakeRosbridge() as bridge:
        result = _run("robot", "check", "--robot", f"rosbridge:{bridge.url}", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len([k for k in report["action_features"] if k.endswith(".pos")]) == 14
    assert report["observation"]["head"][2] == 3


def test_robot_check_wraps_a_lerobot_robot_from_a_factory(capsys):
    assert main(["robot", "check", "--robot", f"lerobot:{__name__}:make_fake_so101", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "so101_follower" and report["action_space"] == "joint"
    assert "shoulder_pan.pos" in report["observation"]


def make_fake_so101() -> FakeSO101:
    return FakeSO101()


def test_policy_serve_and_check_with_an_api_key():
    key = {"VIFAILBACK_POLICY_API_KEY": "s3cret"}
    proc, line = _start("policy", "serve", "--port", "0", "--failure-rate", "0", env=key)
    try:
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("ws://127.0.0.1:")
        result = _run("policy", "check", "--url", url, "--reps", "2", "--json", env=key)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["healthz"] is True and report["actions_shape"] == [50, 10]
        assert report["metadata"]["policy"] == "vifailback-sim-expert" and len(report["latency_ms"]) == 2
        refused = _one_line_error(_run("policy", "check", "--url", url, "--timeout", "5"))
        assert "401" in refused or "key" in refused.lower()
        wrong_shape = _one_line_error(_run("policy", "check", "--url", url, "--like", "aloha", env=key))
        assert "sim/task" in wrong_shape
    finally:
        assert _stop(proc) == 0


def test_policy_check_of_a_dead_server_fails_quickly_in_one_line():
    started = time.monotonic()
    line = _one_line_error(_run("policy", "check", "--url", "ws://127.0.0.1:1", "--timeout", "2"))
    assert "ws://127.0.0.1:1" in line and time.monotonic() - started < 30
    assert "between 0 and 1" in _one_line_error(_run("policy", "serve", "--failure-rate", "2"))
