"""``python -m experiments.frame_reading eval-probes``: frame-state probes scored fact by fact, per image, overall and by kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.frame_reading.cli import main
from experiments.frame_reading.eval_probes import score_probe
from experiments.frame_reading.sim_probes import TAG_FRAME_STATES, probe_prompt
from experiments.frame_reading.tests.conftest import ROOT
from vifailback_demo.core.dataset import VQARecord, write_vqa_records
from vifailback_demo.core.prompts import TAG_FAILURE_DETECTION
from vifailback_demo.imageio import write_image_rgb

TINY = ROOT / "assets" / "models" / "vifailback-tiny"
REFERENCE = "\n".join(
    [
        "Image 1: left gripper open; right gripper open; red block on the table.",
        "Image 2: no change.",
        "Image 3: left gripper holds the red block; red block in the left gripper.",
        "Image 4: a human hand is in view.",
    ]
)


def test_score_counts_reference_facts_stated_for_the_same_image():
    perfect = score_probe(REFERENCE, REFERENCE)
    assert perfect["score"] == 1.0 and perfect["facts"] == 7
    assert perfect["total"] == {"gripper": 3, "object": 2, "hand": 1, "no change": 1}
    # "no change" everywhere: only image 2 is right.
    lazy = score_probe("\n".join(f"Image {k}: no change." for k in range(1, 5)), REFERENCE)
    assert lazy["right"] == {"gripper": 0, "object": 0, "hand": 0, "no change": 1}
    assert lazy["score"] == pytest.approx(1 / 7)
    # A fact stated for another image does not count; facts in another order do; a missing reply scores 0.
    shifted = REFERENCE.replace("Image 3:", "Image 9:")
    assert score_probe(shifted, REFERENCE)["right"]["gripper"] == 2
    swapped = REFERENCE.replace(
        "left gripper holds the red block; red block in the left gripper",
        "red block in the left gripper; left gripper holds the red block",
    )
    assert score_probe(swapped, REFERENCE)["score"] == 1.0
    assert score_probe(None, REFERENCE)["score"] == 0.0


def _probe_file(root: Path, tasks: list[str], tag: str = TAG_FRAME_STATES) -> Path:
    records = []
    for e, task in enumerate(tasks):
        images = []
        for i in range(4):
            rel = f"annotated_data/t/frames/episode_{e}_cam_high/{i * 25}.jpg"
            write_image_rgb(root / rel, np.full((48, 64, 3), 40 * i + 10 * e, dtype=np.uint8))
            images.append(rel)
        records.append(VQARecord.build(probe_prompt(task), REFERENCE, images, tag))
    path = root / "VQA" / "probes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_vqa_records(path, records)
    return path


def test_reference_backend_scores_100_and_writes_samples_and_summary(tmp_path, capsys):
    path = _probe_file(tmp_path / "data", ["Use the left arm to stack the red block.", "Put the cup in the bowl."])
    out = tmp_path / "run"
    assert main(["eval-probes", "--probes", str(path), "--backend", "reference", "--out", str(out)]) == 0
    summary = json.loads((out / "probes.json").read_text())
    assert summary == json.loads(capsys.readouterr().out)
    assert summary["samples"] == 2 and summary["facts"] == 14
    assert summary["fact_accuracy"] == 100.0 and summary["exact_answers"] == 100.0
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["offline"]["metric"] == "probe_facts"


def test_tiny_model_answers_probes_over_given_and_shuffled_frames(tmp_path, capsys):
    path = _probe_file(tmp_path / "data", ["Use the left arm to stack the red block.", "Put the cup in the bowl."])
    for frames in ("given", "shuffled"):
        out = tmp_path / frames
        argv = ["eval-probes", "--probes", str(path), "--model", str(TINY), "--device", "cpu", "--frames", frames]
        assert main([*argv, "--max-new-tokens", "48", "--out", str(out)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["samples"] == 2 and summary["facts"] == 14 and summary["frames"] == frames
        assert 0.0 <= summary["fact_accuracy"] <= 100.0
        samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        assert all(s["prediction"].strip() for s in samples)
    given = [json.loads(x)["images"] for x in (tmp_path / "given" / "samples.jsonl").read_text().splitlines()]
    shuffled = [json.loads(x)["images"] for x in (tmp_path / "shuffled" / "samples.jsonl").read_text().splitlines()]
    assert sorted(map(tuple, given)) == sorted(map(tuple, shuffled)) and given != shuffled


def test_a_file_of_other_questions_is_refused_in_one_line(tmp_path, capsys):
    path = _probe_file(tmp_path / "data", ["Put the cup in the bowl."], tag=TAG_FAILURE_DETECTION)
    assert main(["eval-probes", "--probes", str(path), "--backend", "reference", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected a probe tag" in err
    assert not (tmp_path / "r").exists()
