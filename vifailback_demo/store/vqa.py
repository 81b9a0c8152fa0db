"""VQA pairs from one accepted correction, in the official ShareGPT format with this project's tags (each pair built
by :mod:`vifailback_demo.core.vqa_pairs`, as the simulator's are).

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

from vifailback_demo.core import vqa_pairs as V
from vifailback_demo.core.commands import command_variants, parse_command, swap_words
from vifailback_demo.core.dataset import VQARecord
from vifailback_demo.errors import StoreError
from vifailback_demo.store.records import CorrectionRecord, FinalVersion

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
    return V.keyframe_options(keyframe, rng.sample(others, k=min(MAX_OPTIONS - 1, len(others))))


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
    out = [V.detection_pair(task, images, final.success)]
    if final.success:
        out.append(V.cot_pair(task, images, mode, success=True))
        return out
    keyframe = final.keyframe
    if final.failure_type and final.low_level and keyframe is not None:
        out.append(
            V.cot_pair(
                task,
                images,
                mode,
                success=False,
                keyframe=keyframe,
                failure_type=final.failure_type,
                low_level=final.low_level,
                symbols=final.symbol_objects(),
            )
        )
    if mode == "avoidance" and keyframe is not None and len(images) >= 2:
        out.append(V.keyframe_pair(task, images, _keyframe_options(keyframe, len(images), rng), keyframe))
    subtasks = final.subtasks
    # Duplicate options would make the letter ambiguous.
    if final.failed_subtask is not None and len(subtasks) >= 2 and len(set(subtasks)) == len(subtasks):
        out.append(V.subtask_pair(task, images, subtasks, final.failed_subtask))
    if final.failure_type:
        out.append(V.failure_type_pair(task, images, final.failure_type))
    if final.low_level and keyframe is not None:
        options = _lowlevel_options(final.low_level, rng)
        if len(options) >= 2:
            out.append(V.lowlevel_pair(task, images, mode, options, final.low_level, keyframe))
    if final.failure_reason:
        out.append(V.failure_reason_pair(task, images, final.failure_reason))
    if final.high_level:
        out.append(V.highlevel_pair(task, images, mode, final.high_level))
    return out
