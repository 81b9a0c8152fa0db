"""VQA pairs from one accepted correction, in the official ShareGPT format with this project's tags.

What a record supports depends on what the human filled in:

* always: ``failure_detection_qa`` and the CoT pair for the record's mode (``cot_avoidance_code_qa`` or
  ``cot_correction_code_qa``, answer written by :func:`format_cot_answer`; a failed record needs keyframe, failure
  type and low-level command for it);
* failed records: ``failure_type_qa`` (failure type known), ``subtask_localization_qa`` (subtasks and the failed
  one known), ``lowlevel_<mode>_qa`` (a low-level command), ``keyframe_localization_qa`` (avoidance mode only: its
  prompt asks for the frame *before the failure*, which is what an avoidance keyframe is), and the Hard pairs
  ``failure_reason_qa`` / ``highlevel_<mode>_qa`` when those texts are present.

Distractors are deterministic: the random generator is seeded from the record's content (task, frames, final
version), so exporting the same store twice gives byte-identical files. Rules: keyframe options are up to three other
frame numbers, listed in numeric order; failure-type options are the four taxonomy types in their fixed order;
subtask options are the subtasks themselves; low-level options are the command with one part flipped (a move
direction, the rotation, the grasp, a magnitude, or the gripper), shuffled.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence

from vifailback_demo.core import prompts as P
from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer
from vifailback_demo.core.commands import command_variants, parse_command, swap_words
from vifailback_demo.core.dataset import VQARecord
from vifailback_demo.errors import StoreError
from vifailback_demo.store.records import CorrectionRecord, FinalVersion

DETECTION_OPTIONS = ("Successful", "Failed")
MAX_OPTIONS = 4

# Used only when a command is not in the official vocabulary (free text): swap words pairwise.
_TEXT_SWAPS = (
    ("to the left", "to the right"),
    ("forward", "backward"),
    ("upward", "downward"),
    ("counter-clockwise", "clockwise"),
    ("open", "close"),
    ("slightly", "significantly"),
    ("left gripper", "right gripper"),
)


def _rng(record: CorrectionRecord) -> random.Random:
    final = record.final.to_json() if record.final else None
    key = json.dumps([record.task, list(record.frames), final, record.mode], sort_keys=True)
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def lowlevel_distractors(command: str) -> list[str]:
    """Wrong commands, one change each, in a fixed order (vocabulary flips, else word swaps)."""
    parsed = parse_command(command)
    out: list[str] = []
    for variant in command_variants(parsed):
        text = variant.format()
        if text != command and text not in out:
            out.append(text)
    if not out:
        for a, b in _TEXT_SWAPS:
            if a in command or b in command:
                text = swap_words(command, a, b)
                if text != command and text not in out:
                    out.append(text)
    return out


def _keyframe_options(keyframe: int, num_frames: int, rng: random.Random) -> list[str]:
    others = [i for i in range(1, num_frames + 1) if i != keyframe]
    picks = rng.sample(others, k=min(MAX_OPTIONS - 1, len(others)))
    return [str(i) for i in sorted([keyframe, *picks])]


def _lowlevel_options(command: str, rng: random.Random) -> list[str]:
    wrong = lowlevel_distractors(command)
    options = [command, *rng.sample(wrong, k=min(MAX_OPTIONS - 1, len(wrong)))]
    rng.shuffle(options)
    return options


def derive_vqa(record: CorrectionRecord, images: Sequence[str]) -> list[VQARecord]:
    """The VQA pairs an accepted record supports; ``images`` are the frame paths to write into the records."""
    if record.decision != "accepted" or record.final is None:
        raise StoreError(
            f"record {record.id} is {record.decision}; only accepted records with a final version give VQA"
        )
    if len(images) != len(record.frames):
        raise StoreError(f"record {record.id}: got {len(images)} image paths for {len(record.frames)} frames")
    final: FinalVersion = record.final
    task, mode, rng = record.task, record.mode, _rng(record)
    images = list(images)
    detection = "Successful" if final.success else "Failed"
    out = [VQARecord.lite(P.TAG_FAILURE_DETECTION, task, images, list(DETECTION_OPTIONS), detection)]
    cot_tag = P.COT_TAGS[mode]
    if final.success:
        out.append(VQARecord.build(P.hard_prompt(cot_tag, task), format_cot_answer(success=True), images, cot_tag))
        return out
    keyframe = final.keyframe
    if final.failure_type and final.low_level and keyframe is not None:
        answer = format_cot_answer(
            success=False,
            keyframe=keyframe,
            failure_type=final.failure_type,
            low_level=final.low_level,
            symbols=final.symbol_objects(),
            mode=mode,
        )
        out.append(VQARecord.build(P.hard_prompt(cot_tag, task), answer, images, cot_tag))
    if mode == "avoidance" and keyframe is not None and len(images) >= 2:
        out.append(
            VQARecord.lite(P.TAG_KEYFRAME, task, images, _keyframe_options(keyframe, len(images), rng), str(keyframe))
        )
    if final.subtasks and final.failed_subtask is not None and len(final.subtasks) >= 2:
        subtasks = list(final.subtasks)
        answer = subtasks[final.failed_subtask - 1]
        if len(set(subtasks)) == len(subtasks):  # duplicate options would make the letter ambiguous
            out.append(VQARecord.lite(P.TAG_SUBTASK, task, images, subtasks, answer, subtasks=subtasks))
    if final.failure_type:
        out.append(VQARecord.lite(P.TAG_FAILURE_TYPE, task, images, list(FAILURE_TYPES), final.failure_type))
    if final.low_level and keyframe is not None:
        options = _lowlevel_options(final.low_level, rng)
        if len(options) >= 2:
            tag = P.TAG_LOWLEVEL_AVOIDANCE if mode == "avoidance" else P.TAG_LOWLEVEL_CORRECTION
            out.append(VQARecord.lite(tag, task, images, options, final.low_level, keyframe=keyframe))
    if final.failure_reason:
        out.append(
            VQARecord.build(
                P.hard_prompt(P.TAG_FAILURE_REASON, task), final.failure_reason, images, P.TAG_FAILURE_REASON
            )
        )
    if final.high_level:
        tag = P.TAG_HIGHLEVEL_AVOIDANCE if mode == "avoidance" else P.TAG_HIGHLEVEL_CORRECTION
        out.append(VQARecord.build(P.hard_prompt(tag, task), final.high_level, images, tag))
    return out
