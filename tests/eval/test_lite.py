"""Lite scoring: the reply-to-option mapping rule and right / wrong / malformed cases for each Lite task."""

from __future__ import annotations

import pytest

from eval.lite import map_reply_to_option, score_lite
from tests.eval.benchdata import COMMANDS, SUBTASKS, Bench
from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.core.prompts import LITE_TAGS, option_letter

OPTIONS = ["Successful", "Failed"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("A", 0),
        ("B.", 1),
        ("(b)", 1),
        ("b) Failed", 1),
        ("B: Failed", 1),
        ("**B. Failed**", 1),
        ("Answer: A", 0),
        ("The answer is B", 1),
        ("Failed", 1),
        ("failed.", 1),
        ("'Successful'", 0),
        ("The task failed.", 1),
        ("<Think>It could be Successful.</Think><Answer>B. Failed</Answer>", 1),
        ("<Think>hmm</Think> A. Successful", 0),
        ("B. Successful", 1),  # the letter decides, whatever text follows
    ],
)
def test_mapping_rule(reply: str, expected: int) -> None:
    assert map_reply_to_option(reply, OPTIONS) == expected


@pytest.mark.parametrize(
    "reply",
    ["", None, "   ", "C.", "Z", "I am not sure.", "Successful or Failed", "a robot arm", "<Think>Failed</Think>"],
)
def test_malformed_or_ambiguous_replies_map_to_nothing(reply: str | None) -> None:
    assert map_reply_to_option(reply, OPTIONS) is None


def test_containment_prefers_the_longer_option_and_whole_phrases() -> None:
    options = ["Move left", "Move left slightly", "Move right"]
    assert map_reply_to_option("You should move left slightly now", options) == 1
    assert map_reply_to_option("move left", options) == 0
    keyframes = ["1", "12", "13"]
    assert map_reply_to_option("Image 12", keyframes) == 1
    assert map_reply_to_option("image 123", keyframes) is None  # '12' inside '123' is not a whole phrase
    assert map_reply_to_option("12 or 13", keyframes) is None


def _cases(options: list[str], answer: str) -> dict[str, tuple[str | None, bool]]:
    right = options.index(answer)
    wrong = (right + 1) % len(options)
    return {
        "letter and text": (f"{option_letter(right)}. {answer}", True),
        "text only": (answer, True),
        "letter only": (option_letter(right), True),
        "wrong letter": (f"{option_letter(wrong)}. {options[wrong]}", False),
        "wrong text": (options[wrong], False),
        "malformed": ("I cannot tell from these images.", False),
        "empty": ("", False),
        "out of range letter": (f"{option_letter(len(options))}.", False),
    }


@pytest.mark.parametrize("tag", LITE_TAGS)
def test_each_lite_task_right_wrong_malformed(bench: Bench, tag: str) -> None:
    records = bench.by_tag(tag)
    assert len(records) == 2
    for record in records:
        assert record.options is not None and record.answer is not None
        for name, (reply, correct) in _cases(record.options, record.answer).items():
            result = score_lite(reply, record.options, record.answer)
            assert result["correct"] is correct, (tag, name, reply, result)
            assert result["score"] == (1.0 if correct else 0.0)
        # The bench's own reference reply scores right.
        assert score_lite(record.response, record.options, record.answer)["correct"]


def test_task_specific_wordings() -> None:
    assert score_lite("The failure occurred in subtask 2. place the block into the bowl", SUBTASKS, SUBTASKS[1])[
        "correct"
    ]
    assert score_lite("Gripper 6D-pose", list(FAILURE_TYPES), "gripper 6d-pose")["correct"]
    assert not score_lite("gripper state", list(FAILURE_TYPES), "gripper 6d-pose")["correct"]
    assert score_lite(f"C. {COMMANDS[2]}", COMMANDS, COMMANDS[2])["choice"] == "C"
    result = score_lite("no idea", COMMANDS, COMMANDS[0])
    assert result["choice"] is None and result["choice_text"] is None
