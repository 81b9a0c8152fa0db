"""Small fakes for the live supervisor's tests: a robot that records every call, a policy, a gated model, an executor.

Each fake can be made to hang (on an Event the test releases) so the watchdog paths can be driven in bounded time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.symbols import StraightArrow
from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.live.base import Correction, ExecutionContext, ExecutionReport
from vifailback_demo.models.backend import GenerationResult, check_frames
from vifailback_demo.robot.base import Robot
from vifailback_demo.robot.camera import PushCamera

TASK = "Use the right arm to place the orange block into the bowl."
FAILED = format_cot_answer(
    success=False,
    keyframe=3,
    failure_type="gripper 6d-pose",
    low_level="Move the right gripper to the left significantly.",
    symbols=[StraightArrow(start=(500, 500), end=(400, 500), colors=("green",))],
    mode="correction",
)
SUCCESSFUL = format_cot_answer(success=True, mode="correction")
STATE = ("a", "b")


class FakeRobot(Robot):
    """Two numbers of state, a head camera fed one frame per action; ``calls`` records every robot call in order.

    ``hang_at``: the send with this 1-based number blocks until ``release`` is set. ``camera_until``: after that
    many sends no frame is pushed any more (a camera that stopped).
    """

    name = "fake"
    action_space = "ee"

    def __init__(self, *, hang_at: int | None = None, camera_until: int | None = None, hang_observe: bool = False):
        super().__init__()
        self.camera = PushCamera("head")
        self.calls: list[tuple[Any, ...]] = []
        self.sends = 0
        self.hang_at, self.camera_until, self.hang_observe = hang_at, camera_until, hang_observe
        self.release = threading.Event()
        self._connected = False
        self._calls_lock = threading.Lock()

    def record(self, *call: Any) -> None:
        with self._calls_lock:
            self.calls.append(call)

    def snapshot(self) -> list[tuple[Any, ...]]:
        with self._calls_lock:
            return list(self.calls)

    def sent_since(self, n: int) -> list[tuple[Any, ...]]:
        return [c for c in self.snapshot()[n:] if c[0] == "send"]

    @property
    def observation_features(self) -> dict[str, Any]:
        return {"a": float, "b": float, "head": (48, 64, 3)}

    @property
    def action_features(self) -> dict[str, Any]:
        return {"a": float, "b": float}

    @property
    def cameras(self):
        return {"head": self.camera}

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _frame(self) -> np.ndarray:
        return np.full((48, 64, 3), self.sends % 256, np.uint8)

    def _connect(self) -> None:
        self.record("connect")
        self._connected = True
        self.camera.connect()
        self.camera.push(self._frame())

    def _disconnect(self) -> None:
        self._connected = False
        self.camera.disconnect()

    def _get_observation(self) -> dict[str, Any]:
        self.record("observe")
        if self.hang_observe:
            self.release.wait()
        return {"a": float(self.sends), "b": 0.0, "head": self._frame()}

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        self.sends += 1
        self.record("send", action["a"], action["b"])
        if self.hang_at is not None and self.sends == self.hang_at:
            self.release.wait()
        if self.camera_until is None or self.sends <= self.camera_until:
            self.camera.push(self._frame())
        return action

    def _hold(self) -> None:
        self.record("hold")

    def _stop(self) -> None:
        self.record("stop")


class FakePolicy:
    """``actions`` [chunk, 2]: column a = the call number, column b = the row; ``hang_at`` blocks that call."""

    def __init__(self, chunk: int = 50, *, hang_at: int | None = None) -> None:
        self.chunk, self.hang_at = chunk, hang_at
        self.prompts: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.prompts)

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.prompts.append(obs["prompt"])
            n = len(self.prompts)
        if self.hang_at is not None and n == self.hang_at:
            self.release.wait()
        actions = np.stack([np.full(self.chunk, float(n)), np.arange(self.chunk, dtype=float)], axis=1)
        return {"actions": actions}


class GatedBackend:
    """A VLMBackend answering from ``answers`` (the last repeats); with ``gated``, each call waits for ``gate``."""

    name = "gated"

    def __init__(self, answers: list[str], *, gated: bool = False, fail: bool = False) -> None:
        self.answers, self.gated, self.fail = answers, gated, fail
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls: list[int] = []

    def generate(self, frames, prompt, *, settings=None, on_text=None) -> GenerationResult:
        check_frames(frames)
        self.calls.append(len(frames))
        self.started.set()
        if self.gated:
            self.gate.wait(10)
        if self.fail:
            raise ViFailbackError("the model server went away")
        text = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return GenerationResult(text=text, new_tokens=None, timings={"generate": 0.0}, model=self.name)


def diagnoser(answers: list[str], **kwargs: Any) -> tuple[Diagnoser, GatedBackend]:
    backend = GatedBackend(answers, **kwargs)
    return Diagnoser(backend), backend


class FakeExecutor:
    """Refuses a command containing "refuse" (or all); sends ``steps`` actions, or with ``block`` sends until told to stop."""

    def __init__(self, name: str = "vsf", steps: int = 3, *, block: bool = False, refuse_all: bool = False) -> None:
        self.name, self.steps, self.block, self.refuse_all = name, steps, block, refuse_all
        self.checked: list[Correction] = []
        self.executed: list[tuple[ExecutionContext, Correction]] = []
        self.running = threading.Event()

    def check(self, robot: Robot, correction: Correction) -> None:
        self.checked.append(correction)
        if self.refuse_all or "refuse" in correction.low_level:
            raise ViFailbackError(f"{self.name}: refused on purpose")

    def execute(self, ctx: ExecutionContext, correction: Correction) -> ExecutionReport:
        self.executed.append((ctx, correction))
        self.running.set()
        sent = 0
        deadline = time.monotonic() + 10
        while (self.block or sent < self.steps) and not ctx.should_stop() and time.monotonic() < deadline:
            ctx.robot.send_action([-1.0, float(sent)])  # a = -1 marks the executor's actions
            sent += 1
            if self.block:
                time.sleep(0.002)
        return ExecutionReport(self.name, sent, {"stopped": ctx.should_stop()})
