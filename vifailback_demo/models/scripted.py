"""Deterministic backends that answer with given text: the offline demo's model and the tests' fake
(:class:`ScriptedBackend`), and the bench's reference answerer (:class:`ReferenceBackend`).

Like LeRobot's fakes they ship in the package. The scripted backend streams its answer in small pieces (optionally
with a delay) so the app's streaming view works without a model, and it records every call for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.symbols import Crosshair, GripperState, StraightArrow
from vifailback_demo.models.backend import GenerationResult, GenerationSettings, TextCallback, check_frames

AnswerSource = str | Sequence[str] | Callable[[Sequence[np.ndarray], str], str]


def demo_answer(num_frames: int, mode: str = "avoidance") -> str:
    """A plausible official-format failure answer for a clip of ``num_frames`` images (keyframe inside it)."""
    keyframe = max(1, min(num_frames, round(num_frames * 0.6)))
    return format_cot_answer(
        success=False,
        keyframe=keyframe,
        failure_type="gripper 6d-pose",
        low_level="Move the right gripper to the right significantly and backward slightly, and grasp open.",
        symbols=[
            StraightArrow(start=(602, 379), end=(689, 525), colors=("green", "red")),
            GripperState(pos=(560, 330), text="ON"),
            Crosshair(pos=(720, 560)),
        ],
        mode=mode,
    )


@dataclass
class ScriptedCall:
    num_frames: int
    prompt: str
    frame_shapes: list[tuple[int, ...]]


@dataclass
class ScriptedBackend:
    """Answers from ``answers``: one text, a list used in turn (the last one repeats), or a function of the call.

    With no answers it produces :func:`demo_answer` for the number of frames it was given.
    """

    answers: AnswerSource | None = None
    name: str = "scripted"
    chunk_chars: int = 12
    delay_s: float = 0.0
    calls: list[ScriptedCall] = field(default_factory=list)
    mode: str = "avoidance"

    def _answer(self, frames: Sequence[np.ndarray], prompt: str) -> str:
        if self.answers is None:
            return demo_answer(len(frames), self.mode)
        if isinstance(self.answers, str):
            return self.answers
        if callable(self.answers):
            return self.answers(frames, prompt)
        index = min(len(self.calls) - 1, len(self.answers) - 1)
        return self.answers[index]

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        check_frames(frames)
        self.calls.append(ScriptedCall(len(frames), prompt, [f.shape for f in frames]))
        start = time.perf_counter()
        text = self._answer(frames, prompt)
        if settings is not None:
            # Mimic a token limit on characters so truncation paths can be exercised without a model.
            text = text[: settings.max_new_tokens * 4]
        first = None
        if on_text is not None:
            for i in range(0, len(text), max(1, self.chunk_chars)):
                if self.delay_s:
                    time.sleep(self.delay_s)
                on_text(text[i : i + self.chunk_chars])
                first = first if first is not None else time.perf_counter() - start
        timings = {"generate": time.perf_counter() - start}
        if first is not None:
            timings["first_token"] = first
        return GenerationResult(text=text, new_tokens=None, timings=timings, model=self.name)


@dataclass(frozen=True)
class ReferenceBackend:
    """Answers each prompt with the reply ``answers`` holds for it (an unknown prompt gets empty text).

    ``python -m eval run --backend reference`` answers the bench with its own references: a scorer sanity check
    that should score 100%. Unlike :class:`ScriptedBackend` it returns the reply whole (no token limit), needs no
    frames and records nothing, so any number of threads may call it.
    """

    answers: Mapping[str, str]
    name: str = "reference"

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        text = self.answers.get(prompt, "")
        if on_text is not None and text:
            on_text(text)
        return GenerationResult(text=text, model=self.name)
