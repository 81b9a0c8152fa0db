"""The model's proposal next to the human's version: changed fields marked, the model's text escaped, the model's
picture drawn; a reopened record compares against what the model said back then."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.helpers import TASK, make_services, run_to_end, write_clip
from vifailback_demo.ui import compare
from vifailback_demo.ui.corrections_handlers import CorrectionsHandlers
from vifailback_demo.ui.decision_handlers import DecisionHandlers
from vifailback_demo.ui.run_handlers import RunHandlers
from vifailback_demo.ui.state import PickedSource


@pytest.fixture
def diagnosed(tmp_path: Path):
    services = make_services(tmp_path / "data")
    clip = write_clip(tmp_path / "clip.mp4", seconds=1.0)
    out = run_to_end(RunHandlers(services), str(clip), TASK, "avoidance", PickedSource())
    yield services, out
    services.close()


def test_the_models_own_version_shows_no_change_and_an_edit_is_marked(diagnosed) -> None:
    _, out = diagnosed
    run, editor = out["run_state"], out["editor_state"]
    assert "No changes" in out["compare"]
    assert out["model_image"] is not None and out["model_image"].shape == run.frames[0].shape
    same = compare.human_fields(editor, out["success"], out["keyframe"], out["failure_type"], out["low_level"])
    assert compare.changed(compare.model_fields(run), same) == []
    edited = compare.human_fields(editor, "Failed", out["keyframe"] + 1, "task planning", out["low_level"])
    assert compare.changed(compare.model_fields(run), edited) == ["keyframe", "failure type"]
    table = compare.refresh(run, editor, "Failed", out["keyframe"] + 1, "task planning", out["low_level"])["compare"]
    assert table.count("(changed)") == 2 and compare.CHANGED_STYLE in table and "2 of 5 fields changed" in table


def test_model_text_is_escaped(diagnosed) -> None:
    _, out = diagnosed
    run = out["run_state"]
    run.diagnosis = {**run.diagnosis, "low_level": "<img src=x onerror=alert(1)>"}
    html = compare.compare_html(run, compare.human_fields(None, "Failed", 1, None, "Move"))
    assert "<img" not in html and "&lt;img" in html


def test_a_reopened_record_compares_against_the_models_answer(diagnosed) -> None:
    services, out = diagnosed
    run, editor = out["run_state"], out["editor_state"]
    fields = [out[k] for k in ("success", "keyframe", "subtasks", "failed_subtask", "reason")]
    success, keyframe, subtasks, failed_subtask, reason = fields
    stored = DecisionHandlers(services).accept(
        run,
        editor,
        success,
        keyframe,
        "task planning",
        subtasks,
        failed_subtask,
        reason,
        out["low_level"],
        "",
        "",
        True,
    )
    reopened = CorrectionsHandlers(services).reopen(stored["run_state"].record_id)
    assert "failure type (changed)" in reopened["compare"]
    assert reopened["model_image"] is not None
