"""Fixtures of the frame-reading experiments' tests: no network; a tiny random Qwen3-VL, built once per session;
datasets whose classes only the frames' colour tells apart; a small generated synthetic dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: The repository root: the experiments' command line runs from there.
ROOT = Path(__file__).resolve().parents[3]
CLI = "experiments.frame_reading"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from vifailback_demo.models.tiny import build_tiny_qwen3vl

    return build_tiny_qwen3vl(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> tuple[Path, dict]:
    from vifailback_demo.sim.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("simdata")
    manifest = generate(
        GenerateConfig(episodes=8, seed=11, out=str(out), width=320, height=240, workers=1, progress=False)
    )
    return out, manifest


#: Colour of every frame per class: only the frames tell the classes apart.
COLOURS = {"success": (200, 40, 40), "gripper state": (40, 200, 40), "task planning": (40, 40, 200)}


def colour_dataset(root: Path, episodes: int, seed: int) -> Path:
    """Episodes of 3 or 4 noisy frames whose colour is the class; same task text and folder for all."""
    rng = np.random.default_rng(seed)
    records = []
    for n in range(episodes):
        label = list(COLOURS)[n % len(COLOURS)]
        frames = []
        for k in range(3 + n % 2):
            rel = f"annotated_data/stack_blocks/frames/episode_{n}_cam_high/{k}.jpg"
            pixels = np.clip(rng.normal(COLOURS[label], 25, size=(96, 128, 3)), 0, 255).astype(np.uint8)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / rel)
            frames.append(rel)
        records.append(
            {
                "video": f"annotated_data/stack_blocks/videos/episode_{n}_cam_high.mp4",
                "task": "Use the left arm to stack the red block on the blue block.",
                "failure_detection": "no" if label == "success" else "yes",
                "images": frames,
                "failure_type": "" if label == "success" else label,
            }
        )
    (root / "annotations.json").write_text(json.dumps(records))
    return root
