"""LeRobotRobot over a fake shaped like LeRobot's Robot (an SO-101-style 6-joint arm with one camera)."""

from __future__ import annotations

import threading
import time
from functools import cached_property

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
from vifailback_demo.robot.lerobot_robot import LeRobotRobot

MOTORS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


class DeviceNotConnectedError(ConnectionError):
    """What lerobot raises when a robot is used before connect()."""


class FakeSO101:
    """Mimics lerobot's SOFollower: features as cached properties, max_relative_target clipping in send_action."""

    name = "so101_follower"

    def __init__(self, max_step: float = 5.0) -> None:
        self.id = "arm0"
        self.pos = {m: 10.0 * i for i, m in enumerate(MOTORS)}
        self.max_step = max_step
        self.connected = False
        self.calibrated = True
        self.connect_calls: list[bool] = []
        self.sent: list[dict[str, float]] = []
        self.hang = threading.Event()  # set: every call blocks until released
        self.release = threading.Event()
        self.frames = 0

    @cached_property
    def observation_features(self) -> dict:
        return {**{f"{m}.pos": float for m in MOTORS}, "front": (48, 64, 3)}

    @cached_property
    def action_features(self) -> dict:
        return {f"{m}.pos": float for m in MOTORS}

    @property
    def is_connected(self) -> bool:
        return self.connected

    @property
    def is_calibrated(self) -> bool:
        return self.calibrated

    def _maybe_hang(self) -> None:
        if self.hang.is_set():
            self.release.wait(10)

    def connect(self, calibrate: bool = True) -> None:
        if self.connected:
            raise ConnectionError(f"{self} already connected")
        self.connect_calls.append(calibrate)
        self.connected = True

    def calibrate(self) -> None:
        self.calibrated = True

    def configure(self) -> None:
        pass

    def get_observation(self) -> dict:
        if not self.connected:
            raise DeviceNotConnectedError(f"{self} is not connected.")
        self._maybe_hang()
        self.frames += 1
        return {**{f"{m}.pos": v for m, v in self.pos.items()}, "front": np.full((48, 64, 3), self.frames, np.uint8)}

    def send_action(self, action: dict) -> dict:
        if not self.connected:
            raise DeviceNotConnectedError(f"{self} is not connected.")
        self._maybe_hang()
        sent = {}
        for key, goal in action.items():
            now = self.pos[key.removesuffix(".pos")]
            sent[key] = now + float(np.clip(goal - now, -self.max_step, self.max_step))
            self.pos[key.removesuffix(".pos")] = sent[key]
        self.sent.append(sent)
        return sent

    def disconnect(self) -> None:
        if not self.connected:
            raise DeviceNotConnectedError(f"{self} is not connected.")
        self.connected = False


@pytest.fixture
def arm():
    fake = FakeSO101()
    robot = LeRobotRobot(fake, timeout_s=0.3)
    yield fake, robot
    fake.release.set()


def test_features_name_and_cameras_pass_through(arm):
    fake, robot = arm
    assert robot.name == "so101_follower"
    assert robot.action_space == "joint"
    assert robot.state_names == [f"{m}.pos" for m in MOTORS] == robot.action_names
    assert robot.observation_features["front"] == (48, 64, 3)
    assert list(robot.cameras) == ["front"]
    assert robot.describe()["cameras"] == ["front"]
    assert LeRobotRobot(fake, action_space="ee", name="left").name == "left"


def test_connect_observe_act_disconnect(arm):
    fake, robot = arm
    with pytest.raises(RobotConnectionError, match="connect"):
        robot.get_observation()
    robot.connect(calibrate=True)
    assert fake.connect_calls == [True] and robot.is_connected
    obs = robot.get_observation()
    assert obs["elbow_flex.pos"] == 20.0
    # The camera's ring is fed from the observation: the same image the policy sees with that state.
    assert (robot.cameras["front"].read_latest(500) == obs["front"]).all()
    goal = {f"{m}.pos": v + 100.0 for m, v in fake.pos.items()}
    sent = robot.send_action(goal)
    assert sent == fake.sent[-1] and sent["elbow_flex.pos"] == 25.0  # what the robot actually sent (clipped)
    assert robot.send_action(np.zeros(6))["shoulder_pan.pos"] == 0.0  # a vector in action_names order
    robot.connect()  # a second connect reconnects (LeRobot itself would refuse)
    assert fake.connect_calls == [True, False] and fake.connected
    robot.disconnect()
    assert not fake.connected and not robot.is_connected
    robot.disconnect()  # twice is fine
    assert not robot.cameras["front"].is_connected


def test_errors_of_the_wrapped_robot_become_ours(arm):
    fake, robot = arm
    robot.connect()
    fake.connected = False  # unplugged behind our back
    with pytest.raises(RobotConnectionError, match="DeviceNotConnectedError"):
        robot.get_observation()
    with pytest.raises(RobotError, match="action keys"):
        robot.send_action({"gripper.pos": 1.0})  # the base guards still apply before any call


def test_uncalibrated_robot_is_refused():
    fake = FakeSO101()
    fake.calibrated = False
    robot = LeRobotRobot(fake, timeout_s=0.3)
    with pytest.raises(RobotError, match="not calibrated"):
        robot.connect()
    assert not fake.connected and not robot.is_connected


def test_missing_attributes_are_listed_in_one_line():
    class Half:
        observation_features = property(lambda self: {})

        def connect(self, calibrate=True):
            pass

    with pytest.raises(RobotError) as err:
        LeRobotRobot(Half())
    text = str(err.value)
    assert "\n" not in text and text.startswith("Half does not have LeRobot's Robot API")
    for name in ("action_features", "is_connected", "get_observation", "send_action", "disconnect"):
        assert name in text.split("(needs")[0]
    assert "connect," not in text.split("(needs")[0].replace("disconnect", "")


def test_features_are_read_without_touching_is_connected():
    class Touchy(FakeSO101):
        @property
        def is_connected(self) -> bool:
            raise AssertionError("is_connected evaluated while checking the API")

    LeRobotRobot(Touchy())


def test_hold_sends_the_current_joint_positions(arm):
    fake, robot = arm
    robot.connect()
    before = dict(fake.pos)
    robot.hold()
    assert fake.sent[-1] == {f"{m}.pos": v for m, v in before.items()}
    assert fake.pos == before


def test_hold_unsupported_when_actions_are_not_states():
    class Torque(FakeSO101):
        @cached_property
        def action_features(self) -> dict:
            return {f"{m}.torque": float for m in MOTORS}

    fake = Torque()
    robot = LeRobotRobot(fake, timeout_s=0.3)
    robot.connect()
    with pytest.raises(RobotError, match="hold is unsupported"):
        robot.hold()
    assert fake.sent == [] and fake.frames == 0  # refused before any I/O
    robot.stop()  # a stop still refuses actions, even though its hold could not be sent
    assert robot.is_stopped and "hold is unsupported" in (robot.last_stop_error or "")


def test_velocity_actions_hold_at_zero():
    class Base(FakeSO101):
        @cached_property
        def action_features(self) -> dict:
            return {**{f"{m}.pos": float for m in MOTORS}, "x.vel": float}

        def send_action(self, action: dict) -> dict:
            self.sent.append(dict(action))
            return dict(action)

    fake = Base()
    robot = LeRobotRobot(fake, timeout_s=0.3)
    robot.connect()
    robot.hold()
    assert fake.sent[-1]["x.vel"] == 0.0 and fake.sent[-1]["gripper.pos"] == 50.0


def test_stop_holds_then_refuses_actions_until_connect(arm):
    fake, robot = arm
    robot.connect()
    robot.stop()
    assert robot.is_stopped and len(fake.sent) == 1  # the hold
    with pytest.raises(RobotStoppedError):
        robot.send_action(np.zeros(6))
    robot.connect()
    robot.send_action(np.zeros(6))


def test_a_hanging_call_times_out_within_bound_and_blocks_no_stop(arm):
    fake, robot = arm
    robot.connect()
    fake.hang.set()
    t0 = time.monotonic()
    with pytest.raises(RobotTimeoutError, match=r"get_observation\(\) did not return within 0\.3 s"):
        robot.get_observation()
    assert time.monotonic() - t0 < 0.3 + 0.3
    # The overrunning call still holds the robot: the next call is refused at once, not queued behind it.
    t1 = time.monotonic()
    with pytest.raises(RobotTimeoutError, match="has not returned yet"):
        robot.send_action(np.zeros(6))
    assert time.monotonic() - t1 < 0.2
    robot.stop()  # never raises, even now
    assert robot.is_stopped and "has not returned yet" in (robot.last_stop_error or "")
    # Once the wrapped call returns, the robot answers again.
    fake.hang.clear()
    fake.release.set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            robot.get_observation()
            break
        except RobotTimeoutError:
            time.sleep(0.02)
    else:
        pytest.fail("the robot never recovered after the hanging call returned")


def test_camera_goes_stale_when_the_loop_stops(arm):
    _, robot = arm
    robot.connect()
    robot.get_observation()
    time.sleep(0.25)
    with pytest.raises(CameraTimeoutError):
        robot.cameras["front"].read_latest(max_age_ms=200)


def test_malformed_observation_is_a_protocol_error(arm):
    fake, robot = arm
    robot.connect()
    fake.get_observation = lambda: {f"{m}.pos": 0.0 for m in MOTORS}  # the camera is missing
    with pytest.raises(RobotProtocolError, match="lacks camera 'front'"):
        robot.get_observation()
    fake.get_observation = lambda: {**{f"{m}.pos": 0.0 for m in MOTORS}, "front": np.zeros((3, 48, 64), np.uint8)}
    with pytest.raises(RobotProtocolError, match="RGB uint8"):
        robot.get_observation()
    fake.send_action = lambda action: ["not", "a", "dict"]
    with pytest.raises(RobotProtocolError, match="must return a dict"):
        robot.send_action(np.zeros(6))


def test_old_style_connect_without_calibrate_and_missing_optional_methods():
    class Old(FakeSO101):
        calibrate = None  # optional in our wrapper: only calibrate() needs it

        def connect(self) -> None:  # LeRobot before 0.2 had no calibrate argument
            self.connected = True

    fake = Old()
    robot = LeRobotRobot(fake, timeout_s=0.3)
    robot.connect(calibrate=True)
    assert fake.connected and robot.is_connected
    with pytest.raises(RobotError, match=r"has no calibrate\(\) method"):
        robot.calibrate()
    robot.configure()  # present: forwarded
