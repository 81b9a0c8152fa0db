"""The Blocks: four tabs (Diagnose & correct, Live robot, Corrections, Help) wired to the handlers.

Components live in one name -> component dict, handlers return ``{name: value}`` (see :mod:`.wiring`). Events
that a client may drive have stable ``api_name`` s (``/diagnose``, ``/place_symbol``, ``/accept``, ``/export``...).
Model events share one queue (``concurrency_id="model"``, one at a time); store events another (8 at a time: the
store is thread-safe and WAL group commit makes parallel accepts cheap).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.services import Services
from vifailback_demo.ui import compare
from vifailback_demo.ui.corrections_handlers import CorrectionsHandlers
from vifailback_demo.ui.corrections_layout import corrections_tab_contents, wire_corrections
from vifailback_demo.ui.decision_handlers import DECISION_OUTPUTS, DecisionHandlers
from vifailback_demo.ui.editor_handlers import EditorHandlers
from vifailback_demo.ui.editor_layout import editor_picture, symbol_tools, wire_symbol_editor
from vifailback_demo.ui.errors import public_text
from vifailback_demo.ui.help import HELP_MARKDOWN, legend_image
from vifailback_demo.ui.image_files import ImageFiles
from vifailback_demo.ui.live_layout import live_tab, wire_live
from vifailback_demo.ui.queue_handlers import QUEUE_OUTPUTS, QueueHandlers
from vifailback_demo.ui.run_handlers import PICK_RESETS, RESULT_FIELDS, RUN_OUTPUTS, RunHandlers
from vifailback_demo.ui.state import PickedSource, RunState
from vifailback_demo.ui.views import SUCCESS_CHOICES
from vifailback_demo.ui.wiring import named, outputs

TITLE = "ViFailback Studio"
#: Every hour, delete the copies gradio made for this app (uploads, pictures, downloads) older than a day: each
#: edit renders a new keyframe picture, and without this gradio's cache would grow for as long as the app runs.
CACHE_CLEANUP = (3600, 86400)
INTRO = (
    "# ViFailback Studio\nDiagnose a robot manipulation failure, correct it with visual symbols, and keep every "
    "correction as training data."
)


def _diagnose_tab(services: Services, c: dict[str, Any]) -> None:
    status = public_text(services.diagnosis.status(), max_chars=None)  # a model dir is named, not its path
    c["model_status"] = gr.Markdown(status, elem_id="model-status")
    _queue_row(services, c)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            c["video"] = gr.Video(sources=["upload", "webcam"], label="Robot video (head camera)", height=280)
        with gr.Column(scale=3):
            c["example"] = gr.Dropdown(
                services.examples.choices(), value=None, label="...or a bundled example", elem_id="example-picker"
            )
            c["episode"] = gr.Dropdown(
                services.episodes.refs() if services.episodes.enabled else [],
                value=None,
                label="...or an episode of the configured dataset",
                visible=services.episodes.enabled,
            )
            c["task"] = gr.Textbox(label="Task instruction", lines=2, placeholder="Use the right arm to ...")
            c["mode"] = gr.Radio(
                ["avoidance", "correction"],
                value="avoidance",
                label="Guidance",
                info="avoidance: what to do at the keyframe before the failure; correction: how to recover after it",
            )
            c["run"] = gr.Button("Run diagnosis", variant="primary", elem_id="run-button")
    c["summary"] = gr.Markdown(label="Run summary", show_label=False, elem_id="run-summary")
    c["reasoning"] = gr.Textbox(
        label="Model reasoning (streamed)", lines=5, max_lines=12, autoscroll=True, elem_id="reasoning"
    )
    c["gallery"] = gr.Gallery(
        label="Frames given to the model - click one to make it the keyframe (★, amber frame)",
        columns=10,
        height=160,  # one row of 10 thumbnails; longer clips scroll
        allow_preview=False,
        object_fit="contain",
        elem_id="frames",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            editor_picture(c)
        with gr.Column(scale=2):
            with gr.Row():
                c["success"] = gr.Radio(list(SUCCESS_CHOICES), value="Failed", label="Outcome")
                # Numbers arrive unrounded and unbounded (precision=None, no minimum): gradio's own rounding
                # crashes on 1e999/NaN with a raw message; the handlers check them (ui/inputs.py) and name the field.
                c["keyframe"] = gr.Number(label="Keyframe (1-based)", precision=None)
            c["failure_type"] = gr.Dropdown(list(FAILURE_TYPES), value=None, label="Failure type")
            with gr.Row():
                c["subtasks"] = gr.Textbox(label="Subtasks (one per line)", lines=3, scale=3)
                c["failed_subtask"] = gr.Number(label="Failed subtask", precision=None, scale=1)
            c["reason"] = gr.Textbox(label="Failure reason", lines=2)
            c["low_level"] = gr.Textbox(label="Low-level command", lines=2, elem_id="low-level")
            c["high_level"] = gr.Textbox(label="High-level guidance", lines=2)
    with (
        gr.Accordion("The model's proposal next to your version (changed fields highlighted)", open=True),
        gr.Row(equal_height=False),
    ):
        c["model_image"] = gr.Image(
            label="Model's proposal (its keyframe and symbols)",
            type="numpy",
            interactive=False,
            height=240,
            elem_id="model-proposal",
        )
        c["compare"] = gr.HTML(label="Model vs yours", elem_id="compare")
    symbol_tools(c)
    with gr.Row():
        # Clickable once there is something to decide (a run's result or a reopened record): run_handlers.
        c["accept"] = gr.Button("Accept", variant="primary", elem_id="accept", interactive=False)
        c["reject"] = gr.Button("Reject", elem_id="reject", interactive=False)
        c["skip"] = gr.Button("Skip", elem_id="skip", interactive=False)
        c["send"] = gr.Button("Send to VLA (outbox)", elem_id="send", interactive=False)
    with gr.Column(visible=False, elem_id="accept-confirm") as confirm_box:
        gr.Markdown("**The command and the symbols disagree** (listed below). Store this version anyway?")
        with gr.Row():
            c["accept_anyway"] = gr.Button("Accept anyway", variant="primary", elem_id="accept-anyway")
            c["accept_cancel"] = gr.Button("Cancel", elem_id="accept-cancel")
    c["confirm_box"] = confirm_box
    c["decision_out"] = gr.Markdown(label="Decision", show_label=False, elem_id="decision-out")
    c["send_out"] = gr.Markdown(label="Outbox", show_label=False)
    c["vqa"] = gr.JSON(label="VQA training pairs derived from this correction")


def _queue_row(services: Services, c: dict[str, Any]) -> None:
    """The review queue's controls: shown with ``--queue`` only; the name box only without a login page."""
    queue = services.queue
    with gr.Row(visible=queue is not None, elem_id="queue-row", equal_height=True):
        c["reviewer"] = gr.Textbox(
            "",  # a value, so API clients may leave it out (/accept, /reject, /skip)
            label="Your name (kept with each decision)",
            placeholder="type it once for this visit",
            visible=not services.config.auth,
            elem_id="reviewer-name",
            scale=1,
        )
        c["queue_next"] = gr.Button("Next clip in the queue", variant="primary", elem_id="queue-next", scale=1)
        intro = f"Review queue: **{queue.progress().total} clips**" if queue is not None else ""
        c["queue_progress"] = gr.Markdown(intro, elem_id="queue-progress")


def binder(c: dict[str, Any], files: ImageFiles) -> Callable[..., Any]:
    """``on(event, handler, input names, output names, **kw)`` for the components of ``c``; returns gradio's
    dependency (``.then(...)`` chains a follow-up)."""

    def on(event, fn, inputs: list[str], outs: tuple[str, ...] | list[str], **kw: Any) -> Any:
        kw.setdefault("api_visibility", "public" if "api_name" in kw else "undocumented")
        return event(named(fn, c, files), [c[n] for n in inputs], outputs(c, outs), **kw)

    return on


def _wire(demo: gr.Blocks, services: Services, c: dict[str, Any]) -> None:
    run, ed = RunHandlers(services), EditorHandlers()
    dec = DecisionHandlers(services)
    files = ImageFiles()  # pictures go out as atomically written files (see ui/image_files.py)
    on = binder(c, files)

    picked = ["video", "task", "picked", *PICK_RESETS]
    on(c["example"].input, run.pick_example, ["example"], picked, api_name="pick_example")
    on(c["episode"].input, run.pick_episode, ["episode"], picked, api_name="pick_episode")
    for event in (c["video"].upload, c["video"].stop_recording):
        on(event, run.uploaded, [], ["picked", "example", "episode", *PICK_RESETS])
    on(
        c["run"].click,
        run.run,
        ["video", "task", "mode", "picked"],
        RUN_OUTPUTS,
        api_name="diagnose",
        concurrency_id="model",
        concurrency_limit=1,
    )
    c["task"].submit(None, None, None, js="() => document.getElementById('run-button')?.click()")
    wire_symbol_editor(on, c, ed, api=True)
    compare_in = ["run_state", "editor_state", "success", "keyframe", "failure_type", "low_level"]
    for event in (c["editor_state"].change, c["keyframe"].change, *(c[n].input for n in compare_in[2:])):
        on(event, compare.refresh, compare_in, ["compare"], show_progress="hidden")
    decision_in = ["run_state", "editor_state", *RESULT_FIELDS, "reviewer"]
    store_kw = {"concurrency_id": "store", "concurrency_limit": 8}
    # With a queue, a decision also loads the next clip (one event: see ui/queue_handlers.py).
    queue = QueueHandlers(services, run, dec) if services.queue is not None else None
    decide, decided_out = (queue, QUEUE_OUTPUTS) if queue is not None else (dec, DECISION_OUTPUTS)
    # The spinner on the decision message only: covering all ~30 outputs of a queue step costs the page 0.1 s.
    decide_kw = {**store_kw, "show_progress_on": c["decision_out"]}
    on(c["accept"].click, decide.accept, [*decision_in, "confirm_no"], decided_out, api_name="accept", **decide_kw)
    on(
        c["accept_anyway"].click,
        decide.accept,
        [*decision_in, "confirm_yes"],
        decided_out,
        api_name="accept_anyway",
        **decide_kw,
    )
    on(c["reject"].click, decide.reject, ["run_state", "reviewer"], decided_out, api_name="reject", **decide_kw)
    on(c["skip"].click, decide.skip, ["run_state", "reviewer"], decided_out, api_name="skip", **decide_kw)
    on(c["accept_cancel"].click, dec.cancel_accept, [], ["confirm_box", "decision_out"])
    on(c["send"].click, dec.send, ["run_state"], ["send_out"], api_name="send_to_vla", **store_kw)
    if queue is not None:
        queue_kw = {"concurrency_id": "queue", "concurrency_limit": 8, "show_progress_on": c["queue_progress"]}
        next_in = ["reviewer", "run_state"]
        on(c["queue_next"].click, queue.next_clip, next_in, QUEUE_OUTPUTS, api_name="queue_next", **queue_kw)
        on(c["reviewer"].submit, queue.next_clip, next_in, QUEUE_OUTPUTS, **queue_kw)
        demo.unload(queue.leave)
    wire_corrections(on, c, CorrectionsHandlers(services), store_kw)


def build_demo(services: Services) -> gr.Blocks:
    c: dict[str, Any] = {}
    lc: dict[str, Any] = {}  # the Live robot tab's components (its editor reuses the Diagnose tab's names)
    with gr.Blocks(title=TITLE, delete_cache=CACHE_CLEANUP) as demo:
        c["run_state"] = gr.State(RunState())
        c["editor_state"] = gr.State(None)
        c["picked"] = gr.State(PickedSource())
        c["confirm_no"], c["confirm_yes"] = gr.State(False), gr.State(True)  # Accept asks; Accept anyway does
        gr.Markdown(INTRO)
        with gr.Tabs() as tabs:
            c["tabs"] = tabs
            with gr.Tab("Diagnose & correct", id="diagnose"):
                _diagnose_tab(services, c)
            with gr.Tab("Live robot", id="live") as live_tab_:
                live_tab(services, lc)
            with gr.Tab("Corrections", id="corrections") as corrections_tab:
                c["corrections_tab"] = corrections_tab
                corrections_tab_contents(services, c)
            with gr.Tab("Help", id="help"):
                gr.Image(legend_image(), label="The 7 symbols", interactive=False, buttons=[])
                gr.Markdown(HELP_MARKDOWN)
        _wire(demo, services, c)
        wire_live(binder(lc, ImageFiles()), lc, services, live_tab_)
    demo.components_by_name = c
    demo.live_components_by_name = lc  # tests and the browser test find components by name
    return demo
