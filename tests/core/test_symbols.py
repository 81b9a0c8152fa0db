"""Symbols: round trips (property tests), strict and lenient parsing, validation, coordinate conversion."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings

from tests.core.strategies import symbol_lists
from vifailback_demo.core.symbol_codec import (
    format_visual_prompts,
    parse_symbol_line,
    parse_visual_prompts,
    symbol_from_code,
    symbol_to_text,
    symbols_from_code,
    symbols_to_code,
)
from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    check_symbols,
    points_of,
    to_normalized,
    to_pixels,
)
from vifailback_demo.errors import SymbolError


@settings(max_examples=400, deadline=None)
@given(symbol_lists)
def test_text_round_trip_is_identity(symbols):
    text = format_visual_prompts(symbols)
    parsed, problems = parse_visual_prompts(text, check_range=False)
    assert parsed == symbols
    assert problems == []
    # the number types survive too (int stays int, float stays float): 1 == 1.0 would hide a change
    for a, b in zip(parsed, symbols):
        assert [type(c) for p in points_of(a) for c in p] == [type(c) for p in points_of(b) for c in p]


@settings(max_examples=400, deadline=None)
@given(symbol_lists)
def test_code_round_trip_is_identity_through_json(symbols):
    encoded = json.dumps(symbols_to_code(symbols))
    assert symbols_from_code(json.loads(encoded)) == symbols


def test_official_lines_parse_with_written_coordinates():
    line = "Draw Straight Arrow: {'start_point': [602, 179], 'end_point': [689, 325], 'color': ['green', 'red']}"
    assert parse_symbol_line(line) == StraightArrow((602, 179), (689, 325), ("green", "red"))
    assert parse_symbol_line("Draw Rotating Arrow: {'center': [550, 179], 'direction': 'clockwise'}") == RotatingArrow(
        (550, 179), "clockwise"
    )
    assert parse_symbol_line("Draw Dual Crosshair: {'start_point': [806, 196], 'end_point': [789, 317]}") == (
        DualCrosshair((806, 196), (789, 317))
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("draw crosshair: {'position': [1, 2]}", Crosshair((1, 2))),
        ("DRAW   CROSSHAIR :{'position':[1,2]}", Crosshair((1, 2))),
        ("Draw ON: {'position': [10.5, 20.25]}", GripperState((10.5, 20.25), "ON")),
        ("Draw off: {'position': [3, 4]}", GripperState((3, 4), "OFF")),
        ("Draw Lock: {'position': [5, 6]}\"", Lock((5, 6))),  # text after the last } (a closing quote)
        ("Draw Rewind: {'position': [7, 8]}\",\n", Rewind((7, 8))),
        ("- Draw Lock: {'position': [5, 6]}", Lock((5, 6))),
        ("Draw Crosshair {'position': [1, 2]}", Crosshair((1, 2))),
        (
            "Draw Straight Arrow: {'start_point': [1, 1], 'end_point': [9, 9], 'color': 'Blue'}",
            StraightArrow((1, 1), (9, 9), ("blue",)),
        ),
        (
            'Draw Rotating Arrow: {"center": [5, 5], "direction": "Counter-Clockwise"}',
            RotatingArrow((5, 5), "counter-clockwise"),
        ),
    ],
)
def test_lenient_spellings(line, expected):
    assert parse_symbol_line(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Draw Crosshair: [1, 2]", "expected a {'key': value} dict"),
        ("just words", "expected 'Draw <Symbol>"),
        ("Draw Sparkles: {'position': [1, 2]}", "unknown command"),
        ("Draw Straight Arrow: {'start_point': [1, 2], 'end_point': [3, 4], 'color': ['purple']}", "arrow colour"),
        ("Draw Rotating Arrow: {'center': [1, 2], 'direction': 'sideways'}", "rotation direction"),
        ("Draw Crosshair: {'pos': [1, 2]}", "expected key 'position'"),
        ("Draw Crosshair: {'position': [1, 'a']}", "expected a point"),
        ("Draw Crosshair: {'position': [True, 2]}", "expected a point"),
        ("Draw Crosshair: {'position': [1, 2]", "literal"),
        ("Draw Crosshair: " + "[" * 5000, "characters long"),
    ],
)
def test_strict_errors_name_what_was_expected(line, message):
    with pytest.raises(SymbolError, match=re.escape(message)):
        parse_symbol_line(line)


def test_lenient_parse_collects_problems_and_keeps_good_lines():
    text = (
        "Draw Crosshair: {'position': [100, 200]}\\n"  # escaped newline between lines
        "Draw Sparkles: {'position': [1, 2]}\n"
        "Draw Lock: {'position': [1200, 5]}\n"
        "not a command\n"
        "Draw Straight Arrow: {'start_point': [1, 2], 'end_point': [3, 4], 'color': ['pink']}"
    )
    symbols, problems = parse_visual_prompts(text)
    assert symbols == [Crosshair((100, 200)), Lock((1200, 5))]
    joined = "\n".join(problems)
    assert "line 2 skipped" in joined and "unknown command" in joined
    assert "line 3" in joined and "outside [0, 1000]" in joined
    assert "line 4 skipped" in joined and "line 5 skipped" in joined
    assert len(problems) == 4


def test_code_forms_official_and_legacy():
    assert symbol_from_code({"type": "state", "pos": [1, 2], "text": "OFF"}) == GripperState((1, 2), "OFF")
    legacy = {"type": "rotate_arrow", "start": [10, 20], "end": [31, 41], "direction": "counter-clockwise"}
    assert symbol_from_code(legacy) == RotatingArrow((20, 30), "counter-clockwise")
    assert symbol_from_code({"type": "rotate_arrow", "center": [1, 2]}) == RotatingArrow((1, 2), "clockwise")
    with pytest.raises(SymbolError, match="unexpected keys"):
        symbol_from_code({"type": "lock", "pos": [1, 2], "colour": "red"})
    assert symbol_from_code({"type": "lock", "pos": [1, 2], "note": "x"}, allow_extra=True) == Lock((1, 2))
    with pytest.raises(SymbolError, match="symbol type"):
        symbol_from_code({"type": "circle", "pos": [1, 2]})
    with pytest.raises(SymbolError, match="missing keys"):
        symbol_from_code({"type": "dual_crosshair", "p1": [1, 2]})
    with pytest.raises(SymbolError, match="symbol 2"):
        symbols_from_code([{"type": "lock", "pos": [1, 2]}, {"type": "state", "pos": [1, 2], "text": "HALF"}])


def test_check_symbols_rejects_out_of_range_human_input():
    assert check_symbols([Crosshair((0, 1000))]) == [Crosshair((0, 1000))]
    with pytest.raises(SymbolError, match=r"symbol 2: .*outside \[0, 1000\]"):
        check_symbols([Lock((1, 1)), DualCrosshair((5, 5), (5, 1001))])
    with pytest.raises(SymbolError, match=r"outside \[0, 640\] x \[0, 480\]"):
        check_symbols([Crosshair((641, 10))], width=640, height=480)


def test_coordinate_conversion():
    s = StraightArrow((500, 250), (1000, 0), ("red",))
    px = to_pixels(s, 640, 480)
    assert px == StraightArrow((320.0, 120.0), (640.0, 0.0), ("red",))
    assert to_pixels(s, 641, 481, as_int=True) == StraightArrow((320, 120), (641, 0), ("red",))
    assert to_normalized(px, 640, 480) == StraightArrow((500, 250), (1000, 0), ("red",))
    with pytest.raises(SymbolError, match="positive"):
        to_normalized(px, 0, 480)


def test_text_form_is_the_official_syntax():
    assert symbol_to_text(StraightArrow((602, 179), (689, 325), ("green", "red"))) == (
        "Draw Straight Arrow: {'start_point': [602, 179], 'end_point': [689, 325], 'color': ['green', 'red']}"
    )
    assert symbol_to_text(GripperState((1, 2), "OFF")) == "Draw OFF: {'position': [1, 2]}"
    assert symbol_to_text(Rewind((1.5, 2))) == "Draw Rewind: {'position': [1.5, 2]}"


@pytest.mark.parametrize(
    ("symbol", "needle"),
    [
        (StraightArrow((1, 1), (2, 2), ("Red",)), "arrow colours"),
        (StraightArrow((1, 1), (2, 2), ()), "non-empty"),
        (RotatingArrow((1, 1), "cw"), "rotation direction"),
        (GripperState((1, 1), "on"), "gripper state"),
        (Crosshair((float("nan"), 1)), "finite"),
        ("crosshair", "7 symbol types"),
    ],
)
def test_hand_built_symbols_are_validated(symbol, needle):
    with pytest.raises(SymbolError, match=needle):
        check_symbols([symbol])
