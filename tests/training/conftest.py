"""A small VQA dataset and a briefly trained tiny Qwen3-VL, built once per session (no network); the tiny random
model itself (``tiny_model_dir``) comes from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vifailback_demo.core.answer import format_cot_answer
from vifailback_demo.core.dataset import VQARecord, write_vqa_records
from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_FAILURE_DETECTION, cot_prompt, lite_prompt
from vifailback_demo.core.symbols import Crosshair, StraightArrow
from vifailback_demo.imageio import write_image_rgb

TASK = "Use the right arm to place the orange block into the bowl."


def make_dataset(root: Path, episodes: int = 6, frames: int = 3, missing: int = 1) -> Path:
    """``episodes`` episodes with a CoT and a Lite record each; ``missing`` extra records point at absent images."""
    rng = np.random.default_rng(0)
    records = []
    for ep in range(episodes):
        rels = [f"annotated_data/t/frames/episode_{ep}_cam_high/{i * 25}.jpg" for i in range(frames)]
        for rel in rels:
            write_image_rgb(root / rel, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        answer = format_cot_answer(
            success=False,
            keyframe=1 + ep % frames,
            failure_type="gripper 6d-pose",
            low_level="Move the right gripper to the left slightly.",
            symbols=[StraightArrow((100 + ep, 200), (300, 200), ("green",)), Crosshair((500, 500))],
        )
        records.append(VQARecord.build(cot_prompt(TASK), answer, rels, TAG_COT_AVOIDANCE))
        options = ["Successful", "Failed"]
        records.append(
            VQARecord.build(
                lite_prompt(TAG_FAILURE_DETECTION, TASK, options),
                "B. Failed",
                rels,
                TAG_FAILURE_DETECTION,
                options=options,
                answer="Failed",
            )
        )
    for m in range(missing):
        rels = [f"annotated_data/t/frames/episode_missing{m}_cam_high/0.jpg"]
        records.append(VQARecord.build(cot_prompt(TASK), "x", rels, TAG_COT_AVOIDANCE))
    path = root / "VQA" / "train.json"
    write_vqa_records(path, records)
    return path


@pytest.fixture(scope="session")
def vqa_dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ds")
    return root, make_dataset(root)


@pytest.fixture(scope="session")
def pretrained_tiny_dir(tiny_model_dir, vqa_dataset, tmp_path_factory) -> Path:
    """The tiny model after a few full fine-tuning steps: LoRA is meant for a trained base, not random weights
    (a random base's frozen lm_head caps how far a LoRA can move the loss)."""
    from training.config import load_config
    from training.train import train

    root, train_file = vqa_dataset
    cfg = load_config("cpu_smoke")
    cfg.model, cfg.train_files, cfg.dataset_root = str(tiny_model_dir), [str(train_file)], str(root)
    cfg.output_dir = str(tmp_path_factory.mktemp("pretrain"))
    cfg.method, cfg.max_steps, cfg.learning_rate, cfg.grad_accum, cfg.save_every, cfg.eval_fraction = (
        "full",
        12,
        1e-2,
        1,
        0,
        0.0,
    )
    cfg.lr_schedule, cfg.warmup_ratio = "constant", 0.0
    return train(cfg).final
