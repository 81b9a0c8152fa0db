"""``vifailback robot emulate|check|ports``: try the robot links with no hardware, and check a real one.

``emulate`` runs the simulated robot behind a pseudo-terminal that speaks ``docs/serial-protocol.md`` and, with
``--camera-port``, serves its head camera as an MJPEG stream on 127.0.0.1 (the way many lab IP cameras do). It
prints one JSON line with the device path and the camera URL, then serves until Ctrl-C / SIGTERM (or
``--duration``). ``check`` connects any robot spec, prints its features and one observation, and disconnects.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from typing import Any

from vifailback_demo.cli.main import CommandResult
from vifailback_demo.errors import RobotError
from vifailback_demo.robot.factory import SPEC_HELP


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("robot", help="robot links: emulate, check, list serial ports", description=__doc__)
    rsub = p.add_subparsers(dest="robot_command", metavar="SUBCOMMAND")

    e = rsub.add_parser(
        "emulate",
        parents=[common],
        help="run the simulated robot behind a pseudo-terminal (and an MJPEG camera)",
        description="Run the simulated robot behind a pseudo-terminal speaking the vifailback-serial/1 protocol "
        "(docs/serial-protocol.md). Prints one JSON line {device, camera_url, ...}; connect with "
        "'vifailback robot check --robot serial:DEVICE --camera CAMERA_URL'. Stops on Ctrl-C or SIGTERM.",
    )
    e.add_argument("--robot", default="sim", help="what to emulate: sim or sim:TASK_ID (default sim)")
    e.add_argument("--seed", type=int, default=0, help="episode seed of the simulated robot (default 0)")
    e.add_argument(
        "--camera-port", type=int, default=None, help="serve the head camera as MJPEG on 127.0.0.1:PORT (0 = any)"
    )
    e.add_argument("--fps", type=float, default=10.0, help="MJPEG frames per second (default 10)")
    e.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run)")
    e.set_defaults(handler=cmd_emulate)

    c = rsub.add_parser(
        "check",
        parents=[common],
        help="connect a robot, print its features and one observation, disconnect",
        description=f"Connect --robot ({SPEC_HELP}), print its name, action space, features and one observation "
        "(numbers, and image shapes), then disconnect. Exit 2 with one line if anything fails or times out.",
    )
    c.add_argument("--robot", required=True, help=SPEC_HELP)
    c.add_argument("--camera", default=None, help="camera for a serial/LeRobot robot: device index, file or URL")
    c.add_argument("--topics", default=None, help="rosbridge topic map (YAML or JSON file)")
    c.add_argument("--seed", type=int, default=0, help="episode seed for the simulated robot (default 0)")
    c.add_argument("--baudrate", type=int, default=115200, help="serial baud rate (default 115200)")
    c.add_argument("--timeout", type=float, default=2.0, help="seconds allowed for each I/O call (default 2)")
    c.set_defaults(handler=cmd_check)

    ports = rsub.add_parser("ports", parents=[common], help="list serial ports (device, description, VID:PID)")
    ports.set_defaults(handler=cmd_ports)
    p.set_defaults(handler=_need_subcommand)


def _need_subcommand(args: argparse.Namespace) -> CommandResult:
    raise RobotError("robot needs a subcommand: emulate, check or ports (see vifailback robot --help)")


def cmd_emulate(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.robot.factory import open_robot, parse_robot_spec
    from vifailback_demo.robot.serial_emulator import SerialEmulator

    if parse_robot_spec(args.robot).kind != "sim":
        raise RobotError(f"emulate runs the simulated robot: --robot sim or sim:TASK_ID, got {args.robot!r}")
    if args.camera_port is not None and not 0 <= args.camera_port <= 65535:
        raise RobotError(f"--camera-port must be 0..65535, got {args.camera_port}")
    robot = open_robot(args.robot, seed=args.seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = None
    with SerialEmulator(robot) as emulator:
        info: dict[str, Any] = {"device": emulator.device_path, "robot": robot.name, "camera_url": None}
        if args.camera_port is not None:
            from vifailback_demo.robot.mjpeg_server import MJPEGServer

            server = MJPEGServer(_latest_frame(robot), port=args.camera_port, fps=args.fps)
            server.start()
            info["camera_url"] = server.url
        info["task"] = getattr(robot, "instruction", None)
        print(json.dumps(info), flush=True)
        try:
            stop.wait(args.duration)
        finally:
            if server is not None:
                server.close()
    robot.disconnect()
    return CommandResult(data=info, text="", exit_code=0)


def _latest_frame(robot: Any):
    """The simulated world only changes when it is stepped, so its newest rendered frame is the live view."""
    head = robot.cameras["head"]

    def frame():
        latest = head.ring.latest()
        if latest is None:
            raise RobotError("the simulated robot has not rendered a frame yet")
        return latest.image

    return frame


def cmd_check(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.robot.factory import open_robot

    if args.timeout <= 0:
        raise RobotError(f"--timeout must be positive, got {args.timeout}")
    robot = open_robot(
        args.robot,
        seed=args.seed,
        camera=args.camera,
        timeout_s=args.timeout,
        topics=args.topics,
        baudrate=args.baudrate,
    )
    started = time.monotonic()
    try:
        robot.connect()
        connect_s = time.monotonic() - started
        obs = robot.get_observation()
    finally:
        robot.disconnect()
    report = robot.describe()
    report["connect_s"] = round(connect_s, 3)
    report["observation"] = {
        k: (list(getattr(v, "shape", ())) if hasattr(v, "shape") and getattr(v, "ndim", 0) >= 2 else float(v))
        for k, v in obs.items()
    }
    lines = [f"{args.robot}: {report['name']} ({report['action_space']} actions), connected in {connect_s:.2f} s"]
    lines.append("  actions: " + ", ".join(report["action_features"]))
    for k, v in report["observation"].items():
        lines.append(f"  {k}: " + (f"image {v}" if isinstance(v, list) else f"{v:.4f}"))
    return CommandResult(data=report, text="\n".join(lines))


def cmd_ports(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.robot.serial_robot import list_ports

    ports = list_ports()
    text = "\n".join(f"{p['device']}  {p.get('description') or ''}" for p in ports) or "no serial ports found"
    return CommandResult(data=ports, text=text)
