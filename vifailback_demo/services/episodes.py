"""Episodes of an operator-configured ViFailback dataset root (``--dataset-root``), for a dropdown.

Visitors pick from the list; they never type a path. An episode is ``<task>/episode_<N>`` with a head-camera
frames folder or video under ``annotated_data/``; its task instruction comes from the annotation record
(``annotated_data/<task>/annotations/episode_<N>.json``) when there is one, else from the task folder name.
Every path is built with :func:`resolve_in_root`, so nothing outside the root is ever read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vifailback_demo.core.dataset import AnnotationRecord, read_json, resolve_in_root
from vifailback_demo.errors import DatasetError, ViFailbackError

_EPISODE_RE = re.compile(r"^episode_(\d+)_cam_high(?:\.mp4)?$")
MAX_EPISODES = 5000


@dataclass(frozen=True)
class Episode:
    task_id: str
    number: int

    @property
    def ref(self) -> str:
        return f"{self.task_id}/episode_{self.number}"


class EpisodesService:
    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root).resolve() if root else None
        self._episodes: list[Episode] | None = None

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def list(self) -> list[Episode]:
        if self._episodes is not None:
            return self._episodes
        found: set[Episode] = set()
        data = self.root / "annotated_data" if self.root else None
        if data is not None and data.is_dir():
            for task_dir in sorted(p for p in data.iterdir() if p.is_dir() and not p.is_symlink()):
                for sub in ("frames", "videos"):
                    folder = task_dir / sub
                    if not folder.is_dir():
                        continue
                    for item in folder.iterdir():
                        m = _EPISODE_RE.match(item.name)
                        if m and len(found) < MAX_EPISODES:
                            found.add(Episode(task_dir.name, int(m.group(1))))
        self._episodes = sorted(found, key=lambda e: (e.task_id, e.number))
        return self._episodes

    def refs(self) -> list[str]:
        return [e.ref for e in self.list()]

    def get(self, ref: str) -> Episode:
        """Only refs from :meth:`list` are accepted: a visitor cannot name an arbitrary path."""
        for episode in self.list():
            if episode.ref == ref:
                return episode
        raise DatasetError(f"no episode {ref!r:.80} in the configured dataset; pick one from the list")

    def source(self, episode: Episode) -> Path:
        """The frames folder if present (exact frames), else the video."""
        assert self.root is not None
        frames = resolve_in_root(
            self.root, f"annotated_data/{episode.task_id}/frames/episode_{episode.number}_cam_high", what="frames"
        )
        if frames.is_dir():
            return frames
        return self.video(episode)

    def video(self, episode: Episode) -> Path:
        assert self.root is not None
        return resolve_in_root(
            self.root, f"annotated_data/{episode.task_id}/videos/episode_{episode.number}_cam_high.mp4", what="video"
        )

    def annotation(self, episode: Episode) -> AnnotationRecord | None:
        assert self.root is not None
        path = resolve_in_root(
            self.root, f"annotated_data/{episode.task_id}/annotations/episode_{episode.number}.json", what="record"
        )
        if not path.is_file():
            return None
        try:
            return AnnotationRecord.from_dict(read_json(path))
        except ViFailbackError:
            return None

    def task(self, episode: Episode) -> str:
        record = self.annotation(episode)
        if record is not None:
            return record.task
        return episode.task_id.replace("_", " ").capitalize() + "."
