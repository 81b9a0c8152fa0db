"""Accept / Reject / Skip and "Send to VLA" handlers.

Accept stores the model's raw output, the human's final version, the frames and the source, and shows the record
id and the VQA pairs derived from it. A second accept of the same run (or of a reopened record) re-edits that
record (a new revision) instead of adding a duplicate. The store checks everything before writing, so a refused
accept stores nothing. Send writes the accepted correction to the outbox folder, for a policy runtime outside the app
(the Live robot tab drives a connected robot itself).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from vifailback_demo.editing import EditorState
from vifailback_demo.services import Draft, Services
from vifailback_demo.ui import views
from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error, warn
from vifailback_demo.ui.state import RunState

DECISION_OUTPUTS = ("decision_out", "vqa", "run_state")


def _who(request: gr.Request | None) -> str:
    return (getattr(request, "username", None) or "") if request is not None else ""


def _draft(run: RunState) -> Draft:
    return Draft(
        task=run.task,
        mode=run.mode,
        frames=run.frames,
        source_kind=run.source_kind,
        source_ref=run.source_ref,
        model_output=run.raw_text,
        model_diagnosis=run.diagnosis,
    )


def _vqa_view(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compact: tag, question kind and answer (the full records are in the export)."""
    out = []
    for pair in pairs:
        answer = pair.get("answer") or pair["messages"][-1]["content"]
        item: dict[str, Any] = {"tag": pair.get("tag"), "answer": answer}
        if pair.get("options"):
            item["options"] = pair["options"]
        out.append(item)
    return out


class DecisionHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services

    def accept(
        self,
        run: RunState,
        editor: EditorState,
        success: str,
        keyframe: Any,
        failure_type: str | None,
        subtasks: str | None,
        failed_subtask: Any,
        reason: str | None,
        low_level: str | None,
        high_level: str | None,
        request: gr.Request = None,
    ) -> dict[str, Any]:
        if run is None or not run.ready:
            raise gr.Error("Nothing to accept: run a diagnosis first.", duration=8)
        try:
            final = views.final_from_fields(
                run, editor, success, keyframe, failure_type, subtasks, failed_subtask, reason, low_level, high_level
            )
            if run.record_id is not None:
                record = self.s.corrections.update(run.record_id, final, who=_who(request))
                message = f"Updated correction **#{record.id}** (revision {record.revision})."
            else:
                record_id = self.s.corrections.decide(_draft(run), "accepted", final, who=_who(request))
                run.record_id, message = record_id, f"Accepted: stored as correction **#{record_id}**."
            run.decision = "accepted"
            pairs = self.s.corrections.vqa_pairs(run.record_id)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        message += f" {len(pairs)} VQA training pairs derived (tags below)."
        return {"decision_out": message, "vqa": _vqa_view(pairs), "run_state": run}

    def _other(self, run: RunState, decision: str, request: gr.Request | None) -> dict[str, Any]:
        if run is None or not run.ready:
            raise gr.Error(f"Nothing to {decision[:-2]}: run a diagnosis first.", duration=8)
        if run.record_id is not None:  # {} = every output keeps its value (ui/wiring.py sends gr.skip())
            warn(f"This run is already stored as correction #{run.record_id} ({run.decision}); nothing changed.")
            return {}
        try:
            record_id = self.s.corrections.decide(_draft(run), decision, None, who=_who(request))
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        run.record_id, run.decision = record_id, decision
        return {"decision_out": f"Recorded as **{decision}** (correction #{record_id}).", "vqa": None, "run_state": run}

    def reject(self, run: RunState, request: gr.Request = None) -> dict[str, Any]:
        return self._other(run, "rejected", request)

    def skip(self, run: RunState, request: gr.Request = None) -> dict[str, Any]:
        return self._other(run, "skipped", request)

    def send(self, run: RunState) -> dict[str, Any]:
        if run is None or run.record_id is None or run.decision != "accepted":
            raise gr.Error("Accept the correction first: only accepted corrections are sent.", duration=8)
        try:
            record = self.s.corrections.get(run.record_id)
            final = record.final
            frame = run.frame(final.keyframe if final else None)
            js, png = self.s.outbox.send(record, frame)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        # File names only: where the server keeps its data directory is not the client's business.
        return {
            "send_out": (
                f"Written to the outbox: `{js.name}` and `{png.name}` (in `outbox/` under the server's data "
                "directory), for a policy runtime polling that folder (JSON: command, guidance, symbols; PNG: the "
                "overlay). To correct a connected robot directly, use the Live robot tab."
            )
        }
