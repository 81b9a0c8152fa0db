"""Merge a LoRA adapter into its base model and save a full model directory.

vLLM applies LoRA to the language model only and ignores ``modules_to_save`` (the merger the paper trains), so
an adapter must be merged before it is served. The output loads with ``AutoModelForImageTextToText`` /
``AutoProcessor`` like any checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.modeling import DTYPES


def adapter_base(adapter_dir: Path) -> str:
    config = adapter_dir / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{adapter_dir}: expected a LoRA adapter directory with adapter_config.json")
    return json.loads(config.read_text())["base_model_name_or_path"]


def load_merged(adapter_dir: str | Path, base: str | None = None, dtype: str = "bf16") -> tuple[Any, Any]:
    """(merged model, processor): base + adapter with the LoRA deltas folded into the weights."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter_dir = Path(adapter_dir)
    base = base or adapter_base(adapter_dir)
    if not Path(base).is_dir():
        raise FileNotFoundError(f"base model {base!r}: expected a local directory (pass --base)")
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=DTYPES[dtype])
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    processor_dir = adapter_dir if (adapter_dir / "preprocessor_config.json").is_file() else Path(base)
    return model, AutoProcessor.from_pretrained(str(processor_dir))


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None, dtype: str = "bf16") -> Path:
    model, processor = load_merged(adapter_dir, base, dtype)
    out = Path(out_dir)
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))
    return out
