"""Merger standardisation: folded exactly into the mergers' last layers, nothing else changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.frame_reading.failure_probe import episode_frames
from experiments.frame_reading.standardize_merger import standardize_merger
from experiments.frame_reading.tests.conftest import CLI, ROOT, colour_dataset


@torch.no_grad()
def _features(model_dir: Path, root: Path) -> dict[str, torch.Tensor]:
    """Every output the language model receives from the tower, over all the dataset's frames."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
    visual = model.model.visual.eval()
    named: dict[str, list[torch.Tensor]] = {}
    for _, inputs in episode_frames(AutoProcessor.from_pretrained(str(model_dir)), str(root), None):
        out = visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"], return_dict=True)
        named.setdefault("merger", []).append(out.pooler_output)
        for i, f in enumerate(out.deepstack_features):
            named.setdefault(f"deepstack_merger_list.{i}", []).append(f)
    return {name: torch.cat(parts) for name, parts in named.items()}


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    return colour_dataset(tmp_path_factory.mktemp("std_frames"), 9, seed=3)


def test_outputs_are_standardised_and_only_the_last_merger_layers_change(tiny_model_dir, frames, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "std"
    report = standardize_merger(str(tiny_model_dir), [str(frames)], str(out), scale=2.0)
    assert json.loads((out / "standardize.json").read_text()) == report
    before, after = _features(tiny_model_dir, frames), _features(out, frames)
    # The bundled configuration has one deepstack merger; it is standardised as the merger is.
    assert set(report["outputs"]) == set(before) == {"merger", "deepstack_merger_list.0"}
    for name, stats in report["outputs"].items():
        assert stats["tokens"] == before[name].shape[0]
        assert (before[name].std(0, unbiased=False) - 2.0).abs().min() > 1  # far from the target to begin with
        # Every feature: mean 0 and spread `scale` over the frames the statistics came from.
        assert after[name].mean(0).abs().max() < 1e-3
        width = after[name].shape[1]
        assert torch.allclose(after[name].std(0, unbiased=False), torch.full((width,), 2.0), atol=1e-3)
        mean, std = torch.tensor(stats["mean"]), torch.tensor(stats["std"])
        assert torch.allclose(after[name], 2.0 * (before[name] - mean) / std, atol=1e-3)
    old, new = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed == {f"model.visual.{name}.linear_fc2.{p}" for name in report["outputs"] for p in ("weight", "bias")}
    assert (out / "tokenizer.json").is_file() and not out.with_name("std.partial").exists()


def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(tiny_model_dir, frames, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", CLI, "standardize-merger", "--model", str(tiny_model_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)

    out = tmp_path / "o"
    for args, message in (
        (("--data", str(tmp_path)), f"{tmp_path}: no annotations.json; expected a dataset folder (official schema)"),
        (("--data", str(frames), "--scale", "0"), "--scale 0.0: expected a positive number"),
    ):
        bad = cli(*args, "--out", str(out))
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == [
            f"python -m experiments.frame_reading standardize-merger: error: {message}"
        ]
        assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    taken = cli("--data", str(frames), "--out", str(out))
    assert taken.returncode == 2 and "already holds files" in taken.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
