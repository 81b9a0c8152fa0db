"""`python -m training tiny` end to end at a toy size: data, tokenizer, model from scratch, training, export."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow  # a real training run of the recipe (data, tokenizer, model from scratch) in a subprocess
def test_tiny_recipe_builds_trains_and_exports_a_loadable_model(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    work, out = tmp_path / "work", tmp_path / "model"
    cmd = [sys.executable, "-m", "training", "tiny", "--episodes", "3", "--seed", "7", "--work", str(work)]
    cmd += ["--out", str(out), "--workers", "2", "--vocab-size", "400", "--hidden-size", "32", "--layers", "1"]
    cmd += ["--vision-hidden-size", "32", "--vision-depth", "1"]
    cmd += ["--set", "max_steps=2", "--set", "batch_size=2", "--set", "eval_every=0", "--set", "save_every=0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"tiny model: {out}" in done.stdout

    # The data the recipe generated: 3 training episodes of the synthetic world, in the official layout.
    manifest = json.loads((work / "data" / "manifest.json").read_text())
    assert manifest["episodes"] == 3
    assert json.loads((work / "data" / "VQA" / "ViFailback_VQA_train.json").read_text())

    # What was asked for is what was built, trained for the asked steps, and recorded.
    recipe = json.loads((out / "RECIPE.json").read_text())
    assert recipe["model"]["hidden_size"] == 32 and recipe["data"]["episodes"] == 3
    assert recipe["config"]["max_steps"] == 2
    metrics = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(m["step"] for m in metrics) == 2

    model = AutoModelForImageTextToText.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert model.config.text_config.hidden_size == 32 and model.config.text_config.num_hidden_layers == 1
    assert len(processor.tokenizer) <= 400 + 32  # the recipe's own tokenizer, not a downloaded one
    ids = processor.tokenizer("Close the right gripper.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids).logits).all()
