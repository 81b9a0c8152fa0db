"""The symbol editor's components and wiring, shared by the Diagnose tab and the Live robot tab.

Both tabs build the same components into their own ``{name: component}`` dict (the Live tab's element ids get a
``live-`` prefix) and wire them to the same :class:`~vifailback_demo.ui.editor_handlers.EditorHandlers`, whose
outputs are names: one editor, two places. A dict must also hold ``run_state``, ``editor_state``, ``keyframe``,
``gallery`` and ``low_level``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from vifailback_demo.editing import COLUMNS
from vifailback_demo.ui.editor_handlers import EDIT_OUTPUTS, KEYFRAME_OUTPUTS, OPTION_OUTPUTS, EditorHandlers
from vifailback_demo.ui.views import TOOL_LABELS

TOOLS = ("tool", "colors", "rotation", "state_text")


def editor_picture(c: dict[str, Any], prefix: str = "") -> None:
    """The keyframe picture (click to place or to select-and-move), previous/next keyframe buttons, the
    pending-symbol hint and the command/symbol consistency notes."""
    c["editor_image"] = gr.Image(
        label="Keyframe with symbols - click to place the chosen symbol",
        type="numpy",
        interactive=False,
        elem_id=f"{prefix}keyframe-editor",
    )
    with gr.Row():
        c["key_prev"] = gr.Button("◀ Previous keyframe", size="sm", elem_id=f"{prefix}key-prev")
        c["key_next"] = gr.Button("Next keyframe ▶", size="sm", elem_id=f"{prefix}key-next")
    c["hint"] = gr.Markdown(label="Symbol hint", show_label=False)
    c["warnings"] = gr.Markdown(label="Command and symbols check", show_label=False, elem_id=f"{prefix}consistency")


def symbol_tools(c: dict[str, Any], prefix: str = "") -> None:
    """Tool choice, place-by-numbers, undo/clear/delete, and the editable symbol table."""
    with gr.Group():
        with gr.Row():
            c["tool"] = gr.Radio(
                list(TOOL_LABELS), value="straight arrow", label="Symbol tool", elem_id=f"{prefix}tool", scale=3
            )
            c["colors"] = gr.CheckboxGroup(
                ["red", "green", "blue"], label="Arrow axes (none: suggested)", info="red x · green y · blue z"
            )
            c["rotation"] = gr.Radio(["clockwise", "counter-clockwise"], value="clockwise", label="Rotation")
            c["state_text"] = gr.Radio(["ON", "OFF"], value="ON", label="Gripper (ON = open)")
        with gr.Row():
            c["x"] = gr.Number(label="x (px)", precision=None, min_width=80)
            c["y"] = gr.Number(label="y (px)", precision=None, min_width=80)
            c["place"] = gr.Button("Place at x, y", min_width=100)
            c["undo"] = gr.Button("Undo", min_width=80, elem_id=f"{prefix}undo")
            c["clear"] = gr.Button("Clear", min_width=80)
            c["delete_row"] = gr.Number(label="Row", precision=None, min_width=80)
            c["delete"] = gr.Button("Delete row", variant="stop", min_width=100)
    c["symbols"] = gr.Dataframe(
        headers=list(COLUMNS),
        value=[],
        interactive=True,
        type="array",
        label="Symbols (0-1000 coordinates; edit a cell to move a symbol)",
        elem_id=f"{prefix}symbol-table",
    )


def wire_symbol_editor(on: Callable[..., None], c: dict[str, Any], ed: EditorHandlers, *, api: bool) -> None:
    """Connect the editor's events; ``api``: give them the public API names (the Diagnose tab only)."""

    def named(name: str) -> dict[str, str]:
        return {"api_name": name} if api else {}

    on(c["gallery"].select, ed.select_frame, ["run_state", "editor_state"], KEYFRAME_OUTPUTS)
    keyframe_in = ["run_state", "editor_state", "keyframe"]
    on(c["keyframe"].input, ed.set_keyframe, keyframe_in, KEYFRAME_OUTPUTS)
    on(c["key_prev"].click, ed.prev_keyframe, keyframe_in, KEYFRAME_OUTPUTS, **named("prev_keyframe"))
    on(c["key_next"].click, ed.next_keyframe, keyframe_in, KEYFRAME_OUTPUTS, **named("next_keyframe"))
    for name in TOOLS:
        on(c[name].input, ed.options, ["run_state", "editor_state", "keyframe", *TOOLS], OPTION_OUTPUTS)
    place_in = ["run_state", "editor_state", "keyframe", *TOOLS, "low_level"]
    on(c["editor_image"].select, ed.click_image, place_in, EDIT_OUTPUTS, api_visibility="private")
    on(c["place"].click, ed.place, [*place_in, "x", "y"], EDIT_OUTPUTS, **named("place_symbol"))
    base = ["run_state", "editor_state", "keyframe", "low_level"]
    on(c["symbols"].input, ed.table_edit, [*base, "symbols"], EDIT_OUTPUTS, **named("edit_symbols"))
    on(c["undo"].click, ed.undo, base, EDIT_OUTPUTS, **named("undo"))
    on(c["clear"].click, ed.clear, base, EDIT_OUTPUTS, **named("clear"))
    on(c["delete"].click, ed.delete, [*base, "delete_row"], EDIT_OUTPUTS, **named("delete_symbol"))
    on(c["low_level"].input, ed.command_changed, ["editor_state", "low_level"], ["warnings"])
