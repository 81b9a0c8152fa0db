"""Per-session data kept in ``gr.State``: plain dataclasses, no model, store or device handles.

:class:`RunState` is one diagnosed clip (frames in model order, where it came from, the model's raw answer) plus
the id of the stored record once the human decided, so a second accept re-edits that record instead of adding a
duplicate. :class:`PickedSource` remembers whether the clip came from an example, a dataset episode or an upload.
The symbol editor's state is :class:`vifailback_demo.editing.EditorState`, kept in its own ``gr.State``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PickedSource:
    kind: str = "upload"  # upload | example | dataset_episode | queue (a clip of the review queue)
    ref: str = ""
    queue_item: int | None = None  # kind "queue": the queue table's row


@dataclass
class RunState:
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    timestamps_s: list[float] = field(default_factory=list)
    task: str = ""
    mode: str = "avoidance"
    source_kind: str = "upload"
    source_ref: str = ""
    raw_text: str = ""
    diagnosis: dict[str, Any] | None = None
    subtasks: list[str] = field(default_factory=list)
    #: The stored record this run became (set by a decision, or when a stored record is reopened).
    record_id: int | None = None
    decision: str | None = None
    #: The review queue's row for this clip (a decision marks it done and the next clip loads).
    queue_item: int | None = None

    @property
    def ready(self) -> bool:
        return bool(self.frames)

    def frame(self, keyframe: int | None) -> np.ndarray:
        """The frame the editor draws on: the 1-based keyframe, clamped; the first frame when none is set."""
        k = clamp_keyframe(keyframe, len(self.frames)) or 1
        return self.frames[k - 1]


def clamp_keyframe(value: Any, count: int) -> int | None:
    """A keyframe from a UI number (float/None/str) as an int in 1..count, or None."""
    if value is None or value == "" or count < 1:
        return None
    try:
        k = int(round(float(value)))
    except (TypeError, ValueError, OverflowError):  # None-like, text, NaN, infinity, a 400-digit number
        return None
    return min(max(k, 1), count)
