"""A small rosbridge v2 server that plays a ROS robot, for offline demos and tests (no ROS needed).

It speaks the JSON side of rosbridge's protocol (ROSBRIDGE_PROTOCOL.md in RobotWebTools/rosbridge_suite): a client
sends ``subscribe`` / ``unsubscribe`` / ``advertise`` / ``unadvertise`` / ``publish`` / ``call_service`` and gets
``publish`` messages for its subscriptions, ``service_response`` for its calls and ``status`` for what it got wrong.
Messages are shaped like rosbridge's conversion of ROS messages: ``uint8[]`` fields (an image's ``data``) travel as
base64 strings, headers carry a ROS 1 ``stamp: {secs, nsecs}`` (``ros_version=2``: ``{sec, nanosec}``).

It publishes ``sensor_msgs/JointState`` on each arm's state topic and the head camera (JPEG ``CompressedImage``,
or raw ``Image`` when the topic map says ``raw``) at fixed rates, from callables you can replace, and records what
clients publish, so a test can check exactly what a robot link sent. With ``echo_commands`` an arm's state follows
its last command, like a position-controlled arm that reaches its target at once.

Test hooks: :meth:`pause` (the whole robot goes silent), :meth:`drop_topic` (one topic goes silent),
:meth:`fail_service` (a service answers ``result: false`` or never answers), :meth:`stop` then :meth:`start`
(a restart on the same port).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from vifailback_demo.robot.ros_topics import TopicMap, load_topic_map

JointSource = Callable[[float], Mapping[str, Sequence[float]]]  # seconds since start -> arm -> positions
ImageSource = Callable[[float], np.ndarray]  # seconds since start -> RGB uint8 (H, W, 3)
ServiceHandler = Callable[[Any], Mapping[str, Any]]  # request args -> response values (raise to fail)


def wave_joints(topics: TopicMap) -> JointSource:
    """A slow sine on every joint around zero and a half-open gripper: moving, so a frozen copy is visible."""

    def source(t: float) -> dict[str, list[float]]:
        out = {}
        for k, (arm, spec) in enumerate(topics.arms.items()):
            pos = [0.1 * math.sin(0.5 * t + 0.3 * i + k) for i in range(len(spec.joints))]
            pos[-1] = 0.04 + 0.02 * math.sin(t + k)  # AgileX gripper: metres, 0..0.08
            out[arm] = pos
        return out

    return source


def split_color_image(shape: tuple[int, int] = (120, 160)) -> ImageSource:
    """Red left half, blue right half and a bright bar moving across: a colour swap or a frozen stream shows."""

    def source(t: float) -> np.ndarray:
        h, w = shape
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : w // 2] = (200, 30, 30)
        img[:, w // 2 :] = (30, 30, 200)
        x = int(t * 40) % w
        img[: h // 8, max(0, x - 4) : x + 4] = 255
        return img

    return source


class FakeRosbridge:
    """``with FakeRosbridge() as server: robot = RosbridgeRobot(server.url)``."""

    def __init__(
        self,
        topics: TopicMap | Mapping[str, Any] | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_hz: float = 50.0,
        image_rate_hz: float = 15.0,
        joints: JointSource | None = None,
        image: ImageSource | None = None,
        services: Mapping[str, ServiceHandler] | None = None,
        echo_commands: bool = True,
        jpeg_quality: int = 90,
        ros_version: int = 1,
    ) -> None:
        self.topics = load_topic_map(topics)
        self.host, self.port = host, port
        self.rate_hz, self.image_rate_hz = rate_hz, image_rate_hz
        self.joints = joints or wave_joints(self.topics)
        self.image = image or split_color_image()
        self.services: dict[str, ServiceHandler] = dict(services or {})
        if self.topics.stop_service is not None:
            self.services.setdefault(self.topics.stop_service.name, lambda args: {"success": True, "message": ""})
        self.echo_commands, self.jpeg_quality, self.ros_version = echo_commands, jpeg_quality, ros_version

        self._lock = threading.Lock()
        self._published: dict[str, list[dict[str, Any]]] = {}  # what clients published, by topic
        self._ops: list[dict[str, Any]] = []  # every op a client sent, in order
        self._commanded: dict[str, list[float]] = {}
        self._paused = False
        self._dropped: set[str] = set()
        self._service_faults: dict[str, str] = {}  # name -> "false" | "hang"
        self._clients: dict[ServerConnection, set[str]] = {}  # connection -> subscribed topics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._halt: asyncio.Event | None = None
        self._service_tasks: set[asyncio.Future[None]] = set()
        self._t0 = time.monotonic()

    # ---- lifecycle ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout_s: float = 5.0) -> FakeRosbridge:
        """Listen (the first start on port 0 picks a free port; a restart keeps it) and start publishing."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="fake-rosbridge", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s) or failure:
            self.stop()
            raise RuntimeError(f"fake rosbridge could not listen on {self.host}:{self.port}: {failure[:1]}")
        return self

    def stop(self) -> None:
        """Close every client connection and stop listening (``start()`` again restarts on the same port)."""
        thread, loop, halt = self._thread, self._loop, self._halt
        if loop is not None and halt is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just finished
                loop.call_soon_threadsafe(halt.set)
        if thread is not None:
            thread.join(timeout=5.0)
        self._thread = self._loop = self._halt = None
        with self._lock:
            self._clients.clear()

    def __enter__(self) -> FakeRosbridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test hooks ---------------------------------------------------------------------------------------
    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def drop_topic(self, topic: str) -> None:
        self._dropped.add(topic)

    def restore_topic(self, topic: str) -> None:
        self._dropped.discard(topic)

    def fail_service(self, name: str, mode: str = "false") -> None:
        """``"false"``: answer ``result: false`` with a message; ``"hang"``: never answer; ``"ok"``: normal again."""
        if mode == "ok":
            self._service_faults.pop(name, None)
        elif mode in ("false", "hang"):
            self._service_faults[name] = mode
        else:
            raise ValueError(f"service fault must be 'false', 'hang' or 'ok', got {mode!r}")

    def published(self, topic: str) -> list[dict[str, Any]]:
        """The messages clients published on ``topic``, oldest first."""
        with self._lock:
            return list(self._published.get(topic, []))

    def ops(self, op: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self._ops if op is None or m.get("op") == op]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
        """Poll ``predicate`` until true or the timeout (the server records on its own thread)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    # ---- server thread ------------------------------------------------------------------------------------
    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as exc:  # reported to start(); a test must not hang on a server that never came up
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._halt = asyncio.Event()
        # max_size: a raw 640x480 rgb8 frame is ~1.2 MB as base64 JSON; rosbridge itself has no small limit
        async with serve(self._serve, self.host, self.port, max_size=16 * 2**20, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            tasks = [asyncio.create_task(self._publish_state()), asyncio.create_task(self._publish_images())]
            await self._halt.wait()
            for task in tasks:
                task.cancel()
            server.close()  # closes open connections too (code 1001), as a bridge going down does
            await server.wait_closed()

    async def _serve(self, ws: ServerConnection) -> None:
        with self._lock:
            self._clients[ws] = set()
        try:
            async for raw in ws:
                await self._handle(ws, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.pop(ws, None)

    async def _handle(self, ws: ServerConnection, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            await self._status(ws, "error", f"not a rosbridge message: {str(raw)[:80]!r}")
            return
        with self._lock:
            self._ops.append(msg)
        if op == "subscribe":
            with self._lock:
                self._clients[ws].add(msg.get("topic", ""))
        elif op == "unsubscribe":
            with self._lock:
                self._clients[ws].discard(msg.get("topic", ""))
        elif op in ("advertise", "unadvertise"):
            if not msg.get("topic"):
                await self._status(ws, "error", f"{op} needs a topic", msg.get("id"))
        elif op == "publish":
            topic, body = msg.get("topic"), msg.get("msg")
            if not isinstance(body, dict):
                await self._status(ws, "error", f"publish to {topic} needs a msg object", msg.get("id"))
                return
            with self._lock:
                self._published.setdefault(topic, []).append(body)
            for arm, spec in self.topics.arms.items():
                if topic == spec.command and self.echo_commands:
                    try:
                        positions = [float(p) for p in body.get("position", [])]
                    except (TypeError, ValueError):  # rosbridge would refuse such a message the same way
                        await self._status(ws, "error", f"{topic}: position must be numbers", msg.get("id"))
                        return
                    with self._lock:
                        self._commanded[arm] = positions
        elif op == "call_service":
            task = asyncio.ensure_future(self._answer_service(ws, msg))  # a hung service must not block the reader
            self._service_tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._service_tasks.discard)
        else:
            await self._status(ws, "warning", f"unsupported op {op!r}", msg.get("id"))

    async def _answer_service(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        name = msg.get("service", "")
        reply: dict[str, Any] = {"op": "service_response", "service": name, "result": True}
        if "id" in msg:
            reply["id"] = msg["id"]
        fault = self._service_faults.get(name)
        if fault == "hang":
            return
        handler = self.services.get(name)
        if handler is None:
            reply.update(result=False, values=f"Service {name} does not exist")  # rosbridge sends the error text
        elif fault == "false":
            reply.update(result=False, values=f"Service {name} failed (fault injected by the fake)")
        else:
            try:
                reply["values"] = dict(handler(msg.get("args", {})))
            except Exception as exc:
                reply.update(result=False, values=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(reply))

    async def _status(self, ws: ServerConnection, level: str, text: str, ident: Any = None) -> None:
        status: dict[str, Any] = {"op": "status", "level": level, "msg": text}
        if ident is not None:
            status["id"] = ident
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(status))

    # ---- publishers ---------------------------------------------------------------------------------------
    async def _publish_state(self) -> None:
        while True:
            t = time.monotonic() - self._t0
            positions = self.joints(t)
            for arm, spec in self.topics.arms.items():
                with self._lock:
                    pos = self._commanded.get(arm) or list(positions[arm])
                msg = {"header": self._header(), "name": list(spec.joints), "position": pos}
                msg.update(velocity=[0.0] * len(pos), effort=[0.0] * len(pos))
                await self._send_topic(spec.state, msg)
            await asyncio.sleep(1.0 / self.rate_hz)

    async def _publish_images(self) -> None:
        while True:
            topic = self.topics.camera.topic
            if self._wanted(topic):
                rgb = np.ascontiguousarray(self.image(time.monotonic() - self._t0), dtype=np.uint8)
                await self._send_topic(topic, self._image_msg(rgb))
            await asyncio.sleep(1.0 / self.image_rate_hz)

    def _image_msg(self, rgb: np.ndarray) -> dict[str, Any]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self.topics.camera.encoding == "compressed":
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            assert ok, "JPEG encoding failed"
            # image_transport's compressed publisher names the format this way for colour JPEGs
            return {"header": self._header(), "format": "rgb8; jpeg compressed bgr8", "data": _b64(buf.tobytes())}
        h, w = rgb.shape[:2]
        return {
            "header": self._header(),
            "height": h,
            "width": w,
            "encoding": "bgr8",  # what most ROS camera drivers (realsense, astra) publish
            "is_bigendian": 0,
            "step": w * 3,
            "data": _b64(bgr.tobytes()),
        }

    def _wanted(self, topic: str) -> bool:
        if self._paused or topic in self._dropped:
            return False
        with self._lock:
            return any(topic in subs for subs in self._clients.values())

    async def _send_topic(self, topic: str, msg: dict[str, Any]) -> None:
        if not self._wanted(topic):
            return
        text = json.dumps({"op": "publish", "topic": topic, "msg": msg})
        with self._lock:
            targets = [ws for ws, subs in self._clients.items() if topic in subs]
        for ws in targets:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(text)

    def _header(self) -> dict[str, Any]:
        now = time.time()
        secs, frac = int(now), now - int(now)
        if self.ros_version == 2:
            return {"stamp": {"sec": secs, "nanosec": int(frac * 1e9)}, "frame_id": ""}
        return {"seq": 0, "stamp": {"secs": secs, "nsecs": int(frac * 1e9)}, "frame_id": ""}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
