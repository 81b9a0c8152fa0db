"""The Live robot tab through a launched app and gradio_client: connect the simulated robot, see a proposal,
accept an edited correction, see the run resume and end, find the record; refusal beyond loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ui.helpers import call, make_services, start_app
from vifailback_demo.live.records import live_notes

POLL = "/live_status"


@pytest.fixture
def live_app(tmp_path: Path):
    services = make_services(tmp_path / "data")
    services.live.fps = 100.0  # 4x real time: the same code path, a shorter test
    services.live.watchdog_s = 20.0  # a loaded CI machine can stall a thread for seconds; 5 s is for robots
    demo, client = start_app(services)
    yield services, client
    demo.close()
    services.close()


def _poll_until(client, text: str, timeout_s: float = 60.0) -> tuple:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        res, _ = call(client, api_name=POLL)
        assert not isinstance(res, Exception), res
        if text in res[0]:
            return res
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; last status: {res[0]}")


def test_connect_review_accept_and_the_run_resumes(live_app):
    services, client = live_app
    res, _ = call(client, "sim", "builtin", "oracle", 1.0, 3, api_name="/live_connect")
    assert "State: `idle`" in res, res  # one API output: the status (the timer is not part of the API)
    res, _ = call(client, "", 6, api_name="/live_start")
    assert "State: `running`" in res
    res = _poll_until(client, "State: `awaiting_review`")
    # API outputs leave out the states and the proposal box: status, camera, proposal, gallery, keyframe, ...
    _status, camera, proposal, gallery, keyframe, failure_type, low_level = res[:7]
    assert "<img id='live-frame'" in camera and "base64," in camera
    assert "Proposal live-" in proposal and len(gallery) == 8 and 1 <= keyframe <= 8
    assert low_level and failure_type
    edited = low_level.rstrip(".") + " (checked by ann)."
    res, _ = call(client, keyframe, failure_type, edited, "pmc", api_name="/live_accept")
    assert not isinstance(res, Exception), res
    assert "executing with PMC" in res and "record 1" in res  # one API output: the decision line
    steps_at_accept = services.live.snapshot().status["steps"]
    res = _poll_until(client, "Ended: stop_when")  # the policy resumed and the task succeeded
    assert services.live.snapshot().status["steps"] > steps_at_accept
    record = services.corrections.store.get(1)
    assert record.decision == "accepted" and record.final.low_level == edited
    assert live_notes(record)["executor"] == "pmc" and live_notes(record)["succeeded"] is True


def test_a_second_accept_or_a_stale_decision_changes_nothing(live_app):
    services, client = live_app
    call(client, "sim", "builtin", "oracle", 1.0, 5, api_name="/live_connect")
    call(client, "", 6, api_name="/live_start")
    res = _poll_until(client, "State: `awaiting_review`")
    keyframe, failure_type, low_level = res[4:7]
    res, _ = call(client, api_name="/live_reject")
    assert "Rejected" in res and "policy resumes" in res
    res, _ = call(client, keyframe, failure_type, low_level, "vsf", api_name="/live_accept")
    assert isinstance(res, Exception) and ("no proposal" in str(res) or "no longer" in str(res)), res
    res, _ = call(client, api_name="/live_stop")
    assert "State: `stopped`" in res
    services.live.snapshot()  # the ended run's undecided proposal (the oracle saw the failure again) is kept
    decisions = [r.decision for r in services.corrections.store.iter_records()]
    assert decisions[0] == "rejected" and "accepted" not in decisions, decisions


def test_robot_control_is_refused_when_the_app_listens_beyond_loopback(tmp_path: Path):
    services = make_services(tmp_path / "data", host="0.0.0.0")
    demo, client = start_app(services, server_name="127.0.0.1")  # reachable by the test only; the app thinks wider
    try:
        res, _ = call(client, "sim", "builtin", "oracle", 1.0, 0, api_name="/live_connect")
        assert isinstance(res, Exception) and "--auth" in str(res) and "0.0.0.0" in str(res)
        assert not services.live.connected
        res, _ = call(client, api_name="/live_stop")  # stop stays available (nothing to stop)
        assert "Robot control is off" in res
    finally:
        demo.close()
        services.close()


def test_bad_connection_fields_get_one_line_errors(live_app):
    services, client = live_app
    for args, message in [
        (("sim", "builtin", "oracle", 1.5, 0), "failure rate: expected a number from 0 to 1"),
        (("sim", "builtin", "oracle", 1.0, -1), "seed: expected a whole number"),
        (("sim", "tcp://x", "oracle", 1.0, 0), "ws://HOST:PORT"),
        (("warp:drive", "builtin", "oracle", 1.0, 0), "warp"),
    ]:
        res, _ = call(client, *args, api_name="/live_connect")
        assert isinstance(res, Exception) and message in str(res), (args, res)
        assert "\n" not in str(res).strip()
        assert not services.live.connected
    res, _ = call(client, "", 6, api_name="/live_start")
    assert isinstance(res, Exception) and "press Connect" in str(res)


def test_every_endpoint_output_has_a_name(live_app):
    """gradio names an unlabelled output value_N; API users read outputs by name."""
    _, client = live_app
    info = client.view_api(return_format="dict", print_info=False)
    unnamed = {
        name: [r.get("label") for r in ep["returns"] if not r.get("label") or r["label"].startswith("value_")]
        for name, ep in info["named_endpoints"].items()
    }
    assert not any(unnamed.values()), {k: v for k, v in unnamed.items() if v}
    assert {"/diagnose", "/accept", "/live_connect", "/live_status", "/live_accept"} <= set(info["named_endpoints"])
