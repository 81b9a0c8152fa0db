"""The live supervisor's state machine with recording fakes: proposals hold the robot, decisions, stop in every
state, the watchdog, the control loop not stalled by the model, the run log; then SimRobot + SimPolicy in process."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pytest

from tests.live.live_fakes import FAILED, SUCCESSFUL, TASK, FakeExecutor, FakePolicy, FakeRobot, diagnoser
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.base import LiveState
from vifailback_demo.live.checks import camera_fps, sample_window
from vifailback_demo.live.runlog import RunLog, read_events
from vifailback_demo.live.supervisor import LiveError, Supervisor, SupervisorConfig, correction_from_proposal
from vifailback_demo.live.watchdog import Watchdog
from vifailback_demo.robot.camera import FrameRing

S = LiveState
FAST = {"every": 2, "rows_per_chunk": 5, "fps": 500.0, "check_frames": 4, "watchdog_s": 1.0}


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@dataclasses.dataclass
class Rig:
    sup: Supervisor
    robot: FakeRobot
    policy: FakePolicy
    backend: object
    executor: FakeExecutor
    marks: list[tuple[str, int]]  # (event, robot calls so far) as each event was logged

    def events(self, name: str) -> list[dict]:
        return [e for e in self.sup.events if e["event"] == name]


@pytest.fixture
def rig_factory():
    made: list[Rig] = []

    def make(
        answers=(SUCCESSFUL,), *, robot=None, policy=None, executor=None, gated=False, fail=False, log=None, **cfg
    ):
        robot = robot or FakeRobot()
        policy = policy or FakePolicy()
        diag, backend = diagnoser(list(answers), gated=gated, fail=fail)
        executor = executor or FakeExecutor()
        marks: list[tuple[str, int]] = []
        sup = Supervisor(
            robot,
            policy,
            diag,
            {executor.name: executor},
            SupervisorConfig(**{**FAST, **cfg}),
            log=log,
            on_event=lambda e: marks.append((e["event"], len(robot.calls))),
        )
        rig = Rig(sup, robot, policy, backend, executor, marks)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.robot.release.set()
        rig.policy.release.set()
        rig.backend.gate.set()
        rig.sup.close()
        assert rig.sup.join(5), "the control loop did not end"


def to_review(rig: Rig) -> None:
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.AWAITING_REVIEW, 10) == S.AWAITING_REVIEW, rig.sup.status()


# ---- proposals and decisions --------------------------------------------------------------------------------------
def test_a_failed_check_holds_the_robot_and_nothing_is_sent_until_accept(rig_factory):
    rig = rig_factory([SUCCESSFUL, FAILED])
    to_review(rig)
    p = rig.sup.proposal
    assert p is not None and p.check == 2 and len(p.frames) == 4 and p.diagnosis.status == "failed"
    calls = rig.robot.snapshot()
    assert calls[-1] == ("hold",)
    at_proposal = dict(rig.marks)["proposal"]
    assert calls[at_proposal - 1] == ("hold",), "the robot must be held before the proposal is published"
    time.sleep(0.3)
    assert rig.robot.snapshot() == calls, "nothing may reach the robot between a proposal and a decision"
    assert rig.sup.status()["proposal"] == {"check": 2, "robot_frame": p.robot_frame}
    prompts_before = rig.policy.calls

    rig.sup.accept(correction_from_proposal(p, "vsf", reviewer="tester"))
    assert wait_until(lambda: len(rig.policy.prompts) > prompts_before + 1)
    after = rig.robot.snapshot()[len(calls) :]
    assert after[:3] == [("send", -1.0, 0.0), ("send", -1.0, 1.0), ("send", -1.0, 2.0)], after[:4]
    resumed = [c for c in after[3:] if c[0] == "send"]
    assert resumed and resumed[0][1] > prompts_before and resumed[0][2] == 0.0, "a fresh chunk, from its row 0"
    assert set(rig.policy.prompts) == {TASK}
    assert len(rig.executor.executed) == 1
    ctx, corr = rig.executor.executed[0]
    assert corr.reviewer == "tester" and ctx.task_prompt == TASK and ctx.rows_per_chunk == 5
    assert len(ctx.frame_steps) == 4 and ctx.frame_steps == sorted(ctx.frame_steps)
    assert all(isinstance(ctx.pose_history[s], np.ndarray) for s in ctx.frame_steps), "rewind needs these poses"
    assert rig.sup.wait_for(S.RUNNING, 2) in (S.RUNNING, S.CHECKING)
    (record,) = rig.sup.interventions
    assert record.proposal is p and record.decision == "accept" and record.reviewer == "tester"
    assert record.correction is corr and record.report.steps == 3 and not record.interrupted
    assert record.frame_steps == ctx.frame_steps


def test_reject_resumes_the_policy_and_waits_a_full_window(rig_factory):
    rig = rig_factory([FAILED, SUCCESSFUL])
    to_review(rig)
    n = len(rig.robot.snapshot())
    rig.sup.reject(reviewer="me")
    assert rig.sup.state in (S.RUNNING, S.CHECKING) and rig.sup.proposal is None
    assert wait_until(lambda: len(rig.events("check_submitted")) >= 2)
    assert rig.robot.sent_since(n)
    decision = rig.events("decision")[0]
    assert decision["decision"] == "reject" and decision["reviewer"] == "me"
    assert [(i.decision, i.reviewer, i.correction) for i in rig.sup.interventions[:1]] == [("reject", "me", None)]
    second = rig.events("check_submitted")[1]
    state_rejected = next(e for e in rig.events("state") if e["reason"] == "rejected")
    assert second["step"] - state_rejected["step"] >= 2 * 5, "the next check comes K chunks after the resume"
    assert set(rig.policy.prompts) == {TASK}


def test_a_refused_correction_leaves_the_proposal_waiting(rig_factory):
    rig = rig_factory([FAILED])
    to_review(rig)
    p = rig.sup.proposal
    calls = rig.robot.snapshot()
    bad = dataclasses.replace(correction_from_proposal(p, "vsf"), low_level="please refuse this")
    with pytest.raises(ViFailbackError, match="refused on purpose"):
        rig.sup.accept(bad)
    with pytest.raises(LiveError, match="unknown executor 'pmc'"):
        rig.sup.accept(correction_from_proposal(p, "pmc"))
    assert rig.sup.state == S.AWAITING_REVIEW and rig.sup.proposal is p
    assert rig.robot.snapshot() == calls and not rig.executor.executed
    assert not rig.events("decision")
    rig.sup.accept(correction_from_proposal(p, "vsf", reviewer="x"))  # still acceptable afterwards
    assert wait_until(lambda: len(rig.executor.executed) == 1)


def test_decisions_and_transitions_outside_their_state_are_refused(rig_factory):
    rig = rig_factory()
    with pytest.raises(LiveError, match="pause"):
        rig.sup.pause()
    rig.sup.start(TASK)
    with pytest.raises(LiveError, match="already"):
        rig.sup.start(TASK)
    p = dataclasses.replace(correction_from_proposal_stub(), executor="vsf")
    with pytest.raises(LiveError, match="awaiting review"):
        rig.sup.accept(p)
    with pytest.raises(LiveError, match="awaiting review"):
        rig.sup.reject()
    with pytest.raises(LiveError, match="resume"):
        rig.sup.resume()
    with pytest.raises(LiveError, match="task prompt"):
        Supervisor(rig.robot, rig.policy, None, {}).start("  ")


def correction_from_proposal_stub():
    from vifailback_demo.live.base import Correction

    return Correction("Move the right gripper up.", [], 1, np.zeros((4, 4, 3), np.uint8))


def test_auto_accept_executes_and_a_refusal_resumes(rig_factory):
    rig = rig_factory([FAILED, SUCCESSFUL], auto_accept=True)
    rig.sup.start(TASK)
    assert wait_until(lambda: rig.events("execution"))
    d = rig.events("decision")[0]
    assert d["decision"] == "auto" and d["reviewer"] == "auto" and d["executor"] == "vsf" and not d["edited"]
    assert rig.events("execution")[0]["steps"] == 3

    refusing = rig_factory([FAILED], auto_accept=True, executor=FakeExecutor(refuse_all=True))
    refusing.sup.start(TASK)
    assert wait_until(lambda: refusing.events("decision"))
    assert refusing.events("decision")[0]["decision"] == "auto_refused"
    assert refusing.sup.interventions[0].decision == "auto_refused"
    n = len(refusing.robot.snapshot())
    assert wait_until(lambda: len(refusing.robot.sent_since(n)) > 5), "the policy resumes after a refusal"


# ---- the control loop keeps going while the model thinks ---------------------------------------------------------
def test_a_slow_diagnoser_does_not_stall_the_control_loop(rig_factory):
    rig = rig_factory([SUCCESSFUL], gated=True)
    rig.sup.start(TASK)
    assert rig.backend.started.wait(5)
    assert rig.sup.state == S.CHECKING
    steps = rig.sup.status()["steps"]
    time.sleep(0.3)
    assert rig.sup.status()["steps"] > steps + 20, "the loop must keep acting during CHECKING"
    assert rig.sup.state == S.CHECKING
    assert rig.events("check_deferred"), "a check due while the model still runs is deferred"
    assert rig.sup.status()["checks"] == 1
    rig.backend.gate.set()
    assert wait_until(lambda: rig.events("check"))
    assert rig.events("check")[0]["latency_s"] >= 0.3
    assert wait_until(lambda: rig.sup.status()["checks"] == 2), "the deferred check runs once the model is free"


def test_sync_checks_wait_for_the_model(rig_factory):
    rig = rig_factory([SUCCESSFUL], gated=True, sync_checks=True)
    rig.sup.start(TASK)
    assert rig.backend.started.wait(5)
    steps = rig.sup.status()["steps"]
    time.sleep(0.2)
    assert rig.sup.status()["steps"] == steps == 10
    rig.backend.gate.set()
    assert wait_until(lambda: rig.sup.status()["steps"] > steps)


# ---- stop always wins -----------------------------------------------------------------------------------------------
def _reach(rig_factory, state: str) -> Rig:
    if state == "idle":
        return rig_factory()
    if state == "checking":
        rig = rig_factory([FAILED], gated=True)
        rig.sup.start(TASK)
        assert rig.backend.started.wait(5)
        return rig
    if state in ("awaiting_review", "executing"):
        rig = rig_factory([FAILED], executor=FakeExecutor(block=True))
        to_review(rig)
        if state == "executing":
            rig.sup.accept(correction_from_proposal(rig.sup.proposal))
            assert rig.executor.running.wait(5)
        return rig
    if state == "error":
        rig = rig_factory(policy=FakePolicy(hang_at=3), watchdog_s=0.3)
        rig.sup.start(TASK)
        assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
        return rig
    # No check falls due in this run, so "running" cannot turn into "checking" between here and the assertion.
    rig = rig_factory(every=1_000_000)
    rig.sup.start(TASK)
    assert wait_until(lambda: rig.sup.status()["steps"] > 10)
    if state == "paused":
        rig.sup.pause()
    if state == "stopped":
        rig.sup.stop()
    return rig


@pytest.mark.parametrize(
    "state", ["idle", "running", "checking", "awaiting_review", "executing", "paused", "stopped", "error"]
)
def test_stop_wins_in_every_state(rig_factory, state):
    rig = _reach(rig_factory, state)
    assert rig.sup.state == state
    started = time.monotonic()
    rig.sup.stop()
    assert time.monotonic() - started < 1.0
    assert rig.sup.state == S.STOPPED and rig.sup.proposal is None
    assert rig.robot.is_stopped
    if state != "idle":
        assert ("stop",) in rig.robot.snapshot()
    calls = len(rig.robot.snapshot())
    rig.policy.release.set()
    rig.backend.gate.set()
    assert rig.sup.join(3)
    time.sleep(0.1)
    assert not rig.robot.sent_since(calls), "nothing is sent after a stop"
    assert rig.sup.state == S.STOPPED
    if state == "checking":
        assert wait_until(lambda: rig.events("check_discarded"))
        assert not rig.events("proposal") and rig.events("check_discarded")[0]["status"] == "failed"
    if state == "executing":
        assert rig.events("execution")[0]["interrupted"] is True
    if state == "awaiting_review":
        with pytest.raises(LiveError):
            rig.sup.accept(correction_from_proposal_stub())
    ended = rig.events("run_ended")
    assert len(ended) == (0 if state == "idle" else 1)


def test_start_again_after_a_stop(rig_factory):
    rig = rig_factory()
    first = rig.sup.start(TASK)
    assert wait_until(lambda: rig.sup.status()["steps"] > 5)
    rig.sup.stop()
    assert rig.sup.join(3)
    second = rig.sup.start(TASK)
    assert second != first and rig.sup.run_id == second
    assert not rig.robot.is_stopped
    assert wait_until(lambda: rig.sup.status()["steps"] > 5)
    assert rig.sup.status()["steps"] < 1000


# ---- pause, pacing, limits -------------------------------------------------------------------------------------------
def test_pause_holds_and_resume_never_replays_a_stale_chunk(rig_factory):
    rig = rig_factory(rows_per_chunk=20, fps=200.0, every=100)
    rig.sup.start(TASK)
    assert wait_until(lambda: any(c[0] == "send" and c[2] >= 5 for c in rig.robot.snapshot()))
    rig.sup.pause()
    assert rig.sup.state == S.PAUSED
    calls = rig.robot.snapshot()
    last_chunk = [c for c in calls if c[0] == "send"][-1][1]
    assert wait_until(lambda: ("hold",) in rig.robot.snapshot()[len(calls) - 1 :])
    time.sleep(0.6)  # longer than the watchdog: a paused robot's silent camera is no alarm
    assert not rig.robot.sent_since(len(calls))
    assert rig.sup.state == S.PAUSED
    rig.sup.resume()
    assert wait_until(lambda: rig.robot.sent_since(len(calls)))
    first = rig.robot.sent_since(len(calls))[0]
    assert first[1] > last_chunk and first[2] == 0.0, (
        "after a pause the policy is asked again; the old chunk is dropped"
    )


def test_a_chunk_asked_before_a_pause_is_never_sent_after_the_resume(rig_factory):
    rig = rig_factory(policy=FakePolicy(hang_at=3))  # the third inference takes a while
    rig.sup.start(TASK)
    assert wait_until(lambda: rig.policy.calls == 3)
    rig.sup.pause()
    rig.sup.resume()  # both while the third inference is still out
    calls = len(rig.robot.snapshot())
    rig.policy.release.set()
    assert wait_until(lambda: rig.robot.sent_since(calls))
    first = rig.robot.sent_since(calls)[0]
    assert first[1] == 4.0 and first[2] == 0.0, "the stale third chunk was dropped and the policy asked again"
    assert rig.sup.state in (S.RUNNING, S.CHECKING)


def test_pause_interrupts_an_execution_and_resume_returns_to_the_policy(rig_factory):
    rig = rig_factory([FAILED, SUCCESSFUL], executor=FakeExecutor(block=True))
    to_review(rig)
    rig.sup.accept(correction_from_proposal(rig.sup.proposal))
    assert rig.executor.running.wait(5)
    rig.sup.pause()
    assert wait_until(lambda: rig.events("execution"))
    assert rig.events("execution")[0]["interrupted"] is True
    assert wait_until(lambda: rig.robot.snapshot()[-1] == ("hold",))
    assert rig.sup.proposal is None and rig.sup.state == S.PAUSED
    prompts = rig.policy.calls
    rig.sup.resume()
    assert wait_until(lambda: rig.policy.calls > prompts + 1)
    assert set(rig.policy.prompts) == {TASK} and len(rig.executor.executed) == 1


def test_rows_are_paced_at_fps(rig_factory):
    rig = rig_factory(rows_per_chunk=10, fps=100.0, every=100)
    rig.sup.start(TASK)
    assert wait_until(lambda: rig.sup.status()["steps"] >= 1)
    t0, s0 = time.monotonic(), rig.sup.status()["steps"]
    assert wait_until(lambda: rig.sup.status()["steps"] >= s0 + 20)
    assert time.monotonic() - t0 >= 0.18


def test_max_steps_ends_the_run_holding(rig_factory):
    rig = rig_factory(max_steps=23)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.STOPPED, 5) == S.STOPPED
    assert rig.sup.join(2)
    assert rig.sup.status()["reason"] == "max_steps" and rig.sup.status()["steps"] == 23
    assert len(rig.robot.sent_since(0)) == 23 and rig.robot.snapshot()[-1] == ("hold",)
    assert not rig.robot.is_stopped


# ---- watchdog -----------------------------------------------------------------------------------------------------------
def test_watchdog_catches_a_hung_policy(rig_factory):
    rig = rig_factory(policy=FakePolicy(hang_at=3), watchdog_s=0.3)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
    error = rig.sup.status()["error"]
    assert "policy infer()" in error and "0.3 s" in error
    assert wait_until(lambda: rig.robot.snapshot()[-1] == ("hold",))
    calls = len(rig.robot.snapshot())
    rig.policy.release.set()  # the late chunk must not reach the robot
    assert rig.sup.join(3)
    assert not rig.robot.sent_since(calls)
    assert rig.events("error")[0]["reason"] == error


def test_watchdog_catches_a_hung_robot_and_stop_still_returns(rig_factory):
    rig = rig_factory(robot=FakeRobot(hang_at=12), watchdog_s=0.3)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
    assert "robot send_chunk_step()" in rig.sup.status()["error"]
    started = time.monotonic()
    rig.sup.stop()  # the link is hung (its lock is held): stop must still return
    assert time.monotonic() - started < 1.0 and rig.sup.state == S.STOPPED
    assert rig.robot.is_stopped
    rig.robot.release.set()
    assert rig.sup.join(3)
    assert len(rig.robot.sent_since(0)) == 12


def test_watchdog_catches_a_camera_that_stopped(rig_factory):
    rig = rig_factory(robot=FakeRobot(camera_until=10), watchdog_s=0.3)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
    assert "camera 'head'" in rig.sup.status()["error"]
    calls = len(rig.robot.snapshot())
    assert rig.sup.join(3)
    time.sleep(0.05)
    assert not rig.robot.sent_since(calls)


def test_watchdog_catches_a_hung_observation(rig_factory):
    rig = rig_factory(robot=FakeRobot(hang_observe=True), watchdog_s=0.3)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
    assert "robot get_observation()" in rig.sup.status()["error"]


def test_a_failing_diagnoser_is_an_error(rig_factory):
    rig = rig_factory(fail=True)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.ERROR, 5) == S.ERROR
    assert "diagnoser failed on check 1: the model server went away" in rig.sup.status()["error"]


def test_watchdog_fires_once_and_rearms():
    fired: list[str] = []
    dog = Watchdog(0.05, fired.append, poll_s=0.01)
    with dog.watch("thing()"):
        time.sleep(0.08)
        assert dog.poll() and dog.poll() is None
    assert fired == ["watchdog: thing() did not return within 0.05 s"]
    dog.rearm()
    dog.add_probe(lambda: "silence")
    assert dog.poll() == "silence" and fired[-1] == "silence"


# ---- what a check reads, and the log ---------------------------------------------------------------------------
def test_check_window_is_sampled_like_the_app():
    ring = FrameRing(200)
    for i in range(150):
        ring.push(np.zeros((4, 4, 3), np.uint8), t=100 + i * 0.04)
    frames = ring.recent(n=150)
    even = sample_window(frames, 8)
    assert even[0].index == 0 and even[-1].index == 149 and len(even) == 8
    official = sample_window(frames, None, fps=camera_fps(frames))
    assert [f.index for f in official] == [0, 25, 50, 75, 100, 125, 149]
    # a long pause between two frames (the simulated camera only renders when stepped) bunches nothing
    ring.push(np.zeros((4, 4, 3), np.uint8), t=500.0)
    paused = ring.recent(n=151)
    assert camera_fps(paused) == pytest.approx(25.0)
    assert len(sample_window(paused, 8, fps=camera_fps(paused))) == 8


def test_a_new_run_never_shows_the_model_frames_from_before_it(rig_factory):
    rig = rig_factory([FAILED], max_steps=200, every=100)
    rig.sup.start(TASK)
    assert rig.sup.wait_for(S.STOPPED, 10) == S.STOPPED and rig.sup.join(2)
    rig.sup.config.max_steps, rig.sup.config.every, rig.sup.config.check_seconds = None, 2, 100.0  # a huge window
    to_review(rig)
    frames = rig.sup.proposal.frames
    assert len(frames) == 4 and min(int(f[0, 0, 0]) for f in frames) == 200  # the fake paints its step count


def test_the_run_log_records_checks_proposals_decisions_and_executions(rig_factory, tmp_path):
    log = RunLog(tmp_path / "events.jsonl")
    rig = rig_factory([SUCCESSFUL, FAILED, SUCCESSFUL], log=log)
    to_review(rig)
    rig.sup.accept(correction_from_proposal(rig.sup.proposal, "vsf", reviewer="ana"))
    assert wait_until(lambda: rig.events("execution"))
    rig.sup.stop()
    assert rig.sup.join(3)
    events = read_events(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == [e["event"] for e in rig.sup.events]
    run = rig.sup.run_id
    assert all(e["run_id"] == run and "time" in e and "t_s" in e for e in events)
    checks = [e for e in events if e["event"] == "check"]
    assert [c["check"] for c in checks[:2]] == [1, 2] and [c["status"] for c in checks[:2]] == ["successful", "failed"]
    for c in checks:
        assert c["frames"] == 4 and c["latency_s"] >= 0 and c["raw_text_len"] > 100
        assert c["robot_frame"] == c["step"]  # the fake has no frame counter: the steps sent stand in
    assert checks[1]["step"] >= 4 * 5
    proposal = next(e for e in events if e["event"] == "proposal")
    assert proposal["check"] == 2 and proposal["keyframe"] == 3 and proposal["symbols"][0]["type"] == "move_arrow"
    decision = next(e for e in events if e["event"] == "decision")
    assert decision | {"time": 0, "t_s": 0} == decision | {
        "decision": "accept",
        "executor": "vsf",
        "reviewer": "ana",
        "edited": False,
        "low_level": "Move the right gripper to the left significantly.",
        "time": 0,
        "t_s": 0,
    }
    execution = next(e for e in events if e["event"] == "execution")
    assert execution["steps"] == 3 and execution["interrupted"] is False
    assert events[0]["event"] == "run_started" and events[0]["config"]["every"] == 2
    assert events[-1]["event"] == "run_ended" and events[-1]["proposals"] == 1 and events[-1]["executions"] == 1


# ---- the simulated robot and the built-in policy, in process -------------------------------------------------
def test_sim_robot_and_sim_policy_detect_correct_and_recover_with_the_oracle():
    from vifailback_demo.diagnosis.diagnoser import Diagnoser
    from vifailback_demo.live.executors import VSFExecutor
    from vifailback_demo.live.oracle import SimOracleBackend
    from vifailback_demo.policy.sim_policy import SimPolicy
    from vifailback_demo.robot.sim_robot import SimRobot

    robot, policy = SimRobot(seed=3), SimPolicy(failure_rate=1.0, seed=0)
    info = policy.episode_info(3)
    assert info is not None
    diag = Diagnoser(SimOracleBackend(robot, policy))
    config = SupervisorConfig(fps=None, sync_checks=True, every=4, auto_accept=True, max_steps=1500)
    config.stop_when = lambda: robot.success
    sup = Supervisor(robot, policy, diag, {"vsf": VSFExecutor()}, config)
    try:
        sup.start(robot.instruction)
        assert sup.wait_for((S.STOPPED, S.ERROR), 60) == S.STOPPED, sup.status()
        assert sup.join(5)
    finally:
        sup.close()
    status = sup.status()
    assert status["reason"] == "stop_when" and robot.success, status
    assert status["proposals"] == status["executions"] == 1
    checks = [e for e in sup.events if e["event"] == "check"]
    assert [c["robot_frame"] for c in checks[:2]] == [100, 200]  # SimRobot.frame, read when the frames were taken
    assert all(c["robot_frame"] == c["step"] for c in checks)  # one episode from frame 0: frames = actions sent
    failed = [c for c in checks if c["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["robot_frame"] >= info["start_frame"]  # eval: delay = the difference
    assert [e["decision"] for e in sup.events if e["event"] == "decision"] == ["auto"]
    assert policy.infer  # the policy was driven in process, never through its ground truth in the supervisor


def test_the_supervisor_never_reads_the_policys_ground_truth():
    import inspect

    from vifailback_demo.live import checks, config, loop, supervisor

    for module in (supervisor, loop, checks, config):
        source = inspect.getsource(module)
        assert "sim/failure" not in source and "episode_info" not in source and "world_state" not in source
