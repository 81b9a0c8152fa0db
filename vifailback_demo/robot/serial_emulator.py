"""A serial controller with no hardware: any :class:`Robot` answered over a pseudo-terminal.

``SerialEmulator(robot).start()`` opens a pty pair; :attr:`device_path` is the slave end (``/dev/pts/N``), which
:class:`SerialRobot` (or a lab's own client, or ``screen``) opens like a USB-serial device. A thread reads requests
on the master end and answers them by calling the wrapped robot. It is what ``vifailback robot emulate`` runs, the
reference implementation of ``docs/serial-protocol.md``, and how the serial link is tested without a board.

Robustness rules, the same a firmware should follow: a line that is not a valid request is answered with
``{"id": null, "ok": false, ...}`` (or with its id, when that much was readable); an over-long line is dropped and
answered the same way; an empty line is ignored; a robot error becomes ``ok: false`` with the robot's message; the
serving thread never dies on bad input. The emulator prints nothing: a caller decides what to show.

POSIX only (``pty``). Subclasses (the tests) may override :meth:`answer` to misbehave on purpose.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from typing import Any

from vifailback_demo.errors import RobotError, RobotStoppedError, RobotTimeoutError
from vifailback_demo.robot.base import Robot
from vifailback_demo.robot.serial_protocol import (
    CODE_BAD_REQUEST,
    CODE_INTERNAL,
    CODE_ROBOT_ERROR,
    CODE_STOPPED,
    CODE_TIMEOUT,
    MAX_LINE_BYTES,
    PROTOCOL,
    BadRequest,
    LineReader,
    Request,
    decode_request,
    encode_error,
    encode_reply,
)

#: How often the serving thread checks whether it should stop (also bounds close()).
POLL_S = 0.05


class SerialEmulator:
    """Serve ``robot`` on a pty. Use as a context manager or ``start()`` / ``close()``."""

    def __init__(self, robot: Robot, *, write_timeout_s: float = 1.0) -> None:
        self.robot = robot
        # A reply nobody reads (the host went away with a full buffer) is dropped after this long, so the thread
        # and close() never block on a stuck reader.
        self.write_timeout_s = write_timeout_s
        self._master: int | None = None
        self._slave: int | None = None
        self._path: str | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._owns_robot = False
        self._t0 = time.monotonic()
        #: Requests answered with ``ok: true``; handy for a status line.
        self.served = 0

    @property
    def device_path(self) -> str:
        if self._path is None:
            raise RobotError("serial emulator: not started; call start() first")
        return self._path

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SerialEmulator:
        if self._thread is not None:
            return self
        try:
            import pty
            import tty
        except ImportError:  # Windows has no pseudo-terminals
            raise RobotError("serial emulator: needs a POSIX system with pseudo-terminals (pty)") from None
        if not self.robot.is_connected:
            self.robot.connect()
            self._owns_robot = True
        try:
            self._master, self._slave = pty.openpty()
            # Raw mode before any host opens the slave: with the default echo on, our own replies would come back
            # to us as input, and output processing would turn "\n" into "\r\n".
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self._path = os.ttyname(self._slave)
        except OSError as exc:
            self._close_fds()
            self._release_robot()
            raise RobotError(f"serial emulator: cannot open a pseudo-terminal: {exc}") from None
        # The slave fd stays open for the emulator's lifetime: with no slave open, reads on the master fail with
        # EIO, and a host could not close and reopen the port without tearing the emulator down.
        self._t0 = time.monotonic()
        self._halt.clear()
        self._thread = threading.Thread(target=self._serve, name=f"serial-emulator-{self._path}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the pty pair and disconnect the robot if :meth:`start` connected it."""
        thread, self._thread = self._thread, None
        self._halt.set()
        if thread is not None:
            thread.join(timeout=POLL_S + self.write_timeout_s + 1.0)
        self._close_fds()
        self._release_robot()

    def __enter__(self) -> SerialEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def _release_robot(self) -> None:
        if self._owns_robot:
            self._owns_robot = False
            self.robot.disconnect()

    # ---- answering -----------------------------------------------------------------------------------------
    def answer(self, line: bytes) -> bytes | None:
        """The reply line to one request line (None: say nothing). Never raises."""
        try:
            request = decode_request(line)
        except BadRequest as exc:
            return encode_error(exc.req_id, str(exc), exc.code)
        try:
            fields = self.handle(request)
            reply = encode_reply(request.id, **fields)
        except RobotStoppedError as exc:
            return encode_error(request.id, str(exc), CODE_STOPPED)
        except RobotTimeoutError as exc:
            return encode_error(request.id, str(exc), CODE_TIMEOUT)
        except BadRequest as exc:
            return encode_error(request.id, str(exc), exc.code)
        except RobotError as exc:  # the robot refused (limits, not connected, ...) or the reply was too long
            return encode_error(request.id, str(exc), CODE_ROBOT_ERROR)
        except Exception as exc:  # a bug in the wrapped robot must not kill the serving thread
            return encode_error(request.id, f"{type(exc).__name__}: {exc}", CODE_INTERNAL)
        self.served += 1
        return reply

    def handle(self, request: Request) -> dict[str, Any]:
        """The ``ok: true`` fields for one request; raise a :class:`RobotError` to answer ``ok: false``."""
        robot = self.robot
        if request.op == "hello":
            return {
                "protocol": PROTOCOL,
                "name": robot.name,
                "state_dim": len(robot.state_names),
                "action_dim": len(robot.action_names),
                "action_space": robot.action_space,
                "state_names": robot.state_names,
                "action_names": robot.action_names,
                "stopped": robot.is_stopped,
            }
        if request.op == "observe":
            obs = robot.get_observation()  # images stay here: only the numbers travel over serial
            return {"state": [float(obs[k]) for k in robot.state_names], "t": round(time.monotonic() - self._t0, 6)}
        if request.op == "act":
            action = request.fields.get("action")
            if not isinstance(action, list):
                raise BadRequest(f"'act' needs an 'action' list of {len(robot.action_names)} numbers", request.id)
            sent = robot.send_action(action)
            return {"action": [sent[k] for k in robot.action_names]}
        if request.op == "hold":
            robot.hold()
        elif request.op == "stop":
            robot.stop()
        elif request.op == "reset":
            robot.reset()
        return {}

    # ---- the serving thread --------------------------------------------------------------------------------
    def _read_chunk(self, max_wait_s: float) -> bytes:
        fd = self._master
        if fd is None:
            return b""
        ready, _, _ = select.select([fd], [], [], min(max_wait_s, POLL_S))
        if not ready:
            return b""
        try:
            return os.read(fd, MAX_LINE_BYTES)
        except (BlockingIOError, InterruptedError):
            return b""

    def _serve(self) -> None:
        reader = LineReader(self._read_chunk)
        dropped = 0
        while not self._halt.is_set():
            try:
                line = reader.readline(time.monotonic() + POLL_S)
            except OSError:  # the pty was closed under us (close() racing a read): nothing left to serve
                return
            if reader.dropped != dropped:
                dropped = reader.dropped
                self._send(encode_error(None, f"line longer than {MAX_LINE_BYTES} bytes dropped", CODE_BAD_REQUEST))
            if line is None or not line.strip():
                continue
            reply = self.answer(line)
            if reply is not None:
                self._send(reply)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout_s
        while view and not self._halt.is_set():
            fd = self._master
            if fd is None:
                return
            try:
                view = view[os.write(fd, view) :]
            except (BlockingIOError, InterruptedError):
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # the host is not reading; drop the reply rather than block the thread
                select.select([], [fd], [], min(left, POLL_S))
            except OSError:
                return
