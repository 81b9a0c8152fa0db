"""Small text helpers shared by the scorers: the final part of a reply, normalisation, word tokens."""

from __future__ import annotations

import re

_THINK_RE = re.compile(r"<\s*think\s*>.*?(?:<\s*/\s*think\s*>|$)", re.I | re.S)
_ANSWER_RE = re.compile(r"<\s*answer\s*>(.*?)(?:<\s*/\s*answer\s*>|$)", re.I | re.S)
_MARKDOWN_RE = re.compile(r"[*`#_]+")
_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def final_reply(text: str | None) -> str:
    """The part of a reply that states the answer: the ``<Answer>`` block if any, else the text minus ``<Think>``."""
    if not text:
        return ""
    m = _ANSWER_RE.search(text)
    if m:
        return m.group(1).strip()
    return _THINK_RE.sub(" ", text).strip()


def normalize(text: str) -> str:
    """Lower-case, markdown markers removed, whitespace collapsed, outer quotes and end punctuation stripped."""
    t = _MARKDOWN_RE.sub(" ", text.lower())
    t = " ".join(t.split())
    return t.strip(" \t\n\"'“”‘’.,;:!")


def words(text: str) -> list[str]:
    """Lower-case word tokens (hyphenated words such as ``counter-clockwise`` stay one token)."""
    return _WORD_RE.findall(text.lower())
