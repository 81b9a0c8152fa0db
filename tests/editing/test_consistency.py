"""Consistency warnings between the low-level command and the symbols."""

from __future__ import annotations

from vifailback_demo.core.symbols import GripperState, RotatingArrow, StraightArrow
from vifailback_demo.editing import consistency_warnings

OFFICIAL = (
    "Move the right gripper to the right significantly and backward significantly, and rotate the right gripper "
    "clockwise."
)
OFFICIAL_SYMBOLS = [StraightArrow((602, 179), (689, 325), ("green", "red")), RotatingArrow((550, 179), "clockwise")]


def test_official_example_is_silent():
    assert consistency_warnings(OFFICIAL, OFFICIAL_SYMBOLS) == []


def test_arrow_coloured_for_an_axis_the_command_never_mentions():
    symbols = [StraightArrow((602, 179), (689, 325), ("green", "blue")), RotatingArrow((550, 179), "clockwise")]
    warnings = consistency_warnings(OFFICIAL, symbols)
    assert any("coloured blue" in w and "never moves upward or downward" in w for w in warnings), warnings
    assert any("moves backward" in w and "red" in w for w in warnings), warnings


def test_move_without_a_matching_arrow():
    warnings = consistency_warnings("Move the left gripper upward slightly.", [])
    assert warnings == ["the command moves upward (z axis) but no straight arrow has the blue colour for it"]


def test_rotation_checks():
    assert any("no rotating arrow" in w for w in consistency_warnings(OFFICIAL, OFFICIAL_SYMBOLS[:1]))
    flipped = [OFFICIAL_SYMBOLS[0], RotatingArrow((550, 179), "counter-clockwise")]
    assert any("turns counter-clockwise" in w for w in consistency_warnings(OFFICIAL, flipped))
    extra = consistency_warnings(
        "Move the right gripper to the right.",
        [StraightArrow((1, 1), (90, 1), ("green",)), RotatingArrow((5, 5), "clockwise")],
    )
    assert extra == ["rotating arrow 1 (clockwise) but the command does not rotate"]


def test_grasp_checks():
    assert consistency_warnings("Open the left gripper.", [GripperState((5, 5), "ON")]) == []
    assert any(
        "says OFF" in w and "open" in w
        for w in consistency_warnings("Open the left gripper.", [GripperState((5, 5), "OFF")])
    )
    assert any("says ON" in w for w in consistency_warnings("Close the left gripper.", [GripperState((5, 5), "ON")]))
    assert any("no OFF symbol" in w for w in consistency_warnings("Close the left gripper.", []))


def test_left_right_sign_is_checked():
    warnings = consistency_warnings(
        "Move the right gripper to the right.", [StraightArrow((500, 5), (100, 5), ("green",))]
    )
    assert warnings == ["the command moves right but straight arrow 1 points left in the image"]


def test_empty_or_unreadable_command():
    assert consistency_warnings("", OFFICIAL_SYMBOLS) == []
    assert consistency_warnings(None, OFFICIAL_SYMBOLS) == []
    warnings = consistency_warnings("Do something clever.", [])
    assert any("no move, rotate or grasp" in w for w in warnings)


def test_colours_follow_the_order_the_command_names_the_axes():
    from vifailback_demo.editing import order_colors_by_command

    # A checkbox group hands colours over in its own order (red, green, blue); the official rule is sentence order.
    assert order_colors_by_command(["red", "green"], OFFICIAL) == ("green", "red")
    up_then_forward = "Move the left gripper upward slightly and forward significantly."
    assert order_colors_by_command(["red", "green", "blue"], up_then_forward) == ("blue", "red", "green")
    assert order_colors_by_command(["red", "green"], None) == ("red", "green")  # no command: unchanged
    swapped = [StraightArrow((602, 179), (689, 325), ("red", "green")), RotatingArrow((550, 179), "clockwise")]
    warnings = consistency_warnings(OFFICIAL, swapped)
    assert warnings == [
        "straight arrow 1 lists its colours as red, green but the command names their axes in the order green, red"
    ]
