"""policy_observation: a robot observation in openpi's shape (state vector, renamed/resized images, prompt, extras)."""

from __future__ import annotations

import numpy as np
import pytest

from vifailback_demo.errors import RobotError
from vifailback_demo.policy.observation import policy_observation, resize_with_pad
from vifailback_demo.robot.sim_robot import STATE_NAMES, SimRobot


def test_sim_robot_observation_in_policy_shape() -> None:
    with SimRobot(seed=2, width=128, height=96) as robot:
        raw = robot.get_observation()
        obs = policy_observation(robot, raw, "do it")
    assert obs["prompt"] == "do it"
    assert obs["state"].shape == (10,) and obs["state"].dtype == np.float64
    assert obs["state"].tolist() == [raw[k] for k in STATE_NAMES]
    assert list(obs["images"]) == ["cam_high"] and np.array_equal(obs["images"]["cam_high"], raw["head"])
    assert obs["sim/task"] == robot.task_id and obs["sim/frame"] == 0


def test_resize_with_pad_and_chw() -> None:
    with SimRobot(seed=2, width=128, height=96) as robot:
        obs = policy_observation(robot, robot.get_observation(), "x", size=224, chw=True, image_map={"head": "top"})
    image = obs["images"]["top"]
    assert image.shape == (3, 224, 224) and image.dtype == np.uint8 and image.flags.c_contiguous
    hwc = image.transpose(1, 2, 0)
    # 128x96 scaled to 224x168, centred: 28 black rows above and below, picture in between
    assert not hwc[:28].any() and not hwc[-28:].any() and hwc[28:-28].mean() > 20


def test_resize_with_pad_keeps_content_and_aspect() -> None:
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, :40] = 255  # left half white
    out = resize_with_pad(image, 60, 60)
    assert out.shape == (60, 60, 3)
    assert not out[:15].any() and not out[45:].any()  # 80x40 -> 60x30, padded top and bottom
    assert out[30, 5].min() == 255 and out[30, 55].max() == 0
    assert resize_with_pad(image, 40, 80) is image


def test_missing_camera_bad_image_and_bad_size_are_clear_errors() -> None:
    with SimRobot(seed=2) as robot:
        raw = robot.get_observation()
        with pytest.raises(RobotError, match=r"no camera 'wrist'.*'head'"):
            policy_observation(robot, raw, "x", image_map={"wrist": "cam_left_wrist"})
        with pytest.raises(RobotError, match="RGB uint8"):
            policy_observation(robot, {**raw, "head": raw["head"].astype(np.float32)}, "x")
        with pytest.raises(RobotError, match=r"lacks state value 'left\.x'"):
            policy_observation(robot, {k: v for k, v in raw.items() if k != "left.x"}, "x")
        with pytest.raises(RobotError, match="positive"):
            policy_observation(robot, raw, "x", size=(0, 10))
