"""Live interventions as correction records in a real SQLite store, exported as VQA training pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.core.prompts import TAG_COT_CORRECTION, TAG_FAILURE_DETECTION, TAG_FAILURE_TYPE
from vifailback_demo.core.symbol_codec import symbols_to_code
from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.errors import StoreError
from vifailback_demo.live.base import Correction, Proposal
from vifailback_demo.live.oracle import SimOracleBackend
from vifailback_demo.live.records import live_notes, record_intervention, update_outcome
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
    if not hasattr(store, "update_notes"):
        with pytest.raises(StoreError, match="notes"):
            update_outcome(store, rid, True)
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
