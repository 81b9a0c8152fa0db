"""The corrections store on a real SQLite file: add/get, bad input, re-edit history, review, counts, filters."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest

from tests.store.store_worker import make_frame, make_item
from vifailback_demo.core.symbols import RotatingArrow, StraightArrow
from vifailback_demo.errors import StoreError, SymbolError
from vifailback_demo.imageio import decode_image_rgb, encode_image
from vifailback_demo.store import CorrectionsStore, FinalVersion, NewCorrection
from vifailback_demo.store.db import SCHEMA_VERSION
from vifailback_demo.store.images import prepare_image
from vifailback_demo.store.store import with_final


def _image_files(store: CorrectionsStore) -> set[str]:
    return {str(p.relative_to(store.data_dir)) for p in (store.data_dir / "images").rglob("*") if p.is_file()}


def test_add_then_get_returns_everything(store):
    item = make_item("t", 7)
    item.model_output = '<Think>x</Think><Answer>"success detection": "Failed"</Answer>'
    item.model_diagnosis = {"success": False, "keyframe": 2}
    item.notes = "looks right"
    record_id = store.add(item)
    r = store.get(record_id)
    assert (r.task, r.who, r.mode, r.decision, r.review_status) == ("t 7", "t", "avoidance", "accepted", "unreviewed")
    assert (r.source.kind, r.source.ref) == ("live_run", "t:7")
    assert r.model_output == item.model_output and r.model_diagnosis == {"success": False, "keyframe": 2}
    assert r.final.keyframe == item.final.keyframe and r.final.symbols == item.final.symbols
    assert r.final.image_size == (64, 48)  # taken from the keyframe when not given
    assert r.notes == "looks right" and r.revision == 1 and r.created_at == r.updated_at
    for sha, rel, k in zip(r.frames, r.frame_files, range(3), strict=True):
        assert sha == prepare_image(make_frame(70 + k)).sha256
        assert rel == f"images/{sha[:2]}/{sha}.jpg"
        assert store.images.verify(rel, sha)


def test_store_file_is_wal_with_versioned_schema(store):
    store.add(make_item("t", 1))
    conn = sqlite3.connect(store.data_dir / "corrections.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    finally:
        conn.close()
    assert store.db.conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_check() == "ok"


def test_newer_schema_is_refused(tmp_path):
    CorrectionsStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "corrections.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        CorrectionsStore(tmp_path)


def test_identical_frames_are_stored_once(store):
    a, b = make_item("a", 1), make_item("b", 1)
    store.add(a)
    store.add(b)
    assert len(_image_files(store)) == 3
    assert store.stats()["images"] == 3


def test_encoded_bytes_are_kept_byte_for_byte(store):
    png = encode_image(make_frame(5), ".png")
    item = make_item("png", 5)
    item.frames = [png, png]
    item.final = dataclasses.replace(item.final, keyframe=2)
    r = store.get(store.add(item))
    assert r.frame_files[0].endswith(".png")
    assert store.images.read_bytes(r.frame_files[0]) == png
    assert np.array_equal(decode_image_rgb(store.images.read_bytes(r.frame_files[1])), make_frame(5))


def _bad_items() -> list[tuple[str, NewCorrection, type[Exception], str]]:
    base = make_item("bad", 3)
    bad_final = base.final
    return [
        ("empty task", dataclasses.replace(base, task="   "), StoreError, "task"),
        ("unknown decision", dataclasses.replace(base, decision="maybe"), StoreError, "decision"),
        ("unknown mode", dataclasses.replace(base, mode="repair"), StoreError, "mode"),
        ("keyframe out of range", dataclasses.replace(base, final=dataclasses.replace(bad_final, keyframe=9)),
         StoreError, "1..3"),
        ("keyframe zero", dataclasses.replace(base, final=dataclasses.replace(bad_final, keyframe=0)), StoreError,
         "keyframe"),
        ("symbol out of range", dataclasses.replace(base, final=dataclasses.replace(
            bad_final, symbols=({"type": "crosshair", "pos": [1200, 5]},))), SymbolError, "outside"),
        ("unknown symbol", dataclasses.replace(base, final=dataclasses.replace(
            bad_final, symbols=({"type": "star", "pos": [1, 5]},))), SymbolError, "symbol type"),
        ("bad colour", dataclasses.replace(base, final=dataclasses.replace(bad_final, symbols=(
            {"type": "move_arrow", "start": [1, 1], "end": [5, 5], "colors": ["purple"]},))), SymbolError, "colour"),
        ("unknown failure type", dataclasses.replace(base, final=dataclasses.replace(
            bad_final, failure_type="gravity")), StoreError, "failure_type"),
        ("accepted without final", dataclasses.replace(base, final=None), StoreError, "final version"),
        ("no frames", dataclasses.replace(base, frames=[]), StoreError, "frames"),
        ("corrupt frame", dataclasses.replace(base, frames=[*base.frames[:2], b"\xff\xd8\xffnot really"]),
         StoreError, "frame 3"),
        ("grey frame", dataclasses.replace(base, frames=[np.zeros((4, 4), np.uint8)] * 3), StoreError, "RGB"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _bad_items(), ids=lambda c: c[0])
def test_bad_input_raises_and_stores_nothing(store, case):
    _, item, error, words = case
    store.add(make_item("good", 1))
    before_files, before = _image_files(store), store.stats()
    with pytest.raises(error, match=words):
        store.add(item)
    assert store.stats() == before
    assert _image_files(store) == before_files


def test_rejected_and_skipped_need_no_final(store):
    rid = store.add(dataclasses.replace(make_item("r", 1), decision="rejected", final=None))
    sid = store.add(dataclasses.replace(make_item("s", 2), decision="skipped", final=None))
    assert store.get(rid).final is None and store.get(sid).decision == "skipped"


def test_unknown_id_is_a_clear_error(store):
    with pytest.raises(StoreError, match="no correction with id 42"):
        store.get(42)


def test_reedit_keeps_every_version(store):
    rid = store.add(make_item("edit", 4))
    first = store.get(rid)
    new_symbols = (RotatingArrow((500, 500), "counter-clockwise"),)
    second = store.update_final(
        rid, dataclasses.replace(FinalVersion.from_symbols(new_symbols, success=False, keyframe=1,
                                                          failure_type="gripper state")),
        who="alice", notes="fixed the rotation",
    )  # fmt: skip
    assert second.revision == 2 and second.final.failure_type == "gripper state"
    assert second.final.symbol_objects() == list(new_symbols) and second.notes == "fixed the rotation"
    third = store.update_final(rid, with_final(second, low_level="Rotate the left gripper counter-clockwise."),
                               decision="rejected")  # fmt: skip
    assert third.revision == 3 and third.decision == "rejected"
    history = store.history(rid)
    assert [(h.revision, h.action) for h in history] == [(1, "create"), (2, "edit"), (3, "edit")]
    assert history[0].final == first.final and history[1].who == "alice"
    assert history[2].final.low_level == "Rotate the left gripper counter-clockwise."
    assert store.stats()["by_failure_type"] == {"gripper state": 1}


def test_bad_reedit_changes_nothing(store):
    rid = store.add(make_item("edit", 4))
    before = store.get(rid)
    with pytest.raises(StoreError, match="keyframe"):
        store.update_final(rid, with_final(before, keyframe=17))
    with pytest.raises(StoreError, match="decision"):
        store.update_final(rid, before.final, decision="perhaps")
    assert store.get(rid) == before and len(store.history(rid)) == 1


def test_mark_reviewed_and_counts(store):
    ids = [store.add(make_item("c", i)) for i in range(3)]
    store.add(dataclasses.replace(make_item("c", 9), decision="rejected", final=None))
    success = FinalVersion(success=True)
    store.add(dataclasses.replace(make_item("ok", 10), final=success))
    reviewed = store.mark_reviewed(ids[1], who="bob")
    assert reviewed.review_status == "reviewed" and reviewed.updated_at > reviewed.created_at
    assert store.history(ids[1])[-1].action == "review:reviewed"
    assert store.stats() == {
        "total": 5,
        "by_failure_type": {"gripper 6d-pose": 3, "none": 2},
        "by_decision": {"accepted": 4, "rejected": 1},
        "by_review_status": {"reviewed": 1, "unreviewed": 4},
        "accepted_by_outcome": {"gripper 6d-pose": 3, "success": 1},
        "images": 15,
    }
    assert store.mark_reviewed(ids[1], reviewed=False).review_status == "unreviewed"


def test_filters_search_and_pagination(store):
    for i in range(7):
        item = make_item("pick" if i % 2 else "place", i)
        if i == 3:
            item.final = dataclasses.replace(item.final, failure_type="task planning")
        store.add(item)
    store.add(dataclasses.replace(make_item("pick", 50), decision="skipped", final=None))
    store.mark_reviewed(2)

    assert store.list(decision="skipped").total == 1
    assert [r.id for r in store.list(review_status="reviewed").records] == [2]
    assert [r.task for r in store.list(failure_type="task planning").records] == ["pick 3"]
    assert store.list(search="PICK").total == 4  # case-insensitive substring of the task
    assert store.list(search="100%").total == 0  # LIKE wildcards are escaped
    page1 = store.list(limit=3)
    page3 = store.list(limit=3, offset=6)
    assert page1.total == 8 and [r.id for r in page1.records] == [8, 7, 6]
    assert [r.id for r in page3.records] == [2, 1]
    assert [r.id for r in store.list(limit=3, newest_first=False).records] == [1, 2, 3]
    assert [r.id for r in store.iter_records(decision="accepted")] == list(range(1, 8))
    assert store.count(decision="accepted", search="place") == 4
    with pytest.raises(StoreError, match="decision filter"):
        store.list(decision="nope")
    with pytest.raises(StoreError, match="pagination"):
        store.list(limit=0)


def test_symbols_are_stored_in_canonical_form(store):
    item = make_item("canon", 1)
    item.final = FinalVersion.from_symbols(
        [StraightArrow((1, 2), (3, 4), ("blue", "red"))], success=False, keyframe=1, failure_type="gripper state"
    )
    final = store.get(store.add(item)).final
    assert final.symbols == ({"type": "move_arrow", "start": [1, 2], "end": [3, 4], "colors": ["blue", "red"]},)


def test_open_without_create_refuses_missing_store(tmp_path):
    with pytest.raises(StoreError, match="no corrections store"):
        CorrectionsStore(tmp_path / "missing", create=False)


def test_update_notes_is_a_new_revision_that_changes_only_the_notes(store):
    rid = store.add(dataclasses.replace(make_item("n", 1), decision="rejected", final=None, notes="first"))
    store.mark_reviewed(rid, who="bob")
    before = store.get(rid)
    after = store.update_notes(rid, '{"live": {"succeeded": true}}', who="ana")
    assert after.revision == 2 and after.notes == '{"live": {"succeeded": true}}'
    assert (after.final, after.decision, after.review_status) == (None, "rejected", "reviewed")
    assert after.updated_at > before.updated_at and after.frames == before.frames
    history = store.history(rid)
    assert [(h.revision, h.action, h.notes) for h in history] == [
        (1, "create", "first"),
        (1, "review:reviewed", "first"),
        (2, "notes", '{"live": {"succeeded": true}}'),
    ]
    assert history[-1].who == "ana" and history[-1].decision == "rejected" and history[-1].review_status == "reviewed"

    aid = store.add(make_item("n", 2))
    final = store.get(aid).final
    again = store.update_notes(aid, "")
    assert again.final == final and again.decision == "accepted" and again.notes == "" and again.revision == 2
    assert store.history(aid)[-1].final == final


def test_bad_update_notes_changes_nothing(store):
    rid = store.add(make_item("n", 3))
    before = store.get(rid)
    with pytest.raises(StoreError, match="no correction with id 99"):
        store.update_notes(99, "x")
    with pytest.raises(StoreError, match="record id"):
        store.update_notes(0, "x")
    with pytest.raises(StoreError, match="notes: expected text, got dict"):
        store.update_notes(rid, {"live": 1})
    with pytest.raises(StoreError, match=r"notes: .* characters"):
        store.update_notes(rid, "x" * 100_001)
    with pytest.raises(StoreError, match="who: expected text"):
        store.update_notes(rid, "x", who=None)
    assert store.get(rid) == before and len(store.history(rid)) == 1


def test_ids_by_source_finds_exact_sources(store):
    a = store.add(make_item("run-1", 1))  # source live_run / "run-1:1"
    store.add(make_item("run-1", 11))
    b = store.add(make_item("run-1", 1))
    assert store.ids_by_source("live_run", "run-1:1") == [a, b]
    assert store.ids_by_source("live_run", "run-1:") == [] and store.ids_by_source("upload", "run-1:1") == []
    with pytest.raises(StoreError, match="source ref"):
        store.ids_by_source("live_run", 1)
