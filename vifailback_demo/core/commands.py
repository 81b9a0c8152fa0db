"""Low-level commands in the official vocabulary: parse a sentence into parts, and write parts as a sentence.

Vocabulary (PAPER.md): target gripper ``left gripper`` | ``right gripper``; Move with a direction in {upward,
downward, left, right, forward, backward} and an optional magnitude {slightly, significantly}, several moves may be
combined; Rotate {clockwise, counter-clockwise}; Grasp {open, close}. Official example::

    Move the right gripper to the right significantly and backward significantly, and rotate the right gripper
    clockwise.

:func:`parse_command` is lenient (model output and human text): it never raises and lists what it could not read in
``problems``. :func:`format_command` writes the official wording, so ``parse_command(format_command(...))`` gives
the same parts back. Pure Python: the editor's consistency check and the evaluation scorer both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GRIPPERS: tuple[str, ...] = ("left gripper", "right gripper")
MOVE_DIRECTIONS: tuple[str, ...] = ("upward", "downward", "left", "right", "forward", "backward")
MAGNITUDES: tuple[str, ...] = ("slightly", "significantly")
ROTATIONS: tuple[str, ...] = ("clockwise", "counter-clockwise")
GRASPS: tuple[str, ...] = ("open", "close")

#: Move direction -> (robot axis, sign). Robot frame: +x forward, +y left, +z up.
AXIS_OF_DIRECTION: dict[str, tuple[str, int]] = {
    "forward": ("x", 1),
    "backward": ("x", -1),
    "left": ("y", 1),
    "right": ("y", -1),
    "upward": ("z", 1),
    "downward": ("z", -1),
}
OPPOSITE_DIRECTION: dict[str, str] = {
    "forward": "backward",
    "backward": "forward",
    "left": "right",
    "right": "left",
    "upward": "downward",
    "downward": "upward",
}
#: The words the official sentences use for each direction.
_DIRECTION_WORDS: dict[str, str] = {"left": "to the left", "right": "to the right"}

_GRIPPER_RE = re.compile(r"\b(left|right)[\s_-]+(?:gripper|arm|hand)\b")
_ROTATION_RE = re.compile(r"\b(counter[\s-]?clockwise|anti[\s-]?clockwise|clockwise)\b")
_GRASP_RE = re.compile(r"\b(open|close|release)\b")
_MAGNITUDE_WORDS = r"slightly|significantly|a\s+little|a\s+bit|a\s+lot|greatly|largely"
_DIRECTION_RE = re.compile(
    rf"(?:\b(?P<pre>{_MAGNITUDE_WORDS})\s+)?"
    r"\b(?P<dir>to\s+the\s+left|to\s+the\s+right|leftward?s?|rightward?s?|left|right|upwards?|up|downwards?|down"
    r"|forwards?|backwards?|back)\b"
    rf"(?:\s+(?P<post>{_MAGNITUDE_WORDS})\b)?"
)
_DIRECTION_ALIASES = {
    "to the left": "left",
    "to the right": "right",
    "leftward": "left",
    "leftwards": "left",
    "rightward": "right",
    "rightwards": "right",
    "up": "upward",
    "upwards": "upward",
    "down": "downward",
    "downwards": "downward",
    "forwards": "forward",
    "backwards": "backward",
    "back": "backward",
}
_MAGNITUDE_ALIASES = {"a little": "slightly", "a bit": "slightly", "a lot": "significantly", "greatly": "significantly"}
_MAGNITUDE_ALIASES["largely"] = "significantly"

Move = tuple[str, str | None]


@dataclass(frozen=True)
class LowLevelCommand:
    """The parts of one low-level command; ``moves`` keep sentence order (the arrow's colour order)."""

    gripper: str | None = None
    moves: tuple[Move, ...] = ()
    rotation: str | None = None
    grasp: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def axes(self) -> tuple[str, ...]:
        """Robot axes moved, in sentence order, without repeats."""
        return tuple(dict.fromkeys(AXIS_OF_DIRECTION[d][0] for d, _ in self.moves))

    @property
    def empty(self) -> bool:
        return not (self.moves or self.rotation or self.grasp)

    def format(self) -> str:
        return format_command(self.gripper, self.moves, self.rotation, self.grasp)


def _norm_magnitude(word: str | None) -> str | None:
    if word is None:
        return None
    word = " ".join(word.split())
    return _MAGNITUDE_ALIASES.get(word, word)


def parse_command(text: str | None) -> LowLevelCommand:
    """Read a low-level command; never raises. Unknown or conflicting parts are listed in ``problems``."""
    if not isinstance(text, str) or not text.strip():
        return LowLevelCommand(problems=("empty command",) if text is not None else ())
    t = " ".join(text.lower().replace("’", "'").split())
    problems: list[str] = []
    grippers = list(dict.fromkeys(f"{m.group(1)} gripper" for m in _GRIPPER_RE.finditer(t)))
    if len(grippers) > 1:
        problems.append(f"command names both grippers ({', '.join(grippers)}); the first is used")
    if not grippers:
        problems.append("command names no target gripper; expected 'left gripper' or 'right gripper'")
    # Remove gripper names first so their "left"/"right" are not read as move directions.
    rest = _GRIPPER_RE.sub(" ", t)
    rotations = []
    for m in _ROTATION_RE.finditer(rest):
        word = m.group(1)
        rotations.append("clockwise" if word == "clockwise" else "counter-clockwise")
    rest = _ROTATION_RE.sub(" ", rest)
    if len(set(rotations)) > 1:
        problems.append("command rotates both clockwise and counter-clockwise; the first is used")
    grasps = ["open" if m.group(1) in ("open", "release") else "close" for m in _GRASP_RE.finditer(rest)]
    if len(set(grasps)) > 1:
        problems.append("command both opens and closes the gripper; the first is used")
    moves: list[Move] = []
    for m in _DIRECTION_RE.finditer(rest):
        word = " ".join(m.group("dir").split())
        direction = _DIRECTION_ALIASES.get(word, word)
        magnitude = _norm_magnitude(m.group("post") or m.group("pre"))
        moves.append((direction, magnitude))
    axes = [AXIS_OF_DIRECTION[d][0] for d, _ in moves]
    if len(set(axes)) != len(axes):
        problems.append("command moves more than once along one axis (e.g. left and right)")
    parsed = LowLevelCommand(
        gripper=grippers[0] if grippers else None,
        moves=tuple(moves),
        rotation=rotations[0] if rotations else None,
        grasp=grasps[0] if grasps else None,
    )
    if parsed.empty:
        problems.append(f"no move, rotate or grasp found in {text.strip()!r:.80}")
    return LowLevelCommand(parsed.gripper, parsed.moves, parsed.rotation, parsed.grasp, tuple(problems))


def _check_parts(gripper: str | None, moves: tuple[Move, ...], rotation: str | None, grasp: str | None) -> None:
    if gripper not in GRIPPERS:
        raise ValueError(f"gripper: expected one of {list(GRIPPERS)}, got {gripper!r}")
    for direction, magnitude in moves:
        if direction not in MOVE_DIRECTIONS:
            raise ValueError(f"move direction: expected one of {list(MOVE_DIRECTIONS)}, got {direction!r}")
        if magnitude is not None and magnitude not in MAGNITUDES:
            raise ValueError(f"move magnitude: expected one of {list(MAGNITUDES)} or None, got {magnitude!r}")
    if rotation is not None and rotation not in ROTATIONS:
        raise ValueError(f"rotation: expected one of {list(ROTATIONS)} or None, got {rotation!r}")
    if grasp is not None and grasp not in GRASPS:
        raise ValueError(f"grasp: expected one of {list(GRASPS)} or None, got {grasp!r}")
    if not (moves or rotation or grasp):
        raise ValueError("a command needs at least one move, a rotation or a grasp")


def format_command(
    gripper: str | None,
    moves: tuple[Move, ...] | list[Move] = (),
    rotation: str | None = None,
    grasp: str | None = None,
) -> str:
    """The official wording, e.g. ``Move the right gripper to the right significantly and backward
    significantly, and rotate the right gripper clockwise.``; raises ValueError for words outside the vocabulary."""
    moves = tuple((d, m) for d, m in moves)
    _check_parts(gripper, moves, rotation, grasp)
    parts = []
    if moves:
        words = " and ".join(f"{_DIRECTION_WORDS.get(d, d)} {m}" if m else _DIRECTION_WORDS.get(d, d) for d, m in moves)
        parts.append(f"move the {gripper} {words}")
    if rotation:
        parts.append(f"rotate the {gripper} {rotation}")
    if grasp:
        parts.append(f"{grasp} the {gripper}")
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", and " + parts[-1]
    return text[0].upper() + text[1:] + "."


def command_variants(command: LowLevelCommand) -> list[LowLevelCommand]:
    """Wrong-but-plausible versions of a command, one change each, in a fixed order (Lite distractors).

    Order: each move's direction flipped, the rotation flipped, the grasp flipped, each magnitude swapped, the
    other gripper. Commands that cannot be formatted (no gripper) give no variants.
    """
    if command.gripper not in GRIPPERS or command.empty:
        return []
    out: list[LowLevelCommand] = []
    for i, (d, m) in enumerate(command.moves):
        moves = list(command.moves)
        moves[i] = (OPPOSITE_DIRECTION[d], m)
        out.append(LowLevelCommand(command.gripper, tuple(moves), command.rotation, command.grasp))
    if command.rotation:
        flipped = "clockwise" if command.rotation == "counter-clockwise" else "counter-clockwise"
        out.append(LowLevelCommand(command.gripper, command.moves, flipped, command.grasp))
    if command.grasp:
        flipped = "close" if command.grasp == "open" else "open"
        out.append(LowLevelCommand(command.gripper, command.moves, command.rotation, flipped))
    for i, (d, m) in enumerate(command.moves):
        if m is not None:
            moves = list(command.moves)
            moves[i] = (d, "slightly" if m == "significantly" else "significantly")
            out.append(LowLevelCommand(command.gripper, tuple(moves), command.rotation, command.grasp))
    other = "left gripper" if command.gripper == "right gripper" else "right gripper"
    out.append(LowLevelCommand(other, command.moves, command.rotation, command.grasp))
    return out


__all__ = [
    "AXIS_OF_DIRECTION",
    "GRASPS",
    "GRIPPERS",
    "MAGNITUDES",
    "MOVE_DIRECTIONS",
    "OPPOSITE_DIRECTION",
    "ROTATIONS",
    "LowLevelCommand",
    "command_variants",
    "format_command",
    "parse_command",
]


def swap_words(text: str, a: str, b: str) -> str:
    """``a`` and ``b`` exchanged everywhere in ``text`` (how distractor commands are made: left <-> right, ...)."""
    return text.replace(a, "\0").replace(b, a).replace("\0", b)
