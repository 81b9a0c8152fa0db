"""Say where a model's ``<Think>`` reasoning and its ``<Answer>`` disagree.

A ViFailback answer states everything twice: the reasoning names the verdict, the keyframe, the failure type, the
corrective action and the drawings, and the answer block repeats them. The app draws what the answer block says, so
when a model reasons "keyframe 9" and answers "6", or moves an OFF point between the two, the user sees one of two
contradicting diagnoses with nothing telling them the model was unsure. This module compares the two parts and
returns one short line per disagreement, for :attr:`Diagnosis.problems`.

Only what both parts state is compared: a value the reasoning does not state in the official wording, or that
either part gives unreadably (already a parser problem), is not a disagreement. Values are read with the parser's
own readers (answer.py, answer_values.py, symbol_codec.py), so "the same" means the same parsed value; a field the
parser took from the reasoning because the answer lacks it compares equal by construction. Never raises.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from vifailback_demo.core.answer import ParsedAnswer, parse_answer
from vifailback_demo.core.answer_scan import KEY_ALIASES
from vifailback_demo.core.answer_values import (
    EMPTY_VALUES,
    normalize_failure_type,
    read_keyframe,
    read_success,
    think_drawings,
    think_statement,
)
from vifailback_demo.core.commands import parse_command
from vifailback_demo.core.symbol_codec import parse_visual_prompts
from vifailback_demo.core.symbols import GripperState, Symbol, points_of

#: Longest problem line; symbol descriptions and commands are shortened to fit.
MAX_LINE_CHARS = 200
#: Drawing differences listed one by one; the rest are counted in one line.
MAX_SYMBOL_LINES = 4

# The official <Think> wordings (core/answer.py format_cot_answer, the reference example). Each is searched once
# per line, so the scans stay linear on hostile text.
_VERDICT_PHRASE = re.compile(r"provided data indicates", re.I)
_KEYFRAME_PHRASE = re.compile(r"is image number", re.I)
_FAILURE_TYPE_PHRASE = re.compile(r"failure type is identified as", re.I)
_ACTION_PHRASE = re.compile(r"corrective action is:", re.I)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _sentences_after(think: str, phrase: re.Pattern[str], prefix_words: tuple[str, ...] = ()) -> set[str]:
    """The rest of the sentence after the first ``phrase`` of each line whose text before it holds a prefix word."""
    found: set[str] = set()
    pos = 0
    while (m := phrase.search(think, pos)) is not None:
        line_start = think.rfind("\n", 0, m.start()) + 1
        end = think.find("\n", m.end())
        end = len(think) if end == -1 else end
        pos = end + 1
        before = think[line_start : m.start()].lower()
        if prefix_words and not any(word in before for word in prefix_words):
            continue
        found.add(think[m.end() : end].split(". ", 1)[0].strip())
    return found


def _one(values: set) -> object | None:
    """The value when every statement gives the same one; a self-contradicting reasoning states nothing."""
    return next(iter(values)) if len(values) == 1 else None


def _answer_empty(parsed: ParsedAnswer, name: str) -> bool:
    """The answer gives ``name`` once, as an empty value such as "None"."""
    keys = [key for key in parsed.fields if KEY_ALIASES.get(key) == name]
    return (
        bool(keys)
        and all(parsed.fields[key].strip().lower() in EMPTY_VALUES for key in keys)
        and not any(f"'{key}' appears" in p for key in keys for p in parsed.problems)
    )


def _same_command(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(text.casefold().split()).strip(" .'\"")

    if norm(a) == norm(b):
        return True
    ca, cb = parse_command(a), parse_command(b)  # same parts in other words (both read cleanly) are no conflict
    return not ca.problems and not cb.problems and ca == cb


def _around_difference(a: str, b: str, width: int = 60) -> tuple[str, str]:
    """Both texts shortened to ``width`` from a little before where they first differ."""
    same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = a.rfind(" ", 0, same - 15) + 1 if same > 30 else 0
    dots = "..." if start else ""
    return _cut(dots + a[start:], width), _cut(dots + b[start:], width)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _describe(symbol: Symbol) -> tuple[str, str]:
    """(what, where): ``("ON/OFF 'OFF'", "at [500, 400]")``."""
    p = [f"[{_num(x)}, {_num(y)}]" for x, y in points_of(symbol)]
    if isinstance(symbol, GripperState):
        return f"ON/OFF '{symbol.text}'", f"at {p[0]}"
    name = symbol.command.removeprefix("Draw ")
    if len(p) == 2:
        colors = getattr(symbol, "colors", None)
        return name, f"from {p[0]} to {p[1]}" + (f" ({'/'.join(colors)})" if colors else "")
    direction = getattr(symbol, "direction", None)
    return name, (f"{direction} " if direction else "") + f"at {p[0]}"


def _symbol_lines(think_syms: list[Symbol], answer_syms: list[Symbol]) -> list[str]:
    """One line per drawing that differs (order does not matter); a changed drawing pairs up by symbol type."""
    think_count, answer_count = Counter(think_syms), Counter(answer_syms)
    by_kind: dict[str, list[Symbol]] = defaultdict(list)
    for s in reversed(list((answer_count - think_count).elements())):  # elements(): in order of first drawing
        by_kind[s.kind].append(s)
    lines = []
    for s in (think_count - answer_count).elements():
        what, where = _describe(s)
        if by_kind[s.kind]:
            other_what, other_where = _describe(by_kind[s.kind].pop())
            said = f"it {other_where}" if other_what == what else f"{other_what} {other_where}"
            lines.append(f"the reasoning draws {what} {where} but the answer draws {said}")
        else:
            lines.append(f"the reasoning draws {what} {where} but the answer does not")
    for kind_left in by_kind.values():
        for s in reversed(kind_left):
            what, where = _describe(s)
            lines.append(f"the answer draws {what} {where} but the reasoning does not")
    if len(lines) > MAX_SYMBOL_LINES:
        hidden = len(lines) - MAX_SYMBOL_LINES + 1
        lines = [*lines[: MAX_SYMBOL_LINES - 1], f"the reasoning and the answer differ in {hidden} more drawings"]
    return lines


def _mismatches(parsed: ParsedAnswer) -> list[str]:
    if parsed.think is None or parsed.answer is None:
        return []
    think, lines = parsed.think, []
    said = _one({read_success(s)[0] for s in _sentences_after(think, _VERDICT_PHRASE)})
    if said is not None and parsed.success is not None and said != parsed.success:
        words = {True: "succeeded", False: "failed"}
        # Everything else follows from the verdict; listing it too would bury the one real disagreement.
        return [f"the reasoning says the task {words[said]} but the answer says it {words[parsed.success]}"]

    stated_frames = _sentences_after(think, _KEYFRAME_PHRASE, ("keyframe", "key frame"))
    keyframe = _one({read_keyframe(s)[0] for s in stated_frames})  # one unreadable statement: none is trusted
    if keyframe is not None:
        if parsed.keyframe is not None and parsed.keyframe != keyframe:
            lines.append(f"the reasoning names keyframe {keyframe} but the answer says {parsed.keyframe}")
        elif parsed.keyframe is None and _answer_empty(parsed, "keyframe"):
            lines.append(f"the reasoning names keyframe {keyframe} but the answer gives none")

    stated, _ = think_statement(think, _FAILURE_TYPE_PHRASE, "failure type")
    failure_type = normalize_failure_type(stated)
    if failure_type and parsed.failure_type not in (None, failure_type):
        lines.append(f"the reasoning's failure type '{failure_type}' differs from the answer's '{parsed.failure_type}'")

    command, _ = think_statement(think, _ACTION_PHRASE, "low level command")
    if command and command.strip().lower() not in EMPTY_VALUES:
        if parsed.low_level is not None and not _same_command(command, parsed.low_level):
            think_part, answer_part = _around_difference(command, parsed.low_level)
            lines.append(
                f"the reasoning's low-level command differs from the answer's: '{think_part}' vs '{answer_part}'"
            )
        elif parsed.low_level is None and _answer_empty(parsed, "low_level"):
            lines.append(f"the reasoning gives the low-level command '{_cut(command, 100)}' but the answer gives none")

    drawings = think_drawings(think)
    # A cut-off answer block may lack its last drawings: that is truncation (already a problem), not disagreement.
    cut = any(p.startswith("<Answer> block is not closed") for p in parsed.problems)
    if drawings is not None and parsed.visual_prompts is not None and not cut:
        think_syms, think_bad = parse_visual_prompts(drawings, check_range=False)
        answer_syms, answer_bad = parse_visual_prompts(parsed.visual_prompts, check_range=False)
        if not think_bad and not answer_bad:  # an unreadable line is a parser problem, not a disagreement
            lines.extend(_symbol_lines(think_syms, answer_syms))
    return [_cut(line, MAX_LINE_CHARS) for line in lines]


def reasoning_mismatches(raw_text: str, *, parsed: ParsedAnswer | None = None) -> list[str]:
    """One problem line per value the <Think> part states differently from the <Answer>; [] if none or unreadable.

    ``parsed`` may pass ``parse_answer(raw_text)`` when the caller already has it (it is not parsed again).
    """
    try:
        return _mismatches(parsed if parsed is not None else parse_answer(raw_text))
    except Exception:  # a checker of untrusted text must never break the diagnosis it annotates
        return []
