"""Blind baselines: modes per key learnt from training records, with back-off, scored on a bench."""

from __future__ import annotations

import json

import pytest

from experiments.frame_reading.cli import main
from experiments.frame_reading.priors import blind_baselines, task_template
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.dataset import VQARecord, write_vqa_records
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_COT_CORRECTION, TAG_FAILURE_DETECTION, cot_prompt
from vifailback_demo.core.symbols import GripperState, StraightArrow

BOWL = "Use the right arm to place the {} block into the bowl."
LID = "Use the left arm to put the lid on the pot."


def cot(task: str, n_images: int, ftype: str | None, keyframe: int = 2, tag: str = TAG_COT_AVOIDANCE) -> VQARecord:
    answer = (
        format_cot_answer(success=True)
        if ftype is None
        else format_cot_answer(success=False, keyframe=keyframe, failure_type=ftype, low_level="Grasp close.")
    )
    images = [f"annotated_data/t/frames/episode_0_cam_high/{i}.jpg" for i in range(n_images)]
    mode = "avoidance" if tag == TAG_COT_AVOIDANCE else "correction"
    return VQARecord.build(cot_prompt(task, mode), answer, images, tag)


def test_template_drops_colour_words():
    assert task_template(cot_prompt(BOWL.format("purple"))) == task_template(cot_prompt(BOWL.format("orange")))
    assert task_template(cot_prompt(BOWL.format("orange"))) == "use the right arm to place the block into the bowl."


def test_modes_per_key_with_back_off_and_tag_specific_keyframes():
    train = [
        # 12 images: mostly gripper state; 14 images: human intervention (a hand adds frames).
        cot(BOWL.format("red"), 12, "gripper state", keyframe=4),
        cot(BOWL.format("blue"), 12, "gripper state", keyframe=4),
        cot(BOWL.format("yellow"), 12, "gripper state", keyframe=4),
        cot(BOWL.format("pink"), 12, "gripper 6d-pose", keyframe=5),
        cot(BOWL.format("red"), 14, "human intervention", keyframe=3),
        # The correction keyframe of the same episodes sits elsewhere: keys must keep the tasks apart.
        cot(BOWL.format("red"), 12, "gripper state", keyframe=9, tag=TAG_COT_CORRECTION),
        cot(LID, 13, "task planning", keyframe=2),
        cot(LID, 13, "task planning", keyframe=2),
        cot(BOWL.format("red"), 12, None),  # successes teach nothing
    ]
    bench = [
        cot(BOWL.format("green"), 12, "gripper state", keyframe=4),  # type right, keyframe exact
        cot(BOWL.format("green"), 12, "gripper 6d-pose", keyframe=6),  # type wrong; keyframe 5: within one
        cot(BOWL.format("green"), 14, "human intervention", keyframe=3),  # both right
        cot(BOWL.format("green"), 12, "gripper state", keyframe=9, tag=TAG_COT_CORRECTION),  # both right
        cot(LID, 20, "task planning", keyframe=7),  # unseen count: backs off to the template; keyframe 2 far
        cot("Stack the cups.", 12, "gripper state", keyframe=4),  # unseen template: overall modes
    ]
    b = blind_baselines(train, bench)
    assert b["n_train"] == 8 and b["n_bench"] == 6
    assert b["failure_type_from_task_and_image_count"] == round(100 * 5 / 6, 2)
    assert b["keyframe_exact_given_reference_type"] == round(100 * 4 / 6, 2)
    assert b["keyframe_within_1_given_reference_type"] == round(100 * 5 / 6, 2)
    # Blind to the type too: the 6d-pose episode's keyframe 6 gets the key's mode, 4 (two off, not within one).
    assert b["keyframe_exact_from_task_and_image_count"] == round(100 * 4 / 6, 2)
    assert b["keyframe_within_1_from_task_and_image_count"] == round(100 * 4 / 6, 2)


def test_the_keyframe_written_first_gives_the_type_away():
    # Gripper-state failures stop at image 4, 6d-pose ones at image 7: the keyframe names the type.
    train = [cot(BOWL.format("red"), 12, "gripper state", keyframe=4)] * 2
    train += [cot(BOWL.format("red"), 12, "gripper 6d-pose", keyframe=7)] * 3
    bench = [
        cot(BOWL.format("blue"), 12, "gripper state", keyframe=4),
        cot(BOWL.format("blue"), 12, "gripper 6d-pose", keyframe=7),
    ]
    b = blind_baselines(train, bench)
    assert b["failure_type_from_task_and_image_count"] == 50.0  # the count alone: always 6d-pose
    assert b["failure_type_given_reference_keyframe"] == 100.0


def test_symbols_given_the_type_compare_types_and_arrow_colour_order():
    def with_symbols(symbols, ftype="gripper 6d-pose"):
        answer = format_cot_answer(success=False, keyframe=3, failure_type=ftype, low_level="Move.", symbols=symbols)
        images = [f"annotated_data/t/frames/episode_0_cam_high/{i}.jpg" for i in range(12)]
        return VQARecord.build(cot_prompt(BOWL.format("red")), answer, images, TAG_COT_AVOIDANCE)

    red_green = [StraightArrow((10, 10), (40, 10), ("red", "green"))]
    green_red = [StraightArrow((10, 10), (40, 10), ("green", "red"))]
    train = [with_symbols(red_green), with_symbols(red_green), with_symbols(green_red)]
    train.append(with_symbols([GripperState((5, 5), "OFF")], ftype="gripper state"))
    bench = [
        with_symbols([StraightArrow((90, 50), (60, 20), ("red", "green"))]),  # same types and colours: a hit
        with_symbols(green_red),  # colour order differs from the mode: a miss
        with_symbols([*red_green, GripperState((5, 5), "ON")]),  # an extra symbol: a miss
        with_symbols([GripperState((50, 50), "ON")], ftype="gripper state"),  # per type: a hit
    ]
    b = blind_baselines(train, bench)
    assert b["symbol_types_and_colours_given_reference_type"] == 50.0
    # Blind to the type, the gripper-state episode gets the arrows of the key's commonest answer: only the first hits.
    assert b["symbol_types_and_colours_from_task_and_image_count"] == 25.0


def test_no_training_cases_is_an_error():
    lite = VQARecord.build("q", "B. Failed", ["a.jpg"], TAG_FAILURE_DETECTION, options=["S", "F"], answer="F")
    with pytest.raises(ValueError, match="expected chain-of-thought items"):
        blind_baselines([lite], [cot(LID, 3, "task planning")])


def test_cli_prints_json_and_refuses_a_missing_file(tmp_path, capsys):
    train, bench = tmp_path / "train.json", tmp_path / "bench.json"
    write_vqa_records(train, [cot(LID, 13, "task planning", keyframe=2)])
    write_vqa_records(bench, [cot(LID, 13, "task planning", keyframe=2), cot(LID, 13, "gripper state", keyframe=5)])
    assert main(["priors", "--train", str(train), "--bench", str(bench)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failure_type_from_task_and_image_count"] == 50.0 and out["keyframe_exact_given_reference_type"] == 50.0
    assert main(["priors", "--train", str(tmp_path / "nope.json"), "--bench", str(bench)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.json" in err
