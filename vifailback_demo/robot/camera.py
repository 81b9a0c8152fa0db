"""The camera interface and its ring buffer of recent timestamped frames (what the live monitor reads).

``Camera.read(timeout_s)`` waits for a frame newer than the last one it returned; ``read_latest(max_age_ms)``
returns the newest frame only if it is recent enough. Both raise :class:`CameraTimeoutError` rather than hand
back a frozen frame: a stalled stream must look stalled. Frames are RGB ``uint8`` (H, W, 3); times are
``time.monotonic()`` seconds so they compare with any other monotonic clock in the process.

Two ways frames get in: :class:`ThreadedCamera` runs a reader thread over a backend's blocking ``_grab()``
(device, file, URL); :class:`PushCamera` is fed by its owner (the simulated robot renders a frame per step).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import numpy as np

from vifailback_demo.errors import CameraError, CameraTimeoutError

#: Frames kept by default: 6 s at 25 fps, the window of one supervision check (6 chunks of 25 actions); about
#: 140 MB at 640x480 (frames are kept by reference, not copied).
DEFAULT_RING = 150


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    t: float  # time.monotonic() when the frame arrived
    index: int  # 0, 1, 2, ... per camera connection


class FrameRing:
    """Thread-safe ring of the last ``maxlen`` frames; ``wait_newer`` blocks until a frame after an index."""

    def __init__(self, maxlen: int = DEFAULT_RING) -> None:
        if maxlen < 1:
            raise CameraError(f"ring size must be at least 1, got {maxlen}")
        self._frames: deque[Frame] = deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self._next = 0
        self._interrupted = False  # the source ended or failed: waiters return at once instead of at their timeout

    def push(self, image: np.ndarray, t: float | None = None) -> Frame:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise CameraError(f"a frame must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        with self._cond:
            frame = Frame(image, time.monotonic() if t is None else t, self._next)
            self._next += 1
            self._frames.append(frame)
            self._cond.notify_all()
        return frame

    def latest(self) -> Frame | None:
        with self._cond:
            return self._frames[-1] if self._frames else None

    def recent(self, n: int | None = None, seconds: float | None = None) -> list[Frame]:
        """The last ``n`` frames and/or those from the last ``seconds``, oldest first."""
        with self._cond:
            frames = list(self._frames)
        if seconds is not None and frames:
            cutoff = frames[-1].t - seconds
            frames = [f for f in frames if f.t >= cutoff]
        if n is not None:
            frames = frames[-n:] if n > 0 else []
        return frames

    def wait_newer(self, index: int, timeout_s: float) -> Frame | None:
        """The newest frame with an index above ``index``, waiting up to ``timeout_s``; None on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._frames or self._frames[-1].index <= index:
                if self._interrupted:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._frames[-1]

    def interrupt(self) -> None:
        """Wake every waiter now: no new frame will come (the reader ended or failed)."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._frames.clear()
            self._interrupted = False


class Camera(ABC):
    """One camera. Use as a context manager; ``ring`` holds the recent frames."""

    def __init__(self, name: str = "camera", timeout_s: float = 2.0, ring_size: int = DEFAULT_RING) -> None:
        if timeout_s <= 0:
            raise CameraError(f"{name}: timeout must be positive, got {timeout_s}")
        self.name = name
        self.timeout_s = timeout_s
        self.ring = FrameRing(ring_size)
        self._last_read = -1

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    def __enter__(self) -> Camera:
        if not self.is_connected:  # open_camera() hands back a connected camera; do not reopen it
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def read(self, timeout_s: float | None = None) -> np.ndarray:
        """The next frame newer than the last one ``read`` returned (waits up to the timeout)."""
        self._check_connected()
        wait = self.timeout_s if timeout_s is None else timeout_s
        frame = self.ring.wait_newer(self._last_read, wait)
        if frame is None:
            self._check_failed()
            raise CameraTimeoutError(f"{self.name}: no new frame within {wait:g} s (stream stalled or ended)")
        self._last_read = frame.index
        return frame.image

    def read_latest(self, max_age_ms: float = 500.0) -> np.ndarray:
        """The newest frame if it arrived within ``max_age_ms``; a stale frame is an error, never returned."""
        self._check_connected()
        frame = self.ring.latest()
        if frame is None:
            self._check_failed()
            raise CameraTimeoutError(f"{self.name}: no frame yet")
        age_ms = (time.monotonic() - frame.t) * 1000
        if age_ms > max_age_ms:
            self._check_failed()
            raise CameraTimeoutError(
                f"{self.name}: newest frame is {age_ms:.0f} ms old, more than the allowed {max_age_ms:g} ms"
            )
        return frame.image

    def _check_connected(self) -> None:
        if not self.is_connected:
            raise CameraError(f"{self.name}: not connected; call connect() first")

    def _check_failed(self) -> None:
        """Backends with a reader thread raise the error that ended it (more useful than a timeout)."""
        return None


class PushCamera(Camera):
    """A camera fed by its owner (``push(image)``), e.g. the simulated robot's head camera."""

    def __init__(self, name: str = "camera", timeout_s: float = 2.0, ring_size: int = DEFAULT_RING) -> None:
        super().__init__(name, timeout_s, ring_size)
        self._connected = False

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def push(self, image: np.ndarray, t: float | None = None) -> Frame:
        return self.ring.push(image, t)


class ThreadedCamera(Camera):
    """A reader thread calls the backend's blocking ``_grab()`` and pushes each frame into the ring.

    ``_grab`` returns an RGB frame, None at the end of a stream, or raises; the thread stops on either and the
    error is raised by the next ``read`` / ``read_latest`` (after its timeout, so a caller sees it in bounded time).
    """

    def __init__(self, name: str = "camera", timeout_s: float = 2.0, ring_size: int = DEFAULT_RING) -> None:
        super().__init__(name, timeout_s, ring_size)
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._ended = False

    @property
    def is_connected(self) -> bool:
        return self._thread is not None

    def connect(self) -> None:
        if self._thread is not None:
            self.disconnect()
        self._halt.clear()
        self._error, self._ended = None, False
        self.ring.clear()
        self._last_read = -1
        self._open()  # raises CameraError with the reason; nothing is started then
        self._thread = threading.Thread(target=self._loop, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        thread, self._thread = self._thread, None
        self._halt.set()
        self._close()  # closing the source unblocks a reader stuck in I/O
        if thread is not None:
            thread.join(timeout=self.timeout_s + 1.0)

    def _loop(self) -> None:
        try:
            while not self._halt.is_set():
                image = self._grab()
                if image is None:
                    self._ended = True
                    return
                if not self._halt.is_set():
                    self.ring.push(image)
        except Exception as exc:  # reported by read(); the thread must not die silently
            if not self._halt.is_set():
                self._error = exc
        finally:
            if not self._halt.is_set():
                self.ring.interrupt()  # a read() waiting now learns of the end or the error at once

    def _check_failed(self) -> None:
        if self._error is not None:
            err = self._error
            if isinstance(err, CameraError):
                raise err
            raise CameraError(f"{self.name}: reading failed: {err}") from err
        if self._ended:
            raise CameraError(f"{self.name}: the stream ended")

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _grab(self) -> np.ndarray | None: ...

    @abstractmethod
    def _close(self) -> None: ...
