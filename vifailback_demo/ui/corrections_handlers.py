"""Corrections tab handlers: browse and filter stored corrections (table + keyframe thumbnails), reopen one for
re-editing (button, row click or thumbnail click), mark reviewed, counts, reviewer agreement, and exports (ShareGPT
or Hugging Face datasets, as a zip download; Hub push only with HF_TOKEN, for a logged-in user or to the operator's
fixed repo: see services/hub.py)."""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr

from vifailback_demo.errors import ViFailbackError
from vifailback_demo.services import Services, hub
from vifailback_demo.store import Source
from vifailback_demo.ui import compare, inputs, views
from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error, warn
from vifailback_demo.ui.run_handlers import RUN_OUTPUTS, decide_buttons
from vifailback_demo.ui.state import PickedSource, RunState

ANY = "any"
# dict.fromkeys: one list without repeats, whichever of these names RUN_OUTPUTS comes to hold itself.
OPEN_OUTPUTS = tuple(dict.fromkeys((*RUN_OUTPUTS, "tabs", "task", "video", "picked")))
#: A click on a table row or a thumbnail opens the record and shows its id in the Record id box.
SELECT_OUTPUTS = (*OPEN_OUTPUTS, "record_id")
#: What a refresh of the listing fills (the table, counts, thumbnails and the reviewer agreement).
LIST_OUTPUTS = ("records", "stats", "record_thumbs", "thumb_ids", "agreement_md", "agreement_table")
_SOURCE_NAMES = {"example": "example", "dataset_episode": "dataset episode", "upload": "upload", "live_run": "live run"}
log = logging.getLogger(__name__)


def _filter(value: str | None) -> str | None:
    return None if not value or value == ANY else value


def _record_id(value: Any) -> int:
    """1..2**63-1 (what SQLite holds); 10**30, 1e999 or NaN get a line naming the field and range (ui/inputs.py)."""
    try:
        return inputs.record_id(value)
    except inputs.InputError as exc:
        raise as_gr_error(exc) from None


def _source_text(source: Source) -> str:
    return f"{_SOURCE_NAMES.get(source.kind, source.kind)} {source.ref}".strip()


def _export_error(exc: Exception, repo: str | None) -> gr.Error:
    """A failed push is named as one (not reported as a server bug); as_gr_error makes it one line, paths cut."""
    token = os.environ.get("HF_TOKEN", "").strip()
    text = str(exc).replace(token, "***") if token else str(exc)  # a raw error may echo a request with the token
    if isinstance(exc, ViFailbackError) or repo is None:
        return as_gr_error(ValueError(text))
    # The Hub or the network failing (dropped connection, non-JSON reply): name it; the traceback stays in the log.
    log.warning("Hub push to %s failed", repo, exc_info=exc)
    return as_gr_error(ValueError(f"Hub push to {repo} failed ({type(exc).__name__}): {text.strip() or 'no details'}"))


class CorrectionsHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services

    def refresh(
        self, decision: str | None, review: str | None, failure_type: str | None, search: str | None
    ) -> dict[str, Any]:
        """The table, its keyframe thumbnails, the counts and the reviewer agreement (all LIST_OUTPUTS)."""
        try:
            page = self.s.corrections.page(
                decision=_filter(decision),
                review_status=_filter(review),
                failure_type=_filter(failure_type),
                search=search,
            )
            thumbs = self.s.corrections.keyframe_thumbnails(page.records)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        shown = f"Showing {len(page.records)} of {page.total} matching records.  \n"
        return {
            "records": self.s.corrections.rows(page.records),
            "stats": shown + self.s.corrections.stats_markdown(),
            "record_thumbs": [(thumb, caption) for _, thumb, caption in thumbs],
            "thumb_ids": [rid for rid, _, _ in thumbs],
            **self.agreement(),
        }

    def agreement(self) -> dict[str, Any]:
        try:
            report = self.s.corrections.agreement()
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        return {"agreement_md": report.markdown(), "agreement_table": report.rows()}

    def open_row(self, evt: gr.SelectData) -> dict[str, Any]:
        """A click on a table row opens that record (its id is the row's first cell, whichever cell was hit)."""
        row = getattr(evt, "row_value", None)
        if not row:
            raise gr.Error("Click a row of the table to open that record.", duration=8)
        return self.open(row[0])

    def open_thumb(self, ids: list[int] | None, evt: gr.SelectData) -> dict[str, Any]:
        """A click on a keyframe thumbnail opens its record (ids kept in the order the gallery shows them)."""
        index = evt.index if isinstance(evt.index, int) else -1
        if not ids or not 0 <= index < len(ids):
            raise gr.Error("That thumbnail is no longer listed: press Refresh.", duration=8)
        return self.open(ids[index])

    def open(self, record_id: Any) -> dict[str, Any]:
        """Reopen and show the id in the Record id box (what Mark reviewed then acts on)."""
        return {**self.reopen(record_id), "record_id": _record_id(record_id)}

    def reopen(self, record_id: Any) -> dict[str, Any]:
        """Load a stored record into the editor; the next accept re-edits it (a new revision)."""
        rid = _record_id(record_id)
        try:
            record = self.s.corrections.get(rid)
            frames = self.s.corrections.frames(record)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        final = record.final
        run = RunState(
            frames=frames,
            timestamps_s=[],
            task=record.task,
            mode=record.mode,
            source_kind=record.source.kind,
            source_ref=record.source.ref,
            raw_text=record.model_output or "",
            diagnosis=record.model_diagnosis,
            subtasks=list(final.subtasks) if final else [],
            record_id=record.id,
            decision=record.decision,
        )
        diag = record.model_diagnosis or {}
        keyframe = final.keyframe if final else diag.get("keyframe")
        symbols = final.symbol_objects() if final else []
        editor = views.editor_for(run, keyframe, symbols)
        low = (final.low_level if final else diag.get("low_level")) or ""
        picked, clip = self._source_clip(record.source.kind, record.source.ref)
        success = "Successful" if (final.success if final else diag.get("success")) else "Failed"
        failure_type = (final.failure_type if final else diag.get("failure_type")) or None
        human = compare.human_fields(editor, success, keyframe, failure_type, low)
        return {
            "tabs": gr.Tabs(selected="diagnose"),
            "reasoning": run.raw_text,
            "summary": (
                f"Reopened correction **#{record.id}** ({record.decision}, {record.review_status}, revision "
                f"{record.revision}) - task: {record.task} - source: {_source_text(record.source)}. "
                "Edit and press Accept to store a new revision."
            ),
            "task": record.task,
            "video": clip,
            "picked": picked,
            "gallery": views.gallery_items(run, keyframe),
            "editor_image": views.editor_image(run, editor, keyframe),
            "symbols": views.symbols_table(editor),
            "warnings": views.warnings_markdown(low, editor),
            "hint": "",
            "decision_out": "",
            "send_out": "",
            **decide_buttons(True),
            "vqa": None,
            "run_state": run,
            "editor_state": editor,
            "success": success,
            "keyframe": keyframe,
            "failure_type": failure_type,
            "subtasks": "\n".join(run.subtasks),
            "failed_subtask": final.failed_subtask if final else None,
            "reason": (final.failure_reason if final else "") or "",
            "low_level": low,
            "high_level": (final.high_level if final else "") or "",
            "model_image": compare.model_picture(run),
            "compare": compare.compare_html(run, human),
            "confirm_box": gr.Column(visible=False),
        }

    def _source_clip(self, kind: str, ref: str) -> tuple[PickedSource, str | None]:
        """The pick and the clip to show again for a bundled example or dataset episode; an upload or a live run
        kept only its frames, so nothing is shown (and a gone example or episode is not an error: the frames are
        stored)."""
        try:
            if kind == "example":
                return PickedSource(kind, ref), str(self.s.examples.get(ref).clip)
            if kind == "dataset_episode":
                video = self.s.episodes.video(self.s.episodes.get(ref))
                return PickedSource(kind, ref), str(video) if video.is_file() else None
        except USER_ERRORS as exc:
            log.info("reopen: the source %s %r is not available any more (%s)", kind, ref, exc)
        return PickedSource(), None

    def mark_reviewed(
        self, record_id: Any, decision: str | None, review: str | None, failure_type: str | None, search: str | None
    ) -> dict[str, Any]:
        rid = _record_id(record_id)
        try:
            self.s.corrections.mark_reviewed(rid)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        return {**self.refresh(decision, review, failure_type, search), "export_out": f"Marked #{rid} reviewed."}

    def export(
        self,
        fmt: str,
        reviewed_only: bool,
        failure_type: str | None,
        hub_repo: str | None,
        request: gr.Request = None,
    ) -> dict[str, Any]:
        cfg, user = self.s.config, getattr(request, "username", None)
        try:  # checked before any work: a client that may not push changes nothing
            push = hub.push_target(hub_repo, auth=bool(cfg.auth), username=user, fixed_repo=cfg.hub_repo)
        except ValueError as exc:
            raise as_gr_error(exc) from None
        push, why_not = hub.usable_target(push, fmt, fixed=cfg.hub_repo is not None)
        if why_not:
            warn(why_not)
        try:
            path, result = self.s.corrections.export_zip(
                fmt, reviewed_only=bool(reviewed_only), failure_type=_filter(failure_type), push_to_hub=push
            )
        except Exception as exc:
            if push is None and not isinstance(exc, USER_ERRORS):
                raise  # a bug, not a Hub failure: ui/wiring.py logs it and shows a fixed line
            raise _export_error(exc, push) from None
        if result.pushed_to:
            log.info("Pushed an export to the Hub repo %s (user: %s)", result.pushed_to, user or "anonymous")
        tags = ", ".join(f"{k}: {v}" for k, v in sorted(result.by_tag.items())) or "none"
        pushed = f" Pushed to `{result.pushed_to}` (private)." if result.pushed_to else ""
        return {
            "export_file": str(path),
            "export_out": (
                f"Exported {result.records} accepted records as {result.vqa_pairs} VQA pairs ({fmt}); "
                f"{result.images} images. By tag: {tags}.{pushed}"
            ),
        }
