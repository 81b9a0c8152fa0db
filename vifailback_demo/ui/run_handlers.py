"""Diagnose tab handlers: pick a source (example, dataset episode, upload/webcam), run, show the result.

``run`` is a generator: it reports progress stages through ``gr.Progress`` and streams the model's reasoning into
a textbox while it is generated, then fills the result (gallery, fields, keyframe editor). Bad input raises
``gr.Error`` with the library's message; nothing is stored by a run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from vifailback_demo.core.dataset import AnnotationRecord
from vifailback_demo.diagnosis.result import Diagnosis
from vifailback_demo.errors import DatasetError
from vifailback_demo.services import Services, Stage
from vifailback_demo.services.queue_source import QueueClip
from vifailback_demo.services.truth import truth_answer
from vifailback_demo.ui import compare, views
from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error
from vifailback_demo.ui.state import PickedSource, RunState

#: Outputs of a run, by name (see :mod:`vifailback_demo.ui.layout`).
RESULT_FIELDS = (
    "success",
    "keyframe",
    "failure_type",
    "subtasks",
    "failed_subtask",
    "reason",
    "low_level",
    "high_level",
)
RUN_OUTPUTS = (
    "reasoning",
    "summary",
    "gallery",
    "editor_image",
    "symbols",
    "warnings",
    "hint",
    "decision_out",
    "vqa",
    "run_state",
    "editor_state",
    *RESULT_FIELDS,
    "send_out",
    *(DECIDE_BUTTONS := ("accept", "reject", "skip", "send")),
    "model_image",
    "compare",
    "confirm_box",
)
#: What picking another clip resets: the last clip's messages go, and there is nothing to decide until a run.
PICK_RESETS = ("decision_out", "send_out", *DECIDE_BUTTONS, "confirm_box")
STREAM_EVERY_S = 0.05


def decide_buttons(enabled: bool) -> dict[str, Any]:
    """Accept / Reject / Skip / Send are clickable only while there is a diagnosis (or reopened record) to decide."""
    return {name: gr.Button(interactive=enabled) for name in DECIDE_BUTTONS}


def cleared() -> dict[str, Any]:
    return {"decision_out": "", "send_out": "", **decide_buttons(False), "confirm_box": gr.Column(visible=False)}


def same_content(a: Path, b: Path) -> bool:
    """Two files with the same bytes (sizes first: clips are small, and a different size settles it)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    except OSError:
        return False


class RunHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services

    # --- picking a source ------------------------------------------------------------------------------------

    def pick_example(self, label: str | None) -> dict[str, Any]:
        if not label:
            return {"picked": PickedSource()}
        try:
            example = self.s.examples.get(label)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        return {
            "video": str(example.clip),
            "task": example.task,
            "picked": PickedSource("example", example.name),
            **cleared(),
        }

    def pick_episode(self, ref: str | None) -> dict[str, Any]:
        if not ref:
            return {"picked": PickedSource()}
        try:
            episode = self.s.episodes.get(ref)
            video = self.s.episodes.video(episode)
            task = self.s.episodes.task(episode)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        out: dict[str, Any] = {"task": task, "picked": PickedSource("dataset_episode", episode.ref), **cleared()}
        out["video"] = str(video) if video.is_file() else None
        return out

    def uploaded(self) -> dict[str, Any]:
        """A visitor's own clip replaces any picked example or episode."""
        return {"picked": PickedSource(), "example": None, "episode": None, **cleared()}

    def _picked_still_shown(self, video: str | None, picked: PickedSource) -> bool:
        """Whether the clip given to the run is the picked example's / episode's (gradio hands over a copy).

        A client may pick an example and then send another video (the API does not clear the pick the way the
        page's upload event does): the video it sends wins, compared by content, not by path.
        """
        if picked.kind == "upload" or not video:
            return picked.kind != "upload"  # no video given: the pick is all there is
        if picked.kind == "example":
            shown = self.s.examples.get(picked.ref).clip
        elif picked.kind == "queue":
            shown = self._queue_clip(picked.ref).video
            return shown is not None and same_content(Path(video), shown)
        else:
            shown = self.s.episodes.video(self.s.episodes.get(picked.ref))
        return same_content(Path(video), shown)

    def _queue_clip(self, ref: str) -> QueueClip:
        clip = self.s.queue.clips.get(ref) if self.s.queue is not None else None
        if clip is None:
            raise DatasetError(f"{ref!r:.80} is not a clip of the review queue; press Next clip")
        return clip

    def _source(self, video: str | None, picked: PickedSource) -> tuple[Path, Path | None, AnnotationRecord | None]:
        """(what to read, dataset root of its annotation, annotation) for the picked source."""
        if picked.kind == "queue":
            clip = self._queue_clip(picked.ref)
            return clip.source, clip.root, clip.truth
        if picked.kind == "example":
            example = self.s.examples.get(picked.ref)
            return example.clip, self.s.examples.root, self.s.examples.annotation(example)
        if picked.kind == "dataset_episode":
            episode = self.s.episodes.get(picked.ref)
            return self.s.episodes.source(episode), self.s.episodes.root, self.s.episodes.annotation(episode)
        return self.s.diagnosis.check_upload(video), None, None

    # --- running ---------------------------------------------------------------------------------------------

    def run(
        self,
        video: str | None,
        task: str | None,
        mode: str,
        picked: PickedSource | None,
        progress=gr.Progress(),  # noqa: B008 (gradio injects it)
    ) -> Iterator[dict[str, Any]]:
        picked = picked or PickedSource()
        if picked.kind != "upload" and not self._picked_still_shown(video, picked):
            picked = PickedSource()  # another clip was sent after the pick: diagnose that one
        task = (task or "").strip()
        if not task:
            raise gr.Error("The task instruction is empty: describe what the robot was asked to do.", duration=12)
        try:
            source, root, record = self._source(video, picked)
            progress(0.02, desc="sampling frames")
            started = time.perf_counter()
            sampled = self.s.diagnosis.sample(source)
            sampling_s = time.perf_counter() - started
        except USER_ERRORS as exc:  # named by the visitor's file name, not by where gradio stored the upload
            raise as_gr_error(exc, video) from None
        answer = None
        if record is not None and root is not None and self.s.diagnosis.is_scripted:
            answer = truth_answer(record, root, sampled.timestamps_s, mode)
        ref = picked.ref or Path(str(video)).name
        kind = self._queue_clip(ref).kind if picked.kind == "queue" else picked.kind
        run = RunState(
            frames=sampled.frames,
            timestamps_s=list(sampled.timestamps_s),
            task=task,
            mode=mode,
            source_kind=kind,
            source_ref=ref,
            subtasks=list(record.subtasks) if record else [],
            queue_item=picked.queue_item,
        )
        yield {
            "reasoning": "",
            "summary": f"Sampled {len(sampled)} frames; asking the model...",
            "vqa": None,
            **cleared(),
        }
        text, last, diagnosis = "", 0.0, None
        try:
            for item in self.s.diagnosis.run(sampled, task, mode, scripted_answer=answer):
                if isinstance(item, Stage):
                    progress(item.fraction, desc=item.detail or item.name)
                elif isinstance(item, Diagnosis):
                    diagnosis = item
                else:
                    text += item
                    if time.perf_counter() - last > STREAM_EVERY_S:
                        last = time.perf_counter()
                        yield {"reasoning": text}
        except USER_ERRORS as exc:
            raise as_gr_error(exc, video) from None
        assert diagnosis is not None
        # The frames were sampled here (to keep them for the gallery), so the diagnoser did not time it.
        diagnosis.timings["sampling"] = sampling_s
        diagnosis.timings["total"] = diagnosis.timings.get("total", 0.0) + sampling_s
        progress(0.95, desc="rendering")
        out = self.result(run, diagnosis, record if answer else None)
        if record is not None:
            out["summary"] += "  \n" + views.truth_markdown(record)
        yield out

    def result(self, run: RunState, d: Diagnosis, truth: AnnotationRecord | None = None) -> dict[str, Any]:
        run.raw_text, run.diagnosis = d.raw_text, d.to_dict()
        keyframe = d.keyframe if d.status == "failed" else None
        editor = views.editor_for(run, keyframe, d.symbols if d.status == "failed" else ())
        phase = None if truth is None else (truth.avoidance if run.mode == "avoidance" else truth.correction)
        failed_subtask = int(truth.failure_subtask) if truth and (truth.failure_subtask or "").isdigit() else None
        success = "Successful" if d.success else "Failed"
        human = compare.human_fields(editor, success, keyframe, d.failure_type, d.low_level)
        return {
            "reasoning": d.raw_text,
            "summary": views.summary_markdown(d),
            "gallery": views.gallery_items(run, keyframe),
            "editor_image": views.editor_image(run, editor, keyframe),
            "symbols": views.symbols_table(editor),
            "warnings": views.warnings_markdown(d.low_level, editor),
            "hint": "",
            "decision_out": "",
            "send_out": "",
            **decide_buttons(True),
            "vqa": None,
            "run_state": run,
            "editor_state": editor,
            "success": success,
            "keyframe": keyframe,
            "failure_type": d.failure_type,
            "subtasks": "\n".join(run.subtasks),
            "failed_subtask": failed_subtask,
            "reason": truth.failure_reason if truth else "",
            "low_level": d.low_level or "",
            "high_level": (phase.high_level or "") if phase else "",
            "model_image": compare.model_picture(run),
            "compare": compare.compare_html(run, human),
            "confirm_box": gr.Column(visible=False),
        }
