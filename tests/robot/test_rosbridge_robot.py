"""RosbridgeRobot against the packaged fake rosbridge server on 127.0.0.1 (no ROS, no network beyond loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.errors import (
    CameraTimeoutError,
    RobotConnectionError,
    RobotError,
    RobotProtocolError,
    RobotStoppedError,
    RobotTimeoutError,
)
from vifailback_demo.robot.ros_topics import load_topic_map
from vifailback_demo.robot.rosbridge_fake import FakeRosbridge
from vifailback_demo.robot.rosbridge_robot import RosbridgeRobot, decode_image

LEFT = [0.1 * i for i in range(6)] + [0.05]
RIGHT = [-0.1 * i for i in range(6)] + [0.02]


def fixed_joints(t: float) -> dict[str, list[float]]:
    return {"left": LEFT, "right": RIGHT}


@pytest.fixture
def server():
    with FakeRosbridge(joints=fixed_joints, echo_commands=False) as srv:
        yield srv


def wait_until(predicate, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_connect_features_and_observation_with_decoded_image(server):
    with RosbridgeRobot(server.url, timeout_s=1.0) as robot:
        names = [f"{arm}.joint{i}.pos" for arm in ("left", "right") for i in range(7)]
        assert robot.action_names == names
        assert robot.state_names == names
        assert robot.observation_features["head"] == (120, 160, 3)  # the frame actually received
        assert list(robot.cameras) == ["head"]
        obs = robot.get_observation()
        assert robot.state_vector(obs) == pytest.approx(LEFT + RIGHT)
        img = obs["head"]
        assert img.dtype == np.uint8 and img.shape == (120, 160, 3)
        # red left half, blue right half: an RGB/BGR swap in decoding would invert them
        assert np.abs(img[80, 20].astype(int) - (200, 30, 30)).max() < 12
        assert np.abs(img[80, 140].astype(int) - (30, 30, 200)).max() < 12
        assert len(robot.cameras["head"].ring.recent()) >= 1
    subscribed = {m["topic"]: m["type"] for m in server.ops("subscribe")}
    assert subscribed == {
        "/puppet/joint_left": "sensor_msgs/JointState",
        "/puppet/joint_right": "sensor_msgs/JointState",
        "/camera_f/color/image_raw/compressed": "sensor_msgs/CompressedImage",
    }
    # disconnect says goodbye per the protocol, by the ids it subscribed/advertised with
    sub_ids = {m["id"] for m in server.ops("subscribe")}
    assert server.wait_for(lambda: len(server.ops("unsubscribe")) == 3 and len(server.ops("unadvertise")) == 2)
    assert {m["id"] for m in server.ops("unsubscribe")} == sub_ids
    assert {m["topic"] for m in server.ops("unadvertise")} == {"/joint_left_states", "/joint_right_states"}


def test_send_action_publishes_one_jointstate_per_arm(server):
    with RosbridgeRobot(server.url, timeout_s=1.0) as robot:
        advertised = {m["topic"]: m["type"] for m in server.ops("advertise")}
        assert advertised == {
            "/joint_left_states": "sensor_msgs/JointState",
            "/joint_right_states": "sensor_msgs/JointState",
        }
        action = {f"left.joint{i}.pos": 0.01 * i for i in range(7)} | {
            f"right.joint{i}.pos": -0.02 * i for i in range(7)
        }
        sent = robot.send_action(action)
        assert sent == action
        robot.send_action(np.arange(14) / 100.0)  # the vector form, in action_names order
        assert server.wait_for(lambda: len(server.published("/joint_right_states")) == 2)
    left, right = server.published("/joint_left_states"), server.published("/joint_right_states")
    assert [m["name"] for m in left] == [[f"joint{i}" for i in range(7)]] * 2
    assert left[0]["position"] == pytest.approx([0.01 * i for i in range(7)])
    assert right[0]["position"] == pytest.approx([-0.02 * i for i in range(7)])
    assert left[1]["position"] == pytest.approx(np.arange(7) / 100.0)
    assert right[1]["position"] == pytest.approx(np.arange(7, 14) / 100.0)


def test_hold_publishes_the_last_observed_positions(server):
    with RosbridgeRobot(server.url, timeout_s=1.0) as robot:
        robot.hold()
        assert server.wait_for(lambda: server.published("/joint_right_states"))
    assert server.published("/joint_left_states")[-1]["position"] == pytest.approx(LEFT)
    assert server.published("/joint_right_states")[-1]["position"] == pytest.approx(RIGHT)


def test_stop_holds_calls_the_stop_service_and_refuses_actions():
    topics = {"stop_service": {"name": "/robot/stop", "type": "std_srvs/Trigger"}}
    with FakeRosbridge(topics, joints=fixed_joints) as srv, RosbridgeRobot(srv.url, topics, timeout_s=0.5) as robot:
        robot.stop()
        assert robot.is_stopped
        calls = srv.ops("call_service")
        assert [(c["service"], c.get("type")) for c in calls] == [("/robot/stop", "std_srvs/Trigger")]
        assert srv.wait_for(lambda: srv.published("/joint_left_states"))
        assert srv.published("/joint_left_states")[-1]["position"] == pytest.approx(LEFT)
        with pytest.raises(RobotStoppedError, match="emergency-stopped"):
            robot.send_action([0.0] * 14)
        robot.reset()
        robot.send_action([0.0] * 14)

        srv.fail_service("/robot/stop", "false")
        with pytest.raises(RobotError, match=r"/robot/stop failed"):
            robot.stop()
        assert robot.is_stopped  # a failing stop service never un-stops the robot

        srv.fail_service("/robot/stop", "hang")
        t0 = time.monotonic()
        with pytest.raises(RobotTimeoutError, match=r"/robot/stop did not answer within 0.5 s"):
            robot.stop()
        assert 0.45 < time.monotonic() - t0 < 1.5


def test_stop_on_a_disconnected_robot_never_raises(server):
    robot = RosbridgeRobot(server.url, timeout_s=1.0)
    robot.stop()
    assert robot.is_stopped
    robot.connect()  # connect clears the stop
    assert not robot.is_stopped
    robot.disconnect()
    robot.disconnect()


ONE_ARM_YAML = """
arms:
  main: {state: /arm/state, command: /arm/command, joints: [shoulder, elbow, gripper]}
camera: {name: top, topic: /top/image_raw, encoding: raw}
"""


def test_topic_map_overrides_from_yaml_with_a_raw_camera(tmp_path: Path):
    path = tmp_path / "map.yaml"
    path.write_text(ONE_ARM_YAML)
    joints = lambda t: {"main": [0.5, -0.5, 0.03]}  # noqa: E731
    with FakeRosbridge(path, joints=joints) as srv, RosbridgeRobot(srv.url, path, timeout_s=1.0) as robot:
        assert robot.action_names == ["main.shoulder.pos", "main.elbow.pos", "main.gripper.pos"]
        obs = robot.get_observation()
        assert [obs[k] for k in robot.state_names] == pytest.approx([0.5, -0.5, 0.03])
        assert obs["top"].shape == (120, 160, 3)
        assert tuple(obs["top"][80, 20]) == (200, 30, 30)  # raw bgr8 is lossless: exact colours
        robot.send_action([0.1, 0.2, 0.04])
        assert srv.wait_for(lambda: srv.published("/arm/command"))
    assert srv.published("/arm/command")[0]["name"] == ["shoulder", "elbow", "gripper"]
    assert {m["type"] for m in srv.ops("subscribe") if m["topic"] == "/top/image_raw"} == {"sensor_msgs/Image"}


def test_topic_map_overrides_from_json_keep_the_other_defaults(tmp_path: Path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"arms": {"left": {"command": "/cmd/left"}, "right": {"command": "/cmd/right"}}}))
    topics = load_topic_map(path)
    assert topics.arms["left"].state == "/puppet/joint_left"  # defaults kept for what the file omits
    assert topics.camera.topic == "/camera_f/color/image_raw/compressed"
    with FakeRosbridge(path, joints=fixed_joints) as srv, RosbridgeRobot(srv.url, str(path), timeout_s=1.0) as robot:
        robot.send_action([0.0] * 14)
        assert srv.wait_for(lambda: srv.published("/cmd/left") and srv.published("/cmd/right"))
        assert not srv.published("/joint_left_states")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("typo.yaml", "arms:\n  left: {comand: /x}\n", "unknown key 'arms.left.comand'"),
        ("top.json", '{"camera": {"topic": "/c"}, "cameras": {}}', "unknown key 'cameras'"),
        ("rel.yaml", "camera: {topic: camera_f/image}\n", "'camera.topic' must be an absolute ROS name"),
        ("enc.yaml", "camera: {encoding: h264}\n", "'camera.encoding' must be one of"),
        ("new_arm.yaml", "arms:\n  third: {state: /s}\n", "'arms.third.command' is missing"),
        ("broken.yaml", "arms: [unclosed\n", "not valid YAML"),
        ("broken.json", '{"arms": ', "not valid JSON"),
        ("map.toml", "x = 1", "must be a .yaml, .yml or .json file"),
    ],
)
def test_a_bad_topic_map_is_a_one_line_error_naming_the_problem(tmp_path: Path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RobotError) as info:
        RosbridgeRobot("ws://127.0.0.1:9", path)
    message = str(info.value)
    assert expected in message and name in message
    assert "\n" not in message


def test_missing_map_file_is_a_robot_error(tmp_path: Path):
    with pytest.raises(RobotError, match="cannot read the topic map"):
        load_topic_map(tmp_path / "absent.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connection_fails_fast_with_the_reason():
    robot = RosbridgeRobot(f"ws://127.0.0.1:{_free_port()}", timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(RobotConnectionError, match="cannot reach rosbridge"):
        robot.connect()
    assert time.monotonic() - t0 < 1.0
    assert not robot.is_connected


def test_a_server_that_never_answers_the_handshake_times_out_within_the_timeout():
    # accepts TCP but never speaks HTTP: the case of a wrong port on a busy host or a wedged bridge
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        robot = RosbridgeRobot(f"ws://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(RobotConnectionError, match=r"no rosbridge answer .* within 0.5 s"):
            robot.connect()
        elapsed = time.monotonic() - t0
        assert 0.4 < elapsed < 1.5, elapsed
    finally:
        listener.close()


def test_a_robot_that_never_publishes_state_fails_connect_naming_the_topic(server):
    server.drop_topic("/puppet/joint_right")
    robot = RosbridgeRobot(server.url, timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(RobotTimeoutError, match=r"no sensor_msgs/JointState on /puppet/joint_right within 0.5 s"):
        robot.connect()
    assert 0.45 < time.monotonic() - t0 < 1.5
    assert not robot.is_connected
    assert server.wait_for(lambda: server.client_count == 0)  # the failed connect closed its socket


def test_a_camera_that_never_publishes_fails_connect_naming_the_topic(server):
    server.drop_topic("/camera_f/color/image_raw/compressed")
    with pytest.raises(RobotTimeoutError, match=r"CompressedImage on /camera_f/color/image_raw/compressed"):
        RosbridgeRobot(server.url, timeout_s=0.5).connect()


def test_state_that_goes_silent_is_an_error_not_a_frozen_state(server):
    with RosbridgeRobot(server.url, timeout_s=1.0, max_state_age_s=0.2) as robot:
        robot.get_observation()
        server.drop_topic("/puppet/joint_left")
        time.sleep(0.3)
        with pytest.raises(RobotTimeoutError, match=r"/puppet/joint_left message is 0\.\d+ s old"):
            robot.get_observation()
        server.restore_topic("/puppet/joint_left")
        assert wait_until(lambda: _observes(robot))
        server.pause()  # the whole robot goes quiet: still connected, but nothing fresh to observe
        time.sleep(0.3)
        assert robot.is_connected
        with pytest.raises(RobotTimeoutError, match="stopped publishing"):
            robot.get_observation()
        server.resume()
        assert wait_until(lambda: _observes(robot))


def _observes(robot: RosbridgeRobot) -> bool:
    try:
        robot.get_observation()
        return True
    except RobotTimeoutError:
        return False


def test_an_image_stall_is_a_camera_timeout(server):
    with RosbridgeRobot(server.url, timeout_s=1.0, max_image_age_s=0.3) as robot:
        camera = robot.cameras["head"]
        camera.read(timeout_s=1.0)
        server.drop_topic("/camera_f/color/image_raw/compressed")
        time.sleep(0.15)  # a frame already in flight may still arrive: consume it
        with contextlib.suppress(CameraTimeoutError):
            camera.read(timeout_s=0.01)
        t0 = time.monotonic()
        with pytest.raises(CameraTimeoutError, match=r"no new frame within 0\.3 s"):
            camera.read(timeout_s=0.3)
        assert 0.25 < time.monotonic() - t0 < 0.8
        time.sleep(0.3)
        with pytest.raises(CameraTimeoutError, match="ms old"):
            robot.get_observation()


def test_a_garbled_jointstate_is_a_protocol_error():
    joints = lambda t: {"left": LEFT, "right": RIGHT[:3]}  # noqa: E731  (names 7 joints, 3 positions)
    expected = r"/puppet/joint_right: joint 'joint3' position is None"
    with (
        FakeRosbridge(joints=joints) as srv,
        RosbridgeRobot(srv.url, timeout_s=1.0) as robot,
        pytest.raises(RobotProtocolError, match=expected),
    ):
        robot.get_observation()


def test_reconnect_after_the_server_restarts(server):
    robot = RosbridgeRobot(server.url, timeout_s=1.0)
    robot.connect()
    try:
        robot.get_observation()
        server.stop()
        assert wait_until(lambda: not robot.is_connected)
        with pytest.raises(RobotConnectionError):
            robot.get_observation()
        with pytest.raises(RobotConnectionError):
            robot.send_action([0.0] * 14)  # never queued for a later connection
        with pytest.raises(RobotConnectionError, match="cannot reach"):
            robot.connect()
        server.start()
        robot.connect()
        assert robot.state_vector(robot.get_observation()) == pytest.approx(LEFT + RIGHT)
        robot.send_action([0.0] * 14)
        assert server.wait_for(lambda: server.published("/joint_left_states"))
        assert not any(m["position"] != [0.0] * 7 for m in server.published("/joint_left_states"))
    finally:
        robot.disconnect()


def test_several_connect_disconnect_cycles_in_one_process(server):
    threads_before = threading.active_count()
    robots = [RosbridgeRobot(server.url, timeout_s=1.0) for _ in range(2)]
    for _ in range(4):
        for robot in robots:
            robot.connect()
        assert server.wait_for(lambda: server.client_count == 2)
        for robot in robots:
            assert robot.get_observation()["head"].shape == (120, 160, 3)
            robot.disconnect()
        assert server.wait_for(lambda: server.client_count == 0)
    robots[0].connect()
    robots[0].connect()  # a second connect reconnects
    assert server.wait_for(lambda: server.client_count == 1)
    robots[0].disconnect()
    assert wait_until(lambda: threading.active_count() <= threads_before)


def test_decode_raw_images_with_row_padding_and_mono():
    import base64

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb[:, :, ::-1].reshape(2, 9)  # bgr8 with step 12
    msg = {"height": 2, "width": 3, "encoding": "bgr8", "step": 12, "data": base64.b64encode(padded.tobytes()).decode()}
    assert np.array_equal(decode_image(msg, "raw"), rgb)
    mono = {"height": 1, "width": 2, "encoding": "mono8", "step": 2, "data": [7, 9]}
    assert decode_image(mono, "raw").tolist() == [[[7, 7, 7], [9, 9, 9]]]
    with pytest.raises(Exception, match="16UC1"):
        decode_image({"height": 1, "width": 1, "encoding": "16UC1", "data": [0, 0]}, "raw")


def test_the_fake_speaks_rosbridge_to_roslibpy():
    """An independent client (roslibpy, twisted transport, in its own process so its reactor and txaio binding
    stay out of this one) subscribes, publishes and calls a service on the fake: the fake is protocol-true."""
    with FakeRosbridge({"stop_service": {"name": "/robot/stop"}}, joints=fixed_joints, echo_commands=False) as srv:
        script = textwrap.dedent(
            f"""
            import time, roslibpy
            ros = roslibpy.Ros("127.0.0.1", {srv.port}); ros.run(timeout=5)
            got = []
            roslibpy.Topic(ros, "/puppet/joint_left", "sensor_msgs/JointState").subscribe(got.append)
            t = roslibpy.Topic(ros, "/joint_left_states", "sensor_msgs/JointState"); t.advertise()
            t.publish(roslibpy.Message({{"name": ["joint0"], "position": [0.25]}}))
            reply = roslibpy.Service(ros, "/robot/stop", "std_srvs/Trigger").call(roslibpy.ServiceRequest(), timeout=5)
            deadline = time.time() + 5
            while not got and time.time() < deadline: time.sleep(0.02)
            print(got[0]["position"][1], reply["success"]); ros.close(); time.sleep(0.2)
            """
        )
        env = {k: v for k, v in os.environ.items() if k != "ROSLIBPY_TRANSPORT"}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == [str(LEFT[1]), "True"]
        assert srv.wait_for(lambda: srv.published("/joint_left_states"))
        assert srv.published("/joint_left_states")[0]["position"] == [0.25]
