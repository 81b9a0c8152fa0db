"""Which moments of a clip the model sees: sampling plans in seconds, never in frame indices.

Frame indices lie for variable-frame-rate clips and for containers whose frame count is only metadata, so every
rule here produces target *timestamps*; the reader then picks, for each target, the decoded frame whose
presentation time is nearest. Pure Python (no av, no numpy) so it can be tested and reused anywhere.

Rules:

* ``official``: the ViFailback rule, one frame every ``FRAME_STRIDE`` frames at the dataset's 25 fps (one per
  second), plus the last frame. A clip longer than the cap falls back to ``max_frames`` evenly spaced frames.
* ``even``: ``num_frames`` evenly spaced frames from the first to the last (both included), at most ``max_frames``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from vifailback_demo.core.dataset import FPS, FRAME_STRIDE

Rule = Literal["official", "even"]
RULES: tuple[str, ...] = ("official", "even")

#: The official period: 25 frames at 25 fps.
OFFICIAL_PERIOD_S = FRAME_STRIDE / FPS
#: Default cap on the number of images given to the model (the official 10-20 s episodes give 11-21 images).
DEFAULT_MAX_FRAMES = 32


@dataclass(frozen=True)
class SamplingSpec:
    """How to sample a clip: ``rule`` plus its numbers; validated on construction."""

    rule: Rule = "official"
    num_frames: int = 16
    max_frames: int = DEFAULT_MAX_FRAMES
    period_s: float = OFFICIAL_PERIOD_S

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"sampling rule: expected one of {list(RULES)}, got {self.rule!r}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.rule == "even" and not 1 <= self.num_frames <= self.max_frames:
            raise ValueError(f"num_frames must be 1-{self.max_frames} (the cap), got {self.num_frames}")
        if not self.period_s > 0:
            raise ValueError(f"period_s must be > 0, got {self.period_s}")


def even_timestamps(first: float, last: float, count: int) -> list[float]:
    """``count`` evenly spaced times from ``first`` to ``last`` inclusive (one time if the span is empty)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    if count == 1 or last == first:
        return [first]
    step = (last - first) / (count - 1)
    return [first + i * step for i in range(count - 1)] + [last]


def official_timestamps(first: float, last: float, period_s: float = OFFICIAL_PERIOD_S) -> list[float]:
    """``first, first + period, ...`` up to (not beyond) ``last``, plus ``last`` itself unless already there."""
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    # A tiny epsilon keeps 10.0 s in a 10.0 s clip despite float rounding of 0.04 s frame steps.
    count = math.floor((last - first) / period_s + 1e-6) + 1
    times = [first + k * period_s for k in range(count)]
    if last - times[-1] > 1e-6:
        times.append(last)
    return times


def plan_timestamps(spec: SamplingSpec, first: float, last: float) -> list[float]:
    """Target times for a clip whose frames run from ``first`` to ``last`` seconds (presentation times)."""
    if spec.rule == "even":
        return even_timestamps(first, last, spec.num_frames)
    times = official_timestamps(first, last, spec.period_s)
    if len(times) > spec.max_frames:
        return even_timestamps(first, last, spec.max_frames)
    return times


def nearest_indices(frame_times: Sequence[float], targets: Sequence[float]) -> list[int]:
    """For each target, the index of the frame with the nearest time (ties go to the earlier frame).

    ``frame_times`` must be sorted. Duplicates are removed while keeping order, so a short clip sampled with more
    targets than frames gives each frame once.
    """
    if not frame_times:
        return []
    import bisect

    chosen: list[int] = []
    for t in targets:
        i = bisect.bisect_left(frame_times, t)
        if i == 0:
            best = 0
        elif i == len(frame_times):
            best = len(frame_times) - 1
        else:
            best = i - 1 if t - frame_times[i - 1] <= frame_times[i] - t else i
        if not chosen or chosen[-1] != best:
            chosen.append(best)
    return chosen
