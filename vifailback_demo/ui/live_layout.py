"""The "Live robot" tab: connect a robot and a policy, watch the run, review a proposal in the symbol editor.

Its components live in their own ``{name: component}`` dict (the editor's names are the Diagnose tab's, see
:mod:`.editor_layout`), wired to :class:`~vifailback_demo.ui.live_handlers.LiveHandlers`. Stop is always on
screen, one click, no confirmation. A ``gr.Timer`` (active only while connected) refreshes the camera and state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.services import Services
from vifailback_demo.services.live import DIAGNOSERS, EXECUTORS
from vifailback_demo.ui.editor_handlers import EditorHandlers
from vifailback_demo.ui.editor_layout import editor_picture, symbol_tools, wire_symbol_editor
from vifailback_demo.ui.live_handlers import (
    CONTROL_OUTPUTS,
    DECISION_OUTPUTS,
    POLL_OUTPUTS,
    POLL_S,
    LiveHandlers,
    camera_html,
)
from vifailback_demo.ui.state import RunState

INTRO = (
    "The policy acts; every K action chunks the model checks the head camera. On a failure the robot holds and "
    "the proposal appears below: nothing moves until you accept it. **Stop** always works."
)
ROBOT_HELP = "sim[:TASK] · serial:PORT · rosbridge:ws://HOST:9090 · lerobot:MODULE:FACTORY"


def live_tab(services: Services, lc: dict[str, Any]) -> None:
    lc["run_state"] = gr.State(RunState())
    lc["editor_state"] = gr.State(None)
    lc["live_seen"] = gr.State("")
    lc["live_timer"] = gr.Timer(POLL_S, active=False)
    gr.Markdown(INTRO)
    with gr.Row():
        lc["live_robot"] = gr.Textbox("sim", label="Robot", info=ROBOT_HELP, scale=2)
        lc["live_policy"] = gr.Textbox("builtin", label="Policy", info="builtin (sim) or ws://HOST:PORT", scale=2)
        lc["live_diagnoser"] = gr.Radio(list(DIAGNOSERS), value=DIAGNOSERS[0], label="Diagnoser", scale=2)
        lc["live_failure_rate"] = gr.Number(1.0, label="Failure rate (built-in policy)", precision=None, scale=1)
        lc["live_seed"] = gr.Number(0, label="Seed", precision=None, scale=1)
    with gr.Row():
        lc["live_connect"] = gr.Button("Connect", variant="primary", elem_id="live-connect")
        lc["live_disconnect"] = gr.Button("Disconnect", elem_id="live-disconnect")
    refusal = services.live.refusal()
    lc["live_status"] = gr.Markdown(
        f"**Robot control is off.** {refusal}" if refusal else "**Not connected.**",
        label="Live status",
        show_label=False,
        elem_id="live-status",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            lc["live_camera"] = gr.HTML(camera_html(None), label="Head camera", elem_id="live-camera")
        with gr.Column(scale=2):
            lc["live_task"] = gr.Textbox(label="Task prompt", lines=2, placeholder="empty: the simulated robot's task")
            lc["live_every"] = gr.Number(6, label="Check every K chunks (the paper: 6)", precision=None)
            with gr.Row():
                lc["live_start"] = gr.Button("Start", variant="primary", elem_id="live-start")
                lc["live_pause"] = gr.Button("Pause", elem_id="live-pause")
                lc["live_resume"] = gr.Button("Resume", elem_id="live-resume")
            lc["live_stop"] = gr.Button("STOP", variant="stop", elem_id="live-stop", size="lg")
    with gr.Group(visible=False, elem_id="live-proposal-box") as box:
        lc["live_proposal_box"] = box
        lc["live_proposal"] = gr.Markdown(label="Proposal", show_label=False, elem_id="live-proposal")
        lc["gallery"] = gr.Gallery(
            label="Frames the model saw - click one to make it the keyframe (★, amber frame)",
            columns=8,
            height=140,
            allow_preview=False,
            object_fit="contain",
            elem_id="live-frames",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                editor_picture(lc, prefix="live-")
            with gr.Column(scale=2):
                lc["keyframe"] = gr.Number(label="Keyframe (1-based)", precision=None)
                lc["failure_type"] = gr.Dropdown(list(FAILURE_TYPES), value=None, label="Failure type")
                lc["low_level"] = gr.Textbox(label="Low-level command", lines=2, elem_id="live-low-level")
                lc["live_executor"] = gr.Radio(
                    list(EXECUTORS),
                    value="vsf",
                    label="Execute with",
                    info="vsf: the policy follows the drawn keyframe + command; pmc: symbols -> end-effector targets",
                )
        symbol_tools(lc, prefix="live-")
        with gr.Row():
            lc["live_accept"] = gr.Button("Accept & execute", variant="primary", elem_id="live-accept")
            lc["live_reject"] = gr.Button("Reject & resume", elem_id="live-reject")
    lc["live_decision"] = gr.Markdown(label="Live decision", show_label=False, elem_id="live-decision")


def named_watch(live: LiveHandlers) -> Callable[[], Any]:
    """``live.watch`` as a plain gradio function (it returns one component's update)."""

    def watch() -> Any:
        return live.watch()["live_timer"]

    return watch


def wire_live(on: Callable[..., None], lc: dict[str, Any], services: Services, tab: Any) -> None:
    live = LiveHandlers(services)
    robot_kw = {"concurrency_id": "robot", "concurrency_limit": 1}  # one robot: its controls one at a time
    settings = ["live_robot", "live_policy", "live_diagnoser", "live_failure_rate", "live_seed"]
    watch = {"fn": named_watch(live), "inputs": None, "outputs": [lc["live_timer"]], "api_visibility": "private"}
    on(lc["live_connect"].click, live.connect, settings, CONTROL_OUTPUTS, api_name="live_connect", **robot_kw).then(
        **watch
    )
    on(
        lc["live_disconnect"].click,
        live.disconnect,
        [],
        [*CONTROL_OUTPUTS, "live_proposal_box"],
        api_name="live_disconnect",
        **robot_kw,
    ).then(**watch)
    on(
        lc["live_start"].click,
        live.start,
        ["live_task", "live_every"],
        CONTROL_OUTPUTS,
        api_name="live_start",
        **robot_kw,
    ).then(**watch)
    on(lc["live_pause"].click, live.pause, [], ["live_status"], api_name="live_pause", **robot_kw)
    on(lc["live_resume"].click, live.resume, [], ["live_status"], api_name="live_resume", **robot_kw)
    # Stop never waits behind another control: its own queue, no limit.
    on(lc["live_stop"].click, live.stop, [], ["live_status"], api_name="live_stop", concurrency_limit=None)
    on(
        lc["live_timer"].tick,
        live.poll,
        ["live_seen"],
        POLL_OUTPUTS,
        api_name="live_status",
        concurrency_limit=None,
        show_progress="hidden",
    )
    on(tab.select, live.tab_opened, [], CONTROL_OUTPUTS).then(**watch)
    decision_in = ["live_seen", "run_state", "editor_state", "keyframe", "failure_type", "low_level", "live_executor"]
    on(lc["live_accept"].click, live.accept, decision_in, DECISION_OUTPUTS, api_name="live_accept", **robot_kw)
    on(lc["live_reject"].click, live.reject, ["live_seen"], DECISION_OUTPUTS, api_name="live_reject", **robot_kw)
    wire_symbol_editor(on, lc, EditorHandlers(), api=False)
