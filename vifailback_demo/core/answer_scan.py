"""Scan the JSON-like ``<Answer>`` block into raw ``"key": value`` strings, in one linear pass.

The block is not JSON: the official example misses a comma after ``"keyframe"``, models truncate at the token
limit, and values may hold real or escaped newlines and ``\\uXXXX`` escapes. So keys are found by a pattern and each
value runs to the next key. This module only finds and unquotes values and records how each one ended (closed
quote, cut by truncation, repeated with a different value); answer_values.py decides what a value means.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Known answer keys (normalised) -> field. Other keys are kept in ``fields`` when they start a line.
KEY_ALIASES: dict[str, str] = {
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

# A key: a quoted name followed by a colon, at a line start or after '{' / ',' (so dicts inside values do not
# match unless their key is a known answer key). Linear: a start position needs a line start or one of '\n{,'
# just before it, so the leading [ \t]* runs of two candidate starts never overlap.
_KEY_RE = re.compile(r'(?:^|(?<=[\n{,]))[ \t]*"(?P<key>[A-Za-z][A-Za-z0-9 _\-]{0,48})"[ \t]*:[ \t]*', re.M)
_UNICODE_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def normalize_key(key: str) -> str:
    return " ".join(key.lower().replace("_", " ").replace("-", " ").split())


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


def _rstrip_end(s: str, start: int, end: int) -> int:
    while end > start and s[end - 1].isspace():
        end -= 1
    return end


def _clean_value(raw: str) -> tuple[str, bool]:
    """Strip separators and quotes around a scanned value; returns (value, was_closed).

    Works on indices: slicing a fresh copy per stripped ``,`` or ``}`` would be quadratic on a run of them.
    """
    start, end = 0, len(raw)
    while start < end and raw[start].isspace():
        start += 1
    end = _rstrip_end(raw, start, end)
    while end > start:
        if raw[end - 1] == ",":
            end = _rstrip_end(raw, start, end - 1)
            continue
        if raw[end - 1] == "}":
            inner = _rstrip_end(raw, start, end - 1)
            if inner == start or raw[inner - 1] in '",':
                end = inner  # the closing brace of a JSON object around the fields, not of a symbol dict
                continue
        break
    if raw.startswith("{", start) and not raw.startswith("{'", start):
        start += 1
        while start < end and raw[start].isspace():
            start += 1
    closed = True
    if raw.startswith('"', start, end):
        if end - start >= 2 and raw[end - 1] == '"':
            start, end = start + 1, end - 1
        else:
            start, closed = start + 1, False
    return decode_escapes(raw[start:end]).strip(), closed


def _drop_cut_key(raw: str) -> str:
    """Remove a last line that is the start of a key cut by truncation (``"visual pro``), not part of the value.

    Without this, ``"Move left.",\\n"`` would read as a closed value ``Move left.",``.
    """
    body = raw.rstrip()
    newline = body.rfind("\n")
    last = body[newline + 1 :].strip()
    if newline == -1 or not last.startswith('"') or len(last) > 52:
        return raw
    name = last[1:].removesuffix('"')
    if all(ch.isalnum() or ch in " _-" for ch in name):
        return raw[:newline]
    return raw


@dataclass(frozen=True)
class Value:
    """One scanned answer value and what is known about how it ended."""

    text: str
    closed: bool  # False: it opened a quote that never closed
    cut: bool  # it runs to the end of an unterminated output, so it may be cut mid-word (truncation)


def scan_values(block: str, block_closed: bool) -> tuple[dict[str, str], dict[str, Value | None], list[str]]:
    """Scan ``"key": value`` pairs: (first value per key, :class:`Value` per key or None if repeats differ, problems).

    ``block_closed`` says whether the block ended with its closing tag; if not, the last value may be cut.
    """
    matches = []
    for m in _KEY_RE.finditer(block):
        key = normalize_key(m.group("key"))
        at_line_start = m.start() == 0 or block[m.start() - 1] == "\n"
        if key in KEY_ALIASES or at_line_start:
            matches.append((m, key))
    fields_: dict[str, str] = {}
    values: dict[str, Value | None] = {}
    counts: dict[str, int] = {}
    problems: list[str] = []
    for i, (m, key) in enumerate(matches):
        at_end = i + 1 == len(matches)
        raw = block[m.end() : matches[i + 1][0].start() if not at_end else len(block)]
        if at_end and not block_closed:
            raw = _drop_cut_key(raw)
        value, closed = _clean_value(raw)
        counts[key] = counts.get(key, 0) + 1
        if key in fields_:
            if values[key] is not None and values[key].text != value:  # type: ignore[union-attr]
                values[key] = None  # two different answers: neither is trusted
            continue  # repeats are summed up below: thousands of them must not mean thousands of problems
        if not closed:
            problems.append(f"answer value for '{key}' has no closing quote (truncated output?)")
        fields_[key] = value
        cut = at_end and not block_closed and not raw.rstrip().endswith(('"', ",", "}"))
        values[key] = Value(value, closed, cut)
    for key, count in counts.items():
        if count > 1:
            if values[key] is None:
                problems.append(f"answer key '{key}' appears {count} times with different values; none is used")
            else:
                problems.append(f"answer key '{key}' appears more than once ({count} times); the first value is used")
    return fields_, values, problems


def scan_fields(block: str) -> tuple[dict[str, str], list[str]]:
    """Read ``"key": value`` pairs from a JSON-like block; keys normalised; problems for unclosed values."""
    fields_, _, problems = scan_values(block, block_closed=True)
    return fields_, problems
