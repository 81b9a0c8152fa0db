"""Deterministic structured scorer for the chain-of-thought Hard tasks (7 and 8), always available offline.

Both the reply and the reference are read with the core answer parser; then each component the reference defines
is scored in [0, 1] and the sample score is their mean:

* ``success``: the success detection agrees.
* ``keyframe``: the same 1-based image number (the absolute error is reported too).
* ``failure_type``: the same one of the four taxonomy strings.
* ``command``: elements of the low-level command: target gripper, move directions (F1 of the direction sets),
  magnitudes (per shared direction), rotation and grasp (when either side has one); their mean.
* ``symbols``: symbol types (multiset F1 of kinds); for pairs of the same kind matched greedily by distance:
  arrow colours (same sequence 1, else Jaccard of the sets), arrow direction (straight arrows: cosine of the two
  displacements clipped at 0; rotating arrows: same direction), ON/OFF agreement, and point distance in
  normalised units (0-1 per image side) turned into a score that falls linearly to 0 at ``POINT_TOLERANCE``.

A reference that says "Successful" defines only ``success``. A component the reference defines but the reply
lacks scores 0. Nothing here raises on any reply text.
"""

from __future__ import annotations

import math
import re
from typing import Any

from vifailback_demo.core.answer import ParsedAnswer, parse_answer
from vifailback_demo.core.symbols import (
    NORMALIZED_MAX,
    GripperState,
    RotatingArrow,
    StraightArrow,
    Symbol,
    points_of,
)

#: Mean point distance (fraction of the image side) at which the point score reaches 0.
POINT_TOLERANCE = 0.2

# Only the command vocabulary: plain "up" / "back" also occur in "pick up" or "put it back" and are not moves.
_DIRECTIONS = {
    "upward": "up", "upwards": "up", "downward": "down", "downwards": "down", "left": "left", "right": "right",
    "forward": "forward", "forwards": "forward", "backward": "backward", "backwards": "backward",
}  # fmt: skip
_MAGNITUDES = ("slightly", "significantly")
_GRIPPER_RE = re.compile(r"\b(left|right)\s+(?:gripper|arm)\b")
_TOKEN_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _f1(pred: list[str], ref: list[str]) -> float:
    """Multiset F1; 1.0 when both are empty."""
    if not pred and not ref:
        return 1.0
    remaining = list(ref)
    hits = 0
    for p in pred:
        if p in remaining:
            remaining.remove(p)
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(pred), hits / len(ref)
    return 2 * precision * recall / (precision + recall)


# --- low-level command ---------------------------------------------------------------------------------------


def command_elements(text: str | None) -> dict[str, Any]:
    """Read gripper, moves {direction: magnitude|None}, rotation and grasp from a low-level command sentence."""
    t = (text or "").lower()
    gripper_match = _GRIPPER_RE.search(t)
    gripper = gripper_match.group(1) if gripper_match else None
    tokens = _TOKEN_RE.findall(_GRIPPER_RE.sub(" ", t))  # "left/right gripper" is not a move direction
    moves: dict[str, str | None] = {}
    for i, token in enumerate(tokens):
        direction = _DIRECTIONS.get(token)
        if direction is None or direction in moves:
            continue
        magnitude = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1] in _MAGNITUDES else None
        if magnitude is None:  # "slightly to the left": look back over filler words
            for back in reversed(tokens[max(0, i - 3) : i]):
                if back in _MAGNITUDES:
                    magnitude = back
                    break
                if back in _DIRECTIONS or back == "and":
                    break
        moves[direction] = magnitude
    if re.search(r"\b(?:counter-?clockwise|anti-?clockwise)\b", t):
        rotation = "counter-clockwise"
    elif re.search(r"\bclockwise\b", t):
        rotation = "clockwise"
    else:
        rotation = None
    grasp = "open" if re.search(r"\bopen", t) else "close" if re.search(r"\bclos", t) else None
    return {"gripper": gripper, "moves": moves, "rotation": rotation, "grasp": grasp}


def score_command(pred_text: str | None, ref_text: str | None) -> dict[str, Any]:
    pred, ref = command_elements(pred_text), command_elements(ref_text)
    parts: dict[str, float] = {}
    if ref["gripper"] is not None:
        parts["gripper"] = float(pred["gripper"] == ref["gripper"])
    if pred["moves"] or ref["moves"]:
        parts["directions"] = _f1(sorted(pred["moves"]), sorted(ref["moves"]))
        shared = [d for d in ref["moves"] if d in pred["moves"]]
        if shared:
            parts["magnitudes"] = _mean([float(pred["moves"][d] == ref["moves"][d]) for d in shared])
    for key in ("rotation", "grasp"):
        if pred[key] is not None or ref[key] is not None:
            parts[key] = float(pred[key] == ref[key])
    return {"score": _mean(list(parts.values())) if parts else float(pred == ref), "parts": parts}


# --- symbols -------------------------------------------------------------------------------------------------


def _kind(symbol: Symbol) -> str:
    return symbol.kind


def _point_distance(a: Symbol, b: Symbol) -> float:
    """Mean distance between corresponding points, as a fraction of the normalised image side."""
    pairs = list(zip(points_of(a), points_of(b)))
    return _mean([math.dist(p, q) / NORMALIZED_MAX for p, q in pairs])


def _match(pred: list[Symbol], ref: list[Symbol]) -> list[tuple[Symbol, Symbol]]:
    """Greedy matching of same-kind symbols by smallest point distance (deterministic: ties by order)."""
    candidates = sorted(
        (_point_distance(p, r), i, j) for i, p in enumerate(pred) for j, r in enumerate(ref) if _kind(p) == _kind(r)
    )
    used_p: set[int] = set()
    used_r: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            pairs.append((pred[i], ref[j]))
    return pairs


def _arrow_cosine(p: StraightArrow, r: StraightArrow) -> float:
    dp = (p.end[0] - p.start[0], p.end[1] - p.start[1])
    dr = (r.end[0] - r.start[0], r.end[1] - r.start[1])
    norm = math.hypot(*dp) * math.hypot(*dr)
    return max(0.0, (dp[0] * dr[0] + dp[1] * dr[1]) / norm) if norm else float(dp == dr)


def score_symbols(pred: list[Symbol], ref: list[Symbol]) -> dict[str, Any]:
    parts: dict[str, float] = {"types": _f1([_kind(s) for s in pred], [_kind(s) for s in ref])}
    pairs = _match(pred, ref)
    colors, directions, states, distances = [], [], [], []
    for p, r in pairs:
        distances.append(_point_distance(p, r))
        if isinstance(p, StraightArrow) and isinstance(r, StraightArrow):
            same = tuple(p.colors) == tuple(r.colors)
            union = set(p.colors) | set(r.colors)
            colors.append(1.0 if same else len(set(p.colors) & set(r.colors)) / len(union))
            directions.append(_arrow_cosine(p, r))
        elif isinstance(p, RotatingArrow) and isinstance(r, RotatingArrow):
            directions.append(float(p.direction == r.direction))
        elif isinstance(p, GripperState) and isinstance(r, GripperState):
            states.append(float(p.text == r.text))
    for name, values in (("colors", colors), ("directions", directions), ("states", states)):
        if values:
            parts[name] = _mean(values)
    mean_distance = _mean(distances) if distances else None
    if mean_distance is not None:
        parts["points"] = max(0.0, 1.0 - mean_distance / POINT_TOLERANCE)
    return {
        "score": _mean(list(parts.values())),
        "parts": parts,
        "matched": len(pairs),
        "point_distance": mean_distance,
    }


# --- whole CoT answer ----------------------------------------------------------------------------------------


def score_cot(reply: str | None, reference: str) -> dict[str, Any]:
    """Per-sample structured result for a CoT task; ``score`` in [0, 1] is the mean of the components."""
    pred: ParsedAnswer = parse_answer(reply if isinstance(reply, str) else "")
    ref: ParsedAnswer = parse_answer(reference)
    components: dict[str, float] = {}
    details: dict[str, Any] = {"parse_problems": len(pred.problems)}
    if ref.success is not None:
        components["success"] = float(pred.success == ref.success)
    if ref.success is not False:
        return {"score": _mean(list(components.values())), "components": components, **details}
    if ref.keyframe is not None:
        components["keyframe"] = float(pred.keyframe == ref.keyframe)
        details["keyframe_error"] = abs(pred.keyframe - ref.keyframe) if pred.keyframe is not None else None
    if ref.failure_type is not None:
        components["failure_type"] = float(pred.failure_type == ref.failure_type)
    if ref.low_level:
        command = score_command(pred.low_level, ref.low_level)
        components["command"] = command["score"]
        details["command_parts"] = command["parts"]
    if ref.symbols or pred.symbols:
        symbols = score_symbols(list(pred.symbols), list(ref.symbols))
        components["symbols"] = symbols["score"]
        details["symbol_parts"] = symbols["parts"]
        details["point_distance"] = symbols["point_distance"]
    return {"score": _mean(list(components.values())), "components": components, **details}
