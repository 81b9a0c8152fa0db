"""One place that turns a robot spec string into a :class:`Robot` (the CLI and the app's Live tab both use it).

Specs (``--robot``):

- ``sim`` / ``sim:TASK_ID``: the simulated dual-arm robot (seeded with ``seed``).
- ``serial:PORT``: a controller speaking ``docs/serial-protocol.md`` (a device path such as ``/dev/ttyACM0`` or
  any pyserial URL such as ``socket://10.0.0.5:7000``); pair it with ``camera``.
- ``rosbridge:ws://HOST:9090``: a ROS 1/2 robot through rosbridge (AgileX / ALOHA topics unless ``topics``).
- ``lerobot:MODULE:FACTORY``: ``FACTORY()`` from an importable module returns a LeRobot ``Robot`` object (for
  example a function in your lab's package that builds ``SO100Follower(config)``); it is wrapped by duck typing.

Backends are imported only when asked for, so ``vifailback robot check --robot sim`` needs no ROS or serial
libraries at all.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from vifailback_demo.errors import RobotError
from vifailback_demo.robot.base import Robot

KINDS = ("sim", "serial", "rosbridge", "lerobot")
SPEC_HELP = "sim[:TASK] | serial:PORT | rosbridge:ws://HOST:PORT | lerobot:MODULE:FACTORY"


@dataclass(frozen=True)
class RobotSpec:
    kind: str
    target: str  # task id, port, URL or MODULE:FACTORY; "" for a plain "sim"


def parse_robot_spec(spec: str) -> RobotSpec:
    text = (spec or "").strip()
    kind, _, target = text.partition(":")
    if kind not in KINDS:
        raise RobotError(f"robot spec must be {SPEC_HELP}; got {spec!r}")
    if kind != "sim" and not target:
        raise RobotError(f"robot spec {spec!r} needs a target after '{kind}:' ({SPEC_HELP})")
    if kind == "rosbridge" and not target.startswith(("ws://", "wss://")):
        raise RobotError(f"rosbridge robot needs a ws:// or wss:// URL, got {target!r}")
    if kind == "lerobot" and target.count(":") != 1:
        raise RobotError(f"lerobot robot spec must be lerobot:MODULE:FACTORY, got {spec!r}")
    return RobotSpec(kind, target)


def open_robot(
    spec: str,
    *,
    seed: int = 0,
    camera: str | None = None,
    timeout_s: float = 2.0,
    topics: str | None = None,
    baudrate: int = 115200,
) -> Robot:
    """Build (not connect) the robot named by ``spec``; ``camera`` is a camera spec for robots without one."""
    parsed = parse_robot_spec(spec)
    if camera is not None and parsed.kind != "serial":
        own = {"sim": "renders its own head camera", "rosbridge": "reads its cameras from ROS topics"}
        raise RobotError(f"a {parsed.kind} robot {own.get(parsed.kind, 'brings its own cameras')}; drop --camera")
    if topics is not None and parsed.kind != "rosbridge":
        raise RobotError("a topic map (--topics) is only for rosbridge robots")
    if parsed.kind == "sim":
        from vifailback_demo.robot.sim_robot import SimRobot

        return SimRobot(task=parsed.target or None, seed=seed)
    if parsed.kind == "serial":
        from vifailback_demo.robot.serial_robot import SerialRobot

        cam = None
        if camera is not None:
            from vifailback_demo.robot.cameras import open_camera

            cam = open_camera(camera, name="head", timeout_s=timeout_s, connect=False)  # the robot owns it
        return SerialRobot(parsed.target, baudrate=baudrate, timeout_s=timeout_s, camera=cam)
    if parsed.kind == "rosbridge":
        from vifailback_demo.robot.rosbridge_robot import RosbridgeRobot

        return RosbridgeRobot(parsed.target, topics=topics, timeout_s=timeout_s)
    from vifailback_demo.robot.lerobot_robot import LeRobotRobot

    module_name, factory_name = parsed.target.split(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as exc:
        raise RobotError(f"lerobot robot: cannot load {factory_name!r} from module {module_name!r}: {exc}") from None
    return LeRobotRobot(factory(), timeout_s=timeout_s)
