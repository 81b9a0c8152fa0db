"""The result of one diagnosis: every parsed field, the raw text, the frames used, timings and the keyframe image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vifailback_demo.core.answer import parse_schema
from vifailback_demo.core.symbols import Symbol

#: ``status`` values: the model said the task succeeded, said it failed, or its answer could not be read.
STATUSES: tuple[str, ...] = ("successful", "failed", "unparseable")


@dataclass
class Diagnosis:
    task: str
    mode: str
    model: str
    status: str
    success: bool | None
    keyframe: int | None
    failure_type: str | None
    low_level: str | None
    symbols: list[Symbol]
    problems: list[str]
    raw_text: str
    #: What the model was shown (see ``SampledFrames.describe``), without pixels.
    frames: dict[str, Any]
    #: Seconds: sampling, generation, parsing, rendering, total (+ backend detail such as first_token).
    timings: dict[str, float]
    prompt: str = ""
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    #: The keyframe with the symbols drawn (RGB uint8), or None for a success / unusable answer.
    keyframe_image: np.ndarray | None = field(default=None, repr=False)
    #: The keyframe as the model saw it, before drawing.
    keyframe_frame: np.ndarray | None = field(default=None, repr=False)

    @property
    def parseable(self) -> bool:
        return self.status != "unparseable"

    def to_dict(self) -> dict[str, Any]:
        """``diagnosis.json``: the parse schema first (``vifailback parse``), then everything else."""
        return {
            **parse_schema(self.success, self.keyframe, self.failure_type, self.low_level, self.symbols, self.problems),
            "status": self.status,
            "parseable": self.parseable,
            "task": self.task,
            "mode": self.mode,
            "model": self.model,
            "frames": self.frames,
            "raw_text": self.raw_text,
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "tokens": {"prompt": self.prompt_tokens, "new": self.new_tokens},
            "keyframe_image": None,
        }
