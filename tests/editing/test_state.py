"""Editor state: clicks build symbols in normalised coordinates; undo, clear, delete; tool options."""

from __future__ import annotations

import copy

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
from vifailback_demo.editing import (
    EditorState,
    clear,
    click,
    delete,
    new_state,
    set_options,
    suggest_arrow_colors,
    undo,
)
from vifailback_demo.errors import SymbolError


@pytest.fixture
def state() -> EditorState:
    return new_state(640, 480)


def test_arrow_needs_start_then_end(state):
    s1 = click(state, "move_arrow", 64, 48)
    assert s1.symbols == () and s1.pending == (100, 100)
    s2 = click(s1, "move_arrow", 320, 240)
    assert s2.pending is None
    assert s2.symbols == (StraightArrow((100, 100), (500, 500), ("green", "red")),)
    assert state.symbols == () and s1.pending == (100, 100)  # inputs are never mutated


def test_chosen_arrow_colours_win_over_the_drag(state):
    s = set_options(state, arrow_colors=["blue"])
    s = click(click(s, "move_arrow", 100, 100), "move_arrow", 100, 20)
    assert s.symbols[0].colors == ("blue",)
    auto = click(click(set_options(s, arrow_colors=None), "move_arrow", 10, 10), "move_arrow", 300, 12)
    assert auto.symbols[-1].colors == ("green",)


def test_single_point_tools_place_at_once(state):
    s = set_options(state, rotation="counter-clockwise", state_text="OFF")
    for tool in ("rotate_arrow", "crosshair", "state", "lock", "rewind"):
        s = click(s, tool, 320, 120)
    assert s.symbols == (
        RotatingArrow((500, 250), "counter-clockwise"),
        Crosshair((500, 250)),
        GripperState((500, 250), "OFF"),
        Lock((500, 250)),
        Rewind((500, 250)),
    )


def test_dual_crosshair_and_switching_tool_drops_pending(state):
    s = click(state, "dual_crosshair", 0, 0)
    s = click(s, "crosshair", 640, 480)  # another tool: the half-made dual crosshair is dropped
    assert s.pending is None and s.symbols == (Crosshair((1000, 1000)),)
    s = click(click(s, "dual_crosshair", 0, 0), "dual_crosshair", 32, 24)
    assert s.symbols[-1] == DualCrosshair((0, 0), (50, 50))


def test_undo_clear_delete(state):
    s = click(state, "lock", 10, 10)
    s = click(s, "rewind", 20, 20)
    s = click(s, "crosshair", 30, 30)
    assert len(s.symbols) == 3
    d = delete(s, 1)
    assert [type(x) for x in d.symbols] == [Lock, Crosshair]
    assert undo(d).symbols == s.symbols
    c = clear(d)
    assert c.symbols == () and undo(c).symbols == d.symbols
    assert undo(undo(undo(undo(c)))).symbols == (Lock((16, 21)),)
    assert undo(undo(undo(undo(undo(c))))).symbols == ()
    assert undo(state) == state
    pending = click(s, "move_arrow", 5, 5)
    assert undo(pending).pending is None and undo(pending).symbols == s.symbols
    with pytest.raises(SymbolError, match=r"index in 0\.\.2"):
        delete(s, 3)


def test_bad_clicks_and_options_are_clear_errors(state):
    with pytest.raises(SymbolError, match="outside the 640x480 image"):
        click(state, "lock", 700, 10)
    with pytest.raises(SymbolError, match="editor tool"):
        click(state, "pencil", 1, 1)
    with pytest.raises(SymbolError, match="colour"):
        set_options(state, arrow_colors=["purple"])
    with pytest.raises(SymbolError, match="rotation"):
        set_options(state, rotation="sideways")
    with pytest.raises(SymbolError, match="outside"):
        new_state(640, 480, [Lock((2000, 1))])


def test_state_is_plain_copyable_data(state):
    s = click(click(state, "move_arrow", 1, 2), "move_arrow", 300, 200)
    assert copy.deepcopy(s) == s


def test_suggested_colours_follow_the_larger_drag_component():
    assert suggest_arrow_colors((0, 0), (100, 0)) == ("green",)
    assert suggest_arrow_colors((0, 0), (0, -100)) == ("red",)
    assert suggest_arrow_colors((602, 179), (689, 325)) == ("red", "green")
    assert suggest_arrow_colors((0, 0), (100, 10)) == ("green",)
    assert suggest_arrow_colors((0, 0), (50, 50)) == ("green", "red")
