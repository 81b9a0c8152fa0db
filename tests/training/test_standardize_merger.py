"""Merger standardisation: folded exactly into the merger's last layer, nothing else changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.conftest import colour_dataset
from training.failure_probe import encode_episodes
from training.standardize_merger import standardize_merger


def _features(model_dir: Path, root: Path) -> torch.Tensor:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
    episodes = encode_episodes(
        model.model.visual.eval(), AutoProcessor.from_pretrained(str(model_dir)), str(root), None
    )
    return torch.cat([e["feats"].float().reshape(-1, e["feats"].shape[-1]) for e in episodes])


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    return colour_dataset(tmp_path_factory.mktemp("std_frames"), 9, seed=3)


def test_outputs_are_standardised_and_only_the_last_merger_layer_changes(tiny_model_dir, frames, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "std"
    report = standardize_merger(str(tiny_model_dir), [str(frames)], str(out), scale=2.0)
    assert json.loads((out / "standardize.json").read_text()) == report
    before, after = _features(tiny_model_dir, frames), _features(out, frames)
    assert report["tokens"] == before.shape[0]
    # Every feature: mean 0 and spread `scale` over the frames the statistics came from (fp16 features).
    assert after.mean(0).abs().max() < 0.02
    assert torch.allclose(after.std(0, unbiased=False), torch.full((after.shape[1],), 2.0), atol=0.02)
    mean, std = torch.tensor(report["mean"]), torch.tensor(report["std"])
    assert torch.allclose(after, 2.0 * (before - mean) / std, atol=0.02)
    old, new = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed == {"model.visual.merger.linear_fc2.weight", "model.visual.merger.linear_fc2.bias"}
    assert (out / "tokenizer.json").is_file() and not out.with_name("std.partial").exists()


def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(tiny_model_dir, frames, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "training", "standardize-merger", "--model", str(tiny_model_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])

    out = tmp_path / "o"
    for args, message in (
        (("--data", str(tmp_path)), f"{tmp_path}: no annotations.json; expected a dataset folder (official schema)"),
        (("--data", str(frames), "--scale", "0"), "--scale 0.0: expected a positive number"),
    ):
        bad = cli(*args, "--out", str(out))
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == [f"python -m training standardize-merger: error: {message}"]
        assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    taken = cli("--data", str(frames), "--out", str(out))
    assert taken.returncode == 2 and "already holds files" in taken.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
