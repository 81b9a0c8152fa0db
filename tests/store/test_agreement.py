"""Reviewer agreement on a real SQLite store: which records form a clip, and how pairs of reviewers are scored."""

from __future__ import annotations

import numpy as np

from vifailback_demo.services.agreement import score
from vifailback_demo.store import CorrectionsStore, FinalVersion, NewCorrection


def _frames(seed: int) -> list[np.ndarray]:
    return [np.random.default_rng(seed * 10 + k).integers(0, 256, (48, 64, 3), dtype=np.uint8) for k in range(5)]


def _add(store: CorrectionsStore, who: str, ref: str, decision: str = "accepted", **final) -> int:
    final.setdefault("success", False)
    if not final["success"]:
        final.setdefault("keyframe", 3)
    return store.add(
        NewCorrection(
            task=f"task of {ref}",
            frames=_frames(len(ref)),
            mode=final.pop("mode", "avoidance"),
            decision=decision,
            final=FinalVersion(**final) if decision == "accepted" else None,
            who=who,
            source_kind="example",
            source_ref=ref,
        )
    )


def test_groups_are_clips_with_two_named_reviewers_each_counted_once(tmp_path) -> None:
    store = CorrectionsStore(tmp_path)
    try:
        _add(store, "alice", "one", keyframe=1)  # superseded by alice's newer record on the same clip
        newest_alice = _add(store, "alice", "one", keyframe=3, failure_type="gripper state")
        bob = _add(store, "bob", "one", keyframe=4, failure_type="gripper 6d-pose")
        _add(store, "alice", "solo")
        _add(store, "alice", "solo")  # one reviewer twice is not agreement
        _add(store, "carol", "anon")
        _add(store, "", "anon")  # no reviewer name (app without logins)
        _add(store, "   ", "anon")
        _add(store, "alice", "modes", mode="avoidance")
        _add(store, "bob", "modes", mode="correction")  # another mode: another clip
        second = [_add(store, "bob", "two"), _add(store, "alice", "two", decision="rejected")]
        groups = store.reviewer_groups()
        assert [(g.source.ref, g.mode) for g in groups] == [("two", "avoidance"), ("one", "avoidance")]  # newest first
        one = groups[1]
        assert [(d.who, d.record_id) for d in one.decisions] == [("alice", newest_alice), ("bob", bob)]
        assert one.decisions[0].final.keyframe == 3 and one.task == "task of one"
        assert sorted(d.record_id for d in groups[0].decisions) == second
        assert groups[0].decisions[0].final is None  # alice rejected: no final version
        assert [g.source.ref for g in store.reviewer_groups(limit=1)] == ["two"]
    finally:
        store.close()


def test_pairs_are_scored_field_by_field(tmp_path) -> None:
    store = CorrectionsStore(tmp_path)
    try:
        # "one": same outcome, failure types differ, keyframes 3 and 4 agree within +-1.
        _add(store, "alice", "one", keyframe=3, failure_type="gripper state")
        _add(store, "bob", "one", keyframe=4, failure_type="gripper 6d-pose")
        # "two": bob accepted, alice rejected; only the decision can be compared.
        _add(store, "bob", "two", keyframe=2, failure_type="task planning")
        _add(store, "alice", "two", decision="rejected")
        # "three": three reviewers, three pairs; carol says success, keyframes 1 and 5 are far apart.
        _add(store, "alice", "three", keyframe=1, failure_type="task planning")
        _add(store, "bob", "three", keyframe=5, failure_type="task planning")
        _add(store, "carol", "three", success=True)
        report = score(store.reviewer_groups())
    finally:
        store.close()
    assert report.clips == 3 and len(report.pairs) == 5
    by_pair = {(p.clip.source.ref, p.a.who, p.b.who): p for p in report.pairs}
    assert by_pair["one", "alice", "bob"].differing == ["failure type"]
    assert by_pair["two", "alice", "bob"].differing == ["decision"]
    assert set(by_pair["two", "alice", "bob"].agrees) == {"decision"}  # nothing else to compare with a rejection
    assert by_pair["three", "alice", "bob"].differing == ["keyframe"]
    assert by_pair["three", "alice", "carol"].differing == ["outcome"]
    assert report.rate("decision") == (4, 5)
    assert report.rate("outcome") == (2, 4)  # one/alice-bob, three/alice-bob agree; carol's two pairs do not
    assert report.rate("failure type") == (1, 2)
    assert report.rate("keyframe") == (1, 2)
    row = by_pair["one", "alice", "bob"].row()
    assert row[0] == "example:one" and row[3].startswith("alice #") and " / bob #" in row[3]
    assert row[6] == "gripper state / gripper 6d-pose" and row[7] == "3 / 4" and row[-1] == "failure type"
    text = report.markdown()
    assert "**3 clips decided by two or more reviewers** (5 reviewer pairs)" in text
    assert "decision: 4/5 (80%)" in text and "keyframe (within ±1): 1/2 (50%)" in text


def test_no_shared_clip_says_so(tmp_path) -> None:
    store = CorrectionsStore(tmp_path)
    try:
        _add(store, "alice", "one")
        report = score(store.reviewer_groups())
    finally:
        store.close()
    assert report.clips == 0 and report.pairs == [] and report.rows() == []
    assert report.markdown().startswith("No clip has been decided by two named reviewers yet")
