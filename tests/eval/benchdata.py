"""A small bench in the official layout, written by the tests: every one of the 11 tags, tiny images."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer
from vifailback_demo.core.dataset import VQARecord, write_vqa_records
from vifailback_demo.core.prompts import (
    ALL_TAGS,
    TAG_COT_AVOIDANCE,
    TAG_COT_CORRECTION,
    TAG_FAILURE_DETECTION,
    TAG_FAILURE_TYPE,
    TAG_KEYFRAME,
    TAG_SUBTASK,
    hard_prompt,
    lite_prompt,
    option_letter,
)
from vifailback_demo.core.symbols import RotatingArrow, StraightArrow
from vifailback_demo.imageio import write_image_rgb

SUBTASKS = ["1. pick up the orange block", "2. place the block into the bowl", "3. close the microwave door"]
COMMANDS = [
    "Move the right gripper to the left slightly and upward significantly.",
    "Move the left gripper forward significantly.",
    "Rotate the right gripper clockwise.",
]
FREE_TEXT = {
    "failure_reason_qa": [
        "The right gripper closed before reaching the orange block, so the block was never grasped.",
        "A person moved the bowl away while the left arm was placing the block.",
    ],
    "highlevel_avoidance_qa": [
        "Open the microwave door with the left arm before picking up the bowl.",
        "Pick the orange block instead of the green one.",
    ],
    "highlevel_correction_qa": [
        "Put the bowl back on the table, then open the microwave door first.",
        "Release the green block and pick the orange block.",
    ],
}


@dataclass
class Bench:
    root: Path
    path: Path
    records: list[VQARecord]

    def by_tag(self, tag: str) -> list[VQARecord]:
        return [r for r in self.records if r.tag == tag]


def _write_episode(root: Path, name: str, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    rels = []
    for frame in ("0.jpg", "25.jpg", "30_avoid_keyframe.jpg"):
        rel = f"annotated_data/{name}/frames/episode_0_cam_high/{frame}"
        write_image_rgb(root / rel, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
        rels.append(rel)
    return rels


def _lite_record(tag: str, task: str, images: list[str], k: int) -> VQARecord:
    extra: dict = {}
    if tag == TAG_FAILURE_DETECTION:
        options = ["Successful", "Failed"]
    elif tag == TAG_KEYFRAME:
        options = ["1", "2", "3"]
    elif tag == TAG_SUBTASK:
        options, extra = list(SUBTASKS), {"subtasks": SUBTASKS}
    elif tag == TAG_FAILURE_TYPE:
        options = list(FAILURE_TYPES)
    else:
        options = list(COMMANDS)
        extra = {"keyframe": 3}
    answer_index = (k + 1) % len(options)
    answer = options[answer_index]
    prompt = lite_prompt(tag, task, options, **extra)
    return VQARecord.build(
        prompt, f"{option_letter(answer_index)}. {answer}", images, tag, options=options, answer=answer
    )


def cot_reference(tag: str, k: int) -> str:
    mode = "avoidance" if tag == TAG_COT_AVOIDANCE else "correction"
    if k % 2 == 1:
        return format_cot_answer(success=True, mode=mode)
    symbols = [
        StraightArrow(start=(500, 500), end=(400, 300), colors=("green", "blue")),
        RotatingArrow(center=(600, 400), direction="clockwise"),
    ]
    return format_cot_answer(
        success=False,
        keyframe=3,
        failure_type="gripper 6d-pose",
        low_level="Move the right gripper to the left slightly and upward significantly, and rotate the right "
        "gripper clockwise.",
        symbols=symbols,
        mode=mode,
    )


def make_bench(root: Path, per_tag: int = 2, name: str = "bench.json") -> Bench:
    """``per_tag`` records of each of the 11 tags; every record has its own task text (so prompts are unique)."""
    records = []
    for t, tag in enumerate(ALL_TAGS):
        for k in range(per_tag):
            episode = f"task_{t:02d}_{k:02d}"
            images = _write_episode(root, episode, seed=t * 100 + k)
            task = f"Use the right arm to place block {t}-{k} into the bowl."
            if tag in (TAG_COT_AVOIDANCE, TAG_COT_CORRECTION):
                records.append(VQARecord.build(hard_prompt(tag, task), cot_reference(tag, k), images, tag))
            elif tag in FREE_TEXT:
                records.append(VQARecord.build(hard_prompt(tag, task), FREE_TEXT[tag][k % 2], images, tag))
            else:
                records.append(_lite_record(tag, task, images, k))
    path = root / "VQA" / name
    write_vqa_records(path, records)
    return Bench(root=root, path=path, records=records)


def write_raw_bench(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return path
