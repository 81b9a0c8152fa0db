"""SerialRobot against SerialEmulator over real pseudo-terminals: the round trip, and every way a controller fails.

Misbehaving controllers are SerialEmulator subclasses overriding ``answer`` / ``handle`` (so the product module has
no test switches), except the one that never reads, which is a bare pty answered by a thread in this file.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import threading
import time
import tty

import numpy as np
import pytest
import serial

from vifailback_demo.errors import (
    CameraTimeoutError,
    RobotConnectionError,
    RobotError,
    RobotProtocolError,
    RobotStoppedError,
    RobotTimeoutError,
)
from vifailback_demo.robot.base import Robot
from vifailback_demo.robot.camera import PushCamera
from vifailback_demo.robot.serial_emulator import SerialEmulator
from vifailback_demo.robot.serial_protocol import PROTOCOL, LineReader, decode_request, encode_error, encode_reply
from vifailback_demo.robot.serial_robot import SerialRobot, list_ports

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")

T = 0.3  # reply timeout used throughout: short, so the failure tests stay fast
SLACK = 0.5  # what a loaded 2-core machine may add to a timeout


class FakeArm(Robot):
    """Two joints clamped to [-1, 1]; refuses |value| > 10 outright (as a controller refusing a wild target)."""

    name = "fake-arm"

    def __init__(self, dim: int = 2) -> None:
        super().__init__()
        self._names = [f"joint{i}" for i in range(dim)]
        self._q = [0.0] * dim
        self._connected = False
        self.calls: list[str] = []

    @property
    def observation_features(self):
        return {**{k: float for k in self._names}, "head": (4, 4, 3)}

    @property
    def action_features(self):
        return {k: float for k in self._names}

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _connect(self) -> None:
        self._connected = True

    def _disconnect(self) -> None:
        self._connected = False

    def _get_observation(self):
        return {**dict(zip(self._names, self._q)), "head": np.zeros((4, 4, 3), np.uint8)}

    def _send_action(self, action):
        if any(abs(v) > 10 for v in action.values()):
            raise RobotError(f"{self.name}: target {max(abs(v) for v in action.values())} is beyond the hard limit 10")
        self._q = [min(1.0, max(-1.0, v)) for v in action.values()]
        self.calls.append("act")
        return dict(zip(self._names, self._q))

    def _hold(self) -> None:
        self.calls.append("hold")

    def _reset(self) -> None:
        self.calls.append("reset")


@contextlib.contextmanager
def link(emulator: SerialEmulator, **kw):
    """An emulator and a connected SerialRobot on its pty; both closed afterwards."""
    with emulator:
        robot = SerialRobot(emulator.device_path, **{"timeout_s": T, "write_timeout_s": T, **kw})
        try:
            robot.connect()
            yield robot
        finally:
            robot.disconnect()


def _timed(fn):
    t0 = time.monotonic()
    try:
        fn()
    finally:
        _timed.elapsed = time.monotonic() - t0


# ---- the happy path ------------------------------------------------------------------------------------------------
def test_round_trip_through_the_emulator():
    arm = FakeArm()
    with link(SerialEmulator(arm)) as robot:
        assert robot.is_connected and arm.is_connected  # the emulator connected the robot it wraps
        assert robot.name == "fake-arm" and robot.action_space == "joint"
        assert robot.observation_features == {"joint0": float, "joint1": float}  # images never go over serial
        assert robot.action_names == ["joint0", "joint1"]
        assert robot.get_observation() == {"joint0": 0.0, "joint1": 0.0}
        t1 = robot.controller_time
        sent = robot.send_action([0.5, 3.0])
        assert sent == {"joint0": 0.5, "joint1": 1.0}  # the clamped action the controller actually sent
        assert robot.get_observation() == {"joint0": 0.5, "joint1": 1.0}
        assert robot.controller_time > t1
        robot.hold()
        assert arm.calls == ["act", "hold"]
        assert robot.describe()["action_features"] == {"joint0": "float", "joint1": "float"}
        assert robot.hello_info["protocol"] == PROTOCOL
    assert not arm.is_connected  # the emulator disconnects what it connected


def test_names_are_generated_when_hello_has_none():
    class Anonymous(SerialEmulator):
        def handle(self, request):
            fields = super().handle(request)
            if request.op == "hello":
                del fields["state_names"], fields["action_names"], fields["name"]
            return fields

    with link(Anonymous(FakeArm(3)), name="lab-arm") as robot:
        assert robot.state_names == ["state.0", "state.1", "state.2"]
        assert robot.action_names == ["action.0", "action.1", "action.2"]
        assert robot.name == "lab-arm"
        assert robot.send_action({"action.0": 0.1, "action.1": 0.2, "action.2": 0.3})["action.2"] == 0.3


def test_camera_images_come_from_the_camera_not_the_line():
    cam = PushCamera("head")
    threading.Timer(0.1, lambda: cam.push(np.full((6, 8, 3), 7, np.uint8))).start()
    with link(SerialEmulator(FakeArm()), camera=cam) as robot:  # connect() waits for the camera's first frame
        assert cam.is_connected  # connect() connected the camera it was given
        assert robot.observation_features == {"joint0": float, "joint1": float, "head": (6, 8, 3)}
        obs = robot.get_observation()
        assert obs["head"].shape == (6, 8, 3) and obs["joint0"] == 0.0
        assert robot.cameras == {"head": cam}
    assert not cam.is_connected  # and disconnect() closed it again


def test_a_camera_without_frames_fails_connect_and_leaves_nothing_open():
    cam = PushCamera("head", timeout_s=0.2)
    with SerialEmulator(FakeArm()) as emu:
        robot = SerialRobot(emu.device_path, timeout_s=T, camera=cam)
        with pytest.raises(CameraTimeoutError, match="head: no frame yet"):
            _timed(robot.connect)
        assert _timed.elapsed < 0.2 + T + SLACK
        assert not robot.is_connected and not cam.is_connected
        other = SerialRobot(emu.device_path, timeout_s=T)  # the port's exclusive lock was released
        other.connect()
        other.disconnect()


# ---- resync and misbehaving controllers ------------------------------------------------------------------------------
def test_garbled_lines_and_logs_before_the_reply_are_skipped():
    junk = b"\x00\xff\xfe\x80 noise\n{half a json\nLOG motor 2 temp 41C\r\n" + b'{"log":"x"}\n[1,2,3]\n\n'

    class Chatty(SerialEmulator):
        def answer(self, line):
            reply = super().answer(line)
            return junk + reply if decode_request(line).op != "hello" else reply

    with link(Chatty(FakeArm())) as robot:
        for i in range(5):
            assert robot.send_action([0.1 * i, 0.0])["joint0"] == pytest.approx(0.1 * i)
            assert robot.get_observation()["joint0"] == pytest.approx(0.1 * i)


def test_silent_controller_times_out_naming_port_and_op():
    class Mute(SerialEmulator):
        def answer(self, line):
            return None if decode_request(line).op == "observe" else super().answer(line)

    with link(Mute(FakeArm())) as robot:
        with pytest.raises(RobotTimeoutError) as info:
            _timed(robot.get_observation)
        assert T <= _timed.elapsed < T + SLACK
        assert robot.port in str(info.value) and "'observe'" in str(info.value)
        robot.hold()  # the link still works for what the controller does answer


def test_a_late_reply_to_a_timed_out_request_is_skipped_not_mistaken():
    class Slow(SerialEmulator):
        slow_once = True

        def answer(self, line):
            if decode_request(line).op == "observe" and self.slow_once:
                self.slow_once = False
                time.sleep(T + 0.2)  # answers after the host gave up
            return super().answer(line)

    with link(Slow(FakeArm())) as robot:
        with pytest.raises(RobotTimeoutError):
            robot.get_observation()
        time.sleep(0.3)  # let the late reply arrive first
        assert robot.get_observation() == {"joint0": 0.0, "joint1": 0.0}


def test_id_null_complaint_is_reported_in_the_timeout():
    class Confused(SerialEmulator):
        def answer(self, line):
            if decode_request(line).op == "observe":
                return encode_error(None, "checksum mismatch on input line")
            return super().answer(line)

    with link(Confused(FakeArm())) as robot, pytest.raises(RobotTimeoutError, match="checksum mismatch"):
        robot.get_observation()


def test_a_reply_with_the_wrong_id_is_a_protocol_error_naming_both():
    class Mixed(SerialEmulator):
        def answer(self, line):
            req = decode_request(line)
            return encode_reply(req.id + 1000, state=[0, 0]) if req.op == "observe" else super().answer(line)

    with link(Mixed(FakeArm())) as robot:
        with pytest.raises(RobotProtocolError) as info:
            robot.get_observation()
        ids = [int(w) for w in str(info.value).split() if w.isdigit()]
        assert len(ids) == 2 and ids[0] == ids[1] + 1000 and robot.port in str(info.value)
        robot.hold()  # the next request is not blamed for the previous mix-up


def test_a_malformed_reply_is_a_protocol_error_naming_the_port():
    class Sloppy(SerialEmulator):
        def answer(self, line):
            req = decode_request(line)
            return b'{"id": %d, "ok": "sure"}\n' % req.id if req.op == "hold" else super().answer(line)

    with link(Sloppy(FakeArm())) as robot, pytest.raises(RobotProtocolError, match="'ok' must be") as info:
        robot.hold()
    assert robot.port in str(info.value) and "'hold'" in str(info.value)


def test_a_non_finite_state_is_refused():
    class Broken(SerialEmulator):
        def answer(self, line):
            req = decode_request(line)
            if req.op == "observe":
                return b'{"id": %d, "ok": true, "state": [NaN, 0.5], "t": 1}\n' % req.id
            return super().answer(line)

    with link(Broken(FakeArm())) as robot, pytest.raises(RobotProtocolError, match=r"state\[0\] is not finite"):
        robot.get_observation()


def test_ok_false_carries_the_controller_message():
    with link(SerialEmulator(FakeArm())) as robot:
        with pytest.raises(RobotError, match="beyond the hard limit 10") as info:
            robot.send_action([50.0, 0.0])
        assert type(info.value) is RobotError
        assert robot.send_action([0.2, 0.2]) == {"joint0": 0.2, "joint1": 0.2}  # a refusal does not break the link


def test_a_stop_on_the_controller_side_refuses_actions_as_stopped():
    arm = FakeArm()
    with link(SerialEmulator(arm)) as robot:
        arm.stop()  # the lab's physical e-stop, not ours
        with pytest.raises(RobotStoppedError, match="emergency-stopped"):
            robot.send_action([0.1, 0.1])


# ---- hello ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"protocol": "vifailback-serial/2"}, "speaks 'vifailback-serial/2', expected 'vifailback-serial/1'"),
        ({"protocol": None}, "speaks None, expected 'vifailback-serial/1'"),
        ({"action_dim": 0}, "'action_dim' must be an integer"),
        ({"state_dim": "2"}, "'state_dim' must be an integer"),
        ({"state_names": ["a", "a"]}, "distinct"),
        ({"action_names": ["x"]}, "'action_names' must be 2"),
        ({"action_space": "cartesian"}, "'joint' or 'ee'"),
    ],
)
def test_a_bad_hello_is_a_one_line_protocol_error(patch, match):
    class Odd(SerialEmulator):
        def handle(self, request):
            fields = super().handle(request)
            return {**fields, **patch} if request.op == "hello" else fields

    with Odd(FakeArm()) as emu:
        robot = SerialRobot(emu.device_path, timeout_s=T)
        with pytest.raises(RobotProtocolError, match=match) as info:
            robot.connect()
        assert "\n" not in str(info.value) and not robot.is_connected


def test_hello_is_repeated_for_a_board_that_boots_when_the_port_opens():
    class Booting(SerialEmulator):
        ignored = 0

        def answer(self, line):
            if self.ignored < 2:  # still in the bootloader: the first two hellos are lost
                self.ignored += 1
                return b"bootloader v3\n"
            return super().answer(line)

    with Booting(FakeArm()) as emu:
        with pytest.raises(RobotTimeoutError, match="'hello'"):
            SerialRobot(emu.device_path, timeout_s=0.2).connect()  # one try by default
        emu.ignored = 0
        robot = SerialRobot(emu.device_path, timeout_s=0.2, connect_timeout_s=2.0)
        robot.connect()
        assert robot.get_observation() == {"joint0": 0.0, "joint1": 0.0}
        robot.disconnect()


# ---- lifecycle -----------------------------------------------------------------------------------------------------
def test_features_are_unknown_before_the_first_connect():
    robot = SerialRobot("/dev/null-serial-never-opened")
    with pytest.raises(RobotConnectionError, match="call connect"):
        _ = robot.action_features
    with pytest.raises(RobotConnectionError, match="call connect"):
        robot.send_action([0.0])


def test_disconnect_then_use_is_a_connection_error():
    with link(SerialEmulator(FakeArm())) as robot:
        robot.disconnect()
        assert not robot.is_connected
        assert robot.action_names == ["joint0", "joint1"]  # features stay known
        for call in (robot.get_observation, lambda: robot.send_action([0, 0]), robot.hold):
            with pytest.raises(RobotConnectionError, match="call connect"):
                call()
        robot.disconnect()  # twice is fine
        robot.stop()  # a stop never raises on a disconnected robot


def test_stop_reaches_the_controller_and_then_actions_are_refused():
    arm = FakeArm()
    with link(SerialEmulator(arm)) as robot:
        robot.stop()
        assert arm.is_stopped  # the stop travelled over the line
        with pytest.raises(RobotStoppedError):
            robot.send_action([0.1, 0.1])
        assert "act" not in arm.calls
        robot.connect()  # connect() clears the stop, on the controller too (hello says stopped -> reset)
        assert not arm.is_stopped and arm.calls[-1] == "reset"
        assert robot.send_action([0.1, 0.1]) == {"joint0": 0.1, "joint1": 0.1}
        robot.stop()
        robot.reset()
        assert not arm.is_stopped and robot.send_action([0.3, 0.3])["joint0"] == 0.3


def test_a_vanished_device_is_a_connection_error_naming_the_port():
    emu = SerialEmulator(FakeArm()).start()
    robot = SerialRobot(emu.device_path, timeout_s=T)
    robot.connect()
    emu.close()  # the USB cable is pulled
    with pytest.raises(RobotConnectionError, match=emu.device_path):
        robot.get_observation()
    assert not robot.is_connected
    robot.disconnect()


@pytest.mark.parametrize("port", ["/dev/ttyNOSUCH-vifailback", "nosuchscheme://x"])
def test_a_port_that_cannot_be_opened_is_a_connection_error_naming_it(port):
    with pytest.raises(RobotConnectionError, match=port):
        SerialRobot(port, timeout_s=T).connect()


def test_two_hosts_cannot_share_one_controller():
    with link(SerialEmulator(FakeArm())) as robot:
        with pytest.raises(RobotConnectionError, match=robot.port):
            SerialRobot(robot.port, timeout_s=T).connect()
        assert robot.get_observation()["joint0"] == 0.0


# ---- the emulator alone ----------------------------------------------------------------------------------------------
def test_emulator_survives_garbage_and_answers_it_with_id_null():
    with SerialEmulator(FakeArm()) as emu:
        port = serial.Serial(emu.device_path, timeout=1.0, write_timeout=1.0)
        try:
            port.write(b"\xff\x00garbage\n" + b"A" * 70_000 + b"\n" + b'{"id": 5, "op": "dance"}\n')
            port.write(b'{"id": 6, "op": "observe"}\n')
            lines = [json.loads(port.readline()) for _ in range(4)]
        finally:
            port.close()
    assert [(r["id"], r["ok"]) for r in lines] == [(None, False), (None, False), (5, False), (6, True)]
    assert "longer than" in lines[1]["error"] and lines[2]["code"] == "unknown_op"
    assert lines[3]["state"] == [0.0, 0.0]


def test_emulator_answers_a_robot_error_with_its_text_and_keeps_serving():
    class Buggy(FakeArm):
        def _hold(self):
            raise ZeroDivisionError("division by zero in the driver")

    arm = Buggy()
    arm.connect()
    emu = SerialEmulator(arm)  # answer() works without the pty: it is the pure request -> reply step
    assert json.loads(emu.answer(b'{"id": 1, "op": "act", "action": [99, 0]}'))["error"].endswith("hard limit 10")
    assert json.loads(emu.answer(b'{"id": 2, "op": "hold"}'))["code"] == "internal"
    assert json.loads(emu.answer(b'{"id": 3, "op": "act", "action": "up"}'))["code"] == "bad_request"


# ---- write timeout: a controller that stops reading ---------------------------------------------------------------
def _deaf_controller(action_dim: int):
    """A bare pty: answers hello, then never reads again, so the kernel buffer (about 16 KB) fills."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)

    def run():
        buf = b""
        while b"\n" not in buf:
            buf += os.read(master, 4096)
        req = decode_request(buf.split(b"\n")[0])
        os.write(master, encode_reply(req.id, protocol=PROTOCOL, state_dim=1, action_dim=action_dim))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return master, slave, path


def test_write_timeout_when_the_controller_stops_reading():
    master, slave, path = _deaf_controller(action_dim=4000)
    robot = SerialRobot(path, timeout_s=T, write_timeout_s=T)
    done = threading.Event()
    responder = None
    try:
        robot.connect()
        big = [0.1234567891] * 4000  # about 52 KB per line: more than the pty holds
        error = None
        for _ in range(4):  # the first line normally blocks; allow a kernel with bigger buffers a few more
            t0 = time.monotonic()
            try:
                robot.send_action(big)
            except RobotTimeoutError as exc:
                assert time.monotonic() - t0 < 2 * T + SLACK
                if "write timeout" in str(exc):
                    error = exc
                    break
        assert error is not None, "the write never timed out"
        assert path in str(error) and "'act'" in str(error)
        assert robot.is_connected  # a blocked line is a timeout, not a lost device

        # The controller reads again: the half-written line must not corrupt the next request.
        def answer_all():
            reader = LineReader(
                lambda wait: os.read(master, 65536) if select.select([master], [], [], 0.05)[0] else b""
            )
            while not done.is_set():
                line = reader.readline(time.monotonic() + 0.05)
                if line is not None:
                    with contextlib.suppress(RobotProtocolError):
                        os.write(master, encode_reply(decode_request(line).id))

        responder = threading.Thread(target=answer_all, daemon=True)
        responder.start()
        robot.hold()
    finally:
        done.set()
        if responder is not None:
            responder.join(timeout=2)
        robot.disconnect()
        os.close(master)
        os.close(slave)


def test_list_ports_returns_plain_dicts(monkeypatch):
    from serial.tools import list_ports as lp
    from serial.tools.list_ports_common import ListPortInfo

    info = ListPortInfo("/dev/ttyACM0", skip_link_detection=True)
    info.description, info.vid, info.pid, info.serial_number = "Arduino Uno", 0x2341, 0x0043, "A1"
    monkeypatch.setattr(lp, "comports", lambda *a, **k: [info])
    assert list_ports() == [
        {"device": "/dev/ttyACM0", "description": "Arduino Uno", "vid": 0x2341, "pid": 0x0043, "serial_number": "A1"}
    ]
