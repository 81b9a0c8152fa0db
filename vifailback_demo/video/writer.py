"""Write RGB frames as an H.264 (yuv420p) MP4 with PyAV: the format every browser plays.

OpenCV's bundled FFmpeg cannot encode H.264 (ECOSYSTEM.md), so this goes through PyAV's libx264. yuv420p needs
even width and height; the ``faststart`` flag moves the index to the front so a browser can start playing before
the whole file has arrived. Frames go straight to the encoder, so memory does not grow with the clip's length.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from vifailback_demo.core.atomic import AtomicFile
from vifailback_demo.errors import VideoError


class VideoWriter:
    """``with VideoWriter(path, width, height, fps=25) as w: w.write(rgb)`` -> H.264 yuv420p MP4."""

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        *,
        fps: int = 25,
        crf: int = 26,
        preset: str = "veryfast",
        threads: int = 1,
    ) -> None:
        import av

        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise VideoError(f"H.264 yuv420p needs even, positive width and height; got {width}x{height}")
        if fps <= 0:
            raise VideoError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.width, self.height, self.frames = width, height, 0
        # Generated video, rebuilt by a rerun: no fsync (see vifailback_demo.core.atomic).
        self._file = AtomicFile(self.path, suffix=self.path.suffix or ".mp4")
        try:
            self._container = av.open(str(self._file.tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
            stream = self._container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
            stream.codec_context.thread_count = threads
            self._stream = stream
        except Exception as exc:  # PyAV raises several error types; callers get one clear error
            self._file.discard()
            raise VideoError(f"cannot open {self.path} for H.264 writing: {exc}") from exc
        self._av = av

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise VideoError(
                f"expected an RGB uint8 frame of shape {(self.height, self.width, 3)}, got {frame.dtype} {frame.shape}"
            )
        try:
            # OpenCV's RGB -> I420 is several times faster than swscale's default path for small frames.
            yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            vf = self._av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except Exception as exc:
            raise VideoError(f"encoding frame {self.frames} of {self.path} failed: {exc}") from exc
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder and move the finished file into place (a crash never leaves half a video)."""
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except Exception as exc:
            raise VideoError(f"finishing {self.path} failed: {exc}") from exc
        if self.frames == 0:
            self._file.discard()
            raise VideoError(f"{self.path}: no frames were written; expected at least one")
        return self._file.commit()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # already broken; the temporary file is removed below
            self._container.close()
        self._file.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], *, fps: int = 25, **kwargs) -> Path:
    """Write an iterable of same-size RGB frames; the size comes from the first frame."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise VideoError(f"{path}: no frames to write")
    with VideoWriter(path, first.shape[1], first.shape[0], fps=fps, **kwargs) as writer:
        writer.write(first)
        for frame in it:
            writer.write(frame)
    return Path(path)
