"""Dataset I/O: official records, VQA records, the frame sampling rule, and paths that must not escape the root."""

from __future__ import annotations

import json
import os

import pytest

from vifailback_demo.core.dataset import (
    AnnotationRecord,
    VQARecord,
    find_in_root,
    keyframe_position,
    load_annotation_records,
    load_vqa_records,
    parse_frame_name,
    read_records,
    record_kind,
    resolve_in_root,
    vqa_frame_names,
    write_json_atomic,
    write_vqa_records,
)
from vifailback_demo.core.prompts import TAG_FAILURE_TYPE, cot_prompt, lite_prompt
from vifailback_demo.core.symbols import DualCrosshair, Lock, Rewind
from vifailback_demo.errors import DatasetError, DatasetPathError


@pytest.fixture
def records(reference_dir):
    return json.loads((reference_dir / "example_direct_draw.json").read_text())


def test_official_annotation_record_reads_and_writes_back_unchanged(records):
    rec = AnnotationRecord.from_dict(records[1])
    assert rec.task.startswith("Use the left arm to grasp the wooden spatula")
    assert rec.failed and rec.failure_type == "task planning" and rec.failure_subtask == "1"
    assert rec.avoidance.symbols == [Lock((481, 241)), DualCrosshair((80, 238), (219, 245))]
    assert rec.correction.symbols == [Rewind((271, 116)), DualCrosshair((74, 242), (287, 150))]
    assert rec.avoid_keyframe.endswith("24_avoid_keyframe.jpg")
    assert rec.problems == []
    assert rec.to_dict() == records[1]
    assert record_kind(records[0]) == "vqa" and record_kind(records[1]) == "annotation" and record_kind({}) is None


def test_project_extras_round_trip():
    rec = AnnotationRecord(task="Use the right arm to place the orange block into the bowl.", failure_reason="missed")
    rec.avoidance.high_level = "Pick the orange block first."
    back = AnnotationRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back.failure_reason == "missed" and back.avoidance.high_level == "Pick the orange block first."


def test_bad_symbols_in_a_record_become_problems(records):
    d = json.loads(json.dumps(records[1]))
    d["avoidance"][0]["avoid_keyframe_annotations_code"].append({"type": "teleport", "pos": [1, 2]})
    rec = AnnotationRecord.from_dict(d)
    assert len(rec.avoidance.symbols) == 2
    assert any("teleport" in p for p in rec.problems)
    with pytest.raises(DatasetError, match="'task'"):
        AnnotationRecord.from_dict({"avoidance": []})


def test_vqa_records_round_trip_and_check_tokens(tmp_path, records, reference_dir):
    infer = json.loads((reference_dir / "example_vifailback_infer.json").read_text())
    path = tmp_path / "vqa.json"
    write_vqa_records(path, [VQARecord.from_dict(infer[0])])
    [rec] = load_vqa_records(path)
    assert rec.to_dict() == infer[0]
    assert rec.problems() == []
    task = rec.prompt.split("The task is to: '")[1].split("'.\n")[0]
    assert rec.prompt == cot_prompt(task)
    assert rec.response is None
    lite = VQARecord.build(
        lite_prompt(TAG_FAILURE_TYPE, "Do it.", ["a", "b"]),
        "b",
        ["x.jpg"],
        TAG_FAILURE_TYPE,
        options=["a", "b"],
        answer="b",
    )
    assert lite.problems() == [] and lite.to_dict()["answer"] == "b"
    lite.answer = "c"
    assert any("not one of the options" in p for p in lite.problems())
    broken = VQARecord.from_dict({"messages": [{"role": "user", "content": "<image>q"}], "images": ["a.jpg", "b.jpg"]})
    assert any("1 <image> tokens for 2 images" in p for p in broken.problems())
    with pytest.raises(DatasetError, match="messages"):
        VQARecord.from_dict({"messages": "hi"})


def test_official_frame_sampling_rule(records, reference_dir):
    # Both official examples and the paper's "289 frames -> 15 images".
    assert vqa_frame_names(387, 292, 320) == [p.rsplit("/", 1)[1] for p in records[0]["images"]]
    assert vqa_frame_names(178, 24, 104) == [p.rsplit("/", 1)[1] for p in records[1]["images"]]
    infer = json.loads((reference_dir / "example_vifailback_infer.json").read_text())[0]
    assert vqa_frame_names(289, 172, 269) == [p.rsplit("/", 1)[1] for p in infer["images"]]
    assert keyframe_position(records[0]["images"]) == 13  # the answer's keyframe
    assert keyframe_position(records[0]["images"], "correct") == 15
    # a keyframe on a multiple of 25 replaces the plain frame; the last frame is not duplicated
    assert vqa_frame_names(51, 25, 50) == ["0.jpg", "25_avoid_keyframe.jpg", "50_correct_keyframe.jpg"]
    assert vqa_frame_names(1) == ["0.jpg"]
    with pytest.raises(DatasetError, match="outside the episode"):
        vqa_frame_names(100, 100)
    assert parse_frame_name("a/b/292_avoid_keyframe.jpg") == (292, "avoid")
    assert parse_frame_name("25.jpg") == (25, None)
    with pytest.raises(DatasetError, match=r"expected '<index>\.jpg'"):
        parse_frame_name("frame.png")


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "a/../../x.jpg",
        "..\\..\\x.jpg",
        "C:/Windows/x.jpg",
        "a/\x00.jpg",
        "",
        "..",
        "a/..",
    ],
)
def test_paths_escaping_the_root_are_refused(tmp_path, bad):
    with pytest.raises(DatasetPathError, match=r"dataset root|relative"):
        resolve_in_root(tmp_path, bad, what="image")


def test_symlink_escape_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(DatasetPathError, match="outside the dataset root"):
        resolve_in_root(root, "link/secret.jpg")
    assert resolve_in_root(root, "./a/b.jpg") == (root / "a" / "b.jpg").resolve()


def test_find_in_root_tries_annotated_data(tmp_path):
    (tmp_path / "annotated_data" / "t").mkdir(parents=True)
    (tmp_path / "annotated_data" / "t" / "0.jpg").write_bytes(b"x")
    assert find_in_root(tmp_path, "t/0.jpg") == (tmp_path / "annotated_data" / "t" / "0.jpg").resolve()
    with pytest.raises(DatasetError, match="not found"):
        find_in_root(tmp_path, "t/1.jpg")


def test_json_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('[{"a": 1}, ')
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_records(p)
    p.write_text('{"a": 1}\n{"b": 2}\n')
    assert read_records(p) == [{"a": 1}, {"b": 2}]  # JSON Lines
    p.write_text("[1, 2]")
    with pytest.raises(DatasetError, match="record 1 is int"):
        read_records(p)
    with pytest.raises(DatasetError, match="not found"):
        read_records(tmp_path / "missing.json")
    write_json_atomic(p, {"ok": "é"})
    assert read_records(p) == [{"ok": "é"}]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    with pytest.raises(DatasetError, match="record 1"):
        p.write_text('[{"messages": 3}]')
        load_vqa_records(p)
    with pytest.raises(DatasetError, match="record 1"):
        p.write_text('[{"task": ""}]')
        load_annotation_records(p)
