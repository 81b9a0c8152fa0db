"""The 7 ViFailback visual symbols as small immutable types.

Points are ``(x, y)`` with the origin top-left. A symbol does not know whether its coordinates are normalised
(0-1000, as in model text) or pixels (as in raw annotation code): callers convert at the edges with
:func:`to_pixels` / :func:`to_normalized`. Coordinates keep the number type they were written with (int or
float) so that text -> symbols -> text is an exact round trip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import ClassVar

from vifailback_demo.errors import SymbolError

Number = int | float
Point = tuple[Number, Number]

#: Straight-arrow colour -> robot axis. Red = x (forward/backward), green = y (left/right), blue = z (up/down).
AXIS_OF_COLOR: dict[str, str] = {"red": "x", "green": "y", "blue": "z"}
COLORS: tuple[str, ...] = tuple(AXIS_OF_COLOR)
DIRECTIONS: tuple[str, ...] = ("clockwise", "counter-clockwise")
STATE_TEXTS: tuple[str, ...] = ("ON", "OFF")
#: Model coordinates are integers normalised to this range on each axis.
NORMALIZED_MAX = 1000
#: Largest coordinate magnitude accepted in either space: far beyond any image, yet small enough that every later
#: conversion (float, scaling, rounding to pixels) stays exact and finite. Bigger numbers are typos or attacks.
MAX_COORDINATE = 1_000_000
#: How messages name the allowed range: model text is normalised; code dicts may also be pixels.
NORMALIZED_SPACE = f"0-{NORMALIZED_MAX} (normalised)"
ANY_SPACE = f"0-{NORMALIZED_MAX} (normalised) or 0-image size (pixels)"


@dataclass(frozen=True, slots=True)
class StraightArrow:
    """Translate the end-effector; colours (in sentence order) name the axes, drawn as zebra segments."""

    start: Point
    end: Point
    colors: tuple[str, ...] = ("green",)
    kind: ClassVar[str] = "move_arrow"
    command: ClassVar[str] = "Draw Straight Arrow"


@dataclass(frozen=True, slots=True)
class RotatingArrow:
    """Rotate the end-effector clockwise or counter-clockwise (as seen in the image)."""

    center: Point
    direction: str = "clockwise"
    kind: ClassVar[str] = "rotate_arrow"
    command: ClassVar[str] = "Draw Rotating Arrow"


@dataclass(frozen=True, slots=True)
class Crosshair:
    """Marks the correct target object."""

    pos: Point
    kind: ClassVar[str] = "crosshair"
    command: ClassVar[str] = "Draw Crosshair"


@dataclass(frozen=True, slots=True)
class DualCrosshair:
    """The object at ``p1`` should be aligned with the position ``p2``."""

    p1: Point
    p2: Point
    kind: ClassVar[str] = "dual_crosshair"
    command: ClassVar[str] = "Draw Dual Crosshair"


@dataclass(frozen=True, slots=True)
class GripperState:
    """ON = the gripper should open, OFF = it should close."""

    pos: Point
    text: str = "ON"
    kind: ClassVar[str] = "state"

    @property
    def command(self) -> str:  # type: ignore[override]
        return f"Draw {self.text}"


@dataclass(frozen=True, slots=True)
class Lock:
    """Prohibition sign: keep this object still / stop."""

    pos: Point
    kind: ClassVar[str] = "lock"
    command: ClassVar[str] = "Draw Lock"


@dataclass(frozen=True, slots=True)
class Rewind:
    """Return the object or gripper to its previous position or state."""

    pos: Point
    kind: ClassVar[str] = "rewind"
    command: ClassVar[str] = "Draw Rewind"


Symbol = StraightArrow | RotatingArrow | Crosshair | DualCrosshair | GripperState | Lock | Rewind
SYMBOL_TYPES: tuple[type, ...] = (StraightArrow, RotatingArrow, Crosshair, DualCrosshair, GripperState, Lock, Rewind)
#: Official raw-annotation ``type`` strings, in the order of the paper's table.
SYMBOL_KINDS: tuple[str, ...] = tuple(t.kind for t in SYMBOL_TYPES)
#: Field names that hold points, per type.
_POINT_FIELDS: dict[type, tuple[str, ...]] = {
    StraightArrow: ("start", "end"),
    RotatingArrow: ("center",),
    Crosshair: ("pos",),
    DualCrosshair: ("p1", "p2"),
    GripperState: ("pos",),
    Lock: ("pos",),
    Rewind: ("pos",),
}


def points_of(symbol: Symbol) -> list[Point]:
    """All points of a symbol, in field order."""
    return [getattr(symbol, name) for name in _POINT_FIELDS[type(symbol)]]


def map_points(symbol: Symbol, fn: Callable[[Point], Point]) -> Symbol:
    """A copy of ``symbol`` with every point passed through ``fn``."""
    return replace(symbol, **{name: fn(getattr(symbol, name)) for name in _POINT_FIELDS[type(symbol)]})


def safe_repr(value: object, limit: int = 80) -> str:
    """``repr`` for error messages that cannot fail: Python refuses to print ints over 4300 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<a {_digit_count(value)}-digit number>"
    try:
        return repr(value)[:limit]
    except (ValueError, RecursionError):  # an over-long int or a deeply nested list inside ``value``
        return f"<unprintable {type(value).__name__}>"


def _digit_count(value: int) -> int:
    """Decimal digits of ``value`` without ``str()`` (which is quadratic and refuses over 4300 digits)."""
    value = abs(value)
    digits = int((value.bit_length() - 1) * 0.30102999566398) + 1  # exact or one short
    return digits + 1 if value >= 10**digits else digits


def coordinate_problem(value: object) -> str | None:
    """Why ``value`` cannot be a coordinate ("is not a finite number", ...), or None when it can."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{safe_repr(value, 40)} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    # Compare before any float conversion: math.isfinite(10**400) raises OverflowError instead of answering.
    if not -MAX_COORDINATE <= value <= MAX_COORDINATE:
        return f"{safe_repr(value, 40)} is too large (at most {MAX_COORDINATE:,} in size)"
    return None


def is_number(value: object) -> bool:
    """True for finite ints and floats of a usable size (bool is not a coordinate)."""
    return coordinate_problem(value) is None


def as_point(value: object, what: str, allowed: str = ANY_SPACE) -> Point:
    """Read ``[x, y]`` (list or tuple of two finite numbers) or raise :class:`SymbolError`.

    ``allowed`` names the coordinate range of the caller's space for the message (model text: 0-1000).
    """
    expected = f"{what}: expected a point [x, y] of two finite numbers in {allowed}"
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SymbolError(f"{expected}, got {safe_repr(value)}")
    for axis, coordinate in zip("xy", value):
        problem = coordinate_problem(coordinate)
        if problem:
            raise SymbolError(f"{expected}; {axis} = {problem}")
    return (value[0], value[1])


def check_color(value: object) -> str:
    color = value.strip().lower() if isinstance(value, str) else None
    if color not in AXIS_OF_COLOR:  # a list or dict here must not reach the dict lookup (unhashable)
        raise SymbolError(f"arrow colour: expected one of {list(COLORS)}, got {safe_repr(value, 40)}")
    return color


def check_colors(value: object) -> tuple[str, ...]:
    """Accept a list of colours or one colour string; at least one colour."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise SymbolError(f"arrow colours: expected a non-empty list from {list(COLORS)}, got {safe_repr(value, 60)}")
    return tuple(check_color(c) for c in items)


def check_direction(value: object) -> str:
    direction = value.strip().lower().replace("anticlockwise", "counter-clockwise") if isinstance(value, str) else value
    if direction == "counterclockwise":
        direction = "counter-clockwise"
    if direction not in DIRECTIONS:
        raise SymbolError(f"rotation direction: expected one of {list(DIRECTIONS)}, got {safe_repr(value, 40)}")
    return direction  # type: ignore[return-value]


def check_state_text(value: object) -> str:
    text = value.strip().upper() if isinstance(value, str) else value
    if text not in STATE_TEXTS:
        raise SymbolError(f"gripper state: expected 'ON' or 'OFF', got {safe_repr(value, 40)}")
    return text  # type: ignore[return-value]


def range_problems(symbol: Symbol, width: Number = NORMALIZED_MAX, height: Number = NORMALIZED_MAX) -> list[str]:
    """Points outside ``[0, width] x [0, height]`` (normalised space by default), as readable problems."""
    problems = []
    for name in _POINT_FIELDS[type(symbol)]:
        x, y = getattr(symbol, name)
        if not (0 <= x <= width and 0 <= y <= height):
            problems.append(f"{symbol.command}: {name} {[x, y]} is outside [0, {width}] x [0, {height}]")
    return problems


def validate_symbol(symbol: Symbol, allowed: str = ANY_SPACE) -> Symbol:
    """Check vocabulary and point types of a constructed symbol; returns it, raises :class:`SymbolError`."""
    if not isinstance(symbol, SYMBOL_TYPES):
        raise SymbolError(f"expected one of the 7 symbol types, got {type(symbol).__name__}")
    for name in _POINT_FIELDS[type(symbol)]:
        # The kind, not the command: GripperState.command formats its (not yet checked) text.
        as_point(getattr(symbol, name), f"{symbol.kind} {name}", allowed)
    # The constructors do not normalise (frozen dataclasses), so a hand-built symbol may carry "Red" or "cw".
    if isinstance(symbol, StraightArrow) and check_colors(symbol.colors) != symbol.colors:
        raise SymbolError(f"arrow colours must be lower-case names from {list(COLORS)}, got {symbol.colors!r}")
    if isinstance(symbol, RotatingArrow) and check_direction(symbol.direction) != symbol.direction:
        raise SymbolError(f"rotation direction must be one of {list(DIRECTIONS)}, got {symbol.direction!r}")
    if isinstance(symbol, GripperState) and check_state_text(symbol.text) != symbol.text:
        raise SymbolError(f"gripper state must be 'ON' or 'OFF', got {symbol.text!r}")
    return symbol


def check_symbols(
    symbols: Iterable[Symbol], *, width: Number = NORMALIZED_MAX, height: Number = NORMALIZED_MAX
) -> list[Symbol]:
    """Strict check for human input: vocabulary and range; the first problem raises :class:`SymbolError`."""
    checked = []
    for i, symbol in enumerate(symbols, start=1):
        try:
            validate_symbol(symbol, f"[0, {width}] x [0, {height}]")
        except SymbolError as exc:
            raise SymbolError(f"symbol {i}: {exc}") from None
        problems = range_problems(symbol, width, height)
        if problems:
            raise SymbolError(f"symbol {i}: {problems[0]}")
        checked.append(symbol)
    return checked


def _scale_point(point: Point, sx: float, sy: float, as_int: bool) -> Point:
    x, y = point[0] * sx, point[1] * sy
    if as_int:
        return (int(round(x)), int(round(y)))
    return (x, y)


def to_pixels(symbol: Symbol, width: int, height: int, *, as_int: bool = False) -> Symbol:
    """Normalised 0-1000 coordinates -> pixels of a ``width`` x ``height`` image (``x / 1000 * width``)."""
    return map_points(symbol, lambda p: _scale_point(p, width / NORMALIZED_MAX, height / NORMALIZED_MAX, as_int))


def to_normalized(symbol: Symbol, width: int, height: int, *, as_int: bool = True) -> Symbol:
    """Pixel coordinates -> the model's integer 0-1000 space (rounded, as model text uses integers)."""
    if width <= 0 or height <= 0:
        raise SymbolError(f"image size must be positive, got {width}x{height}")
    return map_points(symbol, lambda p: _scale_point(p, NORMALIZED_MAX / width, NORMALIZED_MAX / height, as_int))


def symbols_to_pixels(symbols: Sequence[Symbol], width: int, height: int, *, as_int: bool = False) -> list[Symbol]:
    return [to_pixels(s, width, height, as_int=as_int) for s in symbols]


def symbols_to_normalized(symbols: Sequence[Symbol], width: int, height: int) -> list[Symbol]:
    return [to_normalized(s, width, height) for s in symbols]


def symbol_field_names(symbol_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(symbol_type))
