"""Review queue handlers: load the next clip (already diagnosed), move on after a decision, give clips back.

The browser session (``request.session_hash``) owns the clips it claimed; the reviewer is the logged-in user or
the name typed once in this visit. A decision stores the record and marks the clip done in one transaction
(``decision_handlers.py``), and the same event loads the next clip, which the pre-fetch worker has usually
diagnosed while the last one was being edited.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from vifailback_demo.editing import EditorState
from vifailback_demo.services import Services
from vifailback_demo.services.review_queue import QUEUE_MODE, PreparedClip
from vifailback_demo.store.queue import QueueProgress
from vifailback_demo.ui import views
from vifailback_demo.ui.decision_handlers import DecisionHandlers, who_decides
from vifailback_demo.ui.errors import warn
from vifailback_demo.ui.run_handlers import RUN_OUTPUTS, RunHandlers, cleared
from vifailback_demo.ui.state import PickedSource, RunState

QUEUE_OUTPUTS = ("video", "task", "picked", "mode", *RUN_OUTPUTS, "queue_progress")


def progress_markdown(p: QueueProgress, position: int | None, who: str) -> str:
    """ "Clip 17 of 240" and where the queue stands (decided, held by reviewers, still open)."""
    mine = p.by_reviewer.get(who, 0)
    where = f"**Clip {position} of {p.total}**" if position else f"**{p.total} clips**"
    return f"{where} · {p.done} reviewed · {p.claimed} in progress · {p.open} open · {who or 'you'}: {mine} decided"


class QueueHandlers:
    def __init__(self, services: Services, run: RunHandlers, decisions: DecisionHandlers) -> None:
        self.s, self.run, self.decisions = services, run, decisions

    def next_clip(self, reviewer: str | None, run: RunState | None, request: gr.Request = None) -> dict[str, Any]:
        queue = self.s.queue
        if queue is None:
            raise gr.Error("No review queue: start the app with --queue DIR (a folder of videos or a dataset).")
        who = who_decides(request, reviewer)
        if not who:
            raise gr.Error("Type your name first (Your name): it is kept with every decision you make.", duration=10)
        if run is not None and run.queue_item is not None and run.record_id is None:
            warn("Decide this clip first (Accept, Reject or Skip): it stays yours until you do.")
            return {}
        owner = getattr(request, "session_hash", None) or f"api-{who}"
        prepared = queue.next(owner, who)
        if prepared is None:
            p = queue.progress()
            return {
                "queue_progress": progress_markdown(p, None, who) + "  \nNothing left for you: every clip is "
                "reviewed or held by another reviewer.",
                "run_state": RunState(),
                "editor_state": None,
                **cleared(),
            }
        return {
            **self._loaded(prepared),
            "queue_progress": progress_markdown(queue.progress(), prepared.item.position, who),
        }

    # --- decisions that move on ----------------------------------------------------------------------------------
    # With a queue, the page's Accept / Reject / Skip are these: the decision (decision_handlers.py) and the next
    # clip in ONE event, so moving on costs one round trip to the server, not two.

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
        fields = (success, keyframe, failure_type, subtasks, failed_subtask, reason, low_level, high_level)
        out = self.decisions.accept(run, editor, *fields, reviewer, confirmed, request)
        return self._then_next(out, reviewer, request)

    def reject(self, run: RunState, reviewer: str | None = "", request: gr.Request = None) -> dict[str, Any]:
        return self._then_next(self.decisions.reject(run, reviewer, request), reviewer, request)

    def skip(self, run: RunState, reviewer: str | None = "", request: gr.Request = None) -> dict[str, Any]:
        return self._then_next(self.decisions.skip(run, reviewer, request), reviewer, request)

    def _then_next(self, decided: dict[str, Any], reviewer: str | None, request: gr.Request | None) -> dict[str, Any]:
        """A stored queue-clip decision makes way for the next clip; anything else (a non-queue clip, Accept asking
        first, "already stored") goes out as it is."""
        run = decided.get("run_state")
        if run is None or run.queue_item is None or run.record_id is None:
            return decided
        try:
            loaded = self.next_clip(reviewer, run, request)
        except gr.Error as exc:  # the decision is stored: show it, say why nothing follows, never lose the state
            warn(f"Stored, but the next clip could not be loaded: {exc.message}")
            return decided
        loaded["decision_out"] = f"Previous clip: {decided.get('decision_out', '')}"
        return {**decided, **loaded}

    def leave(self, request: gr.Request = None) -> None:
        """The tab closed: the clips this session held go back to the queue at once (not after the lease)."""
        if self.s.queue is not None and request is not None and request.session_hash:
            self.s.queue.release(request.session_hash)

    def _loaded(self, prepared: PreparedClip) -> dict[str, Any]:
        item, clip = prepared.item, prepared.clip
        task = item.task or (clip.task if clip else "")
        picked = PickedSource("queue", item.source_ref, item.id)
        head = {
            "video": str(clip.video) if clip and clip.video else None,
            "task": task,
            "picked": picked,
            "mode": QUEUE_MODE,
        }
        if prepared.sampled is None or prepared.diagnosis is None:
            run = RunState(source_kind=item.source_kind, source_ref=item.source_ref, task=task, queue_item=item.id)
            if prepared.sampled is not None:
                run.frames, run.timestamps_s = prepared.sampled.frames, list(prepared.sampled.timestamps_s)
            return {
                **head,
                **cleared(),
                "summary": f"Queue clip `{item.source_ref}`: {prepared.error or 'not diagnosed'}.",
                "reasoning": "",
                "gallery": views.gallery_items(run, None) if run.ready else [],
                "editor_image": None,
                "run_state": run,
                "editor_state": None,
                **({"skip": gr.Button(interactive=True)} if run.ready else {}),
            }
        run = RunState(
            frames=prepared.sampled.frames,
            timestamps_s=list(prepared.sampled.timestamps_s),
            task=task,
            mode=QUEUE_MODE,
            source_kind=item.source_kind,
            source_ref=item.source_ref,
            subtasks=list(clip.truth.subtasks) if clip and clip.truth else [],
            queue_item=item.id,
        )
        truth = clip.truth if clip and self.s.diagnosis.is_scripted else None
        out = {**head, **self.run.result(run, prepared.diagnosis, truth)}
        took = f"diagnosed in {prepared.prepare_s:.1f} s"
        out["summary"] = f"Queue clip `{item.source_ref}` ({took})  \n" + out["summary"]
        if clip and clip.truth is not None:
            out["summary"] += "  \n" + views.truth_markdown(clip.truth)
        return out
