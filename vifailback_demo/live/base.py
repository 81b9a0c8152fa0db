"""Shared types of live supervision: states, a proposal, the human's correction, and the executor interface.

The loop (``supervisor.py``) streams action chunks from a policy to a robot; every K chunks it hands the head
camera's recent frames to a :class:`~vifailback_demo.diagnosis.diagnoser.Diagnoser` (any ``VLMBackend``: the paper's
model, the bundled tiny model, or the simulator's oracle, which is a backend too) on the model's own thread. On
"Failed" the robot holds and a :class:`Proposal` waits for a human; nothing moves until a :class:`Correction` is
accepted (or an experiment auto-accepts), and then an :class:`Executor` carries it out: VSF (the policy follows the
keyframe with the symbols drawn on it and the command as its prompt) or PMC (the symbols become end-effector
targets for a motion controller).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from vifailback_demo.core.symbols import Symbol
from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.robot.base import Robot


class LiveState(StrEnum):
    IDLE = "idle"  # connected, not started
    RUNNING = "running"  # the policy acts
    CHECKING = "checking"  # the policy still acts while the diagnoser reads the recent frames
    AWAITING_REVIEW = "awaiting_review"  # robot held, a proposal waits for a human
    EXECUTING = "executing"  # an accepted correction is being carried out
    PAUSED = "paused"  # an operator paused: robot held, nothing sent
    STOPPED = "stopped"  # emergency stop (always wins); start() again to run
    ERROR = "error"  # a link failed or went silent (watchdog): robot held; the reason is in status()


@dataclass
class Proposal:
    """One check that said "Failed": what the model saw and said, waiting for a human decision."""

    check: int  # 1-based index of the check in this run
    robot_frame: int  # the robot's frame counter (or control steps) when the frames were taken
    frames: list[np.ndarray] = field(repr=False)  # what the model saw (RGB), oldest first
    diagnosis: Diagnosis = field(repr=False)
    latency_s: float = 0.0  # check latency: sampling + model + parsing


@dataclass
class Correction:
    """The human's final version of a proposal (or the proposal itself when auto-accepted)."""

    low_level: str  # the low-level command, e.g. "Move the right gripper to the left significantly"
    symbols: list[Symbol]  # normalised 0-1000 coordinates on ``keyframe_image``
    keyframe: int  # 1-based index into the proposal's frames
    keyframe_image: np.ndarray = field(repr=False)  # the frame the symbols refer to (RGB, no drawing)
    failure_type: str | None = None
    executor: str = "vsf"  # "vsf" | "pmc"
    reviewer: str = ""  # who accepted ("auto" when an experiment auto-accepts)


@dataclass
class ExecutionContext:
    """What an executor may use. ``should_stop()`` turns true on stop/pause: an executor checks it between steps."""

    robot: Robot
    policy: Any  # anything with infer(observation) -> {"actions": [horizon, dim]} (PolicyClient, SimPolicy, ...)
    task_prompt: str
    rows_per_chunk: int
    should_stop: Callable[[], bool]
    #: Robot state vectors by control step since the run started (rewind returns to the one at the keyframe).
    pose_history: dict[int, np.ndarray]
    #: The control step each proposal frame was taken at (proposal frame i -> step), for the keyframe's pose.
    frame_steps: list[int]
    image_key: str = "head"  # the camera whose frames the model saw
    stop_event: threading.Event | None = None


@dataclass
class ExecutionReport:
    executor: str
    steps: int  # robot actions sent
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. PMC targets, VSF chunks


class Executor(Protocol):
    name: str

    def check(self, robot: Robot, correction: Correction) -> None:
        """Raise a one-line ``ViFailbackError`` if this correction cannot be executed on this robot (before the
        human is told it was accepted); unsupported symbol combinations are refused here, never guessed."""
        ...

    def execute(self, ctx: ExecutionContext, correction: Correction) -> ExecutionReport:
        """Carry the correction out, checking ``ctx.should_stop()`` between robot actions."""
        ...
