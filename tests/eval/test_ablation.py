"""Frame ablation: each episode's frames swapped for another episode's of equal length, references untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eval.ablation import shuffle_frames
from eval.bench import BenchItem, load_bench
from eval.cli import main
from eval.jsonl import read_jsonl
from eval.runner import SAMPLES_FILE
from tests.eval.benchdata import Bench


def item(i: int, episode: str, n: int) -> BenchItem:
    images = tuple(f"{episode}/{k}.jpg" for k in range(n))
    return BenchItem(id=f"{i}", index=i, tag="cot_avoidance_code_qa", split="hard", prompt=f"q{i}", images=images,
                     reference=f"r{i}")  # fmt: skip


def test_every_episode_takes_another_of_equal_length():
    items = [item(0, "a", 3), item(1, "a", 3), item(2, "b", 3), item(3, "c", 3), item(4, "d", 5), item(5, "e", 5),
             item(6, "lonely", 7)]  # fmt: skip
    out, kept = shuffle_frames(items, seed=1)
    assert kept == 1 and out[6].images == items[6].images  # no other episode has 7 frames
    for before, after in zip(items[:6], out[:6]):
        assert after.images != before.images and len(after.images) == len(before.images)
        assert (after.prompt, after.reference, after.id) == (before.prompt, before.reference, before.id)
    assert out[0].images == out[1].images  # the questions of one episode all see the same other episode
    assert sorted(it.images for it in out[2:4]) != sorted(it.images for it in items[2:4])
    assert {out[4].images, out[5].images} == {items[4].images, items[5].images}  # two episodes trade places
    assert shuffle_frames(items, seed=1) == (out, kept)  # deterministic


def test_cli_runs_the_ablation_and_never_mixes_it_with_a_normal_run(bench: Bench, tmp_path: Path, capsys):
    out = tmp_path / "shuffled"
    args = ["run", "--bench", str(bench.path), "--dataset-root", str(bench.root), "--out", str(out),
            "--backend", "reference"]  # fmt: skip
    assert main([*args, "--frames", "shuffled"]) == 0
    assert "frames shuffled between episodes of equal length (0 items kept their own)" in capsys.readouterr().err
    given = {it.id: it.images for it in load_bench(bench.path, bench.root)}
    samples = read_jsonl(out / SAMPLES_FILE)
    assert len(samples) == len(given) and all(tuple(s["images"]) != given[s["id"]] for s in samples)
    assert json.loads((out / "run.json").read_text())["frames"] == "shuffled"
    assert main([*args, "--quiet"]) == 2  # the same directory with the frames as given
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frames shuffled" in err and "another --out" in err


def test_cli_asks_the_questions_over_the_frames_the_app_would_sample(tmp_path: Path, capsys):
    from vifailback_demo.core.answer import format_cot_answer, parse_answer
    from vifailback_demo.core.dataset import VQARecord, write_vqa_records
    from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_FAILURE_DETECTION, TAG_KEYFRAME, cot_prompt
    from vifailback_demo.imageio import write_image_rgb

    root = tmp_path / "dataset"
    images = [f"annotated_data/t/frames/episode_0_cam_high/{n}" for n in ("0.jpg", "10_avoid_keyframe.jpg",
                                                                        "25.jpg", "50.jpg")]  # fmt: skip
    for k, rel in enumerate(images):
        write_image_rgb(root / rel, np.full((24, 32, 3), 40 * k, np.uint8))
    task = "Use the right arm to place the red block into the bowl."
    answer = format_cot_answer(success=False, keyframe=2, failure_type="gripper state", low_level="Close the gripper.")
    records = [
        VQARecord.lite(TAG_FAILURE_DETECTION, task, images, ["Successful", "Failed"], "Failed"),
        VQARecord.lite(TAG_KEYFRAME, task, images, ["1", "2", "3"], "2"),
        VQARecord.build(cot_prompt(task), answer, images, TAG_COT_AVOIDANCE),
    ]
    bench = write_vqa_records(root / "VQA" / "bench.json", records)
    out = tmp_path / "sampled"
    assert main(["run", "--bench", str(bench), "--out", str(out), "--backend", "reference", "--frames", "sampled"]) == 0
    assert "(1 keyframe-localisation items left out)" in capsys.readouterr().err
    samples = {s["tag"]: s for s in read_jsonl(out / SAMPLES_FILE)}
    assert sorted(samples) == [TAG_COT_AVOIDANCE, TAG_FAILURE_DETECTION]
    assert all(s["images"] == [images[0], *images[2:]] for s in samples.values())
    assert parse_answer(samples[TAG_COT_AVOIDANCE]["reference"]).keyframe == 1  # frame 10 -> frame 0, image 1
    assert json.loads((out / "run.json").read_text())["frames"] == "sampled"
    assert json.loads((out / "report.json").read_text())["average"] == 100.0  # references still answer themselves
