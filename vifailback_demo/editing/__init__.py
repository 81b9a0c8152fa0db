"""Symbol editing for the UI, without gradio: per-tab state, clicks (place, select-and-move), undo, the symbol
table, consistency hints.

Engine layer: pure Python on top of :mod:`vifailback_demo.core`. The UI keeps an :class:`EditorState` in
``gr.State`` and calls these functions from its handlers.
"""

from vifailback_demo.editing.consistency import consistency_warnings, order_colors_by_command
from vifailback_demo.editing.state import (
    EDITOR_TOOLS,
    MOVE_TOOL,
    SELECT_RADIUS,
    TOOLS,
    TWO_POINT_TOOLS,
    EditorState,
    clear,
    click,
    delete,
    nearest_point,
    new_state,
    selected_point,
    set_options,
    set_symbols,
    suggest_arrow_colors,
    undo,
)
from vifailback_demo.editing.table import COLUMNS, from_table, to_table

__all__ = [
    "COLUMNS",
    "EDITOR_TOOLS",
    "MOVE_TOOL",
    "SELECT_RADIUS",
    "TOOLS",
    "TWO_POINT_TOOLS",
    "EditorState",
    "clear",
    "click",
    "consistency_warnings",
    "order_colors_by_command",
    "delete",
    "from_table",
    "nearest_point",
    "new_state",
    "selected_point",
    "set_options",
    "set_symbols",
    "suggest_arrow_colors",
    "to_table",
    "undo",
]
