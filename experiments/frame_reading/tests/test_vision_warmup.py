"""Vision warm-up: frame labels from the simulator, a tower trained on them, the language model left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.frame_reading.sim_probes import frame_facts
from experiments.frame_reading.tests.conftest import CLI, ROOT
from experiments.frame_reading.vision_warmup import (
    HEADS,
    PLACES,
    RELATIONS,
    SHAPES,
    WarmupConfig,
    frame_labels,
    run_warmup,
)
from vifailback_demo.sim.episode import make_episode
from vifailback_demo.sim.generate import GenerateConfig, generate
from vifailback_demo.sim.world import ARM_NAMES

HEAD_NAMES = list(HEADS)


def test_labels_say_what_the_probe_sentences_say():
    """Every frame of a few simulated episodes: the classes match the probes' facts, word for word."""
    seen_shapes, seen_near = set(), set()
    for index in range(6):
        ep = make_episode(21, index)
        for st in ep.states:
            classes, target, mask = frame_labels(st, ep.task.specs)
            facts = frame_facts(st, ep.task.specs)
            label = dict(zip(HEAD_NAMES, classes.tolist(), strict=True))
            for arm, name in enumerate(ARM_NAMES):
                sentence = facts[name]
                shape, near = SHAPES[label[f"{name}_shape"]], RELATIONS[label[f"{name}_near"]]
                seen_shapes.add(shape)
                seen_near.add(near)
                assert (shape == "holds") == (" holds " in sentence), sentence
                if shape != "holds":
                    assert sentence.split(" ")[2] == shape, sentence
                    assert (near == "none") == all(f" {r} the " not in sentence for r in RELATIONS[1:]), sentence
                    if near != "none":
                        assert f" {near} the " in sentence, sentence
                assert target[4 * arm : 4 * arm + 4].tolist() == pytest.approx(st.arms[arm, [0, 1, 2, 4]].tolist())
            graspable = [s.name for s in ep.task.specs if s.graspable]
            for k in range(3):
                place = PLACES[label[f"object{k}_place"]]
                if k >= len(graspable):
                    assert place == "absent" and mask[8 + 3 * k :].sum() == 0
                    continue
                sentence = facts[graspable[k]]
                expected = (
                    "human hand"
                    if sentence.endswith("human hand")
                    else "gripper"
                    if sentence.endswith(" gripper")
                    else "table"
                    if sentence.endswith("on the table")
                    else "on or in an object"
                )
                assert place == expected, sentence
            assert label["hand"] == (facts["hand"] == "a human hand is in view")
    # The episodes exercise more than the resting state.
    assert {"open", "holds"} <= seen_shapes and len(seen_near) >= 2


@pytest.fixture(scope="module")
def sim_datasets(tmp_path_factory) -> tuple[Path, Path]:
    train, held_out = tmp_path_factory.mktemp("warm_train"), tmp_path_factory.mktemp("warm_eval")
    for out, episodes, seed in ((train, 10, 31), (held_out, 4, 32)):
        generate(
            GenerateConfig(episodes=episodes, seed=seed, out=str(out), width=320, height=240, workers=1, progress=False)
        )
    return train, held_out


def _params(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_warmup_trains_tower_and_merger_and_leaves_the_language_model(tiny_model_dir, sim_datasets, tmp_path):
    train, held_out = sim_datasets
    out = tmp_path / "warm"
    cfg = WarmupConfig(
        model=str(tiny_model_dir), data=[str(train)], eval_data=str(held_out), out=str(out), steps=40, batch_size=16
    )
    cfg.eval_every, cfg.learning_rate, cfg.tower_lr = 20, 3e-3, 1e-3
    report = run_warmup(cfg)
    history = report["history"]
    assert [h["step"] for h in history] == [0, 20, 40]
    assert history[-1]["train_loss"] < history[1]["train_loss"]  # it learns from the labels
    assert set(history[-1]["labels"]) == set(HEADS) and history[-1]["frames"] > 0
    assert not out.with_name("warm.partial").exists()
    saved = json.loads((out / "warmup.json").read_text())
    assert saved["config"]["steps"] == 40 and saved["history"] == history
    before, after = _params(tiny_model_dir), _params(out)
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".visual." in f".{k}" for k in changed)
    assert any("merger" in k for k in changed) and any(".blocks." in k for k in changed)
    # The written directory is a whole model: it loads with its processor, as training's next stage does.
    from transformers import AutoModelForImageTextToText, AutoProcessor

    AutoModelForImageTextToText.from_pretrained(out)
    AutoProcessor.from_pretrained(out)


def test_freeze_tower_is_a_probe_that_writes_only_its_report(tiny_model_dir, sim_datasets, tmp_path):
    train, held_out = sim_datasets
    out = tmp_path / "probe"
    cfg = WarmupConfig(
        model=str(tiny_model_dir), data=[str(train)], eval_data=str(held_out), out=str(out), steps=10, batch_size=8
    )
    cfg.freeze_tower, cfg.eval_every = True, 10
    report = run_warmup(cfg)
    assert sorted(p.name for p in out.iterdir()) == ["warmup.json"]
    assert report["history"][-1]["step"] == 10


def test_cli_errors_are_one_line(tiny_model_dir, sim_datasets, tmp_path):
    train, held_out = sim_datasets

    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", CLI, "vision-warmup", "--out", str(tmp_path / "o"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)

    bad_model = cli("--model", str(tmp_path), "--data", str(train), "--eval-data", str(held_out))
    assert bad_model.returncode == 2
    assert bad_model.stderr.strip().splitlines() == [
        f"python -m experiments.frame_reading vision-warmup: error: --model {tmp_path}: expected a local model directory with "
        "config.json"
    ]
    not_sim = cli("--model", str(tiny_model_dir), "--data", str(tmp_path), "--eval-data", str(held_out))
    assert not_sim.returncode == 2 and "no manifest.json" in not_sim.stderr
    assert len(not_sim.stderr.strip().splitlines()) == 1
    for flag, value, message in (
        ("--batch-size", "1", "--batch-size 1: expected at least 2"),
        ("--steps", "0", "--steps 0: expected at least 1"),
        ("--video-frames", "-3", "--video-frames -3: expected at least 0"),
    ):
        bad = cli("--model", str(tiny_model_dir), "--data", str(train), "--eval-data", str(held_out), flag, value)
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == [
            f"python -m experiments.frame_reading vision-warmup: error: {message}"
        ]
    assert not (tmp_path / "o").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "model.safetensors").write_bytes(b"someone's model")
    cmd = [sys.executable, "-m", CLI, "vision-warmup", "--out", str(kept), "--model", str(tiny_model_dir)]
    taken = subprocess.run(
        [*cmd, "--data", str(train), "--eval-data", str(held_out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert taken.returncode == 2
    assert taken.stderr.strip().splitlines() == [
        f"python -m experiments.frame_reading vision-warmup: error: --out {kept}: already holds files; expected a new or empty "
        "directory (nothing is overwritten)"
    ]
    assert [p.name for p in kept.iterdir()] == ["model.safetensors"]
    assert (kept / "model.safetensors").read_bytes() == b"someone's model"


def test_video_frames_line_up_with_the_states_they_are_labelled_with(sim_datasets):
    """Frame k of an episode's video shows simulator state k: it matches the JPEG of step k, not another step's."""
    from PIL import Image

    from experiments.frame_reading.sim_probes import simulated_episodes
    from experiments.frame_reading.vision_warmup import video_frames

    train, _ = sim_datasets
    item = next(iter(simulated_episodes(train)))
    steps = item.frames
    decoded = video_frames(train / item.video, steps)
    assert len(decoded) == len(steps)
    size = decoded[0].size
    jpegs = [np.asarray(Image.open(train / p).convert("RGB").resize(size), dtype=float) for p in item.images]
    clear = 0
    for k, image in enumerate(decoded):
        distance = [np.abs(np.asarray(image, dtype=float) - j).mean() for j in jpegs]
        assert distance[k] == min(distance), (k, distance)  # ties: the arm did not move between two steps
        clear += sorted(distance)[1] - distance[k] > 0.3
    assert clear >= len(steps) // 2
    with pytest.raises(ValueError, match="no such video"):
        video_frames(train / "missing.mp4", [0])
    with pytest.raises(ValueError, match="frames decoded"):
        video_frames(train / item.video, [len(item.episode.states) + 50])


def test_frame_set_from_videos_labels_each_sampled_step(tiny_model_dir, sim_datasets):
    from transformers import AutoProcessor

    from experiments.frame_reading.sim_probes import simulated_episodes
    from experiments.frame_reading.vision_warmup import FrameSet

    train, _ = sim_datasets
    frames = FrameSet([str(train)], AutoProcessor.from_pretrained(tiny_model_dir), episodes=2, per_video=5)
    assert len(frames) == 10 and frames.pixels.shape[0] == 10
    expected = []
    for n, item in enumerate(simulated_episodes(train)):
        if n == 2:
            break
        last = len(item.episode.states) - 1
        for step in sorted({round(x) for x in np.linspace(0, last, 5)}):
            expected.append(frame_labels(item.episode.states[step], item.episode.task.specs)[0])
    assert torch.equal(frames.classes, torch.from_numpy(np.stack(expected)))
