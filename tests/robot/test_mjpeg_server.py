"""MJPEGServer over real sockets on 127.0.0.1: the bytes a browser or an IP-camera client would see."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from vifailback_demo.errors import CameraError
from vifailback_demo.robot.camera import PushCamera
from vifailback_demo.robot.mjpeg_server import BOUNDARY, MJPEGServer


class Counter:
    """A frame source whose frame n is filled with 10*n (mod 250), so a decoded frame says which one it was."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> np.ndarray:
        self.n += 1
        return np.full((24, 32, 3), (10 * self.n) % 250, np.uint8)


def open_stream(server: MJPEGServer, path: str = "/stream.mjpg") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3.0)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


class PartReader:
    """Parses the multipart stream by hand: status, headers, then ``--boundary`` parts with Content-Length."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the stream")
        self.buf += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def headers(self) -> dict[str, str]:
        out = {}
        while line := self.line():
            key, _, value = line.decode().partition(":")
            out[key.strip().lower()] = value.strip()
        return out

    def part(self) -> bytes:
        while (line := self.line()) == b"":
            pass
        assert line == f"--{BOUNDARY}".encode(), line
        headers = self.headers()
        assert headers["content-type"] == "image/jpeg"
        return self.exactly(int(headers["content-length"]))


def decode(jpeg: bytes) -> np.ndarray:
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9", "not a complete JPEG"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_stream_sends_boundaries_and_fresh_jpegs():
    with MJPEGServer(Counter(), fps=30) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/stream.mjpg"
        sock = open_stream(server)
        reader = PartReader(sock)
        assert reader.line().startswith(b"HTTP/1.0 200")
        headers = reader.headers()
        assert headers["content-type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        values = [int(decode(reader.part())[0, 0, 0]) for _ in range(5)]
        sock.close()
    assert values[0] > 0
    # Every part is a new frame (no repeats of a frozen frame), in order; JPEG may shift a value by a step or two.
    steps = np.diff(values)
    assert (steps >= 7).all() and (steps <= 35).all(), values


def test_root_path_is_an_alias_and_unknown_paths_404():
    with MJPEGServer(Counter(), fps=30) as server:
        reader = PartReader(open_stream(server, "/"))
        assert reader.line().startswith(b"HTTP/1.0 200")
        reader.headers()
        decode(reader.part())
        reader.sock.close()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/nope", timeout=3)
        assert err.value.code == 404


def test_snapshot_is_one_jpeg_and_503_when_stalled():
    with MJPEGServer(Counter(), fps=30, snapshot_timeout_s=0.5) as server:
        with urllib.request.urlopen(server.snapshot_url, timeout=3) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg"
            assert decode(resp.read()).shape == (24, 32, 3)
        server.pause()
        t0 = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.snapshot_url, timeout=5)
        assert err.value.code == 503
        assert 0.4 < time.monotonic() - t0 < 2.0  # it waited (up to 0.5 s) for a frame, then gave up


def test_two_clients_get_the_same_frames_and_a_vanishing_client_hurts_nobody():
    source = Counter()
    with MJPEGServer(source, fps=30) as server:
        a, b = PartReader(open_stream(server)), PartReader(open_stream(server))
        for reader in (a, b):
            reader.line()
            reader.headers()
            decode(reader.part())
        deadline = time.monotonic() + 2
        while server.client_count != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.client_count == 2
        # Client a resets its connection mid-stream (SO_LINGER 0 sends RST): the server must shrug it off.
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        a.sock.close()
        for _ in range(5):
            decode(b.part())
        deadline = time.monotonic() + 3
        while server.client_count != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.client_count == 1
        # A new client after that still gets frames.
        c = PartReader(open_stream(server))
        c.line()
        c.headers()
        decode(c.part())
        encoded_once = source.n
        for s in (b.sock, c.sock):
            s.close()
    # One producer encodes each frame once, whatever the number of clients (about fps x elapsed, not x clients).
    assert encoded_once < 30 * 10


def test_blocking_source_stalls_the_stream_without_freezing_the_server():
    gate = threading.Event()
    gate.set()
    counter = Counter()

    def source() -> np.ndarray:
        gate.wait()
        return counter()

    with MJPEGServer(source, fps=30) as server:
        reader = PartReader(open_stream(server))
        reader.line()
        reader.headers()
        decode(reader.part())
        gate.clear()  # the source now blocks: no part may arrive, but the connection stays open
        time.sleep(0.2)
        reader.buf = b""
        reader.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            reader.part()
        gate.set()
        reader.sock.settimeout(3.0)
        reader.buf = b""
        # The stream resumes (skip to the next boundary: a part may have been cut by the buffer reset).
        while True:
            line = reader.line()
            if line == f"--{BOUNDARY}".encode():
                break
        headers = reader.headers()
        decode(reader.exactly(int(headers["content-length"])))
        reader.sock.close()


def test_close_ends_open_streams_at_once():
    server = MJPEGServer(Counter(), fps=30).start()
    reader = PartReader(open_stream(server))
    reader.line()
    reader.headers()
    decode(reader.part())
    t0 = time.monotonic()
    server.close()
    with pytest.raises(EOFError):
        for _ in range(100):
            reader.part()
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", reader.sock.getpeername()[1]), timeout=1)
    reader.sock.close()


def test_camera_source_serves_fresh_frames_only():
    cam = PushCamera("head")
    cam.connect()
    cam.push(np.full((24, 32, 3), 100, np.uint8))
    with MJPEGServer(cam, fps=30, max_age_ms=300, snapshot_timeout_s=0.5) as server:
        with urllib.request.urlopen(server.snapshot_url, timeout=3) as resp:
            assert abs(int(decode(resp.read())[0, 0, 0]) - 100) <= 3
        time.sleep(0.6)  # the camera's frame is now stale: the server sends nothing rather than a frozen frame
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.snapshot_url, timeout=5)
        assert err.value.code == 503
        assert "old" in (server.last_error or "")


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(CameraError, match="fps"):
        MJPEGServer(Counter(), fps=0)
    with pytest.raises(CameraError, match="quality"):
        MJPEGServer(Counter(), quality=0)
    with pytest.raises(CameraError, match="callable or a Camera"):
        MJPEGServer(42)
    with pytest.raises(CameraError, match="not started"):
        _ = MJPEGServer(Counter()).port
    with MJPEGServer(Counter()) as server, pytest.raises(CameraError, match="cannot listen"):
        MJPEGServer(Counter(), port=server.port).start()
