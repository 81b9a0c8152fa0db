"""Symbol editor handlers: choose or step the keyframe, place and move symbols by clicking, edit the table,
undo/clear/delete.

Every handler takes the per-session :class:`RunState` and :class:`EditorState` and returns new ones (the editing
functions never mutate), re-rendering the keyframe picture at once and re-checking the command against the
symbols. Clicks arrive as ``evt.index == [x, y]`` in the picture's natural pixels; :meth:`place` takes the same
two numbers, so the API and the "place at x, y" fields share one path with the mouse. With the "move point" tool
the same two numbers first select the nearest symbol point, then put it where the next click lands.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from vifailback_demo.editing import (
    COLUMNS,
    MOVE_TOOL,
    EditorState,
    clear,
    click,
    delete,
    from_table,
    order_colors_by_command,
    set_options,
    set_symbols,
    undo,
)
from vifailback_demo.ui import views
from vifailback_demo.ui.errors import USER_ERRORS, warn
from vifailback_demo.ui.inputs import as_number, pixel, shown, table_rows, whole
from vifailback_demo.ui.state import RunState, clamp_keyframe

EDIT_OUTPUTS = ("editor_image", "symbols", "warnings", "hint", "editor_state")
KEYFRAME_OUTPUTS = ("keyframe", "gallery", "editor_image")
OPTION_OUTPUTS = ("editor_state", "hint", "editor_image")


def _ready(run: RunState | None, editor: EditorState | None) -> bool:
    if run is None or not run.ready or editor is None:
        warn("Run a diagnosis first (or reopen a stored correction): there is no keyframe to edit yet.")
        return False
    return True


def _view(run: RunState, editor: EditorState, keyframe: Any, low_level: str | None) -> dict[str, Any]:
    return {
        "editor_image": views.editor_image(run, editor, keyframe),
        "symbols": views.symbols_table(editor),
        "warnings": views.warnings_markdown(low_level, editor),
        "hint": views.pending_hint(editor),
        "editor_state": editor,
    }


class EditorHandlers:
    # --- keyframe --------------------------------------------------------------------------------------------

    def select_frame(self, run: RunState, editor: EditorState, evt: gr.SelectData) -> dict[str, Any]:
        """Clicking a gallery thumbnail makes that frame the keyframe."""
        if not _ready(run, editor):
            return {}
        return self.set_keyframe(run, editor, int(evt.index) + 1)

    def set_keyframe(self, run: RunState, editor: EditorState, keyframe: Any) -> dict[str, Any]:
        if not _ready(run, editor):
            return {}
        k = clamp_keyframe(keyframe, len(run.frames))
        if k is not None and as_number(keyframe) != k:  # out of range or not whole: say what it became
            warn(f"Keyframe {shown(keyframe)} is not one of the frames 1..{len(run.frames)}: set to {k}.")
        return {
            "keyframe": k,
            "gallery": views.gallery_items(run, k),
            "editor_image": views.editor_image(run, editor, k),
        }

    def step_keyframe(self, run: RunState, editor: EditorState, keyframe: Any, step: int) -> dict[str, Any]:
        """Move the keyframe ``step`` frames on, clamped to 1..frames; with none set yet, start at frame 1."""
        if not _ready(run, editor):
            return {}
        k = clamp_keyframe(keyframe, len(run.frames))
        return self.set_keyframe(run, editor, 1 if k is None else min(max(k + step, 1), len(run.frames)))

    def prev_keyframe(self, run: RunState, editor: EditorState, keyframe: Any) -> dict[str, Any]:
        return self.step_keyframe(run, editor, keyframe, -1)

    def next_keyframe(self, run: RunState, editor: EditorState, keyframe: Any) -> dict[str, Any]:
        return self.step_keyframe(run, editor, keyframe, 1)

    # --- placing ---------------------------------------------------------------------------------------------

    def options(
        self,
        run: RunState | None,
        editor: EditorState | None,
        keyframe: Any,
        tool: str,
        colors: list[str] | None,
        rotation: str,
        state_text: str,
    ) -> dict[str, Any]:
        """Tool settings; a tool change drops a pending first point or a move selection (and its ring)."""
        if editor is None:
            return {}
        before = editor
        try:
            editor = set_options(
                editor,
                tool=views.tool_id(tool),
                arrow_colors=list(colors or []) or None,
                rotation=rotation,
                state_text=state_text,
            )
        except USER_ERRORS as exc:
            warn(str(exc))
            return {}
        out: dict[str, Any] = {"editor_state": editor, "hint": views.pending_hint(editor)}
        marked = (before.pending, before.selected) != (editor.pending, editor.selected)
        if marked and run is not None and run.ready:
            out["editor_image"] = views.editor_image(run, editor, keyframe)
        return out

    def place(
        self,
        run: RunState,
        editor: EditorState,
        keyframe: Any,
        tool: str,
        colors: list[str] | None,
        rotation: str,
        state_text: str,
        low_level: str | None,
        x: float | None,
        y: float | None,
    ) -> dict[str, Any]:
        """One click at (x, y) natural pixels with the chosen tool (two clicks for arrows and dual crosshairs;
        "move point": select a symbol's point, then move it).

        A missing, non-numeric or out-of-picture coordinate, a move-tool click near no point or a move that would
        leave a symbol invalid warns and changes nothing (``{}``: see ui/wiring.py).
        """
        if not _ready(run, editor):
            return {}
        size = (editor.width, editor.height)
        if x is None or y is None:
            warn(f"Give both x and y (pixels of the {size[0]}x{size[1]} keyframe picture).")
            return {}
        try:
            px, py = pixel(x, "x", size[0], size), pixel(y, "y", size[1], size)
            editor = set_options(
                editor,
                tool=views.tool_id(tool),
                arrow_colors=list(order_colors_by_command(colors or [], low_level)) or None,
                rotation=rotation,
                state_text=state_text,
            )
            editor = click(editor, views.tool_id(tool), px, py)
        except USER_ERRORS as exc:
            warn(str(exc) if views.tool_id(tool) == MOVE_TOOL else f"{exc} - nothing was placed.")
            return {}
        return _view(run, editor, keyframe, low_level)

    def click_image(
        self,
        run: RunState,
        editor: EditorState,
        keyframe: Any,
        tool: str,
        colors: list[str] | None,
        rotation: str,
        state_text: str,
        low_level: str | None,
        evt: gr.SelectData,
    ) -> dict[str, Any]:
        x, y = evt.index
        return self.place(run, editor, keyframe, tool, colors, rotation, state_text, low_level, x, y)

    # --- table, undo, clear, delete --------------------------------------------------------------------------

    def table_edit(
        self, run: RunState, editor: EditorState, keyframe: Any, low_level: str | None, rows: Any
    ) -> dict[str, Any]:
        if not _ready(run, editor):
            return {}
        try:
            editor = set_symbols(editor, from_table(table_rows(_rows(rows), COLUMNS)))
        except USER_ERRORS as exc:
            warn(f"{exc} - the table was restored.")
        return _view(run, editor, keyframe, low_level)

    def undo(self, run: RunState, editor: EditorState, keyframe: Any, low_level: str | None) -> dict[str, Any]:
        return _view(run, undo(editor), keyframe, low_level) if _ready(run, editor) else {}

    def clear(self, run: RunState, editor: EditorState, keyframe: Any, low_level: str | None) -> dict[str, Any]:
        return _view(run, clear(editor), keyframe, low_level) if _ready(run, editor) else {}

    def delete(
        self, run: RunState, editor: EditorState, keyframe: Any, low_level: str | None, row: Any
    ) -> dict[str, Any]:
        """Delete table row ``row`` (1-based, as shown); a bad row warns and changes nothing."""
        if not _ready(run, editor):
            return {}
        if not editor.symbols:
            warn("There are no symbols to delete.")
            return {}
        try:
            editor = delete(editor, whole(row, "row", 1, len(editor.symbols)) - 1)
        except USER_ERRORS as exc:
            warn(f"delete: {exc} - nothing was deleted.")
            return {}
        return _view(run, editor, keyframe, low_level)

    def command_changed(self, editor: EditorState | None, low_level: str | None) -> dict[str, Any]:
        return {"warnings": views.warnings_markdown(low_level, editor)}


def _rows(value: Any) -> list[Any]:
    """Dataframe values arrive as a list of rows, a {"data": ...} dict or a pandas frame."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.get("data") or [])
    if hasattr(value, "values") and hasattr(value, "columns"):
        return value.values.tolist()
    return list(value)
