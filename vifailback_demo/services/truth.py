"""A ground-truth answer for a clip that has an annotation record (bundled examples, dataset episodes).

Used only by the scripted demo backend: without a real model the demo answers every clip with the same canned
text, which is useless on the bundled examples; with their annotation the scripted backend can answer with the
exact truth instead, so every failure type shows its real symbols. The keyframe (a frame index of the episode)
is mapped to the nearest sampled image, and pixel symbols are normalised with the annotation image's size.
"""

from __future__ import annotations

import os
from pathlib import Path

from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.dataset import FPS, AnnotationRecord, find_in_root, parse_frame_name
from vifailback_demo.core.symbols import symbols_to_normalized
from vifailback_demo.errors import ViFailbackError


def _image_size(root: Path, rel: str) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(find_in_root(root, rel)) as image:
            return image.size
    except (OSError, ViFailbackError):
        return None


def truth_answer(record: AnnotationRecord, root: str | os.PathLike, timestamps_s: list[float], mode: str) -> str | None:
    """The official-format CoT answer the annotation implies, or None when it cannot be built."""
    if not record.failed:
        return format_cot_answer(success=True)
    phase = record.avoidance if mode == "avoidance" else record.correction
    keyframe_rel = record.avoid_keyframe if mode == "avoidance" else record.correct_keyframe
    if not keyframe_rel or not phase.low_level or not record.failure_type or not timestamps_s:
        return None
    try:
        index, _ = parse_frame_name(keyframe_rel)
    except ViFailbackError:
        return None
    t = index / FPS
    position = min(range(len(timestamps_s)), key=lambda i: abs(timestamps_s[i] - t)) + 1
    size = _image_size(Path(root), keyframe_rel)
    if size is None:
        return None
    try:
        symbols = symbols_to_normalized(phase.symbols, *size)
        return format_cot_answer(
            success=False,
            keyframe=position,
            failure_type=record.failure_type,
            low_level=phase.low_level,
            symbols=symbols,
            mode=mode,
        )
    except (ValueError, ViFailbackError):
        return None
