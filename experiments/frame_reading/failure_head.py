"""Auxiliary outcome head: make the language model read the episode's outcome from its frames at every question.

Why (README.md here, sessions 7-9): the bundled tiny model's frozen frame features carry the failure type (a small
classifier on them names 80.70% of the bench's failure types, against 57.31% blind), and a language model trained on
failure-type questions alone learns to read them (62.57% after 48,000 such questions), but mixed into the full VQA
set, where they are a quarter of the questions, that reading is lost again. The failure type of an episode is
known for every question asked about it, so each one can carry that signal: a linear head on the language model's
hidden state at the last prompt token (the position from which the answer starts, which has attended over every
frame), after decoder layer ``layer`` (-1: the final norm), predicts the outcome, and its cross-entropy is added
to the answer loss with weight ``weight``. The head is thrown away at export: the saved model is the plain
architecture.

It is installed on the product's training loop from outside, as a hook (``OutcomeHead``, training/hooks.py):
``train(cfg, hooks=[OutcomeHead(weight, layer)])``, or ``python -m experiments.frame_reading train-head``. The
loop then logs ``head_loss`` and ``head_accuracy`` beside ``loss`` (the answer loss alone), ``eval_head_accuracy``
on the held-out episodes, and ``data_stats.json`` holds the samples per outcome and the head's settings.

Labels come from the data itself, so any source works (official, synthetic, corrections): an episode's outcome is
read from its chain-of-thought answers (success, or the named failure type); episodes without one are ignored by
the head (label -100).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import TrainConfig
from training.hooks import HOOK_FIELDS, TrainHook
from training.train import TrainRun, train
from vifailback_demo.core.answer import FAILURE_TYPES, parse_answer
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_COT_CORRECTION
from vifailback_demo.errors import DatasetError

OUTCOMES: tuple[str, ...] = ("success", *FAILURE_TYPES)
NO_LABEL = -100


def frames_folder(sample: Any) -> str:
    """The episode as a place on disk: the folder of its first resolved frame. ``Sample.episode`` is relative to
    its dataset root, so two generated datasets both hold an ``.../episode_0_cam_high`` of different episodes."""
    return str(Path(sample.images[0]).parent) if sample.images else sample.episode


def episode_outcomes(samples: Iterable[Any]) -> dict[str, int]:
    """Episode (``frames_folder``) -> index into OUTCOMES, read from its CoT answers. Episodes whose CoT answers
    disagree, or name no known outcome, are left out (their questions then carry no head label)."""
    seen: dict[str, set[int]] = {}
    for s in samples:
        if s.tag not in (TAG_COT_AVOIDANCE, TAG_COT_CORRECTION):
            continue
        parsed = parse_answer(s.answer)
        if parsed.success is True:
            label = 0
        elif parsed.success is False and parsed.failure_type in FAILURE_TYPES:
            label = 1 + FAILURE_TYPES.index(parsed.failure_type)
        else:
            continue
        seen.setdefault(frames_folder(s), set()).add(label)
    return {ep: labels.pop() for ep, labels in seen.items() if len(labels) == 1}


def label_samples(samples: Iterable[Any]) -> tuple[list[int], dict[str, int]]:
    """Every sample's outcome, from its episode (NO_LABEL when unknown), and the samples per outcome."""
    samples = list(samples)
    outcomes = episode_outcomes(samples)
    labels = [outcomes.get(frames_folder(s), NO_LABEL) for s in samples]
    counts = dict.fromkeys([*OUTCOMES, "unlabelled"], 0)
    for label in labels:
        counts[OUTCOMES[label] if label != NO_LABEL else "unlabelled"] += 1
    return labels, counts


def last_prompt_positions(labels: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the last prompt token: the one before the first answer token (labels != -100)."""
    answer = labels != NO_LABEL
    first = torch.where(answer.any(1), answer.float().argmax(1), torch.full_like(labels[:, 0], labels.shape[1]))
    return (first - 1).clamp(min=0)


class HiddenState:
    """Keeps the output of a module (a decoder layer, or the final norm) from the latest forward, with its graph."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, args: Any, output: Any) -> None:
        self.value = output[0] if isinstance(output, tuple) else output

    def remove(self) -> None:
        self.handle.remove()


def read_module(model: Any, layer: int) -> nn.Module:
    """Where the head reads: the output of decoder layer ``layer`` (0-based), or the final norm for -1, found by
    name whatever wraps the model (peft, DDP, accelerate).

    Why a middle layer: later positions read an earlier position only through attention over the outputs of the
    layers below the one attending, so what the last layer computes at the last prompt token reaches no answer
    token. What layer k computes there, layers k+1.. of every answer token can read."""
    suffix = "language_model.norm" if layer < 0 else f"language_model.layers.{layer}"
    for name, module in model.named_modules():
        if name.endswith(suffix):
            return module
    raise ValueError(f"head layer {layer}: no module *{suffix}; expected a decoder layer of the language model")


class FailureHead(nn.Module):
    """hidden state at the last prompt token -> RMS norm -> logits over OUTCOMES (the norm because a decoder
    layer's output is not normalised, unlike the final norm's)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(hidden_size, eps=1e-6)
        self.linear = nn.Linear(hidden_size, len(OUTCOMES))

    def forward(
        self, hidden: torch.Tensor, labels: torch.Tensor, outcome: torch.Tensor
    ) -> tuple[torch.Tensor, int, int]:
        """(mean cross-entropy over labelled rows, rows predicted right, rows labelled). The loss is 0 with a
        graph when no row is labelled, so every process of a distributed run takes the same backward."""
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        picked = hidden[rows, last_prompt_positions(labels).to(hidden.device)]
        logits = self.linear(self.norm(picked.to(self.linear.weight.dtype)))
        outcome = outcome.to(logits.device)
        known = outcome != NO_LABEL
        if not bool(known.any()):
            return logits.sum() * 0.0, 0, 0
        loss = nn.functional.cross_entropy(logits[known], outcome[known])
        right = int((logits[known].argmax(-1) == outcome[known]).sum())
        return loss, right, int(known.sum())


class OutcomeHead(TrainHook):
    """The head as a training hook: labels from the data, a ``FailureHead`` trained with the model (and saved in
    its checkpoints, so a resumed run restores it), a forward hook on the layer it reads, a weighted loss term."""

    def __init__(self, weight: float = 1.0, layer: int = -1) -> None:
        if not weight > 0:
            raise ValueError(f"head weight must be > 0, got {weight}")
        if layer < -1:
            raise ValueError(f"head layer must be -1 (the final norm) or a layer index >= 0, got {layer}")
        self.weight, self.layer = weight, layer
        self.outcomes: dict[str, int] = {}
        self.head: Any = None
        self.hidden: HiddenState | None = None
        # Per mode (training or not): summed head loss, batches, rows right, rows labelled since the last metrics().
        self.tally: dict[bool, list[float]] = {True: [0.0, 0, 0, 0], False: [0.0, 0, 0, 0]}

    def check(self, model_dir: str) -> None:
        """A layer the model does not have is refused before anything is written."""
        if self.layer < 0 or not Path(model_dir).is_dir():
            return
        from transformers import AutoConfig

        layers = AutoConfig.from_pretrained(model_dir).get_text_config().num_hidden_layers
        if self.layer >= layers:
            raise ValueError(
                f"head layer {self.layer}: the model has {layers} decoder layers; "
                f"expected -1 (the final norm) or 0..{layers - 1}"
            )

    def on_data(self, samples: Sequence[Any]) -> dict[str, Any]:
        self.outcomes = episode_outcomes(samples)
        _, counts = label_samples(samples)
        if counts["unlabelled"] == len(samples):
            raise DatasetError(
                "outcome head: no episode has a CoT answer naming its outcome; expected records tagged "
                "cot_avoidance_code_qa or cot_correction_code_qa in train_files"
            )
        return {"outcomes": counts, "outcome_head": {"weight": self.weight, "layer": self.layer}}

    def modules(self, model: Any) -> list[nn.Module]:
        return [FailureHead(model.config.get_text_config().hidden_size)]

    def attach(self, model: Any, modules: list[Any]) -> None:
        self.head = modules[0]
        self.hidden = HiddenState(read_module(model, self.layer))

    def batch_fields(self, samples: Sequence[Any]) -> dict[str, torch.Tensor]:
        labels = [self.outcomes.get(frames_folder(s), NO_LABEL) for s in samples]
        return {"outcome": torch.tensor(labels, dtype=torch.long)}

    def loss(self, batch: dict[str, Any], training: bool) -> torch.Tensor:
        loss, right, known = self.head(self.hidden.value, batch["labels"], batch[HOOK_FIELDS]["outcome"])
        t = self.tally[training]
        t[0], t[1], t[2], t[3] = t[0] + float(loss.detach()), t[1] + 1, t[2] + right, t[3] + known
        return self.weight * loss

    def metrics(self, accelerator: Any, training: bool) -> dict[str, float]:
        total, batches, right, known = self.tally[training]
        self.tally[training] = [0.0, 0, 0, 0]
        if training:  # this process's batches since the last log line, as the answer loss is logged
            return {"head_loss": total / max(1, batches), "head_accuracy": right / max(1, known)}
        # Every process's held-out rows count (a distributed run splits the held-out batches).
        counts = accelerator.gather(torch.tensor([right, known], device=accelerator.device)).view(-1, 2)
        right, known = int(counts[:, 0].sum()), int(counts[:, 1].sum())
        return {"eval_head_accuracy": right / known} if known else {}

    def detach(self) -> None:
        if self.hidden is not None:
            self.hidden.remove()
            self.hidden = None


def train_with_head(cfg: TrainConfig, weight: float = 1.0, layer: int = -1) -> TrainRun:
    """``training.train.train`` with the outcome head installed; bad settings fail before anything is written."""
    head = OutcomeHead(weight, layer)
    cfg.validate()
    head.check(cfg.model)
    return train(cfg, hooks=[head])
