"""Warnings when a low-level command and the drawn symbols disagree (advice for the human; never an error).

The checks follow the drawing rules of the official prompt: a straight arrow's colours name the axes it moves
along (red x forward/backward, green y left/right, blue z upward/downward), a rotating arrow shows the rotation,
ON/OFF the gripper state (ON = open). Image direction is only checked for left/right, the one axis whose sign a
head camera shows unambiguously (image right = the robot's right); forward/backward and up/down both map to
vertical image motion, so their signs are not judged.
"""

from __future__ import annotations

from collections.abc import Sequence

from vifailback_demo.core.commands import AXIS_OF_DIRECTION, parse_command
from vifailback_demo.core.symbols import AXIS_OF_COLOR, GripperState, RotatingArrow, StraightArrow, Symbol

_AXIS_WORDS = {"x": "forward/backward", "y": "left/right", "z": "upward/downward"}
_COLOR_OF_AXIS = {axis: color for color, axis in AXIS_OF_COLOR.items()}
#: An arrow whose horizontal extent is under this share of its length does not show left/right clearly.
_MIN_HORIZONTAL_SHARE = 0.2


def order_colors_by_command(colors: Sequence[str], low_level_text: str | None) -> tuple[str, ...]:
    """Arrow colours in the order the command names their axes (the official rule: sentence order).

    Checkbox widgets return colours in their own fixed order, so the editor reorders them by the command; colours
    whose axis the command does not move keep their given order, after the others.
    """
    colors = tuple(dict.fromkeys(colors))
    if not low_level_text or not low_level_text.strip():
        return colors
    axes = parse_command(low_level_text).axes
    rank = {axis: i for i, axis in enumerate(axes)}
    return tuple(sorted(colors, key=lambda c: rank.get(AXIS_OF_COLOR[c], len(axes))))


def consistency_warnings(low_level_text: str | None, symbols: Sequence[Symbol]) -> list[str]:
    """Readable warnings, empty when the command and the symbols agree (or there is no command)."""
    if not low_level_text or not low_level_text.strip():
        return []
    command = parse_command(low_level_text)
    warnings = [f"low-level command: {p}" for p in command.problems]
    arrows = [s for s in symbols if isinstance(s, StraightArrow)]
    rotations = [s for s in symbols if isinstance(s, RotatingArrow)]
    states = [s for s in symbols if isinstance(s, GripperState)]

    command_axes = set(command.axes)
    drawn_axes = {AXIS_OF_COLOR[c] for a in arrows for c in a.colors}
    for number, arrow in enumerate(arrows, start=1):
        for color in dict.fromkeys(arrow.colors):
            axis = AXIS_OF_COLOR[color]
            if axis not in command_axes:
                warnings.append(
                    f"straight arrow {number} is coloured {color} ({axis} axis: {_AXIS_WORDS[axis]}) but the command "
                    f"never moves {_AXIS_WORDS[axis].replace('/', ' or ')}"
                )
    for number, arrow in enumerate(arrows, start=1):
        ordered = order_colors_by_command(arrow.colors, low_level_text)
        if ordered != tuple(dict.fromkeys(arrow.colors)):
            warnings.append(
                f"straight arrow {number} lists its colours as {', '.join(arrow.colors)} but the command names "
                f"their axes in the order {', '.join(ordered)}"
            )
    for direction, _ in command.moves:
        axis = AXIS_OF_DIRECTION[direction][0]
        if axis not in drawn_axes:
            color = _COLOR_OF_AXIS[axis]
            warnings.append(
                f"the command moves {direction} ({axis} axis) but no straight arrow has the {color} colour for it"
            )
            drawn_axes.add(axis)  # one warning per axis
    lateral = [d for d, _ in command.moves if d in ("left", "right")]
    if lateral:
        for number, arrow in enumerate(arrows, start=1):
            dx = arrow.end[0] - arrow.start[0]
            length = abs(dx) + abs(arrow.end[1] - arrow.start[1])
            if "green" in arrow.colors and length and abs(dx) >= _MIN_HORIZONTAL_SHARE * length:
                shown = "right" if dx > 0 else "left"
                if shown != lateral[0]:
                    warnings.append(
                        f"the command moves {lateral[0]} but straight arrow {number} points {shown} in the image"
                    )

    if command.rotation and not rotations:
        warnings.append(f"the command rotates {command.rotation} but there is no rotating arrow")
    for number, rot in enumerate(rotations, start=1):
        if command.rotation is None:
            warnings.append(f"rotating arrow {number} ({rot.direction}) but the command does not rotate")
        elif rot.direction != command.rotation:
            warnings.append(f"rotating arrow {number} turns {rot.direction} but the command rotates {command.rotation}")

    wanted = {"open": "ON", "close": "OFF"}.get(command.grasp or "")
    for number, state in enumerate(states, start=1):
        if wanted is None:
            warnings.append(f"gripper state {number} says {state.text} but the command does not open or close")
        elif state.text != wanted:
            warnings.append(
                f"gripper state {number} says {state.text} but the command says {command.grasp} (expected {wanted})"
            )
    if wanted is not None and not states:
        warnings.append(f"the command says {command.grasp} the gripper but there is no {wanted} symbol")
    return warnings
