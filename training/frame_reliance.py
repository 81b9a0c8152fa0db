"""Does a model use the frames? Its loss on VQA samples with their own frames against another episode's.

Each sample is scored twice with the training collator: with its own images, and with the images of another
sample that has the same number of images (the next one in file order within that group), text and answer unchanged.
A model that reads the frames has a clearly lower loss with its own; equal losses mean the answers come from the
text alone. Cheaper and less noisy than generating answers (``python -m eval run --frames shuffled``), so it can
follow a training run checkpoint by checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from training.collator import SFTCollator
from training.data import AUTO_ROOT, load_samples


def frame_reliance(model_dir: str, sources: list[str], *, limit: int = 64, root: str = AUTO_ROOT) -> dict[str, Any]:
    """Mean loss with own and with swapped frames over up to ``limit`` samples that have a same-length partner."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if not (Path(model_dir) / "config.json").is_file():
        raise ValueError(f"--model {model_dir}: expected a local model directory with config.json")
    samples, _ = load_samples(sources, root)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[len(s.images)].append(i)
    partner = {i: g[(k + 1) % len(g)] for g in groups.values() if len(g) > 1 for k, i in enumerate(g)}
    pairs = [(samples[i], samples[partner[i]]) for i in sorted(partner)[:limit]]
    if not pairs:
        raise ValueError(f"{sources}: expected at least two samples with the same number of images")
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    collator = SFTCollator(AutoProcessor.from_pretrained(model_dir))
    own = other = 0.0
    with torch.no_grad():
        for sample, partner in pairs:
            own += model(**collator([sample])).loss.item()
            other += model(**collator([replace(sample, images=partner.images)])).loss.item()
    own, other = own / len(pairs), other / len(pairs)
    return {
        "samples": len(pairs),
        "loss_own_frames": round(own, 5),
        "loss_other_frames": round(other, 5),
        "gap": round(other - own, 5),
    }
