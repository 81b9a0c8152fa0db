"""Corrections tab handlers: browse and filter stored corrections, reopen one for re-editing, mark reviewed,
counts, and exports (ShareGPT or Hugging Face datasets, as a zip download; Hub push only with HF_TOKEN, for a
logged-in user or to the operator's fixed repo: see services/hub.py)."""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr

from vifailback_demo.errors import ViFailbackError
from vifailback_demo.services import Services, hub
from vifailback_demo.ui import inputs, views
from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error, warn
from vifailback_demo.ui.run_handlers import RUN_OUTPUTS, decide_buttons
from vifailback_demo.ui.state import RunState

ANY = "any"
OPEN_OUTPUTS = (*RUN_OUTPUTS, "tabs")
log = logging.getLogger(__name__)


def _filter(value: str | None) -> str | None:
    return None if not value or value == ANY else value


def _record_id(value: Any) -> int:
    """1..2**63-1 (what SQLite holds); 10**30, 1e999 or NaN get a line naming the field and range (ui/inputs.py)."""
    try:
        return inputs.record_id(value)
    except inputs.InputError as exc:
        raise as_gr_error(exc) from None


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
        try:
            rows, total = self.s.corrections.table(
                decision=_filter(decision),
                review_status=_filter(review),
                failure_type=_filter(failure_type),
                search=search,
            )
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        shown = f"Showing {len(rows)} of {total} matching records.  \n"
        return {"records": rows, "stats": shown + self.s.corrections.stats_markdown()}

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
        return {
            "tabs": gr.Tabs(selected="diagnose"),
            "reasoning": run.raw_text,
            "summary": (
                f"Reopened correction **#{record.id}** ({record.decision}, {record.review_status}, revision "
                f"{record.revision}) - task: {record.task}. Edit and press Accept to store a new revision."
            ),
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
            "success": "Successful" if (final.success if final else diag.get("success")) else "Failed",
            "keyframe": keyframe,
            "failure_type": (final.failure_type if final else diag.get("failure_type")) or None,
            "subtasks": "\n".join(run.subtasks),
            "failed_subtask": final.failed_subtask if final else None,
            "reason": (final.failure_reason if final else "") or "",
            "low_level": low,
            "high_level": (final.high_level if final else "") or "",
        }

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
