"""Frames + task + mode -> prompt -> backend -> parse -> :class:`Diagnosis` with the keyframe drawn.

The diagnoser owns no model: it takes any :class:`~vifailback_demo.models.backend.VLMBackend`. Input can be a video
file, a frame folder, already sampled frames, or a plain list of RGB arrays. The answer is parsed with the core
parser (never raises); a "Successful" answer has no keyframe; an unreadable answer keeps its raw text and says so.
Reasoning text can be watched while it is generated, through ``on_text`` or the :meth:`Diagnoser.stream` iterator.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.answer import ParsedAnswer, parse_answer
from vifailback_demo.core.answer_reasoning import reasoning_mismatches
from vifailback_demo.core.prompts import COT_TAGS, cot_prompt
from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.errors import VideoError
from vifailback_demo.models.backend import GenerationSettings, TextCallback, VLMBackend, stream_pieces
from vifailback_demo.video.sampling import SamplingSpec

Source = str | os.PathLike | Sequence[np.ndarray] | Any  # Any: a SampledFrames


def _as_sampled(source: Source, spec: SamplingSpec, max_side: int | None):
    """Read/sample the input into ``SampledFrames`` (video and PyAV imported only when a file is read)."""
    from vifailback_demo.video.reader import SampledFrames
    from vifailback_demo.video.sources import read_frames

    if isinstance(source, SampledFrames):
        return source
    if isinstance(source, str | os.PathLike):
        return read_frames(Path(source), spec, max_side=max_side)
    frames = list(source)
    if not frames:
        raise VideoError("no frames given; expected a video, a frame folder or a list of RGB images")
    return SampledFrames(
        frames=frames, timestamps_s=[float(i) for i in range(len(frames))], source="<frames>", kind="arrays"
    )


def _status(parsed: ParsedAnswer) -> str:
    if not parsed.parseable:
        return "unparseable"
    return "successful" if parsed.success else "failed"


class Diagnoser:
    """Runs diagnoses with one backend; safe to share (the backend serialises its own model use)."""

    def __init__(
        self,
        backend: VLMBackend,
        *,
        sampling: SamplingSpec | None = None,
        settings: GenerationSettings | None = None,
        max_side: int | None = None,
        renderer: Any = None,
    ) -> None:
        self.backend = backend
        self.sampling = sampling or SamplingSpec()
        self.settings = settings or GenerationSettings()
        self.max_side = max_side
        self._renderer = renderer

    @property
    def renderer(self):
        if self._renderer is None:
            from vifailback_demo.render import SymbolRenderer

            self._renderer = SymbolRenderer()
        return self._renderer

    def diagnose(
        self, source: Source, task: str, mode: str = "avoidance", *, on_text: TextCallback | None = None
    ) -> Diagnosis:
        """One diagnosis; ``on_text`` receives reasoning text as it is generated. Raises ViFailbackError subclasses
        for bad input or a failed backend; an odd answer is never an error (see ``status`` and ``problems``)."""
        prompt = cot_prompt(task, mode)  # validates task and mode before any decoding
        start = time.perf_counter()
        sampled = _as_sampled(source, self.sampling, self.max_side)
        t_sample = time.perf_counter()
        result = self.backend.generate(sampled.frames, prompt, settings=self.settings, on_text=on_text)
        t_generate = time.perf_counter()
        parsed = parse_answer(result.text)
        status = _status(parsed)
        problems = [*parsed.problems, *reasoning_mismatches(result.text, parsed=parsed)]
        keyframe, symbols = parsed.keyframe, list(parsed.symbols)
        if status == "successful" and (keyframe is not None or symbols):
            problems.append("the answer says 'Successful' but names a keyframe or symbols; they are ignored")
            keyframe, symbols = None, []
        if status == "unparseable":
            problems.append("the answer could not be read as a diagnosis; the raw text is kept")
        if keyframe is not None and not 1 <= keyframe <= len(sampled.frames):
            problems.append(f"keyframe {keyframe} is outside the {len(sampled.frames)} images given; nothing drawn")
        t_parse = time.perf_counter()
        keyframe_frame = keyframe_image = None
        if status == "failed" and keyframe is not None and 1 <= keyframe <= len(sampled.frames):
            keyframe_frame = sampled.frames[keyframe - 1]
            keyframe_image = self.renderer.render(keyframe_frame, symbols, normalized=True)
        t_render = time.perf_counter()
        timings = {
            "sampling": t_sample - start,
            "generation": t_generate - t_sample,
            "parsing": t_parse - t_generate,
            "rendering": t_render - t_parse,
            "total": t_render - start,
        }
        for name, value in result.timings.items():
            timings.setdefault(f"backend_{name}", value)
        return Diagnosis(
            task=task.strip(),
            mode=mode,
            model=result.model or getattr(self.backend, "name", ""),
            status=status,
            success=parsed.success,
            keyframe=keyframe,
            failure_type=parsed.failure_type,
            low_level=parsed.low_level,
            symbols=symbols,
            problems=problems,
            raw_text=result.text,
            frames={**sampled.describe(), "prompt_tag": COT_TAGS[mode]},
            timings=timings,
            prompt=prompt,
            prompt_tokens=result.prompt_tokens,
            new_tokens=result.new_tokens,
            keyframe_image=keyframe_image,
            keyframe_frame=keyframe_frame,
        )

    def stream(self, source: Source, task: str, mode: str = "avoidance") -> Iterator[str | Diagnosis]:
        """Yield text pieces while the model writes, then the :class:`Diagnosis` as the last item.

        Runs the diagnosis in a worker thread (the models' one streaming helper); its exception is re-raised here.
        """
        return stream_pieces(lambda on_text: self.diagnose(source, task, mode, on_text=on_text), thread_name="diagnose")
