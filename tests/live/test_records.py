"""Live interventions as correction records in a real SQLite store, exported as VQA training pairs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.core.prompts import TAG_COT_CORRECTION, TAG_FAILURE_DETECTION, TAG_FAILURE_TYPE
from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.errors import StoreError
from vifailback_demo.live.base import Correction, Proposal
from vifailback_demo.live.config import Intervention
from vifailback_demo.live.oracle import SimOracleBackend
from vifailback_demo.live.records import live_notes, record_intervention, record_once, record_run, update_outcome
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.robot.sim_robot import SimRobot
from vifailback_demo.store import CorrectionsStore
from vifailback_demo.store.export import export_sharegpt


@pytest.fixture(scope="module")
def proposal() -> Proposal:
    """A real proposal: the oracle's "Failed" diagnosis of a failing simulated episode, 6 frames of 64x48."""
    policy = SimPolicy(failure_rate=1.0, variants=["offset_x"])
    with SimRobot(task="stack_blocks", seed=4, width=64, height=48) as robot:
        info = policy.episode_info(4, "stack_blocks")
        while robot.frame < info["correct_frame"] + 5:
            reply = policy.infer(policy_observation(robot, robot.get_observation(), robot.instruction))
            for i in range(25):
                robot.send_chunk_step(reply, i)
        ring = robot.cameras["head"].ring.recent(100)
        frames = [ring[i].image for i in np.linspace(0, len(ring) - 1, 6).round().astype(int)]
        diagnosis = Diagnoser(SimOracleBackend(robot, policy)).diagnose(frames, robot.instruction, "correction")
    assert diagnosis.status == "failed"
    return Proposal(check=3, robot_frame=robot.frame, frames=frames, diagnosis=diagnosis, latency_s=0.0123)


def correction_of(p: Proposal, **changes) -> Correction:
    d = p.diagnosis
    fields = dict(
        low_level=d.low_level, symbols=list(d.symbols), keyframe=d.keyframe, keyframe_image=p.frames[d.keyframe - 1],
        failure_type=d.failure_type, executor="vsf", reviewer="ana",
    )  # fmt: skip
    fields.update(changes)
    return Correction(**fields)


def test_accepted_intervention_is_a_live_record_that_exports_as_vqa(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    edited = "Move the right gripper to the left slightly, and close the right gripper."
    task = "Use the right arm to stack the red block on the blue block."
    rid = record_intervention(
        store, "live-1", proposal, correction_of(proposal, low_level=edited), "accept", "vsf", None, task, "ana"
    )
    rec = store.get(rid)
    assert rec.source.kind == "live_run" and rec.source.ref == "live-1:check3"
    assert rec.decision == "accepted" and rec.mode == "correction" and rec.who == "ana"
    assert len(rec.frames) == len(proposal.frames) == 6
    assert rec.model_output == proposal.diagnosis.raw_text and rec.model_diagnosis["status"] == "failed"
    final = rec.final
    assert final.success is False and final.keyframe == proposal.diagnosis.keyframe and final.low_level == edited
    assert final.failure_type == proposal.diagnosis.failure_type and final.image_size == (64, 48)
    assert [dict(s) for s in final.symbols] == symbols_to_code(proposal.diagnosis.symbols)
    notes = live_notes(rec)
    assert notes["run_id"] == "live-1" and notes["check"] == 3 and notes["executor"] == "vsf"
    assert notes["succeeded"] is None and notes["robot_frame"] == proposal.robot_frame and notes["latency_s"] == 0.0123

    after = update_outcome(store, rid, True, who="supervisor")
    assert live_notes(after)["succeeded"] is True and after.revision == 2 and after.final == final
    assert [r.action for r in store.history(rid)] == ["create", "edit"]

    result = export_sharegpt(store, tmp_path / "export")
    assert result.records == 1 and result.images == 6
    assert {TAG_FAILURE_DETECTION, TAG_COT_CORRECTION, TAG_FAILURE_TYPE} <= set(result.by_tag)
    pairs = load_vqa_records(tmp_path / "export" / "vifailback_corrections.json")
    cot = next(p for p in pairs if p.tag == TAG_COT_CORRECTION)
    parsed = parse_answer(cot.messages[-1]["content"])
    assert parsed.success is False and parsed.low_level == edited and parsed.keyframe == final.keyframe
    assert all((tmp_path / "export" / image).is_file() for image in cot.images)
    store.close()


def test_rejected_intervention_keeps_no_final_and_is_not_exported(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    rid = record_intervention(store, "live-2", proposal, None, "reject", None, False, "Stack the blocks.", "bo")
    rec = store.get(rid)
    assert rec.decision == "rejected" and rec.final is None and rec.source.ref == "live-2:check3"
    assert live_notes(rec) == {**live_notes(rec), "decision": "rejected", "executor": None, "succeeded": False}
    assert export_sharegpt(store, tmp_path / "export").records == 0
    after = update_outcome(store, rid, True, who="supervisor")
    assert live_notes(after)["succeeded"] is True and after.revision == 2
    assert after.final is None and after.decision == "rejected" and after.review_status == "unreviewed"
    history = store.history(rid)
    assert [h.action for h in history] == ["create", "notes"] and live_notes(rec)["succeeded"] is False
    assert json.loads(history[0].notes)["live"]["succeeded"] is False and history[1].who == "supervisor"
    store.close()


def test_bad_input_writes_nothing(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    with pytest.raises(StoreError, match="needs the accepted correction"):
        record_intervention(store, "live-3", proposal, None, "accepted", "vsf", None, "task", "")
    with pytest.raises(StoreError, match="decision"):
        record_intervention(store, "live-3", proposal, correction_of(proposal), "maybe", "vsf", None, "task", "")
    with pytest.raises(StoreError, match="keyframe"):
        record_intervention(store, "live-3", proposal, correction_of(proposal, keyframe=9), "auto", "vsf", None, "t")
    with pytest.raises(StoreError, match="run id"):
        record_intervention(store, "", proposal, correction_of(proposal), "auto", "vsf", None, "task")
    assert store.count() == 0
    other = store.get(record_intervention(store, "live-3", proposal, correction_of(proposal), "auto", "pmc", True, "t"))
    assert other.who == "ana" and json.loads(other.notes)["live"]["executor"] == "pmc"
    store.close()


def _at(p: Proposal, check: int) -> Proposal:
    return dataclasses.replace(p, check=check)


def _run_interventions(p: Proposal) -> list[Intervention]:
    """One of each decision a supervisor writes, on checks 1-5."""
    auto = correction_of(_at(p, 1), executor="pmc", reviewer="auto")
    accepted = correction_of(_at(p, 2), low_level="Move the right gripper up slightly.", reviewer="ana")
    return [
        Intervention(_at(p, 1), decision="auto", correction=auto, reviewer="auto", interrupted=True),
        Intervention(_at(p, 2), decision="accept", correction=accepted, reviewer="ana"),
        Intervention(_at(p, 3), decision="reject", reviewer="bo"),
        Intervention(_at(p, 4), decision="auto_refused"),
        Intervention(_at(p, 5)),  # no decision: the run stopped while it awaited review
    ]


def test_record_run_stores_every_intervention_once(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    failure = {"type": "offset_x", "start_frame": 40}
    ivs = _run_interventions(proposal)
    ids = record_run(store, ivs, "live-9", "Stack the blocks.", True, reviewer_default="operator",
                     extra={"failure": failure})  # fmt: skip
    assert len(ids) == 5 and store.count() == 5
    recs = [store.get(i) for i in ids]
    assert [r.source.ref for r in recs] == [f"live-9:check{n}" for n in range(1, 6)]
    assert [r.decision for r in recs] == ["accepted", "accepted", "rejected", "skipped", "skipped"]
    assert [r.final is not None for r in recs] == [True, True, False, False, False]
    assert [r.who for r in recs] == ["auto", "ana", "bo", "operator", "operator"]
    notes = [live_notes(r) for r in recs]
    assert [n["executor"] for n in notes] == ["pmc", "vsf", None, None, None]
    assert [n["supervisor_decision"] for n in notes] == ["auto", "accept", "reject", "auto_refused", None]
    assert [n.get("interrupted") for n in notes] == [True, None, None, None, None]
    assert all(n["succeeded"] is True and n["failure"] == failure and n["run_id"] == "live-9" for n in notes)
    assert recs[1].final.low_level == "Move the right gripper up slightly."

    # Again (e.g. after a failed write, or a caller that already recorded some): the same ids, nothing new.
    assert record_run(store, ivs, "live-9", "Stack the blocks.", True) == ids
    assert store.count() == 5 and all(len(store.history(i)) == 1 for i in ids)

    result = export_sharegpt(store, tmp_path / "export")
    assert result.records == 2 and {TAG_FAILURE_DETECTION, TAG_COT_CORRECTION} <= set(result.by_tag)
    pairs = load_vqa_records(tmp_path / "export" / "vifailback_corrections.json")
    answers = [parse_answer(q.messages[-1]["content"]) for q in pairs if q.tag == TAG_COT_CORRECTION]
    assert sorted(a.low_level for a in answers) == sorted(r.final.low_level for r in recs[:2])
    store.close()


def test_decisions_recorded_as_they_happen_are_not_duplicated(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    ivs = _run_interventions(proposal)
    first, created = record_once(store, "live-7", ivs[1], "Stack the blocks.")  # outcome not known yet
    assert created and live_notes(store.get(first))["succeeded"] is None
    rejected, _ = record_once(store, "live-7", ivs[2], "Stack the blocks.", False)
    assert record_once(store, "live-7", ivs[1], "Stack the blocks.") == (first, False)

    # The run's end: the outcome reaches the records that did not know it; the others keep theirs.
    supervisor = SimpleNamespace(interventions=ivs, config=SimpleNamespace(mode="avoidance"))
    ids = record_run(store, supervisor, "live-7", "Stack the blocks.", True)
    assert ids[1:3] == [first, rejected] and store.count() == 5
    assert live_notes(store.get(first))["succeeded"] is True and store.get(first).revision == 2
    assert live_notes(store.get(rejected))["succeeded"] is False and store.get(rejected).revision == 1
    assert store.get(first).mode == "correction" and store.get(ids[0]).mode == "avoidance"  # the supervisor's mode
    assert record_run(store, [], "live-7", "Stack the blocks.", None) == []
    store.close()


def test_bad_run_input_stores_nothing(proposal: Proposal, tmp_path: Path) -> None:
    store = CorrectionsStore(tmp_path / "data")
    ivs = _run_interventions(proposal)
    bad_keyframe = Intervention(_at(proposal, 6), "accept", correction_of(_at(proposal, 6), keyframe=9))
    with pytest.raises(StoreError, match="keyframe 9"):
        record_run(store, [*ivs, bad_keyframe], "live-5", "task", True)
    with pytest.raises(StoreError, match="decision"):
        record_run(store, [*ivs, Intervention(_at(proposal, 6), "maybe")], "live-5", "task", True)
    with pytest.raises(StoreError, match="accepted without a correction"):
        record_run(store, [*ivs, Intervention(_at(proposal, 6), "accept")], "live-5", "task", True)
    with pytest.raises(StoreError, match="succeeded"):
        record_run(store, ivs, "live-5", "task", "yes")
    with pytest.raises(StoreError, match="JSON-safe"):
        record_run(store, ivs, "live-5", "task", True, extra={"frame": np.zeros(2)})
    with pytest.raises(StoreError, match="Intervention items"):
        record_run(store, [proposal], "live-5", "task", True)
    with pytest.raises(StoreError, match="run id"):
        record_run(store, ivs, "", "task", True)
    assert store.count() == 0
    store.close()
