"""Cameras decoded with PyAV: a video file replayed in real time, or a network stream (HTTP MJPEG, RTSP, ...).

PyAV rather than OpenCV because its errors say what went wrong (connection refused, 404, no data within the
timeout), and because ``av.open(..., timeout=(open_s, read_s))`` bounds both the connection and every single
read with FFmpeg's interrupt callback — that bound is what keeps a stalled stream from hanging the reader, and
through it ``disconnect()``. The wheel's FFmpeg also decodes AV1, which the FFmpeg inside OpenCV cannot.

After a read times out, FFmpeg's I/O context stays failed (every later read fails at once), so a stalled stream
cannot resume on the same container: without ``reconnect`` the reader stops with :class:`CameraTimeoutError`
(``connect()`` again to retry); with ``reconnect=True`` it reopens the URL until frames flow again, while
``read()`` keeps raising :class:`CameraTimeoutError` for the gap — stalled, never a frozen frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from vifailback_demo.errors import CameraError, CameraTimeoutError
from vifailback_demo.robot.camera import DEFAULT_RING
from vifailback_demo.robot.camera_source import SourceCamera, one_line

#: Reopen attempts of a reconnecting stream are spaced by this (a camera rebooting needs seconds, not a busy loop).
RECONNECT_BACKOFF_S = 0.5
#: Replay rate for a file whose stream declares none.
FALLBACK_FPS = 25.0


def _network_options(url: str) -> dict[str, str]:
    """FFmpeg options for a live stream: no input buffering (latency), RTSP over TCP (no lost UDP packets)."""
    options = {"fflags": "nobuffer"}
    if url.lower().startswith(("rtsp://", "rtsps://")):
        options["rtsp_transport"] = "tcp"
    return options


class PyAVCamera(SourceCamera):
    """A file (``is_url=False``) or a network stream read by PyAV.

    Files are replayed at their frame rate (or ``fps``), like a live camera; at the end ``loop=True`` starts
    again, otherwise the stream ends and ``read()`` raises "the stream ended". URLs are read as fast as frames
    arrive (``fps`` is ignored: the sender decides the rate). ``options`` are extra FFmpeg options, e.g.
    ``{"rtsp_transport": "udp"}``.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        name: str = "camera",
        timeout_s: float = 2.0,
        is_url: bool | None = None,
        fps: float | None = None,
        loop: bool = False,
        open_timeout_s: float | None = None,
        io_timeout_s: float | None = None,
        reconnect: bool = False,
        options: dict[str, str] | None = None,
        ring_size: int = DEFAULT_RING,
    ) -> None:
        super().__init__(name, timeout_s, ring_size, io_timeout_s=io_timeout_s)
        self._source = str(source)
        self.is_url = ("://" in self._source) if is_url is None else is_url
        if fps is not None and fps <= 0:
            raise CameraError(f"{name}: fps must be positive, got {fps}")
        if loop and self.is_url:
            raise CameraError(f"{name}: loop=True replays a file; a live stream ({self._source}) cannot loop")
        self.fps = fps
        self.loop = loop
        self.reconnect = reconnect
        # Opening a stream includes probing its first frames (an RTSP camera's first keyframe can take a GOP).
        self.open_timeout_s = float(open_timeout_s if open_timeout_s is not None else max(timeout_s, 5.0))
        self._options = {**(_network_options(self._source) if self.is_url else {}), **(options or {})}
        self._frames: Any = None  # the decode generator of the current container
        self._period = 0.0  # file replay: seconds per frame
        self._due = 0.0  # file replay: when the next frame is due
        self._yielded = False  # file replay: did this pass produce a frame (an empty clip must not loop forever)

    @property
    def source(self) -> str:
        return self._source

    # ---- SourceCamera hooks --------------------------------------------------------------------------------------
    def _open_source(self) -> Any:
        if not self.is_url and not Path(self._source).is_file():
            raise CameraError(f"{self.name}: no video file at {self._source}; expected a readable video file")
        try:
            container = av.open(
                self._source, mode="r", timeout=(self.open_timeout_s, self.io_timeout_s), options=self._options
            )
        except av.error.ExitError:
            raise CameraTimeoutError(
                f"{self.name}: {self._source} did not answer within {self.open_timeout_s:g} s"
                " (is the camera on and the URL right?)"
            ) from None
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            what = "stream" if self.is_url else "video file"
            raise CameraError(f"{self.name}: cannot open {what} {self._source}: {one_line(exc)}") from None
        if not container.streams.video:
            container.close()
            raise CameraError(f"{self.name}: {self._source} has no video stream")
        stream = container.streams.video[0]
        if not self.is_url:
            stream.thread_type = "AUTO"  # frame threads keep a big clip real-time; on a live stream they add latency
            rate = self.fps or float(stream.average_rate or stream.guessed_rate or 0) or FALLBACK_FPS
            self._period = 1.0 / rate
            self._due = time.monotonic()
        self._frames = container.decode(stream)
        self._yielded = False
        return container

    def _close_source(self, handle: Any) -> None:
        self._frames = None
        handle.close()

    def _read_frame(self) -> np.ndarray | None:
        while True:
            try:
                frame = self._next_frame()
            except CameraError:
                if not (self.is_url and self.reconnect):
                    raise
            else:
                if frame is not None or not self.is_url:
                    return frame  # a file's None is its end (or a disconnect during replay pacing)
                if not self.reconnect:
                    raise CameraError(f"{self.name}: the stream ended: {self._source} closed the connection")
            # a stream stalled, failed or was closed by the sender, and we were asked to reconnect
            if not self._reopen():
                return None  # disconnect() came during the reconnect

    def _next_frame(self) -> np.ndarray | None:
        """The next decoded RGB frame (paced for files), None at the end of the stream; CameraError on failure."""
        try:
            frame = next(self._frames, None)
            if frame is None and self.loop and self._yielded:
                self._handle.seek(0)  # replay from the start: a fresh decoder pass over the same container
                self._frames = self._handle.decode(self._handle.streams.video[0])
                self._yielded = False
                frame = next(self._frames, None)
        except av.error.ExitError:
            raise CameraTimeoutError(
                f"{self.name}: no data from {self._source} for {self.io_timeout_s:g} s (the stream stalled);"
                " connect() again to retry"
            ) from None
        except (av.error.FFmpegError, OSError) as exc:
            if self.is_url:  # typically the sender went away mid-frame (FFmpeg says "Input/output error")
                raise CameraError(f"{self.name}: the stream from {self._source} broke off: {one_line(exc)}") from None
            raise CameraError(f"{self.name}: reading {self._source} failed: {one_line(exc)}") from None
        if frame is None:
            return None
        self._yielded = True
        image = _to_rgb(frame)
        if not self.is_url:
            # Real-time replay: hold each frame until its due time; do not burst to catch up after a slow decode.
            if not self._sleep_until(self._due):
                return None
            now = time.monotonic()
            self._due = max(self._due + self._period, now - self._period)
        return image

    def _reopen(self) -> bool:
        """Reconnect a stream until it opens again or the camera is disconnected; True when reopened."""
        self._release()
        while not self._halt.is_set() and not self._closing:
            try:
                self._handle = self._open_source()
            except CameraError:
                if self._halt.wait(RECONNECT_BACKOFF_S):
                    break
                continue
            if self._closing:
                self._release()
                break
            return True
        return False


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    rotation = int(getattr(frame, "rotation", 0) or 0)  # the display matrix: phone clips come out upright
    if rotation % 360:
        image = np.ascontiguousarray(np.rot90(image, k=(round(rotation / 90)) % 4))
    return image
