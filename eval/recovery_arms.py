"""The two arms of ``python -m eval recovery`` for one simulated episode: the built-in policy alone, and the same
seed under the live supervisor (auto-accept, the diagnoser, the executor), with the frame budget of the config.

Both arms use :class:`LimitedSimRobot`, which notes the exact frame the task was first done whatever thread steps it.
The supervised arm watches the diagnoser (:class:`WatchedBackend`: every check's newest robot frame and whether it
said "Failed") and the executor (:class:`WatchedExecutor`: every execution), so the scores do not depend on the
supervisor's log format. :class:`Factories` builds the backend, executor and supervisor (tests may swap them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vifailback_demo.core.answer import parse_answer
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.oracle import ring_frames
from vifailback_demo.models.backend import GenerationResult, VLMBackend
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.robot.sim_robot import SimRobot

#: Settings that must match to resume a run directory (else two experiments' episodes would mix).
IDENTITY = (
    "seed",
    "failure_rate",
    "diagnoser",
    "base_url",
    "executor",
    "every",
    "max_frames",
    "rows_per_chunk",
    "check_frames",
    "width",
    "height",
    "fps",
    "reaction_frames",
    "vsf_chunks",
)
_END_STATES = ("stopped", "error")
#: Why a supervisor may stop by itself without anything being wrong (its frame budget, or the task done).
_NORMAL_ENDS = ("max_steps", "stop_when")


@dataclass
class RecoveryConfig:
    episodes: int = 100
    seed: int = 0
    failure_rate: float = 1.0
    diagnoser: str = "oracle"
    executor: str = "vsf"
    every: int = 6
    max_frames: int = 900
    rows_per_chunk: int = 25
    check_frames: int = 8
    width: int = 224
    height: int = 224
    fps: float | None = None
    reaction_frames: int = 0
    vsf_chunks: int = 2
    base_url: str | None = None
    episode_timeout_s: float = 600.0

    def validate(self) -> None:
        """One-line errors for settings no episode could run with (checked before anything is written)."""
        if min(self.episodes, self.every, self.max_frames, self.rows_per_chunk, self.check_frames) < 1:
            raise ViFailbackError("--episodes, --every, --max-frames, --rows-per-chunk and --check-frames must be >= 1")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ViFailbackError(f"--failure-rate must be between 0 and 1, got {self.failure_rate}")
        if self.executor not in ("vsf", "pmc"):
            raise ViFailbackError(f"--executor: expected 'vsf' or 'pmc', got {self.executor!r}")
        if self.fps is not None and not self.fps > 0:
            raise ViFailbackError(f"--fps must be > 0, got {self.fps}")

    def identity(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in IDENTITY}


class LimitedSimRobot(SimRobot):
    """The simulated robot noting the first frame at which the task was done (exact, whatever thread steps it).

    ``render=False`` (the unsupervised arm: nobody looks at the camera, and the built-in policy reads the exact
    state, not the image) keeps showing the first frame, which halves the run time.
    """

    def __init__(self, *args: Any, render: bool = True, **kw: Any) -> None:
        self.success_frame: int | None = None
        self._render_frames = render
        super().__init__(*args, **kw)

    def _render(self) -> None:
        if self._render_frames or not hasattr(self, "_image"):
            super()._render()

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        sent = super()._send_action(action)
        if self.success_frame is None and self.success:  # under the robot's (re-entrant) lock: exact
            self.success_frame = self.frame
        return sent


@dataclass
class Check:
    frame: int  # robot frame of the newest image the diagnoser saw
    failed: bool  # the answer said "Failed"
    latency_s: float


class WatchedBackend:
    """A diagnoser backend whose every call is noted (frame seen, "Failed" or not); passes everything through."""

    def __init__(self, inner: VLMBackend, robot: SimRobot) -> None:
        self.inner, self.robot, self.name = inner, robot, inner.name
        self.checks: list[Check] = []

    def generate(self, frames: Sequence[np.ndarray], prompt: str, **kw: Any) -> GenerationResult:
        mapped, now = ring_frames(self.robot, frames)
        start = time.perf_counter()
        result = self.inner.generate(frames, prompt, **kw)
        seen = mapped[-1] if mapped and mapped[-1] is not None else now
        self.checks.append(Check(seen, parse_answer(result.text).success is False, time.perf_counter() - start))
        return result


@dataclass
class WatchedExecutor:
    """An executor whose executions are counted (robot frame at the start, actions sent)."""

    inner: Any
    robot: SimRobot
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def check(self, robot: Any, correction: Any) -> None:
        self.inner.check(robot, correction)

    def execute(self, ctx: Any, correction: Any) -> Any:
        start = self.robot.frame
        report = self.inner.execute(ctx, correction)
        self.runs.append({"frame": start, "steps": getattr(report, "steps", None), "command": correction.low_level})
        return report


# --- the two arms ------------------------------------------------------------------------------------------------


def make_policy(cfg: RecoveryConfig) -> SimPolicy:
    return SimPolicy(failure_rate=cfg.failure_rate, seed=cfg.seed)


def make_robot(cfg: RecoveryConfig, sim_seed: int, *, render: bool = True) -> LimitedSimRobot:
    return LimitedSimRobot(seed=sim_seed, width=cfg.width, height=cfg.height, render=render)


def run_unsupervised(cfg: RecoveryConfig, sim_seed: int) -> dict[str, Any]:
    policy = make_policy(cfg)
    with make_robot(cfg, sim_seed, render=False) as robot:
        while robot.frame < cfg.max_frames and robot.success_frame is None:
            reply = policy.infer(policy_observation(robot, robot.get_observation(), robot.instruction))
            for step in range(min(cfg.rows_per_chunk, cfg.max_frames - robot.frame)):
                robot.send_chunk_step(reply, step)
                if robot.success_frame is not None:
                    break
        return {"success": robot.success_frame is not None, "success_frame": robot.success_frame, "frames": robot.frame}


def default_executor(name: str, cfg: RecoveryConfig) -> Any:
    from vifailback_demo.live.executors import PMCExecutor, VSFExecutor  # written with the supervisor (issue 22)

    if name == "vsf":
        return VSFExecutor(chunks=cfg.vsf_chunks)
    if name == "pmc":
        return PMCExecutor()
    raise ViFailbackError(f"--executor: expected 'vsf' or 'pmc', got {name!r}")


def default_supervisor(robot: Any, policy: Any, diagnoser: Any, executors: dict[str, Any], cfg: RecoveryConfig):
    """The live supervisor, auto-accepting with ``cfg.executor``, ending at the frame budget or on success."""
    from vifailback_demo.live.supervisor import Supervisor, SupervisorConfig

    config = SupervisorConfig(
        every=cfg.every,
        rows_per_chunk=cfg.rows_per_chunk,
        check_frames=cfg.check_frames,
        mode="correction",
        auto_accept=True,
        executor=cfg.executor,
        max_steps=cfg.max_frames,
        fps=cfg.fps,
        stop_when=lambda: getattr(robot, "success_frame", None) is not None,
    )
    return Supervisor(robot, policy, diagnoser, executors, config)


@dataclass
class Factories:
    """What the supervised arm is built from (tests pass stand-ins)."""

    backend: Callable[[RecoveryConfig, SimRobot], VLMBackend]
    executor: Callable[[str, RecoveryConfig], Any] = default_executor
    supervisor: Callable[..., Any] = default_supervisor


def run_supervised(cfg: RecoveryConfig, sim_seed: int, factories: Factories) -> dict[str, Any]:
    from vifailback_demo.diagnosis.diagnoser import Diagnoser

    policy = make_policy(cfg)
    with make_robot(cfg, sim_seed) as robot:
        backend = WatchedBackend(factories.backend(cfg, robot), robot)
        executor = WatchedExecutor(factories.executor(cfg.executor, cfg), robot)
        supervisor = factories.supervisor(robot, policy, Diagnoser(backend), {cfg.executor: executor}, cfg)
        supervisor.start(robot.instruction)
        deadline, error = time.monotonic() + cfg.episode_timeout_s, None
        try:
            while robot.success_frame is None and robot.frame < cfg.max_frames:
                state = str(getattr(supervisor.state, "value", supervisor.state))
                if state in _END_STATES:
                    status = supervisor.status()
                    if state == "error" or status.get("reason") not in _NORMAL_ENDS:
                        error = f"supervisor {state}: {status.get('error') or status.get('reason')}"
                    break
                if time.monotonic() > deadline:
                    error = f"episode timed out after {cfg.episode_timeout_s:g} s at frame {robot.frame}"
                    break
                time.sleep(0.002)
        finally:
            supervisor.stop()
            supervisor.join(10.0)
            close = getattr(supervisor, "close", None)
            if close is not None:
                # Its watchdog and model threads end with the episode; a check still in the model is waited for,
                # so it takes no CPU from the next episode (and no model call is cut off when the process exits).
                close(wait_s=120.0)
        success = robot.success_frame is not None and robot.success_frame <= cfg.max_frames
        return {
            "success": success,
            "success_frame": robot.success_frame,
            "frames": robot.frame,
            "error": error,
            "checks": [asdict(c) for c in backend.checks],
            "executions": executor.runs,
        }
