"""CoT diagnostic rates: hand-made right, wrong and malformed replies."""

from __future__ import annotations

from eval.cot_diagnostics import cot_diagnostics
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.symbols import GripperState, StraightArrow

REF = format_cot_answer(
    success=False,
    keyframe=7,
    failure_type="gripper state",
    low_level="Move the right gripper upward slightly, and grasp close.",
    symbols=[StraightArrow((1, 2), (3, 4), ("blue",)), GripperState((5, 6), "OFF")],
)


def sample(prediction: str, tag: str = "cot_avoidance_code_qa") -> dict:
    return {"tag": tag, "prediction": prediction, "reference": REF}


def test_rates_count_each_property():
    off_by_one = REF.replace("image number 7", "image number 8").replace('"keyframe": "7"', '"keyframe": "8"')
    wrong_colour = REF.replace("['blue']", "['red']")
    wrong_type = REF.replace("'gripper state'", "'task planning'")
    said_success = format_cot_answer(success=True)
    rows = [
        sample(REF),
        sample(off_by_one),
        sample(wrong_colour),
        sample(wrong_type),
        sample(said_success),
        sample("garbage"),
    ]
    rows.append({"tag": "failure_type_qa", "prediction": "A", "reference": "A"})  # not a CoT item: ignored
    d = cot_diagnostics(rows)
    assert d["n"] == 6 and d["n_failed_references"] == 6
    assert d["parseable"] == round(100 * 5 / 6, 2)
    assert d["failure_detection"] == round(100 * 4 / 6, 2)
    assert d["failure_type"] == round(100 * 3 / 6, 2)
    assert d["keyframe_exact"] == round(100 * 3 / 6, 2)
    assert d["keyframe_within_1"] == round(100 * 4 / 6, 2)
    assert d["symbol_types_and_colours"] == round(100 * 3 / 6, 2)
    # Of the three replies with the right type (right, off by one, wrong colour): two exact keyframes, two symbols.
    assert d["keyframe_exact_when_type_right"] == round(100 * 2 / 3, 2)
    assert d["symbol_types_and_colours_when_type_right"] == round(100 * 2 / 3, 2)
    assert d["failure_type_confusion"] == {"gripper state": {"gripper state": 3, "none": 2, "task planning": 1}}


def test_no_cot_items():
    empty = cot_diagnostics([])
    assert empty["parseable"] is None and empty["keyframe_exact_when_type_right"] is None
    assert empty["failure_type_confusion"] == {}
