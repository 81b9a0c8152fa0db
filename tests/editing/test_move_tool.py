"""The move tool: the first click selects the nearest symbol point, the second moves it (one undo step)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest

from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    points_of,
)
from vifailback_demo.editing import (
    MOVE_TOOL,
    SELECT_RADIUS,
    EditorState,
    click,
    nearest_point,
    new_state,
    selected_point,
    set_options,
    undo,
)
from vifailback_demo.errors import SymbolError
from vifailback_demo.ui import views
from vifailback_demo.ui.editor_handlers import EditorHandlers
from vifailback_demo.ui.state import RunState

# A 1000x1000 picture: pixels == normalised units, so the clicks below read as table coordinates.
SIZE = 1000
SYMBOLS = (
    StraightArrow((100, 100), (300, 100), ("green",)),
    RotatingArrow((500, 500), "clockwise"),
    Crosshair((800, 200)),
    DualCrosshair((200, 800), (400, 800)),
    GripperState((800, 800), "OFF"),
    Lock((600, 300)),
    Rewind((900, 500)),
)


@pytest.fixture
def state() -> EditorState:
    return set_options(new_state(SIZE, SIZE, SYMBOLS), tool=MOVE_TOOL)


def test_first_click_selects_the_nearest_point_second_click_moves_it(state):
    selected = click(state, MOVE_TOOL, 290, 110)  # nearer the arrow's end (300, 100) than its start
    assert selected.selected == (0, "end") and selected_point(selected) == (300, 100)
    assert selected.symbols == state.symbols and selected.undo_stack == state.undo_stack  # nothing moved yet
    moved = click(selected, MOVE_TOOL, 350, 450)
    assert moved.symbols[0] == StraightArrow((100, 100), (350, 450), ("green",))  # colours and start kept
    assert moved.symbols[1:] == SYMBOLS[1:] and moved.selected is None
    assert len(moved.undo_stack) == len(state.undo_stack) + 1  # one undo step
    assert state.selected is None and selected.selected == (0, "end")  # inputs are never mutated


def test_undo_restores_the_point_and_cancels_a_selection(state):
    moved = click(click(state, MOVE_TOOL, 500, 500), MOVE_TOOL, 550, 520)
    assert moved.symbols[1] == RotatingArrow((550, 520), "clockwise")
    assert undo(moved).symbols == SYMBOLS
    selected = click(state, MOVE_TOOL, 800, 210)
    assert undo(selected).selected is None and undo(selected).symbols == SYMBOLS  # undo drops the selection first


def test_a_click_far_from_every_point_is_refused_and_changes_nothing(state):
    with pytest.raises(SymbolError, match=rf"No symbol point within {SELECT_RADIUS} of \(700, 650\)"):
        click(state, MOVE_TOOL, 700, 650)
    assert click(state, MOVE_TOOL, 900, 500 + SELECT_RADIUS).selected == (6, "pos")  # the radius itself counts
    with pytest.raises(SymbolError, match="No symbol point"):
        click(state, MOVE_TOOL, 900, 500 + SELECT_RADIUS + 1)
    with pytest.raises(SymbolError, match="No symbol point"):
        click(new_state(SIZE, SIZE), MOVE_TOOL, 500, 500)  # no symbols at all


@pytest.mark.parametrize("index", range(len(SYMBOLS)))
def test_every_point_of_every_symbol_kind_can_be_moved(state, index):
    symbol = SYMBOLS[index]
    for which, (x, y) in enumerate(points_of(symbol)):
        selected = click(state, MOVE_TOOL, x + 5, y - 5)
        assert selected.selected[0] == index and selected_point(selected) == (x, y)
        moved = click(selected, MOVE_TOOL, 30, 970)
        expected = list(points_of(symbol))
        expected[which] = (30, 970)
        assert points_of(moved.symbols[index]) == expected, (symbol, which)
        assert type(moved.symbols[index]) is type(symbol) and moved.symbols[index].kind == symbol.kind
        assert undo(moved).symbols == SYMBOLS


def test_switching_tools_clears_the_selection(state):
    selected = click(state, MOVE_TOOL, 600, 300)
    assert selected.selected == (5, "pos")
    assert set_options(selected, tool="crosshair").selected is None
    placed = click(selected, "lock", 10, 10)  # a click with another tool places, and drops the selection
    assert placed.selected is None and placed.symbols[-1] == Lock((10, 10)) and placed.symbols[5] == Lock((600, 300))
    assert set_options(selected, rotation="counter-clockwise").selected == (5, "pos")  # not a tool change
    with pytest.raises(SymbolError, match="selection"):
        EditorState(width=SIZE, height=SIZE, symbols=SYMBOLS, tool="crosshair", selected=(5, "pos"))
    with pytest.raises(SymbolError, match="selection"):
        EditorState(width=SIZE, height=SIZE, symbols=SYMBOLS, tool=MOVE_TOOL, selected=(5, "colors"))


def test_a_move_that_leaves_a_symbol_invalid_is_refused(state):
    onto_start = click(state, MOVE_TOOL, 300, 100)  # the arrow's end ...
    with pytest.raises(SymbolError, match=r"symbol 1 \(Draw Straight Arrow\): its start and end would be the same"):
        click(onto_start, MOVE_TOOL, 100, 100)  # ... onto its start: no direction left
    dual = click(state, MOVE_TOOL, 400, 800)
    with pytest.raises(SymbolError, match=r"symbol 4.*p1 and p2 would be the same point - the point was not moved"):
        click(dual, MOVE_TOOL, 200, 800)
    with pytest.raises(SymbolError, match="outside the 1000x1000 image"):
        click(onto_start, MOVE_TOOL, 1001, 5)
    # Putting a point back where it was only drops the selection: nothing to undo.
    back = click(onto_start, MOVE_TOOL, 300, 100)
    assert back.selected is None and back.symbols == SYMBOLS and back.undo_stack == state.undo_stack


def test_ties_go_to_the_symbol_drawn_last_and_state_stays_plain_data():
    s = set_options(new_state(SIZE, SIZE, [Crosshair((500, 500)), Lock((500, 500))]), tool=MOVE_TOOL)
    assert nearest_point(s.symbols, (500, 500)) == (1, "pos")
    assert nearest_point(s.symbols, (500, 500 + SELECT_RADIUS + 1)) is None
    selected = click(s, MOVE_TOOL, 500, 500)
    assert copy.deepcopy(selected) == selected


def test_handlers_show_the_selection_ring_hint_and_warn_once_on_a_far_click(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr("vifailback_demo.ui.editor_handlers.warn", shown.append)
    run = RunState(frames=[np.full((SIZE, SIZE, 3), 90, np.uint8)])
    ed, editor = EditorHandlers(), new_state(SIZE, SIZE, SYMBOLS)
    args = ([], "clockwise", "ON", "")
    chosen = ed.options(run, editor, 1, "move point", *args[:3])
    assert chosen["editor_state"].tool == MOVE_TOOL and "click a symbol's point" in chosen["hint"]
    assert "editor_image" not in chosen  # nothing was marked, nothing to redraw
    plain = views.editor_image(run, chosen["editor_state"], 1)
    selected = ed.click_image(run, chosen["editor_state"], 1, "move point", *args, SimpleNamespace(index=[505, 505]))
    assert selected["hint"] == "Point selected - click where it should go."
    ring = selected["editor_image"] != plain
    assert ring.any() and ring.any(axis=2).nonzero()[0].min() > 450  # the ring is drawn around (500, 500)
    assert selected["symbols"] == views.symbols_table(editor)  # the table is unchanged until the second click
    moved = ed.place(run, selected["editor_state"], 1, "move point", *args, 520, 600)
    assert moved["symbols"][1][:3] == ["rotate_arrow", 520, 600] and moved["hint"].startswith("Move point:")
    assert ed.place(run, chosen["editor_state"], 1, "move point", *args, 700, 650) == {}
    assert shown == ["No symbol point within 60 of (700, 650): click on a symbol's point to select it"]
    switched = ed.options(run, selected["editor_state"], 1, "crosshair", *args[:3])
    assert switched["editor_state"].selected is None and (switched["editor_image"] == plain).all()  # ring gone


def test_keyframe_steps_are_clamped_and_start_at_one(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr("vifailback_demo.ui.editor_handlers.warn", shown.append)
    run = RunState(frames=[np.full((40, 40, 3), i * 20, np.uint8) for i in range(4)])
    ed, editor = EditorHandlers(), new_state(40, 40)
    assert ed.next_keyframe(run, editor, None)["keyframe"] == 1
    assert ed.prev_keyframe(run, editor, None)["keyframe"] == 1
    assert ed.next_keyframe(run, editor, 2)["keyframe"] == 3
    out = ed.next_keyframe(run, editor, 4)
    assert out["keyframe"] == 4 and out["gallery"][3][1].startswith("★ ")
    assert ed.prev_keyframe(run, editor, 3)["keyframe"] == 2
    assert ed.prev_keyframe(run, editor, 1)["keyframe"] == 1
    assert ed.step_keyframe(run, editor, 2, 5)["keyframe"] == 4
    assert (ed.prev_keyframe(run, editor, 3)["editor_image"] == run.frames[1]).all()
    assert shown == []
    assert ed.next_keyframe(RunState(), editor, 1) == {} and len(shown) == 1  # no run yet: warned, nothing changed
