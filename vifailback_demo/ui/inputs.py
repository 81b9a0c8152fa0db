"""Numbers typed by a person or sent by an API client, checked before anything uses them (no gradio here).

A client can send anything a JSON number or string can hold: ``10**300``, ``1e999`` (infinity), ``NaN``, ``"abc"``.
Unchecked, such a value surfaces far away as a raw Python or SQLite message ("int too large to convert to float",
"Python int too large to convert to SQLite INTEGER"). Each helper here takes the raw value and either returns a
plain ``int`` in range or raises :class:`InputError` with one line that names the field and its allowed range.
The library checks again (symbols, store); this layer only makes the first answer a clear one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vifailback_demo.errors import ViFailbackError

#: SQLite's INTEGER is a signed 64-bit number: the largest record id the store can hold.
MAX_RECORD_ID = 2**63 - 1
#: Symbol coordinates in the table are normalised to 0..1000 per axis.
COORD_MAX = 1000
#: Table columns that hold coordinates (see vifailback_demo.editing.table.COLUMNS).
COORD_COLUMNS = ("x1", "y1", "x2", "y2")
_SHOWN_CHARS = 24


class InputError(ViFailbackError, ValueError):
    """A form field or API argument is missing, not a number, or out of its range."""


def shown(value: Any) -> str:
    """A value for a message, short: a 300-digit number is named by its length, not printed."""
    text = str(value).strip() if isinstance(value, str) else repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(text) > _SHOWN_CHARS:
        return f"a {len(text.lstrip('-'))}-digit number"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_number(value: Any) -> float | int | None:
    """``value`` as a finite int or float, else None (bools, non-numbers, inf and NaN are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar from a dataframe
        return as_number(value.item())
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number in ``low..high`` (``3.0`` is 3; ``2.5``, ``1e999``, ``NaN`` and ``10**30`` are refused)."""
    number = as_number(value)
    if isinstance(number, float):
        number = int(number) if number.is_integer() else None
    if number is None or not low <= number <= high:
        got = "nothing" if blank(value) else shown(value)
        raise InputError(f"{field}: expected a whole number in {low}..{high}, got {got}")
    return number


def fraction(value: Any, field: str) -> float:
    """A number from 0 to 1 (a share, a rate)."""
    number = as_number(value)
    if number is None or not 0 <= number <= 1:
        got = "nothing" if blank(value) else shown(value)
        raise InputError(f"{field}: expected a number from 0 to 1, got {got}")
    return float(number)


def optional_whole(value: Any, field: str, low: int, high: int) -> int | None:
    return None if blank(value) else whole(value, field, low, high)


def pixel(value: Any, field: str, size: int, image: tuple[int, int]) -> float:
    """A click coordinate in ``0..size`` pixels of a ``image`` (width, height) picture."""
    number = as_number(value)
    if number is None or not 0 <= number <= size:
        got = "nothing" if blank(value) else shown(value)
        raise InputError(
            f"{field}: expected a number of pixels in 0..{size} (the keyframe is {image[0]}x{image[1]}), got {got}"
        )
    return float(number)


def record_id(value: Any) -> int:
    """A stored record's id, as the store can hold it (1..2**63-1)."""
    if blank(value):
        raise InputError("record id: give the id of a stored correction (the first column of the table)")
    return whole(value, "record id", 1, MAX_RECORD_ID)


def table_rows(rows: Sequence[Any], columns: Sequence[str]) -> list[Any]:
    """Check every coordinate cell of a symbol table (0..1000, finite) before the table is parsed.

    Other cells (type, colours, direction) are left to the editor, whose messages already name row and column.
    """
    for number, row in enumerate(rows, start=1):
        cells = [row.get(c) for c in columns] if isinstance(row, dict) else list(row or [])
        for column, cell in zip(columns, cells, strict=False):
            if column not in COORD_COLUMNS or blank(cell) or _is_nan(cell):
                continue  # blank cells: the editor says which symbols need them
            value = as_number(cell)
            if value is None or not 0 <= round(value) <= COORD_MAX:
                raise InputError(
                    f"table row {number}: {column}: expected a number in 0..{COORD_MAX}, got {shown(cell)}"
                )
    return list(rows)


def _is_nan(value: Any) -> bool:
    """A dataframe's empty cell arrives as NaN; a NaN the client typed as text is a value (and refused)."""
    return isinstance(value, float) and math.isnan(value)
