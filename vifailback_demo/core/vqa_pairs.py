"""The question/answer pairs of the 11 ViFailback task tags, built one way for every source of ground truth.

The simulator (:mod:`vifailback_demo.sim.vqa`: exact truth of a generated episode) and the corrections store
(:mod:`vifailback_demo.store.vqa`: what a human accepted) both turn "what went wrong" into training pairs; they differ
in *which* pairs they can support and in how they draw distractors (a seeded numpy generator per episode, a
``random.Random`` seeded from the record's content), so each keeps its own choice, order and options. What a pair
*is* -- its tag, its prompt (``core/prompts.py``), its options and reference answer, the CoT answer text
(:func:`~vifailback_demo.core.answer.format_cot_answer`, symbols in the model's 0-1000 space) -- lives here.

Lite pairs list options and the answer (one of them) and reply ``"<letter>. <option>"``; Hard pairs carry the
reference answer as the assistant message. Keyframes are 1-based positions in ``images``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vifailback_demo.core import prompts as P
from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer
from vifailback_demo.core.dataset import VQARecord
from vifailback_demo.core.symbols import Symbol

__all__ = [
    "DETECTION_OPTIONS",
    "HIGHLEVEL_TAGS",
    "LOWLEVEL_TAGS",
    "cot_pair",
    "detection_pair",
    "failure_reason_pair",
    "failure_type_pair",
    "highlevel_pair",
    "keyframe_options",
    "keyframe_pair",
    "lowlevel_pair",
    "subtask_pair",
]

DETECTION_OPTIONS = ("Successful", "Failed")
LOWLEVEL_TAGS: dict[str, str] = {"avoidance": P.TAG_LOWLEVEL_AVOIDANCE, "correction": P.TAG_LOWLEVEL_CORRECTION}
HIGHLEVEL_TAGS: dict[str, str] = {"avoidance": P.TAG_HIGHLEVEL_AVOIDANCE, "correction": P.TAG_HIGHLEVEL_CORRECTION}


def detection_pair(task: str, images: Sequence[str], success: bool) -> VQARecord:
    """``failure_detection_qa``: Successful or Failed."""
    answer = DETECTION_OPTIONS[0] if success else DETECTION_OPTIONS[1]
    return VQARecord.lite(P.TAG_FAILURE_DETECTION, task, images, list(DETECTION_OPTIONS), answer)


def cot_pair(
    task: str,
    images: Sequence[str],
    mode: str,
    *,
    success: bool,
    keyframe: int | None = None,
    failure_type: str | None = None,
    low_level: str | None = None,
    symbols: Sequence[Symbol] = (),
) -> VQARecord:
    """``cot_<mode>_code_qa``: the chain-of-thought answer (just "Successful" for a success) with its symbols."""
    if success:
        answer = format_cot_answer(success=True)
    else:
        answer = format_cot_answer(
            success=False,
            keyframe=keyframe,
            failure_type=failure_type,
            low_level=low_level,
            symbols=list(symbols),
            mode=mode,
        )
    tag = P.COT_TAGS[mode]
    return VQARecord.build(P.hard_prompt(tag, task), answer, images, tag)


def keyframe_options(keyframe: int, others: Iterable[int]) -> list[str]:
    """The keyframe and the picked other frame numbers, as options in numeric order."""
    return [str(i) for i in sorted([keyframe, *others])]


def keyframe_pair(task: str, images: Sequence[str], options: list[str], keyframe: int) -> VQARecord:
    """``keyframe_localization_qa`` (the frame before the failure: an avoidance keyframe)."""
    return VQARecord.lite(P.TAG_KEYFRAME, task, images, options, str(keyframe))


def subtask_pair(task: str, images: Sequence[str], subtasks: Sequence[str], failed_subtask: int) -> VQARecord:
    """``subtask_localization_qa``: the options are the subtasks; ``failed_subtask`` is 1-based."""
    subtasks = list(subtasks)
    return VQARecord.lite(P.TAG_SUBTASK, task, images, subtasks, subtasks[failed_subtask - 1], subtasks=subtasks)


def failure_type_pair(task: str, images: Sequence[str], failure_type: str) -> VQARecord:
    """``failure_type_qa``: the four taxonomy types in their fixed order."""
    return VQARecord.lite(P.TAG_FAILURE_TYPE, task, images, list(FAILURE_TYPES), failure_type)


def lowlevel_pair(
    task: str, images: Sequence[str], mode: str, options: list[str], command: str, keyframe: int
) -> VQARecord:
    """``lowlevel_<mode>_qa``: which command avoids / corrects the failure at ``keyframe``."""
    return VQARecord.lite(LOWLEVEL_TAGS[mode], task, images, options, command, keyframe=keyframe)


def _text_pair(tag: str, task: str, images: Sequence[str], text: str) -> VQARecord:
    return VQARecord.build(P.hard_prompt(tag, task), text, images, tag)


def failure_reason_pair(task: str, images: Sequence[str], reason: str) -> VQARecord:
    """``failure_reason_qa``: the reason in words (Hard)."""
    return _text_pair(P.TAG_FAILURE_REASON, task, images, reason)


def highlevel_pair(task: str, images: Sequence[str], mode: str, text: str) -> VQARecord:
    """``highlevel_<mode>_qa``: the high-level avoidance / correction in words (Hard)."""
    return _text_pair(HIGHLEVEL_TAGS[mode], task, images, text)
