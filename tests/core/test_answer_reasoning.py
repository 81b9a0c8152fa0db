"""The <Think>/<Answer> agreement check: the project's own and the official answers agree; each kind of
disagreement gives one line naming both values; what the reasoning does not state is no disagreement; it never
raises on any text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.adversarial import CLASSES, build
from tests.core.strategies import symbol_lists
from vifailback_demo.core.answer import format_cot_answer, parse_answer
from vifailback_demo.core.answer_reasoning import MAX_LINE_CHARS, MAX_SYMBOL_LINES, reasoning_mismatches
from vifailback_demo.core.answer_values import FAILURE_TYPES
from vifailback_demo.core.commands import GRASPS, GRIPPERS, MAGNITUDES, MOVE_DIRECTIONS, ROTATIONS, format_command
from vifailback_demo.core.symbols import Crosshair, GripperState, Lock, RotatingArrow, StraightArrow
from vifailback_demo.core.vqa_pairs import cot_pair
from vifailback_demo.models.scripted import demo_answer

COMMAND = "Move the right gripper to the right significantly and backward slightly, and grasp open."
ARROW = StraightArrow(start=(602, 379), end=(689, 525), colors=("green", "red"))


def answer(mode: str = "avoidance", **overrides) -> str:
    fields = {
        "success": False,
        "keyframe": 9,
        "failure_type": "gripper state",
        "low_level": COMMAND,
        "symbols": [ARROW, GripperState((500, 400), "OFF")],
        "mode": mode,
    }
    return format_cot_answer(**{**fields, **overrides})


def splice(think_from: str, answer_from: str) -> str:
    """The <Think> part of one answer followed by the <Answer> part of another."""
    return think_from.split("<Answer>")[0] + "<Answer>" + answer_from.split("<Answer>", 1)[1]


def without_line(text: str, words: str) -> str:
    """``text`` less its line(s) holding ``words`` (a <Think> that does not state that value)."""
    kept = [line for line in text.split("\n") if words not in line]
    assert len(kept) < len(text.split("\n")), f"no line holds {words!r}"
    return "\n".join(kept)


def with_answer_field(text: str, line: str) -> str:
    return text.replace('"success detection": "Failed",', f'"success detection": "Failed",\n{line}', 1)


# --- answers that agree ----------------------------------------------------------------------------------------


def test_official_reference_answers_agree(reference_dir: Path) -> None:
    texts = [
        message["content"]
        for name in ("example_direct_draw.json", "example_vifailback_infer.json")
        for record in json.loads((reference_dir / name).read_text(encoding="utf-8"))
        for message in record.get("messages", [])
    ]
    assert len(texts) == 2 and all("<Think>" in t for t in texts)  # the prompt names the tags too
    assert [reasoning_mismatches(t) for t in texts] == [[], []]
    # The check does read the official answer: its answer block changed is flagged.
    changed = texts[0].replace('"keyframe": "13"', '"keyframe": "7"')
    assert reasoning_mismatches(changed) == ["the reasoning names keyframe 13 but the answer says 7"]


@pytest.mark.parametrize("mode", ["avoidance", "correction"])
def test_the_projects_own_answers_agree(mode: str) -> None:
    texts = [
        demo_answer(10, mode),
        answer(mode),
        format_cot_answer(success=True),
        cot_pair("task", ["a.jpg"] * 12, mode, success=True).messages[-1]["content"],
        cot_pair(
            "task", ["a.jpg"] * 12, mode, success=False, keyframe=4, failure_type="task planning",
            low_level=COMMAND, symbols=[Lock((10, 20)), Crosshair((30, 40)), RotatingArrow((5, 5), "clockwise")],
        ).messages[-1]["content"],
    ]  # fmt: skip
    assert [reasoning_mismatches(t) for t in texts] == [[]] * len(texts)


@pytest.mark.parametrize("mode", ["avoidance", "correction"])
def test_the_bundled_examples_truth_answers_agree(mode: str) -> None:
    from vifailback_demo.services.examples import ExamplesService
    from vifailback_demo.services.truth import truth_answer

    service = ExamplesService(Path(__file__).resolve().parents[2] / "assets" / "examples")
    texts = []
    for example in service.list():
        record = service.annotation(example)
        if record is not None:
            texts.append(truth_answer(record, service.root, [i * 0.5 for i in range(24)], mode))
    assert len([t for t in texts if t and "Failed" in t]) >= 3  # the failure examples were built
    assert [reasoning_mismatches(t) for t in texts if t] == [[] for t in texts if t]


def test_the_live_oracle_success_answers_agree() -> None:
    from vifailback_demo.live.oracle import _OK_ANSWER, _OK_THINK

    done = "The provided data indicates the task was completed successfully."
    for state in (done, "The task is still in progress and the provided data shows no failure so far."):
        text = f"<Think>\n{_OK_THINK.format(state=state)}\n</Think>\n<Answer>\n{_OK_ANSWER}\n</Answer>"
        assert reasoning_mismatches(text) == []
    flipped = f"<Think>\n{_OK_THINK.format(state=done)}\n</Think>\n<Answer>\n{_OK_ANSWER}\n</Answer>"
    flipped = flipped.replace('"Successful"', '"Failed"')
    assert reasoning_mismatches(flipped) == ["the reasoning says the task succeeded but the answer says it failed"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keyframe=st.integers(1, 60),
    failure_type=st.sampled_from(FAILURE_TYPES),
    gripper=st.sampled_from(GRIPPERS),
    moves=st.lists(st.tuples(st.sampled_from(MOVE_DIRECTIONS), st.sampled_from((None, *MAGNITUDES))), max_size=2),
    rotation=st.sampled_from((None, *ROTATIONS)),
    grasp=st.sampled_from((None, *GRASPS)),
    symbols=symbol_lists,
    mode=st.sampled_from(("avoidance", "correction")),
)
def test_any_generated_failure_answer_agrees(keyframe, failure_type, gripper, moves, rotation, grasp, symbols, mode):
    if not (moves or rotation or grasp):
        grasp = "close"
    command = format_command(gripper, moves, rotation, grasp)
    text = format_cot_answer(
        success=False, keyframe=keyframe, failure_type=failure_type, low_level=command, symbols=symbols, mode=mode
    )
    assert reasoning_mismatches(text) == []


# --- disagreements ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["avoidance", "correction"])
def test_keyframe_9_in_the_reasoning_and_6_in_the_answer(mode: str) -> None:
    text = splice(answer(mode, keyframe=9), answer(mode, keyframe=6))
    assert reasoning_mismatches(text) == ["the reasoning names keyframe 9 but the answer says 6"]


def test_a_keyframe_the_answer_leaves_empty() -> None:
    text = answer().replace('"keyframe": "9"', '"keyframe": "None"')
    assert "the reasoning names keyframe 9 but the answer gives none" in reasoning_mismatches(text)


def test_different_off_points() -> None:
    think = answer(symbols=[ARROW, GripperState((500, 400), "OFF")])
    text = splice(think, answer(symbols=[ARROW, GripperState((520, 380), "OFF")]))
    assert reasoning_mismatches(text) == [
        "the reasoning draws ON/OFF 'OFF' at [500, 400] but the answer draws it at [520, 380]"
    ]


def test_drawings_in_another_order_agree_but_other_symbols_do_not() -> None:
    think = answer(symbols=[ARROW, GripperState((500, 400), "OFF")])
    assert reasoning_mismatches(splice(think, answer(symbols=[GripperState((500, 400), "OFF"), ARROW]))) == []
    flipped = splice(think, answer(symbols=[ARROW, GripperState((500, 400), "ON")]))
    assert reasoning_mismatches(flipped) == [
        "the reasoning draws ON/OFF 'OFF' at [500, 400] but the answer draws ON/OFF 'ON' at [500, 400]"
    ]
    extra = splice(think, answer(symbols=[ARROW, GripperState((500, 400), "OFF"), Crosshair((1, 2))]))
    assert reasoning_mismatches(extra) == ["the answer draws Crosshair at [1, 2] but the reasoning does not"]
    fewer = splice(think, answer(symbols=[GripperState((500, 400), "OFF")]))
    assert reasoning_mismatches(fewer) == [
        "the reasoning draws Straight Arrow from [602, 379] to [689, 525] (green/red) but the answer does not"
    ]


def test_many_drawing_differences_are_capped() -> None:
    think = answer(symbols=[Crosshair((i, i)) for i in range(10)])
    lines = reasoning_mismatches(splice(think, answer(symbols=[Crosshair((i, i + 1)) for i in range(10)])))
    assert len(lines) == MAX_SYMBOL_LINES
    assert lines[0] == "the reasoning draws Crosshair at [0, 0] but the answer draws it at [0, 1]"
    assert lines[-1] == f"the reasoning and the answer differ in {10 - MAX_SYMBOL_LINES + 1} more drawings"


def test_different_failure_type() -> None:
    text = with_answer_field(answer(failure_type="gripper state"), '"failure type": "task planning",')
    assert reasoning_mismatches(text) == [
        "the reasoning's failure type 'gripper state' differs from the answer's 'task planning'"
    ]
    same = with_answer_field(answer(failure_type="gripper state"), '"failure type": "Gripper State",')
    assert reasoning_mismatches(same) == []


def test_different_low_level_command() -> None:
    other = "Move the left gripper upward slightly."
    (line,) = reasoning_mismatches(splice(answer(low_level=COMMAND), answer(low_level=other)))
    assert line.startswith("the reasoning's low-level command differs from the answer's")
    assert "Move the right gripper" in line and other in line and len(line) <= MAX_LINE_CHARS
    # A long command that differs only at its end: the line shows the end.
    (line,) = reasoning_mismatches(splice(answer(), answer(low_level=COMMAND.replace("open", "close"))))
    assert "grasp open" in line and "grasp close" in line
    # The same parts in other words are no disagreement.
    paraphrase = "move the right gripper to the right significantly and backward slightly and open the right gripper"
    assert reasoning_mismatches(splice(answer(), answer(low_level=paraphrase))) == []
    # ... but a command the command reader only half understands is compared as text.
    both = "Move the right gripper and the left gripper upward."
    assert (
        len(reasoning_mismatches(splice(answer(low_level=both), answer(low_level="Move the right gripper upward."))))
        == 1
    )


def test_verdict_mismatch_is_one_line() -> None:
    text = answer().replace('"success detection": "Failed"', '"success detection": "Successful"')
    assert reasoning_mismatches(text) == ["the reasoning says the task failed but the answer says it succeeded"]
    text = splice(format_cot_answer(success=True), answer())
    assert reasoning_mismatches(text) == ["the reasoning says the task succeeded but the answer says it failed"]


# --- what is not stated is no disagreement ----------------------------------------------------------------------


#: A <Think> sentence -> the word of the problem line that compares it.
TOPICS = {
    "is image number": "keyframe",
    "failure type is identified": "failure type",
    "corrective action": "low-level command",
    "Draw ": "draws",
}


def everything_differs() -> str:
    think = answer(keyframe=9, failure_type="gripper state", symbols=[Crosshair((1, 2))])
    other = answer(keyframe=6, low_level="Move the left gripper upward.", symbols=[Crosshair((3, 4))])
    return with_answer_field(splice(think, other), '"failure type": "task planning",')


@pytest.mark.parametrize("sentence", list(TOPICS))
def test_a_value_the_reasoning_does_not_state_is_no_disagreement(sentence: str) -> None:
    text = everything_differs()
    assert [any(t in p for p in reasoning_mismatches(text)) for t in TOPICS.values()] == [True] * len(TOPICS)
    think, rest = text.split("</Think>")
    lines = reasoning_mismatches(without_line(think, sentence) + "</Think>" + rest)
    assert len(lines) == len(TOPICS) - 1 and all(TOPICS[sentence] not in p for p in lines), lines


def test_a_reasoning_without_a_verdict_is_not_compared_on_it() -> None:
    text = answer().replace('"success detection": "Failed"', '"success detection": "Successful"')
    assert reasoning_mismatches(text) != []
    lines = reasoning_mismatches(without_line(text, "provided data indicates"))
    assert all("says the task" not in p for p in lines), lines


def test_no_think_or_no_answer_gives_nothing() -> None:
    text = splice(answer(keyframe=9), answer(keyframe=6))
    think, rest = text.split("</Think>")
    assert reasoning_mismatches(rest) == []  # no <Think>
    assert reasoning_mismatches(think + "</Think>") == []  # no <Answer>
    assert reasoning_mismatches(think.replace("<Think>", "") + rest) == []
    # Answer fields written bare after the reasoning (no <Answer> tag): the parser reads them, this check does not.
    bare = think + "</Think>\n" + rest.split("<Answer>", 1)[1].replace("</Answer>", "")
    assert parse_answer(bare).keyframe == 6 and reasoning_mismatches(bare) == []


def test_an_unreadable_or_self_contradicting_statement_is_not_compared() -> None:
    text = splice(answer(keyframe=9), answer(keyframe=6))
    assert reasoning_mismatches(text.replace("image number 9.", "image number 9 or 10.")) == []
    twice = text.replace("image number 9.", "image number 9.\nThe keyframe just before the failure is image number 6.")
    assert reasoning_mismatches(twice) == []
    assert reasoning_mismatches(text.replace('"keyframe": "6"', '"keyframe": "about 6"')) == []
    # "is image number" outside a keyframe sentence is not a keyframe.
    other = text.replace(
        "The keyframe just before the failure is image number 9.", "The arm is clearest in what is image number 4."
    )
    assert other != text and reasoning_mismatches(other) == []
    # One readable and one unreadable statement: neither is trusted.
    hedged = text.replace(
        "image number 9.", "image number 9.\nThe keyframe just before the failure is image number 9 or 10."
    )
    assert reasoning_mismatches(hedged) == []


def test_an_unreadable_or_cut_off_drawing_is_not_compared() -> None:
    think = answer(symbols=[ARROW, GripperState((500, 400), "OFF")])
    text = splice(think, answer(symbols=[ARROW, Crosshair((1, 2))]))
    assert reasoning_mismatches(text) != []
    unreadable = text.replace("Draw Crosshair: {'position': [1, 2]}", "Draw Crosshair: {'position': [1, }")
    assert "visual prompt line 2 skipped" in " ".join(parse_answer(unreadable).problems)
    assert reasoning_mismatches(unreadable) == []
    # An answer cut off after its first drawing lacks the rest because of truncation.
    cut = splice(think, answer(symbols=[ARROW])).replace('"\n</Answer>', "\n")
    assert reasoning_mismatches(cut) == []
    assert reasoning_mismatches(cut + '"\n</Answer>') == [
        "the reasoning draws ON/OFF 'OFF' at [500, 400] but the answer does not"
    ]


def test_an_empty_low_level_command_in_the_answer() -> None:
    text = answer().replace(f'"low level commands": "{COMMAND}"', '"low level commands": "None"')
    assert reasoning_mismatches(text) == [
        f"the reasoning gives the low-level command '{COMMAND}' but the answer gives none"
    ]


def test_long_lines_are_cut() -> None:
    many = ("green", "red", "blue") * 8
    think = answer(symbols=[StraightArrow((1.25, 2), (3, 4), many)])
    (line,) = reasoning_mismatches(splice(think, answer(symbols=[StraightArrow((5, 6), (7, 8), many)])))
    assert len(line) == MAX_LINE_CHARS and line.startswith("the reasoning draws Straight Arrow from [1.2, 2]")
    assert line.endswith("...")


# --- never raises -----------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400) | st.text(alphabet="<>/ThinkAswer\"':,.{}[]0123456789 \n\\DrawON", max_size=400))
def test_garbage_never_raises(text: str) -> None:
    for candidate in (text, f"<Think>{text}</Think><Answer>{text}</Answer>", splice(answer(), answer()) + text):
        lines = reasoning_mismatches(candidate)
        assert isinstance(lines, list) and all(isinstance(p, str) and len(p) <= MAX_LINE_CHARS for p in lines)


@pytest.mark.parametrize("name", list(CLASSES))
def test_adversarial_answers_never_raise(name: str) -> None:
    assert isinstance(reasoning_mismatches(build(name, 20_000)), list)


def test_huge_unicode_and_odd_inputs_never_raise() -> None:
    huge = splice(answer(keyframe=9), answer(keyframe=6)).replace("</Think>", "é😀\u202e" * 100_000 + "</Think>")
    assert reasoning_mismatches(huge) == []  # the answer is past the parser's length limit
    wide = splice(answer(keyframe=9), answer(keyframe=6)).replace("</Think>", "é😀\u202e" * 20_000 + "\n</Think>")
    assert reasoning_mismatches(wide) == ["the reasoning names keyframe 9 but the answer says 6"]
    assert reasoning_mismatches("<Think>\ud800</Think><Answer>\x00</Answer>") == []
    for odd in (None, 5, b"<Think>", ["<Think>"]):
        assert reasoning_mismatches(odd) == []  # type: ignore[arg-type]


def test_an_internal_error_gives_no_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import vifailback_demo.core.answer_reasoning as module

    text = splice(answer(keyframe=9), answer(keyframe=6))
    assert reasoning_mismatches(text) != []

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "think_drawings", broken)
    assert reasoning_mismatches(text) == []
