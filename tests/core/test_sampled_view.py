"""The app's view of a VQA item: inserted keyframes dropped, image numbers moved to the frames it keeps."""

from __future__ import annotations

from vifailback_demo.core.answer import format_cot_answer, parse_answer
from vifailback_demo.core.dataset import keyframe_position, vqa_frame_names
from vifailback_demo.core.prompts import (
    TAG_COT_AVOIDANCE,
    TAG_COT_CORRECTION,
    TAG_FAILURE_DETECTION,
    TAG_KEYFRAME,
    TAG_LOWLEVEL_AVOIDANCE,
    TAG_LOWLEVEL_CORRECTION,
    cot_prompt,
    lite_prompt,
)
from vifailback_demo.core.sampled_view import sampled_positions, sampled_view
from vifailback_demo.core.symbols import Crosshair

TASK = "Use the right arm to place the red block into the bowl."
LOW = "Move the right gripper to the left slightly."


def paths(names: list[str]) -> list[str]:
    return [f"annotated_data/t/frames/episode_0_cam_high/{n}" for n in names]


def cot(images: list[str], kind: str, tag: str) -> tuple[str, str]:
    answer = format_cot_answer(
        success=False,
        keyframe=keyframe_position(images, kind),
        failure_type="gripper state",
        low_level=LOW,
        symbols=[Crosshair((320, 240))],
        mode="avoidance" if kind == "avoid" else "correction",
    )
    return cot_prompt(TASK, "avoidance" if kind == "avoid" else "correction"), answer


def test_inserted_keyframes_are_dropped_and_cot_keyframes_move_to_kept_frames():
    images = paths(vqa_frame_names(231, 10, 195))  # 0, 10*, 25, ..., 175, 195*, 200, 225, 230
    assert len(images) == 13 and len(sampled_positions(images)) == 11
    prompt, answer = cot(images, "avoid", TAG_COT_AVOIDANCE)
    assert parse_answer(answer).keyframe == 2
    kept, prompt2, answer2 = sampled_view(TAG_COT_AVOIDANCE, images, prompt, answer)
    names = [p.rsplit("/", 1)[1] for p in kept]
    assert names == ["0.jpg", "25.jpg", "50.jpg", "75.jpg", "100.jpg", "125.jpg", "150.jpg", "175.jpg", "200.jpg",
                     "225.jpg", "230.jpg"]  # fmt: skip
    # Avoidance: back to the last kept frame at or before frame 10 (frame 0, image 1), in the think and the answer.
    parsed = parse_answer(answer2)
    assert parsed.keyframe == 1 and "image number 1." in answer2 and prompt2 == prompt
    assert (parsed.failure_type, parsed.low_level, parsed.symbols) == ("gripper state", LOW, [Crosshair((320, 240))])
    # Correction: on to the first kept frame at or after frame 195 (frame 200, image 9).
    prompt, answer = cot(images, "correct", TAG_COT_CORRECTION)
    assert parse_answer(answer).keyframe == 10
    assert parse_answer(sampled_view(TAG_COT_CORRECTION, images, prompt, answer)[2]).keyframe == 9


def test_lite_prompts_are_remapped_and_keyframe_questions_have_no_view():
    images = paths(vqa_frame_names(231, 60, 120))
    options = [LOW, "Move the right gripper upward."]
    avoid = lite_prompt(TAG_LOWLEVEL_AVOIDANCE, TASK, options, keyframe=keyframe_position(images, "avoid"))
    correct = lite_prompt(TAG_LOWLEVEL_CORRECTION, TASK, options, keyframe=keyframe_position(images, "correct"))
    assert "image number 4." in avoid and "image number 7." in correct
    assert "image number 3." in sampled_view(TAG_LOWLEVEL_AVOIDANCE, images, avoid, "A. x")[1]  # frame 50
    assert "image number 6." in sampled_view(TAG_LOWLEVEL_CORRECTION, images, correct, "A. x")[1]  # frame 125
    assert sampled_view(TAG_KEYFRAME, images, "Which image?", "A. 4") is None
    kept, prompt, reply = sampled_view(TAG_FAILURE_DETECTION, images, "Was it done? image number 4", "B. Failed")
    assert len(kept) == 11 and prompt.endswith("image number 4") and reply == "B. Failed"  # untouched: no keyframe


def test_grid_and_last_frame_keyframes_stay_and_successes_are_unchanged():
    on_grid = paths(vqa_frame_names(231, 50, 230))  # the avoid keyframe on the grid, the correct one the last frame
    assert sampled_positions(on_grid) == list(range(len(on_grid)))
    prompt, answer = cot(on_grid, "avoid", TAG_COT_AVOIDANCE)
    assert sampled_view(TAG_COT_AVOIDANCE, on_grid, prompt, answer) == (on_grid, prompt, answer)
    success = paths(vqa_frame_names(231))
    assert sampled_view(TAG_KEYFRAME, success, "q", "a") == (success, "q", "a")
    # Both keyframes on one grid frame: two files of one picture, kept once.
    same = paths(vqa_frame_names(231, 100, 100))
    assert len(same) == 12 and len(sampled_positions(same)) == 11
