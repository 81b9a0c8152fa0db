"""The auxiliary outcome head, a hook on the training loop: labels from CoT answers, the last prompt token, learning
from frames, restored on resume, not exported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from experiments.frame_reading.failure_head import (
    NO_LABEL,
    OUTCOMES,
    FailureHead,
    HiddenState,
    OutcomeHead,
    episode_outcomes,
    label_samples,
    last_prompt_positions,
    train_with_head,
)
from training.config import TrainConfig
from training.data import Sample
from training.train import train
from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.dataset import VQARecord, write_vqa_records
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_COT_CORRECTION, TAG_FAILURE_DETECTION, cot_prompt
from vifailback_demo.errors import DatasetError
from vifailback_demo.imageio import write_image_rgb

TASK = "Use the right arm to place the orange block into the bowl."


def _cot(failure_type: str | None) -> str:
    return format_cot_answer(
        success=failure_type is None,
        keyframe=None if failure_type is None else 2,
        failure_type=failure_type,
        low_level=None if failure_type is None else "Move the right gripper to the left slightly.",
        symbols=[],
    )


def _sample(episode: str, tag: str, answer: str, root: str = "/data") -> Sample:
    images = [Path(root) / episode / "0.jpg"]
    return Sample(prompt="p", answer=answer, images=images, tag=tag, episode=episode)


def test_outcomes_are_read_from_each_episodes_cot_answers():
    samples = [
        _sample("ok", TAG_COT_AVOIDANCE, _cot(None)),
        _sample("ok", TAG_FAILURE_DETECTION, "A. Successful"),
        _sample("pose", TAG_COT_CORRECTION, _cot("gripper 6d-pose")),
        _sample("pose", TAG_COT_AVOIDANCE, _cot("gripper 6d-pose")),
        _sample("hand", TAG_COT_AVOIDANCE, _cot("human intervention")),
        _sample("mixed", TAG_COT_AVOIDANCE, _cot("task planning")),
        _sample("mixed", TAG_COT_CORRECTION, _cot("gripper state")),  # disagreeing answers: no label
        _sample("lite-only", TAG_FAILURE_DETECTION, "B. Failed"),  # no CoT answer: no label
        _sample("garbled", TAG_COT_AVOIDANCE, "no answer block at all"),
    ]
    assert episode_outcomes(samples) == {
        "/data/ok": 0,
        "/data/pose": OUTCOMES.index("gripper 6d-pose"),
        "/data/hand": OUTCOMES.index("human intervention"),
    }
    labels, counts = label_samples(samples)
    assert labels == [0, 0, 2, 2, 4, NO_LABEL, NO_LABEL, NO_LABEL, NO_LABEL]
    assert counts["success"] == 2 and counts["gripper 6d-pose"] == 2 and counts["unlabelled"] == 4
    # Two generated datasets name their episodes alike (same relative folder); they are different episodes.
    twins = [
        _sample("annotated_data/t/frames/episode_0_cam_high", TAG_COT_AVOIDANCE, _cot(None), root="/a"),
        _sample("annotated_data/t/frames/episode_0_cam_high", TAG_COT_AVOIDANCE, _cot("task planning"), root="/b"),
    ]
    assert label_samples(twins)[0] == [0, OUTCOMES.index("task planning")]


def test_head_reads_the_last_prompt_token_and_ignores_unlabelled_rows():
    labels = torch.tensor([[-100, -100, -100, 7, 8, -100], [-100, 5, 6, 7, -100, -100]])
    assert last_prompt_positions(labels).tolist() == [2, 0]
    head = FailureHead(4)
    hidden = torch.zeros(2, 6, 4)
    hidden[0, 2] = torch.tensor([1.0, 0, 0, 0])  # only the picked positions carry anything
    hidden[1, 0] = torch.tensor([0, 1.0, 0, 0])
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
        head.linear.weight[3, 0] = 5.0  # row 0's picked token -> outcome 3
        head.linear.weight[1, 1] = 5.0  # row 1's picked token -> outcome 1
    loss, right, known = head(hidden, labels, torch.tensor([3, 1]))
    assert (right, known) == (2, 2) and float(loss.detach()) < 0.1
    loss, right, known = head(hidden, labels, torch.tensor([3, NO_LABEL]))
    assert (right, known) == (1, 1)
    loss, right, known = head(hidden, labels, torch.tensor([NO_LABEL, NO_LABEL]))
    assert (right, known) == (0, 0) and float(loss.detach()) == 0.0 and loss.requires_grad


COLOURS = {None: (200, 40, 40), "gripper state": (40, 200, 40), "task planning": (40, 40, 200)}


def _colour_episodes(root, episodes: int, cot: bool = True) -> str:
    """Each episode: one noisy frame whose colour is its outcome, a CoT question and a detection question. The
    prompts are the same for every episode: only the frame tells the outcome apart."""
    rng = np.random.default_rng(3)
    records = []
    for ep in range(episodes):
        failure = list(COLOURS)[ep % 3]
        rel = f"annotated_data/t/frames/episode_{ep}_cam_high/0.jpg"
        frame = np.clip(np.array(COLOURS[failure]) + rng.integers(-25, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        write_image_rgb(root / rel, frame)
        if cot:
            records.append(VQARecord.build(cot_prompt(TASK), _cot(failure), [rel], TAG_COT_AVOIDANCE))
        records.append(VQARecord.build("Did it fail?", "Yes.", [rel], "failure_reason_qa"))
    path = root / "VQA" / "train.json"
    write_vqa_records(path, records)
    return str(path)


def _config(model_dir, data: str, out, **overrides) -> TrainConfig:
    cfg = TrainConfig(
        model=str(model_dir), train_files=[data], output_dir=str(out), method="full", freeze_vision=False,
        max_steps=50, batch_size=4, grad_accum=1, learning_rate=2e-3, warmup_ratio=0.0, eval_fraction=0.3,
        eval_every=0, save_every=0, log_every=10, dtype="fp32", gradient_checkpointing=True,
    )  # fmt: skip
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_outcome_head_learns_the_frames_outcome_and_is_not_exported(tiny_model_dir, tmp_path):
    """Read after the first of the two decoder layers (through a hook, under gradient checkpointing)."""
    data = _colour_episodes(tmp_path / "data", 48)
    run = train_with_head(_config(tiny_model_dir, data, tmp_path / "run"), weight=1.0, layer=0)
    metrics = _metrics(tmp_path / "run")
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["outcomes"]["success"] == 32 and stats["outcomes"]["unlabelled"] == 0
    assert stats["outcome_head"] == {"weight": 1.0, "layer": 0}
    heldout = [m["eval_head_accuracy"] for m in metrics if "eval_head_accuracy" in m]
    # Held-out episodes (never trained on): chance is 1/3, and only the frame's colour tells the outcome.
    assert heldout and heldout[-1] >= 0.9, metrics[-3:]
    logged = [m for m in metrics if "head_loss" in m]
    assert logged[0]["head_loss"] > 2 * logged[-1]["head_loss"] and "loss" in logged[-1]
    # The exported model is the plain architecture: same tensors as the base, no head; the hook is gone.
    kept = [h for m in run.model.modules() for h in m._forward_hooks.values()]
    assert not any(isinstance(getattr(h, "__self__", None), HiddenState) for h in kept)
    with safe_open(str(run.final / "model.safetensors"), "pt") as fh:
        exported = set(fh.keys())
    with safe_open(str(tiny_model_dir / "model.safetensors"), "pt") as fh:
        assert exported == set(fh.keys())


def test_a_run_with_the_head_resumes_from_its_checkpoint(tiny_model_dir, tmp_path):
    data = _colour_episodes(tmp_path / "data", 12)
    common = dict(max_steps=4, save_every=2, keep_checkpoints=3, eval_fraction=0.0, log_every=1)
    whole = train(_config(tiny_model_dir, data, tmp_path / "a", **common), hooks=[OutcomeHead()])
    (tmp_path / "b").mkdir()
    shutil.copytree(tmp_path / "a" / "checkpoint-2", tmp_path / "b" / "checkpoint-2")
    resumed = train(_config(tiny_model_dir, data, tmp_path / "b", resume="auto", **common), hooks=[OutcomeHead()])
    assert [m["step"] for m in _metrics(tmp_path / "b") if "head_loss" in m] == [3, 4]
    a = dict(whole.model.named_parameters())
    for name, p in resumed.model.named_parameters():
        assert torch.allclose(p, a[name], atol=1e-6), name  # the head's state was restored with the model's


def test_bad_head_settings_are_refused_before_anything_is_written(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="head weight must be > 0"):
        OutcomeHead(weight=-1)
    with pytest.raises(ValueError, match="head layer must be -1"):
        OutcomeHead(layer=-2)
    data = _colour_episodes(tmp_path / "data", 3)
    with pytest.raises(ValueError, match=r"head layer 2: the model has 2 decoder layers; expected -1 .* or 0\.\.1"):
        train_with_head(_config(tiny_model_dir, data, tmp_path / "run"), layer=2)
    assert not (tmp_path / "run").exists()
    # Data without CoT answers gives the head nothing to learn: a one-line error, not a silent run.
    lite_only = _colour_episodes(tmp_path / "lite", 3, cot=False)
    with pytest.raises(DatasetError, match="no episode has a CoT answer naming its outcome"):
        train_with_head(_config(tiny_model_dir, lite_only, tmp_path / "lite-run"))
