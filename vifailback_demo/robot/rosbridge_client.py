"""A small rosbridge v2 client on ``websockets.sync.client``: bounded connect and close, a reader thread that
dispatches ``publish`` to topic callbacks and ``service_response`` / ``status`` to waiting service calls.

Why not roslibpy (2.1.0, evaluated first as the issue asks; observed against :mod:`rosbridge_fake` with both its
``twisted`` and ``asyncio`` transports)? It connects, subscribes and survives several connect/close cycles in one
process (its reactor is never stopped), but:

* a failed ``Ros.run(timeout=...)`` raises and leaves its reconnecting factory retrying forever in the background:
  a server started right after on that port got a connection from the "failed" client (``is_connected`` True);
  stopping it needs the factory's internals (``stopTrying()`` / ``_stop``) or ``terminate()``, which kills the
  process-wide reactor for good;
* ``Topic.publish`` while the link is down queues the message and sends it after the automatic reconnect: a stale
  arm command replayed seconds later. Turning that off means overriding ``maxRetries`` on the factory instance;
* rosbridge ``status`` messages are dropped (``"status": None  # TODO`` in ``comm.py``), so a publish the bridge
  refuses (wrong type) is invisible, and a refused connection is reported only after the whole timeout as
  "Failed to connect to ROS", without the reason;
* it brings Twisted, Autobahn, txaio, cryptography, cffi, cbor2 and ujson, and Autobahn's txaio binds one event
  framework per process (its twisted and asyncio transports cannot coexist).

This client fails fast with the reason, never queues a command for later, surfaces bridge errors and needs only
``websockets``. Only the JSON side of the protocol is spoken (no CBOR, no
fragments, no PNG compression): images come as ``sensor_msgs/CompressedImage`` JPEGs, whose base64 costs a third
on top of a small payload (CBOR would avoid that; not needed at camera rates).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from vifailback_demo.errors import RobotConnectionError, RobotError, RobotProtocolError, RobotTimeoutError

LOG = logging.getLogger(__name__)
#: A raw 640x480 bgr8 frame is 1.2 MB as base64 JSON, past websockets' 1 MiB default; 32 MiB covers 1080p raw.
MAX_MESSAGE_BYTES = 32 * 2**20

TopicCallback = Callable[[dict[str, Any]], None]


class _Pending:
    """One service call waiting for its ``service_response`` (or a ``status`` error with its id)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None
        self.error: Exception | None = None


class RosbridgeClient:
    """One websocket to a rosbridge server. Not reusable: make a new one to reconnect."""

    def __init__(self, url: str, timeout_s: float = 2.0, name: str = "rosbridge") -> None:
        if timeout_s <= 0:
            raise RobotError(f"{name}: timeout must be positive, got {timeout_s}")
        self.url, self.timeout_s, self.name = url, timeout_s, name
        self._ws: ClientConnection | None = None
        self._reader: threading.Thread | None = None
        self._callbacks: dict[str, TopicCallback] = {}
        self._ids: dict[tuple[str, str], str] = {}  # (op, topic) -> id, so unsubscribe/unadvertise name theirs
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._closed_reason: str | None = None
        self.last_status: dict[str, Any] | None = None  # the bridge's latest warning/error, for diagnostics

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self._ws = connect(
                self.url,
                open_timeout=self.timeout_s,
                close_timeout=self.timeout_s,
                max_size=MAX_MESSAGE_BYTES,
                legacy=True,  # websockets >= 17.1: a connection that outlives this call, closed by close()
                proxy=None,  # a robot is on the lab network; an HTTP(S)_PROXY from the environment must not apply
            )
        except TimeoutError:
            raise RobotConnectionError(
                f"{self.name}: no rosbridge answer at {self.url} within {self.timeout_s:g} s "
                "(is `roslaunch rosbridge_server rosbridge_websocket.launch` running and the address reachable?)"
            ) from None
        except InvalidURI:
            raise RobotConnectionError(f"{self.name}: {self.url!r} is not a websocket URL (ws://host:9090)") from None
        except (OSError, InvalidHandshake) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RobotConnectionError(f"{self.name}: cannot reach rosbridge at {self.url}: {reason}") from None
        self._reader = threading.Thread(target=self._read_loop, name=f"{self.name}-reader", daemon=True)
        self._reader.start()

    @property
    def is_connected(self) -> bool:
        return self._ws is not None and self._closed_reason is None

    @property
    def closed_reason(self) -> str | None:
        return self._closed_reason

    def close(self) -> None:
        """Unsubscribe, unadvertise and close (each step bounded); safe on a dead link and twice."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with self._lock:
            goodbyes = [{"op": "un" + op, "id": i, "topic": t} for (op, t), i in self._ids.items()]
            self._ids.clear()
        if self._closed_reason is None:
            for msg in goodbyes:
                try:
                    ws.send(json.dumps(msg))
                except (ConnectionClosed, OSError):
                    break
        self._closed_reason = self._closed_reason or "closed by the client"
        ws.close()  # waits up to close_timeout for the server's close frame, then drops the socket
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=self.timeout_s + 1.0)
        self._fail_pending(RobotConnectionError(f"{self.name}: the connection was closed"))

    # ---- operations ---------------------------------------------------------------------------------------
    def subscribe(self, topic: str, msg_type: str, callback: TopicCallback, *, queue_length: int = 0) -> None:
        """``queue_length=1`` makes the bridge drop old messages for a slow link (what a camera wants)."""
        with self._lock:
            self._callbacks[topic] = callback
        ident = self._register("subscribe", topic)
        msg = {"op": "subscribe", "id": ident, "topic": topic, "type": msg_type, "queue_length": queue_length}
        self._send(msg | {"throttle_rate": 0, "compression": "none"})

    def advertise(self, topic: str, msg_type: str, *, queue_size: int = 10) -> None:
        ident = self._register("advertise", topic)
        self._send({"op": "advertise", "id": ident, "topic": topic, "type": msg_type, "queue_size": queue_size})

    def publish(self, topic: str, msg: Mapping[str, Any]) -> None:
        """Send now or raise: a command is never kept for a later connection."""
        self._send({"op": "publish", "id": f"publish:{topic}:{next(self._counter)}", "topic": topic, "msg": msg})

    def call_service(
        self,
        service: str,
        args: Mapping[str, Any] | None = None,
        *,
        service_type: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Call a service and return its ``values``; a refusal is a :class:`RobotError`, silence a timeout."""
        wait = self.timeout_s if timeout_s is None else timeout_s
        ident = f"call_service:{service}:{next(self._counter)}"
        pending = _Pending()
        with self._lock:
            self._pending[ident] = pending
        msg: dict[str, Any] = {"op": "call_service", "id": ident, "service": service, "args": dict(args or {})}
        if service_type:
            msg["type"] = service_type
        try:
            self._send(msg)
            if not pending.done.wait(wait):
                raise RobotTimeoutError(f"{self.name}: service {service} did not answer within {wait:g} s")
        finally:
            with self._lock:
                self._pending.pop(ident, None)
        if pending.error is not None:
            raise pending.error
        reply = pending.reply or {}
        if reply.get("result") is False:
            raise RobotError(f"{self.name}: service {service} failed: {_short(reply.get('values'))}")
        return reply.get("values")

    # ---- internals ----------------------------------------------------------------------------------------
    def _register(self, op: str, topic: str) -> str:
        ident = f"{op}:{topic}:{next(self._counter)}"
        with self._lock:
            self._ids[(op, topic)] = ident
        return ident

    def _send(self, msg: Mapping[str, Any]) -> None:
        ws = self._ws
        if ws is None or self._closed_reason is not None:
            raise RobotConnectionError(f"{self.name}: not connected to {self.url} ({self._closed_reason or 'closed'})")
        try:
            ws.send(json.dumps(msg, allow_nan=False))
        except ValueError:
            raise RobotProtocolError(f"{self.name}: refusing to send NaN/inf in a {msg.get('op')} message") from None
        except (ConnectionClosed, OSError) as exc:
            raise RobotConnectionError(f"{self.name}: the link to {self.url} dropped while sending: {exc}") from None

    def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            for raw in ws:
                self._dispatch(raw)
            reason = "the server closed the connection"
        except ConnectionClosed as exc:
            reason = f"the connection dropped ({exc})"
        except Exception as exc:  # a bug in dispatch must end the link visibly, not leave a half-dead reader
            LOG.exception("%s: reader failed", self.name)
            reason = f"reader failed: {type(exc).__name__}: {exc}"
        if self._closed_reason is None:
            self._closed_reason = reason
        self._fail_pending(RobotConnectionError(f"{self.name}: {reason}"))

    def _dispatch(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):  # CBOR / PNG-compressed frames: we never ask for them
            LOG.warning("%s: ignoring a binary frame (%d bytes)", self.name, len(raw))
            return
        try:
            msg = json.loads(raw)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            LOG.warning("%s: ignoring a malformed message: %.80r", self.name, raw)
            return
        if op == "publish":
            with self._lock:
                callback = self._callbacks.get(msg.get("topic", ""))
            if callback is not None and isinstance(msg.get("msg"), dict):
                try:
                    callback(msg["msg"])
                except Exception:  # one bad message must not stop the link; the callback records its own errors
                    LOG.exception("%s: callback for %s failed", self.name, msg.get("topic"))
        elif op == "service_response":
            pending = self._take_pending(msg.get("id"))
            if pending is not None:
                pending.reply = msg
                pending.done.set()
        elif op == "status":
            self.last_status = msg
            level = msg.get("level", "info")
            pending = self._take_pending(msg.get("id")) if level == "error" else None
            if pending is not None:
                pending.error = RobotError(f"{self.name}: rosbridge refused the call: {_short(msg.get('msg'))}")
                pending.done.set()
            elif level in ("error", "warning"):
                LOG.warning("%s: rosbridge %s: %s", self.name, level, _short(msg.get("msg")))

    def _take_pending(self, ident: Any) -> _Pending | None:
        with self._lock:
            return self._pending.pop(ident, None) if isinstance(ident, str) else None

    def _fail_pending(self, error: Exception) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            p.error = error
            p.done.set()


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
