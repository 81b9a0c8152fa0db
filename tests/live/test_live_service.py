"""The app's live service: one robot per process, control refused beyond loopback, every decision recorded."""

from __future__ import annotations

import pytest

from vifailback_demo.errors import LiveError
from vifailback_demo.live.base import LiveState
from vifailback_demo.live.config import correction_from_proposal
from vifailback_demo.live.records import live_notes
from vifailback_demo.services import DiagnosisService, LiveService, LiveSettings, load_config
from vifailback_demo.store import CorrectionsStore

ORACLE = LiveSettings(robot="sim", policy="builtin", diagnoser="oracle", failure_rate=1.0, seed=3)


@pytest.fixture
def service(tmp_path):
    config = load_config(["--data-dir", str(tmp_path / "data"), "--backend", "scripted"], env={})
    store = CorrectionsStore(config.data_dir)
    svc = LiveService(config, DiagnosisService(config), store, fps=200.0)
    yield svc, store
    svc.close()
    store.close()


def _until_proposal(svc: LiveService, timeout_s: float = 60.0) -> None:
    sup = svc._sup
    state = sup.wait_for({LiveState.AWAITING_REVIEW, LiveState.STOPPED, LiveState.ERROR}, timeout_s)
    assert state == LiveState.AWAITING_REVIEW, sup.status()


def test_accepting_an_edited_proposal_executes_it_records_it_and_the_run_recovers(service):
    svc, store = service
    assert "sim" in svc.connect(ORACLE) and svc.connected
    run_id = svc.start("")  # the simulator knows its task
    _until_proposal(svc)
    snap = svc.snapshot()
    assert snap.state == "awaiting_review" and snap.proposal is not None and snap.frame is not None
    steps = snap.status["steps"]
    correction = correction_from_proposal(snap.proposal, "pmc", reviewer="ann")
    record_id = svc.accept(correction)
    state = svc._sup.wait_for({LiveState.STOPPED, LiveState.ERROR}, 60)
    assert state == LiveState.STOPPED and svc._sup.status()["reason"] == "stop_when", svc._sup.status()
    assert svc._sup.status()["steps"] > steps
    snap = svc.snapshot()  # the run ended by itself: the outcome goes into its records
    assert snap.records == [record_id]
    record = store.get(record_id)
    assert record.decision == "accepted" and record.source.kind == "live_run"
    assert record.source.ref.startswith(run_id) and record.final is not None
    notes = live_notes(record)
    assert notes["executor"] == "pmc" and notes["reviewer"] == "ann" and notes["succeeded"] is True


def test_reject_resumes_the_policy_and_is_stored_with_the_outcome(service):
    svc, store = service
    svc.connect(ORACLE)
    svc.start("")
    _until_proposal(svc)
    record_id = svc.reject("bob")
    assert svc._sup.state in (LiveState.RUNNING, LiveState.CHECKING, LiveState.AWAITING_REVIEW)
    svc.stop()
    assert svc.snapshot().state == "stopped"
    svc.start("")  # a new run finalises the previous one (no success: the failure was never corrected)
    record = store.get(record_id)
    assert record.decision == "rejected" and record.final is None
    assert live_notes(record)["reviewer"] == "bob" and live_notes(record)["succeeded"] is False
    svc.stop()


def test_an_undecided_proposal_is_kept_as_skipped_when_the_run_stops(service):
    svc, store = service
    svc.connect(ORACLE)
    run_id = svc.start("")
    _until_proposal(svc)
    svc.stop()
    snap = svc.snapshot()
    assert snap.state == "stopped" and len(snap.records) == 1
    record = store.get(snap.records[0])
    assert record.decision == "skipped" and record.source.ref == f"{run_id}:check{record.source.ref.split('check')[1]}"


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--host", "0.0.0.0"], "listens on 0.0.0.0"),
        (["--share"], "shared (--share)"),
    ],
)
def test_robot_control_is_refused_beyond_loopback_without_a_login(tmp_path, argv, why):
    config = load_config([*argv, "--data-dir", str(tmp_path / "d")], env={})
    svc = LiveService(config, DiagnosisService(config), store=None)
    assert why in (svc.refusal() or "")
    with pytest.raises(LiveError, match="--auth"):
        svc.connect(ORACLE)
    assert not svc.connected
    for move in (lambda: svc.start("pick"), svc.resume, svc.reject, lambda: svc.accept(None)):
        with pytest.raises(LiveError, match="--auth"):  # everything that lets the robot move is refused first
            move()
    svc.stop()  # stop is always allowed (nothing to stop here)
    login = load_config([*argv, "--auth", "ann:pw", "--data-dir", str(tmp_path / "d")], env={})
    assert LiveService(login, DiagnosisService(login), store=None).refusal() is None


def test_bad_settings_are_refused_and_nothing_is_connected(service):
    svc, _ = service
    for settings, message in [
        (LiveSettings(robot="sim", policy="http://x"), "ws://HOST:PORT"),
        (LiveSettings(robot="sim", diagnoser="gpt"), "diagnoser: expected"),
        (LiveSettings(robot="sim", failure_rate=2.0), "from 0 to 1"),
        (LiveSettings(robot="serial:/dev/null", policy="builtin"), "simulated robot only"),
        (LiveSettings(robot="serial:/dev/null", policy="tcp://x"), "ws://HOST:PORT"),  # refused before opening
    ]:
        with pytest.raises(LiveError, match=message):
            svc.connect(settings)
        assert not svc.connected
    with pytest.raises(LiveError, match="press Connect"):
        svc.start("pick")
    svc.connect(ORACLE)
    with pytest.raises(LiveError, match="already connected"):
        svc.connect(ORACLE)
    with pytest.raises(LiveError, match="no proposal"):
        svc.reject()
