"""Camera backends against real sources: an H.264 file made here with PyAV, and a real MJPEG HTTP stream from
MJPEGServer on 127.0.0.1. Stalls, ends and disconnects are timed: each must surface within its bound."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from vifailback_demo.errors import CameraError, CameraTimeoutError
from vifailback_demo.robot.camera_opencv import OpenCVCamera
from vifailback_demo.robot.camera_pyav import PyAVCamera
from vifailback_demo.robot.cameras import camera_kind, open_camera
from vifailback_demo.robot.mjpeg_server import MJPEGServer

N_FRAMES, FPS = 10, 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """10 frames at 25 fps; frame k is a flat grey of 20*k, so a decoded frame tells which one it was."""
    path = tmp_path_factory.mktemp("cam") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "10"}
        for k in range(N_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * k, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def frame_no(image: np.ndarray) -> int:
    return round(float(image.mean()) / 20)


class Source:
    """An MJPEG frame source that counts, and can be made to block (a camera whose sensor hangs)."""

    def __init__(self) -> None:
        self.n = 0
        self.flowing = threading.Event()
        self.flowing.set()

    def __call__(self) -> np.ndarray:
        self.flowing.wait()
        self.n += 1
        return np.full((48, 64, 3), (10 * self.n) % 250, np.uint8)


@pytest.fixture
def server():
    source = Source()
    srv = MJPEGServer(source, fps=25).start()
    srv.source = source
    yield srv
    source.flowing.set()  # a test that blocked the source must not leave the producer stuck
    srv.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- spec parsing ----------------------------------------------------------------------------------------------
def test_camera_kind():
    assert camera_kind(0) == camera_kind("2") == camera_kind("/dev/video1") == "device"
    assert camera_kind("http://10.0.0.5/video.mjpg") == camera_kind("rtsp://cam/stream1") == "url"
    assert camera_kind("clips/run.mp4") == "file"
    for bad in ("ftp://x/y", "", -1, 1.5):
        with pytest.raises(CameraError):
            camera_kind(bad)


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(CameraError) as err:
        open_camera(str(tmp_path / "nope.mp4"))
    text = str(err.value)
    assert "\n" not in text and "nope.mp4" in text and "expected a device index" in text
    with pytest.raises(CameraError, match="folder"):
        open_camera(str(tmp_path))
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(CameraError, match="cannot open video file"):
        open_camera(str(tmp_path / "junk.mp4"))


# ---- files -------------------------------------------------------------------------------------------------------
def test_file_replays_every_frame_in_real_time_then_ends(clip):
    t0 = time.monotonic()
    with open_camera(str(clip), timeout_s=1.0) as cam:
        seen = [frame_no(cam.read()) for _ in range(N_FRAMES)]
        elapsed = time.monotonic() - t0
        assert seen == list(range(N_FRAMES))
        assert cam.read_latest(max_age_ms=1000).shape == (48, 64, 3)
        # 9 frame periods of 40 ms: replayed at the clip's rate, not as fast as it decodes
        assert 0.3 < elapsed < 1.5, elapsed
        t1 = time.monotonic()
        with pytest.raises(CameraError, match="stream ended") as err:
            cam.read()
        assert not isinstance(err.value, CameraTimeoutError)  # an ended file says so, not "timed out"
        assert time.monotonic() - t1 < 1.5


def test_file_loop_and_fps_override(clip):
    with open_camera(str(clip), loop=True, fps=100, timeout_s=1.0) as cam:
        t0 = time.monotonic()
        seen = [frame_no(cam.read()) for _ in range(25)]
        elapsed = time.monotonic() - t0
    assert seen == list(range(N_FRAMES)) * 2 + list(range(5))
    assert 0.15 < elapsed < 1.0, elapsed  # 24 periods of 10 ms, not 40 ms


def test_read_latest_refuses_a_stale_frame(clip):
    with open_camera(str(clip), loop=True, fps=2, timeout_s=1.0) as cam:  # a new frame every 0.5 s
        cam.read()
        assert cam.read_latest(max_age_ms=200).shape == (48, 64, 3)
        time.sleep(0.3)
        with pytest.raises(CameraTimeoutError, match="ms old"):
            cam.read_latest(max_age_ms=200)


# ---- a real MJPEG stream over HTTP ----------------------------------------------------------------------------
def test_url_camera_reads_the_live_stream(server):
    with open_camera(server.url, timeout_s=1.0) as cam:
        assert isinstance(cam, PyAVCamera)
        values = [int(cam.read()[0, 0, 0]) for _ in range(5)]
        assert all(b != a for a, b in itertools.pairwise(values)), values  # five distinct frames, none repeated
        assert cam.read_latest(max_age_ms=200).shape == (48, 64, 3)
        assert server.client_count == 1
    # disconnect() closed the HTTP connection (the server notices at its next write): no leaked stream
    deadline = time.monotonic() + 2.0
    while server.client_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.client_count == 0


@pytest.mark.parametrize("how", ["source blocks", "server paused"])
def test_stalled_stream_raises_timeout_within_bound(server, how):
    with open_camera(server.url, timeout_s=0.6) as cam:
        cam.read()
        if how == "source blocks":
            server.source.flowing.clear()
        else:
            server.pause()
        t0 = time.monotonic()
        with pytest.raises(CameraTimeoutError):
            while True:  # frames already sent may still arrive; the stall must then show within the timeout
                cam.read()
                t0 = time.monotonic()
        assert time.monotonic() - t0 < 0.6 + 0.3
        with pytest.raises(CameraTimeoutError):
            cam.read_latest(max_age_ms=300)  # never the frozen last frame
        # The reader itself gave up (its I/O timeout); later reads report the stall, not a hang.
        t1 = time.monotonic()
        with pytest.raises(CameraTimeoutError):
            cam.read()
        assert time.monotonic() - t1 < 0.9
        t2 = time.monotonic()
    assert time.monotonic() - t2 < 1.0  # disconnect returned promptly


def test_disconnect_of_a_reader_blocked_in_io_is_bounded(server):
    cam = open_camera(server.url, timeout_s=0.8)
    cam.read()
    server.pause()
    time.sleep(0.2)  # the reader is now blocked in a network read
    t0 = time.monotonic()
    cam.disconnect()
    assert time.monotonic() - t0 < 0.8 + 0.5
    assert not cam.is_connected
    server.resume()
    cam.connect()  # and it can connect again
    cam.read()
    cam.disconnect()


def test_server_closed_is_an_error_not_a_hang():
    source = Source()
    srv = MJPEGServer(source, fps=25).start()
    cam = open_camera(srv.url, timeout_s=1.0)
    cam.read()
    srv.close()
    t0 = time.monotonic()
    with pytest.raises(CameraError) as err:
        while True:
            cam.read()
    assert time.monotonic() - t0 < 2.5
    assert any(why in str(err.value) for why in ("closed the connection", "broke off", "no new frame"))
    with pytest.raises(CameraError, match=r"closed the connection|broke off"):
        cam.read(timeout_s=0.1)  # by now the reader has seen the end of the stream
    cam.disconnect()


def test_reconnect_resumes_after_a_stall(server):
    with open_camera(server.url, timeout_s=0.5, open_timeout_s=0.5, reconnect=True) as cam:
        cam.read()
        server.pause()
        time.sleep(1.2)  # the reader times out and keeps reopening
        with pytest.raises(CameraTimeoutError):
            cam.read_latest(max_age_ms=300)
        server.resume()
        first = cam.read(timeout_s=3.0)
        assert first.shape == (48, 64, 3)
        cam.read(timeout_s=1.0)


def test_unreachable_url_is_a_quick_one_line_error():
    url = f"http://127.0.0.1:{free_port()}/stream.mjpg"  # nobody listens: refused at once
    t0 = time.monotonic()
    with pytest.raises(CameraError) as err:
        open_camera(url)
    assert time.monotonic() - t0 < 1.0
    assert "\n" not in str(err.value) and url in str(err.value) and "refused" in str(err.value).lower()
    # A listener that never answers: bounded by the open timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/stream.mjpg"
        t0 = time.monotonic()
        with pytest.raises(CameraTimeoutError, match=r"did not answer within 0\.5 s"):
            open_camera(url, open_timeout_s=0.5)
        assert time.monotonic() - t0 < 1.5


def test_opencv_backend_reads_the_stream_and_reports_a_stall(server):
    with open_camera(server.url, backend="opencv", timeout_s=0.6) as cam:
        assert isinstance(cam, OpenCVCamera)
        image = cam.read()
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        server.pause()
        with pytest.raises(CameraTimeoutError):
            for _ in range(50):  # OpenCV may hand over a few buffered frames first
                cam.read()
        with pytest.raises(CameraTimeoutError, match="stalled"):
            cam.read(timeout_s=1.0)  # the reader gave up after its read timeout: a stall, not a hang
    # OpenCV cannot say why a read failed; a quick failure (the server went away) is an end, not a stall.
    srv = MJPEGServer(Source(), fps=25).start()
    with open_camera(srv.url, backend="opencv", timeout_s=1.0) as cam:
        cam.read()
        srv.close()
        with pytest.raises(CameraError, match="stopped delivering frames"):
            for _ in range(50):
                cam.read()


def test_missing_device_is_a_one_line_error():
    t0 = time.monotonic()
    with pytest.raises(CameraError) as err:
        open_camera(63, open_timeout_s=1.0)
    assert "video device 63" in str(err.value) and "\n" not in str(err.value)
    assert time.monotonic() - t0 < 5.0


def test_option_mismatches_are_refused(clip, server):
    with pytest.raises(CameraError, match="loop"):
        open_camera(server.url, loop=True)
    with pytest.raises(CameraError, match="reconnect"):
        open_camera(str(clip), reconnect=True)
    with pytest.raises(CameraError, match="PyAV"):
        open_camera(str(clip), backend="opencv")
    with pytest.raises(CameraError, match="backend"):
        open_camera(str(clip), backend="gstreamer")
    cam = open_camera(str(clip), connect=False)
    assert not cam.is_connected
