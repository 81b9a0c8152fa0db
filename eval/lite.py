"""Lite scoring: map a reply onto exactly one option, then exact match against the reference option.

The mapping (deterministic, first rule that applies wins; documented in docs/eval.md):

1. Take the final reply: the ``<Answer>`` block if present, else the text with any ``<Think>`` block removed.
2. Normalise: lower case, markdown markers removed, whitespace collapsed, outer quotes and end punctuation
   stripped; drop a lead-in such as ``answer:``, ``the answer is``, ``option``.
3. Letter: the reply is one option letter, or starts with one followed by ``.``, ``)`` or ``:`` (``B``, ``B.``,
   ``(b)``, ``B) text``, ``B: text``). The letter must be within the options (A = first, as
   :func:`vifailback_demo.core.prompts.format_options` numbers them). The letter decides, whatever text follows.
4. Exact text: the normalised reply equals one normalised option.
5. Containment: the options whose normalised text appears in the reply as a whole phrase; options contained in a
   longer matching option are dropped; exactly one left -> that option.
6. Otherwise the reply maps to no option and is scored wrong (``choice`` is null).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eval.textnorm import final_reply, normalize
from vifailback_demo.core.prompts import option_letter

_LEAD_IN_RE = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*|i\s+choose\s+|"
    r"my\s+answer\s+is\s*:?\s*)+"
)
_LETTER_RE = re.compile(r"^\(?([a-z])(?:\s*[.):]|\)?$)")


def _phrase_in(phrase: str, text: str) -> bool:
    """Whole-phrase containment: the phrase is not glued to letters or digits on either side."""
    if not phrase:
        return False
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


def map_reply_to_option(reply: str | None, options: Sequence[str]) -> int | None:
    """Index of the option the reply names under the documented rule, or None."""
    text = normalize(final_reply(reply))
    text = _LEAD_IN_RE.sub("", text).strip()
    if not text:
        return None
    m = _LETTER_RE.match(text)
    if m:
        index = ord(m.group(1)) - ord("a")
        if 0 <= index < len(options):
            return index
    normalised = [normalize(o) for o in options]
    exact = [i for i, o in enumerate(normalised) if o and o == text]
    if len(exact) == 1:
        return exact[0]
    found = [i for i, o in enumerate(normalised) if _phrase_in(o, text)]
    found = [i for i in found if not any(j != i and normalised[i] in normalised[j] for j in found)]
    return found[0] if len(found) == 1 else None


def score_lite(reply: str | None, options: Sequence[str], answer: str) -> dict[str, Any]:
    """Per-sample Lite result: the mapped choice (letter and text or null) and whether it is the answer."""
    index = map_reply_to_option(reply, options)
    correct = index is not None and options[index] == answer
    return {
        "choice": option_letter(index) if index is not None else None,
        "choice_text": options[index] if index is not None else None,
        "correct": correct,
        "score": 1.0 if correct else 0.0,
    }
