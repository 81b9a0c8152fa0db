"""Open a camera from one spec string: what ``--camera`` options and robot configs take.

``0`` / ``"0"`` / ``"/dev/video0"``: a local device (OpenCV). ``http(s)://`` (an IP camera's MJPEG), ``rtsp://``,
``rtmp://``, ``udp://``, ``tcp://``: a network stream (PyAV). Anything else: a video file (PyAV), replayed in real
time, ``loop=True`` to repeat it. The backends live in :mod:`.camera_pyav` and :mod:`.camera_opencv`; which one
decodes what, and why, is explained there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from vifailback_demo.errors import CameraError
from vifailback_demo.robot.camera import Camera, PushCamera, ThreadedCamera
from vifailback_demo.robot.camera_opencv import OpenCVCamera
from vifailback_demo.robot.camera_pyav import PyAVCamera
from vifailback_demo.robot.camera_source import SourceCamera

__all__ = [
    "Camera",
    "OpenCVCamera",
    "PushCamera",
    "PyAVCamera",
    "SourceCamera",
    "ThreadedCamera",
    "camera_kind",
    "open_camera",
]

Backend = Literal["auto", "pyav", "opencv"]
URL_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "udp", "tcp")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DEVICE_PATH = re.compile(r"^/dev/video\d+$")
_EXPECTED = "a device index like 0, an http(s):// or rtsp:// URL, or a video file path"


def camera_kind(spec: str | int) -> Literal["device", "url", "file"]:
    """What a spec names, without touching it; an unknown URL scheme is an error here, not a 'file'."""
    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise CameraError(f"camera spec must be {_EXPECTED}; got {type(spec).__name__}")
    if isinstance(spec, int):
        if spec < 0:
            raise CameraError(f"camera device index must be 0 or more, got {spec}")
        return "device"
    text = spec.strip()
    if not text:
        raise CameraError(f"camera spec is empty; expected {_EXPECTED}")
    if text.isdigit() or _DEVICE_PATH.match(text):
        return "device"
    scheme = _SCHEME.match(text)
    if scheme:
        if scheme.group(1).lower() not in URL_SCHEMES:
            raise CameraError(f"camera URL scheme {scheme.group(1)!r} is not supported; expected one of {URL_SCHEMES}")
        return "url"
    return "file"


def open_camera(
    spec: str | int,
    *,
    name: str = "head",
    timeout_s: float = 2.0,
    fps: float | None = None,
    backend: Backend = "auto",
    loop: bool = False,
    open_timeout_s: float | None = None,
    reconnect: bool = False,
    connect: bool = True,
) -> Camera:
    """A camera for ``spec``, connected unless ``connect=False`` (``with open_camera(...) as cam`` keeps it open
    once). A missing file or an unreachable URL raises a one-line :class:`CameraError` naming what was expected.

    ``timeout_s`` bounds ``read()`` and every blocking read of the source (so also ``disconnect()``);
    ``open_timeout_s`` (default ``max(timeout_s, 5)``) bounds connecting to a stream. ``fps``: the replay rate
    of a file, or the rate asked of a device; a stream's sender decides its own. ``reconnect``: a stream that
    stalls or closes is reopened until it comes back (``read()`` raises :class:`CameraTimeoutError` meanwhile).
    """
    kind = camera_kind(spec)
    if backend not in ("auto", "pyav", "opencv"):
        raise CameraError(f"camera backend must be 'auto', 'pyav' or 'opencv', got {backend!r}")
    if loop and kind != "file":
        raise CameraError(f"{name}: loop=True replays a video file; {spec!r} is a {kind}")
    if reconnect and kind != "url":
        raise CameraError(f"{name}: reconnect=True is for network streams; {spec!r} is a {kind}")
    camera: SourceCamera
    if kind == "device":
        if backend == "pyav":
            raise CameraError(f"{name}: devices are read with OpenCV; use backend='auto' or 'opencv' for {spec!r}")
        camera = OpenCVCamera(spec, name=name, timeout_s=timeout_s, fps=fps, open_timeout_s=open_timeout_s)
    elif kind == "file":
        path = Path(str(spec)).expanduser()
        if not path.is_file():
            where = "a folder" if path.is_dir() else "nothing"
            raise CameraError(f"{name}: camera source {str(spec)!r} is {where}; expected {_EXPECTED}")
        if backend == "opencv":
            raise CameraError(f"{name}: video files are read with PyAV (OpenCV cannot decode AV1); use backend='auto'")
        camera = PyAVCamera(path, name=name, timeout_s=timeout_s, is_url=False, fps=fps, loop=loop)
    elif backend == "opencv":
        if reconnect:
            raise CameraError(f"{name}: reconnect=True needs the PyAV backend; use backend='auto' or 'pyav'")
        camera = OpenCVCamera(str(spec), name=name, timeout_s=timeout_s, open_timeout_s=open_timeout_s)
    else:
        camera = PyAVCamera(
            str(spec), name=name, timeout_s=timeout_s, is_url=True, open_timeout_s=open_timeout_s, reconnect=reconnect
        )
    if connect:
        camera.connect()
    return camera
