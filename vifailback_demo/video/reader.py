"""Read the frames a diagnosis needs from a video file (frame folders and episodes: :mod:`.sources`).

Videos are decoded with PyAV (mp4, mov, mkv, webm; H.264, HEVC, VP9, AV1 — whatever the wheel's FFmpeg decodes).
Frames are chosen by presentation time (see :mod:`vifailback_demo.video.sampling`): for each target time the reader
seeks to the keyframe before it when the target is far ahead, decodes forward, and keeps the decoded frame nearest
in time. Only the chosen frames are converted to RGB, which is what makes sampling 16 frames of a long clip cheap.
Rotation metadata (the display matrix) is applied, so phone clips come out upright. Size, duration and resolution
limits are checked before decoding, with errors that say what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.errors import VideoError
from vifailback_demo.video.sampling import SamplingSpec, plan_timestamps

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")
#: FFmpeg demuxers that read still images (plus every ``*_pipe`` one: jpeg_pipe, png_pipe, webp_pipe, ...).
_IMAGE_FORMATS: frozenset[str] = frozenset({"image2", "image2pipe", "gif", "apng", "ico"})
#: Seek instead of decoding forward when the next target is further ahead than this (typical GOP: 1-2 s).
SEEK_THRESHOLD_S = 1.5


@dataclass(frozen=True)
class VideoLimits:
    """Inputs beyond these are refused before decoding (upload guard; a diagnosis needs seconds, not hours)."""

    max_bytes: int = 1 << 30
    max_duration_s: float = 30 * 60.0
    max_side: int = 4096
    max_pixels: int = 4096 * 2304


@dataclass(frozen=True)
class VideoInfo:
    path: str
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: float | None
    duration_s: float | None
    start_s: float

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) after rotation."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)


@dataclass
class SampledFrames:
    """RGB uint8 frames in time order, with where they came from; ``timestamps_s`` are relative to the clip start."""

    frames: list[np.ndarray]
    timestamps_s: list[float]
    source: str
    kind: str  # "video" | "frames" | "episode"
    names: list[str] = field(default_factory=list)
    info: VideoInfo | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (no pixels): what ``diagnosis.json`` records as the frames used."""
        h, w = self.frames[0].shape[:2] if self.frames else (0, 0)
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "count": len(self.frames),
            "timestamps_s": [round(t, 4) for t in self.timestamps_s],
            "width": w,
            "height": h,
            "warnings": list(self.warnings),
        }
        if self.names:
            out["names"] = list(self.names)
        if self.info is not None:
            out["video"] = {
                "container": self.info.container,
                "codec": self.info.codec,
                "fps": self.info.fps,
                "duration_s": self.info.duration_s,
                "rotation": self.info.rotation,
            }
        return out


# --- videos ------------------------------------------------------------------------------------------------------


def _check_file(path: Path, limits: VideoLimits) -> None:
    if not path.is_file():
        raise VideoError(f"video not found: expected a readable file at {path}")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{path}: the file is empty; expected an mp4, mov, mkv or webm video")
    if size > limits.max_bytes:
        raise VideoError(f"{path}: {size / 2**20:.0f} MiB is over the {limits.max_bytes / 2**20:.0f} MiB limit")


def _open(path: Path):
    import av

    try:
        container = av.open(str(path), mode="r", timeout=30.0)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(f"{path.name}: not a readable video ({exc}); expected mp4, mov, mkv or webm") from None
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
        # FFmpeg opens a JPEG or PNG as a one-frame "video" (jpeg_pipe, png_pipe, ...): whatever its name says, a
        # still image is not a clip a failure can be read from.
        container.close()
        raise VideoError(
            f"{path.name}: is a still image ({fmt.removesuffix('_pipe')}), not a video; expected mp4, mov, mkv or webm"
        )
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name}: has no video stream; expected a video with pictures, not only audio/data")
    return container


def _rotation_of(stream, first_frame) -> int:
    rot = int(getattr(first_frame, "rotation", 0) or 0) if first_frame is not None else 0
    if not rot:
        # Old muxers write a 'rotate' tag (clockwise degrees) instead of a display matrix.
        tag = (stream.metadata or {}).get("rotate")
        if tag and tag.lstrip("-").isdigit():
            rot = -int(tag)
    return ((round(rot / 90) * 90) + 360) % 360


def _info(path: Path, container, stream) -> VideoInfo:
    tb = float(stream.time_base) if stream.time_base else 0.0
    duration = None
    if stream.duration and tb:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    start = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    cc = stream.codec_context
    return VideoInfo(
        path=str(path),
        container=container.format.name,
        codec=cc.name,
        width=cc.width,
        height=cc.height,
        rotation=0,
        fps=fps,
        duration_s=duration,
        start_s=start,
    )


def _check_limits(info: VideoInfo, limits: VideoLimits, name: str) -> None:
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{name}: the video stream has no picture size; the file is probably corrupt")
    if max(info.width, info.height) > limits.max_side or info.width * info.height > limits.max_pixels:
        raise VideoError(
            f"{name}: {info.width}x{info.height} is over the resolution limit "
            f"({limits.max_side} px per side, {limits.max_pixels} pixels); expected at most 4K"
        )
    if info.duration_s is not None and info.duration_s > limits.max_duration_s:
        raise VideoError(
            f"{name}: {info.duration_s:.0f} s is over the {limits.max_duration_s:.0f} s duration limit; cut the clip "
            "around the failure"
        )


def probe_video(path: str | os.PathLike, limits: VideoLimits | None = None) -> VideoInfo:
    """Container, codec, size, rotation, frame rate and duration; raises :class:`VideoError` on bad input."""
    import av

    p, limits = Path(path), limits or VideoLimits()
    _check_file(p, limits)
    with _open(p) as container:
        stream = container.streams.video[0]
        info = _info(p, container, stream)
        _check_limits(info, limits, p.name)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoError(f"{p.name}: the first frame cannot be decoded ({exc}); the file is corrupt") from None
        if first is None:
            raise VideoError(f"{p.name}: the video stream has no decodable frames")
        return replace(info, rotation=_rotation_of(stream, first))


def _with_scanned_duration(info: VideoInfo, container, stream) -> VideoInfo:
    """Headers without a duration (some live-recorded webm): read packet times, which needs no decoding."""
    import av

    tb, end = float(stream.time_base), None
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                stop = (packet.pts + (packet.duration or 0)) * tb
                end = stop if end is None else max(end, stop)
    except av.error.FFmpegError:
        pass  # a damaged tail: what was read is the best estimate
    container.seek(0)
    return replace(info, duration_s=None if end is None else max(end - info.start_s, 0.0))


def _frame_time(frame, fallback: float) -> float:
    t = frame.time
    return float(t) if t is not None else fallback


class _ForwardDecoder:
    """Decodes one stream forward from a seek point, remembering the previous frame for nearest-time picks."""

    def __init__(self, container, stream, fps: float | None) -> None:
        self.container, self.stream = container, stream
        self.step = 1.0 / fps if fps else 0.04
        self.iter = None
        self.prev = self.cur = None  # (time, frame)
        self.eof = False
        self.errors: list[str] = []

    def seek(self, t_abs: float) -> None:
        tb = float(self.stream.time_base)
        self.container.seek(int(max(t_abs, 0.0) / tb), stream=self.stream, backward=True, any_frame=False)
        self.iter = self.container.decode(self.stream)
        self.prev = self.cur = None
        self.eof = False

    def position(self) -> float | None:
        return self.cur[0] if self.cur else None

    def advance_to(self, t_abs: float | None):
        """Decode until a frame at or after ``t_abs`` (None: to the end); return the (time, frame) nearest it."""
        import av

        if self.iter is None:
            self.seek(0.0)
        while not self.eof and (t_abs is None or self.cur is None or self.cur[0] < t_abs):
            try:
                frame = next(self.iter)
            except StopIteration:
                self.eof = True
                break
            except av.error.FFmpegError as exc:
                # Corrupt or truncated data: keep what decoded so far; the caller reports it.
                self.errors.append(str(exc))
                self.eof = True
                break
            t = _frame_time(frame, (self.cur[0] + self.step) if self.cur else 0.0)
            self.prev, self.cur = self.cur, (t, frame)
        candidates = [c for c in (self.prev, self.cur) if c is not None]
        if not candidates:
            return None
        if t_abs is None:
            return candidates[-1]
        return min(candidates, key=lambda c: abs(c[0] - t_abs))


def _to_rgb(frame, rotation: int, max_side: int | None) -> np.ndarray:
    w, h = frame.width, frame.height
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        # Even sizes keep every pixel format happy.
        w, h = max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)
        image = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    else:
        image = frame.to_ndarray(format="rgb24")
    if rotation:
        # The display matrix angle is counter-clockwise, like np.rot90 with positive k.
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


def read_video(
    path: str | os.PathLike,
    spec: SamplingSpec | None = None,
    limits: VideoLimits | None = None,
    *,
    max_side: int | None = None,
) -> SampledFrames:
    """Sample frames from a video by timestamp (see module doc); raises :class:`VideoError` on bad input."""
    import av

    p, spec, limits = Path(path), spec or SamplingSpec(), limits or VideoLimits()
    _check_file(p, limits)
    warnings: list[str] = []
    with _open(p) as container:
        stream = container.streams.video[0]
        # Slice threads only: frame threading adds a pipeline delay after every seek and is slower here.
        stream.thread_type = "SLICE"
        info = _info(p, container, stream)
        if info.duration_s is None:
            info = _with_scanned_duration(info, container, stream)
        _check_limits(info, limits, p.name)
        dec = _ForwardDecoder(container, stream, info.fps)
        try:
            first = dec.advance_to(info.start_s)
        except av.error.FFmpegError as exc:
            raise VideoError(f"{p.name}: cannot decode ({exc}); the file is corrupt") from None
        if first is None:
            detail = f" ({dec.errors[0]})" if dec.errors else ""
            raise VideoError(f"{p.name}: no frame could be decoded{detail}; the file is corrupt or truncated")
        info = replace(info, rotation=_rotation_of(stream, first[1]))
        start = first[0]
        step = 1.0 / info.fps if info.fps else 0.04
        end_estimate = start + max((info.duration_s or step) - (start - info.start_s) - step, 0.0)
        targets = plan_timestamps(spec, 0.0, end_estimate - start)
        picked: list[tuple[float, Any]] = []
        for i, rel in enumerate(targets):
            is_last = i == len(targets) - 1 and len(targets) > 1
            t_abs = start + rel
            pos = dec.position()
            if not dec.eof and (pos is None or t_abs - pos > SEEK_THRESHOLD_S):
                # Seek to the keyframe at or before t + step/2: a keyframe within half a frame after the target is
                # then the nearest frame itself (no frame lies between), which saves decoding a whole GOP.
                dec.seek(t_abs + step / 2)
            # The last target means "the last frame": decode to the end rather than trusting the header.
            choice = dec.advance_to(None if is_last else t_abs)
            if choice is None:
                break
            if choice[0] - start > limits.max_duration_s:
                raise VideoError(f"{p.name}: runs past the {limits.max_duration_s:.0f} s duration limit")
            if not picked or picked[-1][0] != choice[0]:
                picked.append((choice[0], _to_rgb(choice[1], info.rotation, max_side)))
        if dec.errors:
            warnings.append(f"decoding stopped early: {dec.errors[0]} (corrupt or truncated file?)")
        last_time = picked[-1][0] - start if picked else 0.0
        if info.duration_s and last_time < end_estimate - start - 1.0:
            warnings.append(
                f"the video ends at {last_time:.2f} s but its header says {info.duration_s:.2f} s (truncated file?)"
            )
    return SampledFrames(
        frames=[f for _, f in picked],
        timestamps_s=[t - start for t, _ in picked],
        source=str(p),
        kind="video",
        info=info,
        warnings=warnings,
    )
