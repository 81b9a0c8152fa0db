"""What a review queue holds: the clips of a folder of videos, or the episodes of a ViFailback dataset root.

``--queue DIR`` takes either. A dataset root (it has ``annotated_data/``) gives its episodes, each with the task
from its annotation (and its ground truth, which the scripted demo backend answers with). A plain folder gives
every video under it (sorted by relative path; hidden folders skipped), each with its task from a sidecar text
file (``clip.mp4`` -> ``clip.txt``, first non-empty line) or from ``tasks.json`` (``{"clip.mp4": "task"}``, keyed by
the path relative to the folder). A clip without a task is still queued: the reviewer types it and runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.core.dataset import AnnotationRecord
from vifailback_demo.errors import DatasetError
from vifailback_demo.services.episodes import EpisodesService
from vifailback_demo.video.reader import VIDEO_SUFFIXES

#: A queue larger than this is refused at start-up (the listing and the table are built in one go).
MAX_CLIPS = 20_000
TASKS_FILE = "tasks.json"


@dataclass(frozen=True)
class QueueClip:
    kind: str  # "dataset_episode" or "upload" (a plain video file, like a clip a visitor uploads)
    ref: str  # the episode ref, or the path relative to the queue folder
    task: str
    source: Path  # what the model reads: a frames folder or a video
    video: Path | None  # what the page shows (None: a frames folder without a video)
    truth: AnnotationRecord | None = None
    root: Path | None = None  # the dataset root of ``truth``


def is_dataset_root(folder: Path) -> bool:
    return (folder / "annotated_data").is_dir()


def list_clips(folder: str | Path) -> list[QueueClip]:
    """Every clip of the queue, in review order; a one-line DatasetError when there is none."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise DatasetError(f"--queue: expected a folder of videos or a ViFailback dataset root, got {folder}")
    clips = _episodes(root) if is_dataset_root(root) else _videos(root)
    if not clips:
        raise DatasetError(
            f"--queue {folder}: no clips found; expected videos ({', '.join(VIDEO_SUFFIXES)}) or a dataset root "
            "with annotated_data/"
        )
    if len(clips) > MAX_CLIPS:
        raise DatasetError(f"--queue {folder}: {len(clips)} clips; split it into queues of at most {MAX_CLIPS}")
    return clips


def _episodes(root: Path) -> list[QueueClip]:
    episodes = EpisodesService(root)
    clips = []
    for episode in episodes.list():
        video = episodes.video(episode)
        clips.append(
            QueueClip(
                kind="dataset_episode",
                ref=episode.ref,
                task=episodes.task(episode),
                source=episodes.source(episode),
                video=video if video.is_file() else None,
                truth=episodes.annotation(episode),
                root=root,
            )
        )
    return clips


def _tasks_file(root: Path) -> dict[str, str]:
    path = root / TASKS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f'{path}: expected JSON {{"clip.mp4": "task"}}: {exc}') from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise DatasetError(f"{path}: expected a JSON object of clip path -> task text")
    return {k.strip(): v.strip() for k, v in data.items()}


def _sidecar_task(video: Path) -> str:
    sidecar = video.with_suffix(".txt")
    if not sidecar.is_file():
        return ""
    try:
        lines = sidecar.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return next((line.strip() for line in lines if line.strip()), "")


def _videos(root: Path) -> list[QueueClip]:
    tasks = _tasks_file(root)
    clips = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if path.is_symlink() or not path.is_file():  # a link could lead the page outside the served folder
            continue
        ref = rel.as_posix()
        task = _sidecar_task(path) or tasks.get(ref, "")
        clips.append(QueueClip(kind="upload", ref=ref, task=task, source=path, video=path))
    return clips
