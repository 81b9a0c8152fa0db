"""Write one episode in the official ViFailback layout, and stream JSON lists to disk.

Per episode (``<N>`` counts episodes of the same task from 0)::

    annotated_data/<task>/frames/episode_<N>_cam_high/<i>.jpg            sampled frames (0, 25, 50, ..., last)
    annotated_data/<task>/frames/episode_<N>_cam_high/<i>_avoid_keyframe.jpg, <i>_correct_keyframe.jpg
    annotated_data/<task>/frames/episode_<N>_cam_high/<i>_{avoid,correct}_keyframe_annotations.jpg  (symbols drawn)
    annotated_data/<task>/videos/episode_<N>_cam_high.mp4                every frame, H.264 yuv420p, 25 fps
    annotated_data/<task>/annotations/episode_<N>.json                   one annotation record (official schema)

Only the frames a VQA item uses are written as JPEG (what the official VQA files point to); the video has them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vifailback_demo.core.atomic import AtomicFile
from vifailback_demo.core.dataset import (
    AnnotationRecord,
    PhaseAnnotation,
    parse_frame_name,
    vqa_frame_names,
    write_json_atomic,
)
from vifailback_demo.imageio import write_image_rgb
from vifailback_demo.render import SymbolRenderer
from vifailback_demo.sim.episode import Episode
from vifailback_demo.video.writer import VideoWriter

JPEG_QUALITY = 88


def episode_dir(task_id: str, number: int) -> str:
    return f"annotated_data/{task_id}/frames/episode_{number}_cam_high"


def write_episode(
    ep: Episode, root: Path, number: int, *, video_size: tuple[int, int] | None = None
) -> AnnotationRecord:
    """Render and write ``ep`` under ``root``; returns its annotation record (also written as JSON)."""
    task_id = ep.task.task_id
    frames_rel = episode_dir(task_id, number)
    truth = ep.truth
    names = vqa_frame_names(ep.num_frames, truth.avoid_frame if truth else None, truth.correct_frame if truth else None)
    images = [f"{frames_rel}/{name}" for name in names]
    renderer = ep.renderer()
    annotated: dict[str, str] = {}
    for name, rel in zip(names, images):
        index, kind = parse_frame_name(name)
        frame = renderer.render(ep.states[index])
        write_image_rgb(root / rel, frame, quality=JPEG_QUALITY)
        if kind is not None and truth is not None:
            guide = truth.avoidance if kind == "avoid" else truth.correction
            over = SymbolRenderer().render(frame, guide.symbols, normalized=False)
            annotated[kind] = f"{frames_rel}/{index}_{kind}_keyframe_annotations.jpg"
            write_image_rgb(root / annotated[kind], over, quality=JPEG_QUALITY)
    video_rel = f"annotated_data/{task_id}/videos/episode_{number}_cam_high.mp4"
    vw, vh = video_size or (ep.camera.width, ep.camera.height)
    small = ep.renderer(vw, vh)
    with VideoWriter(root / video_rel, vw, vh, fps=25) as video:
        for state in ep.states:
            video.write(small.render(state))
    record = AnnotationRecord(
        task=ep.task.instruction,
        video=video_rel,
        failure_detection="no" if ep.success else "yes",
        images=images,
        subtasks=ep.task.subtasks,
    )
    if truth is not None:
        record.avoid_keyframe = next(i for i in images if "_avoid_keyframe" in i)
        record.correct_keyframe = next(i for i in images if "_correct_keyframe" in i)
        record.failure_subtask = str(truth.failed_subtask)
        record.failure_type = truth.failure_type
        record.avoidance = PhaseAnnotation(
            truth.avoidance.low_level, annotated["avoid"], list(truth.avoidance.symbols), truth.high_level_avoidance
        )
        record.correction = PhaseAnnotation(
            truth.correction.low_level,
            annotated["correct"],
            list(truth.correction.symbols),
            truth.high_level_correction,
        )
        record.failure_reason = truth.reason
    write_json_atomic(root / f"annotated_data/{task_id}/annotations/episode_{number}.json", record.to_dict())
    return record


class JsonListStream:
    """Writes ``[item, item, ...]`` one item at a time, byte-identical to ``json.dump(items, indent=2)`` + newline.

    Items go to a temporary file that replaces the target on :meth:`close`, so memory stays flat and readers never
    see half a list.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file = AtomicFile(self.path)  # generated data, rebuilt by a rerun: no fsync (see core.atomic)
        self._fh = self._file.open("w", encoding="utf-8")
        self.count = 0

    def add(self, item: Any) -> None:
        body = json.dumps(item, ensure_ascii=False, indent=2)
        self._fh.write(("[\n" if self.count == 0 else ",\n") + "\n".join("  " + line for line in body.split("\n")))
        self.count += 1

    def close(self) -> Path:
        self._fh.write("\n]\n" if self.count else "[]\n")
        self._fh.close()
        return self._file.commit()

    def abort(self) -> None:
        self._fh.close()
        self._file.discard()
