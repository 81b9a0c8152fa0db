"""The simulator's oracle diagnoser: it says nothing until an injected failure is visible, then answers "Failed"
in the official format with a correction computed from the current state that, executed, recovers the task."""

from __future__ import annotations

import numpy as np
import pytest

from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.commands import AXIS_OF_DIRECTION, parse_command
from vifailback_demo.core.symbols import (
    AXIS_OF_COLOR,
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    StraightArrow,
    range_problems,
)
from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.errors import BackendError
from vifailback_demo.live.oracle import SimOracleBackend, ring_frames
from vifailback_demo.models.backend import VLMBackend
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.policy.sim_script import addresses_failure
from vifailback_demo.robot.sim_robot import SimRobot

TASK, SEED = "place_block_in_bowl", 3
#: One variant of each failure type and of each symbol set the oracle draws.
VARIANTS = ["no_close", "offset_y", "wrong_object", "hand_moves_container", "wrong_arm", "early_open"]


def ask(robot: SimRobot, policy: SimPolicy, prompt: str, rows: int = 25) -> dict:
    reply = policy.infer(policy_observation(robot, robot.get_observation(), prompt))
    for i in range(rows):
        robot.send_chunk_step(reply, i)
    return reply


def run_to(robot: SimRobot, policy: SimPolicy, frame: int) -> None:
    while robot.frame < frame:
        ask(robot, policy, robot.instruction, min(25, frame - robot.frame))


def recent(robot: SimRobot, n: int = 8, window: int = 150) -> list[np.ndarray]:
    ring = robot.cameras["head"].ring.recent(window)
    return [ring[i].image for i in np.linspace(0, len(ring) - 1, n).round().astype(int)]


def setup(variant: str | None) -> tuple[SimRobot, SimPolicy, SimOracleBackend, dict | None]:
    policy = SimPolicy(failure_rate=0.0 if variant is None else 1.0, variants=[variant] if variant else None)
    robot = SimRobot(task=TASK, seed=SEED, width=64, height=48)
    robot.connect()
    return robot, policy, SimOracleBackend(robot, SimPolicy(**_same(policy))), policy.episode_info(SEED, TASK)


def _same(policy: SimPolicy) -> dict:
    return {"failure_rate": policy.failure_rate, "seed": policy.seed, "variants": policy.variants}


def test_is_a_backend_and_reports_no_failure_on_a_clean_episode() -> None:
    robot, policy, oracle, info = setup(None)
    assert info is None and isinstance(oracle, VLMBackend)
    run_to(robot, policy, 50)
    pieces: list[str] = []
    result = oracle.generate(recent(robot), "prompt", on_text=pieces.append)
    assert "".join(pieces) == result.text and result.model == "sim-oracle"
    parsed = parse_answer(result.text)
    assert parsed.success is True and parsed.keyframe is None and not parsed.problems
    assert oracle.last.status == "running" and "no failure so far" in result.text
    d = Diagnoser(oracle).diagnose(recent(robot), robot.instruction, "correction")
    assert d.status == "successful"
    while not robot.success:
        ask(robot, policy, robot.instruction)
    assert oracle.verdict(recent(robot)).status == "successful"
    assert "completed successfully" in oracle.generate(recent(robot), "p").text


def test_frames_map_to_robot_frames_through_the_ring() -> None:
    robot, policy, oracle, _ = setup(None)
    run_to(robot, policy, 60)
    ring = robot.cameras["head"].ring.recent()
    frames = [ring[-1].image, ring[-11].image, ring[-11].image.copy(), np.zeros_like(ring[-1].image)]
    mapped, now = ring_frames(robot, frames)
    assert now == 60 and mapped == [60, 50, 50, None]
    # the newest given image decides what the oracle saw: an old clip taken before a failure shows none
    assert oracle.verdict(frames[1:3]).robot_frame == 50


@pytest.mark.parametrize("variant", VARIANTS)
def test_failure_is_reported_once_visible_and_its_correction_recovers(variant: str) -> None:
    robot, policy, oracle, info = setup(variant)
    visible = info["correct_frame"]
    run_to(robot, policy, visible - 1)
    assert parse_answer(oracle.generate(recent(robot), "p").text).success is True  # not visible yet
    run_to(robot, policy, visible + 30)  # a late check: the correction must start from where things are now
    frames = recent(robot)
    d = Diagnoser(oracle).diagnose(frames, robot.instruction, "correction")
    assert d.status == "failed" and not d.problems, d.problems
    assert d.keyframe == len(frames) and d.failure_type == info["type"]
    command = parse_command(d.low_level)
    arm_word = "left" if "left gripper" in d.low_level else "right"
    assert command.gripper == f"{arm_word} gripper" and not command.problems
    # the symbols: in range, one arrow whose colours name the command's axes in order, ON/OFF matching the grasp
    assert d.symbols and all(not range_problems(s) for s in d.symbols)
    arrows = [s for s in d.symbols if isinstance(s, StraightArrow)]
    assert len(arrows) == 1
    assert tuple(AXIS_OF_COLOR[c] for c in arrows[0].colors) == tuple(AXIS_OF_DIRECTION[m][0] for m, _ in command.moves)
    states = [s.text for s in d.symbols if isinstance(s, GripperState)]
    assert states == ([] if command.grasp is None else ["ON" if command.grasp == "open" else "OFF"])
    kinds = {type(s) for s in d.symbols} - {StraightArrow, GripperState}
    expected = {
        "wrong_object": {Rewind, Crosshair},
        "wrong_arm": {Rewind, Lock},
        "hand_moves_container": {DualCrosshair},
    }.get(variant, {Crosshair})
    assert kinds - {type(s) for s in d.symbols if s.kind == "rotate_arrow"} == expected
    # the answer addresses the failure from the current state, and executing it (VSF-like: the command as the
    # prompt for two chunks, then the task prompt) recovers the task
    truth = oracle.truth(robot.task_id, robot.seed)
    assert addresses_failure(truth.task, truth.injection, command, robot.world_state)
    ask(robot, policy, d.low_level)
    ask(robot, policy, d.low_level)
    assert oracle.verdict(recent(robot)).status == "running"  # off the failing plan: not reported again
    end = robot.frame + 600
    while robot.frame < end and not robot.success:
        ask(robot, policy, robot.instruction)
        assert oracle.verdict(recent(robot)).status != "failed"
    assert robot.success


def test_rejected_correction_is_reported_again() -> None:
    robot, policy, oracle, info = setup("no_close")
    run_to(robot, policy, info["correct_frame"] + 10)
    assert oracle.verdict(recent(robot)).status == "failed"
    run_to(robot, policy, info["correct_frame"] + 200)  # the human rejected: the policy carries on failing
    again = oracle.verdict(recent(robot))
    assert again.status == "failed" and again.robot_frame == robot.frame


def test_reaction_frames_delay_the_report_and_bad_arguments_are_refused() -> None:
    robot, policy, _, info = setup("offset_x")
    slow = SimOracleBackend(robot, SimPolicy(failure_rate=1.0, variants=["offset_x"]), reaction_frames=40)
    run_to(robot, policy, info["correct_frame"] + 10)
    assert slow.verdict(recent(robot)).status == "running"
    run_to(robot, policy, info["correct_frame"] + 40)
    assert slow.verdict(recent(robot)).status == "failed"
    with pytest.raises(BackendError):
        SimOracleBackend(robot, None, reaction_frames=-1)
    blind = SimOracleBackend(robot)  # no policy: it knows of no injected failure
    assert blind.verdict(recent(robot)).status == "running"
    meta = SimOracleBackend.from_metadata(robot, {"failure_rate": 1.0, "seed": 0, "variants": ["offset_x"]})
    assert meta.verdict(recent(robot)).status == "failed"


def test_the_answer_stays_right_while_the_loop_keeps_acting() -> None:
    """Sim seed 1 (policy seed 0, rate 0.5) checked at frame 150: the gripper is opening past the regrasp threshold,
    so "open" is right now and wrong one frame later. The loop acts until the answer is read, so the oracle's
    command must address the failure over the next chunk of the failing plan."""
    policy = SimPolicy(failure_rate=0.5, seed=0)
    robot = SimRobot(seed=1, width=64, height=48)
    robot.connect()
    oracle = SimOracleBackend(robot, SimPolicy(failure_rate=0.5, seed=0))
    assert policy.episode_info(1)["variant"] == "offset_z"
    run_to(robot, policy, 150)
    verdict = oracle.verdict(recent(robot))
    assert verdict.status == "failed"
    truth = oracle.truth(robot.task_id, robot.seed)
    command = parse_command(verdict.low_level)
    for _ in range(25):
        assert addresses_failure(truth.task, truth.injection, command, robot.world_state), robot.frame
        ask(robot, policy, robot.instruction, 1)
