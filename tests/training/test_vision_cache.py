"""Frozen-tower feature cache: the language model gets the same inputs as from pixels, without the pixels."""

from __future__ import annotations

import json

import pytest

from tests.training.test_training import smoke_config
from training.config import TrainConfig
from training.data import load_samples


def _model(model_dir):
    import torch
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32).eval()


def test_cached_batch_gives_the_same_ids_and_loss_as_pixels(tiny_model_dir, vqa_dataset):
    import torch

    from training.collator import SFTCollator
    from training.modeling import load_processor
    from training.vision_cache import VisionFeatureCache, model_inputs

    root, train_file = vqa_dataset
    cfg = TrainConfig(model=str(tiny_model_dir), train_files=[str(train_file)], dataset_root=str(root))
    processor, model = load_processor(cfg), _model(tiny_model_dir)
    samples, _ = load_samples([str(train_file)], root)
    cache = VisionFeatureCache().build(model, processor, samples, log=lambda _: None)
    # Each episode's frames once: 6 episodes of 3 frames, whatever the number of questions about them.
    assert len(cache.entries) == 18 and len(samples) == 12
    pixels, cached = SFTCollator(processor)(samples[:4]), SFTCollator(processor, cache=cache)(samples[:4])
    assert "pixel_values" not in cached and "image_embeds" in cached
    for key in ("input_ids", "labels", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
        assert torch.equal(pixels[key], cached[key]), key
    assert cached["image_embeds"].shape[0] == int((cached["input_ids"] == processor.image_token_id).sum())
    with torch.no_grad():
        from_pixels, from_cache = model(**pixels), model(**model_inputs(cached))
    assert torch.allclose(from_pixels.logits, from_cache.logits, atol=1e-5)
    assert abs(from_pixels.loss.item() - from_cache.loss.item()) < 1e-6
    # Not the same inputs whatever the features: other frames' features give other logits.
    swapped = dict(cached, image_embeds=cached["image_embeds"].flip(0))
    with torch.no_grad():
        assert not torch.allclose(model(**model_inputs(swapped)).logits, from_pixels.logits, atol=1e-3)


def test_training_with_the_cache_follows_the_same_losses(tiny_model_dir, vqa_dataset, tmp_path):
    from training.train import train

    def losses(name: str, cache: bool) -> list[float]:
        cfg = smoke_config(
            tiny_model_dir,
            vqa_dataset,
            tmp_path / name,
            method="full",
            dtype="fp32",
            max_steps=6,
            learning_rate=1e-3,
            grad_accum=1,
            batch_size=2,
            log_every=1,
            save_every=0,
            eval_fraction=0.2,
            train_merger=False,
            freeze_vision=True,
            vision_cache=cache,
        )
        train(cfg)
        rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [r["loss"] for r in rows if "loss" in r] + [r["eval_loss"] for r in rows if "eval_loss" in r]

    plain, cached = losses("plain", False), losses("cached", True)
    assert len(plain) == 7 and len(cached) == 7  # six steps, then the held-out loss
    assert plain == pytest.approx(cached, abs=1e-4)
    saved = json.loads((tmp_path / "cached" / "config.json").read_text())
    assert saved["vision_cache"] is True


def test_cache_needs_a_frozen_tower_and_says_what_is_missing(tiny_model_dir):
    from training.vision_cache import VisionFeatureCache, expand_image_tokens

    cfg = TrainConfig(train_files=["a.json"], model="/m", vision_cache=True)  # the paper's default trains the merger
    with pytest.raises(ValueError, match="vision_cache needs freeze_vision=true and train_merger=false"):
        cfg.validate()
    cfg.train_merger = False
    cfg.validate()
    with pytest.raises(KeyError, match=r"nowhere\.jpg: not in the vision cache"):
        VisionFeatureCache().lookup(["nowhere.jpg"])
    with pytest.raises(ValueError, match="2 image placeholders in the prompt; expected 3"):
        expand_image_tokens("<i>a<i>b", "<i>", [4, 4, 4])
    assert expand_image_tokens("x<i>y<i>", "<i>", [2, 1]) == "x<i><i>y<i>"
