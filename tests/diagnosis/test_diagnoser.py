"""The diagnoser: prompt -> backend -> parse -> Diagnosis with the keyframe drawn, streaming, odd answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.video.clips import TASK, random_frames
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.prompts import cot_prompt
from vifailback_demo.core.symbols import Crosshair
from vifailback_demo.diagnosis import Diagnoser, Diagnosis, write_diagnosis
from vifailback_demo.models.scripted import ScriptedBackend, demo_answer

PARSE_SCHEMA = ["success", "keyframe", "failure_type", "low_level", "symbols", "problems"]


def test_failed_answer_gives_every_field_and_a_drawn_keyframe(h264_clip: Path) -> None:
    backend = ScriptedBackend()
    d = Diagnoser(backend).diagnose(h264_clip, TASK, "avoidance")
    assert backend.calls[0].prompt == cot_prompt(TASK, "avoidance") and backend.calls[0].num_frames == 6
    assert d.status == "failed" and d.success is False and d.parseable
    assert d.keyframe == 4 and d.failure_type == "gripper 6d-pose" and d.low_level.startswith("Move the right")
    assert len(d.symbols) == 3 and d.problems == []
    assert d.raw_text == demo_answer(6)
    assert d.keyframe_frame is not None and d.keyframe_image.shape == d.keyframe_frame.shape
    assert not np.array_equal(d.keyframe_image, d.keyframe_frame)  # symbols were drawn
    assert set(d.timings) >= {"sampling", "generation", "parsing", "rendering", "total"}
    assert d.timings["total"] >= d.timings["sampling"] > 0
    assert d.frames["count"] == 6 and d.frames["timestamps_s"][-1] == pytest.approx(4.16)
    data = d.to_dict()
    assert list(data)[:6] == PARSE_SCHEMA
    json.dumps(data)  # JSON-ready


def test_successful_answer_has_no_keyframe() -> None:
    d = Diagnoser(ScriptedBackend(format_cot_answer(success=True))).diagnose(random_frames(4), TASK)
    assert d.status == "successful" and d.success is True
    assert d.keyframe is None and d.keyframe_image is None and d.symbols == []


def test_successful_answer_naming_a_keyframe_is_flagged_and_not_drawn() -> None:
    text = format_cot_answer(success=True).replace('"keyframe": "None"', '"keyframe": "2"')
    d = Diagnoser(ScriptedBackend(text)).diagnose(random_frames(4), TASK)
    assert d.keyframe is None and d.keyframe_image is None
    assert any("Successful" in p for p in d.problems)


def test_unparseable_answer_keeps_the_raw_text_and_says_so() -> None:
    garbage = "I think the robot did something. ntntnt"
    d = Diagnoser(ScriptedBackend(garbage)).diagnose(random_frames(3), TASK)
    assert d.status == "unparseable" and not d.parseable
    assert d.raw_text == garbage and d.keyframe_image is None
    assert any("raw text is kept" in p for p in d.problems)


def test_keyframe_outside_the_frames_is_reported_not_drawn() -> None:
    text = format_cot_answer(
        success=False,
        keyframe=9,
        failure_type="task planning",
        low_level="Grasp open.",
        symbols=[Crosshair(pos=(5, 5))],
    )
    d = Diagnoser(ScriptedBackend(text)).diagnose(random_frames(3), TASK)
    assert d.status == "failed" and d.keyframe == 9 and d.keyframe_image is None
    assert any("outside the 3 images" in p for p in d.problems)


def test_correction_mode_uses_the_correction_prompt() -> None:
    backend = ScriptedBackend(mode="correction")
    d = Diagnoser(backend).diagnose(random_frames(5), TASK, "correction")
    assert backend.calls[0].prompt == cot_prompt(TASK, "correction")
    assert d.mode == "correction" and d.frames["prompt_tag"] == "cot_correction_code_qa"


def test_bad_task_or_mode_fails_before_any_work() -> None:
    backend = ScriptedBackend()
    with pytest.raises(ValueError, match="mode"):
        Diagnoser(backend).diagnose(random_frames(2), TASK, "repair")
    with pytest.raises(ValueError, match="task instruction is empty"):
        Diagnoser(backend).diagnose(random_frames(2), " ")
    assert backend.calls == []


def test_streaming_callback_and_iterator_show_text_as_it_is_generated() -> None:
    backend = ScriptedBackend(chunk_chars=20, delay_s=0.002)
    seen: list[tuple[float, str]] = []
    d = Diagnoser(backend).diagnose(random_frames(3), TASK, on_text=lambda s: seen.append((time.perf_counter(), s)))
    assert "".join(s for _, s in seen) == d.raw_text and len(seen) > 10
    assert seen[-1][0] - seen[0][0] > 0.01  # pieces arrived over time, not all at the end
    items = list(Diagnoser(ScriptedBackend(chunk_chars=50)).stream(random_frames(3), TASK))
    assert isinstance(items[-1], Diagnosis)
    assert "".join(items[:-1]) == items[-1].raw_text


def test_stream_reraises_errors_from_the_worker(tmp_path: Path) -> None:
    from vifailback_demo.errors import VideoError

    with pytest.raises(VideoError, match="not found"):
        list(Diagnoser(ScriptedBackend()).stream(tmp_path / "missing.mp4", TASK))


def test_write_diagnosis_files_and_stale_keyframe_removal(tmp_path: Path) -> None:
    failed = Diagnoser(ScriptedBackend()).diagnose(random_frames(5), TASK)
    paths = write_diagnosis(failed, tmp_path)
    data = json.loads(paths["diagnosis"].read_text())
    assert data["keyframe_image"] == "keyframe.png" and (tmp_path / "keyframe.png").is_file()
    assert data["raw_text"] == failed.raw_text and data["frames"]["count"] == 5
    ok = Diagnoser(ScriptedBackend(format_cot_answer(success=True))).diagnose(random_frames(5), TASK)
    write_diagnosis(ok, tmp_path)
    assert not (tmp_path / "keyframe.png").exists()


def test_whole_path_with_the_tiny_qwen3vl(tiny_backend, h264_clip: Path) -> None:
    from vifailback_demo.models.backend import GenerationSettings

    diagnoser = Diagnoser(tiny_backend, settings=GenerationSettings(max_new_tokens=24))
    pieces: list[str] = []
    d = diagnoser.diagnose(h264_clip, TASK, on_text=pieces.append)
    # Random weights cannot answer; what matters is that the real model path ran end to end.
    assert d.new_tokens == 24 and d.prompt_tokens > 500 and d.raw_text
    assert "".join(pieces).strip() == d.raw_text.strip()
    assert d.status == "unparseable" and d.frames["count"] == 6
    assert d.timings["generation"] > 0
