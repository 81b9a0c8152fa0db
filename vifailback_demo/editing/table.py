"""Symbols <-> an editable table (one row per symbol) for precise edits in the UI's dataframe.

Columns: ``type, x1, y1, x2, y2, colors, direction/text``. Coordinates are normalised 0-1000 integers. ``x2, y2``
are the end point of a straight arrow or the second point of a dual crosshair, blank otherwise; ``colors`` is a
comma-separated list for straight arrows; ``direction/text`` holds the rotation direction or ON/OFF. Cells arrive
from the UI as strings, numbers or None; completely blank rows are ignored (dataframe widgets append them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    Symbol,
    check_colors,
    check_direction,
    check_state_text,
    check_symbols,
    coordinate_problem,
    points_of,
    safe_repr,
)
from vifailback_demo.errors import SymbolError

COLUMNS: tuple[str, ...] = ("type", "x1", "y1", "x2", "y2", "colors", "direction/text")
_TYPE_ALIASES = {
    "move_arrow": "move_arrow",
    "straight arrow": "move_arrow",
    "arrow": "move_arrow",
    "rotate_arrow": "rotate_arrow",
    "rotating arrow": "rotate_arrow",
    "crosshair": "crosshair",
    "dual_crosshair": "dual_crosshair",
    "dual crosshair": "dual_crosshair",
    "state": "state",
    "on": "state",
    "off": "state",
    "lock": "lock",
    "rewind": "rewind",
}


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def to_table(symbols: Sequence[Symbol]) -> list[list[Any]]:
    """One row per symbol, in order (the row index is the index :func:`~.state.delete` takes)."""
    rows = []
    for symbol in symbols:
        pts = points_of(symbol)
        (x1, y1), second = pts[0], pts[1] if len(pts) > 1 else ("", "")
        colors = ",".join(symbol.colors) if isinstance(symbol, StraightArrow) else ""
        if isinstance(symbol, RotatingArrow):
            extra = symbol.direction
        elif isinstance(symbol, GripperState):
            extra = symbol.text
        else:
            extra = ""
        rows.append([symbol.kind, x1, y1, second[0], second[1], colors, extra])
    return rows


def _coord(value: Any, column: str) -> int | float:
    if _blank(value):
        raise SymbolError(f"{column}: expected a number in 0..1000, the cell is empty")
    if isinstance(value, bool):
        raise SymbolError(f"{column}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        number = value
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise SymbolError(f"{column}: expected a number in 0..1000, got {safe_repr(value, 30)}") from None
    # coordinate_problem compares before any float conversion: math.isfinite(10**400) raises OverflowError.
    problem = coordinate_problem(number)
    if problem is not None:
        raise SymbolError(f"{column}: expected a number in 0..1000, {problem}")
    return int(round(number))


def _cells(row: Any) -> list[Any]:
    if isinstance(row, dict):
        return [row.get(c) for c in COLUMNS]
    if not isinstance(row, (list, tuple)):
        raise SymbolError(f"expected a list of {len(COLUMNS)} cells ({', '.join(COLUMNS)}), got {type(row).__name__}")
    cells = list(row) + [None] * (len(COLUMNS) - len(row))
    return cells[: len(COLUMNS)]


def _row_symbol(cells: list[Any]) -> Symbol:
    kind_text, x1, y1, x2, y2, colors, extra = cells
    kind = _TYPE_ALIASES.get(str(kind_text or "").strip().lower())
    if kind is None:
        raise SymbolError(f"type: expected one of {sorted(set(_TYPE_ALIASES.values()))}, got {kind_text!r:.30}")
    p1 = (_coord(x1, "x1"), _coord(y1, "y1"))
    if kind == "move_arrow":
        color_list = [c for c in str(colors or "green").replace(";", ",").split(",") if c.strip()]
        return StraightArrow(p1, (_coord(x2, "x2"), _coord(y2, "y2")), check_colors(color_list))
    if kind == "dual_crosshair":
        return DualCrosshair(p1, (_coord(x2, "x2"), _coord(y2, "y2")))
    if kind == "rotate_arrow":
        return RotatingArrow(p1, check_direction(extra if not _blank(extra) else "clockwise"))
    if kind == "state":
        text = extra if not _blank(extra) else str(kind_text)
        return GripperState(p1, check_state_text(text))
    return {"crosshair": Crosshair, "lock": Lock, "rewind": Rewind}[kind](p1)


def from_table(rows: Sequence[Any]) -> list[Symbol]:
    """Symbols from table rows; the first bad row raises :class:`SymbolError` naming it (1-based)."""
    symbols = []
    for number, row in enumerate(rows or [], start=1):
        cells = _cells(row)
        if all(_blank(c) for c in cells):
            continue
        try:
            symbol = _row_symbol(cells)
            check_symbols([symbol])
        except SymbolError as exc:
            message = str(exc).removeprefix("symbol 1: ")
            raise SymbolError(f"table row {number}: {message}") from None
        symbols.append(symbol)
    return symbols
