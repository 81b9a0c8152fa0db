"""Live robot tab handlers: connect, start/pause/resume/stop, a timer that shows the robot, review a proposal.

All robot work happens in :class:`~vifailback_demo.services.live.LiveService` (one robot per app process); the
session keeps plain data: the proposal it loaded into its editor (``RunState`` + ``EditorState``) and that
proposal's key (``RUN_ID:checkN``). The timer shows the head camera and the state a few times a second; when a new
proposal arrives it fills the editor once and then leaves the reviewer's edits alone. Accept and reject name the
key they were made for, so an edit is never applied to a newer proposal.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import cv2
import gradio as gr
import numpy as np

from vifailback_demo.live.base import Correction
from vifailback_demo.services import Services
from vifailback_demo.services.live import LiveSettings, LiveSnapshot
from vifailback_demo.ui import views
from vifailback_demo.ui.errors import warn
from vifailback_demo.ui.inputs import fraction, whole
from vifailback_demo.ui.state import RunState, clamp_keyframe

CONTROL_OUTPUTS = ("live_status",)
#: What a timer tick (and every control) refreshes.
POLL_OUTPUTS = (
    "live_status",
    "live_camera",
    "live_proposal_box",
    "live_proposal",
    "live_seen",
    "run_state",
    "editor_state",
    "gallery",
    "keyframe",
    "failure_type",
    "low_level",
    "editor_image",
    "symbols",
    "warnings",
    "hint",
)
DECISION_OUTPUTS = ("live_decision", "live_proposal_box")
POLL_S = 0.4  # the timer's period: ~2.5 camera frames a second, light enough for many open pages
CAMERA_SIDE = 360


def camera_html(frame: np.ndarray | None) -> str:
    """The head frame as an inline JPEG: nothing is written to disk, however long a page watches."""
    if frame is None:
        return "<div class='live-camera-empty'>no camera frame yet</div>"
    h, w = frame.shape[:2]
    scale = min(1.0, CAMERA_SIDE / max(h, w))
    if scale < 1.0:
        frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    data = base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else ""
    return f"<img id='live-frame' alt='head camera' src='data:image/jpeg;base64,{data}' style='max-width:100%'>"


def status_markdown(snap: LiveSnapshot, refusal: str | None) -> str:
    if refusal is not None:
        return f"**Robot control is off.** {html.escape(refusal)}"
    if not snap.connected:
        return "**Not connected.** Choose a robot and a policy, then Connect."
    st = snap.status
    last = st.get("last_check") or {}
    check = (
        f"last check #{last.get('index')}: {last.get('status', '?')} in {float(last.get('latency_s') or 0):.2f} s"
        if last
        else "no check yet"
    )
    lines = [
        f"**State: `{snap.state}`** · run `{st.get('run_id') or '-'}` · {snap.description}",
        f"chunks {st.get('chunks', 0)} · actions {st.get('steps', 0)} · checks {st.get('checks', 0)} · {check}"
        + (" · model busy" if st.get("check_in_flight") else ""),
    ]
    if st.get("error"):
        lines.append(f"**Error:** {html.escape(str(st['error']))}")
    elif st.get("reason") and snap.state in ("stopped", "error"):
        lines.append(f"Ended: {html.escape(str(st['reason']))}")
    if snap.records:
        lines.append(f"Stored as correction records: {', '.join(map(str, snap.records))} (Corrections tab)")
    return "  \n".join(lines)


class LiveHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.live = services.live

    # --- connection and control ------------------------------------------------------------------------------
    def _status(self) -> dict[str, Any]:
        return {"live_status": status_markdown(self.live.snapshot(), self.live.refusal())}

    def watch(self) -> dict[str, Any]:
        """The timer runs while a robot is connected (chained after every control; not an API output)."""
        return {"live_timer": gr.Timer(active=self.live.connected)}

    def connect(self, robot: str, policy: str, diagnoser: str, failure_rate: Any, seed: Any) -> dict[str, Any]:
        settings = LiveSettings(
            robot=(robot or "").strip() or "sim",
            policy=(policy or "").strip() or "builtin",
            diagnoser=diagnoser,
            failure_rate=fraction(failure_rate, "failure rate"),
            seed=whole(seed, "seed", 0, 2**31 - 1),
        )
        self.live.connect(settings)
        return self._status()

    def disconnect(self) -> dict[str, Any]:
        self.live.disconnect()
        return {**self._status(), "live_proposal_box": gr.update(visible=False)}

    def start(self, task: str | None, every: Any) -> dict[str, Any]:
        self.live.start(task or "", whole(every, "check every (chunks)", 1, 100))
        return self._status()

    def pause(self) -> dict[str, Any]:
        self.live.pause()
        return self._status()

    def resume(self) -> dict[str, Any]:
        self.live.resume()
        return self._status()

    def stop(self) -> dict[str, Any]:
        self.live.stop()
        return self._status()

    def tab_opened(self) -> dict[str, Any]:
        """The state as the tab opens (``watch`` then starts the timer if connected: a page that never connects
        sends no polls)."""
        return self._status()

    # --- the timer -------------------------------------------------------------------------------------------
    def poll(self, seen: str) -> dict[str, Any]:
        snap = self.live.snapshot()
        out: dict[str, Any] = {
            "live_status": status_markdown(snap, self.live.refusal()),
            "live_camera": camera_html(snap.frame),
        }
        key = self.live.proposal_key()
        if key and key != seen and snap.proposal is not None:
            out.update(self._load(snap, key))
        elif not key and seen:
            out.update({"live_seen": "", "live_proposal_box": gr.update(visible=False)})
        return out

    def _load(self, snap: LiveSnapshot, key: str) -> dict[str, Any]:
        """Fill the editor with a new proposal (once per proposal; later ticks leave the edits alone)."""
        p = snap.proposal
        d = p.diagnosis
        run = RunState(
            frames=list(p.frames),
            task=snap.status.get("task") or "",
            mode="correction",
            source_kind="live_run",
            source_ref=key,
            raw_text=d.raw_text,
            diagnosis=d.to_dict(),
        )
        k = clamp_keyframe(d.keyframe, len(run.frames)) or len(run.frames)
        editor = views.editor_for(run, k, d.symbols)
        return {
            "live_seen": key,
            "live_proposal_box": gr.update(visible=True),
            "live_proposal": (
                f"**Proposal {key}** after {p.latency_s:.2f} s: the model says the robot failed "
                f"({d.failure_type or 'type not given'}) at frame {k} of {len(run.frames)}. The robot is held. "
                "Edit the command and symbols if needed, then Accept & execute, or Reject & resume."
            ),
            "run_state": run,
            "editor_state": editor,
            "gallery": views.gallery_items(run, k),
            "keyframe": k,
            "failure_type": d.failure_type,
            "low_level": d.low_level or "",
            "editor_image": views.editor_image(run, editor, k),
            "symbols": views.symbols_table(editor),
            "warnings": views.warnings_markdown(d.low_level, editor),
            "hint": views.pending_hint(editor),
        }

    # --- decisions -------------------------------------------------------------------------------------------
    def accept(
        self,
        seen: str,
        run: RunState,
        editor: Any,
        keyframe: Any,
        failure_type: str | None,
        low_level: str | None,
        executor: str,
        request: gr.Request,
    ) -> dict[str, Any]:
        if not seen or run is None or not run.ready or editor is None:
            warn("There is no proposal to accept yet.")
            return {}
        k = whole(keyframe, "keyframe", 1, len(run.frames))
        correction = Correction(
            low_level=(low_level or "").strip(),
            symbols=list(editor.symbols),
            keyframe=k,
            keyframe_image=run.frames[k - 1],
            failure_type=failure_type or None,
            executor=executor,
            reviewer=getattr(request, "username", None) or "",
        )
        rid = self.live.accept(correction, expected=seen)
        return {
            "live_decision": f"Accepted {seen}: executing with {executor.upper()}; stored as correction record {rid}.",
            "live_proposal_box": gr.update(visible=False),
        }

    def reject(self, seen: str, request: gr.Request) -> dict[str, Any]:
        if not seen:
            warn("There is no proposal to reject.")
            return {}
        rid = self.live.reject(getattr(request, "username", None) or "", expected=seen)
        return {
            "live_decision": f"Rejected {seen}: the policy resumes; stored as correction record {rid}.",
            "live_proposal_box": gr.update(visible=False),
        }
