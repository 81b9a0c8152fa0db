"""Adversarial model answers of any length, for the linear-time test and ``benchmarks/parse.py``.

Each class repeats one unit between a fixed prefix and suffix, aimed at a way a parser goes super-linear:
a quantifier that backtracks over a long run (whitespace after a quote, newline runs), a pattern retried at every
repetition of its prefix, or a strip loop that copies the value once per stripped character. A model answer is
untrusted text (a runaway generation, or an answer served by someone else's endpoint), so every class must parse
in time proportional to its length.
"""

from __future__ import annotations

ANSWER_FAILED = '\n<Answer>\n"success detection": "Failed",\n"keyframe": "3"\n</Answer>'
THINK_END = "\n</Think>" + ANSWER_FAILED
PROMPTS = '<Answer>\n"success detection": "Failed",\n"visual prompts": "'
PROMPTS_END = '"\n</Answer>'

#: name -> (prefix, unit repeated to fill the length, suffix)
CLASSES: dict[str, tuple[str, str, str]] = {
    # <Think> statements read by the parser
    "action quote, then spaces": ("<Think>\nThe corrective action is: 'x'", " ", "y" + THINK_END),
    "action quote, then spaces and dots": ("<Think>\nThe corrective action is: 'x'", " .", "y" + THINK_END),
    "action prefix repeated": ("<Think>\n", "The corrective action is: '", THINK_END),
    "action prefix on every line": ("<Think>\n", "The corrective action is: 'Move left\n", THINK_END),
    "action value with apostrophes": (
        "<Think>\nThe corrective action is: 'Move",
        " the robot's arm",
        "'.\n" + THINK_END,
    ),
    "failure type prefix, then spaces": ("<Think>\nThe failure type is identified as", " ", "x" + THINK_END),
    "failure type prefix repeated": ("<Think>\n", "The failure type is identified as '", THINK_END),
    "drawings prefix, then newlines": ("<Think>\nThe required drawings are:", "\n", "x" + THINK_END),
    "drawings prefix repeated": ("<Think>\n", "The required drawings are: ", THINK_END),
    "draw words on one line": ("<Think>\nThe required drawings are:\n", "draw ", "\n</Think>"),
    # the <Answer> block scanner
    '"key": repeated': ("<Answer>\n", '"key": ', "\n</Answer>"),
    '"keyframe": lines repeated': ("<Answer>\n", '"keyframe": "7"\n', "</Answer>"),
    "comma key repeated": ('<Answer>\n"success detection": "Failed"', ',"keyframe": ', "\n</Answer>"),
    "key then tabs": ("<Answer>\n", '"keyframe"\t', "\n</Answer>"),
    "trailing commas": ('<Answer>\n"success detection": "Failed"', ", ", "\n</Answer>"),
    "trailing comma-braces": ('<Answer>\n"success detection": "Failed"', ",}", "\n</Answer>"),
    "open braces": ("<Answer>\n", "{", "\n</Answer>"),
    "brace key repeated": ("<Answer>\n", '{"success detection": ', "\n</Answer>"),
    "unclosed quote": ('<Answer>\n"success detection": "Failed",\n"low level commands": "', "x", ""),
    "quote runs": ('<Answer>\n"keyframe": ', '"', ""),
    "escaped newline runs": ("<Think>\nThe required drawings are:", "\\n", "x" + THINK_END),
    "escaped unicode runs": ('<Answer>\n"low level commands": "', "\\u00e9\\", '"\n</Answer>'),
    "tag opener then spaces": ("<", " ", "x" + ANSWER_FAILED),
    "tag openers repeated": ("", "< think ", ANSWER_FAILED),
    # field values
    "negations in success": ('<Answer>\n"success detection": "', "not ", 'failed"\n</Answer>'),
    "words in keyframe": ('<Answer>\n"success detection": "Failed",\n"keyframe": "', "image ", '7"\n</Answer>'),
    "digit run in keyframe": ('<Answer>\n"success detection": "Failed",\n"keyframe": "', "9", '"\n</Answer>'),
    # visual prompts
    "symbol lines": (PROMPTS, "Draw Lock: {'position': [1, 2]}\n", PROMPTS_END),
    "broken symbol lines": (PROMPTS, "Draw Lock: {'position': [1, \n", PROMPTS_END),
    "nested braces in a symbol": (PROMPTS + "Draw Crosshair: ", "{", PROMPTS_END),
    "digit run in a symbol": (PROMPTS + "Draw Crosshair: {'position': [", "9", ", 5]}" + PROMPTS_END),
    "long digit symbols": (PROMPTS, "Draw Lock: {'position': [" + "9" * 1900 + ", 5]}\n", PROMPTS_END),
}


def build(name: str, length: int) -> str:
    """The class ``name`` at about ``length`` characters (whole units only)."""
    prefix, unit, suffix = CLASSES[name]
    count = max(1, (length - len(prefix) - len(suffix)) // len(unit))
    return prefix + unit * count + suffix
