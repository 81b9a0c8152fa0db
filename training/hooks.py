"""Hooks: extend the training loop from outside it, without a branch in ``training/train.py``.

``train(cfg, hooks=[...])`` calls every hook at fixed points; each method below does nothing by default, so a hook
overrides only what it needs. An auxiliary loss (for example a head on a hidden state, trained with the model and
dropped at export) or an in-run diagnostic fits here. In order:

1. ``on_data(samples)``: once, after loading (every sample, before batching); may check the data and returns
   entries for ``data_stats.json`` (or None).
2. ``modules(model)``: before Accelerate prepares the model; the hook's own trainable modules, optimised with the
   model, saved in its checkpoints (so a resumed run restores them) and never exported.
3. ``attach(model, modules)``: with the prepared model and the hook's prepared modules (in ``modules``' order);
   the place to register forward hooks.
4. ``batch_fields(samples)``: in the collator; tensors the hook needs per batch (labels of its own). They travel
   in ``batch[HOOK_FIELDS]``, are moved to the device with the batch, and are never passed to the model.
5. ``loss(batch, training)``: after the model's forward on every batch, in training and held-out evaluation;
   in training what it returns is added to the answer loss before the backward (weighted as the hook wants).
   The logged ``loss`` and ``eval_loss`` stay the answer loss alone.
6. ``metrics(accelerator, training)``: at every log line (training) and after every held-out evaluation; values
   to log, from what the hook tallied since the last call. Called on every process (gather there if needed).
7. ``detach()``: before export; remove forward hooks, so the saved and the returned model carry nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

#: The batch key under which hooks' fields travel (the training loop strips it before the model's forward).
HOOK_FIELDS = "hook_fields"


class TrainHook:
    """Base class of a training hook (see the module docstring for when each method is called)."""

    def on_data(self, samples: Sequence[Any]) -> dict[str, Any] | None:
        return None

    def modules(self, model: Any) -> list[torch.nn.Module]:
        return []

    def attach(self, model: Any, modules: list[Any]) -> None:
        return None

    def batch_fields(self, samples: Sequence[Any]) -> dict[str, torch.Tensor]:
        return {}

    def loss(self, batch: dict[str, Any], training: bool) -> torch.Tensor | float:
        return 0.0

    def metrics(self, accelerator: Any, training: bool) -> dict[str, float]:
        return {}

    def detach(self) -> None:
        return None


class HookedCollator:
    """The training collator, then what each hook adds to the batch (under ``HOOK_FIELDS``: not model inputs)."""

    def __init__(self, collator: Callable[[Sequence[Any]], dict[str, Any]], hooks: Sequence[TrainHook]) -> None:
        self.collator, self.hooks = collator, hooks

    def __call__(self, samples: Sequence[Any]) -> dict[str, Any]:
        batch = self.collator(samples)
        fields = {k: v for hook in self.hooks for k, v in hook.batch_fields(samples).items()}
        if fields:
            batch[HOOK_FIELDS] = fields
        return batch
