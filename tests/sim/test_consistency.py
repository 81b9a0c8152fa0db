"""Ground truth agrees with the simulated geometry: keyframes, arrows, variants, success rate."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from vifailback_demo.core.symbols import StraightArrow
from vifailback_demo.sim.episode import make_episode
from vifailback_demo.sim.failures import VARIANTS
from vifailback_demo.sim.guidance import AXIS_COLOR, clamp_point
from vifailback_demo.sim.plan import expert_plan
from vifailback_demo.sim.rollout import rollout
from vifailback_demo.sim.world import MAX_GAP

ALL_VARIANTS = [v for vs in VARIANTS.values() for v in vs]
GRASP_FAMILY = {"no_close", "weak_close", "offset_x", "offset_y", "offset_z", "wrong_yaw"}
PLANNING = {"wrong_object", "skipped_subtask", "wrong_arm"}
HUMAN = {"hand_moves_object", "hand_takes_object", "hand_moves_container"}


def _episode(variant: str, index: int):
    task = ("place_block_in_bowl", "stack_blocks", "two_arm_blocks_to_containers")[index % 3]
    return make_episode(7, index, tasks=(task,), width=320, height=240, variant=variant)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_avoid_keyframe_is_the_last_state_before_the_failure(variant: str) -> None:
    for index in range(3):
        ep = _episode(variant, index)
        g, stage = ep.truth, ep.task.stages[ep.injection.stage]
        a, arm, obj = g.avoid_frame, stage.arm, stage.obj
        before, after = ep.states[a], ep.states[a + 1]
        assert 0 < a < g.correct_frame < ep.num_frames
        assert not ep.task.success(ep.states[-1]), "an injected failure must fail the task"
        if variant in GRASP_FAMILY:
            # Gripper open above an untouched object; the failure act (closing, or lifting unclosed) starts next.
            assert before.arms[arm, 4] == pytest.approx(MAX_GAP)
            assert np.allclose(before.objects[obj, :2], ep.task.layout[obj, :2])
            if variant == "no_close":
                # The expert starts closing on the next frame; the failing gripper stays open.
                expert_next = rollout(ep.task, expert_plan(ep.task))[a + 1]
                assert expert_next.arms[arm, 4] < before.arms[arm, 4]
                assert after.arms[arm, 4] == pytest.approx(MAX_GAP)
            else:
                assert after.arms[arm, 4] < before.arms[arm, 4]
        elif variant in ("early_open", "place_offset"):
            assert before.holder[obj] == arm and after.arms[arm, 4] > before.arms[arm, 4]
        elif variant in ("hand_takes_object", "hand_moves_container"):
            # Mid-transport: the object is still held and no hand is in view; the hand appears on the next frame.
            assert before.holder[obj] == arm and before.hand[0] == 0 and after.hand[0] == 1
        else:
            # The failure starts at a segment boundary of the expert plan: identical to the expert up to here.
            expert_states = rollout(ep.task, expert_plan(ep.task))
            assert all(
                np.array_equal(s.arms, e.arms) and np.array_equal(s.objects, e.objects)
                for s, e in zip(ep.states[: a + 1], expert_states)
            )
            if variant in HUMAN:
                assert before.hand[0] == 0 and after.hand[0] == 1
            else:
                assert not np.array_equal(after.arms, expert_states[a + 1].arms)


_WORD_AXIS = {"forward": 0, "backward": 0, "left": 1, "right": 1, "upward": 2, "downward": 2}


def _sentence_axes(text: str) -> list[int]:
    move = re.search(r"[Mm]ove the \w+ gripper (.*?)(?:,|\.$)", text)
    if not move:
        return []
    return [_WORD_AXIS[w] for w in re.findall(r"\b(forward|backward|left|right|upward|downward)\b", move.group(1))]


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_arrows_start_at_the_gripper_and_point_to_the_goal_in_axis_colours(variant: str) -> None:
    ep = _episode(variant, 1)
    g = ep.truth
    for frame, guide in ((g.avoid_frame, g.avoidance), (g.correct_frame, g.correction)):
        arrows = [s for s in guide.symbols if isinstance(s, StraightArrow)]
        axes = _sentence_axes(guide.low_level)
        assert [a for a, _ in guide.axes] == axes
        if not axes:
            assert not arrows
            continue
        assert len(arrows) == 1
        arrow = arrows[0]
        assert list(arrow.colors) == [AXIS_COLOR[a] for a in axes]
        gripper = "left" if "left gripper" in guide.low_level else "right"
        tip = ep.states[frame].arms[0 if gripper == "left" else 1]
        assert arrow.start == clamp_point(ep.camera, ep.camera.project_point(tip[:3]))
        goal = tip[:3].copy()
        for a in axes:
            goal[a] = guide.target[a]
        want = np.subtract(ep.camera.project_point(goal), arrow.start)
        got = np.subtract(arrow.end, arrow.start)
        assert float(want @ got) > 0.9 * np.linalg.norm(want) * np.linalg.norm(got)


@pytest.mark.slow  # statistics over 400 generated episodes; every variant is built one by one above
def test_every_type_and_variant_occurs_and_success_rate_is_about_13_percent() -> None:
    variants: Counter = Counter()
    for index in range(400):
        ep = make_episode(3, index, width=128, height=96)
        variants[ep.injection.variant if ep.injection else "success"] += 1
        assert ep.task.success(ep.states[-1]) == ep.success
        assert 100 <= ep.num_frames <= 17 * 25  # 4-17 s at 25 fps (a skipped subtask makes short clips)
    assert set(ALL_VARIANTS) <= set(variants)
    assert 0.09 <= variants["success"] / 400 <= 0.17


def test_failed_subtask_is_one_of_the_numbered_subtasks() -> None:
    for index, variant in enumerate(ALL_VARIANTS):
        ep = _episode(variant, index)
        subtasks = ep.task.subtasks
        assert subtasks[ep.truth.failed_subtask - 1].startswith(f"{ep.truth.failed_subtask}. ")
        assert all(re.match(r"^\d+\. [A-Z].*\.$", s) for s in subtasks)
