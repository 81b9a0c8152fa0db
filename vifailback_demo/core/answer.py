"""Parse a ViFailback model answer: ``<Think>...</Think><Answer>...</Answer>``.

The answer block is JSON-like, not JSON (answer_scan.py finds its ``"key": value`` pairs); fields missing there are
read from the official ``<Think>`` sentences. The parser never raises: anything it cannot read becomes a problem in
:attr:`ParsedAnswer.problems`, and the raw text is always kept.

Model output is untrusted text, so the parser must also be safe on hostile input: every scan is linear in the
length (no backtracking patterns; tests/core/test_answer_linear.py times adversarial inputs), and a value it cannot
read for certain (a negated verdict, a keyframe range, a value cut off by truncation) is None with a problem, never
a guess (answer_values.py holds those readers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vifailback_demo.core.answer_scan import KEY_ALIASES, Value, scan_values
from vifailback_demo.core.answer_values import (
    EMPTY_VALUES,
    FAILURE_TYPES,
    normalize_failure_type,
    read_keyframe,
    read_success,
    think_drawings,
    think_statement,
)
from vifailback_demo.core.symbol_codec import parse_visual_prompts, symbols_to_code
from vifailback_demo.core.symbols import Symbol

#: Longest text we scan; a runaway generation beyond this is cut (and reported) to keep parsing fast.
MAX_ANSWER_CHARS = 200_000

# Every pattern here must stay linear on any input: no nested or adjacent quantifiers over overlapping characters,
# no lazy ".+?" followed by optional parts (the old corrective-action pattern took 19 s on 32k characters).
# A tag's \s* runs cannot overlap: each starts right after its own '<'.
_TAG_RE = {
    name: (re.compile(rf"<\s*{name}\s*>", re.I), re.compile(rf"<\s*/\s*{name}\s*>", re.I))
    for name in ("think", "answer")
}
_FAILURE_TYPE_PHRASE = re.compile(r"failure type is identified as", re.I)
_ACTION_PHRASE = re.compile(r"corrective action is:", re.I)


def _section(text: str, name: str, problems: list[str]) -> tuple[str | None, bool]:
    """The text inside ``<name>...</name>`` (stripped) and whether the closing tag was found."""
    open_re, close_re = _TAG_RE[name]
    opened = open_re.search(text)
    if not opened:
        return None, False
    closed = close_re.search(text, opened.end())
    if not closed:
        problems.append(f"<{name.title()}> block is not closed (truncated output?)")
        # A truncated think block runs until an <Answer> tag if there is one.
        stop = _TAG_RE["answer"][0].search(text, opened.end()) if name == "think" else None
        return text[opened.end() : stop.start() if stop else len(text)].strip(), False
    return text[opened.end() : closed.start()].strip(), True


@dataclass
class ParsedAnswer:
    """Everything read from one model answer; ``problems`` lists what could not be read."""

    raw: str
    think: str | None = None
    answer: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    success: bool | None = None
    keyframe: int | None = None
    failure_type: str | None = None
    low_level: str | None = None
    visual_prompts: str | None = None
    symbols: list[Symbol] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def parseable(self) -> bool:
        """True when the answer states success, and a failure also names a keyframe."""
        return self.success is not None and (self.success or self.keyframe is not None)

    def to_dict(self) -> dict[str, Any]:
        """The parse schema of the CLI: coordinates as written."""
        return parse_schema(self.success, self.keyframe, self.failure_type, self.low_level, self.symbols, self.problems)


def parse_schema(
    success: bool | None,
    keyframe: int | None,
    failure_type: str | None,
    low_level: str | None,
    symbols: list[Symbol],
    problems: list[str],
) -> dict[str, Any]:
    """The parse schema shared by ``vifailback parse`` and ``diagnosis.json``."""
    return {
        "success": success,
        "keyframe": keyframe,
        "failure_type": failure_type,
        "low_level": low_level,
        "symbols": symbols_to_code(symbols),
        "problems": list(problems),
    }


def parse_answer(text: Any) -> ParsedAnswer:
    """Parse model output; never raises. Missing or unreadable fields are None with a problem each."""
    try:
        return _parse(text)
    except Exception as exc:
        raw = text if isinstance(text, str) else repr(text)
        return ParsedAnswer(raw=raw, problems=[f"internal parser error: {type(exc).__name__}: {exc}"])


def _single_value(value: Value | None, name: str, problems: list[str]) -> str | None:
    """The text of a one-line field, or None (with a problem) when it cannot be trusted.

    A value cut by the end of the output may be cut mid-number ("1" of "13"); a value whose quote never closed
    is read up to its line end only, so it cannot take digits or words from the lines after it.
    """
    if value is None:
        problems.append(f"{name}: the answer gives different values; none is used")
        return None
    if value.cut and value.text.lower() not in EMPTY_VALUES:
        problems.append(f"{name}: the value {value.text!r:.40} runs to the end of the output and may be cut off")
        return None
    return value.text if value.closed else value.text.split("\n", 1)[0]


def _parse(text: Any) -> ParsedAnswer:
    if not isinstance(text, str):
        return ParsedAnswer(raw=repr(text), problems=[f"expected model output text, got {type(text).__name__}"])
    result = ParsedAnswer(raw=text)
    problems = result.problems
    if len(text) > MAX_ANSWER_CHARS:
        problems.append(f"output is {len(text)} characters; only the first {MAX_ANSWER_CHARS} were parsed")
        text = text[:MAX_ANSWER_CHARS]
    if "\\n" in text:
        # Output serialised with escaped newlines (one long line): read it as the lines it stands for.
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
    result.think, _ = _section(text, "think", problems)
    result.answer, answer_closed = _section(text, "answer", problems)
    if result.answer is None:
        problems.append("no <Answer> block found")
        # Some models answer with the bare block; scan what follows the think block (or the whole text).
        close = _TAG_RE["think"][1].search(text)
        block = text[close.end() :] if close else ("" if result.think is not None else text)
    else:
        block = result.answer
    result.fields, values, scan_problems = scan_values(block, answer_closed)
    problems.extend(scan_problems)
    by_field: dict[str, Value | None] = {}
    for key, value in values.items():
        name = KEY_ALIASES.get(key)
        if name is None:
            continue
        seen = by_field.get(name, value)
        # Two spellings of one key ("success" and "success detection") that disagree: neither is trusted.
        by_field[name] = value if seen is not None and value is not None and seen.text == value.text else None

    if "success" in by_field:
        success_text = _single_value(by_field["success"], "success detection", problems)
        if success_text is not None:
            result.success, problem = read_success(success_text)
            problems.extend([problem] if problem else [])
    else:
        problems.append("success detection missing")
    keyframe_text = _single_value(by_field["keyframe"], "keyframe", problems) if "keyframe" in by_field else ""
    if keyframe_text is not None:
        result.keyframe, problem = read_keyframe(keyframe_text)
        problems.extend([problem] if problem else [])
        if result.success is False and keyframe_text.strip().lower() in EMPTY_VALUES:
            problems.append("keyframe missing for a failed task")

    think = result.think or ""
    if "failure_type" in by_field:
        ft_text = _single_value(by_field["failure_type"], "failure type", problems)
    else:
        ft_text, problem = think_statement(think, _FAILURE_TYPE_PHRASE, "failure type")
        problems.extend([problem] if problem else [])
    if ft_text is not None and ft_text.strip().lower() not in EMPTY_VALUES:
        result.failure_type = normalize_failure_type(ft_text)
        if result.failure_type is None:
            problems.append(f"failure type: expected one of {list(FAILURE_TYPES)}, got {ft_text!r:.40}")

    if "low_level" in by_field:
        low_value = by_field["low_level"]
        low = _single_value(low_value, "low level command", problems)
        if low is not None and low_value is not None and not low_value.closed and "\n" in low_value.text.strip():
            problems.append("low level command: its quote never closes and it spans several lines; not used")
            low = None
    else:
        low, problem = think_statement(think, _ACTION_PHRASE, "low level command")
        problems.extend([problem] if problem else [])
    result.low_level = low.strip() if low and low.strip().lower() not in EMPTY_VALUES else None

    if "visual_prompts" in by_field:
        prompts_value = by_field["visual_prompts"]
        prompts = prompts_value.text if prompts_value is not None else None
        if prompts_value is None:
            problems.append("visual prompts: the answer gives different values; none is used")
    else:
        prompts = think_drawings(think)
        if prompts is not None:
            problems.append("visual prompts read from the <Think> block (missing in <Answer>)")
    result.visual_prompts = prompts
    result.symbols, symbol_problems = parse_visual_prompts(prompts)
    problems.extend(symbol_problems)
    return result


def _quote(value: str) -> str:
    """A JSON string body without the surrounding quotes; newlines stay real, as in the official answers."""
    return json.dumps(value, ensure_ascii=False)[1:-1].replace("\\n", "\n")


def format_cot_answer(
    *,
    success: bool,
    keyframe: int | None = None,
    failure_type: str | None = None,
    low_level: str | None = None,
    symbols: list[Symbol] | tuple[Symbol, ...] = (),
    mode: str = "avoidance",
) -> str:
    """The assistant message of a CoT record in the official format (think text worded as the official data).

    :func:`parse_answer` reads it back to the same fields; the answer block uses proper commas.
    """
    from vifailback_demo.core.symbol_codec import format_visual_prompts

    if mode not in ("avoidance", "correction"):
        raise ValueError(f"mode: expected 'avoidance' or 'correction', got {mode!r}")
    if success:
        think = (
            "First, I need to determine if the task was successful. The provided data indicates the task was "
            "completed successfully.\nNo failure occurred, so no keyframe, failure type, low-level command or "
            "visual prompt is needed."
        )
        answer = '"success detection": "Successful",\n"keyframe": "None",\n"low level commands": "None",\n"visual prompts": ""'
        return f"<Think>\n{think}\n</Think>\n<Answer>\n{answer}\n</Answer>"
    if keyframe is None or failure_type is None or not low_level:
        raise ValueError("a failed CoT answer needs keyframe, failure_type and low_level")
    prompts = format_visual_prompts(symbols)
    if mode == "avoidance":
        where = f"Next, I must localize when the failure began. The keyframe just before the failure is image number {keyframe}."
        why = "Based on this, I will formulate a low-level command to avoid the failure."
    else:
        where = f"Next, I must localize where the correction should start. The keyframe from which to correct the failure is image number {keyframe}."
        why = "Based on this, I will formulate a low-level command to correct the failure."
    think = (
        "First, I need to determine if the task was successful. The provided data indicates a failure occurred.\n"
        f"{where}\n"
        f"Now I need to classify the failure. The failure type is identified as '{failure_type}'.\n"
        f"{why} The corrective action is: '{low_level}'.\n"
        "Finally, I will generate the visual prompt commands corresponding to this low-level correction. "
        f"The required drawings are:\n{prompts}"
    )
    answer = (
        '"success detection": "Failed",\n'
        f'"keyframe": "{keyframe}",\n'
        f'"low level commands": "{_quote(low_level)}",\n'
        f'"visual prompts": "{_quote(prompts)}"'
    )
    return f"<Think>\n{think}\n</Think>\n<Answer>\n{answer}\n</Answer>"
