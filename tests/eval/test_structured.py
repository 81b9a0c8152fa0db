"""Offline Hard scorers: the CoT structured score (tasks 7-8) and the reference overlap for free text (9-11)."""

from __future__ import annotations

import pytest

from eval.overlap import rouge_l, score_free_text
from eval.scoring import score_offline
from eval.structured import POINT_TOLERANCE, command_elements, score_command, score_cot, score_symbols
from tests.eval.benchdata import FREE_TEXT, Bench, cot_reference
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_COT_CORRECTION
from vifailback_demo.core.symbols import Crosshair, GripperState, RotatingArrow, StraightArrow

REF_COMMAND = (
    "Move the right gripper to the left slightly and upward significantly, and rotate the right gripper clockwise."
)
REF_SYMBOLS = [
    StraightArrow(start=(500, 500), end=(400, 300), colors=("green", "blue")),
    RotatingArrow(center=(600, 400), direction="clockwise"),
]


def failed_answer(**overrides: object) -> str:
    fields = {
        "success": False,
        "keyframe": 3,
        "failure_type": "gripper 6d-pose",
        "low_level": REF_COMMAND,
        "symbols": REF_SYMBOLS,
    }
    fields.update(overrides)
    return format_cot_answer(**fields)  # type: ignore[arg-type]


REFERENCE = failed_answer()


def test_command_elements() -> None:
    elements = command_elements(REF_COMMAND)
    assert elements == {
        "gripper": "right",
        "moves": {"left": "slightly", "up": "significantly"},
        "rotation": "clockwise",
        "grasp": None,
    }
    assert command_elements("Move the left gripper slightly to the right, then open the left gripper.") == {
        "gripper": "left",
        "moves": {"right": "slightly"},
        "rotation": None,
        "grasp": "open",
    }
    assert command_elements("Rotate the right gripper counter-clockwise")["rotation"] == "counter-clockwise"
    assert command_elements("pick up the block")["moves"] == {}


def test_command_score_parts() -> None:
    assert score_command(REF_COMMAND, REF_COMMAND)["score"] == 1.0
    wrong_arm = score_command(REF_COMMAND.replace("right", "left", 1), REF_COMMAND)
    assert wrong_arm["parts"]["gripper"] == 0.0
    magnitude = score_command(REF_COMMAND.replace("slightly", "significantly"), REF_COMMAND)
    assert magnitude["parts"]["magnitudes"] == 0.5 and magnitude["parts"]["directions"] == 1.0
    reversed_dir = score_command(REF_COMMAND.replace("upward", "downward"), REF_COMMAND)
    assert reversed_dir["parts"]["directions"] == pytest.approx(0.5)
    assert score_command("", REF_COMMAND)["score"] < 0.2


def test_cot_right_scores_one_for_both_modes(bench: Bench) -> None:
    for tag in (TAG_COT_AVOIDANCE, TAG_COT_CORRECTION):
        for record in bench.by_tag(tag):
            result = score_offline(tag, record.response, record.response)
            assert result["metric"] == "structured"
            assert result["score"] == 1.0, result
    assert cot_reference(TAG_COT_AVOIDANCE, 0) != cot_reference(TAG_COT_AVOIDANCE, 1)


def test_cot_wrong_and_partial() -> None:
    said_success = score_cot(format_cot_answer(success=True), REFERENCE)
    assert said_success["score"] == 0.0
    assert said_success["components"]["success"] == 0.0
    wrong_keyframe = score_cot(failed_answer(keyframe=5), REFERENCE)
    assert wrong_keyframe["components"]["keyframe"] == 0.0 and wrong_keyframe["keyframe_error"] == 2
    assert wrong_keyframe["score"] == pytest.approx(0.8)
    wrong_type = score_cot(failed_answer(failure_type="gripper state"), REFERENCE)
    assert wrong_type["components"]["failure_type"] == 0.0
    # A successful reference defines only the success component.
    ok_ref = format_cot_answer(success=True)
    assert score_cot(ok_ref, ok_ref) == {"score": 1.0, "components": {"success": 1.0}, "parse_problems": 0}
    assert score_cot(REFERENCE, ok_ref)["score"] == 0.0


@pytest.mark.parametrize(
    "reply",
    ["", None, "garbage <Answer> {", "<Think>unfinished", "\x00\x01", '<Answer>"success detection": "Failed"', 42],
)
def test_cot_malformed_never_raises_and_scores_low(reply: object) -> None:
    result = score_cot(reply, REFERENCE)  # type: ignore[arg-type]
    assert 0.0 <= result["score"] <= 0.25
    assert "components" in result


def test_symbol_components() -> None:
    assert score_symbols(list(REF_SYMBOLS), list(REF_SYMBOLS))["score"] == 1.0
    swapped = [StraightArrow(start=(500, 500), end=(400, 300), colors=("blue", "green")), REF_SYMBOLS[1]]
    parts = score_symbols(swapped, list(REF_SYMBOLS))["parts"]
    assert parts["colors"] == 1.0  # same colours in another order: Jaccard 1
    one_colour = [StraightArrow(start=(500, 500), end=(400, 300), colors=("green",)), REF_SYMBOLS[1]]
    assert score_symbols(one_colour, list(REF_SYMBOLS))["parts"]["colors"] == 0.5
    reversed_arrow = [StraightArrow(start=(400, 300), end=(500, 500), colors=("green", "blue")), REF_SYMBOLS[1]]
    assert score_symbols(reversed_arrow, list(REF_SYMBOLS))["parts"]["directions"] == 0.5  # arrow 0, rotation 1
    ccw = [REF_SYMBOLS[0], RotatingArrow(center=(600, 400), direction="counter-clockwise")]
    assert score_symbols(ccw, list(REF_SYMBOLS))["parts"]["directions"] == 0.5
    shift = 0.05 * 1000
    moved = [
        StraightArrow(start=(500 + shift, 500), end=(400 + shift, 300), colors=("green", "blue")),
        RotatingArrow(center=(600 + shift, 400), direction="clockwise"),
    ]
    result = score_symbols(moved, list(REF_SYMBOLS))
    assert result["point_distance"] == pytest.approx(0.05)
    assert result["parts"]["points"] == pytest.approx(1 - 0.05 / POINT_TOLERANCE)
    far = [Crosshair(pos=(0, 0))]
    assert score_symbols(far, list(REF_SYMBOLS))["parts"] == {"types": 0.0}
    states = score_symbols([GripperState(pos=(10, 10), text="OFF")], [GripperState(pos=(10, 10), text="ON")])
    assert states["parts"]["states"] == 0.0 and states["parts"]["types"] == 1.0
    assert score_symbols([], list(REF_SYMBOLS))["score"] == 0.0


def test_free_text_overlap(bench: Bench) -> None:
    for tag, texts in FREE_TEXT.items():
        for record in bench.by_tag(tag):
            result = score_offline(tag, record.response, record.response)
            assert result["metric"] == "rouge_l_f1" and result["score"] == 1.0
        right, other = texts
        assert score_free_text(other, right)["score"] < 0.4
        assert score_free_text("", right)["score"] == 0.0
        assert score_free_text(None, right)["score"] == 0.0
    partial = rouge_l("the right gripper closed too early", "the right gripper closed before reaching the block")
    assert 0.4 < partial["f1"] < 0.8
    assert partial["precision"] == pytest.approx(4 / 6) and partial["recall"] == pytest.approx(4 / 8)
    assert (
        score_free_text("<Think>x</Think><Answer>Open the door first.</Answer>", "Open the door first.")["score"] == 1.0
    )
