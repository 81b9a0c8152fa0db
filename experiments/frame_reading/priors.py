"""Blind baselines: how much of the CoT diagnosis a predictor gets without looking at a single pixel.

A model's failure type or keyframe only shows it understands the frames when it beats what the text and the
number of frames alone give away. These predictors learn the most common answer per key from a training file:
- failure type from (task template, number of images): episode length often betrays the failure (a hand that
  comes in adds frames; a failure cuts the later stages); the keyframe and the symbols from (task, template, number
  of images) too: the rates a model is at when its CoT does not read the frames at all;
- keyframe from (task, template, failure type, number of images), given the *reference* failure type (the task,
  avoidance or correction, decides which keyframe is asked for): the keyframe
  a model could name once it has the type right, without finding it in the frames;
- failure type from (task, template, number of images, *reference* keyframe): the official chain of thought names
  the keyframe before the failure type, so under teacher forcing this is how much of the type a model can take
  from the keyframe it has just written instead of from the frames;
- the symbols (their types and arrow colour lists, what the symbols metric compares) from the same key, given the
  reference failure type: how far the type alone goes. An arrow's colours name the axes of the needed motion,
  largest first, so beyond this rate a model has to read positions in the frames.
A key never seen in training backs off to a shorter key, then to the overall most common answer. The task
template is the task sentence without colour words, so "the purple block" and "the orange block" share one.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eval.cot_diagnostics import rate, symbol_signature
from eval.tasks import COT_TAGS
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import VQARecord

_TASK = re.compile(r"The task is to: '(.+?)'\.?\s*$", re.MULTILINE)
_COLOURS = re.compile(
    r"\b(red|green|blue|yellow|orange|purple|pink|brown|black|white|gr[ae]y|cyan|magenta)\s+", re.IGNORECASE
)


@dataclass(frozen=True)
class Case:
    """One failed CoT reference: what a blind predictor may see (tag, template, image count) and the answers."""

    tag: str
    template: str
    n_images: int
    failure_type: str
    keyframe: int | None
    symbols: tuple = ()  # symbol_signature of the reference's symbols


def task_template(prompt: str) -> str:
    """The task sentence without colour words (the whole prompt when it names no task)."""
    match = _TASK.search(prompt)
    return _COLOURS.sub("", match.group(1) if match else prompt).strip().lower()


def cases(records: Iterable[VQARecord]) -> list[Case]:
    """The failed CoT references among ``records`` (successes have no type or keyframe to guess)."""
    out = []
    for r in records:
        if r.tag not in COT_TAGS or r.prompt is None or r.response is None:
            continue
        ref = parse_answer(r.response)
        if ref.success is False and ref.failure_type:
            out.append(
                Case(
                    r.tag,
                    task_template(r.prompt),
                    len(r.images),
                    ref.failure_type,
                    ref.keyframe,
                    symbol_signature(ref.symbols),
                )
            )
    return out


class _ModeTable:
    """Most common answer per key, backing off through ever shorter keys to the overall mode."""

    def __init__(self, rows: Iterable[tuple[Sequence[Hashable], Hashable]]):
        self._counts: dict[tuple, Counter] = defaultdict(Counter)
        for key, answer in rows:
            for cut in range(len(key) + 1):
                self._counts[tuple(key[:cut])][answer] += 1

    def predict(self, key: Sequence[Hashable]) -> Hashable | None:
        for cut in range(len(key), -1, -1):
            counts = self._counts.get(tuple(key[:cut]))
            if counts:
                return counts.most_common(1)[0][0]
        return None


def blind_baselines(train: Iterable[VQARecord], bench: Iterable[VQARecord]) -> dict[str, Any]:
    """Rates in percent over the bench's failed CoT references, from modes learnt on ``train``."""
    seen, test = cases(train), cases(bench)
    if not seen:
        raise ValueError("training records: expected chain-of-thought items with failed references, found none")
    types = _ModeTable(((c.template, c.n_images), c.failure_type) for c in seen)
    blind_frames = _ModeTable(((c.tag, c.template, c.n_images), c.keyframe) for c in seen if c.keyframe is not None)
    blind_symbols = _ModeTable(((c.tag, c.template, c.n_images), c.symbols) for c in seen)
    frames = _ModeTable(
        ((c.tag, c.template, c.failure_type, c.n_images), c.keyframe) for c in seen if c.keyframe is not None
    )
    typed_by_keyframe = _ModeTable(((c.tag, c.template, c.n_images, c.keyframe), c.failure_type) for c in seen)
    symbols = _ModeTable(((c.tag, c.template, c.failure_type, c.n_images), c.symbols) for c in seen)
    type_hits = kf_exact = kf_near = kf_n = symbol_hits = typed_by_kf = blind_symbol_hits = 0
    blind_kf_exact = blind_kf_near = 0
    for c in test:
        type_hits += types.predict((c.template, c.n_images)) == c.failure_type
        blind_symbol_hits += blind_symbols.predict((c.tag, c.template, c.n_images)) == c.symbols
        typed_by_kf += typed_by_keyframe.predict((c.tag, c.template, c.n_images, c.keyframe)) == c.failure_type
        symbol_hits += symbols.predict((c.tag, c.template, c.failure_type, c.n_images)) == c.symbols
        if c.keyframe is None:
            continue
        kf_n += 1
        guess = frames.predict((c.tag, c.template, c.failure_type, c.n_images))
        kf_exact += guess == c.keyframe
        kf_near += isinstance(guess, int) and abs(guess - c.keyframe) <= 1
        blind = blind_frames.predict((c.tag, c.template, c.n_images))
        blind_kf_exact += blind == c.keyframe
        blind_kf_near += isinstance(blind, int) and abs(blind - c.keyframe) <= 1
    return {
        "n_train": len(seen),
        "n_bench": len(test),
        "failure_type_from_task_and_image_count": rate(type_hits, len(test)),
        "keyframe_exact_from_task_and_image_count": rate(blind_kf_exact, kf_n),
        "keyframe_within_1_from_task_and_image_count": rate(blind_kf_near, kf_n),
        "symbol_types_and_colours_from_task_and_image_count": rate(blind_symbol_hits, len(test)),
        "failure_type_given_reference_keyframe": rate(typed_by_kf, len(test)),
        "keyframe_exact_given_reference_type": rate(kf_exact, kf_n),
        "keyframe_within_1_given_reference_type": rate(kf_near, kf_n),
        "symbol_types_and_colours_given_reference_type": rate(symbol_hits, len(test)),
    }
