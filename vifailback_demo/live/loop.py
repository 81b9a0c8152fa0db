"""The control thread of the live supervisor: chunks to the robot, checks to the model, proposals, executions.

:class:`ControlLoop` is the half of :class:`~vifailback_demo.live.supervisor.Supervisor` that runs on the
``live-control`` thread (the state machine and the public API are in ``supervisor.py``, which documents the
behaviour). It is the only code that drives the robot during a run, so "hold, then publish the proposal" and
"a chunk asked for in an older epoch is never sent" hold by construction.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.base import Correction, ExecutionContext, Executor, Proposal
from vifailback_demo.live.checks import (
    NOMINAL_FPS,
    CheckJob,
    CheckResult,
    CheckWorker,
    FrameSteps,
    camera_fps,
    sample_window,
)
from vifailback_demo.live.config import (
    POLICY_ACTING,
    TERMINAL,
    Intervention,
    LiveError,
    S,
    SupervisorConfig,
    correction_from_proposal,
)
from vifailback_demo.live.watchdog import Watchdog
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.robot.base import Robot


class _Abort(Exception):
    """The run ended (stop, error, another start) while the loop was busy: leave quietly."""


class _WatchedPolicy:
    """The policy as an executor sees it: every ``infer`` is timed by the supervisor's watchdog."""

    def __init__(self, policy: Any, watchdog: Watchdog) -> None:
        self._policy, self._watchdog = policy, watchdog

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        with self._watchdog.watch("policy infer() (executor)"):
            return self._policy.infer(observation)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)


class _CallError(Exception):
    def __init__(self, what: str, exc: BaseException) -> None:
        detail = str(exc).strip() or type(exc).__name__
        super().__init__(f"{what} failed: {detail}")


class ControlLoop:
    """What the control thread does; the attributes are set up by ``Supervisor.__init__``."""

    robot: Robot
    policy: Any
    executors: dict[str, Executor]
    config: SupervisorConfig
    _cond: threading.Condition
    _send_lock: threading.Lock
    _state: S
    _epoch: int
    _gen: int
    _task: str
    _camera: Any
    _results: deque[CheckResult]
    _worker: CheckWorker
    _watchdog: Watchdog
    _frame_steps: FrameSteps
    _pose_history: dict[int, np.ndarray]
    _pose_names: list[str]
    _interventions: list[Intervention]
    _camera_ref: float
    _first_frame: int
    _pending: Correction | None
    _proposal: Proposal | None
    _proposal_steps: list[int]
    _exec_stop: threading.Event | None
    _reason: str | None
    _held_epoch: int
    _next_send: float
    _deferred_logged: bool
    _steps: int
    _chunks: int
    _checks: int
    _since_check: int
    _proposals: int
    _executions: int

    # ---- provided by Supervisor (the state machine) -------------------------------------------------------------
    def _emit(self, event: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _transition(self, new: S, reason: str = "") -> None:
        raise NotImplementedError

    def _bump(self) -> None:
        raise NotImplementedError

    def _fail(self, gen: int, reason: str) -> None:
        raise NotImplementedError

    def _resume_policy(self, reason: str) -> None:
        raise NotImplementedError

    def _decide(self, correction: Correction, decision: str) -> None:
        raise NotImplementedError

    # ---- checks ----------------------------------------------------------------------------------------------------

    def _submit_check(self, gen: int) -> None:
        if self._worker.busy:
            if not self._deferred_logged:
                self._deferred_logged = True
                self._emit("check_deferred", step=self._steps, reason="the previous check is still running")
            return
        started = time.monotonic()
        cfg, ring = self.config, self._camera.ring
        paced = cfg.fps is not None
        nominal = float(getattr(self.robot, "fps", NOMINAL_FPS) or NOMINAL_FPS)
        if paced:
            window = ring.recent(seconds=cfg.check_seconds or cfg.every * cfg.rows_per_chunk / cfg.fps)
        else:
            window = ring.recent(
                n=round(cfg.check_seconds * nominal) if cfg.check_seconds else cfg.every * cfg.rows_per_chunk
            )
        window = [f for f in window if f.index >= self._first_frame]  # never a frame from before this run
        chosen = sample_window(window, cfg.check_frames, fps=camera_fps(window, nominal) if paced else nominal)
        if not chosen:
            raise _CallError(f"camera {self._camera.name!r}", LiveError("no frame in the ring for the check"))
        job = CheckJob(
            index=self._checks + 1,
            run_gen=gen,
            task=self._task,
            mode=cfg.mode,
            frames=[f.image for f in chosen],
            frame_steps=[self._frame_steps.step_of(f.index, self._steps) for f in chosen],
            robot_frame=self._robot_frame(),
            step=self._steps,
            ring_index=chosen[-1].index,
            started=started,
        )
        with self._cond:
            if not self._worker.submit(job):
                return
            self._checks += 1
            self._since_check = 0
            self._deferred_logged = False
            self._emit(
                "check_submitted", check=job.index, robot_frame=job.robot_frame, step=job.step, frames=len(job.frames)
            )
            if self._state == S.RUNNING:
                self._transition(S.CHECKING, f"check {job.index}")

    def _drain(self, gen: int) -> bool:
        """Handle queued check results between two actions; True when the policy must not go on (a proposal)."""
        while self._results:
            res = self._results.popleft()
            if res.error is not None:
                self._fail(gen, f"the diagnoser failed on check {res.job.index}: {res.error}")
                raise _Abort
            self._call("robot hold()", self.robot.hold)  # hold first, publish after: nothing moves in between
            with self._cond:
                if gen != self._gen or self._state not in POLICY_ACTING:
                    if self._state == S.PAUSED and gen == self._gen:
                        self._results.appendleft(res)  # published on resume
                    return True
                proposal = Proposal(
                    check=res.job.index,
                    robot_frame=res.job.robot_frame,
                    frames=res.job.frames,
                    diagnosis=res.diagnosis,
                    latency_s=res.latency_s,
                )
                d = res.diagnosis
                self._proposal, self._proposal_steps = proposal, list(res.job.frame_steps)
                self._proposals += 1
                self._interventions.append(Intervention(proposal, frame_steps=list(res.job.frame_steps)))
                self._bump()
                self._held_epoch = self._epoch
                self._emit(
                    "proposal",
                    check=proposal.check,
                    robot_frame=proposal.robot_frame,
                    step=self._steps,
                    latency_s=round(res.latency_s, 6),
                    keyframe=d.keyframe,
                    failure_type=d.failure_type,
                    low_level=d.low_level,
                    symbols=symbols_to_code(d.symbols),
                    raw_text_len=len(d.raw_text),
                )
                self._transition(S.AWAITING_REVIEW, f"check {proposal.check}: failed")
            if self.config.auto_accept:
                correction = correction_from_proposal(proposal, self.config.executor, "auto")
                try:
                    self._decide(correction, "auto")
                except ViFailbackError as exc:
                    with self._cond:
                        if self._state == S.AWAITING_REVIEW:
                            self._emit("decision", decision="auto_refused", check=proposal.check, reason=str(exc))
                            self._interventions[-1].decision = "auto_refused"
                            self._proposal = None
                            self._resume_policy("auto-accept refused")
            return True
        return False

    # ---- the control loop ---------------------------------------------------------------------------------------
    def _loop(self, gen: int) -> None:
        try:
            self._run(gen)
        except _Abort:
            pass
        except _CallError as exc:
            self._fail(gen, str(exc))
        except Exception as exc:
            self._fail(gen, f"the control loop failed: {type(exc).__name__}: {exc}")

    def _run(self, gen: int) -> None:
        while True:
            with self._cond:
                if gen != self._gen or self._state in TERMINAL:
                    return
                state, epoch = self._state, self._epoch
                idle_exec = state == S.EXECUTING and self._pending is None
                if state == S.AWAITING_REVIEW or idle_exec or (state == S.PAUSED and self._held_epoch == epoch):
                    self._cond.wait()
                    continue
            if state == S.PAUSED:
                self._call("robot hold()", self.robot.hold)
                self._held_epoch = epoch
            elif state == S.EXECUTING:
                self._execute(gen, epoch)
            elif not self._drain(gen):
                self._check_limit(gen)
                self._chunk(gen, epoch)

    def _fresh(self, gen: int, epoch: int) -> bool:
        return gen == self._gen and epoch == self._epoch and self._state in POLICY_ACTING

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        with self._watchdog.watch(what):
            try:
                return fn(*args)
            except Exception as exc:
                raise _CallError(what, exc) from exc

    def _chunk(self, gen: int, epoch: int) -> None:
        cfg = self.config
        obs = self._call("robot get_observation()", self.robot.get_observation)
        if not self._fresh(gen, epoch):
            return
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self._record_pose(self.robot.state_vector(obs))  # exact, at every chunk start
        pobs = policy_observation(
            self.robot, obs, self._task, image_map=cfg.image_map, size=cfg.image_size, chw=cfg.chw
        )
        reply = self._call("policy infer()", self.policy.infer, pobs)
        if not self._fresh(gen, epoch):
            return  # asked before a pause or a proposal: dropped, never replayed
        actions = np.asarray(reply.get("actions") if isinstance(reply, dict) else None)
        if actions.ndim != 2 or actions.shape[0] < 1:
            raise _CallError(
                "policy infer()", LiveError(f"'actions' must be [horizon, dim], got shape {actions.shape}")
            )
        for i in range(min(cfg.rows_per_chunk, actions.shape[0])):
            if cfg.fps is not None:
                self._pace(gen, epoch)
            with self._send_lock:
                if not self._fresh(gen, epoch):
                    return
                sent = self._call("robot send_chunk_step()", self.robot.send_chunk_step, reply, i)
                self._steps += 1
            if self._pose_names and isinstance(sent, dict):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self._record_pose(np.array([sent[k] for k in self._pose_names], dtype=np.float64))
            self._mark_frame()
            if self._drain(gen):
                return
            self._check_limit(gen)
        with self._cond:
            self._chunks += 1
            self._since_check += 1
        if cfg.monitor and self._since_check >= cfg.every and self._fresh(gen, epoch):
            self._submit_check(gen)
            if cfg.sync_checks:
                with self._cond:
                    while self._worker.busy and self._fresh(gen, epoch):
                        self._camera_ref = time.monotonic()  # waiting on purpose: no frames are due
                        self._cond.wait(0.01)
                    self._camera_ref = time.monotonic()
        if cfg.stop_when is not None and cfg.stop_when():
            self._finish(gen, "stop_when")

    def _pace(self, gen: int, epoch: int) -> None:
        """Wait for the next row's time: one period after the previous row's, or now when the loop runs late (after
        a slow inference) -- a late loop never sends a burst to catch up."""
        deadline = self._next_send = max(self._next_send + 1.0 / self.config.fps, time.monotonic())
        with self._cond:
            while self._fresh(gen, epoch) and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    def _check_limit(self, gen: int) -> None:
        if self.config.max_steps is not None and self._steps >= self.config.max_steps:
            self._finish(gen, "max_steps")

    def _finish(self, gen: int, reason: str) -> None:
        """The run is over (max_steps, stop_when): hold the robot, end in ``stopped`` with the reason."""
        self._call("robot hold()", self.robot.hold)
        with self._cond:
            if gen == self._gen and self._state not in TERMINAL:
                self._bump()
                self._reason = reason
                self._proposal, self._pending = None, None
                self._transition(S.STOPPED, reason)
        raise _Abort

    def _execute(self, gen: int, epoch: int) -> None:
        with self._cond:
            correction, frame_steps = self._pending, list(self._proposal_steps)
            self._pending = None
            if correction is None or not (gen == self._gen and epoch == self._epoch and self._state == S.EXECUTING):
                return
            stop_event = self._exec_stop = threading.Event()
        executor = self.executors[correction.executor]

        def should_stop() -> bool:
            return gen != self._gen or epoch != self._epoch or self._state != S.EXECUTING

        ctx = ExecutionContext(
            robot=self.robot,
            policy=_WatchedPolicy(self.policy, self._watchdog),
            task_prompt=self._task,
            rows_per_chunk=self.config.rows_per_chunk,
            should_stop=should_stop,
            pose_history=self._poses_for(frame_steps),
            frame_steps=frame_steps,
            image_key=self.config.camera,
            stop_event=stop_event,
        )
        started = time.monotonic()
        try:
            report = executor.execute(ctx, correction)
        except Exception as exc:
            if should_stop():
                self._emit("execution", executor=correction.executor, interrupted=True, error=str(exc))
                if self._interventions:
                    self._interventions[-1].interrupted = True
                return
            raise _CallError(f"executor {correction.executor!r}", exc) from exc
        finally:
            self._exec_stop = None
        self._steps += int(report.steps)
        self._mark_frame()
        interrupted = should_stop()
        with self._cond:
            self._executions += 1
            if self._interventions:
                self._interventions[-1].report, self._interventions[-1].interrupted = report, interrupted
            self._emit(
                "execution",
                executor=report.executor,
                steps=report.steps,
                detail=report.detail,
                duration_s=round(time.monotonic() - started, 6),
                interrupted=interrupted,
                robot_frame=self._robot_frame(),
            )
            self._proposal = None
            if not interrupted:
                self._resume_policy("correction executed")
        self._check_limit(gen)

    # ---- bookkeeping --------------------------------------------------------------------------------------------
    def _record_pose(self, pose: np.ndarray) -> None:
        """The robot's pose after ``self._steps`` actions: observed at each chunk start, and in between the action
        sent (the commanded pose) when the robot's actions are its state values (end-effector or joint targets)."""
        self._pose_history[self._steps] = pose
        if len(self._pose_history) > 4096:
            for k in sorted(self._pose_history)[:2048]:
                del self._pose_history[k]

    def _poses_for(self, frame_steps: list[int]) -> dict[int, np.ndarray]:
        """A copy of the pose history in which every proposal frame's step has an entry (the nearest earlier one
        stands in for a step without its own, e.g. one sent by an executor)."""
        poses = dict(self._pose_history)
        keys = sorted(poses)
        for step in frame_steps:
            if step not in poses and keys:
                i = bisect.bisect_right(keys, step) - 1
                poses[step] = poses[keys[max(i, 0)]]
        return poses

    def _mark_frame(self) -> None:
        if self._camera is not None and (latest := self._camera.ring.latest()) is not None:
            self._frame_steps.mark(latest.index, self._steps)

    def _robot_frame(self) -> int:
        frame = getattr(self.robot, "frame", None)
        if isinstance(frame, int | np.integer) and not isinstance(frame, bool):
            return int(frame)
        return self._steps
