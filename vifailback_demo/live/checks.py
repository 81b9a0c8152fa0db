"""The monitor's side of the live loop: which recent frames a check reads, and the one thread the model runs on.

A check reads the head camera's ring buffer: the frames of the last ``every`` chunks (or of ``check_seconds``),
sampled like the app samples a video (``video/sampling.py``): ``check_frames`` evenly spaced frames with the
first and last included, or, with ``check_frames=None``, the official rule (one frame per second plus the last).
Frames are placed by their index at the camera's rate (measured from the ring when the loop runs in real time,
the robot's nominal rate when it runs unpaced), never by raw timestamps, so a pause or a slow machine does not
bunch the picks and an unpaced simulated run is sampled the same way on any machine.

:class:`CheckWorker` owns a single thread that calls ``Diagnoser.diagnose`` so the control loop never waits for
the model. It takes one job at a time: ``submit`` returns False while a check is still running (the supervisor then
skips that check; see ``supervisor.py``).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.robot.camera import Frame
from vifailback_demo.video.sampling import DEFAULT_MAX_FRAMES, SamplingSpec, nearest_indices, plan_timestamps

log = logging.getLogger(__name__)

#: The dataset's frame rate; the nominal rate of a robot that does not say its own (``robot.fps``).
NOMINAL_FPS = 25.0


def camera_fps(frames: Sequence[Frame], default: float = NOMINAL_FPS) -> float:
    """The camera's frame rate from the median interval between its frames (robust to a pause), else ``default``."""
    gaps = [b.t - a.t for a, b in itertools.pairwise(frames) if b.index == a.index + 1 and b.t > a.t]
    if len(gaps) < 2:
        return default
    return 1.0 / float(np.median(gaps))


def sample_window(frames: Sequence[Frame], count: int | None, *, fps: float = NOMINAL_FPS) -> list[Frame]:
    """Pick the frames a check shows the model, oldest first (never more than ``count``; each frame once).

    Frames are placed by index at ``fps``, not by their timestamps: a pause (the simulated camera only delivers
    a frame per action) or a slow machine would otherwise bunch the picks on one side of the gap.
    """
    if not frames:
        return []
    first = frames[0]
    times = [(f.index - first.index) / fps for f in frames]
    if count is None:
        spec = SamplingSpec("official")
    else:
        spec = SamplingSpec("even", num_frames=count, max_frames=max(count, DEFAULT_MAX_FRAMES))
    chosen = nearest_indices(times, plan_timestamps(spec, times[0], times[-1]))
    return [frames[i] for i in chosen]


class FrameSteps:
    """Which control step each camera frame belongs to: marks of (newest ring index, steps sent) after each action.

    A frame belongs to the first mark whose ring index reaches it, so frame ``f`` pushed by action ``k`` maps to
    step ``k`` (and the frame present before the first action to step 0).
    """

    def __init__(self, maxlen: int = 4096) -> None:
        self._indices: list[int] = []
        self._steps: list[int] = []
        self._maxlen = maxlen
        self._lock = threading.Lock()

    def mark(self, ring_index: int, step: int) -> None:
        with self._lock:
            if self._indices and ring_index <= self._indices[-1]:
                return  # no new frame since the last mark: the earlier mark already covers it
            self._indices.append(ring_index)
            self._steps.append(step)
            if len(self._indices) > self._maxlen:
                drop = len(self._indices) - self._maxlen // 2
                del self._indices[:drop], self._steps[:drop]

    def step_of(self, ring_index: int, default: int) -> int:
        with self._lock:
            i = bisect.bisect_left(self._indices, ring_index)
            return self._steps[i] if i < len(self._steps) else default

    def clear(self) -> None:
        with self._lock:
            self._indices.clear()
            self._steps.clear()


@dataclass
class CheckJob:
    index: int  # 1-based check number in the run
    run_gen: int  # which start() it belongs to (a result from an earlier run is discarded)
    task: str
    mode: str
    frames: list[np.ndarray] = field(repr=False)
    frame_steps: list[int]  # control step of each frame
    robot_frame: int  # the robot's frame counter (or the steps sent) when the frames were taken
    step: int  # actions sent by the supervisor when the frames were taken
    ring_index: int  # ring index of the newest frame in the window
    started: float  # time.monotonic() before the window was read (latency counts from here)


@dataclass
class CheckResult:
    job: CheckJob
    diagnosis: Diagnosis | None
    error: str | None
    latency_s: float


class CheckWorker:
    """One thread, one check at a time; ``on_result(result)`` runs on that thread when a check ends."""

    def __init__(self, diagnoser, on_result: Callable[[CheckResult], None]) -> None:
        self.diagnoser = diagnoser
        self._on_result = on_result
        self._jobs: queue.Queue[CheckJob | None] = queue.Queue()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-diagnoser", daemon=True)
                self._thread.start()

    def submit(self, job: CheckJob) -> bool:
        """Queue ``job`` unless a check is running (returns False then: the caller skips this check)."""
        with self._lock:
            if self._busy.is_set():
                return False
            self._busy.set()
        self.start()
        self._jobs.put(job)
        return True

    def close(self, wait_s: float = 0.0) -> bool:
        """End the thread after the check in progress (if any), waiting up to ``wait_s`` for it; True when the
        thread has ended. Waiting matters before the process exits (a model thread killed inside a native call
        aborts the interpreter) and between experiment episodes (a leftover check would take the next one's CPU)."""
        self._jobs.put(None)
        thread = self._thread
        if thread is None:
            return True
        if wait_s > 0:
            thread.join(wait_s)
        return not thread.is_alive()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            diagnosis, error = None, None
            try:
                diagnosis = self.diagnoser.diagnose(job.frames, job.task, job.mode)
            except Exception as exc:  # reported as the check's outcome; the thread goes on
                error = f"{type(exc).__name__}: {exc}" if not str(exc).strip() else str(exc)
            result = CheckResult(job, diagnosis, error, time.monotonic() - job.started)
            try:
                self._on_result(result)
            except Exception:
                log.exception("the live check callback failed")
            finally:
                self._busy.clear()  # after the callback: the result is queued before another check may start
