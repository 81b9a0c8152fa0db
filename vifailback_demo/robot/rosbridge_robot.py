"""A ROS 1 / ROS 2 robot reached through rosbridge's websocket JSON protocol (default: an AgileX Cobot Magic).

State comes from each arm's ``sensor_msgs/JointState`` topic, the head camera from a ``CompressedImage`` (or raw
``Image``) topic that feeds a :class:`PushCamera`, and actions go out as one ``JointState`` per arm on its command
topic. Topics, types and joint names come from a topic map (:mod:`ros_topics`). The link is
:class:`RosbridgeClient` (its docstring says why not roslibpy).

Freshness rules, because a silent robot must look broken, never frozen:

* ``connect()`` waits for the first state message of every arm and the first camera frame (``timeout_s``) and names
  the silent topic in its :class:`RobotTimeoutError`;
* ``get_observation()`` refuses state older than ``max_state_age_s`` (:class:`RobotTimeoutError`) and a frame
  older than ``max_image_age_s`` (:class:`CameraTimeoutError`, from the camera);
* a dropped websocket makes ``is_connected`` False, so every call says so until ``connect()`` reconnects.

Times are arrival times (``time.monotonic()``): the messages' header stamps are the robot's clock, which need not
match ours. Commands are sent without a header (rosbridge fills a zero stamp, which the AgileX driver ignores).
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vifailback_demo.errors import (
    CameraError,
    RobotConnectionError,
    RobotError,
    RobotProtocolError,
    RobotTimeoutError,
)
from vifailback_demo.robot.base import DEFAULT_TIMEOUT_S, Robot
from vifailback_demo.robot.camera import Camera, PushCamera
from vifailback_demo.robot.ros_topics import ArmTopics, TopicMap, load_topic_map
from vifailback_demo.robot.rosbridge_client import RosbridgeClient


class RosCamera(PushCamera):
    """The PushCamera the image subscription feeds; a frame that cannot be decoded is kept as the error that
    ``read`` raises after its timeout (more useful than "no frame")."""

    def __init__(self, name: str, topic: str, timeout_s: float) -> None:
        super().__init__(name, timeout_s)
        self.topic = topic
        self.error: CameraError | None = None

    def connect(self) -> None:
        self.ring.clear()  # frames from a previous connection must not pass for fresh ones
        self.error = None
        super().connect()

    def _check_failed(self) -> None:
        if self.error is not None:
            raise self.error


class RosbridgeRobot(Robot):
    """``with RosbridgeRobot("ws://robot:9090") as robot: obs = robot.get_observation()``."""

    action_space = "joint"

    def __init__(
        self,
        url: str = "ws://127.0.0.1:9090",
        topics: TopicMap | Mapping[str, Any] | str | Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        max_state_age_s: float = 0.5,
        max_image_age_s: float = 1.0,
        name: str = "rosbridge",
    ) -> None:
        super().__init__()
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise RobotError(f"{name}: the rosbridge URL must start with ws:// or wss://, got {url!r}")
        for label, value in (("timeout_s", timeout_s), ("max_state_age_s", max_state_age_s)):
            if not value > 0:
                raise RobotError(f"{name}: {label} must be positive, got {value}")
        if not max_image_age_s > 0:
            raise RobotError(f"{name}: max_image_age_s must be positive, got {max_image_age_s}")
        self.name, self.url, self.timeout_s = name, url, timeout_s
        self.max_state_age_s, self.max_image_age_s = max_state_age_s, max_image_age_s
        self.topics = load_topic_map(topics)
        self._keys = self.topics.state_keys()
        self._camera = RosCamera(self.topics.camera.name, self.topics.camera.topic, timeout_s)
        self._client: RosbridgeClient | None = None
        self._state_cond = threading.Condition()  # guards the three dicts below; the reader thread writes them
        self._positions: dict[str, list[float]] = {}
        self._state_t: dict[str, float] = {}
        self._state_error: dict[str, str] = {}

    # ---- features -----------------------------------------------------------------------------------------
    @property
    def observation_features(self) -> dict[str, Any]:
        latest = self._camera.ring.latest()
        h, w = latest.image.shape[:2] if latest is not None else self.topics.camera.shape
        return {**dict.fromkeys(self._keys, float), self._camera.name: (h, w, 3)}

    @property
    def action_features(self) -> dict[str, Any]:
        return dict.fromkeys(self._keys, float)

    @property
    def cameras(self) -> dict[str, Camera]:
        return {self._camera.name: self._camera}

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def _connect(self) -> None:
        self._disconnect()
        with self._state_cond:
            self._positions.clear()
            self._state_t.clear()
            self._state_error.clear()
        client = RosbridgeClient(self.url, self.timeout_s, self.name)
        client.connect()
        self._client = client
        try:
            self._camera.connect()
            for arm, spec in self.topics.arms.items():
                client.subscribe(spec.state, self.topics.joint_state_type, self._state_callback(arm, spec))
                client.advertise(spec.command, self.topics.joint_state_type)
            cam = self.topics.camera
            client.subscribe(cam.topic, self.topics.camera_type, self._on_image, queue_length=1)
            self._wait_first_messages()
        except BaseException:
            self._disconnect()
            raise

    def _wait_first_messages(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        with self._state_cond:
            while not self._state_t.keys() >= self.topics.arms.keys() and self.is_connected:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._state_cond.wait(min(left, 0.05))
            silent = [spec.state for arm, spec in self.topics.arms.items() if arm not in self._state_t]
        self._check_link()
        if silent:
            raise RobotTimeoutError(
                f"{self.name}: no {self.topics.joint_state_type} on {', '.join(silent)} within {self.timeout_s:g} s "
                f"after connecting to {self.url} (is the arm driver running? `rostopic hz {silent[0]}`)"
            )
        if self._camera.ring.wait_newer(-1, max(0.0, deadline - time.monotonic())) is None:
            self._check_link()
            self._camera._check_failed()
            raise RobotTimeoutError(
                f"{self.name}: no {self.topics.camera_type} on {self.topics.camera.topic} within {self.timeout_s:g} s "
                f"after connecting to {self.url} (is the camera driver running? `rostopic hz {self.topics.camera.topic}`)"
            )

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._camera.disconnect()

    # ---- observe and act ----------------------------------------------------------------------------------
    def _get_observation(self) -> dict[str, Any]:
        now = time.monotonic()
        obs: dict[str, Any] = {}
        with self._state_cond:
            for arm, spec in self.topics.arms.items():
                if arm in self._state_error:
                    raise RobotProtocolError(f"{self.name}: {self._state_error[arm]}")
                age = now - self._state_t.get(arm, -math.inf)
                if age > self.max_state_age_s:
                    raise RobotTimeoutError(
                        f"{self.name}: the last {spec.state} message is {age:.2f} s old, more than the allowed "
                        f"{self.max_state_age_s:g} s (the robot stopped publishing its state)"
                    )
                for joint, value in zip(spec.joints, self._positions[arm]):
                    obs[f"{arm}.{joint}.pos"] = value
        obs[self._camera.name] = self._camera.read_latest(self.max_image_age_s * 1000.0)
        return obs

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        self._publish({arm: [action[f"{arm}.{j}.pos"] for j in spec.joints] for arm, spec in self.topics.arms.items()})
        return action

    def _hold(self) -> None:
        """Command every arm to the position it last reported (the state may be a little old; it is the best
        target there is, and holding must work exactly when the state stream is in trouble)."""
        with self._state_cond:
            missing = [spec.state for arm, spec in self.topics.arms.items() if arm not in self._positions]
            target = {arm: list(pos) for arm, pos in self._positions.items()}
        if missing:
            raise RobotError(f"{self.name}: cannot hold, no state received yet on {', '.join(missing)}")
        self._publish(target)

    def _stop(self) -> None:
        """Hold, then call the map's stop service (if any); both are tried, the first failure is raised."""
        errors: list[Exception] = []
        try:
            self._hold()
        except Exception as exc:
            errors.append(exc)
        spec = self.topics.stop_service
        if spec is not None and self._client is not None:
            try:
                self._client.call_service(spec.name, spec.args, service_type=spec.type, timeout_s=self.timeout_s)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _publish(self, positions: Mapping[str, list[float]]) -> None:
        client = self._client
        self._check_link()
        assert client is not None
        for arm, spec in self.topics.arms.items():
            msg = {"name": list(spec.joints), "position": [float(p) for p in positions[arm]]}
            client.publish(spec.command, msg | {"velocity": [], "effort": []})

    def _check_link(self) -> None:
        client = self._client
        if client is None or not client.is_connected:
            reason = client.closed_reason if client is not None else "not connected"
            raise RobotConnectionError(f"{self.name}: lost the link to {self.url} ({reason}); call connect()")

    # ---- subscriptions (run on the client's reader thread) ------------------------------------------------
    def _state_callback(self, arm: str, spec: ArmTopics):
        def on_state(msg: dict[str, Any]) -> None:
            try:
                positions = _joint_positions(msg, spec)
                error = None
            except RobotProtocolError as exc:
                positions, error = None, f"{spec.state}: {exc}"
            with self._state_cond:
                if error is not None:
                    self._state_error[arm] = error
                else:
                    self._state_error.pop(arm, None)
                    self._positions[arm] = positions
                self._state_t[arm] = time.monotonic()
                self._state_cond.notify_all()

        return on_state

    def _on_image(self, msg: dict[str, Any]) -> None:
        try:
            image = decode_image(msg, self.topics.camera.encoding)
        except CameraError as exc:
            self._camera.error = CameraError(f"{self._camera.name}: {self._camera.topic}: {exc}")
            return
        self._camera.error = None
        self._camera.push(image)


def _joint_positions(msg: Mapping[str, Any], spec: ArmTopics) -> list[float]:
    """Our joints' positions from a JointState, by name when it names them (drivers may add or reorder joints),
    else by order."""
    names, positions = msg.get("name") or [], msg.get("position")
    if not isinstance(positions, list):
        raise RobotProtocolError("JointState without a position list")
    if names:
        index = {n: i for i, n in enumerate(names)}
        missing = [j for j in spec.joints if j not in index]
        if missing:
            raise RobotProtocolError(f"JointState lacks joints {missing} (it names {list(names)[:10]})")
        picked = [positions[index[j]] if index[j] < len(positions) else None for j in spec.joints]
    else:
        if len(positions) < len(spec.joints):
            raise RobotProtocolError(f"JointState has {len(positions)} positions, the map names {len(spec.joints)}")
        picked = positions[: len(spec.joints)]
    out = []
    for joint, value in zip(spec.joints, picked):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RobotProtocolError(f"joint {joint!r} position is {value!r}, not a finite number")
        out.append(float(value))
    return out


def decode_image(msg: Mapping[str, Any], encoding: str) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a rosbridge ``CompressedImage`` (``encoding="compressed"``) or raw ``Image``.
    rosbridge sends ``uint8[]`` as base64; a list of ints is accepted too."""
    data = msg.get("data")
    if isinstance(data, str):
        try:
            buf = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise CameraError("image data is not valid base64") from None
    elif isinstance(data, list):
        buf = bytes(data)
    else:
        raise CameraError(f"image message has no data (got {type(data).__name__})")
    if encoding == "compressed":
        bgr = cv2.imdecode(
            np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR
        )  # JPEG/PNG decode to BGR whatever format says
        if bgr is None:
            raise CameraError(f"cannot decode the compressed image (format {msg.get('format')!r}, {len(buf)} bytes)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return _raw_to_rgb(msg, buf)


_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}


def _raw_to_rgb(msg: Mapping[str, Any], buf: bytes) -> np.ndarray:
    enc = msg.get("encoding")
    if enc not in _CHANNELS:
        raise CameraError(f"raw image encoding {enc!r} is not supported (use one of {sorted(_CHANNELS)})")
    try:
        h, w = int(msg["height"]), int(msg["width"])
        step = int(msg.get("step") or w * _CHANNELS[enc])
    except (KeyError, TypeError, ValueError):
        raise CameraError("raw image without height/width/step") from None
    c = _CHANNELS[enc]
    if h <= 0 or w <= 0 or step < w * c or len(buf) < step * h:
        raise CameraError(f"raw image of {len(buf)} bytes does not fit {h}x{w} {enc} with step {step}")
    rows = np.frombuffer(buf, np.uint8, count=step * h).reshape(h, step)  # step may pad each row
    img = rows[:, : w * c].reshape(h, w, c)
    if c == 1:
        return np.repeat(img, 3, axis=2)
    if enc in ("bgr8", "bgra8", "8UC3"):  # 8UC3 is what OpenCV-based drivers publish: BGR
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])
