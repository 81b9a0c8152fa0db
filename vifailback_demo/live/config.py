"""Settings of a live run, the state groups, the supervisor's error, and a proposal turned into a correction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from vifailback_demo.core.prompts import MODES
from vifailback_demo.errors import LiveError
from vifailback_demo.live.base import Correction, ExecutionReport, LiveState, Proposal

S = LiveState
#: The robot is being driven: by the policy (running, checking) or by an executor.
ACTING = (S.RUNNING, S.CHECKING, S.EXECUTING)
POLICY_ACTING = (S.RUNNING, S.CHECKING)
#: A run is in progress (start() is refused; stop() ends it).
ACTIVE = (*ACTING, S.AWAITING_REVIEW, S.PAUSED)
TERMINAL = (S.STOPPED, S.ERROR)


@dataclass
class SupervisorConfig:
    every: int = 6  # check every K policy chunks (the paper: 6)
    rows_per_chunk: int = 25  # actions executed per policy call (openpi clients execute 10-25 of 50)
    check_frames: int | None = 8  # frames sampled from the window for a check; None: the official 1 per second
    check_seconds: float | None = None  # window length; None: the last ``every`` chunks
    mode: str = "correction"  # the prompt's mode: "correction" or "avoidance"
    watchdog_s: float = 5.0  # policy / robot / camera silence -> hold + error
    auto_accept: bool = False  # experiments only: the proposal is executed as it is
    max_steps: int | None = None  # end the run after this many robot actions (policy rows + executor steps)
    fps: float | None = 25.0  # pacing of the rows; None: as fast as possible (the simulated experiments)
    executor: str = "vsf"  # which executor auto-accept uses
    camera: str = "head"  # the camera the model watches
    monitor: bool = True  # False: no checks at all (the unsupervised arm, the benchmark's baseline)
    #: Experiments: the loop waits for each check (the robot sends nothing meanwhile), so an unpaced simulated run
    #: gives the same result on any machine; a live robot keeps acting during a check (False).
    sync_checks: bool = False
    image_map: Mapping[str, str] | None = None  # policy_observation options (robot camera -> policy image key)
    image_size: int | tuple[int, int] | None = None
    chw: bool = False
    #: Experiments: called by the loop after every chunk; True ends the run (e.g. ``lambda: robot.success``).
    stop_when: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        if self.every < 1 or self.rows_per_chunk < 1:
            raise LiveError(f"every and rows_per_chunk must be >= 1, got {self.every} and {self.rows_per_chunk}")
        if self.check_frames is not None and not 1 <= self.check_frames <= 64:
            raise LiveError(f"check_frames must be 1-64 (or None for one per second), got {self.check_frames}")
        if self.check_seconds is not None and not self.check_seconds > 0:
            raise LiveError(f"check_seconds must be > 0, got {self.check_seconds}")
        if self.mode not in MODES:
            raise LiveError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if not self.watchdog_s > 0:
            raise LiveError(f"watchdog_s must be > 0, got {self.watchdog_s}")
        if self.max_steps is not None and self.max_steps < 1:
            raise LiveError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.fps is not None and not self.fps > 0:
            raise LiveError(f"fps must be > 0 (or None for unpaced), got {self.fps}")
        if self.fps is not None and 1.0 / self.fps >= self.watchdog_s:
            raise LiveError(f"one action every {1 / self.fps:g} s would trip the {self.watchdog_s:g} s watchdog")

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_when"] = self.stop_when is not None
        return d


@dataclass
class Intervention:
    """One proposal of a run and what became of it (``Supervisor.interventions``): what a correction record needs."""

    proposal: Proposal
    #: "accept" | "auto" | "reject" | "auto_refused" | "" (no decision: the run stopped or failed first)
    decision: str = ""
    correction: Correction | None = None  # the human's final version (or the proposal itself, auto-accepted)
    reviewer: str = ""
    report: ExecutionReport | None = None  # the executor's report once it returned
    interrupted: bool = False  # the execution was cut short by pause, stop or an error
    frame_steps: list[int] = field(default_factory=list)  # control step of each proposal frame


def correction_from_proposal(proposal: Proposal, executor: str = "vsf", reviewer: str = "auto") -> Correction:
    """The proposal as a correction, unedited (what auto-accept executes and what the UI pre-fills)."""
    d = proposal.diagnosis
    n = len(proposal.frames)
    keyframe = d.keyframe if d.keyframe is not None and 1 <= d.keyframe <= n else n
    return Correction(
        low_level=d.low_level or "",
        symbols=list(d.symbols),
        keyframe=keyframe,
        keyframe_image=proposal.frames[keyframe - 1],
        failure_type=d.failure_type,
        executor=executor,
        reviewer=reviewer,
    )
