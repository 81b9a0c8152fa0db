"""Camera calibration for PMC against hand-computed cases: projection, back-projection to the table plane, the image
direction of each robot axis (the arrow-sign rule), and arrow lengths lifted to metres."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vifailback_demo.live.geometry import (
    CalibrationError,
    CameraCalibration,
    normalized_to_pixel,
    pixel_to_normalized,
)
from vifailback_demo.sim.camera import Camera

R2 = math.sqrt(2.0)


def down_camera() -> CameraCalibration:
    """1 m above (0.5, 0, 0) looking straight down; image-right = base -y, image-down = base -x.

    So +x (forward) is image-up and +y (robot-left) is image-LEFT, like the sim's head camera."""
    K = [[100, 0, 50], [0, 100, 40], [0, 0, 1]]
    R = np.array([[0, -1, 0], [-1, 0, 0], [0, 0, -1]], dtype=float)  # columns: camera x, y, z in the base frame
    return CameraCalibration.from_pose(K, R, [0.5, 0.0, 1.0], 100, 80)


def tilted_camera() -> CameraCalibration:
    """At (0, 0, 1) looking forward and 45 degrees down at (1, 0, 0); image-right = base -y."""
    K = [[200, 0, 100], [0, 200, 100], [0, 0, 1]]
    right, down, forward = [0, -1, 0], [-1 / R2, 0, -1 / R2], [1 / R2, 0, -1 / R2]
    return CameraCalibration.from_pose(K, np.array([right, down, forward]).T, [0, 0, 1], 200, 200)


def test_projection_straight_down() -> None:
    cal = down_camera()
    assert cal.project([0.5, 0.0, 0.0]) == pytest.approx((50.0, 40.0))
    # 0.1 forward and 0.1 left at 1 m depth: 10 px up and 10 px left
    assert cal.project([0.6, 0.1, 0.0]) == pytest.approx((40.0, 30.0))
    assert cal.project([0.5, -0.2, 0.5]) == pytest.approx((90.0, 40.0))  # half the depth: twice the offset
    with pytest.raises(CalibrationError, match="behind"):
        cal.project([0.5, 0.0, 1.5])


def test_projection_tilted() -> None:
    cal = tilted_camera()
    assert cal.project([1.0, 0.0, 0.0]) == pytest.approx((100.0, 100.0))  # on the optical axis
    # 0.1 m left at depth sqrt(2): 200 * 0.1 / sqrt(2) = 14.14 px to the left
    assert cal.project([1.0, 0.1, 0.0]) == pytest.approx((100 - 20 / R2, 100.0))
    # twice as far along the table: camera (0, -1/sqrt2, 3/sqrt2) -> v = 100 - 200/3
    assert cal.project([2.0, 0.0, 0.0]) == pytest.approx((100.0, 100 - 200 / 3))


def test_lift_to_the_table_plane_inverts_projection() -> None:
    cal = down_camera()
    assert cal.lift_to_plane(40.0, 30.0) == pytest.approx([0.6, 0.1, 0.0])
    assert cal.lift_to_plane(40.0, 30.0, z=0.5) == pytest.approx([0.55, 0.05, 0.5])  # halfway along the ray
    tilted = tilted_camera()
    assert tilted.lift_to_plane(100.0, 100 - 200 / 3) == pytest.approx([2.0, 0.0, 0.0])
    assert tilted.lift_to_plane(100.0, 100.0) == pytest.approx([1.0, 0.0, 0.0])
    origin, d = tilted.ray(100.0, 100.0)
    assert origin == pytest.approx([0, 0, 1]) and d == pytest.approx([1 / R2, 0, -1 / R2])
    with pytest.raises(CalibrationError, match="does not look down"):
        tilted.lift_to_plane(100.0, -150.0)  # 51 degrees above the optical axis: above the horizon, no table
    with pytest.raises(CalibrationError, match="does not look down"):
        tilted.lift_to_plane(100.0, 100.0, z=2.0)  # a plane above the camera
    # a point seen at a measured depth (a robot with a depth camera)
    assert tilted.point_at_depth(100.0, 100.0, R2) == pytest.approx([1.0, 0.0, 0.0])


def test_axis_directions_in_the_image() -> None:
    cal = down_camera()
    at = [0.6, 0.1, 0.0]
    assert cal.axis_direction_in_image(at, "x") == pytest.approx([0.0, -1.0])  # forward: image-up
    assert cal.axis_direction_in_image(at, "y") == pytest.approx([-1.0, 0.0])  # robot-left: image-LEFT
    # up: toward the camera, away from the principal point (50, 40) -> along (40-50, 30-40)
    assert cal.axis_direction_in_image(at, "z") == pytest.approx([-1 / R2, -1 / R2])
    assert cal.pixels_per_metre([0.5, 0, 0], "x") == pytest.approx(100.0)
    tilted = tilted_camera()
    # on the tilted camera's axis, forward and up both go image-up (the reason arrows carry axis colours)
    assert tilted.axis_direction_in_image([1, 0, 0], "x") == pytest.approx([0.0, -1.0])
    assert tilted.axis_direction_in_image([1, 0, 0], "z") == pytest.approx([0.0, -1.0])
    assert tilted.pixels_per_metre([1, 0, 0], "x") == pytest.approx(100.0)  # 200 / sqrt2 / sqrt2
    assert tilted.axis_direction_in_image([1, 0, 0], 1) == pytest.approx([-1.0, 0.0])


def test_axis_direction_when_plus_y_is_image_right() -> None:
    """A camera facing the robot (looking back along -x): robot-left is image-RIGHT, forward is image-down."""
    K = [[100, 0, 50], [0, 100, 40], [0, 0, 1]]
    R = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], dtype=float)  # straight down, rotated 180 degrees
    cal = CameraCalibration.from_pose(K, R, [0.5, 0.0, 1.0], 100, 80)
    assert cal.axis_direction_in_image([0.5, 0, 0], "y") == pytest.approx([1.0, 0.0])
    assert cal.axis_direction_in_image([0.5, 0, 0], "x") == pytest.approx([0.0, 1.0])


def test_arrow_length_lifted_to_metres() -> None:
    cal = down_camera()
    start, end = cal.lift_to_plane(50, 40), cal.lift_to_plane(50, 20)  # 20 px image-up on the table
    assert end - start == pytest.approx([0.2, 0.0, 0.0])
    start, end = cal.lift_to_plane(50, 40, z=0.5), cal.lift_to_plane(50, 20, z=0.5)  # at a gripper 0.5 m up
    assert end - start == pytest.approx([0.1, 0.0, 0.0])


def test_matches_the_simulated_camera_and_resizes() -> None:
    cam = Camera.look_at(224, 224)
    cal = CameraCalibration.from_sim(cam)
    rng = np.random.default_rng(0)
    for p in rng.uniform([0.2, -0.3, 0.0], [0.6, 0.3, 0.3], size=(20, 3)):
        assert cal.project(p) == pytest.approx(cam.project_point(p), abs=1e-9)
        u, v = cam.project_point(p)
        assert cal.lift_to_plane(u, v, z=p[2]) == pytest.approx(p, abs=1e-9)
    small, small_cam = cal.resized(112, 112), cam.resized(112, 112)
    assert small.project([0.4, 0.1, 0.05]) == pytest.approx(small_cam.project_point([0.4, 0.1, 0.05]))
    # the sim's robot frame: robot-left is image-left, forward and up are both image-up
    assert cal.axis_direction_in_image([0.4, 0.0, 0.1], "y")[0] < -0.9
    assert cal.axis_direction_in_image([0.4, 0.0, 0.1], "x")[1] < -0.5
    assert cal.axis_direction_in_image([0.4, 0.0, 0.1], "z")[1] < -0.5


def test_normalised_points_and_files(tmp_path) -> None:
    assert normalized_to_pixel((500, 250), 640, 480) == (320.0, 120.0)
    assert pixel_to_normalized((320, 120), 640, 480) == (500.0, 250.0)
    cal = tilted_camera()
    path = tmp_path / "cal.json"
    cal.save(path)
    again = CameraCalibration.load(path)
    assert np.allclose(again.K, cal.K) and np.allclose(again.T_base_cam, cal.T_base_cam)
    yaml_path = tmp_path / "cal.yaml"
    yaml_path.write_text(
        "width: 100\nheight: 80\nfx: 100\nfy: 100\ncx: 50\ncy: 40\n"
        "R: [[0, -1, 0], [-1, 0, 0], [0, 0, -1]]\nt: [0.5, 0, 1.0]\ntable_z: 0.02\n"
    )
    loaded = CameraCalibration.load(yaml_path)
    assert loaded.project([0.6, 0.1, 0.0]) == pytest.approx((40.0, 30.0)) and loaded.table_z == 0.02
    assert loaded.lift_to_plane(50, 40) == pytest.approx([0.5, 0.0, 0.02])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"width": 10, "height": 10, "K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}))
    with pytest.raises(CalibrationError, match="T_base_cam"):
        CameraCalibration.load(bad)
    bad.write_text(json.dumps({**cal.to_dict(), "T_base_cam": np.diag([2.0, 1, 1, 1]).tolist()}))
    with pytest.raises(CalibrationError, match="rigid"):
        CameraCalibration.load(bad)
    with pytest.raises(CalibrationError, match="cannot read"):
        CameraCalibration.load(tmp_path / "missing.json")
