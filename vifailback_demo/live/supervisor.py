"""The live supervisor: the policy acts, the model watches every K chunks, a human approves the correction.

API (the app's Live tab, ``vifailback live`` and ``eval recovery`` use exactly this): ``Supervisor(robot, policy,
diagnoser, executors, config, log, on_event)``; ``start(task_prompt) -> run_id``, ``pause()``, ``resume()``,
``stop()``, ``accept(correction)``, ``reject(reviewer="")``, ``state``, ``proposal``, ``status()``,
``wait_for(states, timeout_s)``, ``join(timeout)``, ``run_id``, ``events``, ``interventions``, ``close()``. Settings, ``LiveError``
and ``correction_from_proposal`` live in ``config.py``; the control thread in ``loop.py``; checks in ``checks.py``.

States (``LiveState``): ``idle -> running``; ``running -> checking -> running`` (the model said "Successful" or
gave nothing usable); ``checking -> awaiting_review -> executing -> running`` (a "Failed" answer, accepted);
``awaiting_review -> running`` (rejected); ``running|checking|executing -> paused -> running|checking``; any state
-> ``stopped`` (stop always wins) or ``error`` (a link failed or went silent). A run that reaches ``max_steps`` or
``stop_when`` ends in ``stopped`` with ``status()["reason"]`` saying so (robot held, not emergency-stopped).

Threads. The control loop runs on its own thread and is the only one that drives the robot (besides ``stop()``,
which calls ``robot.stop()`` from the caller's thread, bounded): observe -> ``policy_observation`` ->
``policy.infer`` -> ``rows_per_chunk`` rows through ``robot.send_chunk_step``, one every ``1/fps`` s (``fps=None``:
as fast as possible; a late loop never bursts to catch up). After every ``every`` chunks it samples the camera ring
(``checks.py``) and hands the frames to the single diagnoser thread; the loop keeps acting meanwhile (``checking``).
A check that falls due while the previous one still runs is deferred to the first chunk boundary after the model
is free, never queued (so it reads the freshest frames; ``check_deferred`` is logged once). ``sync_checks``
(experiments) makes the loop wait for each check instead, so an unpaced simulated run does not depend on the
machine's speed. Results are handled by the loop between two actions: on "Failed" it holds the robot first and
only then publishes the :class:`Proposal`, so nothing reaches the robot between a proposal and a decision.
``accept`` runs the executor's ``check`` first (a refusal raises and leaves ``awaiting_review``); the loop then
runs the executor and resumes the policy with the task prompt on a fresh observation. A chunk whose observation
predates a pause, a proposal or a correction is dropped, never replayed (each chunk is bound to the epoch it was
asked in; every transition bumps the epoch).

Watchdog (``watchdog.py``): a policy or robot call running longer than ``watchdog_s``, or no new camera frame for
``watchdog_s`` while the robot should be acting, holds the robot and moves to ``error`` with the reason in
``status()["error"]``. The loop stays inside a hung call (Python cannot interrupt it) and leaves when it returns;
``start()`` refuses until then. Executors get the policy wrapped by the same watchdog; their robot calls are
bounded by the backends' own I/O timeouts and, for a robot whose camera is fed by its steps, by the camera probe.

Pause during ``executing`` interrupts the executor (``should_stop()``) and abandons the correction: ``resume()``
goes back to the policy. Stop during ``checking`` discards the check's result (``check_discarded``). A diagnoser
that raises moves the run to ``error`` (supervision is broken; the robot is held).

Log (``runlog.py``): ``run_started``, ``state``, ``check_submitted``, ``check_deferred``, ``check`` (index,
robot_frame, step, latency_s, status, raw_text_len, ...), ``check_discarded``, ``proposal``, ``decision``
(accept / reject / auto / auto_refused, executor, reviewer, edited), ``execution``, ``error``, ``run_ended``.
``robot_frame`` is the robot's own frame counter when it has one (``SimRobot.frame``) read when the frames were
taken, so an experiment can compute the detection delay from the failure start it knows; the supervisor never
reads ground truth. ``on_event`` callbacks run on the supervisor's threads, some with its lock held: keep them
short and never call back into the supervisor from them.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from vifailback_demo.core.prompts import cot_prompt
from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.live.base import Correction, Executor, LiveState, Proposal
from vifailback_demo.live.checks import CheckResult, CheckWorker, FrameSteps
from vifailback_demo.live.config import (
    ACTING,
    ACTIVE,
    POLICY_ACTING,
    TERMINAL,
    Intervention,
    LiveError,
    S,
    SupervisorConfig,
    correction_from_proposal,
)
from vifailback_demo.live.loop import ControlLoop
from vifailback_demo.live.runlog import RunLog
from vifailback_demo.live.watchdog import Watchdog
from vifailback_demo.robot.base import Robot

__all__ = ["Intervention", "LiveError", "Supervisor", "SupervisorConfig", "correction_from_proposal"]


class Supervisor(ControlLoop):
    """One robot, one policy, one diagnoser, the executors by name; see the module docstring."""

    def __init__(
        self,
        robot: Robot,
        policy: Any,
        diagnoser: Any,
        executors: Mapping[str, Executor],
        config: SupervisorConfig | None = None,
        log: RunLog | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.robot, self.policy, self.diagnoser = robot, policy, diagnoser
        self.executors = dict(executors)
        self.config = config or SupervisorConfig()
        self._own_log = log is None
        self.log = log if log is not None else RunLog()
        self._on_event = on_event
        self._cond = threading.Condition(threading.RLock())
        self._decide_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._state = S.IDLE
        self._epoch = 0
        self._gen = 0
        self._run_id = ""
        self._task = ""
        self._thread: threading.Thread | None = None
        self._proposal: Proposal | None = None
        self._proposal_steps: list[int] = []
        self._pending: Correction | None = None
        self._exec_stop: threading.Event | None = None
        self._error: str | None = None
        self._reason: str | None = None
        self._results: deque[CheckResult] = deque()
        self._camera = None
        self._camera_ref = time.monotonic()
        self._held_epoch = -1
        self._next_send = 0.0
        self._deferred_logged = False
        self._frame_steps = FrameSteps()
        self._pose_history: dict[int, np.ndarray] = {}
        self._pose_names: list[str] = []
        self._first_frame = 0
        self._reset_counters()
        self._watchdog = Watchdog(self.config.watchdog_s, self._on_watchdog)
        self._watchdog.add_probe(self._camera_probe)
        self._worker = CheckWorker(diagnoser, self._on_check_result)

    def _reset_counters(self) -> None:
        self._chunks = self._steps = self._checks = self._since_check = 0
        self._proposals = self._executions = 0
        self._last_check: dict[str, Any] | None = None
        self._interventions: list[Intervention] = []

    # ---- public API ------------------------------------------------------------------------------------------
    @property
    def state(self) -> LiveState:
        return self._state

    @property
    def proposal(self) -> Proposal | None:
        return self._proposal

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.log.events

    @property
    def interventions(self) -> list[Intervention]:
        """This run's proposals with their decision, correction and execution report (for correction records)."""
        with self._cond:
            return list(self._interventions)

    def status(self) -> dict[str, Any]:
        with self._cond:
            p = self._proposal
            return {
                "state": self._state.value,
                "run_id": self._run_id,
                "task": self._task,
                "chunks": self._chunks,
                "steps": self._steps,
                "checks": self._checks,
                "check_in_flight": self._worker.busy,
                "last_check": dict(self._last_check) if self._last_check else None,
                "proposals": self._proposals,
                "executions": self._executions,
                "proposal": None if p is None else {"check": p.check, "robot_frame": p.robot_frame},
                "error": self._error,
                "reason": self._reason,
            }

    def start(self, task_prompt: str) -> str:
        """Start a run with the task prompt (from idle, stopped or error); returns the run id. Clears an emergency
        stop by reconnecting the robot: starting again is the operator's explicit decision."""
        task = (task_prompt or "").strip()
        if not task:
            raise LiveError("start() needs the task prompt the policy and the model are given")
        if self.config.monitor:
            cot_prompt(task, self.config.mode)  # the model's prompt must build: refuse now, not at the first check
        if self.config.auto_accept and self.config.executor not in self.executors:
            raise LiveError(f"auto_accept uses executor {self.config.executor!r}, not among {sorted(self.executors)}")
        camera = self.robot.cameras.get(self.config.camera)
        if camera is None and self.config.monitor:
            raise LiveError(
                f"{self.robot.name}: no camera {self.config.camera!r} for the monitor; its cameras: "
                f"{sorted(self.robot.cameras)}"
            )
        with self._cond:
            if self._state in ACTIVE:
                raise LiveError(f"a run is already {self._state.value}; stop() it first")
            if self._thread is not None and self._thread.is_alive():
                raise LiveError(
                    "the previous run's control loop is still inside a robot or policy call; start again once it "
                    f"returns (last error: {self._error})"
                )
        if not self.robot.is_connected or self.robot.is_stopped:
            self.robot.connect()
        with self._cond:
            self._gen += 1
            self._epoch += 1
            gen = self._gen
            self._run_id = f"live-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
            self._task, self._camera = task, camera
            self._reset_counters()
            self._proposal, self._pending, self._error, self._reason = None, None, None, None
            self._results.clear()
            self._pose_history.clear()
            names = list(self.robot.state_names)
            self._pose_names = names if sorted(names) == sorted(self.robot.action_names) else []
            self._frame_steps.clear()
            latest = camera.ring.latest() if camera is not None else None
            self._first_frame = latest.index if latest is not None else 0  # the scene as the run starts
            self._mark_frame()
            self._camera_ref = time.monotonic()
            self._watchdog.rearm()
            self._emit(
                "run_started",
                task=task,
                robot=self.robot.name,
                action_space=self.robot.action_space,
                robot_frame=self._robot_frame(),
                executors=sorted(self.executors),
                config=self.config.describe(),
            )
            self._transition(S.RUNNING, "started")
            self._thread = threading.Thread(target=self._loop, args=(gen,), name="live-control", daemon=True)
        self._watchdog.start()
        self._thread.start()
        return self._run_id

    def pause(self) -> None:
        """Hold the robot (from running, checking or executing; an execution is interrupted and abandoned)."""
        with self._cond:
            if self._state not in ACTING:
                raise LiveError(f"pause() needs a running run; the supervisor is {self._state.value}")
        # Wait for a row already on its way (bounded): once pause() returns, the policy sends nothing more.
        got = self._send_lock.acquire(timeout=self.config.watchdog_s)
        try:
            with self._cond:
                if self._state not in ACTING:
                    return  # stopped or failed meanwhile: that wins
                self._bump()
                self._pending = None
                self._transition(S.PAUSED, "paused by the operator")
        finally:
            if got:
                self._send_lock.release()

    def resume(self) -> None:
        """Back to the policy with the task prompt (from paused), on a fresh observation."""
        with self._cond:
            if self._state != S.PAUSED:
                raise LiveError(f"resume() needs a paused run; the supervisor is {self._state.value}")
            self._bump()
            self._camera_ref = time.monotonic()
            self._transition(S.CHECKING if self._worker.busy else S.RUNNING, "resumed")

    def stop(self) -> None:
        """Emergency stop from any state and any thread: the run ends and ``robot.stop()`` is called (bounded)."""
        with self._cond:
            self._bump()
            self._proposal, self._pending = None, None
            if self._state != S.STOPPED:
                self._reason = "stopped by the operator"
                self._transition(S.STOPPED, self._reason)
        self._bounded("stop()", self.robot.stop)

    def accept(self, correction: Correction) -> None:
        """Execute ``correction`` (only in awaiting_review). The executor's ``check`` runs first: a refused
        correction raises its one-line error and the proposal keeps waiting."""
        self._decide(correction, "accept")

    def reject(self, reviewer: str = "") -> None:
        """Drop the proposal and resume the policy with the task prompt (only in awaiting_review)."""
        with self._decide_lock, self._cond:
            if self._state != S.AWAITING_REVIEW or self._proposal is None:
                raise LiveError(f"reject() needs a proposal awaiting review; the supervisor is {self._state.value}")
            self._emit("decision", decision="reject", check=self._proposal.check, reviewer=reviewer)
            if self._interventions and self._interventions[-1].proposal is self._proposal:
                self._interventions[-1].decision, self._interventions[-1].reviewer = "reject", reviewer
            self._proposal = None
            self._resume_policy("rejected")

    def wait_for(self, states: LiveState | Iterable[LiveState], timeout_s: float) -> LiveState:
        """Block until the state is one of ``states`` or ``timeout_s`` passed; returns the state either way."""
        wanted = {states} if isinstance(states, LiveState) else set(states)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._state not in wanted and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return self._state

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the control loop thread to end; True when it has (or never started)."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self, wait_s: float = 0.0) -> None:
        """Stop a run in progress and end the helper threads (the log is closed if the supervisor made it);
        ``wait_s``: how long to wait for a check still in the model (0: do not wait)."""
        if self._state in ACTIVE:
            self.stop()
        self._watchdog.close()
        self._worker.close(wait_s)
        if self._own_log:
            self.log.close()

    # ---- transitions (call with the lock held) ---------------------------------------------------------------
    def _emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = self.log.log(event, run_id=self._run_id, **fields)
        if self._on_event is not None:
            with contextlib.suppress(Exception):  # the UI's problem must not become the robot's
                self._on_event(record)
        return record

    def _transition(self, new: LiveState, reason: str = "") -> None:
        old, self._state = self._state, new
        self._emit("state", previous=old.value, state=new.value, reason=reason, step=self._steps)
        if new in TERMINAL:
            self._watchdog.close()  # the run is over: nothing left to watch
        if new in TERMINAL and old in ACTIVE:
            self._reason = self._reason or reason
            self._emit(
                "run_ended",
                state=new.value,
                reason=self._reason,
                error=self._error,
                steps=self._steps,
                chunks=self._chunks,
                checks=self._checks,
                proposals=self._proposals,
                executions=self._executions,
                robot_frame=self._robot_frame(),
            )
        self._cond.notify_all()

    def _bump(self) -> None:
        """A new epoch: a chunk asked for before now is never sent; a running executor is told to stop."""
        self._epoch += 1
        if self._exec_stop is not None:
            self._exec_stop.set()

    def _resume_policy(self, reason: str) -> None:
        self._bump()
        self._since_check = 0  # the next check comes a full window later, on frames of the resumed policy
        self._camera_ref = time.monotonic()
        self._transition(S.RUNNING, reason)

    def _fail(self, gen: int, reason: str) -> None:
        with self._cond:
            if gen != self._gen or self._state in TERMINAL:
                return
            self._bump()
            self._error = reason
            self._proposal, self._pending = None, None
            self._emit("error", reason=reason, step=self._steps)
            self._transition(S.ERROR, reason)
        self._bounded("hold()", self.robot.hold)

    def _bounded(self, what: str, fn: Callable[[], Any]) -> None:
        """Call a robot method on a helper thread and wait a bounded time (a hung link must not block stop)."""
        done, errors = threading.Event(), []

        def run() -> None:
            try:
                fn()
            except Exception as exc:
                errors.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name=f"live-robot-{what}", daemon=True).start()
        if not done.wait(min(self.config.watchdog_s, 2.0)):
            self._emit("robot_call_pending", call=what, note="the robot link is busy or hung; the call goes on")
        elif errors:
            self._emit("robot_call_failed", call=what, error=str(errors[0]))

    def _on_watchdog(self, reason: str) -> None:
        self._fail(self._gen, reason)

    def _camera_probe(self) -> str | None:
        camera = self._camera
        if camera is None or self._state not in ACTING:
            return None
        latest = camera.ring.latest()
        busy_since = self._watchdog.oldest_call()
        ref = max(latest.t if latest is not None else -np.inf, self._camera_ref, busy_since or -np.inf)
        age = time.monotonic() - ref
        if age > self.config.watchdog_s:
            return (
                f"watchdog: camera {camera.name!r} delivered no new frame for {age:.1f} s while the robot was acting "
                f"(more than {self.config.watchdog_s:g} s)"
            )
        return None

    # ---- decisions ---------------------------------------------------------------------------------------------
    def _decide(self, correction: Correction, decision: str) -> None:
        with self._decide_lock:
            with self._cond:
                proposal = self._proposal
                if self._state != S.AWAITING_REVIEW or proposal is None:
                    raise LiveError(f"accept() needs a proposal awaiting review; the supervisor is {self._state.value}")
            executor = self.executors.get(correction.executor)
            if executor is None:
                raise LiveError(
                    f"unknown executor {correction.executor!r}; this supervisor has {sorted(self.executors)}"
                )
            executor.check(self.robot, correction)  # raises: the state is unchanged, the proposal still waits
            with self._cond:
                if self._state != S.AWAITING_REVIEW or self._proposal is not proposal:
                    raise LiveError(f"the proposal is no longer waiting (the supervisor is {self._state.value})")
                d = proposal.diagnosis
                edited = correction.low_level != (d.low_level or "") or symbols_to_code(
                    correction.symbols
                ) != symbols_to_code(d.symbols)
                self._emit(
                    "decision",
                    decision=decision,
                    check=proposal.check,
                    executor=correction.executor,
                    reviewer=correction.reviewer,
                    edited=edited,
                    keyframe=correction.keyframe,
                    failure_type=correction.failure_type,
                    low_level=correction.low_level,
                    symbols=symbols_to_code(correction.symbols),
                )
                if self._interventions and self._interventions[-1].proposal is proposal:
                    record = self._interventions[-1]
                    record.decision, record.correction, record.reviewer = decision, correction, correction.reviewer
                self._bump()
                self._pending = correction
                self._transition(S.EXECUTING, f"{decision}: {correction.executor}")

    # ---- checks -------------------------------------------------------------------------------------------------
    def _on_check_result(self, res: CheckResult) -> None:
        """On the diagnoser thread: log the check; a failure (or a diagnoser error) is queued for the loop."""
        d, job = res.diagnosis, res.job
        status = "error" if d is None else d.status
        fields = {
            "check": job.index,
            "robot_frame": job.robot_frame,
            "step": job.step,
            "ring_index": job.ring_index,
            "frames": len(job.frames),
            "frame_steps": job.frame_steps,
            "latency_s": round(res.latency_s, 6),
            "status": status,
            "raw_text_len": len(d.raw_text) if d is not None else 0,
            "model": d.model if d is not None else None,
            "failure_type": d.failure_type if d is not None else None,
            "keyframe": d.keyframe if d is not None else None,
            "low_level": d.low_level if d is not None else None,
            "symbols": len(d.symbols) if d is not None else 0,
            "error": res.error,
        }
        with self._cond:
            if job.run_gen != self._gen or self._state not in (*POLICY_ACTING, S.PAUSED):
                why = "the run ended" if job.run_gen != self._gen or self._state in TERMINAL else self._state.value
                self._emit("check_discarded", reason=why, **fields)
                return
            self._last_check = {"index": job.index, "latency_s": round(res.latency_s, 3), "status": status}
            self._emit("check", **fields)
            if status in ("failed", "error"):
                self._results.append(res)  # the loop holds the robot, then publishes (or fails)
                self._cond.notify_all()
            elif self._state == S.CHECKING:
                self._transition(S.RUNNING, f"check {job.index}: {status}")
