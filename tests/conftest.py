"""Shared test settings and fixtures: no network, ever; the official reference files (copied from
../shared/reference); a tiny random Qwen3-VL checkpoint and a test clip, each built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / "tests" / "data" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_DIR


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
    from tests.video.clips import make_clip

    return make_clip(clip_dir / "h264.mp4", codec="libx264", seconds=4.2, gop=50)
