"""Auxiliary outcome head: make the language model read the episode's outcome from its frames at every question.

Why (docs/training.md, sessions 7-9): the bundled tiny model's frozen frame features carry the failure type (a small
classifier on them names 80.70% of the bench's failure types, against 57.31% blind), and a language model trained on
failure-type questions alone learns to read them (62.57% after 48,000 such questions), but mixed into the full VQA
set, where they are a quarter of the questions, that reading is lost again. The failure type of an episode is
known for every question asked about it, so each one can carry that signal: a linear head on the language model's
hidden state at the last prompt token (the position from which the answer starts, which has attended over every
frame), after decoder layer ``failure_head_layer`` (-1: the final norm), predicts the outcome, and its
cross-entropy is added to the answer loss with weight ``failure_head_weight``. The head is thrown away at export:
the saved model is the plain architecture.

Labels come from the data itself, so any source works (official, synthetic, corrections): an episode's outcome is
read from its chain-of-thought answers (success, or the named failure type); episodes without one are ignored by
the head (label -100).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vifailback_demo.core.answer import FAILURE_TYPES, parse_answer
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_COT_CORRECTION

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


def label_samples(samples: Iterable[Any]) -> dict[str, int]:
    """Set ``outcome`` on every sample from its episode (NO_LABEL when unknown); returns the counts per outcome."""
    samples = list(samples)
    outcomes = episode_outcomes(samples)
    counts = dict.fromkeys([*OUTCOMES, "unlabelled"], 0)
    for s in samples:
        s.outcome = outcomes.get(frames_folder(s), NO_LABEL)
        counts[OUTCOMES[s.outcome] if s.outcome != NO_LABEL else "unlabelled"] += 1
    return counts


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
    raise ValueError(f"failure_head_layer {layer}: no module *{suffix}; expected a decoder layer of the language model")


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
