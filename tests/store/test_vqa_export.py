"""VQA pairs derived from accepted corrections, and the ShareGPT / Hugging Face exports (library and CLI)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.store.store_worker import make_item
from vifailback_demo.cli.main import main
from vifailback_demo.core import prompts as P
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.commands import parse_command
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.core.symbols import DualCrosshair, RotatingArrow, StraightArrow
from vifailback_demo.errors import StoreError
from vifailback_demo.store import FinalVersion
from vifailback_demo.store.export import ExportFilter, export
from vifailback_demo.store.vqa import derive_vqa, lowlevel_distractors

OFFICIAL_COMMAND = (
    "Move the right gripper to the right significantly and backward significantly, and rotate the right gripper "
    "clockwise."
)
OFFICIAL_SYMBOLS = [
    StraightArrow((602, 179), (689, 325), ("green", "red")),
    RotatingArrow((550, 179), "clockwise"),
    DualCrosshair((806, 196), (789, 317)),
]


def full_final(**changes) -> FinalVersion:
    final = FinalVersion.from_symbols(
        OFFICIAL_SYMBOLS,
        success=False,
        keyframe=2,
        failure_type="gripper 6d-pose",
        subtasks=("1. Grasp the cup.", "2. Lift the cup.", "3. Place the cup on the plate."),
        failed_subtask=1,
        failure_reason="The gripper closed to the left of the cup handle.",
        low_level=OFFICIAL_COMMAND,
        high_level="Approach the cup from its right side before grasping.",
    )
    return dataclasses.replace(final, **changes)


@pytest.fixture
def full_record(store):
    item = make_item("full", 1, frames=5)
    item.task = "Use the right arm to put the cup on the plate."
    item.final = full_final()
    return store.get(store.add(item))


def test_full_avoidance_record_gives_every_supported_tag(full_record):
    pairs = derive_vqa(full_record, list(full_record.frame_files))
    assert sorted(p.tag for p in pairs) == sorted([
        P.TAG_FAILURE_DETECTION, P.TAG_COT_AVOIDANCE, P.TAG_KEYFRAME, P.TAG_SUBTASK, P.TAG_FAILURE_TYPE,
        P.TAG_LOWLEVEL_AVOIDANCE, P.TAG_FAILURE_REASON, P.TAG_HIGHLEVEL_AVOIDANCE,
    ])  # fmt: skip
    for pair in pairs:
        assert pair.problems() == [] and pair.images == list(full_record.frame_files)
        assert pair.messages[0]["content"].startswith("<image>" * 5)
        if pair.options is not None:
            assert pair.answer in pair.options
            letter = P.option_letter(pair.options.index(pair.answer))
            assert pair.response == f"{letter}. {pair.answer}"
            assert len(set(pair.options)) == len(pair.options) >= 2
    by_tag = {p.tag: p for p in pairs}
    assert by_tag[P.TAG_KEYFRAME].answer == "2" and len(by_tag[P.TAG_KEYFRAME].options) == 4
    assert by_tag[P.TAG_SUBTASK].answer == "1. Grasp the cup."
    assert by_tag[P.TAG_FAILURE_REASON].response == "The gripper closed to the left of the cup handle."
    assert by_tag[P.TAG_HIGHLEVEL_AVOIDANCE].response.startswith("Approach the cup")


def test_cot_answer_parses_back_to_the_humans_fields(full_record):
    cot = next(p for p in derive_vqa(full_record, full_record.frame_files) if p.tag == P.TAG_COT_AVOIDANCE)
    assert cot.prompt == P.cot_prompt(full_record.task, "avoidance")
    parsed = parse_answer(cot.response)
    assert parsed.problems == []
    assert (parsed.success, parsed.keyframe, parsed.failure_type, parsed.low_level) == (
        False, 2, "gripper 6d-pose", OFFICIAL_COMMAND,
    )  # fmt: skip
    assert parsed.symbols == OFFICIAL_SYMBOLS


def test_correction_mode_uses_correction_tags(store):
    item = make_item("corr", 2, frames=4)
    item.mode = "correction"
    item.final = full_final(keyframe=3)
    record = store.get(store.add(item))
    tags = {p.tag for p in derive_vqa(record, record.frame_files)}
    assert {P.TAG_COT_CORRECTION, P.TAG_LOWLEVEL_CORRECTION, P.TAG_HIGHLEVEL_CORRECTION} <= tags
    # The keyframe question asks for the frame before the failure: not what a correction keyframe is.
    assert not tags & {P.TAG_COT_AVOIDANCE, P.TAG_LOWLEVEL_AVOIDANCE, P.TAG_HIGHLEVEL_AVOIDANCE, P.TAG_KEYFRAME}
    cot = next(p for p in derive_vqa(record, record.frame_files) if p.tag == P.TAG_COT_CORRECTION)
    assert parse_answer(cot.response).keyframe == 3


def test_minimal_and_success_records(store):
    minimal = make_item("min", 3)
    minimal.final = FinalVersion(success=False, keyframe=1)
    success = make_item("ok", 4)
    success.final = FinalVersion(success=True)
    m, s = (store.get(store.add(i)) for i in (minimal, success))
    m_pairs = derive_vqa(m, m.frame_files)
    assert [p.tag for p in m_pairs] == [P.TAG_FAILURE_DETECTION, P.TAG_KEYFRAME]
    s_pairs = derive_vqa(s, s.frame_files)
    assert [p.tag for p in s_pairs] == [P.TAG_FAILURE_DETECTION, P.TAG_COT_AVOIDANCE]
    assert s_pairs[0].answer == "Successful" and parse_answer(s_pairs[1].response).success is True


def test_non_accepted_records_give_no_vqa(store):
    record = store.get(store.add(dataclasses.replace(make_item("rej", 1), decision="rejected", final=None)))
    with pytest.raises(StoreError, match="only accepted"):
        derive_vqa(record, record.frame_files)


def test_lowlevel_distractors_flip_one_part_each():
    wrong = lowlevel_distractors(OFFICIAL_COMMAND)
    assert OFFICIAL_COMMAND not in wrong and len(wrong) == len(set(wrong)) >= 3
    assert wrong[0] == (
        "Move the right gripper to the left significantly and backward significantly, and rotate the right "
        "gripper clockwise."
    )
    right = parse_command(OFFICIAL_COMMAND)
    for text in wrong:
        other = parse_command(text)
        assert other.problems == () and other != right
    # Free text outside the vocabulary still gets word-swap distractors.
    assert lowlevel_distractors("Push the cup forward a bit.") == ["Push the cup backward a bit."]


def test_derivation_is_deterministic(full_record):
    a = [p.to_dict() for p in derive_vqa(full_record, full_record.frame_files)]
    b = [p.to_dict() for p in derive_vqa(full_record, full_record.frame_files)]
    assert a == b


def _fill(store):
    ids = []
    for i, ft in enumerate(["gripper state", "gripper 6d-pose", "gripper 6d-pose"]):
        item = make_item("exp", i, frames=3)
        item.final = full_final(keyframe=1 + i, failure_type=ft)
        ids.append(store.add(item))
    store.add(dataclasses.replace(make_item("exp", 9), decision="rejected", final=None))
    store.add(dataclasses.replace(make_item("exp", 1), decision="skipped", final=None))
    store.mark_reviewed(ids[2])
    return ids


def test_sharegpt_export_reads_back_with_images(store, tmp_path):
    ids = _fill(store)
    out = tmp_path / "export"
    result = export(store, "sharegpt", out)
    assert result.records == 3 and result.record_ids == ids and result.images == 9
    records = load_vqa_records(out / "vifailback_corrections.json")
    assert len(records) == result.vqa_pairs == 3 * 8
    for r in records:
        assert r.problems() == []
        for rel in r.images:
            assert not rel.startswith("/") and (out / rel).is_file()
    info = json.loads((out / "dataset_info.json").read_text())
    entry = info["vifailback_corrections"]
    assert entry["formatting"] == "sharegpt" and entry["file_name"] == "vifailback_corrections.json"
    assert entry["columns"] == {"messages": "messages", "images": "images"}
    assert entry["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant"}  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left


def test_export_filters(store, tmp_path):
    _fill(store)
    reviewed = export(store, "sharegpt", tmp_path / "a", ExportFilter(reviewed_only=True))
    assert reviewed.records == 1
    by_type = export(store, "sharegpt", tmp_path / "b", ExportFilter(failure_type="gripper state"))
    assert by_type.records == 1
    recs = load_vqa_records(tmp_path / "b" / "vifailback_corrections.json")
    assert {r.answer for r in recs if r.tag == P.TAG_FAILURE_TYPE} == {"gripper state"}


def test_export_refuses_non_empty_out_and_keeps_it(store, tmp_path):
    _fill(store)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        export(store, "sharegpt", out)
    assert (out / "keep.txt").read_text() == "mine"
    export(store, "sharegpt", out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "vifailback_corrections.json").is_file()


def test_hf_export_loads_with_datasets(store, tmp_path):
    import datasets

    _fill(store)
    result = export(store, "hf", tmp_path / "hf")
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(ds) == result.vqa_pairs == 24
    assert set(ds.column_names) == {"messages", "images", "tag", "options", "answer"}
    row = next(r for r in ds if r["tag"] == P.TAG_FAILURE_TYPE)
    assert row["answer"] in row["options"] and row["messages"][1]["content"].endswith(row["answer"])
    assert len(row["images"]) == 3 and row["images"][0].size == (64, 48)


def test_hf_push_without_token_is_refused(store, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    _fill(store)
    with pytest.raises(StoreError, match="HF_TOKEN"):
        export(store, "hf", tmp_path / "hf", push_to_hub="someone/corrections")
    assert not (tmp_path / "hf").exists()


def test_cli_list_stats_export(store, tmp_path, capsys, monkeypatch):
    _fill(store)
    data = str(store.data_dir)
    assert main(["corrections", "stats", "--data-dir", data, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 5 and stats["by_decision"] == {"accepted": 3, "rejected": 1, "skipped": 1}

    monkeypatch.setenv("VIFAILBACK_DATA_DIR", data)  # the default data dir comes from the environment
    assert main(["corrections", "list", "--decision", "accepted", "--limit", "2", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == 3 and [i["id"] for i in listed["items"]] == [3, 2]

    out = tmp_path / "cli_export"
    assert main(["corrections", "export", "--format", "sharegpt", "--out", str(out), "--reviewed-only",
                 "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 1 and summary["record_ids"] == [3]
    assert len(load_vqa_records(out / "vifailback_corrections.json")) == summary["vqa_pairs"]

    code = main(["corrections", "export", "--format", "hf", "--out", str(tmp_path / "h"), "--push-to-hub", "a/b"])
    assert code == 2 and "HF_TOKEN" in capsys.readouterr().err


def test_cli_missing_store_is_one_line_error(tmp_path, capsys):
    assert main(["corrections", "stats", "--data-dir", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no corrections store" in err and "Traceback" not in err and err.count("\n") == 1
