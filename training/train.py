"""Supervised fine-tuning of a Qwen3-VL-family model on ViFailback VQA data. Read it top to bottom.

One loop for every scale: ``python -m training train`` on a CPU or one GPU, ``accelerate launch -m training train``
on several GPUs with DeepSpeed ZeRO-2 (the paper) or FSDP; Accelerate handles devices, sharding and
mixed precision. Every run directory holds the resolved config, data statistics, ``metrics.jsonl``, checkpoints
(``checkpoint-<step>/``, resumable), and ``final/`` (the LoRA adapter, or the full model, plus the processor).
An auxiliary objective or a diagnostic is installed from outside through ``hooks`` (training/hooks.py).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from training.collator import SFTCollator
from training.config import TrainConfig
from training.data import load_samples, parse_source, split_by_episode
from training.hooks import HOOK_FIELDS, HookedCollator, TrainHook
from training.modeling import load_model, load_processor, trainable_summary
from training.vision_cache import VisionFeatureCache, model_inputs

STATE_FILE = "trainer_state.json"


def find_checkpoint(resume: str, output_dir: Path) -> Path | None:
    """``"auto"``: the newest ``checkpoint-<step>`` in the run; a path: that checkpoint; ``""``: none."""
    if not resume:
        return None
    if resume != "auto":
        path = Path(resume)
        if not (path / STATE_FILE).is_file():
            raise FileNotFoundError(f"resume {resume!r}: expected a checkpoint directory holding {STATE_FILE}")
        return path
    found = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    found = [p for p in found if (p / STATE_FILE).is_file()]
    return found[-1] if found else None


class MetricsLog:
    """Append-only JSON lines (always) and TensorBoard scalars (when tensorboard is installed)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled, self.tb = path, enabled, None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(path.parent / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self.tb = None

    def write(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
        print(json.dumps({"step": step, **{k: round(v, 6) for k, v in values.items()}}), file=sys.stderr, flush=True)


def forward(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """The answer loss of one batch (what hooks added to it is not a model input)."""
    return model(**model_inputs({k: v for k, v in batch.items() if k != HOOK_FIELDS})).loss


@torch.no_grad()
def evaluate(model: Any, loader: DataLoader, accelerator: Any, hooks: Sequence[TrainHook]) -> dict[str, float]:
    """Mean loss over the held-out answers (tokens weighted equally), and whatever the hooks measured there."""
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        tokens = (batch["labels"] != -100).sum()
        loss = forward(model, batch)
        for hook in hooks:
            hook.loss(batch, training=False)
        total += float(accelerator.gather(loss.detach() * tokens).sum())
        count += int(accelerator.gather(tokens).sum())
    model.train()
    metrics = {"eval_loss": total / max(1, count)}
    for hook in hooks:
        metrics.update(hook.metrics(accelerator, training=False))
    return metrics


@dataclass
class TrainRun:
    """What a run produced: the exported directory, the trained model in memory, and the last step."""

    final: Path
    model: Any
    steps: int


def _allow_precision(mixed_precision: str) -> None:
    """Let one process train again with another precision (a notebook, the test suite). Accelerate keeps its
    state process-wide and refuses to change the precision; outside a distributed launch, drop that part of it."""
    from accelerate.state import AcceleratorState

    previous = AcceleratorState._shared_state.get("_mixed_precision")
    if previous not in (None, mixed_precision) and not torch.distributed.is_initialized():
        AcceleratorState._reset_state(reset_partial_state=False)


def train(cfg: TrainConfig, hooks: Sequence[TrainHook] = ()) -> TrainRun:
    """Train as ``cfg`` says; ``hooks`` (training/hooks.py) extend the loop from outside (none by default)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    cfg.validate()
    # Bad input fails before anything is written: no run directory for a model or data file that is not there.
    if not Path(cfg.model).is_dir():
        raise FileNotFoundError(f"model {cfg.model!r}: expected a local model directory (nothing is downloaded)")
    for spec in cfg.train_files:
        path = parse_source(spec)[0]
        if not Path(path).is_file():
            raise FileNotFoundError(f"train file {path!r}: expected a ShareGPT VQA JSON file")
    out = Path(cfg.output_dir)
    # Autocast: bf16/fp16 on a GPU (weights already in that dtype), and "bf16-mixed" everywhere (fp32 weights).
    if cfg.dtype == "bf16-mixed":
        mixed_precision = "bf16"
    else:
        mixed_precision = cfg.dtype if torch.cuda.is_available() and cfg.dtype in ("bf16", "fp16") else "no"
    _allow_precision(mixed_precision)
    accelerator = Accelerator(gradient_accumulation_steps=cfg.grad_accum, mixed_precision=mixed_precision)
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.json")  # the resolved config, with every default spelled out

    # 1. Data: every source, checked and mixed; whole episodes held out for evaluation.
    samples, stats = load_samples(
        cfg.train_files,
        cfg.dataset_root,
        tags=cfg.tags or None,
        tag_weights=cfg.tag_weights,
        seed=cfg.seed,
        cot_order=cfg.cot_order,
        app_view_weight=cfg.app_view_weight,
    )
    train_set, heldout = split_by_episode(samples, cfg.eval_fraction, cfg.split_seed)
    heldout = heldout[: cfg.max_eval_samples]
    stats.train, stats.heldout = len(train_set), len(heldout)
    hook_stats = {k: v for hook in hooks for k, v in (hook.on_data(samples) or {}).items()}
    processor = load_processor(cfg)
    cache = VisionFeatureCache() if cfg.vision_cache else None
    collator = SFTCollator(processor, cfg.max_length, cache)
    collate = HookedCollator(collator, hooks) if hooks else collator
    if main:
        (out / "data_stats.json").write_text(json.dumps({**stats.to_dict(), **hook_stats}, indent=2) + "\n")

    # 2. Model: LoRA on the language model + trainable merger (the paper), or every parameter ("full").
    model = load_model(cfg)
    model.train()

    # 3. Optimiser and learning-rate schedule, in optimiser steps (one step per grad_accum batches).
    batches_per_epoch = math.ceil(len(train_set) / cfg.batch_size / accelerator.num_processes)
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.grad_accum))
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    # Hooks' own modules train with the model and are saved in its checkpoints, never exported.
    hook_modules = [hook.modules(model) for hook in hooks]
    params += [p for modules in hook_modules for m in modules for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = int(cfg.warmup_ratio * total_steps)
    make_schedule = (
        get_cosine_schedule_with_warmup if cfg.lr_schedule == "cosine" else get_constant_schedule_with_warmup
    )
    kwargs = {"num_training_steps": total_steps} if cfg.lr_schedule == "cosine" else {}
    scheduler = make_schedule(optimizer, num_warmup_steps=warmup, **kwargs)
    model, *prepared, optimizer, scheduler = accelerator.prepare(
        model, *[m for modules in hook_modules for m in modules], optimizer, scheduler
    )
    for hook, modules in zip(hooks, hook_modules):
        hook.attach(model, prepared[: len(modules)])
        prepared = prepared[len(modules) :]
    if cache is not None:  # every frame through the frozen tower once, at the run's precision
        cache.build(
            accelerator.unwrap_model(model),
            processor,
            [*train_set, *heldout],
            accelerator.autocast,
            log=accelerator.print,
        )
    eval_loader = None
    if heldout:
        eval_gen = torch.Generator().manual_seed(cfg.seed)
        eval_loader = accelerator.prepare(
            DataLoader(heldout, batch_size=cfg.batch_size, collate_fn=collate, generator=eval_gen)
        )

    # 4. Resume: weights, optimiser, schedule and RNG from the checkpoint; the data position from its state file.
    step, epoch, batches_done = 0, 0, 0
    checkpoint = find_checkpoint(cfg.resume, out)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text())
        step, epoch, batches_done = state["step"], state["epoch"], state["batches_done"]
        accelerator.print(f"resumed from {checkpoint} at step {step} (epoch {epoch}, batch {batches_done})")
    log = MetricsLog(out / "metrics.jsonl", main)
    if main:
        log.write(step, **{k: float(v) for k, v in trainable_summary(model).items()}, total_steps=float(total_steps))

    def save_checkpoint() -> None:
        path = out / f"checkpoint-{step}"
        accelerator.save_state(str(path))
        if main:
            (path / STATE_FILE).write_text(json.dumps({"step": step, "epoch": epoch, "batches_done": batches_done}))
            old = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[: -cfg.keep_checkpoints]
            for p in old:
                shutil.rmtree(p, ignore_errors=True)
        accelerator.wait_for_everyone()

    # 5. The loop. Each epoch draws its own order from (seed, epoch), so a resumed run sees the same batches.
    window_loss, window_batches = 0.0, 0
    started = time.time()
    deadline = started + 60 * cfg.max_minutes if cfg.max_minutes else None
    stopped = None  # why the loop ended before total_steps, if it did
    while step < total_steps:
        order = list(range(len(train_set)))
        random.Random(cfg.seed * 1000 + epoch).shuffle(order)
        remaining = order[batches_done * cfg.batch_size * accelerator.num_processes :]
        # Its own generator: iterating a DataLoader draws a seed, which must not disturb the (restored) global RNG.
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        subset = Subset(train_set, remaining)
        loader = accelerator.prepare(
            DataLoader(
                subset,
                batch_size=cfg.batch_size,
                collate_fn=collate,
                # The cache lives in this process; collating from it is only tokenising.
                num_workers=0 if cache is not None else cfg.dataloader_workers,
                generator=generator,
            )
        )
        for batch in loader:
            with accelerator.accumulate(model):
                loss = forward(model, batch)
                accelerator.backward(sum((hook.loss(batch, training=True) for hook in hooks), loss))
                if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            batches_done += 1
            window_loss += float(loss.detach())
            window_batches += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            if step % cfg.log_every == 0 or step == total_steps:
                elapsed = time.time() - started
                # "loss" is the answer loss alone, comparable between runs with and without hooks.
                hook_metrics = {k: v for hook in hooks for k, v in hook.metrics(accelerator, training=True).items()}
                log.write(
                    step,
                    loss=window_loss / window_batches,
                    **hook_metrics,
                    lr=scheduler.get_last_lr()[0],
                    epoch=epoch + batches_done / max(1, batches_per_epoch),
                    seconds=elapsed,
                )
                window_loss, window_batches = 0.0, 0
            if eval_loader is not None and cfg.eval_every and step % cfg.eval_every == 0:
                log.write(step, **evaluate(model, eval_loader, accelerator, hooks))
            if deadline is not None:
                if time.time() > deadline:
                    accelerator.set_trigger()
                if accelerator.check_trigger():  # every process stops at the same step
                    stopped = "max_minutes"
                    accelerator.print(f"time budget of {cfg.max_minutes} min reached at step {step} of {total_steps}")
                    break
            if cfg.save_every and step % cfg.save_every == 0 and step < total_steps:
                save_checkpoint()
            if step >= total_steps:
                break
        else:
            epoch, batches_done = epoch + 1, 0
            continue
        break

    # 6. Final evaluation and export: the adapter (LoRA) or the model (full), with the processor beside it.
    if eval_loader is not None:
        log.write(step, **evaluate(model, eval_loader, accelerator, hooks))
    for hook in hooks:
        hook.detach()  # the exported and the returned model keep nothing of the hooks
    save_checkpoint()
    final = out / "final"
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(str(final), is_main_process=main, save_function=accelerator.save, safe_serialization=True)
    if main:
        processor.save_pretrained(str(final))
        summary = {"steps": step, "total_steps": total_steps, "stopped": stopped or "done"}
        summary.update(truncated_answers=collator.truncated, **trainable_summary(unwrapped))
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return TrainRun(final=final, model=unwrapped, steps=step)
