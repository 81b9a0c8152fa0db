"""Handlers called directly, with services on a tmp data dir and the scripted backend (no server, no browser)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from tests.ui.helpers import TASK, make_services, run_to_end
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.services import Services
from vifailback_demo.ui.corrections_handlers import CorrectionsHandlers
from vifailback_demo.ui.decision_handlers import DecisionHandlers
from vifailback_demo.ui.editor_handlers import EditorHandlers
from vifailback_demo.ui.run_handlers import RunHandlers
from vifailback_demo.ui.state import PickedSource

LOW = "Move the right gripper to the left significantly."


def diagnose(services: Services, clip: Path, task: str = TASK, mode: str = "avoidance") -> dict:
    return run_to_end(RunHandlers(services), str(clip), task, mode, PickedSource())


def fields(out: dict, **changes) -> list:
    values = {k: out[k] for k in ("success", "keyframe", "failure_type", "subtasks", "failed_subtask")}
    values.update(reason=out["reason"], low_level=out["low_level"], high_level=out["high_level"])
    values.update(changes)
    return list(values.values())


def accept(services: Services, out: dict, **changes) -> dict:
    """Accept anyway (confirmed): some tests store versions whose command and symbols disagree on purpose."""
    run, editor = out["run_state"], out["editor_state"]
    return DecisionHandlers(services).accept(run, editor, *fields(out, **changes), "", True)


def test_run_streams_reasoning_then_fills_every_result_field(services: Services, clip: Path) -> None:
    updates = list(RunHandlers(services).run(str(clip), TASK, "avoidance", PickedSource()))
    assert len(updates) >= 3, "expected a start update, streamed reasoning, and the result"
    streamed = [u["reasoning"] for u in updates[1:-1] if "reasoning" in u]
    assert streamed and all(updates[-1]["reasoning"].startswith(s) for s in streamed)
    out = updates[-1]
    run = out["run_state"]
    assert len(run.frames) == 4  # 3 s at 25 fps: frames at 0, 1, 2 s and the last
    assert out["success"] == "Failed" and out["failure_type"] == "gripper 6d-pose"
    assert out["keyframe"] == 2  # the scripted demo answer puts the keyframe at 60% of the clip
    assert len(out["gallery"]) == 4 and out["gallery"][out["keyframe"] - 1][1].startswith("★ ")
    assert out["editor_image"].shape == run.frames[0].shape
    assert [row[0] for row in out["symbols"]] == ["move_arrow", "state", "crosshair"]
    assert "Failed" in out["summary"]


def test_example_pick_sets_clip_and_task_and_scripted_answer_is_its_ground_truth(services: Services) -> None:
    handlers = RunHandlers(services)
    picked = handlers.pick_example("gripper_state")
    example = services.examples.get("gripper_state")
    assert picked["task"] == example.task and Path(picked["video"]) == example.clip
    out = run_to_end(handlers, picked["video"], picked["task"], "avoidance", picked["picked"])
    assert out["failure_type"] == "gripper state"
    assert out["low_level"] == services.examples.annotation(example).avoidance.low_level
    assert out["subtasks"] and out["failed_subtask"] == 2
    assert out["run_state"].source_kind == "example" and out["run_state"].source_ref == "gripper_state"


def test_place_symbols_by_click_two_point_arrow_table_edit_undo_clear_delete(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    run, editor, ed = out["run_state"], out["editor_state"], EditorHandlers()
    k = out["keyframe"]
    placed = ed.place(run, editor, k, "crosshair", [], "clockwise", "ON", LOW, 160, 120)
    assert placed["symbols"][-1][:3] == ["crosshair", 500, 500]
    assert (placed["editor_image"] != out["editor_image"]).any(), "the picture must re-render with the crosshair"
    evt = SimpleNamespace(index=[32, 24])
    clicked = ed.click_image(run, placed["editor_state"], k, "lock", [], "clockwise", "ON", LOW, evt)
    assert clicked["symbols"][-1][:3] == ["lock", 100, 100]
    first = ed.place(run, clicked["editor_state"], k, "straight arrow", ["blue"], "clockwise", "ON", LOW, 100, 100)
    assert first["hint"] and len(first["symbols"]) == 5, "the first click of an arrow only sets its start"
    arrow = ed.place(run, first["editor_state"], k, "straight arrow", ["blue"], "clockwise", "ON", LOW, 100, 20)
    assert arrow["symbols"][-1][0] == "move_arrow" and arrow["symbols"][-1][5] == "blue"
    assert "blue" in arrow["warnings"], "a blue arrow for a left/right command must be flagged"
    # Colours picked in checkbox order (red, green) are stored in the command's order: right (green), then backward.
    two_axes = "Move the right gripper to the right significantly and backward slightly."
    start = ed.place(
        run, arrow["editor_state"], k, "straight arrow", ["red", "green"], "clockwise", "ON", two_axes, 10, 10
    )
    ordered = ed.place(
        run, start["editor_state"], k, "straight arrow", ["red", "green"], "clockwise", "ON", two_axes, 90, 60
    )
    assert ordered["symbols"][-1][5] == "green,red", ordered["symbols"][-1]
    arrow = ed.undo(run, ordered["editor_state"], k, LOW)
    rows = [list(r) for r in arrow["symbols"]]
    rows[4][1] = 250  # row 5 is the lock: move it right
    edited = ed.table_edit(run, arrow["editor_state"], k, LOW, rows)
    assert edited["symbols"][4][1] == 250
    bad = [list(r) for r in edited["symbols"]]
    bad[0][1] = "far left"
    restored = ed.table_edit(run, edited["editor_state"], k, LOW, bad)
    assert restored["symbols"] == edited["symbols"], "a bad cell must restore the table, not corrupt it"
    undone = ed.undo(run, edited["editor_state"], k, LOW)
    assert undone["symbols"] == arrow["symbols"]
    deleted = ed.delete(run, undone["editor_state"], k, LOW, 1)
    assert len(deleted["symbols"]) == len(arrow["symbols"]) - 1 and deleted["symbols"][0][0] == "state"
    assert ed.clear(run, deleted["editor_state"], k, LOW)["symbols"] == []


def test_gallery_click_moves_the_keyframe(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    moved = EditorHandlers().select_frame(out["run_state"], out["editor_state"], SimpleNamespace(index=0))
    assert moved["keyframe"] == 1 and moved["gallery"][0][1].startswith("★ ")
    assert not moved["gallery"][out["keyframe"] - 1][1].startswith("★")


def test_accept_stores_a_record_with_the_human_version_and_shows_vqa(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    placed = EditorHandlers().place(out["run_state"], out["editor_state"], out["keyframe"], "crosshair", [], "clockwise", "ON", LOW, 10, 10)  # fmt: skip
    out.update(placed)
    result = accept(services, out, low_level=LOW, failure_type="task planning", reason="It missed.")
    run = result["run_state"]
    assert f"#{run.record_id}" in result["decision_out"]
    record = services.corrections.get(run.record_id)
    assert record.decision == "accepted" and record.final.failure_type == "task planning"
    assert record.final.low_level == LOW and record.final.failure_reason == "It missed."
    assert record.final.symbols[-1]["type"] == "crosshair"
    assert record.model_output == out["reasoning"] and record.source.kind == "upload"
    assert len(record.frames) == 4
    tags = {p["tag"] for p in result["vqa"]}
    assert {"cot_avoidance_code_qa", "failure_type_qa", "failure_reason_qa"} <= tags
    again = accept(services, {**out, "run_state": run}, low_level="Move the right gripper upward slightly.")
    assert "revision 2" in again["decision_out"]
    assert services.corrections.store.count() == 1, "a second accept re-edits, it does not duplicate"


def test_reject_and_skip_are_recorded(services: Services, clip: Path) -> None:
    dec = DecisionHandlers(services)
    assert "rejected" in dec.reject(diagnose(services, clip)["run_state"])["decision_out"]
    assert "skipped" in dec.skip(diagnose(services, clip)["run_state"])["decision_out"]
    assert services.corrections.store.stats()["by_decision"] == {"rejected": 1, "skipped": 1}


def test_send_to_vla_needs_an_accept_then_writes_json_and_overlay(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    dec = DecisionHandlers(services)
    with pytest.raises(gr.Error, match="Accept the correction first"):
        dec.send(out["run_state"])
    run = accept(services, out)["run_state"]
    message = dec.send(run)["send_out"]
    outbox = services.config.data_dir / "outbox"
    payload = json.loads((outbox / f"correction_{run.record_id}_r1.json").read_text())
    assert (outbox / payload["overlay"]).stat().st_size > 0 and "Live robot tab" in message
    json_mode = (outbox / f"correction_{run.record_id}_r1.json").stat().st_mode & 0o777
    assert json_mode == (outbox / payload["overlay"]).stat().st_mode & 0o777  # one permission policy for both
    assert payload["low_level"] == out["low_level"] and payload["symbols"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.txt", b"hello", "expected a video"),
        ("frame.png", b"\x89PNG\r\n\x1a\n", "is an image"),
        ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200, "not a readable video|corrupt|no frame"),
        ("empty.mp4", b"", "empty"),
    ],
)
def test_bad_uploads_give_a_clear_error_and_store_nothing(services: Services, tmp_path: Path, name, content, expected) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=expected):
        run_to_end(RunHandlers(services), str(path), TASK, "avoidance", PickedSource())
    assert services.corrections.store.count() == 0


def test_over_the_size_limit_and_empty_task_are_refused(tmp_path: Path, clip: Path) -> None:
    small = make_services(tmp_path / "data", max_upload_mb=1)
    big = tmp_path / "big.mp4"
    big.write_bytes(clip.read_bytes() + b"\0" * (1024 * 1024))
    with pytest.raises(gr.Error, match="limit is 1 MiB"):
        run_to_end(RunHandlers(small), str(big), TASK, "avoidance", PickedSource())
    with pytest.raises(gr.Error, match="task instruction is empty"):
        run_to_end(RunHandlers(small), str(clip), "   ", "avoidance", PickedSource())
    with pytest.raises(gr.Error, match="no video"):
        run_to_end(RunHandlers(small), None, TASK, "avoidance", PickedSource())
    with pytest.raises(gr.Error, match="Nothing to accept"):
        DecisionHandlers(small).accept(None, None, "Failed", 1, None, "", None, "", "", "")
    assert small.corrections.store.count() == 0
    small.close()


def test_invalid_final_version_is_refused_and_nothing_is_stored(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    with pytest.raises(gr.Error, match="keyframe"):
        accept(services, out, keyframe=None)
    with pytest.raises(gr.Error, match=r"failed.subtask: expected a whole number in 1\.\.2, got 7"):
        accept(services, out, subtasks="one\ntwo", failed_subtask=7)
    assert services.corrections.store.count() == 0


def test_corrections_tab_filters_reopens_reedits_reviews_and_exports(services: Services, clip: Path) -> None:
    out = diagnose(services, clip)
    record_id = accept(services, out, failure_type="gripper state")["run_state"].record_id
    DecisionHandlers(services).skip(diagnose(services, clip)["run_state"])
    cor = CorrectionsHandlers(services)
    listed = cor.refresh("accepted", "any", "any", "")
    assert [r[0] for r in listed["records"]] == [record_id] and "2 records" in listed["stats"]
    assert cor.refresh("any", "any", "task planning", "")["records"] == []
    reopened = cor.reopen(record_id)
    assert reopened["run_state"].record_id == record_id and reopened["failure_type"] == "gripper state"
    assert len(reopened["gallery"]) == 4 and reopened["editor_image"] is not None
    reopened["low_level"] = "Move the right gripper upward slightly."
    assert "revision 2" in accept(services, reopened)["decision_out"]
    assert services.corrections.get(record_id).final.low_level == "Move the right gripper upward slightly."
    assert cor.mark_reviewed(record_id, "any", "reviewed", "any", "")["records"][0][0] == record_id
    exported = cor.export("sharegpt", True, "any", "")
    with zipfile.ZipFile(exported["export_file"]) as z:
        names = z.namelist()
        z.extractall(Path(exported["export_file"]).parent / "x")
    data = Path(exported["export_file"]).parent / "x" / "vifailback_corrections_sharegpt"
    records = load_vqa_records(data / "vifailback_corrections.json")
    cot = next(r for r in records if r.tag == "cot_avoidance_code_qa")
    assert parse_answer(cot.response).low_level == "Move the right gripper upward slightly."
    assert all((data / image).is_file() for image in cot.images) and any(n.endswith(".jpg") for n in names)
    with pytest.raises(gr.Error, match="no correction with id 999"):
        cor.reopen(999)


def test_hf_export_is_a_zip_of_a_loadable_dataset(services: Services, clip: Path) -> None:
    import datasets

    accept(services, diagnose(services, clip))
    exported = CorrectionsHandlers(services).export("hf", False, "any", "")  # no push asked: a zip only
    assert "Pushed" not in exported["export_out"]
    folder = Path(exported["export_file"]).parent / "x"
    zipfile.ZipFile(exported["export_file"]).extractall(folder)
    ds = datasets.load_from_disk(str(folder / "vifailback_corrections_hf"))
    assert len(ds) >= 5 and "cot_avoidance_code_qa" in ds["tag"]


def test_demo_mode_when_no_model_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vifailback_demo.models import resolve

    monkeypatch.delenv("VIFAILBACK_MODEL", raising=False)
    monkeypatch.setattr(resolve, "bundled_model_dir", lambda: tmp_path / "missing")
    monkeypatch.setattr(resolve, "cached_snapshot", lambda *a, **k: None)
    s = make_services(tmp_path / "data", backend="auto")
    assert s.diagnosis.demo_mode and not s.diagnosis.loaded
    assert (
        "Demo mode: no VLM found" in s.diagnosis.status()
        and "hf download sii-rhos-ai/ViFailback-8B" in s.diagnosis.status()
    )
    assert s.diagnosis.is_scripted
    s.close()


def test_dataset_episodes_are_picked_from_the_operator_root_only(tmp_path: Path) -> None:
    from vifailback_demo.services.config import EXAMPLES_DIR

    s = make_services(tmp_path / "data", dataset_root=EXAMPLES_DIR)  # the bundled examples use the official layout
    handlers = RunHandlers(s)
    assert "stack_blocks/episode_2" in s.episodes.refs()
    picked = handlers.pick_episode("stack_blocks/episode_2")
    assert picked["task"].startswith("Use the right arm to stack") and picked["video"].endswith(".mp4")
    out = run_to_end(handlers, None, picked["task"], "correction", picked["picked"])
    assert out["failure_type"] == "gripper 6d-pose" and out["run_state"].source_kind == "dataset_episode"
    with pytest.raises(gr.Error, match="pick one from the list"):
        handlers.pick_episode("../../etc/passwd")
    s.close()


def test_a_keyframe_outside_the_frames_is_clamped_and_the_reviewer_is_told(
    services: Services, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = diagnose(services, clip)
    shown: list[str] = []
    monkeypatch.setattr("vifailback_demo.ui.editor_handlers.warn", shown.append)
    count = len(out["run_state"].frames)
    moved = EditorHandlers().set_keyframe(out["run_state"], out["editor_state"], 99)
    assert moved["keyframe"] == count
    assert shown == [f"Keyframe 99 is not one of the frames 1..{count}: set to {count}."]
    EditorHandlers().set_keyframe(out["run_state"], out["editor_state"], 2)
    assert len(shown) == 1  # a frame in range is taken silently


def test_example_labels_hide_the_outcome_and_the_run_shows_the_ground_truth(services: Services) -> None:
    run = RunHandlers(services)
    for example in services.examples.list():
        assert example.name not in example.label and "(" not in example.label  # no "gripper_state (gripper state)"
    failed = next(e for e in services.examples.list() if e.success is False)
    picked = run.pick_example(failed.label)
    out = run_to_end(run, picked["video"], picked["task"], "avoidance", picked["picked"])
    assert f"Ground truth (annotation): **Failed** · failure type **{failed.failure_type}**" in out["summary"]


def test_summary_warnings_keep_angle_brackets_and_drop_empty_lines() -> None:
    from vifailback_demo.diagnosis.result import Diagnosis
    from vifailback_demo.ui.views import summary_markdown

    problem = "visual prompts read from the <Think> block, not <Answer>"
    d = Diagnosis("t", "avoidance", "m", "failed", False, 2, "task planning", "Move.", [], [problem, "  "], "", {}, {})
    text = summary_markdown(d)
    assert "visual prompts read from the &lt;Think&gt; block, not &lt;Answer&gt;" in text
    assert text.count("- warning:") == 1


def test_decisions_are_offered_only_when_there_is_something_to_decide(services: Services) -> None:
    run = RunHandlers(services)
    picked = run.pick_example("gripper_state")
    assert [picked[b].interactive for b in ("accept", "reject", "skip", "send")] == [False] * 4
    assert picked["decision_out"] == "" and picked["send_out"] == ""  # the last clip's messages go
    out = run_to_end(run, picked["video"], picked["task"], "avoidance", picked["picked"])
    assert [out[b].interactive for b in ("accept", "reject", "skip", "send")] == [True] * 4
    assert run.uploaded()["accept"].interactive is False


def test_the_banner_says_when_the_bundled_tiny_model_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vifailback_demo.services.diagnosis import TINY_NOTE

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # no ViFailback-8B here: the bundled model
    monkeypatch.delenv("VIFAILBACK_MODEL", raising=False)
    s = make_services(tmp_path / "data", backend="auto")
    try:
        assert "(bundled)" in s.diagnosis.status() and TINY_NOTE in s.diagnosis.status()
    finally:
        s.close()
    scripted = make_services(tmp_path / "data2")
    try:
        assert TINY_NOTE not in scripted.diagnosis.status()
    finally:
        scripted.close()
