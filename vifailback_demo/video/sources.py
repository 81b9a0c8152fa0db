"""Frames from any source a user has: a video file, a folder of frames, or a ViFailback episode.

Video files are decoded by :mod:`vifailback_demo.video.reader`; this module adds frame folders (numbered images as a
clip at the dataset's 25 fps) and the official episode layout, and :func:`read_frames` picks by what the path is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vifailback_demo.core.dataset import FPS, resolve_in_root
from vifailback_demo.errors import VideoError
from vifailback_demo.video.reader import SampledFrames, VideoLimits, read_video
from vifailback_demo.video.sampling import SamplingSpec, nearest_indices, plan_timestamps

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_LEADING_INT_RE = re.compile(r"^(\d+)")


def _frame_files(folder: Path) -> list[Path]:
    files = [
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and "_annotations" not in f.stem
    ]
    if not files:
        raise VideoError(
            f"{folder}: no frames found; expected images named like 0.jpg, 1.jpg, ... ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _frame_index(path: Path) -> int | None:
    m = _LEADING_INT_RE.match(path.stem)
    return int(m.group(1)) if m else None


def read_frame_folder(
    folder: str | os.PathLike, spec: SamplingSpec | None = None, *, fps: float = FPS, max_side: int | None = None
) -> SampledFrames:
    """Sample a folder of frames as a clip at ``fps`` (default 25, the dataset's rate).

    Numbered names (``0.jpg``, ``25.jpg``, ``172_avoid_keyframe.jpg``) give each frame its time ``index / fps``;
    a plain frame wins over a keyframe copy of the same index, and rendered ``*_annotations`` files are ignored
    (they would show the answer). Folders without numbers are taken in name order, one frame per ``1 / fps``.
    """
    import cv2

    from vifailback_demo.imageio import read_image_rgb

    d, spec = Path(folder), spec or SamplingSpec()
    if not d.is_dir():
        raise VideoError(f"frame folder not found: expected a directory at {d}")
    files = _frame_files(d)
    if all(_frame_index(f) is not None for f in files):
        by_index: dict[int, Path] = {}
        for f in sorted(files, key=lambda f: (len(f.stem), f.name)):  # plain "25.jpg" sorts before "25_avoid..."
            by_index.setdefault(_frame_index(f), f)  # type: ignore[arg-type]
        indices = sorted(by_index)
        ordered = [by_index[i] for i in indices]
        times = [i / fps for i in indices]
    else:
        ordered = sorted(files, key=lambda f: f.name)
        times = [i / fps for i in range(len(ordered))]
    chosen = nearest_indices(times, plan_timestamps(spec, times[0], times[-1]))
    frames = []
    for i in chosen:
        image = read_image_rgb(ordered[i])
        if max_side and max(image.shape[:2]) > max_side:
            scale = max_side / max(image.shape[:2])
            image = cv2.resize(
                image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
            )
        frames.append(image)
    return SampledFrames(
        frames=frames,
        timestamps_s=[times[i] - times[0] for i in chosen],
        source=str(d),
        kind="frames",
        names=[ordered[i].name for i in chosen],
    )


def episode_paths(root: str | os.PathLike, task: str, episode: int, camera: str = "cam_high") -> tuple[Path, Path]:
    """(frames folder, video file) of one ViFailback episode; both stay inside ``root``."""
    frames = resolve_in_root(root, f"annotated_data/{task}/frames/episode_{episode}_{camera}", what="episode frames")
    video = resolve_in_root(root, f"annotated_data/{task}/videos/episode_{episode}_{camera}.mp4", what="episode video")
    return frames, video


def read_episode(
    root: str | os.PathLike, task: str, episode: int, spec: SamplingSpec | None = None, *, max_side: int | None = None
) -> SampledFrames:
    """Frames of a ViFailback episode: its frames folder if present, else its head-camera video."""
    frames_dir, video = episode_paths(root, task, episode)
    if frames_dir.is_dir():
        result = read_frame_folder(frames_dir, spec, max_side=max_side)
    elif video.is_file():
        result = read_video(video, spec, max_side=max_side)
    else:
        raise VideoError(f"episode {episode} of task {task!r} not found: expected {frames_dir} or {video}")
    result.kind = "episode"
    return result


def read_frames(
    source: str | os.PathLike,
    spec: SamplingSpec | None = None,
    limits: VideoLimits | None = None,
    *,
    max_side: int | None = None,
) -> SampledFrames:
    """A video file or a frame folder, whichever ``source`` is."""
    p = Path(source)
    if p.is_dir():
        return read_frame_folder(p, spec, max_side=max_side)
    if p.exists() and not p.is_file():
        raise VideoError(f"{p}: expected a video file or a folder of frames")
    return read_video(p, spec, limits, max_side=max_side)
