"""Training configuration: one dataclass, every knob commented, saved resolved with every run.

Presets live in ``training/configs/*.json``; the command line loads one (``--config``) and overrides single fields
(``--set key=value``). The defaults are the paper's recipe for ViFailback-8B: LoRA rank 32, alpha 64, learning rate
1e-5, one epoch, LoRA on the language model's attention and MLP projections, the vision-language merger fully
trained, the vision tower frozen, bf16.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data import COT_ORDERS
from vifailback_demo.core.prompts import HARD_TAGS, LITE_TAGS
from vifailback_demo.models.tiny import CHAT_TEMPLATES

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    # ---- data -----------------------------------------------------------------------------------------------
    # ShareGPT VQA files; "path" or "path:weight" (weight 2.0 repeats a source twice, 0.5 keeps half of it).
    train_files: list[str] = field(default_factory=list)
    # Every image path in the records is relative to this root (official layout: <root>/annotated_data/...).
    # "auto": each source's own root, the folder above its VQA/ folder (official and synthetic layouts) or the
    # file's folder (a corrections export), so sources from different folders can be mixed.
    dataset_root: str = "auto"
    # Fraction of episodes held out for evaluation (split by episode, so held-out episodes are unseen).
    eval_fraction: float = 0.02
    # Cap on held-out samples evaluated each time (evaluation is a forward pass per sample).
    max_eval_samples: int = 200
    # Keep only these task tags (empty = all 11).
    tags: list[str] = field(default_factory=list)
    # Per-tag weights applied after the source weights, e.g. {"cot_avoidance_code_qa": 3}: the same rule as
    # "path:weight" (3 repeats those samples three times, 0.5 keeps half); unnamed tags keep weight 1.
    tag_weights: dict[str, float] = field(default_factory=dict)
    # "official" keeps chain-of-thought answers as they are (keyframe sentence, then failure type); "type_first" puts
    # the failure-type sentence first, so the type is not free once the keyframe is written (training/data.py,
    # cot_type_first). The model then answers in that order; the parser reads both.
    cot_order: str = "official"
    # Also train on every question of a failed episode as the app asks it (training/data.py app_views): over the
    # frames its official sampling takes from the video, without the two keyframes the official VQA lists insert,
    # image numbers remapped. A model trained on the official lists alone can tell failures by the image count and
    # then misses them in the app. The weight of those copies (1: one each, 0.5: half); 0 = off.
    app_view_weight: float = 0.0
    # Longest sequence in tokens; longer samples are cut at the end of the answer (never inside images).
    max_length: int = 8192

    # ---- model ----------------------------------------------------------------------------------------------
    # A local model directory (Qwen3-VL / Qwen2.5-VL); nothing is downloaded.
    model: str = ""
    # "lora" (the paper) or "full" (small models, and the tiny model trained from scratch).
    method: str = "lora"
    lora_rank: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.05
    # LoRA goes on these projections of the language model only.
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    # Train the vision-language merger (and Qwen3-VL's deepstack mergers) fully, as the paper does.
    train_merger: bool = True
    # Keep the vision tower frozen (the paper); "full" from scratch sets this false.
    freeze_vision: bool = True
    # Image pixel budget for the processor (None keeps the checkpoint's own).
    min_pixels: int | None = None
    max_pixels: int | None = None

    # Chat template for this run, saved with the model so inference formats prompts the same way: "" keeps the
    # model's own; "image_labels" (a label "image number k: " before each image; tried on the tiny model, see
    # docs/training.md) or "qwen" (no labels) picks a built-in; anything else is a path to a .jinja file.
    chat_template: str = ""

    # ---- optimisation ---------------------------------------------------------------------------------------
    learning_rate: float = 1e-5
    epochs: float = 1.0
    # Stop after this many optimiser steps (None: run the epochs).
    max_steps: int | None = None
    # Wall-clock budget of this invocation's training loop in minutes (None: none). At the first optimiser step past
    # it the run ends as at its last step (held-out evaluation, checkpoint, final/), summary.json says
    # "stopped": "max_minutes", and the schedule is kept, so `resume=auto` carries on where it stopped. For a
    # rented GPU hour or a job queue's limit; loading, data and the vision cache are not counted.
    max_minutes: float | None = None
    batch_size: int = 1  # per device
    grad_accum: int = 8  # optimiser step every grad_accum batches
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # "cosine" or "constant" (after warmup).
    lr_schedule: str = "cosine"

    # ---- precision and memory -------------------------------------------------------------------------------
    # "bf16", "fp16" or "fp32": the weights' dtype, with autocast to it on a GPU (the paper: bf16). "bf16-mixed":
    # fp32 weights and optimiser, forward/backward under bf16 autocast on any device; on a CPU with AVX512-BF16 it
    # is the faster choice for small models (benchmarks/train_step_cpu.py). CPU runs otherwise use fp32.
    dtype: str = "bf16"
    gradient_checkpointing: bool = True

    # ---- bookkeeping ----------------------------------------------------------------------------------------
    output_dir: str = "runs/train"
    log_every: int = 10  # optimiser steps
    eval_every: int = 500  # optimiser steps; 0 = only at the end
    save_every: int = 500  # optimiser steps; 0 = only at the end
    keep_checkpoints: int = 2
    seed: int = 0
    # The held-out split's own seed: a new ``seed`` reshuffles training without moving held-out episodes.
    split_seed: int = 0
    # Resume: "auto" picks the newest checkpoint in output_dir, a path picks that one, "" starts fresh.
    resume: str = ""
    dataloader_workers: int = 0
    # Encode every frame once before training and feed the language model the cached features (training/
    # vision_cache.py): needs freeze_vision=true and train_merger=false, so the features cannot change. Skips
    # decoding and the tower on every step; costs frames x tokens x width x (1 + deepstack) x 2 bytes of memory.
    vision_cache: bool = False

    def validate(self) -> TrainConfig:
        problems = []
        if not self.train_files:
            problems.append("train_files is empty: give at least one ShareGPT VQA JSON file")
        if not self.model:
            problems.append("model is empty: give a local model directory")
        if self.method not in ("lora", "full"):
            problems.append(f"method must be 'lora' or 'full', got {self.method!r}")
        if self.dtype not in ("bf16", "fp16", "fp32", "bf16-mixed"):
            problems.append(f"dtype must be bf16, fp16, fp32 or bf16-mixed, got {self.dtype!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            problems.append(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if not 0.0 <= self.eval_fraction < 1.0:
            problems.append(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("batch_size", "grad_accum", "max_length", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for tag, weight in self.tag_weights.items():
            if tag not in LITE_TAGS + HARD_TAGS:
                known = list(LITE_TAGS + HARD_TAGS)
                problems.append(f"tag_weights: unknown tag {tag!r}; expected one of {known}")
            elif not isinstance(weight, (int, float)) or weight < 0:
                problems.append(f"tag_weights[{tag!r}] must be a number >= 0, got {weight!r}")
        if self.chat_template and self.chat_template not in CHAT_TEMPLATES and not Path(self.chat_template).is_file():
            problems.append(
                f"chat_template {self.chat_template!r}: expected {sorted(CHAT_TEMPLATES)} or a .jinja file path"
            )
        if self.vision_cache and (not self.freeze_vision or self.train_merger):
            problems.append(
                "vision_cache needs freeze_vision=true and train_merger=false (cached features must not change), "
                f"got freeze_vision={self.freeze_vision} train_merger={self.train_merger}"
            )
        if not isinstance(self.app_view_weight, (int, float)) or self.app_view_weight < 0:
            problems.append(f"app_view_weight must be a number >= 0, got {self.app_view_weight!r}")
        if self.cot_order not in COT_ORDERS:
            problems.append(f"cot_order must be one of {list(COT_ORDERS)}, got {self.cot_order!r}")
        if self.max_minutes is not None and (not isinstance(self.max_minutes, (int, float)) or self.max_minutes <= 0):
            problems.append(f"max_minutes must be a number of minutes > 0 (or null for none), got {self.max_minutes!r}")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p


def _coerce(name: str, raw: str, current: Any) -> Any:
    """Turn a ``--set`` string into the field's type (JSON for lists, numbers, booleans and null)."""
    if isinstance(current, str) and not raw.startswith(("[", "{", '"')):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        if isinstance(current, list):
            return [s for s in raw.split(",") if s]
        return raw
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if isinstance(current, list) and isinstance(value, str):
        value = [value]
    return value


#: Keys of retired features -> the value that meant "off" (see experiments/frame_reading/README.md).
RETIRED_KEYS: dict[str, object] = {"failure_head_weight": 0.0, "failure_head_layer": -1}


def load_config(preset: str | os.PathLike | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A preset JSON file (or the defaults), then ``key=value`` overrides; unknown keys are errors."""
    cfg = TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if preset:
        path = Path(preset)
        if not path.is_file():
            builtin = Path(__file__).parent / "configs" / f"{preset}.json"
            if not builtin.is_file():
                names = sorted(p.stem for p in (Path(__file__).parent / "configs").glob("*.json"))
                raise ValueError(f"config {preset!r}: expected a JSON file or one of the presets {names}")
            path = builtin
        data = json.loads(path.read_text())
        # Configs saved before the outcome head moved to experiments/ carry its keys; at their defaults (no head)
        # they mean nothing here, so an old run still loads. A run that used the head is refused below.
        for key, off in RETIRED_KEYS.items():
            if key in data and data[key] == off:
                del data[key]
        unknown = set(data) - known - {"_comment"}
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}; expected some of {sorted(known)}")
        for k, v in data.items():
            if k != "_comment":
                setattr(cfg, k, v)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        if key not in known:
            raise ValueError(f"--set {key}: unknown config key; expected one of {sorted(known)}")
        setattr(cfg, key, _coerce(key, raw, getattr(cfg, key)))
    return cfg
