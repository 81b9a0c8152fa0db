"""Read one answer field's value truthfully: the right value, or None with a problem; never a confident guess.

Model answers are free text inside a JSON-like block, so a value such as "Not successful", "-5" or "between 3
and 13" must not be read by a keyword or first-number search: that is how a parser turns a model's hedge or
mistake into a confident wrong diagnosis. Each reader here accepts only forms it understands completely and
reports everything else. All scanning is single-pass (no backtracking regular expressions), so the cost is linear
in the text length whatever the text holds.
"""

from __future__ import annotations

import re

FAILURE_TYPES: tuple[str, ...] = ("gripper state", "gripper 6d-pose", "task planning", "human intervention")
#: Values that mean "no value" (a successful answer writes "keyframe": "None").
EMPTY_VALUES = ("", "none", "null", "n/a", "na", "-")

# Each pattern below is a single character class with "+", which the regex engine matches in one pass.
_WORD_RE = re.compile(r"[a-z]+")
_CLAUSE_BREAK_RE = re.compile(r"[.,;!?()\[\]{}\n]+")
_KEYFRAME_TOKEN_RE = re.compile(r"[0-9]+|[^\W\d_]+|\s+|.", re.S)

# --- success detection -------------------------------------------------------------------------------------------

#: Words that flip the verdict word they precede ("not successful", "did not fail", "no failure").
# fmt: off
_NEGATORS = frozenset((
    "not", "no", "never", "without", "nor", "neither", "cannot", "none", "nothing", "free", "lack", "lacks",
    "lacked", "didnt", "doesnt", "dont", "wasnt", "werent", "isnt", "arent", "hasnt", "havent", "hadnt",
    "wont", "cant", "couldnt", "wouldnt", "shouldnt",
))
# fmt: on
#: Words that make a verdict uncertain; the reader then refuses to pick one.
# fmt: off
_HEDGES = frozenset((
    "partial", "partially", "partly", "maybe", "perhaps", "possibly", "probably", "likely", "unlikely",
    "unclear", "uncertain", "unknown", "unsure", "almost", "nearly", "mostly", "somewhat", "either",
    "ambiguous", "undetermined", "seems", "seemingly", "appears", "might",
))
# fmt: on
#: Words that start a new clause: "failed but recovered" holds two verdicts, each read on its own.
_CLAUSE_WORDS = frozenset(["but", "however", "although", "though", "yet", "while", "whereas"])
#: A verdict is a word or a short sentence; a longer value is refused rather than searched for keywords.
_MAX_SUCCESS_CHARS = 300
#: A negator this many words or fewer before a verdict word applies to it ("did not really fail" = 2).
_NEGATION_REACH = 2


def _verdict(word: str, following: str) -> bool | None:
    """The polarity of one word: True for success words, False for failure words, None otherwise."""
    if word.startswith(("unsuccess", "fail")) or word in ("incomplete", "uncompleted", "unfinished", "false"):
        return False
    if word.startswith("success") and following == "detection":
        return None  # the key name repeated inside the value ("Success detection: Failed")
    if word.startswith(("success", "succeed")) or word in ("completed", "accomplished", "true", "yes"):
        return True
    return None


def _clause_verdicts(words: list[str]) -> set[bool] | None:
    """Verdicts stated in one clause; None when negation or hedging makes the clause unreadable."""
    if any(w in _HEDGES for w in words):
        return None
    cues = [
        (i, v)
        for i, w in enumerate(words)
        if (v := _verdict(w, words[i + 1] if i + 1 < len(words) else "")) is not None
    ]
    negators = [i for i, w in enumerate(words) if w in _NEGATORS]
    if not cues:
        return None if negators else set()  # "not sure", a bare "no" inside a sentence: unreadable
    if negators and len(cues) > 1:
        return None  # which verdict does the negation belong to? ("not completed successfully")
    verdicts = set()
    for index, verdict in cues:
        before = [n for n in negators if n < index]
        if any(n > index for n in negators) or len(before) > 1:
            return None  # "success not achieved", "not never failed"
        if before:
            if index - before[0] > _NEGATION_REACH:
                return None  # too far to be sure it negates this word ("did not grasp the cup and failed")
            verdict = not verdict
        verdicts.add(verdict)
    return verdicts


def read_success(value: str) -> tuple[bool | None, str | None]:
    """'Successful' -> True, 'Failed' -> False; negated, hedged or contradictory wording -> (None, problem)."""
    text = value.lower().replace("’", "'").replace("n't", "nt")
    bare = text.strip(" .!'\"")
    if bare in EMPTY_VALUES:
        return None, f"success detection: expected 'Successful' or 'Failed', got {value!r:.60} (empty)"
    if bare in ("no", "false"):
        return False, None
    if bare in ("yes", "true"):
        return True, None
    if len(text) > _MAX_SUCCESS_CHARS:
        return None, f"success detection: expected 'Successful' or 'Failed', got {len(text)} characters of text"
    verdicts: set[bool] = set()
    unreadable = False
    for clause in _CLAUSE_BREAK_RE.split(text):
        words: list[str] = []
        for word in _WORD_RE.findall(clause):
            if word in _CLAUSE_WORDS:
                found = _clause_verdicts(words)
                unreadable |= found is None
                verdicts |= found or set()
                words = []
            else:
                words.append(word)
        found = _clause_verdicts(words)
        unreadable |= found is None
        verdicts |= found or set()
    if len(verdicts) == 1 and not unreadable:
        return verdicts.pop(), None
    why = "it states both" if len(verdicts) > 1 else "negated or hedged wording" if unreadable else "no verdict"
    return None, f"success detection: expected 'Successful' or 'Failed', got {value!r:.60} ({why})"


# --- keyframe ----------------------------------------------------------------------------------------------------

#: Words allowed around the keyframe number ("image number 7", "the keyframe is frame 7", "7th").
# fmt: off
_KEYFRAME_WORDS = frozenset((
    "image", "images", "img", "frame", "frames", "keyframe", "key", "number", "num", "nr", "index", "idx",
    "picture", "photo", "the", "is", "at", "th", "st", "nd", "rd",
))
# fmt: on
_KEYFRAME_PUNCT = frozenset("#.,:()[]'\"‘’“”`*")
_SIGNS = ("-", "+", "−", "–", "—", "~", "±")
#: Longer image numbers are nonsense (a record has tens of frames) and would cost time to convert.
_MAX_KEYFRAME_DIGITS = 6
#: "the keyframe is image number 13." is 32 characters; a much longer value is not one image number.
_MAX_KEYFRAME_CHARS = 100


def read_keyframe(value: str) -> tuple[int | None, str | None]:
    """Exactly one positive integer, optionally with words like "image number"; anything else -> (None, problem).

    A sign, a decimal, a range, several numbers or other words ("about 7", "before image 7") are refused rather
    than rounded or picked from.
    """
    text = value.strip()
    if text.lower() in EMPTY_VALUES:
        return None, None
    if len(text) > _MAX_KEYFRAME_CHARS:
        return None, f"keyframe: expected one 1-based image number like '7' or 'image 7', got {len(text)} characters"
    digits: list[str] = []
    reason = None
    previous = ""  # the last non-space token, to spot a sign or decimal point right before a number
    for m in _KEYFRAME_TOKEN_RE.finditer(text):
        token = m.group()
        if token.isspace():
            continue
        if token[0] in "0123456789":
            if previous in _SIGNS:
                reason = "a range is not one image" if digits else "a sign is not allowed"
            elif previous in (".", ","):
                reason = "not a whole number"
            digits.append(token)
        elif token.isalpha():
            if not (token.isascii() and token.lower() in _KEYFRAME_WORDS):
                reason = f"unexpected word {token[:20]!r}"
        elif token in _SIGNS:
            pass  # judged by the number that follows; a hyphen elsewhere ("key-frame") is harmless
        elif token not in _KEYFRAME_PUNCT:
            reason = "only digits 0-9 are read" if token.isnumeric() else f"unexpected {token!r}"
        if reason or len(digits) > 1:
            break
        previous = token
    if reason is None:
        if len(digits) > 1:
            reason = "several numbers (a range or a decimal?)"
        elif not digits:
            reason = "no image number"
        elif len(digits[0].lstrip("0")) > _MAX_KEYFRAME_DIGITS:
            reason = f"more than {_MAX_KEYFRAME_DIGITS} digits"
        elif int(digits[0]) < 1:
            reason = "image numbers start at 1"
        else:
            return int(digits[0]), None
    return None, f"keyframe: expected one 1-based image number like '7' or 'image 7', got {value!r:.60} ({reason})"


# --- failure type ------------------------------------------------------------------------------------------------


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


# --- statements in the <Think> block -----------------------------------------------------------------------------

_CLOSING_QUOTES = {"'": "'’", "‘": "'’", '"': '"”', "“": '"”'}


def _quoted(rest: str) -> tuple[str | None, str | None]:
    """The quoted value at the start of ``rest`` (one line): (value, None) or (None, why not)."""
    s = rest.strip()
    if not s or s[0] not in _CLOSING_QUOTES:
        return None, "it is not quoted"
    closers, body = _CLOSING_QUOTES[s[0]], s[1:]
    # A closing quote is followed by a non-letter; an apostrophe ("robot's") is not.
    ends: list[int] = []
    for closer in closers:
        found = 0
        i = body.find(closer)
        while i != -1 and found < 2:  # two closing quotes already make the value ambiguous: stop looking
            if not body[i + 1 : i + 2].isalnum():
                ends.append(i)
                found += 1
            i = body.find(closer, i + 1)
    ends.sort()
    if not ends:
        return None, "it has no closing quote"
    if len(ends) > 1:
        return None, "several closing quotes make its end ambiguous"
    value = body[: ends[0]].strip()
    return (value, None) if value else (None, "it is empty")


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end


def think_statement(think: str, phrase: re.Pattern[str], what: str) -> tuple[str | None, str | None]:
    """The quoted value after ``phrase`` ("The corrective action is: '...'"), read from its own line only.

    Returns (value, problem). Every line that holds the phrase must give the same readable value. Only the first
    phrase on a line is read and the search resumes on the next line, so the scan is linear even when the phrase
    repeats thousands of times on one line.
    """
    values: set[str] = set()
    pos = 0
    while (m := phrase.search(think, pos)) is not None:
        end = _line_end(think, m.end())
        rest = think[m.end() : end]
        if not rest.strip() and end < len(think):
            rest = think[end + 1 : _line_end(think, end + 1)]  # "The corrective action is:\n'...'"
        value, why = _quoted(rest)
        if value is None:
            return None, f"{what} in the <Think> block is unreadable: {why}"
        values.add(value)
        pos = end + 1
    if len(values) > 1:
        return None, f"{what} in the <Think> block is stated {len(values)} different ways"
    return (values.pop() if values else None), None


_DRAWINGS_PHRASE = re.compile(r"required drawings are:", re.I)
_SPACE_RUN = re.compile(r"\s*")


def think_drawings(think: str) -> str | None:
    """The ``Draw ...`` lines after a line that ends with "The required drawings are:", or None."""
    pos = 0
    while (m := _DRAWINGS_PHRASE.search(think, pos)) is not None:
        end = _line_end(think, m.end())
        pos = end + 1  # one look per line: only the line's last phrase can end it
        if think[m.start() : end].rstrip()[-len(m.group()) :].lower() != m.group().lower():
            continue
        # Skip blank lines in one C-level step, back to the start of the first line with text.
        pos = think.rfind("\n", pos, _SPACE_RUN.match(think, pos).end()) + 1 or pos  # type: ignore[union-attr]
        found = []
        while pos < len(think):
            line_end = _line_end(think, pos)
            line = think[pos:line_end]
            if line.lstrip(" \t")[:4].lower() != "draw":
                break
            found.append(line)
            pos = line_end + 1
        if found:
            return "\n".join(found)
    return None
