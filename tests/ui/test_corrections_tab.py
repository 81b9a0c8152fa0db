"""The Corrections tab: Enter filters, keyframe thumbnails, opening a record by row or thumbnail, what a reopen
brings back (task, source clip, pick), counts that leave rejected/skipped records out, and reviewer agreement.

Records are put in the store directly (solid-colour frames, so a thumbnail shows which frame it was made from);
the app is launched and driven with gradio_client where an event has an API name, and the select handlers
(a click on a table row or a thumbnail: no API) are called with a SelectData-like object.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from tests.ui.helpers import call, start_app
from vifailback_demo.imageio import read_image_rgb
from vifailback_demo.services import Services
from vifailback_demo.store import FinalVersion, NewCorrection
from vifailback_demo.ui.corrections_handlers import CorrectionsHandlers
from vifailback_demo.ui.state import PickedSource

#: Frame k of every record is one solid colour: a thumbnail's colour names the frame it shows.
COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 220))
ANY = ("any", "any", "any")


def _add(
    services: Services,
    task: str,
    *,
    decision: str = "accepted",
    keyframe: int | None = 2,
    success: bool = False,
    failure_type: str | None = "gripper state",
    who: str = "",
    kind: str = "upload",
    ref: str = "clip.mp4",
    model: dict | None = None,
) -> int:
    final = None
    if decision == "accepted":
        final = FinalVersion(success=success, keyframe=keyframe, failure_type=None if success else failure_type)
    frames = [np.full((240, 320, 3), colour, np.uint8) for colour in COLOURS]
    item = NewCorrection(task=task, frames=frames, decision=decision, final=final, who=who, source_kind=kind,
                         source_ref=ref, model_diagnosis=model)  # fmt: skip
    return services.corrections.store.add(item)


def _frame_of(path: str) -> int:
    """Which of the 1-based frames a thumbnail file shows (nearest colour; JPEG storage blurs it a little)."""
    mean = read_image_rgb(path).reshape(-1, 3).mean(axis=0)
    return 1 + int(np.argmin([np.abs(mean - c).sum() for c in COLOURS]))


@pytest.fixture
def app(services: Services) -> Iterator[tuple[Services, gr.Blocks, object]]:
    demo, client = start_app(services)
    yield services, demo, client
    demo.close()


def test_enter_in_the_search_box_filters_and_the_thumbnails_follow_the_table(app) -> None:
    services, _, client = app
    first = _add(services, "Pick the red cup")  # the human's keyframe: 2
    _add(services, "Place the bowl", decision="skipped", model={"keyframe": 3})  # no final: the model's keyframe
    third = _add(services, "pick the blue cup", decision="rejected")  # neither: frame 1
    result, _ = call(client, *ANY, "PICK", api_name="/filter_corrections")  # what Enter in "Task contains" runs
    assert isinstance(result, tuple), result
    table, stats, gallery = result[:3]
    assert [row[0] for row in table["data"]] == [third, first]
    assert stats.startswith("Showing 2 of 2 matching records")
    assert [g["caption"] for g in gallery] == [f"#{third} rejected", f"#{first} accepted"]
    assert [_frame_of(g["image"]) for g in gallery] == [1, 2]

    reads = services.corrections.thumbs.reads
    everything, _ = call(client, *ANY, "", api_name="/list_corrections")
    table, _, gallery = everything[:3]
    assert [g["caption"].split()[0] for g in gallery] == [f"#{row[0]}" for row in table["data"]]
    assert [_frame_of(g["image"]) for g in gallery] == [1, 3, 2]
    assert all(max(read_image_rgb(g["image"]).shape[:2]) <= 160 for g in gallery)  # 320x240 stored
    assert services.corrections.thumbs.reads == reads + 1, "a refresh re-read keyframes it had already made small"

    reviewed, _ = call(client, first, *ANY, "PICK", api_name="/mark_reviewed")  # refreshes the table too
    assert isinstance(reviewed, tuple) and reviewed[2] == f"Marked #{first} reviewed.", reviewed  # still third
    assert [g["caption"] for g in reviewed[3]] == [f"#{third} rejected", f"#{first} accepted"]


def test_a_click_on_a_row_or_a_thumbnail_opens_that_record(app) -> None:
    services, demo, _ = app
    ids = [_add(services, f"task {i}", keyframe=i + 1) for i in range(3)]
    cor = CorrectionsHandlers(services)
    row = [ids[1], "2026-01-01 00:00:00", "accepted", "unreviewed", "gripper state", "task 1", "upload:clip.mp4", 1]
    opened = cor.open_row(SimpleNamespace(index=[0, 5], value="task 1", row_value=row))  # any cell of the row
    assert opened["record_id"] == ids[1] and opened["run_state"].record_id == ids[1] and opened["keyframe"] == 2
    listed = cor.refresh(*ANY, "")
    clicked = cor.open_thumb(listed["thumb_ids"], SimpleNamespace(index=2, value=None))
    assert clicked["record_id"] == ids[0] and clicked["run_state"].task == "task 0"  # newest first: index 2 is #1
    with pytest.raises(gr.Error, match="no longer listed"):
        cor.open_thumb(listed["thumb_ids"], SimpleNamespace(index=3, value=None))

    # ...and the page's clicks are wired to those handlers, showing the id in the Record id box.
    c = demo.components_by_name
    wired = {
        (t[0], t[1]): (dep["inputs"], dep["outputs"])
        for dep in demo.config["dependencies"]
        for t in dep["targets"]
        if t[1] == "select"
    }
    for name, inputs in (("records", []), ("record_thumbs", [c["thumb_ids"]._id])):
        assert wired[c[name]._id, "select"][0] == inputs, name
        assert {c["record_id"]._id, c["run_state"]._id, c["task"]._id} <= set(wired[c[name]._id, "select"][1])


def test_a_reopen_brings_back_the_task_the_source_clip_and_the_pick(app) -> None:
    services, _, client = app
    example = services.examples.list()[0]
    rid = _add(services, example.task, kind="example", ref=example.name)
    reopened, _ = call(client, rid, api_name="/reopen")
    assert isinstance(reopened, tuple), reopened
    assert example.task in reopened
    assert any(isinstance(v, str) and Path(v).name == example.clip.name for v in reopened), reopened
    assert any(isinstance(v, str) and f"source: example {example.name}" in v for v in reopened)

    cor = CorrectionsHandlers(services)
    out = cor.reopen(rid)
    assert (out["task"], out["video"]) == (example.task, str(example.clip))
    assert out["picked"] == PickedSource("example", example.name)
    for kind, ref, summary in (("upload", "clip.mp4", "source: upload clip.mp4"),
                               ("live_run", "robot:7", "source: live run robot:7"),
                               ("example", "gone_since", "source: example gone_since")):  # fmt: skip
        out = cor.reopen(_add(services, "Stack the cubes.", kind=kind, ref=ref))
        assert out["task"] == "Stack the cubes." and summary in out["summary"], kind
        assert out["video"] is None and out["picked"] == PickedSource(), kind  # frames only: no clip to show


def test_counts_leave_rejected_and_skipped_records_out_of_the_outcomes(app) -> None:
    services, _, client = app
    _add(services, "a", failure_type="gripper state")
    _add(services, "b", success=True)
    _add(services, "c", decision="rejected")
    _add(services, "d", decision="skipped")
    store = services.corrections.store
    edited = store.get(_add(services, "e", failure_type="task planning"))
    store.update_final(edited.id, edited.final, decision="rejected")  # keeps its failure type, but was rejected
    result, _ = call(client, *ANY, "", api_name="/list_corrections")
    stats = result[1]
    assert "no failure" not in stats and "none" not in stats.split("By decision")[0]
    assert "success: 1 | gripper state: 1 | gripper 6d-pose: 0 | task planning: 0" in stats
    assert "By decision - accepted: 2 | rejected: 2 | skipped: 1" in stats
    counts = store.stats()
    assert counts["accepted_by_outcome"] == {"success": 1, "gripper state": 1}
    assert counts["by_decision"] == {"accepted": 2, "rejected": 2, "skipped": 1}  # the old keys still answer


def test_agreement_of_two_reviewers_on_the_same_example(app) -> None:
    services, _, client = app
    example = services.examples.list()[0]
    same = {"kind": "example", "ref": example.name}
    alice = _add(services, example.task, who="alice", keyframe=2, **same)
    bob = _add(services, example.task, who="bob", keyframe=3, failure_type="task planning", **same)
    _add(services, example.task, who="carol", kind="example", ref="another")  # alone on her clip
    result, _ = call(client, api_name="/agreement")
    assert isinstance(result, tuple), result
    summary, table = result
    assert "**1 clip decided by two or more reviewers** (1 reviewer pair)" in summary
    assert "decision: 1/1 (100%)" in summary and "failure type: 0/1 (0%)" in summary
    assert "keyframe (within ±1): 1/1 (100%)" in summary
    [row] = table["data"]
    assert row[:4] == [f"example:{example.name}", example.task, "avoidance", f"alice #{alice} / bob #{bob}"]
    assert row[-3:] == ["gripper state / task planning", "2 / 3", "failure type"]
    listed, _ = call(client, *ANY, "", api_name="/list_corrections")
    assert listed[-2:] == result  # the table's refresh brings the agreement up to date too
