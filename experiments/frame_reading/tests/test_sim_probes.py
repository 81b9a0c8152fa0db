"""Frame-state probes: exact state facts per image, written for a generated dataset, read by training."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.frame_reading.sim_probes import (
    PROBE_FILES,
    TAG_FRAME_STATES,
    frame_facts,
    frame_states_answer,
    write_probes,
)
from experiments.frame_reading.tests.conftest import CLI, ROOT
from training.data import load_samples
from vifailback_demo.core.dataset import load_vqa_records
from vifailback_demo.errors import SimError
from vifailback_demo.sim.scene import ObjectSpec
from vifailback_demo.sim.world import HAND, LEFT, MAX_GAP, WorldState

BLOCK = ObjectSpec("red block", "block", (220, 40, 40), (0.04, 0.04, 0.04), graspable=True)
BOWL = ObjectSpec("bowl", "bowl", (200, 200, 200), (0.08, 0.06, 0.05), container=True)
SPECS = [BLOCK, BOWL]


def state(*, left=(0.2, 0.2, 0.2, 0.0, MAX_GAP), block=(0.4, 0.0, 0.0), holder=-1, support=-1, hand=False):
    return WorldState(
        arms=np.array([left, [0.2, -0.2, 0.2, 0.0, MAX_GAP]], dtype=float),
        objects=np.array([[*block, 0.0], [0.4, 0.2, 0.0, 0.0]], dtype=float),
        support=np.array([support, -1]),
        holder=np.array([holder, -1]),
        last_holder=np.array([-1, -1]),
        hand=np.array([1.0 if hand else 0.0, 0.5, 0.0, 0.3, 0.0, 0.0]),
    )


def test_facts_name_gripper_shape_and_place_object_place_and_hand():
    home = frame_facts(state(), SPECS)
    assert home == {
        "left": "left gripper open",
        "right": "right gripper open",
        "red block": "red block on the table",
        "hand": "no human hand in view",
    }
    # Fingers closed 3 cm beside the block, low: the 6d-pose failure's picture.
    beside = frame_facts(state(left=(0.44, 0.0, 0.018, 0.0, 0.0)), SPECS)
    assert beside["left"] == "left gripper closed beside the red block"
    # Half-closed right at the block: a weak grasp.
    weak = frame_facts(state(left=(0.4, 0.0, 0.018, 0.0, 0.04)), SPECS)
    assert weak["left"] == "left gripper half-closed at the red block"
    above = frame_facts(state(left=(0.4, 0.0, 0.09, 0.0, MAX_GAP)), SPECS)
    assert above["left"] == "left gripper open above the red block"
    held = frame_facts(state(holder=LEFT, block=(0.3, 0.1, 0.15)), SPECS)
    assert held["left"] == "left gripper holds the red block" and held["red block"] == "red block in the left gripper"
    assert frame_facts(state(support=1), SPECS)["red block"] == "red block in the bowl"
    taken = frame_facts(state(holder=HAND, hand=True), SPECS)
    assert taken["red block"] == "red block in the human hand" and taken["hand"] == "a human hand is in view"


def test_answer_gives_the_first_image_in_full_then_only_changes():
    frames = [state(), state(), state(holder=LEFT), state(holder=LEFT, hand=True)]
    assert frame_states_answer(frames, SPECS).splitlines() == [
        "Image 1: left gripper open; right gripper open; red block on the table.",
        "Image 2: no change.",
        "Image 3: left gripper holds the red block; red block in the left gripper.",
        "Image 4: a human hand is in view.",
    ]


@pytest.fixture
def dataset(small_dataset, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(small_dataset[0], root)
    return root


def test_write_probes_one_record_per_episode_on_the_frames_on_disk(dataset):
    result = write_probes(dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert result["records"]["train"] + result["records"]["benchmark"] == manifest["episodes"]
    annotations = json.loads((dataset / "annotations.json").read_text())
    probes = [r for split in ("train", "benchmark") for r in load_vqa_records(dataset / PROBE_FILES[split])]
    assert sorted(tuple(r.images) for r in probes) == sorted(tuple(a["images"]) for a in annotations)
    for record in probes:
        assert record.tag == TAG_FRAME_STATES and not record.problems()
        lines = record.response.splitlines()
        assert len(lines) == len(record.images)
        assert lines[0].startswith("Image 1: left gripper ") and "right gripper" in lines[0]
        assert all((dataset / rel).is_file() for rel in record.images)
    # A failed grasp or a hand shows in some episode's facts: the answers are not all "no change".
    assert any("holds the" in r.response or "human hand" in r.response for r in probes)
    # Training reads the probe file with its images; a source weight repeats it.
    samples, stats = load_samples([f"{dataset / PROBE_FILES['train']}:2"], "auto")
    assert stats.per_tag[TAG_FRAME_STATES] == 2 * result["records"]["train"] == len(samples)


def test_a_dataset_that_does_not_re_simulate_is_refused_and_nothing_is_written(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["settings"]["seed"] += 1
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SimError, match="does not re-simulate"):
        write_probes(dataset)
    assert not (dataset / PROBE_FILES["train"]).exists()
    assert not list((dataset / "VQA").glob(".*.tmp"))
    del manifest["settings"]["height"]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SimError, match="settings lack or garble 'height'"):
        write_probes(dataset)
    assert not (dataset / PROBE_FILES["train"]).exists()


def test_cli_probes_one_line_error_for_a_folder_without_a_manifest(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", CLI, "probes", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "manifest.json" in proc.stderr
