"""Engine test fixtures: a tiny random Qwen3-VL checkpoint built once per session, test clips, offline settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TASK = "Use the right arm to place the orange block into the bowl."


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~0.5 M parameter Qwen3-VL + tokenizer + processor, saved as safetensors (built once, ~4 s)."""
    from vifailback_demo.models.tiny import build_tiny_qwen3vl

    return build_tiny_qwen3vl(tmp_path_factory.mktemp("tiny-qwen3vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path):
    """The transformers backend on the tiny model, loaded once (fp32 on CPU)."""
    from vifailback_demo.models.transformers_backend import TransformersBackend, TransformersOptions

    return TransformersBackend(TransformersOptions(model=str(tiny_model_dir), dtype="float32"))


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def h264_clip(clip_dir: Path) -> Path:
    from tests.engine.clips import make_clip

    return make_clip(clip_dir / "h264.mp4", codec="libx264", seconds=4.2, gop=50)


def random_frames(count: int, size: tuple[int, int] = (96, 128), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]
