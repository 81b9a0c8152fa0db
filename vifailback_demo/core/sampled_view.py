"""A VQA item as the app would ask it: over the frames its official sampling takes from the episode's video.

The official VQA image list of a failed episode is the frames 0, 25, 50, ... and the last, *plus* the avoid and
correct keyframes inserted in order (``vqa_frame_names``). The app (and any deployment) samples a video by the same
rule but cannot know the keyframes, so it sees the list without them. A model trained only on the official lists
can read the outcome from the image count alone (a failed episode has two more images than its grid): the bundled
tiny model calls most failed example videos successful in the app. This module rewrites an item to the app's view:

* the images: the inserted keyframes dropped (a keyframe that falls on the grid or is the last frame stays: it is
  the same picture as the plain frame it replaced);
* image numbers in the text: the avoid keyframe becomes the last kept frame at or before it (the robot's state
  before the failure act), the correct keyframe the first kept frame at or after it (the failure visible), in the
  Lite low-level prompts ("image number K") and the chain-of-thought answers ("image number K", "keyframe": "K");
* keyframe localisation questions (whose options are image numbers) have no such view: ``None``.

Symbols in a rewritten chain of thought keep their pixels, drawn for the true keyframe; on the nearby kept frame
they are approximate (the symbols metric compares types and arrow colours, not positions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from vifailback_demo.core.dataset import FRAME_STRIDE, parse_frame_name
from vifailback_demo.core.prompts import (
    TAG_COT_AVOIDANCE,
    TAG_COT_CORRECTION,
    TAG_KEYFRAME,
    TAG_LOWLEVEL_AVOIDANCE,
    TAG_LOWLEVEL_CORRECTION,
)

#: Which way a keyframe moves when it is not among the sampled frames: back for avoidance, on for correction.
_DIRECTION = {
    TAG_LOWLEVEL_AVOIDANCE: "back",
    TAG_COT_AVOIDANCE: "back",
    TAG_LOWLEVEL_CORRECTION: "on",
    TAG_COT_CORRECTION: "on",
}
_IMAGE_NUMBER = re.compile(r"(image number\s+)(\d+)", re.I)
_ANSWER_KEYFRAME = re.compile(r'("keyframe"\s*:\s*"?)(\d+)', re.I)


def _frame_indices(images: Sequence[str]) -> list[int]:
    return [parse_frame_name(PurePosixPath(str(p)).name)[0] for p in images]


def sampled_positions(images: Sequence[str]) -> list[int]:
    """0-based positions of ``images`` (an official VQA list) that the app's sampling of the video would take."""
    return _kept(_frame_indices(images))


def _kept(indices: list[int]) -> list[int]:
    """Positions of the grid frames and the last one, each frame index once (two keyframe files of one frame)."""
    last = max(indices, default=0)
    kept, seen = [], set()
    for pos, index in enumerate(indices):
        if (index % FRAME_STRIDE == 0 or index == last) and index not in seen:
            kept.append(pos)
            seen.add(index)
    return kept


def _remap(position: int, indices: list[int], kept: list[int], direction: str) -> int:
    """1-based ``position`` in the official list -> 1-based position among the kept frames."""
    if not 1 <= position <= len(indices):
        return position  # out of range in the reference itself: leave it for the scorer to judge
    frame = indices[position - 1]
    kept_frames = [indices[k] for k in kept]
    if direction == "back":
        return max(1, sum(f <= frame for f in kept_frames))
    after = [n for n, f in enumerate(kept_frames, start=1) if f >= frame]
    return after[0] if after else len(kept_frames)


def sampled_view(
    tag: str | None, images: Sequence[str], prompt: str, response: str
) -> tuple[list[str], str, str] | None:
    """(images, prompt, response) as the app would ask the item, or ``None`` for keyframe localisation.

    Items whose list has no inserted keyframe (successes) come back unchanged."""
    indices = _frame_indices(images)
    kept = _kept(indices)
    if len(kept) == len(images):
        return list(images), prompt, response
    if tag == TAG_KEYFRAME:
        return None
    direction = _DIRECTION.get(tag or "")
    if direction is not None:

        def sub(m: re.Match) -> str:
            return m.group(1) + str(_remap(int(m.group(2)), indices, kept, direction))

        prompt = _IMAGE_NUMBER.sub(sub, prompt)
        response = _ANSWER_KEYFRAME.sub(sub, _IMAGE_NUMBER.sub(sub, response))
    return [images[k] for k in kept], prompt, response
