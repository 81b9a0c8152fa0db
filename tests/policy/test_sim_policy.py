"""The built-in sim policy driving the simulated robot in process, the way an openpi client does (50-row chunks,
25 rows executed per call): the closed-loop expert succeeds, injected failures fail, corrections recover."""

from __future__ import annotations

import numpy as np
import pytest

from vifailback_demo.core.commands import command_variants, parse_command
from vifailback_demo.errors import PolicyError
from vifailback_demo.policy.base import Policy
from vifailback_demo.policy.codec import packb, unpackb
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.policy.sim_script import ALL_VARIANTS, decide_variant
from vifailback_demo.robot.sim_robot import SimRobot, build_scene
from vifailback_demo.sim.failures import TYPE_OF_VARIANT, VARIANTS
from vifailback_demo.sim.rollout import rollout
from vifailback_demo.sim.tasks import TASK_IDS
from vifailback_demo.sim.world import LEFT, RIGHT

EXECUTE = 25


def ask(robot: SimRobot, policy: SimPolicy, prompt: str, rows: int = EXECUTE) -> dict:
    """One client round: observe, infer, execute the first ``rows`` rows of the chunk."""
    reply = policy.infer(policy_observation(robot, robot.get_observation(), prompt))
    for i in range(rows):
        robot.send_chunk_step(reply, i)
    return reply


def run_to(robot: SimRobot, policy: SimPolicy, prompt: str, frame: int) -> None:
    while robot.frame < frame:
        ask(robot, policy, prompt, min(EXECUTE, frame - robot.frame))


def run_until_success(robot: SimRobot, policy: SimPolicy, frames: int) -> bool:
    end = robot.frame + frames
    while robot.frame < end and not robot.success:
        ask(robot, policy, robot.instruction)
    return robot.success


def script_end(policy: SimPolicy, robot: SimRobot) -> int:
    return len(policy._scene(robot.task_id, robot.seed)[1].commands)


def test_metadata_reply_shape_and_wire_format() -> None:
    policy = SimPolicy(chunk=30, failure_rate=0.25, seed=3)
    assert isinstance(policy, Policy)
    assert policy.metadata["action_dim"] == 10 and policy.metadata["chunk"] == 30
    assert policy.metadata["failure_rate"] == 0.25 and policy.metadata["policy"] == "vifailback-sim-expert"
    with SimRobot(seed=1) as robot:
        obs = policy_observation(robot, robot.get_observation(), robot.instruction)
        wire_obs = unpackb(packb(obs))  # through openpi's wire format: read-only arrays, plain types
        reply = unpackb(packb(policy.infer(wire_obs)))
    assert reply["actions"].shape == (30, 10) and np.all(np.isfinite(reply["actions"]))
    assert reply["sim/hand"].shape == (30, 6)
    assert reply["sim/mode"] in ("expert", "failing") and reply["policy_timing"]["infer_ms"] > 0


def test_bad_observations_and_arguments_are_refused() -> None:
    policy = SimPolicy()
    with SimRobot(seed=1) as robot:
        obs = policy_observation(robot, robot.get_observation(), "go")
    with pytest.raises(PolicyError, match="sim/arms"):
        policy.infer({k: v for k, v in obs.items() if k != "sim/arms"})
    with pytest.raises(PolicyError, match="objects"):
        keys = ("sim/objects", "sim/support", "sim/holder", "sim/last_holder")
        policy.infer({**obs, **{k: obs[k][:-1] for k in keys}})
    with pytest.raises(PolicyError, match="malformed"):
        policy.infer({**obs, "sim/arms": "nope"})
    for kwargs in ({"failure_rate": 1.5}, {"chunk": 0}, {"variants": ["melted"]}, {"slight": 0.1, "significant": 0.05}):
        with pytest.raises(PolicyError):
            SimPolicy(**kwargs)


@pytest.mark.parametrize("task", TASK_IDS)
def test_closed_loop_expert_completes_the_task(task: str) -> None:
    policy = SimPolicy(failure_rate=0.0)
    with SimRobot(task=task, seed=11, width=64, height=48) as robot:
        assert run_until_success(robot, policy, 400), f"{task}: not done after {robot.frame} frames"
        # once done, the arms go home and stay; the task stays done
        run_to(robot, policy, robot.instruction, robot.frame + 75)
        assert robot.success


def test_expert_recovers_when_things_are_moved() -> None:
    """Closed loop: after a human moves the object mid-approach, asking again goes to where it is now."""
    policy = SimPolicy()
    with SimRobot(task="place_block_in_basket", seed=5, width=64, height=48) as robot:
        obj = robot.task.stages[0].obj
        run_to(robot, policy, robot.instruction, 20)
        assert robot.world_state.holder[obj] == -1
        x, y, z, _ = robot.world_state.objects[obj]
        top = robot.task.specs[obj].top
        rows = [[x, y, z + top + 0.02, np.pi, 1.0, obj], [0.3, y * 0.5, top + 0.02, np.pi, 1.0, obj], [np.nan] * 6]
        reply = {"actions": np.tile(robot.world_state.arms.reshape(-1), (3, 1)), "sim/hand": np.array(rows)}
        for i in range(3):
            robot.send_chunk_step(reply, i)
        assert np.linalg.norm(robot.world_state.objects[obj, :2] - [x, y]) > 0.05
        assert run_until_success(robot, policy, 400)


def test_failure_decisions_are_deterministic_and_cover_all_types() -> None:
    tasks = [build_scene(None, s, 64, 48)[0] for s in range(40)]

    def decided(policy_seed: int, rate: float) -> list[str | None]:
        return [decide_variant(t, policy_seed, s, rate, ALL_VARIANTS)[0] for s, t in enumerate(tasks)]

    always = decided(0, 1.0)
    assert None not in always and {TYPE_OF_VARIANT[v] for v in always} == set(VARIANTS)
    assert len(set(always)) >= 10
    assert decided(0, 1.0) == always and decided(1, 1.0) != always
    assert decided(0, 0.0) == [None] * 40
    assert 10 <= sum(v is not None for v in decided(0, 0.5)) <= 30
    # episode_info is the same decision, with the failure's keyframes
    infos = [SimPolicy(failure_rate=1.0).episode_info(s) for s in range(4)]
    assert [i["variant"] for i in infos] == always[:4]
    assert infos == [SimPolicy(failure_rate=1.0).episode_info(s) for s in range(4)]
    for info in infos:
        assert 0 <= info["avoid_frame"] < info["start_frame"] <= info["correct_frame"]


@pytest.mark.parametrize("variant", ["weak_close", "offset_y", "wrong_object", "hand_takes_object"])
def test_injected_failure_fails_without_intervention(variant: str) -> None:
    """One variant of each failure type: the policy carries on blindly and the task is not done."""
    policy = SimPolicy(failure_rate=1.0, variants=[variant])
    with SimRobot(task="place_block_in_bowl", seed=3, width=64, height=48) as robot:
        info = policy.episode_info(3, "place_block_in_bowl")
        assert info["variant"] == variant
        run_to(robot, policy, robot.instruction, script_end(policy, robot) + 50)
        reply = ask(robot, policy, robot.instruction)
        assert reply["sim/mode"] == "failing" and reply["sim/failure"]["corrected"] is False
        assert not robot.success


def test_failing_episode_replays_the_dataset_rollout_exactly() -> None:
    policy = SimPolicy(failure_rate=1.0, variants=["hand_moves_container"])
    with SimRobot(task="put_cup_in_basket", seed=2, width=64, height=48) as robot:
        task, script = policy._scene(robot.task_id, robot.seed)
        states = rollout(task, script.injection.plan)
        hand_seen = False
        while robot.frame < len(states) - 1:
            ask(robot, policy, robot.instruction, min(EXECUTE, len(states) - 1 - robot.frame))
            now, want = robot.world_state, states[robot.frame]
            assert np.allclose(now.arms, want.arms) and np.allclose(now.objects, want.objects)
            assert np.array_equal(now.holder, want.holder) and np.allclose(now.hand, want.hand)
            hand_seen = hand_seen or now.hand[0] > 0
        assert hand_seen


@pytest.mark.parametrize("variant", ["no_close", "offset_x"])
def test_correct_command_then_task_prompt_recovers(variant: str) -> None:
    policy = SimPolicy(failure_rate=1.0, variants=[variant])
    with SimRobot(task="stack_blocks", seed=4, width=64, height=48) as robot:
        info = policy.episode_info(4, "stack_blocks")
        run_to(robot, policy, robot.instruction, info["correct_frame"])
        reply = ask(robot, policy, info["correction"], 50)
        assert reply["sim/mode"] == "command" and reply["sim/failure"]["corrected"] is True
        assert run_until_success(robot, policy, 400)


def test_wrong_command_does_not_recover() -> None:
    policy = SimPolicy(failure_rate=1.0, variants=["no_close"])
    with SimRobot(task="stack_blocks", seed=4, width=64, height=48) as robot:
        info = policy.episode_info(4, "stack_blocks")
        run_to(robot, policy, robot.instruction, info["correct_frame"])
        wrong = command_variants(parse_command(info["correction"]))[0].format()  # first move flipped
        assert ask(robot, policy, wrong, 50)["sim/failure"]["corrected"] is False
        run_to(robot, policy, robot.instruction, script_end(policy, robot) + 50)
        assert not robot.success
        # a reset starts the episode afresh: the failure comes back, uncorrected
        robot.reset()
        assert ask(robot, policy, robot.instruction)["sim/mode"] == "failing"


def test_any_command_corrects_when_checking_is_off() -> None:
    policy = SimPolicy(failure_rate=1.0, variants=["no_close"], check_corrections=False)
    with SimRobot(task="stack_blocks", seed=4, width=64, height=48) as robot:
        reply = ask(robot, policy, "Close the left gripper.", 1)
        assert reply["sim/failure"]["corrected"] is True
        assert ask(robot, policy, robot.instruction, 1)["sim/mode"] == "expert"


@pytest.mark.parametrize(
    ("prompt", "index", "change"),
    [
        ("Move the right gripper to the left significantly", 1, 0.08),
        ("Move the right gripper to the right slightly", 1, -0.03),
        ("Move the right gripper forward slightly", 0, 0.03),
        ("Move the right gripper downward significantly", 2, -0.08),
        ("Rotate the right gripper clockwise", 3, -0.5),
        ("Close the right gripper", 4, -0.08),
    ],
)
def test_command_prompt_moves_the_right_arm_as_stated(prompt: str, index: int, change: float) -> None:
    policy = SimPolicy()
    with SimRobot(task="place_block_in_bowl", seed=6, width=64, height=48) as robot:
        ask(robot, policy, robot.instruction, 10)
        before = robot.world_state.arms.copy()
        reply = ask(robot, policy, prompt, 50)
        assert reply["sim/mode"] == "command"
        after = robot.world_state.arms
        expected = before[RIGHT].copy()
        expected[index] += change
        assert np.allclose(after[RIGHT], expected, atol=1e-6)
        assert np.allclose(after[LEFT], before[LEFT])
        ask(robot, policy, prompt, 50)  # asking again keeps the same goal: no further motion
        assert np.allclose(robot.world_state.arms[RIGHT], expected, atol=1e-6)


def test_command_direction_matches_the_camera() -> None:
    """'left' is image-left and 'upward' is image-up in the head camera (the symbols' convention)."""
    policy = SimPolicy()
    with SimRobot(seed=6) as robot:
        cam = robot.camera_model
        start = cam.project_point(robot.world_state.arms[RIGHT, :3])
        ask(robot, policy, "Move the right gripper to the left significantly", 50)
        moved = cam.project_point(robot.world_state.arms[RIGHT, :3])
        assert moved[0] < start[0] - 5
        ask(robot, policy, "Move the right gripper upward significantly", 50)
        assert cam.project_point(robot.world_state.arms[RIGHT, :3])[1] < moved[1] - 5


def test_all_variants_build() -> None:
    """Every variant the policy may inject builds a script with a ground-truth correction."""
    for variant in ALL_VARIANTS:
        task = "place_block_in_bowl" if variant != "wrong_yaw" else "stack_blocks"
        info = SimPolicy(failure_rate=1.0, variants=[variant]).episode_info(1, task)
        assert info["variant"] == variant and parse_command(info["correction"]).gripper is not None
