"""The low-level command parser and formatter (core/commands.py)."""

from __future__ import annotations

import pytest

from vifailback_demo.core.commands import LowLevelCommand, command_variants, format_command, parse_command

OFFICIAL = (
    "Move the right gripper to the right significantly and backward significantly, and rotate the right gripper "
    "clockwise."
)


def test_official_example_parses():
    cmd = parse_command(OFFICIAL)
    assert cmd == LowLevelCommand("right gripper", (("right", "significantly"), ("backward", "significantly")),
                                  "clockwise", None)  # fmt: skip
    assert cmd.problems == () and cmd.axes == ("y", "x")


def test_format_writes_the_official_wording():
    assert format_command("right gripper", [("right", "significantly"), ("backward", "significantly")],
                          "clockwise") == OFFICIAL  # fmt: skip
    assert format_command("left gripper", grasp="close") == "Close the left gripper."
    assert (
        format_command("left gripper", [("upward", None)], "counter-clockwise", "open")
        == "Move the left gripper upward, rotate the left gripper counter-clockwise, and open the left gripper."
    )


@pytest.mark.parametrize(
    "text",
    [
        OFFICIAL,
        "Move the left gripper to the left significantly and downward slightly, rotate the left gripper clockwise, "
        "and close the left gripper.",
        "Open the right gripper.",
        "Move the right gripper forward.",
    ],
)
def test_round_trip(text):
    cmd = parse_command(text)
    assert cmd.problems == ()
    assert format_command(cmd.gripper, cmd.moves, cmd.rotation, cmd.grasp) == text
    assert parse_command(cmd.format()) == cmd


def test_lenient_spellings():
    cmd = parse_command("move right arm up a little and slightly back; rotate it counterclockwise, then release")
    assert cmd.gripper == "right gripper"
    assert cmd.moves == (("upward", "slightly"), ("backward", "slightly"))
    assert (cmd.rotation, cmd.grasp) == ("counter-clockwise", "open")


def test_problems_are_reported_not_raised():
    assert parse_command("").problems == ("empty command",)
    assert parse_command(None).empty
    cmd = parse_command("Wave hello.")
    assert cmd.empty and any("no target gripper" in p for p in cmd.problems)
    assert any("both" in p for p in parse_command("Open and close the left gripper.").problems)
    assert any("one axis" in p for p in parse_command("Move the left gripper left and right.").problems)


def test_format_refuses_words_outside_the_vocabulary():
    with pytest.raises(ValueError, match="gripper"):
        format_command("middle gripper", [("left", None)])
    with pytest.raises(ValueError, match="direction"):
        format_command("left gripper", [("sideways", None)])
    with pytest.raises(ValueError, match="at least one"):
        format_command("left gripper")


def test_variants_change_one_part_each():
    cmd = parse_command(OFFICIAL)
    variants = command_variants(cmd)
    assert cmd not in variants and len(variants) == len(set(variants)) == 6
    assert variants[0].moves[0] == ("left", "significantly")
    assert LowLevelCommand("left gripper", cmd.moves, cmd.rotation) in variants
