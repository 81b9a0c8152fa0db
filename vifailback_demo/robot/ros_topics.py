"""Which ROS topics, message types and joint names a rosbridge robot uses (the "topic map").

Defaults are the AgileX Cobot Magic / Mobile ALOHA ones (the paper's rig family): state on
``/puppet/joint_left|right`` and commands on ``/joint_left_states`` / ``/joint_right_states``
(``sensor_msgs/JointState``, names ``joint0``..``joint6``, 6 arm joints then the gripper in metres, 0..0.08), head
camera ``/camera_f`` (its ``image_transport`` compressed topic by default: a JPEG is ~20x smaller than raw ``rgb8``
as base64 JSON). AgileX's ACT inference scripts publish commands on ``/master/joint_left|right`` instead: on such a
setup set ``command`` for both arms in a map file.

A YAML or JSON file overrides any part of the defaults::

    arms:
      left:  {state: /puppet/joint_left,  command: /joint_left_states,  joints: [joint0, ..., joint6]}
      right: {state: /puppet/joint_right, command: /joint_right_states, joints: [joint0, ..., joint6]}
    camera: {name: head, topic: /camera_f/color/image_raw/compressed, encoding: compressed, shape: [480, 640]}
    stop_service: {name: /robot/stop, type: std_srvs/Trigger, args: {}}   # optional, called by stop()
    types: {joint_state: sensor_msgs/JointState, compressed_image: sensor_msgs/CompressedImage,
            image: sensor_msgs/Image}

``arms`` given in a file replaces the set of arms (a one-arm robot lists one); an arm named like a default arm takes
the fields it omits from that default. Unknown keys are refused with a one-line error naming the dotted key, so a
typo (``comand``) fails at load time instead of silently commanding the default topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vifailback_demo.errors import RobotError

AGILEX_JOINTS = tuple(f"joint{i}" for i in range(7))  # joint6 is the gripper (metres)
CAMERA_ENCODINGS = ("compressed", "raw")
_ARM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = ("arms", "camera", "stop_service", "types")
_ARM_KEYS = ("state", "command", "joints")
_CAMERA_KEYS = ("name", "topic", "encoding", "shape")
_SERVICE_KEYS = ("name", "type", "args")
_TYPE_KEYS = ("joint_state", "compressed_image", "image")


@dataclass(frozen=True)
class ArmTopics:
    state: str
    command: str
    joints: tuple[str, ...]


@dataclass(frozen=True)
class CameraTopic:
    name: str = "head"
    topic: str = "/camera_f/color/image_raw/compressed"
    encoding: str = "compressed"  # "compressed" (sensor_msgs/CompressedImage) or "raw" (sensor_msgs/Image)
    shape: tuple[int, int] = (480, 640)  # (h, w) advertised in observation_features until a frame arrives


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    type: str = "std_srvs/Trigger"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicMap:
    arms: dict[str, ArmTopics]
    camera: CameraTopic = CameraTopic()
    stop_service: ServiceSpec | None = None
    joint_state_type: str = "sensor_msgs/JointState"
    compressed_image_type: str = "sensor_msgs/CompressedImage"
    image_type: str = "sensor_msgs/Image"

    @property
    def camera_type(self) -> str:
        return self.compressed_image_type if self.camera.encoding == "compressed" else self.image_type

    def state_keys(self) -> list[str]:
        """Observation / action names: ``<arm>.<joint>.pos``, arms in map order (left then right = ALOHA's 14)."""
        return [f"{arm}.{joint}.pos" for arm, spec in self.arms.items() for joint in spec.joints]


def default_topic_map() -> TopicMap:
    return TopicMap(
        arms={
            "left": ArmTopics("/puppet/joint_left", "/joint_left_states", AGILEX_JOINTS),
            "right": ArmTopics("/puppet/joint_right", "/joint_right_states", AGILEX_JOINTS),
        }
    )


def load_topic_map(source: TopicMap | Mapping[str, Any] | str | Path | None = None) -> TopicMap:
    """The defaults overridden by ``source``: a ready map, a dict, or a ``.yaml``/``.yml``/``.json`` file."""
    if source is None:
        return default_topic_map()
    if isinstance(source, TopicMap):
        return source
    if isinstance(source, Mapping):
        return _build(source, "topic map")
    path = Path(source)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RobotError(f"{where}: cannot read the topic map ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RobotError(f"{where}: not valid JSON: {_one_line(exc)}") from None
    elif suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML maps

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RobotError(f"{where}: not valid YAML: {_one_line(exc)}") from None
    else:
        raise RobotError(f"{where}: a topic map must be a .yaml, .yml or .json file, got {path.name!r}")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RobotError(f"{where}: the topic map must be a mapping at the top level, got {type(data).__name__}")
    return _build(data, where)


def _build(data: Mapping[str, Any], where: str) -> TopicMap:
    base = default_topic_map()
    _refuse_unknown(data, _TOP_KEYS, "", where)

    arms = base.arms
    if "arms" in data:
        raw_arms = _mapping(data["arms"], "arms", where)
        if not raw_arms:
            raise RobotError(f"{where}: 'arms' must name at least one arm")
        arms = {}
        for name, raw in raw_arms.items():
            key = f"arms.{name}"
            if not isinstance(name, str) or not _ARM_NAME.match(name):
                raise RobotError(f"{where}: {key!r}: an arm name must be an identifier such as 'left'")
            raw = _mapping(raw, key, where)
            _refuse_unknown(raw, _ARM_KEYS, key + ".", where)
            default = base.arms.get(name)
            values = {}
            for k in _ARM_KEYS:
                if k in raw:
                    values[k] = raw[k]
                elif default is not None:
                    values[k] = getattr(default, k)
                else:
                    raise RobotError(f"{where}: '{key}.{k}' is missing (arm {name!r} has no default)")
            joints = values["joints"]
            if isinstance(joints, str) or not isinstance(joints, list | tuple) or not joints:
                raise RobotError(f"{where}: '{key}.joints' must be a non-empty list of joint names")
            if not all(isinstance(j, str) and j for j in joints) or len(set(joints)) != len(joints):
                raise RobotError(f"{where}: '{key}.joints' must be distinct non-empty names, got {list(joints)}")
            arms[name] = ArmTopics(
                _topic(values["state"], f"{key}.state", where),
                _topic(values["command"], f"{key}.command", where),
                tuple(joints),
            )

    camera = base.camera
    if "camera" in data:
        raw = _mapping(data["camera"], "camera", where)
        _refuse_unknown(raw, _CAMERA_KEYS, "camera.", where)
        name = raw.get("name", camera.name)
        if not isinstance(name, str) or not _ARM_NAME.match(name):
            raise RobotError(f"{where}: 'camera.name' must be an identifier such as 'head', got {name!r}")
        encoding = raw.get("encoding", camera.encoding)
        if encoding not in CAMERA_ENCODINGS:
            raise RobotError(f"{where}: 'camera.encoding' must be one of {list(CAMERA_ENCODINGS)}, got {encoding!r}")
        shape = raw.get("shape", camera.shape)
        if (
            not isinstance(shape, list | tuple)
            or len(shape) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
        ):
            raise RobotError(f"{where}: 'camera.shape' must be [height, width] in pixels, got {shape!r}")
        camera = CameraTopic(
            name, _topic(raw.get("topic", camera.topic), "camera.topic", where), encoding, tuple(shape)
        )

    stop = None
    if data.get("stop_service") is not None:
        raw = _mapping(data["stop_service"], "stop_service", where)
        _refuse_unknown(raw, _SERVICE_KEYS, "stop_service.", where)
        if "name" not in raw:
            raise RobotError(f"{where}: 'stop_service.name' is missing")
        stype = raw.get("type", "std_srvs/Trigger")
        if not isinstance(stype, str) or not stype:
            raise RobotError(f"{where}: 'stop_service.type' must be a service type such as 'std_srvs/Trigger'")
        stop = ServiceSpec(
            _topic(raw["name"], "stop_service.name", where), stype, dict(_mapping(raw.get("args", {}), "args", where))
        )

    types = {
        "joint_state": base.joint_state_type,
        "compressed_image": base.compressed_image_type,
        "image": base.image_type,
    }
    if "types" in data:
        raw = _mapping(data["types"], "types", where)
        _refuse_unknown(raw, _TYPE_KEYS, "types.", where)
        for k, v in raw.items():
            if not isinstance(v, str) or "/" not in v:
                raise RobotError(f"{where}: 'types.{k}' must be a ROS type such as 'sensor_msgs/JointState'")
            types[k] = v

    topics = [a.state for a in arms.values()] + [a.command for a in arms.values()]
    if len(set(topics)) != len(topics):
        raise RobotError(f"{where}: every arm needs its own state and command topics, got {topics}")
    return TopicMap(arms, camera, stop, types["joint_state"], types["compressed_image"], types["image"])


def _refuse_unknown(raw: Mapping[str, Any], known: tuple[str, ...], prefix: str, where: str) -> None:
    for key in raw:
        if key not in known:
            raise RobotError(f"{where}: unknown key '{prefix}{key}' (known: {', '.join(known)})")


def _mapping(value: Any, key: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RobotError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _topic(value: Any, key: str, where: str) -> str:
    # rosbridge resolves relative names against its own node namespace; an absolute name is what the user means.
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise RobotError(f"{where}: '{key}' must be an absolute ROS name such as '/puppet/joint_left', got {value!r}")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
