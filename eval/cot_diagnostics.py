"""Diagnostic rates over the chain-of-thought items (tasks 7 and 8), computed from the stored replies.

These are the questions a user asks of a failure model before trusting it, and the bundled tiny model's targets:
is the answer readable, is success/failure right, is the failure type right, is the keyframe exact or within one
image, are the symbol types and the arrow colours right. They complement (never replace) the Hard score.
The failure-type confusion and the rates among replies whose failure type is right show where a model goes wrong:
in the synthetic world the keyframe and the symbols follow mostly from the failure type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from eval.tasks import COT_TAGS
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.symbols import StraightArrow


def rate(hits: int, n: int) -> float | None:
    """``hits`` of ``n`` in percent, two decimals; None when there is nothing to rate."""
    return round(100.0 * hits / n, 2) if n else None


def symbol_signature(symbols) -> tuple:
    """What the symbols metric compares, hashable: the multiset of symbol types and of arrow colour lists."""
    kinds = Counter(s.kind for s in symbols)
    colours = Counter(s.colors for s in symbols if isinstance(s, StraightArrow))
    return tuple(sorted(kinds.items())), tuple(sorted(colours.items()))


def _types_and_colours(pred: list, ref: list) -> bool:
    """Same multiset of symbol types and same multiset of arrow colour lists (colour order included)."""
    return symbol_signature(pred) == symbol_signature(ref)


def cot_diagnostics(samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Rates in percent over the CoT samples; failure-only rates count only references that failed."""
    n = parseable = success = 0
    failed = ftype = kf_exact = kf_near = symbols = kf_exact_typed = symbols_typed = 0
    confusion: dict[str, Counter] = {}
    for s in samples:
        if s.get("tag") not in COT_TAGS:
            continue
        pred, ref = parse_answer(s.get("prediction") or ""), parse_answer(s.get("reference") or "")
        n += 1
        parseable += pred.parseable
        success += pred.success is not None and pred.success == ref.success
        if ref.success is False:
            failed += 1
            type_right = pred.failure_type is not None and pred.failure_type == ref.failure_type
            ftype += type_right
            confusion.setdefault(ref.failure_type or "none", Counter())[pred.failure_type or "none"] += 1
            exact = pred.keyframe is not None and ref.keyframe is not None and pred.keyframe == ref.keyframe
            if pred.keyframe is not None and ref.keyframe is not None:
                kf_exact += exact
                kf_near += abs(pred.keyframe - ref.keyframe) <= 1
            symbols_right = _types_and_colours(list(pred.symbols), list(ref.symbols))
            symbols += symbols_right
            kf_exact_typed += type_right and exact
            symbols_typed += type_right and symbols_right
    return {
        "n": n,
        "n_failed_references": failed,
        "parseable": rate(parseable, n),
        "failure_detection": rate(success, n),
        "failure_type": rate(ftype, failed),
        "keyframe_exact": rate(kf_exact, failed),
        "keyframe_within_1": rate(kf_near, failed),
        "symbol_types_and_colours": rate(symbols, failed),
        "keyframe_exact_when_type_right": rate(kf_exact_typed, ftype),
        "symbol_types_and_colours_when_type_right": rate(symbols_typed, ftype),
        # reference failure type -> predicted failure type ("none" when the reply names none) -> count
        "failure_type_confusion": {ref: dict(sorted(c.items())) for ref, c in sorted(confusion.items())},
    }
