"""No confident wrong parses: a field is read right, or it is None with a problem saying why.

The named cases are the ones a keyword or first-number search gets wrong ("Not successful" read as success,
keyframe "-5" read as 5, a truncated keyframe taking a digit from a later line). The fuzz at the end builds
answers whose true field values it knows, varies them, and checks every parse against the truth.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.core.adversarial import CLASSES
from vifailback_demo.core.answer import FAILURE_TYPES, ParsedAnswer, format_cot_answer, parse_answer
from vifailback_demo.core.symbol_codec import symbol_to_text
from vifailback_demo.core.symbols import Crosshair, GripperState, Lock, RotatingArrow, StraightArrow

OFFICIAL_LOW = (
    "Move the right gripper to the right significantly and backward significantly, and rotate the right gripper "
    "clockwise."
)


@pytest.fixture(scope="module")
def official(reference_dir) -> str:
    return json.loads((reference_dir / "example_direct_draw.json").read_text())[0]["messages"][0]["content"]


def _answer(success: str = "Failed", keyframe: str = "13", extra: str = "") -> str:
    return f'<Think>x</Think>\n<Answer>\n"success detection": "{success}",\n"keyframe": "{keyframe}"{extra}\n</Answer>'


def _no_internal_error(r: ParsedAnswer) -> None:
    assert not any(p.startswith("internal parser error") for p in r.problems), r.problems


# --- success detection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Successful", True),
        ("Failed", False),
        ("Not successful", False),
        ("not a success", False),
        ("Unsuccessful", False),
        ("The task did not fail", True),
        ("The task didn't fail.", True),
        ("not failed", True),
        ("no failure", True),
        ("No failure occurred", True),
        ("never failed", True),
        ("not unsuccessful", True),
        ("The task was completed successfully.", True),
        ("Success detection: Failed", False),
        ("Failed, not successful", False),
        ("Partially successful", None),
        ("Probably failed", None),
        ("Successful, but the gripper failed", None),
        ("Successful or Failed", None),
        ("success not achieved", None),
        ("The robot did not grasp the cup and the task failed", None),
        ("was not a complete failure", None),
        ("Maybe", None),
        ("x" * 5000 + " failed", None),
    ],
)
def test_success_wording(value, expected):
    r = parse_answer(_answer(success=value))
    assert r.success is expected
    if expected is None:
        assert any(p.startswith("success detection") for p in r.problems), r.problems


# --- keyframe ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13", 13),
        ("'13'", 13),
        ("image 7", 7),
        ("Image number 7", 7),
        ("frame 7", 7),
        ("the keyframe is image number 13.", 13),
        ("7th", 7),
        ("-5", None),
        ("+5", None),
        ("2.7", None),
        ("2,7", None),
        (".5", None),
        ("between 3 and 13", None),
        ("3-13", None),
        ("3 to 13", None),
        ("7 or 8", None),
        ("about 7", None),
        ("before image 7", None),
        ("~7", None),
        ("7/15", None),
        ("1e3", None),
        ("0", None),
        ("9" * 400, None),
        ("9" * 5000, None),
        ("thirteen", None),
    ],
)
def test_keyframe_is_exactly_one_positive_integer(value, expected):
    r = parse_answer(_answer(keyframe=value))
    assert r.keyframe == expected
    if expected is None:
        assert any(p.startswith("keyframe") for p in r.problems), r.problems


def test_empty_keyframe_of_a_successful_answer_is_not_a_problem():
    r = parse_answer(_answer(success="Successful", keyframe="None"))
    assert r.keyframe is None and r.problems == []


def test_truncated_keyframe_does_not_take_digits_from_later_lines():
    # The value's quote never closes and the output ends: its digits may be cut ("1" of "13") ...
    r = parse_answer('<Answer>\n"success detection": "Failed",\n"keyframe": "1')
    assert r.success is False and r.keyframe is None
    assert any("cut off" in p for p in r.problems)
    # ... and when it runs on into symbol lines, their coordinates are not an image number.
    r = parse_answer(
        '<Answer>\n"success detection": "Failed",\n"keyframe": "\nDraw Lock: {\'position\': [5, 6]}\n'
        "Draw Crosshair: {'position': [7, 8]}"
    )
    assert r.keyframe is None and r.problems
    r = parse_answer(_answer(keyframe='\nDraw Lock: {"position": [5, 6]}', extra=""))
    assert r.keyframe is None and r.problems


def test_unclosed_keyframe_reads_its_first_line_only():
    r = parse_answer(
        '<Answer>\n"success detection": "Failed",\n"keyframe": "13\nDraw Lock: {\'position\': [5]}</Answer>'
    )
    assert r.keyframe == 13
    assert any("no closing quote" in p for p in r.problems)


def test_official_answer_cut_inside_the_keyframe(official):
    cut = official[: official.index('"keyframe": "13"') + len('"keyframe": "1')]
    r = parse_answer(cut)
    assert r.success is False and r.keyframe is None and r.problems


# --- failure type, low-level command, repeated keys --------------------------------------------------------------


def test_think_low_level_must_be_one_quoted_value_on_its_line(official):
    base = official.replace(f'"low level commands": "{OFFICIAL_LOW}",\n', "")
    assert parse_answer(base).low_level == OFFICIAL_LOW  # read from <Think>, as before
    line = f"The corrective action is: '{OFFICIAL_LOW}'."
    for replacement in [
        "The corrective action is: 'Move left'. Finally, I draw a 'crosshair'.",  # a second quote later on
        "The corrective action is: 'Move left.",  # never closed: must not run into the next lines
        "The corrective action is: Move left.",  # not quoted
    ]:
        r = parse_answer(base.replace(line, replacement))
        assert r.low_level is None, replacement
        assert any("low level command" in p for p in r.problems), r.problems
    r = parse_answer(base.replace(line, "The corrective action is: 'Move the robot's left gripper up.'."))
    assert r.low_level == "Move the robot's left gripper up."


def test_think_statements_that_disagree_are_not_used(official):
    two = official.replace(
        "identified as 'gripper 6d-pose'.",
        "identified as 'gripper 6d-pose'.\nThe failure type is identified as 'task planning'.",
    )
    r = parse_answer(two)
    assert r.failure_type is None and any("failure type" in p for p in r.problems)


def test_truncated_low_level_is_not_used():
    r = parse_answer(
        '<Answer>\n"success detection": "Failed",\n"keyframe": "3",\n"low level commands": "Move the right gri'
    )
    assert r.keyframe == 3 and r.low_level is None
    assert any("cut off" in p for p in r.problems)


def test_repeated_keys_with_different_values_are_not_used():
    r = parse_answer(_answer(extra=',\n"keyframe": "7"'))
    assert r.keyframe is None and any("different values" in p for p in r.problems)
    r = parse_answer(_answer(extra=',\n"keyframe": "13"'))
    assert r.keyframe == 13 and any("more than once" in p for p in r.problems)
    r = parse_answer(_answer(extra=',\n"success": "Successful"'))
    assert r.success is None and r.problems


def test_empty_failure_type_is_no_problem():
    r = parse_answer(_answer(success="Successful", keyframe="None", extra=',\n"failure type": "None"'))
    assert r.failure_type is None and r.problems == []


# --- fuzz: thousands of answers with known truth -----------------------------------------------------------------

_LOWS = (
    "Move the left gripper upward slightly.",
    OFFICIAL_LOW,
    "Close the left gripper.",
    "Rotate the right gripper counter-clockwise.",
)
_SYMBOL_SETS = (
    [StraightArrow((602, 179), (689, 325), ("green", "red")), Crosshair((300, 600))],
    [RotatingArrow((550, 179), "clockwise"), Lock((10, 20)), GripperState((450, 700), "OFF")],
    [Crosshair((1, 2))],
)
_NEGATORS = (("", False), ("not ", True), ("did not ", True), ("didn't ", True), ("never ", True), ("no ", True))
_CUES = (
    ("successful", True), ("success", True), ("succeeded", True), ("completed", True),
    ("failed", False), ("fail", False), ("failure", False), ("unsuccessful", False),
)  # fmt: skip
_CASES = (str, str.lower, str.upper, str.title)
_HEDGED = ("partially successful", "probably failed", "successful or failed", "failed but recovered successfully")


def _bad_keyframes(k: int, rng: random.Random) -> list[str]:
    return [f"-{k}", f"+{k}", f"{k}.5", f"{k},5", f"between {k} and {k + 3}", f"{k}-{k + 3}", f"{k} to {k + 3}",
            f"{k} or {k + 1}", f"about {k}", f"~{k}", f"{k}/15", f"{k}e3", "9" * rng.randint(7, 600),
            f"images {k} and {k + 1}", f"{k} {k}"]  # fmt: skip


def _good_keyframes(k: int) -> list[str]:
    return [f"{k}", f"'{k}'", f"image {k}", f"Image number {k}", f"frame {k}", f"#{k}", f"{k}.", f"({k})"]


class _Truth:
    """A formatted answer and the values it states."""

    def __init__(self, rng: random.Random, success: bool | None = None) -> None:
        self.success = rng.random() < 0.25 if success is None else success
        self.keyframe = rng.randint(1, 60) if not self.success else None
        self.failure_type = rng.choice(FAILURE_TYPES) if not self.success else None
        self.low = rng.choice(_LOWS) if not self.success else None
        self.symbols = list(rng.choice(_SYMBOL_SETS)) if not self.success else []
        self.text = format_cot_answer(
            success=self.success,
            keyframe=self.keyframe,
            failure_type=self.failure_type,
            low_level=self.low,
            symbols=self.symbols,
            mode=rng.choice(["avoidance", "correction"]),
        )


def _success_case(rng: random.Random) -> tuple[str, bool | None, _Truth]:
    truth = _Truth(rng, success=False)
    if rng.random() < 0.1:
        value, expected = rng.choice(_HEDGED), None
    else:
        (neg, flips), (cue, polarity) = rng.choice(_NEGATORS), rng.choice(_CUES)
        value = rng.choice(_CASES)(rng.choice(["", "The task ", "Result: "]) + neg + cue + rng.choice(["", ".", "!"]))
        expected = polarity != flips
    return truth.text.replace('"success detection": "Failed"', f'"success detection": "{value}"'), expected, truth


def _check_truth(r: ParsedAnswer, field: str, truth: object) -> None:
    value = getattr(r, field)
    assert value == truth or (value is None and r.problems), (field, value, truth, r.raw[-300:])


def test_fuzz_known_truth_is_read_or_refused():
    rng = random.Random(20240607)
    counts = dict.fromkeys(["success", "keyframe good", "keyframe bad", "truncated", "huge numbers", "inserts"], 0)
    inserts = [unit for _, unit, _ in CLASSES.values()]
    for i in range(10_500):
        kind = i % 6
        if kind == 0:  # negated, hedged and plain success verdicts
            text, expected, truth = _success_case(rng)
            r = parse_answer(text)
            assert r.success is expected or (expected is not None and r.success is None and r.problems), (
                text,
                r.success,
            )
            _check_truth(r, "keyframe", truth.keyframe)
            assert r.low_level == truth.low and r.symbols == truth.symbols
            counts["success"] += 1
        elif kind in (1, 2):  # keyframe spellings: one positive integer, or refused
            truth = _Truth(rng, success=False)
            good = kind == 1
            value = rng.choice(_good_keyframes(truth.keyframe) if good else _bad_keyframes(truth.keyframe, rng))
            r = parse_answer(truth.text.replace(f'"keyframe": "{truth.keyframe}"', f'"keyframe": "{value}"'))
            if good:
                assert r.keyframe == truth.keyframe, (value, r.problems)
            else:
                assert r.keyframe is None and any(p.startswith("keyframe") for p in r.problems), (value, r.keyframe)
            assert r.success is False and r.low_level == truth.low
            counts["keyframe good" if good else "keyframe bad"] += 1
        elif kind == 3:  # output cut anywhere in the answer block
            truth = _Truth(rng)
            start = truth.text.index("<Answer>")
            r = parse_answer(truth.text[: rng.randint(start, len(truth.text))])
            _check_truth(r, "success", truth.success)
            _check_truth(r, "keyframe", truth.keyframe)
            assert r.low_level is None or r.low_level == truth.low, (r.low_level, truth.low)
            assert all(s in truth.symbols for s in r.symbols)
            counts["truncated"] += 1
        elif kind == 4:  # one coordinate huge, infinite or NaN: that symbol goes, everything else stays
            truth = _Truth(rng, success=False)
            line = symbol_to_text(truth.symbols[0])
            x = line[line.index("[") + 1 : line.index(",", line.index("["))]  # "Draw ...: {'...': [602, 179]"
            big = rng.choice(["9" * rng.randint(20, 1900), "-" + "9" * rng.randint(20, 1900), "1e999", "-1e400"])
            text = truth.text.replace(line, line.replace(f"[{x},", f"[{big},", 1))  # in <Think> and in <Answer>
            r = parse_answer(text)
            assert (r.success, r.keyframe, r.failure_type, r.low_level) == (
                False, truth.keyframe, truth.failure_type, truth.low
            )  # fmt: skip
            assert r.symbols == truth.symbols[1:]
            assert any("0-1000" in p and "skipped" in p for p in r.problems), r.problems
            counts["huge numbers"] += 1
        else:  # adversarial runs inserted anywhere
            truth = _Truth(rng)
            at = rng.randint(0, len(truth.text))
            text = truth.text[:at] + rng.choice(inserts) * rng.randint(2, 400) + truth.text[at:]
            r = parse_answer(text)
            _check_truth(r, "success", truth.success)
            _check_truth(r, "keyframe", truth.keyframe)
            counts["inserts"] += 1
        _no_internal_error(r)
    assert sum(counts.values()) >= 10_000 and min(counts.values()) >= 1000, counts
