"""The editable symbol table: round trip, blank rows, clear errors naming the row."""

from __future__ import annotations

import pytest

from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
)
from vifailback_demo.editing import COLUMNS, from_table, to_table
from vifailback_demo.errors import SymbolError

ALL = [
    StraightArrow((602, 179), (689, 325), ("green", "red")),
    RotatingArrow((550, 179), "clockwise"),
    Crosshair((1, 2)),
    DualCrosshair((806, 196), (789, 317)),
    GripperState((10, 20), "OFF"),
    Lock((0, 1000)),
    Rewind((500, 500)),
]


def test_round_trip_all_seven_types():
    rows = to_table(ALL)
    assert len(rows) == 7 and all(len(r) == len(COLUMNS) for r in rows)
    assert rows[0] == ["move_arrow", 602, 179, 689, 325, "green,red", ""]
    assert rows[2] == ["crosshair", 1, 2, "", "", "", ""]
    assert from_table(rows) == ALL


def test_ui_strings_and_blank_rows():
    rows = [
        ["move_arrow", "602", "179.4", "689", "325", "Green, RED", None],
        ["", "", "", "", "", "", ""],
        ["state", "10", "20", None, None, None, "off"],
        {"type": "rotate_arrow", "x1": 5, "y1": 6, "direction/text": "counterclockwise"},
        ["lock", 3, 4],
    ]
    assert from_table(rows) == [
        StraightArrow((602, 179), (689, 325), ("green", "red")),
        GripperState((10, 20), "OFF"),
        RotatingArrow((5, 6), "counter-clockwise"),
        Lock((3, 4)),
    ]


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (["star", 1, 1, "", "", "", ""], "type"),
        (["crosshair", "abc", 1, "", "", "", ""], "x1"),
        (["move_arrow", 1, 1, "", "", "red", ""], "x2"),
        (["move_arrow", 1, 1, 5, 5, "pink", ""], "colour"),
        (["rotate_arrow", 1, 1, "", "", "", "sideways"], "rotation"),
        (["crosshair", 1001, 1, "", "", "", ""], "outside"),
        (["state", 1, 1, "", "", "", "MAYBE"], "ON"),
    ],
)
def test_invalid_rows_name_the_row(row, words):
    rows = [["lock", 1, 1, "", "", "", ""], row]
    with pytest.raises(SymbolError, match=rf"table row 2: .*{words}"):
        from_table(rows)


@pytest.mark.parametrize("cell", [10**400, "1" + "0" * 500, "1e999", float("nan"), -(10**30)])
def test_a_huge_or_non_finite_cell_is_a_one_line_symbol_error(cell):
    with pytest.raises(SymbolError, match=r"^table row 1: x1: expected a number in 0\.\.1000") as info:
        from_table([["crosshair", cell, 500, "", "", "", ""]])
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
