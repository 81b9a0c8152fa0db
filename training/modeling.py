"""Load a Qwen3-VL-family model and make the right parameters trainable (LoRA as in the paper, or full).

LoRA goes on the language model's attention and MLP projections only (a regular expression on module names keeps
it out of the vision tower); the vision-language merger (and Qwen3-VL's deepstack mergers) are trained fully
through peft's ``modules_to_save``; everything else is frozen.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from training.config import TrainConfig
from vifailback_demo.models.tiny import CHAT_TEMPLATES

#: The dtype weights are loaded in ("bf16-mixed" keeps fp32 weights; the autocast is set up in train.py).
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "bf16-mixed": torch.float32}
MERGER_MODULES = ["merger", "deepstack_merger_list"]


def load_processor(cfg: TrainConfig) -> Any:
    from transformers import AutoProcessor

    kwargs = {}
    if cfg.min_pixels is not None or cfg.max_pixels is not None:
        # Qwen's image processors keep the pixel budget in ``size`` (shortest_edge = min, longest_edge = max).
        size = {}
        if cfg.min_pixels is not None:
            size["shortest_edge"] = cfg.min_pixels
        if cfg.max_pixels is not None:
            size["longest_edge"] = cfg.max_pixels
        kwargs["size"] = size
    processor = AutoProcessor.from_pretrained(cfg.model, **kwargs)
    if cfg.chat_template:
        # Set on the processor, which applies it and writes it beside the trained model (chat_template.jinja).
        name = cfg.chat_template
        processor.chat_template = CHAT_TEMPLATES[name] if name in CHAT_TEMPLATES else Path(name).read_text()
    return processor


def lora_target_regex(targets: list[str]) -> str:
    """Match the projections of the language model only (module paths contain ``language_model``)."""
    return rf".*language_model.*\.({'|'.join(targets)})$"


def merger_modules(model: Any) -> list[str]:
    """The merger, plus each deepstack merger by name: peft cannot wrap the ModuleList that holds them."""
    names = [n for n, _ in model.named_modules() if re.search(r"deepstack_merger_list\.\d+$", n)]
    return ["merger", *names]


def load_model(cfg: TrainConfig) -> Any:
    """The base model from a local directory, with trainable parameters set for ``cfg.method``."""
    from transformers import AutoModelForImageTextToText

    if not os.path.isdir(cfg.model):
        raise FileNotFoundError(f"model {cfg.model!r}: expected a local model directory (nothing is downloaded)")
    model = AutoModelForImageTextToText.from_pretrained(cfg.model, dtype=DTYPES[cfg.dtype])
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        # With frozen embeddings, checkpointed blocks would see inputs without grad and drop LoRA gradients.
        model.enable_input_require_grads()
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=lora_target_regex(cfg.lora_targets),
            modules_to_save=merger_modules(model) if cfg.train_merger else None,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    else:
        for name, param in model.named_parameters():
            in_vision = ".visual." in f".{name}"
            in_merger = in_vision and any(m in name for m in MERGER_MODULES)
            frozen = (cfg.freeze_vision and in_vision and not in_merger) or (in_merger and not cfg.train_merger)
            param.requires_grad = not frozen
    return model


def trainable_summary(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total_parameters": total, "trainable_parameters": trainable}
