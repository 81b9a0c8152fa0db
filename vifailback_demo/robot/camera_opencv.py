"""Cameras read with OpenCV's ``VideoCapture``: a local device (USB webcam, ``/dev/videoN``), or a network stream
when PyAV is not wanted (``backend="opencv"``).

OpenCV for devices because it speaks V4L2 / AVFoundation / DirectShow on every platform with one call, which
PyAV would need a per-platform input format for. For URLs it works too (checked offline against
:class:`~vifailback_demo.robot.mjpeg_server.MJPEGServer`), but it only says "could not open" / "no frame" where
PyAV says why, so PyAV is the default there. Both bound their reads: OpenCV through
``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC`` (FFmpeg's interrupt callback; the V4L2 backend
honours the read timeout too).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import cv2
import numpy as np

from vifailback_demo.errors import CameraError, CameraTimeoutError
from vifailback_demo.robot.camera import DEFAULT_RING
from vifailback_demo.robot.camera_source import SourceCamera


class OpenCVCamera(SourceCamera):
    """A device index (``0``), a device path (``/dev/video2``) or a stream URL, read by ``cv2.VideoCapture``.

    ``fps``, ``width`` and ``height`` are requests to a device driver (it may pick the nearest mode it has);
    streams ignore them. Frames come out RGB, like every other camera here.
    """

    def __init__(
        self,
        source: int | str,
        *,
        name: str = "camera",
        timeout_s: float = 2.0,
        fps: float | None = None,
        width: int | None = None,
        height: int | None = None,
        open_timeout_s: float | None = None,
        io_timeout_s: float | None = None,
        ring_size: int = DEFAULT_RING,
    ) -> None:
        super().__init__(name, timeout_s, ring_size, io_timeout_s=io_timeout_s)
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        self._source = source
        self.is_url = isinstance(source, str) and "://" in source
        self.fps, self.width, self.height = fps, width, height
        self.open_timeout_s = float(open_timeout_s if open_timeout_s is not None else max(timeout_s, 5.0))

    @property
    def source(self) -> str:
        return f"video device {self._source}" if isinstance(self._source, int) else str(self._source)

    def _open_source(self) -> Any:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.io_timeout_s * 1000),
        ]
        api = cv2.CAP_FFMPEG if self.is_url else cv2.CAP_ANY
        try:
            cap = cv2.VideoCapture(self._source, api, params)
        except cv2.error as exc:
            raise CameraError(f"{self.name}: cannot open {self.source}: {exc}") from None
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.name}: cannot open {self.source}; {self._hint()}")
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
            (cv2.CAP_PROP_FPS, self.fps),
        ):
            if value and not self.is_url:
                cap.set(prop, float(value))  # a request: drivers round to a mode they support
        return cap

    def _hint(self) -> str:
        if self.is_url:
            return f"expected a reachable stream URL (nothing answered within {self.open_timeout_s:g} s, or not video)"
        if sys.platform.startswith("linux"):
            return "expected a connected camera not in use by another program (list them: ls /dev/video*)"
        return "expected a connected camera not in use by another program"

    def _read_frame(self) -> np.ndarray | None:
        t0 = time.monotonic()
        ok, bgr = self._handle.read()
        if not ok or bgr is None:
            # OpenCV does not say why. A read that used up its timeout was a stall; a quick failure is an end.
            if time.monotonic() - t0 >= 0.9 * self.io_timeout_s:
                raise CameraTimeoutError(
                    f"{self.name}: no frame from {self.source} for {self.io_timeout_s:g} s (the stream stalled);"
                    " connect() again to retry"
                )
            raise CameraError(f"{self.name}: {self.source} stopped delivering frames (stream ended or unplugged)")
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _close_source(self, handle: Any) -> None:
        handle.release()
