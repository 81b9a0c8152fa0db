"""The simulated robot: features, determinism, guards (stop, reset), hold, the camera ring and the human hand rows."""

from __future__ import annotations

import numpy as np
import pytest

from vifailback_demo.errors import RobotConnectionError, RobotError, RobotStoppedError, SimError
from vifailback_demo.policy.codec import packb, unpackb
from vifailback_demo.robot.sim_robot import HAND_ROW, STATE_NAMES, SimRobot, build_scene
from vifailback_demo.sim.env import SimEnv
from vifailback_demo.sim.episode import make_episode
from vifailback_demo.sim.world import HAND, HOME


def _moved(robot: SimRobot, dx: float = 0.05) -> np.ndarray:
    target = robot.world_state.arms.copy()
    target[1, 0] += dx
    return target.reshape(-1)


def test_features_and_observation_shapes() -> None:
    robot = SimRobot(task="place_block_in_bowl", seed=1, width=128, height=96)
    assert robot.name == "sim" and robot.action_space == "ee" and robot.fps == 25
    assert (
        list(robot.action_features)
        == list(STATE_NAMES)
        == [f"{arm}.{f}" for arm in ("left", "right") for f in ("x", "y", "z", "yaw", "gap")]
    )
    assert robot.observation_features["head"] == (96, 128, 3)
    assert robot.state_names == list(STATE_NAMES)
    with robot:
        obs = robot.get_observation()
        assert obs["head"].shape == (96, 128, 3) and obs["head"].dtype == np.uint8
        assert np.allclose(robot.state_vector(obs), HOME.reshape(-1))
        assert robot.describe()["cameras"] == ["head"]
    with pytest.raises(RobotConnectionError):
        robot.get_observation()


def test_scene_is_the_dataset_scene_and_deterministic() -> None:
    a, b = SimRobot(seed=7), SimRobot(seed=7)
    # task=None draws the task like make_episode(seed, 0); the picture is SimEnv's for the same task and seed
    assert a.task_id == make_episode(7, 0, width=64, height=48).task.task_id
    assert np.array_equal(a.image, SimEnv(224, 224).reset(a.task_id, 7).image)
    with a, b:
        for robot in (a, b):
            for _ in range(3):
                robot.send_action(_moved(robot))
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.world_state.arms, b.world_state.arms)
    assert SimRobot(seed=8).task.layout.tolist() != a.task.layout.tolist()
    assert SimRobot(task="stack_blocks", seed=7).task_id == "stack_blocks"
    with pytest.raises(SimError, match="unknown task"):
        SimRobot(task="fold_laundry")
    with pytest.raises(SimError, match="image size"):
        SimRobot(width=63)


def test_send_action_steps_the_world_once_and_guards_input() -> None:
    with SimRobot(seed=2) as robot:
        before = robot.world_state.arms.copy()
        sent = robot.send_action(_moved(robot, 0.01))
        assert robot.frame == 1
        assert robot.world_state.arms[1, 0] == pytest.approx(before[1, 0] + 0.01)
        assert set(sent) == set(STATE_NAMES)
        # one step moves at most the arms' speed limit (0.6 m/s at 25 fps)
        robot.send_action(_moved(robot, 0.5))
        assert robot.world_state.arms[1, 0] - before[1, 0] == pytest.approx(0.01 + 0.024)
        bad = _moved(robot)
        bad[3] = np.nan
        with pytest.raises(RobotError, match="finite"):
            robot.send_action(bad)
        with pytest.raises(RobotError, match="10 numbers"):
            robot.send_action([0.0] * 9)
        assert robot.frame == 2


def test_stop_refuses_actions_until_reset_or_connect() -> None:
    with SimRobot(seed=3) as robot:
        robot.send_action(_moved(robot))
        robot.stop()
        with pytest.raises(RobotStoppedError):
            robot.send_action(_moved(robot))
        robot.tick(2)  # time may pass while stopped: the arms hold still
        robot.reset()  # clears the stop and restarts the episode
        assert robot.frame == 0 and np.allclose(robot.world_state.arms, HOME)
        robot.send_action(_moved(robot))
        robot.stop()
        robot.connect()  # a reconnect clears the stop too and keeps the world where it was
        assert robot.frame == 1
        robot.send_action(_moved(robot))
        assert robot.frame == 2
    robot.stop()  # a stop is always possible, even disconnected


def test_hold_keeps_the_pose() -> None:
    with SimRobot(seed=4) as robot:
        target = _moved(robot, 0.1)
        for _ in range(2):  # half-way there
            robot.send_action(target)
        robot.hold()
        held = robot.world_state.arms.copy()
        frame = robot.frame
        assert robot.frame == frame  # hold itself advances nothing
        robot.tick(5)
        assert robot.frame == frame + 5
        assert np.array_equal(robot.world_state.arms, held)
        assert np.allclose(robot.state_vector(robot.get_observation()), held.reshape(-1))


def test_head_camera_ring_gets_a_frame_per_step() -> None:
    with SimRobot(seed=5, width=96, height=64) as robot:
        camera = robot.cameras["head"]
        assert len(camera.ring.recent()) == 1  # the first frame arrives on connect
        first = camera.read(timeout_s=0.1)
        for _ in range(3):
            robot.send_action(_moved(robot))
        frames = camera.ring.recent()
        assert len(frames) == 4 and [f.index for f in frames] == [0, 1, 2, 3]
        assert camera.read_latest() is robot.image and robot.image.shape == (64, 96, 3)
        assert not np.array_equal(first, robot.image)  # the arm moved in the picture
        robot.new_episode(seed=6)
        assert len(camera.ring.recent()) == 5 and robot.seed == 6 and robot.frame == 0


def test_new_episode_and_exact_state() -> None:
    robot = SimRobot(task="put_cup_in_basket", seed=1)
    robot.new_episode(task="stack_blocks", seed=9)
    assert robot.task_id == "stack_blocks" and robot.seed == 9 and robot.frame == 0
    assert robot.instruction.startswith("Use the") and not robot.success
    task, camera, _ = build_scene("stack_blocks", 9, 224, 224)
    assert np.array_equal(robot.task.layout, task.layout)
    assert np.allclose(robot.camera_model.position, camera.position)
    state = robot.world_state
    state.arms[:] = 0.0  # a copy: the world is untouched
    assert np.allclose(robot.world_state.arms, HOME)
    extras = robot.policy_extras()
    assert extras["sim/task"] == "stack_blocks" and extras["sim/seed"] == 9 and extras["sim/frame"] == 0
    assert extras["sim/objects"].shape == (len(task.specs), 4)
    assert all(k.startswith("sim/") for k in extras)
    decoded = unpackb(packb(extras))  # the wire format carries all of it
    assert np.array_equal(decoded["sim/holder"], extras["sim/holder"]) and decoded["sim/success"] is False


def _hand_reply(robot: SimRobot, rows: list[list[float]]) -> dict:
    arms = robot.world_state.arms.reshape(-1)
    return {"actions": np.tile(arms, (len(rows), 1)), "sim/hand": np.array(rows, dtype=np.float64)}


def test_hand_rows_grab_carry_and_leave() -> None:
    with SimRobot(task="place_block_in_bowl", seed=2) as robot:
        obj = robot.task.stages[0].obj
        x, y, z, _ = robot.world_state.objects[obj]
        top = robot.task.specs[obj].top
        rows = [
            [x, y, z + top + 0.02, np.pi, 1.0, obj],  # grab
            [x + 0.05, y, z + top + 0.05, np.pi, 1.0, obj],  # carry
            [x + 0.05, y, z + top + 0.03, np.pi, 0.2, -1],  # let go
            [np.nan] * len(HAND_ROW),  # leave
        ]
        reply = _hand_reply(robot, rows)
        robot.send_chunk_step(reply, 0)
        assert robot.world_state.holder[obj] == HAND and robot.world_state.hand[0] == 1.0
        robot.send_chunk_step(reply, 1)
        assert robot.world_state.objects[obj, 0] == pytest.approx(x + 0.05, abs=1e-9)
        robot.send_chunk_step(reply, 2)
        assert robot.world_state.holder[obj] == -1
        robot.send_chunk_step(reply, 3)
        assert robot.world_state.hand[0] == 0.0
        for _ in range(10):
            robot.send_chunk_step(reply, 3)
        assert robot.world_state.objects[obj, 2] == 0.0  # it fell back onto the table


def test_hand_rows_are_checked_and_refused_when_stopped() -> None:
    with SimRobot(seed=3) as robot:
        reply = _hand_reply(robot, [[0.4, 0.0, 0.2, 0.0, 0.0, -1]])
        with pytest.raises(RobotError, match="must be \\[1, 6\\]"):
            robot.send_chunk_step({**reply, "sim/hand": np.zeros((1, 5))}, 0)
        with pytest.raises(RobotError, match="all numbers or all NaN"):
            robot.send_chunk_step({**reply, "sim/hand": np.array([[0.4, np.nan, 0.2, 0.0, 0.0, -1]])}, 0)
        with pytest.raises(RobotError, match="not one of"):
            robot.send_chunk_step({**reply, "sim/hand": np.array([[0.4, 0.0, 0.2, 0.0, 0.0, 99]])}, 0)
        with pytest.raises(RobotError, match="outside the action chunk"):
            robot.send_chunk_step(reply, 1)
        assert robot.frame == 0 and robot.world_state.hand[0] == 0.0
        robot.stop()
        with pytest.raises(RobotStoppedError):
            robot.send_chunk_step(reply, 0)
        assert robot.world_state.hand[0] == 0.0  # a refused step moves no hand either
        robot.reset()
        robot.send_chunk_step(reply, 0)
        assert robot.world_state.hand[0] == 1.0 and robot.frame == 1
