"""What the device, file and URL cameras share: a reader thread that owns a blocking source handle.

Decoders (PyAV, OpenCV) are not safe to close from one thread while another is inside a read on the same handle,
so the reader thread owns the handle: :meth:`SourceCamera._close` (called by ``disconnect()``) closes it only when
no read is in progress, and otherwise flags it for the reader to close as soon as its read returns. Every backend
bounds its reads with an I/O timeout, which is what bounds ``disconnect()``: at most about ``io_timeout_s``.

A reader that outlived its ``disconnect()`` (a read that ignored its timeout) would share the base class's halt
flag with the next connection's reader; so ``connect()`` waits for it, and refuses with a clear error if it is
still stuck, rather than running two readers on one camera.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import abstractmethod
from typing import Any

import numpy as np

from vifailback_demo.errors import CameraError
from vifailback_demo.robot.camera import DEFAULT_RING, ThreadedCamera


def one_line(exc: BaseException) -> str:
    """An exception as one short line: decoder messages sometimes span lines or repeat the URL at length."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class SourceCamera(ThreadedCamera):
    """A :class:`ThreadedCamera` over one handle (a PyAV container, an OpenCV capture).

    Backends implement ``_open_source() -> handle`` (raise :class:`CameraError` with the reason),
    ``_read_frame() -> RGB frame | None`` (reads ``self._handle``; None at the end of the stream) and
    ``_close_source(handle)``. ``_read_frame`` may replace ``self._handle`` (a reconnect): while it runs,
    nothing else touches the handle.
    """

    def __init__(
        self,
        name: str = "camera",
        timeout_s: float = 2.0,
        ring_size: int = DEFAULT_RING,
        *,
        io_timeout_s: float | None = None,
    ) -> None:
        super().__init__(name, timeout_s, ring_size)
        #: Longest single blocking read before the backend gives up; it also bounds disconnect().
        self.io_timeout_s = float(timeout_s if io_timeout_s is None else io_timeout_s)
        if self.io_timeout_s <= 0:
            raise CameraError(f"{name}: I/O timeout must be positive, got {io_timeout_s}")
        self._handle: Any = None
        self._state = threading.Lock()  # guards the three fields below (never held during a read)
        self._closing = False  # disconnect() asked for the handle to be closed
        self._reading = False  # the reader is inside _read_frame()
        self._previous: threading.Thread | None = None

    @property
    def source(self) -> str:
        """What this camera reads (for messages and ``describe``)."""
        return self.name

    def __enter__(self) -> SourceCamera:
        # open_camera() hands back a connected camera; `with open_camera(...) as cam` must not reopen the stream.
        if not self.is_connected:
            self.connect()
        return self

    def disconnect(self) -> None:
        if self._thread is not None:
            self._previous = self._thread
        super().disconnect()

    # ---- ThreadedCamera hooks ----------------------------------------------------------------------------------
    def _open(self) -> None:
        previous, self._previous = self._previous, None
        if previous is not None and previous.is_alive():
            previous.join(self.io_timeout_s + 1.0)
            if previous.is_alive():
                self._previous = previous
                raise CameraError(
                    f"{self.name}: the previous reader of {self.source} is still blocked in I/O; try again shortly"
                )
            # It ended after connect() reset these (its last read saw the disconnect); they describe no stream now.
            self._error, self._ended = None, False
        handle = self._open_source()
        with self._state:
            self._closing, self._reading, self._handle = False, False, handle

    def _grab(self) -> np.ndarray | None:
        with self._state:
            if self._closing or self._handle is None:
                return None
            self._reading = True
        error: BaseException | None = None
        try:
            image = self._read_frame()
        except BaseException as exc:
            image, error = None, exc
        with self._state:
            # Whoever sees the other's flag under this lock closes the handle: we, if disconnect() came during
            # the read; disconnect() itself, if no read was in progress. So the handle is closed exactly once.
            self._reading = False
            over = self._closing or error is not None or image is None
            if over:
                self._release()
        if error is not None and not self._closing:  # a failure caused by the disconnect is not the stream's
            raise error
        # A frame read while disconnecting belongs to a connection that is over: it must not reach the next ring.
        return None if over else image

    def _close(self) -> None:
        with self._state:
            self._closing = True
            if not self._reading:
                self._release()

    def _release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(Exception):  # closing a broken source may fail too; nothing left to do then
                self._close_source(handle)

    # ---- helpers for backends ----------------------------------------------------------------------------------
    def _sleep_until(self, due: float) -> bool:
        """Wait until monotonic time ``due``; False if the camera is being disconnected meanwhile."""
        delay = due - time.monotonic()
        if delay > 0:
            return not self._halt.wait(delay)
        return not self._halt.is_set()

    # ---- what a backend implements -----------------------------------------------------------------------------
    @abstractmethod
    def _open_source(self) -> Any: ...

    @abstractmethod
    def _read_frame(self) -> np.ndarray | None: ...

    @abstractmethod
    def _close_source(self, handle: Any) -> None: ...
