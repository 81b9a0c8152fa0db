"""The bench's model is the library's backend: batched local inference (``--batch-size``) through the transformers
backend's ``generate_batch`` gives the same replies as one item at a time; other backends say they do not batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.bench import load_bench
from eval.cli import main
from eval.runner import generate_samples
from tests.eval.benchdata import Bench
from vifailback_demo.models.backend import BatchVLMBackend, GenerationSettings, VLMBackend
from vifailback_demo.models.factory import create_backend

TINY = Path(__file__).resolve().parents[2] / "assets" / "models" / "vifailback-tiny"


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("transformers")
    if not TINY.is_dir():
        pytest.skip(f"{TINY} is missing")
    return create_backend("transformers", str(TINY), dtype="float32", device_map="cpu")


def test_a_batch_gives_what_each_request_gives_alone(tiny) -> None:
    assert isinstance(tiny, BatchVLMBackend)
    rng = np.random.default_rng(1)
    requests = [
        ([rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)], prompt)
        for n, prompt in [
            (3, "Did the robot fail? Answer A or B."),
            (5, "Describe the failure in detail, with the keyframe and the visual prompts."),
            (2, "Which gripper?"),
        ]
    ]
    settings = GenerationSettings(max_new_tokens=10)
    batch = tiny.generate_batch(requests, settings=settings)
    alone = [tiny.generate(frames, prompt, settings=settings) for frames, prompt in requests]
    assert [r.text for r in batch] == [r.text for r in alone]
    assert [r.new_tokens for r in batch] == [r.new_tokens for r in alone]
    assert [r.prompt_tokens for r in batch] == [r.prompt_tokens for r in alone]
    assert all(r.extra["batch_size"] == 3 and r.model == tiny.name for r in batch)
    assert tiny.generate_batch([], settings=settings) == []


def test_the_cli_batches_the_local_model(tiny, bench: Bench, tmp_path: Path) -> None:
    args = ["run", "--bench", str(bench.path), "--dataset-root", str(bench.root), "--model", str(TINY),
            "--device", "cpu", "--dtype", "float32", "--max-new-tokens", "8", "--limit", "4", "--quiet"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "batched"), "--batch-size", "3"]) == 0

    def replies(run: str) -> dict[str, str]:
        lines = (tmp_path / run / "samples.jsonl").read_text().splitlines()
        return {s["id"]: s["prediction"] for s in map(json.loads, lines)}

    assert len(replies("one")) == 4 and replies("batched") == replies("one")


def test_reference_answers_are_a_backend_and_batch_size_is_said_to_be_ignored(bench: Bench, tmp_path: Path) -> None:
    items = load_bench(bench.path, bench.root)
    answers = {it.prompt: it.reference for it in items}
    backend = create_backend("reference", answers=answers)
    assert isinstance(backend, VLMBackend) and not isinstance(backend, BatchVLMBackend)
    assert backend.generate([], items[0].prompt).text == items[0].reference
    assert backend.generate([], "not a bench prompt").text == ""
    logged: list[str] = []
    stats = generate_samples(items, backend, bench.root, tmp_path, batch_size=4, log=logged.append)
    assert stats.written == len(items)
    assert "eval: --batch-size 4 ignored: backend reference answers one item at a time" in logged
