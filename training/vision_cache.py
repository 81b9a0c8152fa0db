"""Frozen-tower feature cache: every frame through the vision tower once, not once per question.

With the tower and every merger frozen (``freeze_vision=true train_merger=false``), what the language model receives
for a frame never changes during a run, yet every question about an episode decodes, resizes and encodes the same
frames again (the synthetic world asks about a dozen per episode). ``vision_cache=true`` encodes each distinct frame
once before the first step and keeps, per image path, its grid and its visual tokens and deepstack features in the
dtype the forward computes them in. The collator then skips the pixels: it expands each image placeholder to the
cached token count itself and hands the features to the model through the ``mm_encoder_outputs`` argument of
transformers' Qwen3-VL forward, with ``image_grid_thw`` for the 3-D positions. The language model sees the same
inputs as without the cache (a test compares losses); what is skipped is JPEG decoding, resizing and the tower.

Memory: frames x tokens per frame x width x (1 + deepstack layers) x 2 bytes in bf16; the tiny model's 67,500
training frames take about 1 GB. It is meant for small towers; an 8B model's frames (about 10 MB each) belong on
a GPU, uncached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from PIL import Image

from training.data import Sample


class VisionFeatureCache:
    """Image path -> (grid t/h/w, visual tokens, deepstack features), filled by ``build``."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]] = {}

    def __contains__(self, path: str) -> bool:
        return path in self.entries

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes + sum(d.nbytes for d in ds) for _, t, ds in self.entries.values())

    @torch.no_grad()
    def build(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        autocast: Callable[[], AbstractContextManager] = nullcontext,
        log: Any = print,
    ) -> VisionFeatureCache:
        """Encode every frame the samples name that is not cached yet, one image list (an episode's frames) at a
        time, under a fresh ``autocast()`` each (the training run's precision, so cached values equal the uncached forward's)."""
        groups = list(dict.fromkeys(tuple(s.images) for s in samples))
        todo = [g for g in groups if any(p not in self for p in g)]
        started = time.time()
        for n, paths in enumerate(todo, 1):
            images = [Image.open(p).convert("RGB") for p in paths]
            inputs = processor.image_processor(images=images, return_tensors="pt")
            grid = inputs["image_grid_thw"]
            pixels = inputs["pixel_values"].to(next(model.parameters()).device)
            with autocast():
                out = model.get_image_features(pixels, grid.to(pixels.device), return_dict=True)
            for i, path in enumerate(paths):
                deep = [layer[i].detach().cpu().clone() for layer in out.deepstack_features]
                self.entries[path] = (grid[i].clone(), out.pooler_output[i].detach().cpu().clone(), deep)
            if n % 500 == 0 or n == len(todo):
                log(
                    f"vision cache: {n}/{len(todo)} image lists, {len(self.entries)} frames, "
                    f"{self.nbytes / 2**20:.0f} MiB, {time.time() - started:.0f} s"
                )
        return self

    def lookup(self, paths: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(grids [n, 3], tokens [sum, width], deepstack [layers] of [sum, width]) for these frames, in order."""
        missing = [p for p in paths if p not in self]
        if missing:
            raise KeyError(f"{missing[0]}: not in the vision cache; expected every frame to be encoded by build()")
        entries = [self.entries[p] for p in paths]
        layers = len(entries[0][2])
        deep = [torch.cat([e[2][k] for e in entries]) for k in range(layers)]
        return torch.stack([e[0] for e in entries]), torch.cat([e[1] for e in entries]), deep


def expand_image_tokens(text: str, image_token: str, counts: Sequence[int]) -> str:
    """Replace the n-th image placeholder with ``counts[n]`` copies of it, as the processor does from pixels."""
    parts = text.split(image_token)
    if len(parts) - 1 != len(counts):
        raise ValueError(f"{len(parts) - 1} image placeholders in the prompt; expected {len(counts)}, one per frame")
    return parts[0] + "".join(image_token * n + rest for n, rest in zip(counts, parts[1:]))


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch as the model's forward takes it: cached features become ``mm_encoder_outputs``."""
    if "image_embeds" not in batch:
        return batch
    from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures

    inputs = {k: v for k, v in batch.items() if k not in ("image_embeds", "deepstack_embeds")}
    # The forward concatenates per-image chunks; one chunk holding every image of the batch is the same.
    image = BaseModelOutputWithDeepstackFeatures(
        pooler_output=(batch["image_embeds"],),
        deepstack_features=[(layer,) for layer in batch["deepstack_embeds"]],
    )
    inputs["mm_encoder_outputs"] = {"image": image}
    return inputs
