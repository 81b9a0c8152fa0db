"""A diagnosis whose <Think> reasoning and <Answer> disagree says so in its problems and in the run summary."""

from __future__ import annotations

import html

from tests.video.clips import TASK, random_frames
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.symbols import GripperState
from vifailback_demo.diagnosis import Diagnoser, Diagnosis
from vifailback_demo.models.scripted import ScriptedBackend
from vifailback_demo.ui import views

COMMAND = "Move the right gripper downward slightly, and close the right gripper."


def _answer(keyframe: int, off: tuple[int, int]) -> str:
    return format_cot_answer(
        success=False,
        keyframe=keyframe,
        failure_type="gripper state",
        low_level=COMMAND,
        symbols=[GripperState(off, "OFF")],
    )


#: Reasoning of one answer (keyframe 9, OFF at [500, 400]) with the answer block of another (6, [520, 380]).
MISMATCHED = _answer(9, (500, 400)).split("<Answer>")[0] + "<Answer>" + _answer(6, (520, 380)).split("<Answer>")[1]
EXPECTED = [
    "the reasoning names keyframe 9 but the answer says 6",
    "the reasoning draws ON/OFF 'OFF' at [500, 400] but the answer draws it at [520, 380]",
]


def test_mismatching_reasoning_is_listed_in_problems_and_the_summary() -> None:
    d = Diagnoser(ScriptedBackend(MISMATCHED)).diagnose(random_frames(12), TASK)
    assert d.status == "failed" and d.keyframe == 6  # the answer block is what is drawn
    assert [p for p in d.problems if p.startswith("the reasoning")] == EXPECTED
    summary = views.summary_markdown(d)
    for problem in EXPECTED:
        assert f"- warning: {html.escape(problem)}" in summary
    assert d.to_dict()["problems"] == d.problems


def test_agreeing_reasoning_adds_no_problem() -> None:
    d = Diagnoser(ScriptedBackend(_answer(6, (520, 380)))).diagnose(random_frames(12), TASK)
    assert d.status == "failed" and d.problems == []
    assert "warning" not in views.summary_markdown(d)


def test_the_streaming_path_reports_it_too() -> None:
    items = list(Diagnoser(ScriptedBackend(MISMATCHED)).stream(random_frames(12), TASK))
    d = items[-1]
    assert isinstance(d, Diagnosis) and "".join(p for p in items[:-1] if isinstance(p, str)) == MISMATCHED
    assert [p for p in d.problems if p.startswith("the reasoning")] == EXPECTED
