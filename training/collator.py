"""Turn samples into model inputs with the prompt masked out of the loss.

The prompt is tokenised with the processor's chat template and ``add_generation_prompt=True``: exactly what the
model sees at inference. The answer is tokenised on its own and appended with the end-of-turn token. So the
boundary between prompt and answer is exact (no BPE merge across it), and labels are -100 over the prompt and the
images. The Qwen3-VL forward needs ``mm_token_type_ids`` whenever pixel values are passed; it is padded like the
rest.

With a ``VisionFeatureCache`` (training/vision_cache.py) no pixels are loaded: the prompt's image placeholders are
expanded to each cached frame's token count, as the processor would from the pixels, and the batch carries the
cached features (``image_embeds``, ``deepstack_embeds``) in place of ``pixel_values``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from training.data import Sample
from training.vision_cache import VisionFeatureCache, expand_image_tokens

IGNORE_INDEX = -100


def build_messages(images: Sequence[Any], prompt: str) -> list[dict]:
    """The user turn: one image block per frame, then the text (the official layout puts images first)."""
    return [
        {
            "role": "user",
            "content": [*({"type": "image", "image": im} for im in images), {"type": "text", "text": prompt}],
        }
    ]


class SFTCollator:
    """``collate(list[Sample]) -> dict of tensors`` for ``AutoModelForImageTextToText``."""

    def __init__(
        self,
        processor: Any,
        max_length: int = 8192,
        cache: VisionFeatureCache | None = None,
    ) -> None:
        self.processor = processor
        self.cache = cache
        self.tokenizer = processor.tokenizer
        self.max_length = max_length
        self.eos = self.tokenizer.eos_token or "<|im_end|>"
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        self.truncated = 0

    def _prompt(self, sample: Sample) -> dict[str, torch.Tensor]:
        """The prompt's ids with the frames' pixels, or with their cached features (see the module docstring)."""
        if self.cache is None:
            images = [Image.open(p).convert("RGB") for p in sample.images]
            return self.processor.apply_chat_template(
                build_messages(images, sample.prompt),
                tokenize=True,
                add_generation_prompt=True,
                return_dict=True,
                return_tensors="pt",
            )
        grids, tokens, deep = self.cache.lookup(sample.images)
        text = self.processor.apply_chat_template(
            build_messages(sample.images, sample.prompt), tokenize=False, add_generation_prompt=True
        )
        counts = (grids.prod(-1) // self.processor.image_processor.merge_size**2).tolist()
        text = expand_image_tokens(text, self.processor.image_token, counts)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if int((ids == self.processor.image_token_id).sum()) != tokens.shape[0]:
            raise ValueError(f"{sample.images[0]}: the tokenizer split the image placeholders; expected one per token")
        return {
            "input_ids": ids,
            "image_grid_thw": grids,
            "image_embeds": tokens,
            "deepstack_embeds": torch.stack(deep) if deep else tokens.new_zeros((0, *tokens.shape)),
            "mm_token_type_ids": (ids == self.processor.image_token_id).long(),
        }

    def encode(self, sample: Sample) -> dict[str, torch.Tensor]:
        prompt = self._prompt(sample)
        answer_ids = self.tokenizer(sample.answer + self.eos, add_special_tokens=False, return_tensors="pt")[
            "input_ids"
        ][0]
        prompt_ids = prompt["input_ids"][0]
        room = self.max_length - len(prompt_ids)
        if room < 1:
            raise ValueError(
                f"prompt is {len(prompt_ids)} tokens with its images, over max_length {self.max_length}; "
                "raise max_length or lower max_pixels"
            )
        if len(answer_ids) > room:
            self.truncated += 1
            answer_ids = answer_ids[:room]
        input_ids = torch.cat([prompt_ids, answer_ids])
        labels = torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), answer_ids])
        out = {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": torch.ones_like(input_ids),
            "image_grid_thw": prompt["image_grid_thw"],
        }
        for key in ("pixel_values", "image_embeds", "deepstack_embeds"):
            if key in prompt:
                out[key] = prompt[key]
        if "mm_token_type_ids" in prompt:
            mm = prompt["mm_token_type_ids"][0]
            out["mm_token_type_ids"] = torch.cat([mm, torch.zeros_like(answer_ids)])
        return out

    def __call__(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        encoded = [self.encode(s) for s in samples]
        length = max(len(e["input_ids"]) for e in encoded)

        def pad(key: str, value: int) -> torch.Tensor:
            rows = []
            for e in encoded:
                t = e[key]
                rows.append(torch.cat([t, torch.full((length - len(t),), value, dtype=t.dtype)]))
            return torch.stack(rows)

        batch = {
            "input_ids": pad("input_ids", self.pad_id),
            "labels": pad("labels", IGNORE_INDEX),
            "attention_mask": pad("attention_mask", 0),
            "image_grid_thw": torch.cat([e["image_grid_thw"] for e in encoded]),
        }
        if self.cache is None:
            batch["pixel_values"] = torch.cat([e["pixel_values"] for e in encoded])
        else:
            batch["image_embeds"] = torch.cat([e["image_embeds"] for e in encoded])
            batch["deepstack_embeds"] = torch.cat([e["deepstack_embeds"] for e in encoded], dim=1)
        if all("mm_token_type_ids" in e for e in encoded):
            batch["mm_token_type_ids"] = pad("mm_token_type_ids", 0)
        return batch
