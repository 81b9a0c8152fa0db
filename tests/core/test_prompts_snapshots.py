"""Snapshot tests: every prompt of the 11 task types (plus the correction CoT) is pinned byte for byte.

Regenerate after an intended wording change with ``UPDATE_PROMPT_SNAPSHOTS=1 pytest tests/core -k snapshot``
and review the diff: the VQA files, the tiny model and the bench depend on these exact strings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vifailback_demo.core import prompts as P

SNAPSHOTS = Path(__file__).parent / "snapshots"
TASK = "Use the right arm to place the orange block into the bowl."
OPTIONS = ["Successful", "Failed"]
SUBTASKS = ["1. Pick up the orange block.", "2. Place the block into the bowl."]


def _lite(tag: str) -> str:
    options = list(P.FAILURE_TYPE_DEFINITIONS[i][0] for i in range(4)) if tag == P.TAG_FAILURE_TYPE else OPTIONS
    if tag == P.TAG_SUBTASK:
        options = SUBTASKS
    if tag in (P.TAG_LOWLEVEL_AVOIDANCE, P.TAG_LOWLEVEL_CORRECTION):
        options = ["Move the right gripper upward slightly.", "Rotate the left gripper clockwise."]
    return P.lite_prompt(tag, TASK, options, keyframe=7, subtasks=SUBTASKS)


def _cases() -> dict[str, str]:
    cases = {tag: _lite(tag) for tag in P.LITE_TAGS}
    cases.update({tag: P.hard_prompt(tag, TASK) for tag in P.HARD_TAGS})
    return cases


CASES = _cases()


def test_every_task_type_has_a_snapshot_case() -> None:
    assert len(P.ALL_TAGS) == 11
    assert sorted(CASES) == sorted(P.ALL_TAGS)


@pytest.mark.parametrize("tag", sorted(CASES))
def test_prompt_matches_snapshot(tag: str) -> None:
    path = SNAPSHOTS / f"{tag}.txt"
    text = CASES[tag]
    if os.environ.get("UPDATE_PROMPT_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8", newline="")
    assert path.is_file(), f"missing snapshot {path.name}; run with UPDATE_PROMPT_SNAPSHOTS=1 and review"
    assert text == path.read_text(encoding="utf-8"), f"prompt for {tag} changed; update the snapshot only on purpose"


def test_official_cot_prompt_matches_reference_byte_for_byte(reference_dir: Path) -> None:
    record = json.loads((reference_dir / "example_vifailback_infer.json").read_text(encoding="utf-8"))[0]
    user = record["messages"][0]["content"]
    text, count = P.strip_image_tokens(user)
    assert count == len(record["images"])
    task = text.split("The task is to: '", 1)[1].split("'.\n", 1)[0]
    assert P.cot_prompt(task, "avoidance") == text
    assert P.with_image_tokens(P.cot_prompt(task, "avoidance"), count) == user


def test_correction_prompt_differs_only_in_steps_2_and_4() -> None:
    a = P.cot_prompt(TASK, "avoidance").splitlines()
    c = P.cot_prompt(TASK, "correction").splitlines()
    assert len(a) == len(c)
    differing = [i for i, (x, y) in enumerate(zip(a, c)) if x != y]
    assert len(differing) == 2
    assert all(c[i].startswith(("2.", "4.")) for i in differing)


def test_bad_inputs_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="task instruction is empty"):
        P.cot_prompt("  ", "avoidance")
    with pytest.raises(ValueError, match="mode"):
        P.cot_prompt(TASK, "repair")
    with pytest.raises(ValueError, match="keyframe"):
        P.lite_prompt(P.TAG_LOWLEVEL_AVOIDANCE, TASK, OPTIONS)
