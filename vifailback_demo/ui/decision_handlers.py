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

from vifailback_demo.editing import EditorState, consistency_warnings
from vifailback_demo.services import Draft, Services
from vifailback_demo.ui import views
from vifailback_demo.ui.errors import USER_ERRORS, as_gr_error, warn
from vifailback_demo.ui.state import RunState

DECISION_OUTPUTS = ("decision_out", "vqa", "run_state", "confirm_box")


def who_decides(request: gr.Request | None, reviewer: str | None) -> str:
    """The logged-in user's name, else the name typed in this browser visit (the queue's "Your name"), else ""."""
    user = (getattr(request, "username", None) or "") if request is not None else ""
    return user or (reviewer or "").strip()[:200]


def _hidden_confirm() -> dict[str, Any]:
    return {"confirm_box": gr.Column(visible=False)}


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
        reviewer: str | None = "",
        confirmed: bool = False,
        request: gr.Request = None,
    ) -> dict[str, Any]:
        """Store the human's version; while the command and the symbols disagree, ask first (``confirmed``)."""
        if run is None or not run.ready:
            raise gr.Error("Nothing to accept: run a diagnosis first.", duration=8)
        who = who_decides(request, reviewer)
        try:
            final = views.final_from_fields(
                run, editor, success, keyframe, failure_type, subtasks, failed_subtask, reason, low_level, high_level
            )
            disagree = consistency_warnings(low_level, list(final.symbol_objects())) if not final.success else []
            if disagree and not confirmed:  # nothing stored: the box under the buttons offers Accept anyway / Cancel
                lines = "\n".join(f"- {w}" for w in disagree)
                text = f"**Not stored yet: the command and the symbols disagree.** Accept anyway?\n{lines}"
                return {"confirm_box": gr.Column(visible=True), "decision_out": text}
            if run.record_id is not None:
                record = self.s.corrections.update(run.record_id, final, who=who)
                message = f"Updated correction **#{record.id}** (revision {record.revision})."
            else:
                also = self._queue_hook(run, who, "accepted")
                record_id = self.s.corrections.decide(_draft(run), "accepted", final, who=who, also=also)
                run.record_id, message = record_id, f"Accepted: stored as correction **#{record_id}**."
            run.decision = "accepted"
            pairs = self.s.corrections.vqa_pairs(run.record_id)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        message += f" {len(pairs)} VQA training pairs derived (tags below)."
        return {"decision_out": message, "vqa": _vqa_view(pairs), "run_state": run, **_hidden_confirm()}

    def cancel_accept(self) -> dict[str, Any]:
        return {**_hidden_confirm(), "decision_out": "Not accepted: edit the command or the symbols, then Accept."}

    def _queue_hook(self, run: RunState, who: str, decision: str) -> Any:
        """For a review-queue clip: mark it done in the transaction that stores its decision."""
        if run.queue_item is None or self.s.queue is None:
            return None
        return self.s.queue.completer(run.queue_item, who, decision)

    def _other(self, run: RunState, decision: str, reviewer: str | None, request: gr.Request | None) -> dict[str, Any]:
        if run is None or not run.ready:
            raise gr.Error(f"Nothing to {decision[:-2]}: run a diagnosis first.", duration=8)
        if run.record_id is not None:  # {} = every output keeps its value (ui/wiring.py sends gr.skip())
            warn(f"This run is already stored as correction #{run.record_id} ({run.decision}); nothing changed.")
            return {}
        try:
            who = who_decides(request, reviewer)
            also = self._queue_hook(run, who, decision)
            record_id = self.s.corrections.decide(_draft(run), decision, None, who=who, also=also)
        except USER_ERRORS as exc:
            raise as_gr_error(exc) from None
        run.record_id, run.decision = record_id, decision
        message = f"Recorded as **{decision}** (correction #{record_id})."
        return {"decision_out": message, "vqa": None, "run_state": run, **_hidden_confirm()}

    def reject(self, run: RunState, reviewer: str | None = "", request: gr.Request = None) -> dict[str, Any]:
        return self._other(run, "rejected", reviewer, request)

    def skip(self, run: RunState, reviewer: str | None = "", request: gr.Request = None) -> dict[str, Any]:
        return self._other(run, "skipped", reviewer, request)

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
