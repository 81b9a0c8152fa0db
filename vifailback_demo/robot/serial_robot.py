"""A robot behind a serial line (USB-serial controller, a microcontroller bridge, ``socket://`` to a serial server).

The controller speaks ``vifailback-serial/1`` (``docs/serial-protocol.md``): one JSON request per line, one JSON
reply per line. :class:`SerialRobot` is the host end: it learns the robot's shape from ``hello`` and then sends
``observe`` / ``act`` / ``hold`` / ``stop`` / ``reset``, each bounded by a read timeout and a write timeout, so a
dead, silent or blocked controller is a :class:`RobotTimeoutError` naming the port and the op, never a hang.

Images never travel over the serial line (115200 baud moves about 11 KB/s): pair the robot with a :class:`Camera`,
whose frames the observation includes under the camera's name.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from typing import Any

import serial

from vifailback_demo.errors import (
    RobotConnectionError,
    RobotError,
    RobotProtocolError,
    RobotStoppedError,
    RobotTimeoutError,
)
from vifailback_demo.robot.base import Robot
from vifailback_demo.robot.camera import Camera
from vifailback_demo.robot.serial_protocol import (
    CODE_STOPPED,
    CODE_TIMEOUT,
    MAX_ID,
    Hello,
    LineReader,
    Reply,
    decode_reply,
    encode_request,
    number_list,
    parse_hello,
)

#: Longest a single port read blocks. The request deadline is checked between reads, so a timeout fires at most
#: this late; kept short rather than reconfiguring the port's timeout before every read.
POLL_S = 0.05
#: Replies to requests we gave up on (timed out) that may still arrive late and must then be skipped, not mistaken
#: for a protocol error. A handful is plenty: each one cost a full timeout.
_ABANDONED_KEPT = 32


def list_ports() -> list[dict[str, Any]]:
    """Serial ports this machine sees (for ``vifailback robot ports``): device, description, vid, pid, serial."""
    from serial.tools import list_ports as _lp

    ports = sorted(_lp.comports(), key=lambda p: p.device)
    return [
        {
            "device": p.device,
            "description": p.description,
            "vid": p.vid,
            "pid": p.pid,
            "serial_number": p.serial_number,
        }
        for p in ports
    ]


class SerialRobot(Robot):
    """``SerialRobot("/dev/ttyACM0")`` or any pyserial URL (``socket://host:port``, ``rfc2217://``, ``loop://``).

    ``timeout_s`` bounds each reply, ``write_timeout_s`` each request write; ``connect_timeout_s`` (default:
    ``timeout_s``) is how long ``connect()`` keeps re-sending ``hello``, for boards that reboot when the port opens.
    Features are unknown until the first ``connect()`` (they come from the controller's ``hello``).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 1.0,
        write_timeout_s: float = 1.0,
        camera: Camera | None = None,
        name: str | None = None,
        *,
        connect_timeout_s: float | None = None,
        camera_max_age_ms: float = 500.0,
    ) -> None:
        super().__init__()
        if timeout_s <= 0 or write_timeout_s <= 0:
            raise RobotError(f"serial {port}: timeouts must be positive, got {timeout_s} and {write_timeout_s}")
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.write_timeout_s = write_timeout_s
        self.connect_timeout_s = timeout_s if connect_timeout_s is None else max(connect_timeout_s, timeout_s)
        self.camera = camera
        self.camera_max_age_ms = camera_max_age_ms
        self._given_name = name
        self.name = name or "serial"
        self._serial: serial.SerialBase | None = None
        self._reader: LineReader | None = None
        self._hello: dict[str, Any] | None = None  # last accepted hello; kept after disconnect (features stay known)
        self._state_names: list[str] = []
        self._action_names: list[str] = []
        self._camera_shape: tuple[int, int, int] | None = None
        self._owns_camera = False
        self._next_id = 1
        self._abandoned: deque[int] = deque(maxlen=_ABANDONED_KEPT)
        self._need_newline = False  # a write failed midway: end the controller's partial line before the next one
        #: The controller clock (``t`` of the last ``observe`` reply), seconds; only differences are meaningful.
        self.controller_time: float | None = None

    # ---- features ------------------------------------------------------------------------------------------
    @property
    def observation_features(self) -> dict[str, Any]:
        self._require_hello()
        feats: dict[str, Any] = {k: float for k in self._state_names}
        shape = self._camera_shape
        if shape is None and self.camera is not None and (frame := self.camera.ring.latest()) is not None:
            shape = tuple(frame.image.shape)  # type: ignore[assignment]
        if self.camera is not None and shape is not None:  # the image shape is known once a frame has arrived
            feats[self.camera.name] = shape
        return feats

    @property
    def action_features(self) -> dict[str, Any]:
        self._require_hello()
        return {k: float for k in self._action_names}

    @property
    def state_names(self) -> list[str]:
        self._require_hello()
        return list(self._state_names)

    @property
    def cameras(self) -> dict[str, Camera]:
        return {self.camera.name: self.camera} if self.camera is not None else {}

    @property
    def is_connected(self) -> bool:
        return self._serial is not None and self._serial.is_open and self._hello is not None

    @property
    def hello_info(self) -> dict[str, Any] | None:
        """The controller's last ``hello`` reply (for ``vifailback robot check``)."""
        return dict(self._hello) if self._hello is not None else None

    def _require_hello(self) -> None:
        if self._hello is None:
            raise RobotConnectionError(
                f"{self.name} on {self.port}: features are unknown until the controller answers hello; "
                "call connect() first"
            )

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def _connect(self) -> None:
        self._close_port()
        extra: dict[str, Any] = {}
        if os.name == "posix" and "://" not in self.port:
            extra["exclusive"] = True  # two hosts writing to one controller would interleave requests
        try:
            self._serial = serial.serial_for_url(
                self.port,
                baudrate=self.baudrate,
                timeout=min(POLL_S, self.timeout_s),
                write_timeout=self.write_timeout_s,
                **extra,
            )
            self._serial.reset_input_buffer()  # a boot banner or an old session's replies are not ours
        except (serial.SerialException, OSError, ValueError) as exc:
            self._close_port()
            raise RobotConnectionError(f"serial port {self.port}: cannot open: {exc}") from None
        self._reader = LineReader(self._read_chunk)
        self._need_newline = False
        try:
            hello = self._accept_hello(self._hello_with_retries())
            if hello.stopped:  # connect() clears an emergency stop, on the controller too
                self._request("reset")
            self._connect_camera()
        except BaseException:
            self._disconnect()  # a failed connect leaves nothing half-open
            raise

    def _connect_camera(self) -> None:
        # Wait for the first frame here, so the image shape is a known feature and the first get_observation()
        # right after connect() does not fail only because a webcam takes a second to start streaming.
        camera = self.camera
        if camera is None:
            return
        if not camera.is_connected:
            camera.connect()
            self._owns_camera = True
        frame = camera.ring.latest() or camera.ring.wait_newer(-1, camera.timeout_s)
        if frame is None:
            camera.read_latest()  # raises the camera's own reason: its source failed, or no frame yet
        else:
            self._camera_shape = tuple(frame.image.shape)  # type: ignore[assignment]

    def _hello_with_retries(self) -> dict[str, Any]:
        # A board that resets when the port opens misses requests until it has booted: repeat hello until
        # connect_timeout_s. Each attempt has its own id; a late reply to an earlier attempt is skipped.
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                return self._request("hello").fields
            except RobotTimeoutError:
                if time.monotonic() + self.timeout_s > deadline + 1e-3:
                    raise

    def _accept_hello(self, fields: dict[str, Any]) -> Hello:
        try:
            hello = parse_hello(fields)
        except RobotProtocolError as exc:
            raise RobotProtocolError(f"serial port {self.port}: {exc}") from None
        if self.camera is not None and self.camera.name in hello.state_names:
            raise RobotError(f"serial port {self.port}: camera name {self.camera.name!r} is also a state name")
        self._hello = hello.fields
        self._state_names, self._action_names = hello.state_names, hello.action_names
        self.action_space = hello.action_space  # type: ignore[assignment]
        if self._given_name is None:
            self.name = hello.name or "serial"
        return hello

    def _disconnect(self) -> None:
        self._close_port()
        if self._owns_camera and self.camera is not None:
            self._owns_camera = False
            self.camera.disconnect()

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        self._reader = None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):  # the device vanished: nothing to release
                port.close()

    # ---- observe and act -----------------------------------------------------------------------------------
    def _get_observation(self) -> dict[str, Any]:
        reply = self._request("observe")
        state = self._vector(reply, "state", len(self._state_names), "observe")
        t = reply.fields.get("t")
        self.controller_time = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None
        obs: dict[str, Any] = dict(zip(self._state_names, state))
        if self.camera is not None:
            image = self.camera.read_latest(self.camera_max_age_ms)  # a stale frame raises, never passes as fresh
            self._camera_shape = tuple(image.shape)  # type: ignore[assignment]
            obs[self.camera.name] = image
        return obs

    def _send_action(self, action: dict[str, float]) -> dict[str, float]:
        values = [action[k] for k in self._action_names]
        reply = self._request("act", action=values)
        if "action" not in reply.fields:  # the controller sent exactly what it was given
            return dict(action)
        sent = self._vector(reply, "action", len(self._action_names), "act")
        return dict(zip(self._action_names, sent))

    def _hold(self) -> None:
        self._request("hold")

    def _stop(self) -> None:
        # Raises if the stop did not reach the controller: the operator must know the robot may still move.
        self._request("stop")

    def _reset(self) -> None:
        self._request("reset")

    def _vector(self, reply: Reply, key: str, dim: int, op: str) -> list[float]:
        try:
            return number_list(reply.fields, key, dim)
        except RobotProtocolError as exc:
            raise RobotProtocolError(f"{self.name} on {self.port}: '{op}' {exc}") from None

    # ---- one request, one reply ----------------------------------------------------------------------------
    def _read_chunk(self, max_wait_s: float) -> bytes:
        # Blocks at most the port timeout (POLL_S); `in_waiting or 1` returns at once when bytes are buffered.
        port = self._serial
        if port is None:
            raise RobotConnectionError(f"serial port {self.port}: the port is closed")
        return port.read(port.in_waiting or 1)

    def _request(self, op: str, **fields: Any) -> Reply:
        """Send one request and wait for its reply, skipping junk; raise on timeout, mismatch or ``ok: false``."""
        port, reader = self._serial, self._reader
        if port is None or reader is None:
            raise RobotConnectionError(f"{self.name}: {op}() needs a connected robot; call connect() first")
        req_id = self._next_id
        self._next_id = req_id % MAX_ID + 1
        data = encode_request(req_id, op, **fields)
        if self._need_newline:
            data = b"\n" + data  # ends a line cut by an earlier write timeout, so it cannot corrupt this one
        try:
            port.write(data)
            self._need_newline = False
        except serial.SerialTimeoutException:
            self._need_newline = True
            self._drop_pending_output(port)
            raise RobotTimeoutError(
                f"{self.name}: write timeout: '{op}' (id {req_id}) could not be written to {self.port} within "
                f"{self.write_timeout_s:g} s (the controller is not reading)"
            ) from None
        except (serial.SerialException, OSError) as exc:
            self._close_port()
            raise RobotConnectionError(
                f"{self.name}: serial port {self.port} failed while writing '{op}': {exc}"
            ) from None

        deadline = time.monotonic() + self.timeout_s
        skipped, complaint = 0, None
        while True:
            try:
                line = reader.readline(deadline)
            except (serial.SerialException, OSError) as exc:
                self._close_port()
                raise RobotConnectionError(
                    f"{self.name}: serial port {self.port} failed while waiting for '{op}': {exc}"
                ) from None
            if line is None:
                self._abandoned.append(req_id)
                detail = f"; skipped {skipped} non-reply line(s)" if skipped else ""
                if complaint:
                    detail += f"; the controller said: {complaint}"
                raise RobotTimeoutError(
                    f"{self.name}: no reply to '{op}' (id {req_id}) from {self.port} "
                    f"within {self.timeout_s:g} s{detail}"
                )
            try:
                reply = decode_reply(line)
            except RobotProtocolError as exc:
                self._abandoned.append(req_id)  # its real reply, if one follows, must not confuse the next request
                raise RobotProtocolError(f"{self.name}: {self.port} answered '{op}' (id {req_id}): {exc}") from None
            if reply is None:  # a log line, a boot banner, noise, an echo: resync on the next line
                skipped += 1
                continue
            if reply.id is None:  # the controller could not read some line (maybe ours); keep waiting, remember why
                complaint = reply.error
                continue
            if reply.id in self._abandoned:  # a late answer to a request that already timed out
                continue
            if reply.id != req_id:
                self._abandoned.append(req_id)
                raise RobotProtocolError(
                    f"{self.name}: {self.port} answered id {reply.id} to '{op}' request id {req_id}"
                )
            if not reply.ok:
                message = f"{self.name}: the controller on {self.port} refused '{op}': {reply.error}"
                if reply.code == CODE_STOPPED:
                    raise RobotStoppedError(message)
                if reply.code == CODE_TIMEOUT:
                    raise RobotTimeoutError(message)
                raise RobotError(message)
            return reply

    @staticmethod
    def _drop_pending_output(port: serial.SerialBase) -> None:
        # The rest of a half-written line would only reach the controller later as garbage.
        with contextlib.suppress(serial.SerialException, OSError, AttributeError, NotImplementedError):
            port.reset_output_buffer()
