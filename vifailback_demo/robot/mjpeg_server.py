"""Serve frames as an HTTP MJPEG stream, the way lab IP cameras do (``multipart/x-mixed-replace`` JPEG parts).

Used by ``vifailback robot emulate --camera-port P`` to expose the simulated robot's head camera, and by tests as
a real network stream for the URL camera. Endpoints: ``/stream.mjpg`` (and ``/``) stream parts; ``/snapshot.jpg``
answers one JPEG.

One producer thread calls the frame source at ``fps`` and encodes each frame once; every client thread sends the
newest encoded frame when it changes. So a slow or blocking frame source stalls all streams honestly (no part is
sent, the connection stays open) instead of blocking client threads or repeating a frozen frame, and N clients
cost one JPEG encode per frame, not N. ``pause()`` does the same on purpose (a camera fault to test monitors with).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from vifailback_demo.errors import CameraError

BOUNDARY = "vifailbackframe"
#: A client that accepts no bytes for this long is dropped (a frozen viewer must not pin a thread forever).
CLIENT_TIMEOUT_S = 5.0
#: How often idle client threads wake to notice close() (their wait on the next frame is otherwise unbounded).
_POLL_S = 0.25

FrameSource = Callable[[], np.ndarray | None] | Any  # a callable, or a Camera (anything with read_latest)


class _Latest:
    """The newest encoded JPEG and its sequence number, shared by the producer and the client threads."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self.cond:
            self.jpeg, self.seq = jpeg, self.seq + 1
            self.cond.notify_all()

    def wait_newer(self, seq: int, timeout_s: float) -> tuple[bytes | None, int]:
        """(jpeg, seq) of a frame after ``seq``, or (None, seq) on timeout or close."""
        with self.cond:
            self.cond.wait_for(lambda: self.closed or self.seq > seq, timeout_s)
            if self.closed or self.seq <= seq:
                return None, seq
            return self.jpeg, self.seq

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class MJPEGServer:
    """An MJPEG HTTP server over a frame source: a callable returning an RGB uint8 frame (or None: no new
    frame this tick), or a Camera, read with ``read_latest(max_age_ms)`` so a stalled camera stalls the stream.

    ``with MJPEGServer(robot.cameras["head"]) as server: print(server.url)``. Binds 127.0.0.1 unless told otherwise:
    the stream has no authentication, so exposing it to a network is the caller's explicit choice.
    """

    def __init__(
        self,
        frame_source: FrameSource,
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 10.0,
        quality: int = 80,
        *,
        max_age_ms: float = 1000.0,
        client_timeout_s: float = CLIENT_TIMEOUT_S,
        snapshot_timeout_s: float = 2.0,
    ) -> None:
        if fps <= 0:
            raise CameraError(f"MJPEG server: fps must be positive, got {fps}")
        if not 1 <= quality <= 100:
            raise CameraError(f"MJPEG server: JPEG quality must be 1..100, got {quality}")
        if hasattr(frame_source, "read_latest"):
            camera = frame_source
            self._source: Callable[[], np.ndarray | None] = lambda: camera.read_latest(max_age_ms)
        elif callable(frame_source):
            self._source = frame_source
        else:
            raise CameraError(f"MJPEG server: frame source must be a callable or a Camera, got {type(frame_source)}")
        self.host, self.fps, self.quality = host, float(fps), int(quality)
        self.client_timeout_s = client_timeout_s
        self.snapshot_timeout_s = snapshot_timeout_s  # how long /snapshot.jpg waits for a frame before its 503
        self.last_error: str | None = None  # the frame source's latest failure, for a status line
        self._requested_port = port
        self._latest = _Latest()
        self._paused = threading.Event()
        self._halt = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise CameraError("MJPEG server: not started; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/stream.mjpg"

    @property
    def snapshot_url(self) -> str:
        return f"http://{self.host}:{self.port}/snapshot.jpg"

    @property
    def client_count(self) -> int:
        with self._clients_lock:
            return len(self._clients)

    def start(self) -> MJPEGServer:
        if self._httpd is not None:
            return self
        if self._halt.is_set():
            raise CameraError("MJPEG server: closed; a closed server cannot start again, make a new one")
        try:
            httpd = ThreadingHTTPServer((self.host, self._requested_port), _handler_for(self))
        except OSError as exc:
            raise CameraError(f"MJPEG server: cannot listen on {self.host}:{self._requested_port}: {exc}") from exc
        httpd.daemon_threads = True  # client threads never block interpreter exit or close()
        self._httpd = httpd
        self._threads = [
            threading.Thread(target=self._produce, name="mjpeg-producer", daemon=True),
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="mjpeg-http", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        """Stop serving: clients see their connection end now (sockets are shut down, not left to time out)."""
        httpd, self._httpd = self._httpd, None
        self._halt.set()
        self._latest.close()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._clients_lock:
            clients = list(self._clients)
        for sock in clients:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)  # the producer may be stuck in a blocking frame source; it is a daemon

    def __enter__(self) -> MJPEGServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause(self) -> None:
        """Stop sending frames but keep connections open: what a stalled camera looks like to a client."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    # ---- producing and serving -------------------------------------------------------------------------------
    def _produce(self) -> None:
        period = 1.0 / self.fps
        due = time.monotonic()
        while not self._halt.is_set():
            if not self._paused.is_set():
                jpeg = self._encode_next()
                if jpeg is not None and not self._halt.is_set():
                    self._latest.publish(jpeg)
            due += period
            now = time.monotonic()
            if due < now - period:
                due = now  # fell behind (slow source): do not burst to catch up
            self._halt.wait(max(0.0, due - now))

    def _encode_next(self) -> bytes | None:
        try:
            image = self._source()
            if image is None:
                return None
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise CameraError(f"a frame must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
            ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise CameraError("JPEG encoding failed")
        except Exception as exc:  # a failing source skips the tick: clients see a stall, the server lives on
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        self.last_error = None
        return buf.tobytes()

    def _snapshot(self, timeout_s: float) -> bytes | None:
        """The next frame the producer publishes (within one period normally), or None within ``timeout_s``.

        Never the last published one: it may be the frozen frame of a source that has just stalled."""
        with self._latest.cond:
            seq = self._latest.seq
        jpeg, _ = self._latest.wait_newer(seq, timeout_s)
        return jpeg

    def _stream_to(self, handler: BaseHTTPRequestHandler) -> None:
        sock = handler.connection
        with self._clients_lock:
            self._clients.add(sock)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            handler.send_header("Cache-Control", "no-cache, no-store, must-revalidate")
            handler.send_header("Pragma", "no-cache")
            handler.send_header("Connection", "close")
            handler.end_headers()
            seq = 0
            while not self._halt.is_set():
                jpeg, seq = self._latest.wait_newer(seq, _POLL_S)
                if jpeg is None:
                    continue
                # Content-Length lets a demuxer hand the part over at once instead of waiting for the next boundary.
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                handler.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                handler.wfile.flush()
        except (OSError, ValueError):
            pass  # the client went away (reset, broken pipe, write timeout) or close() shut the socket
        finally:
            with self._clients_lock:
                self._clients.discard(sock)


def _handler_for(server: MJPEGServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = server.client_timeout_s  # per-client socket timeout: bounds reads of the request and every write
        server_version = "ViFailbackMJPEG/1.0"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/stream.mjpg"):
                server._stream_to(self)
            elif path == "/snapshot.jpg":
                jpeg = server._snapshot(server.snapshot_timeout_s)
                if jpeg is None:
                    self._plain(503, "no frame available (the camera is stalled or paused)\n")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(jpeg)))
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(jpeg)
            else:
                self._plain(404, "not found; try /stream.mjpg or /snapshot.jpg\n")

        def _plain(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # one line per request would flood the emulator's console

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except OSError:
                self.close_connection = True  # a client that vanished mid-request is not a server error

    return Handler
