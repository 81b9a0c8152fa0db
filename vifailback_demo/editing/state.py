"""Per-tab symbol-editing state and the click/undo/clear/delete operations on it (no gradio here).

The UI keeps one :class:`EditorState` in ``gr.State`` and replaces it with what each function returns; the
functions never mutate their input, so a stale copy held by a slow event handler cannot be corrupted. Symbols are
stored in the model's normalised 0-1000 integer space; clicks arrive in pixels of the displayed keyframe and are
converted here (the only place the UI's pixels meet the model's space).

The ``move`` tool moves one point of a placed symbol with two clicks (select, then put): the UI's picture gives
clicks, not drags, so a drag is done as "click the point, click where it goes".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from vifailback_demo.core.symbols import (
    DIRECTIONS,
    NORMALIZED_MAX,
    STATE_TEXTS,
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Point,
    Rewind,
    RotatingArrow,
    StraightArrow,
    Symbol,
    check_colors,
    check_symbols,
    points_of,
    symbol_field_names,
)
from vifailback_demo.errors import SymbolError

#: Symbol tool names = the canonical symbol kinds.
TOOLS: tuple[str, ...] = ("move_arrow", "rotate_arrow", "crosshair", "dual_crosshair", "state", "lock", "rewind")
TWO_POINT_TOOLS: tuple[str, ...] = ("move_arrow", "dual_crosshair")
#: The select-and-move tool: first click selects a symbol's point, second click puts it there.
MOVE_TOOL = "move"
EDITOR_TOOLS: tuple[str, ...] = (*TOOLS, MOVE_TOOL)
#: How near (in the 0-1000 normalised units, straight-line distance) a click must land to select a symbol's
#: point: 60 is about 6% of the picture, easy to hit on a small screen yet tighter than the gap between most
#: symbols; the nearest point wins, and on a tie the symbol drawn last (on top).
SELECT_RADIUS = 60
MAX_UNDO = 100
#: A drag component shorter than this fraction of the longer one does not get its own colour.
MINOR_AXIS_RATIO = 0.3


def suggest_arrow_colors(start: Point, end: Point) -> tuple[str, ...]:
    """Axis colours suggested by a 2-D drag on the head-camera image, larger image component first.

    Horizontal image motion is the robot's y axis (left/right: green). Vertical image motion is ambiguous: on a
    head camera looking down at the table, "up in the image" can be forward (x, red) or upward (z, blue); this
    helper suggests red, as in the official example (an arrow drawn down-right for "right and backward"). The user
    should pick blue when the motion is vertical in the world. A component shorter than ``MINOR_AXIS_RATIO`` of
    the other gets no colour.
    """
    dx, dy = abs(end[0] - start[0]), abs(end[1] - start[1])
    if dx == 0 and dy == 0:
        return ("green",)
    parts = [(dx, "green"), (dy, "red")] if dx >= dy else [(dy, "red"), (dx, "green")]  # a tie lists green first
    return tuple(color for size, color in parts if size >= MINOR_AXIS_RATIO * parts[0][0])


@dataclass(frozen=True)
class EditorState:
    """Everything one editing tab needs; plain data, safe to keep in ``gr.State`` and to deep-copy."""

    width: int
    height: int
    symbols: tuple[Symbol, ...] = ()  # normalised 0-1000 integer coordinates
    tool: str = "move_arrow"
    pending: Point | None = None  # first click of a two-point tool (normalised)
    selected: tuple[int, str] | None = None  # move tool: (symbol index, point field name such as "start")
    arrow_colors: tuple[str, ...] | None = None  # None: suggested from the drag direction
    rotation: str = "clockwise"
    state_text: str = "ON"
    undo_stack: tuple[tuple[Symbol, ...], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.width, int) and isinstance(self.height, int) and self.width > 0 and self.height > 0):
            raise SymbolError(
                f"editor image size: expected positive integer width and height, got {self.width}x{self.height}"
            )
        if self.tool not in EDITOR_TOOLS:
            raise SymbolError(f"editor tool: expected one of {list(EDITOR_TOOLS)}, got {self.tool!r}")
        if self.selected is not None:
            index, name = self.selected
            if (
                self.tool != MOVE_TOOL
                or not 0 <= index < len(self.symbols)
                or name not in _point_names(self.symbols[index])
            ):
                raise SymbolError(f"editor selection: no point {self.selected!r} to move")
        if self.rotation not in DIRECTIONS:
            raise SymbolError(f"rotation direction: expected one of {list(DIRECTIONS)}, got {self.rotation!r}")
        if self.state_text not in STATE_TEXTS:
            raise SymbolError(f"gripper state: expected 'ON' or 'OFF', got {self.state_text!r}")
        if self.arrow_colors is not None:
            check_colors(list(self.arrow_colors))


def new_state(width: int, height: int, symbols: list[Symbol] | tuple[Symbol, ...] = ()) -> EditorState:
    """A fresh editor for a ``width`` x ``height`` keyframe, optionally starting from the model's symbols."""
    return EditorState(width=width, height=height, symbols=tuple(check_symbols(symbols)))


def _with_symbols(state: EditorState, symbols: tuple[Symbol, ...]) -> EditorState:
    undo = (*state.undo_stack, state.symbols)[-MAX_UNDO:]
    return replace(state, symbols=symbols, undo_stack=undo, pending=None, selected=None)


def _point_names(symbol: Symbol) -> tuple[str, ...]:
    """The field names holding ``symbol``'s points ("start", "end", "center", "pos", "p1", "p2").

    Every symbol type declares its point fields first (core/symbols.py), so they are the leading field names.
    """
    return symbol_field_names(type(symbol))[: len(points_of(symbol))]


def selected_point(state: EditorState) -> Point | None:
    """Where the move tool's selected point is now (normalised), or None when nothing is selected."""
    if state.selected is None:
        return None
    index, name = state.selected
    return getattr(state.symbols[index], name)


def nearest_point(symbols: tuple[Symbol, ...], point: Point, radius: float = SELECT_RADIUS) -> tuple[int, str] | None:
    """``(symbol index, point field name)`` of the symbol point nearest ``point`` within ``radius``, or None."""
    best: tuple[float, int, str] | None = None
    for index, symbol in enumerate(symbols):
        for name in _point_names(symbol):
            x, y = getattr(symbol, name)
            distance = math.hypot(x - point[0], y - point[1])
            if distance <= radius and (best is None or distance <= best[0]):  # <=: the later (top) symbol wins
                best = (distance, index, name)
    return None if best is None else best[1:]


def _move_click(state: EditorState, point: Point) -> EditorState:
    """First click: select the nearest symbol point; second click: move it there (one undo step)."""
    if state.selected is None:
        found = nearest_point(state.symbols, point)
        if found is None:
            raise SymbolError(
                f"No symbol point within {SELECT_RADIUS} of ({point[0]}, {point[1]}): "
                "click on a symbol's point to select it"
            )
        return replace(state, selected=found)
    index, name = state.selected
    symbol = state.symbols[index]
    if getattr(symbol, name) == point:  # put back where it was: just drop the selection, no undo step
        return replace(state, selected=None)
    moved = replace(symbol, **{name: point})
    first, *rest = points_of(moved)
    if rest and rest[0] == first:  # an arrow or dual crosshair with both ends on one spot shows no direction
        a, b = _point_names(moved)
        raise SymbolError(
            f"symbol {index + 1} ({moved.command}): its {a} and {b} would be the same point - the point was not moved"
        )
    symbols = (*state.symbols[:index], moved, *state.symbols[index + 1 :])
    try:
        check_symbols(symbols)  # re-validated like any human edit (a click inside the picture is always in range)
    except SymbolError as exc:
        raise SymbolError(f"{exc} - the point was not moved") from None
    return _with_symbols(state, symbols)


def _normalize_click(state: EditorState, x_px: float, y_px: float) -> Point:
    if not (0 <= x_px <= state.width and 0 <= y_px <= state.height):
        raise SymbolError(f"click ({x_px}, {y_px}) is outside the {state.width}x{state.height} image")
    return (
        int(round(x_px * NORMALIZED_MAX / state.width)),
        int(round(y_px * NORMALIZED_MAX / state.height)),
    )


def click(state: EditorState, tool: str, x_px: float, y_px: float) -> EditorState:
    """Apply one click in image pixels with ``tool``; returns the new state.

    Two-point tools (straight arrow, dual crosshair) take start then end: the first click is kept in
    ``pending``; switching tools drops it. Single-point tools place their symbol at once. The move tool selects
    the nearest symbol point (within ``SELECT_RADIUS``), then moves it to the next click; a click near no point
    or a move that leaves a symbol invalid raises :class:`SymbolError` (the state is unchanged).
    """
    if tool not in EDITOR_TOOLS:
        raise SymbolError(f"editor tool: expected one of {list(EDITOR_TOOLS)}, got {tool!r}")
    point = _normalize_click(state, x_px, y_px)
    if tool != state.tool:
        state = replace(state, tool=tool, pending=None, selected=None)
    if tool == MOVE_TOOL:
        return _move_click(state, point)
    if tool in TWO_POINT_TOOLS:
        if state.pending is None:
            return replace(state, pending=point)
        start = state.pending
        if tool == "move_arrow":
            # Judge the drag in pixels: normalised units stretch the shorter image side.
            sx, sy = state.width / NORMALIZED_MAX, state.height / NORMALIZED_MAX
            drag = ((start[0] * sx, start[1] * sy), (point[0] * sx, point[1] * sy))
            colors = state.arrow_colors or suggest_arrow_colors(*drag)
            symbol: Symbol = StraightArrow(start, point, tuple(colors))
        else:
            symbol = DualCrosshair(start, point)
        return _with_symbols(state, (*state.symbols, symbol))
    if tool == "rotate_arrow":
        symbol = RotatingArrow(point, state.rotation)
    elif tool == "state":
        symbol = GripperState(point, state.state_text)
    else:
        symbol = {"crosshair": Crosshair, "lock": Lock, "rewind": Rewind}[tool](point)
    return _with_symbols(state, (*state.symbols, symbol))


def undo(state: EditorState) -> EditorState:
    """Cancel a pending first click or a move selection, else go back one symbol change (no-op when there is
    nothing to undo)."""
    if state.pending is not None or state.selected is not None:
        return replace(state, pending=None, selected=None)
    if not state.undo_stack:
        return state
    return replace(state, symbols=state.undo_stack[-1], undo_stack=state.undo_stack[:-1])


def clear(state: EditorState) -> EditorState:
    """Remove every symbol (undoable)."""
    if not state.symbols and state.pending is None and state.selected is None:
        return state
    return _with_symbols(state, ())


def delete(state: EditorState, index: int) -> EditorState:
    """Remove the symbol at 0-based ``index`` (the table's row order); undoable."""
    if not isinstance(index, int) or not 0 <= index < len(state.symbols):
        raise SymbolError(f"delete: expected a symbol index in 0..{len(state.symbols) - 1}, got {index!r}")
    return _with_symbols(state, state.symbols[:index] + state.symbols[index + 1 :])


def set_symbols(state: EditorState, symbols: list[Symbol] | tuple[Symbol, ...]) -> EditorState:
    """Replace all symbols (e.g. after a table edit); checked for range; undoable."""
    return _with_symbols(state, tuple(check_symbols(symbols)))


def set_options(
    state: EditorState,
    *,
    tool: str | None = None,
    arrow_colors: tuple[str, ...] | list[str] | str | None = "keep",
    rotation: str | None = None,
    state_text: str | None = None,
) -> EditorState:
    """Change tool settings (validated by :class:`EditorState`); ``arrow_colors=None`` means auto."""
    changes: dict = {}
    if tool is not None and tool != state.tool:
        changes.update(tool=tool, pending=None, selected=None)
    if arrow_colors != "keep":
        changes["arrow_colors"] = tuple(check_colors(list(arrow_colors))) if arrow_colors else None
    if rotation is not None:
        changes["rotation"] = rotation
    if state_text is not None:
        changes["state_text"] = state_text
    return replace(state, **changes)
