"""Frame ablations: the same questions over another episode's frames (does a model read them?), or over the
frames the app would sample (does it need the dataset's inserted keyframes?).

Each episode's frames are swapped for those of another episode with the same number of frames (a deterministic
derangement within each group of equal length), so the text, the number of images and every reference stay as
they were and only the pixels change. A model whose scores do not drop answers from the text and the frame count
alone.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

from eval.bench import BenchItem
from vifailback_demo.core.sampled_view import sampled_view


def shuffle_frames(items: list[BenchItem], seed: int = 0) -> tuple[list[BenchItem], int]:
    """``items`` with each episode's frames from another episode of equal length, and how many kept their own
    (an episode whose length no other episode shares cannot be swapped)."""
    groups: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    for frames in sorted({it.images for it in items}):
        groups[len(frames)].append(frames)
    rng = random.Random(seed)
    swap: dict[tuple[str, ...], tuple[str, ...]] = {}
    for episodes in groups.values():
        rng.shuffle(episodes)
        for i, frames in enumerate(episodes):  # each takes the next one's frames: nobody keeps its own when >= 2
            swap[frames] = episodes[(i + 1) % len(episodes)]
    out = [replace(it, images=swap[it.images]) for it in items]
    kept = sum(a.images == b.images for a, b in zip(items, out))
    return out, kept


def sampled_frames(items: list[BenchItem]) -> tuple[list[BenchItem], int]:
    """``items`` asked over the frames the app's official sampling takes (``core.sampled_view``): the inserted
    keyframes dropped and image numbers in the prompts and references moved to the kept frames; keyframe
    localisation items, which have no such view, are left out. Returns the items and how many were left out."""
    out = []
    for it in items:
        view = sampled_view(it.tag, it.images, it.prompt, it.reference)
        if view is not None:
            images, prompt, reference = view
            out.append(replace(it, images=tuple(images), prompt=prompt, reference=reference))
    return out, len(items) - len(out)
