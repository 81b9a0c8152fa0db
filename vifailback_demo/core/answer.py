"""Parse a ViFailback model answer: ``<Think>...</Think><Answer>...</Answer>``.

The answer block is JSON-like, not JSON: the official example misses a comma after ``"keyframe"``, models truncate
at the token limit, and values may hold real or escaped newlines and ``\\uXXXX`` escapes. The parser scans for
``"key": value`` pairs instead of trusting JSON syntax. It never raises: anything it cannot read becomes a problem
in :attr:`ParsedAnswer.problems`, and the raw text is always kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vifailback_demo.core.symbol_codec import parse_visual_prompts, symbols_to_code
from vifailback_demo.core.symbols import Symbol

FAILURE_TYPES: tuple[str, ...] = ("gripper state", "gripper 6d-pose", "task planning", "human intervention")
#: Longest text we scan; a runaway generation beyond this is cut (and reported) to keep parsing fast.
MAX_ANSWER_CHARS = 200_000

# Known answer keys (normalised) -> field. Other keys are kept in ``fields`` when they start a line.
_KEY_ALIASES: dict[str, str] = {
    "success detection": "success",
    "success": "success",
    "keyframe": "keyframe",
    "key frame": "keyframe",
    "low level commands": "low_level",
    "low level command": "low_level",
    "visual prompts": "visual_prompts",
    "visual prompt": "visual_prompts",
    "failure type": "failure_type",
    "failure subtask": "failure_subtask",
    "failure reason": "failure_reason",
    "high level avoidance": "high_level_avoidance",
    "high level correction": "high_level_correction",
    "high level commands": "high_level",
}

_TAG_RE = {
    name: (re.compile(rf"<\s*{name}\s*>", re.I), re.compile(rf"<\s*/\s*{name}\s*>", re.I))
    for name in ("think", "answer")
}
# A key: a quoted name followed by a colon, at a line start or after '{' / ',' (so dicts inside values do not
# match unless their key is a known answer key).
_KEY_RE = re.compile(r'(?:^|(?<=[\n{,]))[ \t]*"(?P<key>[A-Za-z][A-Za-z0-9 _\-]{0,48})"[ \t]*:[ \t]*', re.M)
_FAILURE_TYPE_THINK_RE = re.compile(r"failure type is identified as\s*['\"‘“]([^'\"’”\n]{1,60})", re.I)
_ACTION_THINK_RE = re.compile(r"corrective action is:\s*'(.+?)'\s*\.?\s*(?:\n|$)", re.I | re.S)
_DRAWINGS_THINK_RE = re.compile(r"required drawings are:\s*\n(?P<lines>(?:[ \t]*draw[^\n]*\n?)+)", re.I)
_UNICODE_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


_EMPTY_VALUES = ("", "none", "null", "n/a", "na", "-")


def normalize_key(key: str) -> str:
    return " ".join(key.lower().replace("_", " ").replace("-", " ").split())


def normalize_failure_type(text: str | None) -> str | None:
    """Map loose spellings ("Gripper 6D pose", "task_planning") onto the 4 taxonomy strings; None if unknown."""
    if not text:
        return None
    t = " ".join(text.lower().replace("_", " ").replace("-", " ").split()).strip(" .'\"")
    t = t.replace("6 d", "6d").replace("6dof", "6d")
    for canonical in FAILURE_TYPES:
        if t == canonical.replace("-", " "):
            return canonical
    return None


def decode_escapes(value: str) -> str:
    """Undo JSON string escapes leniently (``\\n``, ``\\"``, ``\\uXXXX``); leaves unknown escapes alone."""
    if "\\" not in value:
        return value
    try:
        return json.loads('"' + value.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"')
    except (json.JSONDecodeError, ValueError):
        pass
    value = _UNICODE_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")


def _clean_value(raw: str) -> tuple[str, bool]:
    """Strip separators and quotes around a scanned value; returns (value, was_closed)."""
    v = raw.strip()
    while v:
        if v[-1] == ",":
            v = v[:-1].rstrip()
        elif v[-1] == "}" and v[:-1].rstrip()[-1:] in ('"', ",", ""):
            v = v[:-1].rstrip()  # the closing brace of a JSON object around the fields, not of a symbol dict
        else:
            break
    if v.startswith("{") and not v.startswith("{'"):
        v = v[1:].lstrip()
    closed = True
    if v.startswith('"'):
        if len(v) >= 2 and v.endswith('"'):
            v = v[1:-1]
        else:
            v, closed = v[1:], False
    return decode_escapes(v).strip(), closed


def scan_fields(block: str) -> tuple[dict[str, str], list[str]]:
    """Read ``"key": value`` pairs from a JSON-like block; keys normalised; problems for unclosed values."""
    matches = []
    for m in _KEY_RE.finditer(block):
        key = normalize_key(m.group("key"))
        at_line_start = m.start() == 0 or block[m.start() - 1] == "\n"
        if key in _KEY_ALIASES or at_line_start:
            matches.append((m, key))
    fields_: dict[str, str] = {}
    problems: list[str] = []
    for i, (m, key) in enumerate(matches):
        end = matches[i + 1][0].start() if i + 1 < len(matches) else len(block)
        value, closed = _clean_value(block[m.end() : end])
        if not closed:
            problems.append(f"answer value for '{key}' has no closing quote (truncated output?)")
        if key in fields_:
            problems.append(f"answer key '{key}' appears more than once; the first value is used")
            continue
        fields_[key] = value
    return fields_, problems


def _section(text: str, name: str, problems: list[str]) -> str | None:
    open_re, close_re = _TAG_RE[name]
    opened = open_re.search(text)
    if not opened:
        return None
    closed = close_re.search(text, opened.end())
    if not closed:
        problems.append(f"<{name.title()}> block is not closed (truncated output?)")
        # A truncated think block runs until an <Answer> tag if there is one.
        stop = _TAG_RE["answer"][0].search(text, opened.end()) if name == "think" else None
        return text[opened.end() : stop.start() if stop else len(text)].strip()
    return text[opened.end() : closed.start()].strip()


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
        """The parse schema of the CLI (DESIGN.md section 5): coordinates as written."""
        return parse_schema(self.success, self.keyframe, self.failure_type, self.low_level, self.symbols, self.problems)


def parse_schema(
    success: bool | None,
    keyframe: int | None,
    failure_type: str | None,
    low_level: str | None,
    symbols: list[Symbol],
    problems: list[str],
) -> dict[str, Any]:
    """The parse schema shared by ``vifailback parse`` and ``diagnosis.json`` (DESIGN.md section 5)."""
    return {
        "success": success,
        "keyframe": keyframe,
        "failure_type": failure_type,
        "low_level": low_level,
        "symbols": symbols_to_code(symbols),
        "problems": list(problems),
    }


def _parse_success(value: str, problems: list[str]) -> bool | None:
    v = value.lower()
    if "fail" in v or "unsuccess" in v or v.strip(" .") in ("no", "false"):
        return False
    if "success" in v or v.strip(" .") in ("yes", "true", "completed"):
        return True
    problems.append(f"success detection: expected 'Successful' or 'Failed', got {value!r:.40}")
    return None


def _parse_keyframe(value: str, problems: list[str]) -> int | None:
    m = re.search(r"\d+", value)
    if m and len(m.group()) <= 6:
        number = int(m.group())
        if number >= 1:
            return number
    if value.strip().lower() not in _EMPTY_VALUES:
        problems.append(f"keyframe: expected a 1-based image number, got {value!r:.40}")
    return None


def parse_answer(text: Any) -> ParsedAnswer:
    """Parse model output; never raises. Missing or unreadable fields are None with a problem each."""
    try:
        return _parse(text)
    except Exception as exc:
        raw = text if isinstance(text, str) else repr(text)
        return ParsedAnswer(raw=raw, problems=[f"internal parser error: {type(exc).__name__}: {exc}"])


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
    result.think = _section(text, "think", problems)
    result.answer = _section(text, "answer", problems)
    if result.answer is None:
        problems.append("no <Answer> block found")
        # Some models answer with the bare block; scan what follows the think block (or the whole text).
        close = _TAG_RE["think"][1].search(text)
        block = text[close.end() :] if close else ("" if result.think is not None else text)
    else:
        block = result.answer
    result.fields, scan_problems = scan_fields(block)
    problems.extend(scan_problems)
    by_field = {_KEY_ALIASES[k]: v for k, v in result.fields.items() if k in _KEY_ALIASES}

    if "success" in by_field:
        result.success = _parse_success(by_field["success"], problems)
    else:
        problems.append("success detection missing")
    if "keyframe" in by_field:
        result.keyframe = _parse_keyframe(by_field["keyframe"], problems)
    if result.success is False and result.keyframe is None and "keyframe" not in by_field:
        problems.append("keyframe missing for a failed task")

    think = result.think or ""
    ft_text = by_field.get("failure_type")
    if ft_text is None:
        m = _FAILURE_TYPE_THINK_RE.search(think)
        ft_text = m.group(1) if m else None
    if ft_text is not None:
        result.failure_type = normalize_failure_type(ft_text)
        if result.failure_type is None:
            problems.append(f"failure type: expected one of {list(FAILURE_TYPES)}, got {ft_text!r:.40}")

    low = by_field.get("low_level")
    if low is None:
        m = _ACTION_THINK_RE.search(think)
        low = m.group(1).strip() if m else None
    result.low_level = low.strip() if low and low.strip().lower() not in _EMPTY_VALUES else None

    prompts = by_field.get("visual_prompts")
    if prompts is None:
        m = _DRAWINGS_THINK_RE.search(think)
        prompts = m.group("lines") if m else None
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
