"""Read and write the two forms of symbols: model text lines and raw annotation code.

Model text (coordinates normalised to 0-1000), one command per line::

    Draw Straight Arrow: {'start_point': [602, 179], 'end_point': [689, 325], 'color': ['green', 'red']}

Raw annotation code (pixel coordinates), the canonical JSON of this project::

    {"type": "move_arrow", "start": [x, y], "end": [x, y], "colors": ["green", "red"]}

Text parsing follows the official rule (split at the first ``:``, lower-case the command name, cut everything after
the last ``}``, read a Python literal) and is more forgiving about spacing and case. Strict functions raise
:class:`SymbolError` (human input); :func:`parse_visual_prompts` collects problems instead (model output).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from vifailback_demo.core.symbols import (
    ANY_SPACE,
    NORMALIZED_MAX,
    NORMALIZED_SPACE,
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Number,
    Point,
    Rewind,
    RotatingArrow,
    StraightArrow,
    Symbol,
    as_point,
    check_colors,
    check_direction,
    check_state_text,
    range_problems,
    safe_repr,
)
from vifailback_demo.errors import SymbolError

#: Longest line we hand to ``ast.literal_eval`` (deeply nested or huge literals are slow or crash it).
MAX_LINE_CHARS = 2000
#: Problems listed per visual-prompts text; the rest are counted in one last line.
MAX_LINE_PROBLEMS = 50


def _num_text(value: Number) -> str:
    return repr(value) if isinstance(value, float) else str(int(value))


def _point_text(point: Point) -> str:
    return f"[{_num_text(point[0])}, {_num_text(point[1])}]"


def symbol_to_text(symbol: Symbol) -> str:
    """One model-text line in the official syntax."""
    if isinstance(symbol, StraightArrow):
        colors = ", ".join(f"'{c}'" for c in symbol.colors)
        body = (
            f"'start_point': {_point_text(symbol.start)}, 'end_point': {_point_text(symbol.end)}, 'color': [{colors}]"
        )
    elif isinstance(symbol, RotatingArrow):
        body = f"'center': {_point_text(symbol.center)}, 'direction': '{symbol.direction}'"
    elif isinstance(symbol, DualCrosshair):
        body = f"'start_point': {_point_text(symbol.p1)}, 'end_point': {_point_text(symbol.p2)}"
    elif isinstance(symbol, (Crosshair, GripperState, Lock, Rewind)):
        body = f"'position': {_point_text(symbol.pos)}"
    else:
        raise SymbolError(f"expected one of the 7 symbol types, got {type(symbol).__name__}")
    return f"{symbol.command}: {{{body}}}"


def format_visual_prompts(symbols: Iterable[Symbol]) -> str:
    """The ``visual prompts`` answer value: one line per symbol, joined by newlines."""
    return "\n".join(symbol_to_text(s) for s in symbols)


def _require(params: Mapping[str, Any], key: str, command: str) -> Any:
    if key not in params:
        raise SymbolError(f"{command}: expected key '{key}', got keys {sorted(safe_repr(k, 40) for k in params)}")
    return params[key]


def _symbol_from_params(name: str, params: Mapping[str, Any]) -> Symbol:
    def point(key: str, what: str) -> Point:
        return as_point(_require(params, key, name), what, NORMALIZED_SPACE)  # model text is 0-1000

    if name == "draw straight arrow":
        return StraightArrow(
            point("start_point", "straight arrow start_point"),
            point("end_point", "straight arrow end_point"),
            check_colors(params.get("color", params.get("colors", ["green"]))),
        )
    if name == "draw rotating arrow":
        return RotatingArrow(
            point("center", "rotating arrow center"),
            check_direction(params.get("direction", "clockwise")),
        )
    if name == "draw dual crosshair":
        return DualCrosshair(
            point("start_point", "dual crosshair start_point"),
            point("end_point", "dual crosshair end_point"),
        )
    point_types = {"draw crosshair": Crosshair, "draw lock": Lock, "draw rewind": Rewind}
    if name in point_types:
        return point_types[name](point("position", f"{name[5:]} position"))
    if name in ("draw on", "draw off"):
        return GripperState(point("position", f"{name[5:]} position"), name[5:].upper())
    raise SymbolError(
        f"unknown command {name[:40]!r}: expected Draw Straight Arrow, Draw Rotating Arrow, Draw Crosshair, "
        "Draw Dual Crosshair, Draw ON, Draw OFF, Draw Lock or Draw Rewind"
    )


def parse_symbol_line(line: str) -> Symbol:
    """Parse one model-text line strictly; raises :class:`SymbolError` naming what was expected."""
    line = line.strip()
    if len(line) > MAX_LINE_CHARS:
        raise SymbolError(f"symbol line is {len(line)} characters long; expected at most {MAX_LINE_CHARS}")
    brace, colon = line.find("{"), line.find(":")
    if colon == -1 and brace == -1:
        raise SymbolError(f"expected 'Draw <Symbol>: {{...}}', got {line!r:.80}")
    if brace != -1 and (colon == -1 or brace < colon):
        head, body = line[:brace], line[brace:]  # "Draw Lock {...}": the colon was forgotten
    else:
        head, body = line.split(":", 1)
    # Tolerate list markers ("- ", "1. ") and odd spacing before the command name.
    name = " ".join(head.lower().split()).lstrip("-*0123456789. ")
    body = body.strip()
    last = body.rfind("}")
    if last != -1:
        body = body[: last + 1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # literal_eval warns about odd escapes in model text; we report instead
            params = ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        what = name[:40] or "symbol line"
        raise SymbolError(f"{what}: expected a {{'key': value}} literal, got {body!r:.80}") from exc
    if not isinstance(params, dict):
        raise SymbolError(f"{name[:40]}: expected a {{'key': value}} dict, got {type(params).__name__}")
    return _symbol_from_params(name, params)


def split_prompt_lines(text: str) -> list[str]:
    """Split a visual-prompts string into lines; a literal backslash-n between commands counts as a newline."""
    return [ln.strip() for ln in text.replace("\\r", "").replace("\\n", "\n").splitlines() if ln.strip()]


def parse_visual_prompts(text: str | None, *, check_range: bool = True) -> tuple[list[Symbol], list[str]]:
    """Lenient parse for model output: every readable symbol plus a list of problems; never raises.

    Lines that cannot be read are skipped with a problem naming the line. Out-of-range points are kept (the
    renderer clips them) and reported.
    """
    symbols: list[Symbol] = []
    problems: list[str] = []
    if not text:
        return symbols, problems
    for number, line in enumerate(split_prompt_lines(str(text)), start=1):
        try:
            symbol = parse_symbol_line(line)
        except SymbolError as exc:
            problems.append(f"visual prompt line {number} skipped: {exc}")
            continue
        symbols.append(symbol)
        if check_range:
            problems.extend(f"visual prompt line {number}: {p}" for p in range_problems(symbol))
    if len(problems) > MAX_LINE_PROBLEMS:
        # A runaway generation can hold thousands of bad lines; a list that long helps nobody reading it.
        hidden = len(problems) - MAX_LINE_PROBLEMS
        problems = [*problems[:MAX_LINE_PROBLEMS], f"... and {hidden} more visual prompt problems"]
    return symbols, problems


# --- raw annotation code (canonical JSON) -----------------------------------------------------------------------

_CODE_KEYS: dict[str, set[str]] = {
    "move_arrow": {"type", "start", "end", "colors"},
    "rotate_arrow": {"type", "center", "direction"},
    "crosshair": {"type", "pos"},
    "dual_crosshair": {"type", "p1", "p2"},
    "state": {"type", "pos", "text"},
    "lock": {"type", "pos"},
    "rewind": {"type", "pos"},
}


def symbol_to_code(symbol: Symbol) -> dict[str, Any]:
    """Canonical JSON dict (the official raw-annotation schema, colour names)."""
    if isinstance(symbol, StraightArrow):
        return {
            "type": symbol.kind,
            "start": list(symbol.start),
            "end": list(symbol.end),
            "colors": list(symbol.colors),
        }
    if isinstance(symbol, RotatingArrow):
        return {"type": symbol.kind, "center": list(symbol.center), "direction": symbol.direction}
    if isinstance(symbol, DualCrosshair):
        return {"type": symbol.kind, "p1": list(symbol.p1), "p2": list(symbol.p2)}
    if isinstance(symbol, GripperState):
        return {"type": symbol.kind, "pos": list(symbol.pos), "text": symbol.text}
    if isinstance(symbol, (Crosshair, Lock, Rewind)):
        return {"type": symbol.kind, "pos": list(symbol.pos)}
    raise SymbolError(f"expected one of the 7 symbol types, got {type(symbol).__name__}")


def symbol_from_code(code: Mapping[str, Any], *, allow_extra: bool = False, allowed: str = ANY_SPACE) -> Symbol:
    """Read one canonical/official code dict; raises :class:`SymbolError`.

    Old ``rotate_arrow`` records with ``start``/``end`` and no ``center`` get the integer midpoint as centre, as
    the official tools do. With ``allow_extra=False`` unknown keys are an error (human input); dataset readers
    pass ``allow_extra=True`` because future official files may carry more fields. ``allowed`` names the caller's
    coordinate range in messages (e.g. "0-640 x 0-480 (pixels)").
    """
    if not isinstance(code, Mapping):
        raise SymbolError(
            f"expected a symbol object like {{'type': 'crosshair', 'pos': [x, y]}}, got {safe_repr(code, 60)}"
        )
    kind = code.get("type")
    if not isinstance(kind, str) or kind not in _CODE_KEYS:  # a list here must not reach the dict lookup
        raise SymbolError(f"symbol type: expected one of {sorted(_CODE_KEYS)}, got {safe_repr(kind, 40)}")
    code = dict(code)

    def point(key: str) -> Point:
        return as_point(code[key], f"{kind} {key}", allowed)

    legacy = set()
    if kind == "rotate_arrow" and "center" not in code and "start" in code and "end" in code:
        start, end = point("start"), point("end")
        code["center"] = [int((start[0] + end[0]) / 2), int((start[1] + end[1]) / 2)]
        legacy = {"start", "end"}
    extra = set(code) - _CODE_KEYS[kind] - legacy
    if extra and not allow_extra:
        raise SymbolError(
            f"{kind}: unexpected keys {sorted(safe_repr(k, 40) for k in extra)}; expected {sorted(_CODE_KEYS[kind])}"
        )
    missing = (_CODE_KEYS[kind] - {"colors", "direction"}) - set(code)
    if missing:
        raise SymbolError(f"{kind}: missing keys {sorted(missing)}")
    if kind == "move_arrow":
        return StraightArrow(point("start"), point("end"), check_colors(code.get("colors", ["green"])))
    if kind == "rotate_arrow":
        return RotatingArrow(point("center"), check_direction(code.get("direction", "clockwise")))
    if kind == "dual_crosshair":
        return DualCrosshair(point("p1"), point("p2"))
    if kind == "state":
        return GripperState(point("pos"), check_state_text(code["text"]))
    single = {"crosshair": Crosshair, "lock": Lock, "rewind": Rewind}[kind]
    return single(point("pos"))


def symbols_to_code(symbols: Iterable[Symbol]) -> list[dict[str, Any]]:
    return [symbol_to_code(s) for s in symbols]


def symbols_from_code(codes: Any, *, allow_extra: bool = False, allowed: str = ANY_SPACE) -> list[Symbol]:
    """Strict: a list of code dicts; the first bad one raises :class:`SymbolError` naming its position."""
    if not isinstance(codes, list):
        raise SymbolError(f"expected a list of symbol objects, got {type(codes).__name__}")
    out = []
    for i, code in enumerate(codes, start=1):
        try:
            out.append(symbol_from_code(code, allow_extra=allow_extra, allowed=allowed))
        except SymbolError as exc:
            raise SymbolError(f"symbol {i}: {exc}") from None
    return out


def read_symbols_lenient(codes: Any) -> tuple[list[Symbol], list[str]]:
    """Read what can be read from a code list (dataset files); problems instead of exceptions."""
    if not isinstance(codes, list):
        return [], [f"expected a list of symbol objects, got {type(codes).__name__}"]
    symbols, problems = [], []
    for i, code in enumerate(codes, start=1):
        try:
            symbols.append(symbol_from_code(code, allow_extra=True))
        except SymbolError as exc:
            problems.append(f"symbol {i} skipped: {exc}")
    return symbols, problems


__all__ = [
    "NORMALIZED_MAX",
    "format_visual_prompts",
    "parse_symbol_line",
    "parse_visual_prompts",
    "read_symbols_lenient",
    "split_prompt_lines",
    "symbol_from_code",
    "symbol_to_code",
    "symbol_to_text",
    "symbols_from_code",
    "symbols_to_code",
]
