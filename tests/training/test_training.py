"""Training on CPU with a tiny Qwen3-VL: data, masking, LoRA, loss going down, reload, merge, resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.config import TrainConfig, load_config
from training.data import cot_type_first, load_samples, parse_source, split_by_episode
from vifailback_demo.core.answer import format_cot_answer, parse_answer
from vifailback_demo.errors import DatasetError
from vifailback_demo.imageio import write_image_rgb


def smoke_config(tiny_model_dir, vqa_dataset, out, **overrides) -> TrainConfig:
    root, train_file = vqa_dataset
    cfg = load_config("cpu_smoke")
    cfg.model, cfg.train_files, cfg.dataset_root, cfg.output_dir = (
        str(tiny_model_dir),
        [str(train_file)],
        str(root),
        str(out),
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def test_data_skips_missing_images_weights_and_splits(vqa_dataset):
    root, train_file = vqa_dataset
    samples, stats = load_samples([str(train_file)], root)
    assert len(samples) == 12 and stats.skipped_missing_images == 1
    doubled, _ = load_samples([f"{train_file}:2"], root)
    half, _ = load_samples([f"{train_file}:0.5"], root, seed=3)
    assert len(doubled) == 24 and len(half) == 6
    only_lite, _ = load_samples([str(train_file)], root, tags=["failure_detection_qa"])
    assert {s.tag for s in only_lite} == {"failure_detection_qa"} and only_lite[0].answer == "B. Failed"
    train, held = split_by_episode(samples, 0.3, seed=0)
    assert held and train and not {s.episode for s in train} & {s.episode for s in held}
    assert split_by_episode(samples, 0.3, seed=0) == (train, held)  # stable
    assert parse_source("a/b.json:0.25") == ("a/b.json", 0.25) and parse_source("a.json") == ("a.json", 1.0)
    with pytest.raises(DatasetError, match="expected an existing directory"):
        load_samples([str(train_file)], root / "nope")


def test_auto_root_mixes_sources_from_different_folders(vqa_dataset, tmp_path):
    from tests.training.conftest import make_dataset
    from vifailback_demo.core.dataset import load_vqa_records, write_vqa_records

    root, train_file = vqa_dataset
    other = make_dataset(tmp_path / "other", episodes=2, missing=0)  # <root>/VQA/train.json, the same relative paths
    # A corrections export keeps its JSON beside its images/ folder: move one episode into that flat layout.
    flat = tmp_path / "export"
    records = load_vqa_records(other)[:2]
    for r in records:
        for rel in r.images:
            (flat / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
            (flat / "images" / rel).write_bytes((tmp_path / "other" / rel).read_bytes())
        r.images = [f"images/{rel}" for rel in r.images]
    write_vqa_records(flat / "vifailback_corrections.json", records)
    samples, stats = load_samples([str(train_file), f"{other}:2", str(flat / "vifailback_corrections.json")], "auto")
    assert len(samples) == 12 + 2 * 4 + 2 and stats.skipped_missing_images == 1
    firsts = [str(s.images[0].resolve()) for s in samples]
    for base in (root, tmp_path / "other", flat):
        assert any(f.startswith(f"{base.resolve()}/") for f in firsts), base
    # One explicit root for all sources: the other source's relative paths land on the first source's images.
    wrong, _ = load_samples([str(other)], root)
    assert all(str(s.images[0].resolve()).startswith(f"{root.resolve()}/") for s in wrong)
    with pytest.raises(DatasetError, match="existing directory or 'auto'"):
        load_samples([str(train_file)], tmp_path / "nope")


def test_tag_weights_reweight_tags_and_are_validated(vqa_dataset):
    root, train_file = vqa_dataset
    weighted, _ = load_samples(
        [str(train_file)], root, tag_weights={"cot_avoidance_code_qa": 3, "failure_detection_qa": 0.5}, seed=1
    )
    tags = [s.tag for s in weighted]
    assert tags.count("cot_avoidance_code_qa") == 18 and tags.count("failure_detection_qa") == 3
    # Weights stack with a source weight; unnamed tags keep weight 1.
    stacked, _ = load_samples([f"{train_file}:2"], root, tag_weights={"cot_avoidance_code_qa": 2})
    assert [s.tag for s in stacked].count("cot_avoidance_code_qa") == 24
    assert [s.tag for s in stacked].count("failure_detection_qa") == 12
    train, held = split_by_episode(weighted, 0.5, seed=0)
    assert held and len({id(s) for s in held}) == len(held)  # held-out questions are counted once
    assert len(train) > len({id(s) for s in train})  # while training keeps the repeats
    cfg = load_config(None, ["model=/m", "train_files=a.json", 'tag_weights={"cot_avoidance_code_qa": 3}'])
    assert cfg.validate().tag_weights == {"cot_avoidance_code_qa": 3}
    for bad, message in (('{"cot_avoidence_code_qa": 3}', "unknown tag"), ('{"failure_type_qa": -1}', ">= 0")):
        with pytest.raises(ValueError, match=message):
            load_config(None, ["model=/m", "train_files=a.json", f"tag_weights={bad}"]).validate()


def test_cot_type_first_moves_only_the_type_sentence_and_parses_the_same(vqa_dataset):
    root, train_file = vqa_dataset
    official, _ = load_samples([str(train_file)], root)
    typed, _ = load_samples([str(train_file)], root, cot_order="type_first")
    assert [s.tag for s in typed] == [s.tag for s in official]
    for before, after in zip(official, typed):
        if before.tag != "cot_avoidance_code_qa":
            assert after.answer == before.answer  # Lite answers untouched
            continue
        lines = after.answer.split("\n")
        kind = [i for i, line in enumerate(lines) if line.startswith(("Now I need to classify", "Next, I must"))]
        assert lines[kind[0]].startswith("Now I need to classify") and kind[1] == kind[0] + 1
        assert sorted(lines) == sorted(before.answer.split("\n"))  # the same sentences, one moved
        a, b = parse_answer(after.answer), parse_answer(before.answer)
        assert (a.failure_type, a.keyframe, a.low_level, a.symbols) == (
            b.failure_type,
            b.keyframe,
            b.low_level,
            b.symbols,
        )
    assert cot_type_first("B. Failed") == "B. Failed"
    with pytest.raises(DatasetError, match="cot_order"):
        load_samples([str(train_file)], root, cot_order="type-first")
    with pytest.raises(ValueError, match="cot_order"):
        load_config(None, ["model=/m", "train_files=a.json", "cot_order=typefirst"]).validate()


def test_app_views_add_each_failed_question_over_the_frames_the_app_samples(tmp_path):
    from vifailback_demo.core.dataset import VQARecord, write_vqa_records
    from vifailback_demo.core.prompts import TAG_COT_AVOIDANCE, TAG_FAILURE_DETECTION, TAG_KEYFRAME, cot_prompt

    task = "Use the right arm to place the red block into the bowl."
    rels = [f"annotated_data/t/frames/episode_0_cam_high/{n}" for n in ("0.jpg", "10_avoid_keyframe.jpg", "25.jpg")]
    for rel in rels:
        write_image_rgb(tmp_path / rel, np.zeros((24, 32, 3), np.uint8))
    answer = format_cot_answer(success=False, keyframe=2, failure_type="gripper state", low_level="Close the gripper.")
    path = write_vqa_records(
        tmp_path / "VQA" / "train.json",
        [
            VQARecord.build(cot_prompt(task), answer, rels, TAG_COT_AVOIDANCE),
            VQARecord.lite(TAG_FAILURE_DETECTION, task, rels, ["Successful", "Failed"], "Failed"),
            VQARecord.lite(TAG_KEYFRAME, task, rels, ["1", "2", "3"], "2"),  # no app view: options are image numbers
        ],
    )
    plain, _ = load_samples([str(path)], "auto")
    samples, stats = load_samples([str(path)], "auto", app_view_weight=1.0)
    assert len(plain) == 3 and len(samples) == 5 and stats.app_views == 2
    views = samples[3:]
    assert all([p.name for p in v.images] == ["0.jpg", "25.jpg"] for v in views)
    assert {v.episode for v in views} == {plain[0].episode}  # held out with their episode
    cot_view = next(v for v in views if v.tag == TAG_COT_AVOIDANCE)
    assert parse_answer(cot_view.answer).keyframe == 1 and parse_answer(plain[0].answer).keyframe == 2
    assert len(load_samples([str(path)], "auto", app_view_weight=0.5)[0]) == 4
    with pytest.raises(DatasetError, match="app_view_weight"):
        load_samples([str(path)], "auto", app_view_weight=-1)
    with pytest.raises(ValueError, match="app_view_weight must be a number >= 0"):
        load_config(None, ["model=/m", "train_files=a.json", "app_view_weight=-2"]).validate()


def test_held_out_split_follows_split_seed_not_the_shuffle_seed(tiny_model_dir, vqa_dataset, tmp_path, monkeypatch):
    root, train_file = vqa_dataset
    samples, _ = load_samples([str(train_file)], root)
    held = {s.episode for s in split_by_episode(samples, 0.3, seed=0)[1]}
    assert any({s.episode for s in split_by_episode(samples, 0.3, seed=k)[1]} != held for k in range(1, 6))
    import training.train as train_module

    seen = []
    real_split = train_module.split_by_episode
    monkeypatch.setattr(
        train_module, "split_by_episode", lambda s, f, seed: seen.append(seed) or real_split(s, f, seed)
    )
    cfg = smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "run", max_steps=1, seed=7, split_seed=3)
    train_module.train(cfg)
    assert seen == [3]  # a new shuffle seed keeps the same held-out episodes


def test_collator_masks_the_prompt_exactly(tiny_model_dir, vqa_dataset):
    from training.collator import IGNORE_INDEX, SFTCollator
    from training.modeling import load_processor

    root, train_file = vqa_dataset
    cfg = TrainConfig(model=str(tiny_model_dir), train_files=[str(train_file)], dataset_root=str(root))
    processor = load_processor(cfg)
    samples, _ = load_samples([str(train_file)], root)
    collator = SFTCollator(processor)
    batch = collator(samples[:2])
    assert {"input_ids", "labels", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids"} <= set(
        batch
    )
    for row in range(2):
        labels = batch["labels"][row]
        kept = labels[labels != IGNORE_INDEX]
        assert processor.tokenizer.decode(kept) == samples[row].answer + "<|im_end|>"
        image_positions = batch["mm_token_type_ids"][row] == 1
        assert image_positions.any() and (labels[image_positions] == IGNORE_INDEX).all()
    # a too-small max_length is a clear error, not a silent empty sample
    with pytest.raises(ValueError, match="over max_length"):
        SFTCollator(processor, max_length=8)(samples[:1])


def test_lora_targets_language_model_and_trains_merger(tiny_model_dir, vqa_dataset):
    from training.modeling import load_model

    cfg = smoke_config(tiny_model_dir, vqa_dataset, "unused")
    model = load_model(cfg)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_" in n and "language_model" in n and "q_proj" in n for n in trainable)
    assert not any("lora_" in n and ".visual." in n for n in trainable)
    assert any("merger" in n and "modules_to_save" in n for n in trainable)
    assert not any(".visual.blocks" in n for n in trainable)
    cfg.method = "full"
    full = load_model(cfg)
    trainable_full = {n for n, p in full.named_parameters() if p.requires_grad}
    assert any(".visual.merger" in n for n in trainable_full) and not any(".visual.blocks" in n for n in trainable_full)
    assert any("language_model.layers.0.mlp" in n for n in trainable_full)
    cfg.train_merger = False  # every merger frozen too, as with LoRA
    frozen_mergers = {n for n, p in load_model(cfg).named_parameters() if p.requires_grad}
    assert frozen_mergers == {n for n in trainable_full if ".visual." not in n}


def _logits(model, batch):
    import torch

    model.eval()
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def _losses(run_dir):
    return [
        json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"loss"' in line
    ]


def test_full_finetune_loss_goes_down(tiny_model_dir, vqa_dataset, tmp_path):
    from training.train import train

    cfg = smoke_config(
        tiny_model_dir,
        vqa_dataset,
        tmp_path / "run",
        method="full",
        max_steps=12,
        learning_rate=1e-2,
        grad_accum=1,
        save_every=0,
        eval_fraction=0.0,
        lr_schedule="constant",
        warmup_ratio=0.0,
        tags=["cot_avoidance_code_qa"],
    )
    train(cfg)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses


def _recording_hook():
    """A hook with its own parameter, pulled towards 3 by the loss term it adds; it records what the loop gives it."""
    import torch

    from training.hooks import HOOK_FIELDS, TrainHook

    class RecordingHook(TrainHook):
        def __init__(self) -> None:
            self.calls: list[str] = []
            self.param = torch.nn.Parameter(torch.zeros(()))
            self.module = torch.nn.Module()
            self.module.register_parameter("p", self.param)

        def on_data(self, samples):
            self.calls.append("on_data")
            return {"hook_samples": len(samples)}

        def modules(self, model):
            self.calls.append("modules")
            return [self.module]

        def attach(self, model, modules):
            self.calls.append("attach")
            self.prepared = modules[0]

        def batch_fields(self, samples):
            return {"rows": torch.tensor([len(s.images) for s in samples])}

        def loss(self, batch, training):
            self.calls.append("loss" if training else "eval_loss")
            assert batch[HOOK_FIELDS]["rows"].shape == (batch["input_ids"].shape[0],)
            return (self.prepared.p - 3.0) ** 2

        def metrics(self, accelerator, training):
            return {"hook_p": float(self.param.detach())} if training else {"eval_hook": 1.0}

        def detach(self):
            self.calls.append("detach")

    return RecordingHook()


def test_a_hook_adds_a_batch_field_a_trained_module_and_a_loss_term_and_is_not_exported(
    tiny_model_dir, vqa_dataset, tmp_path
):
    from training.train import train

    hook = _recording_hook()
    run = train(
        smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "run", max_steps=2, grad_accum=1, save_every=0),
        hooks=[hook],
    )
    assert hook.calls[:3] == ["on_data", "modules", "attach"] and hook.calls[-1] == "detach"
    assert hook.calls.count("loss") == 2 and "eval_loss" in hook.calls
    assert float(hook.param.detach()) > 0  # optimised with the model, towards 3
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["hook_samples"] == stats["train"] + stats["heldout"] > 0
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "hook_p" in m] == [1, 2] and any("eval_hook" in m for m in metrics)
    assert all("eval_loss" in m for m in metrics if "eval_hook" in m)
    assert all(p is not hook.param for p in run.model.parameters())  # the hook's module is not the model's


def test_lora_loss_goes_down_and_adapter_reloads_identically(pretrained_tiny_dir, vqa_dataset, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from training.collator import SFTCollator
    from training.modeling import load_processor
    from training.train import train

    tiny_model_dir = pretrained_tiny_dir
    cfg = smoke_config(
        tiny_model_dir,
        vqa_dataset,
        tmp_path / "run",
        max_steps=16,
        learning_rate=2e-2,
        grad_accum=1,
        tags=["cot_avoidance_code_qa"],
        save_every=0,
        eval_fraction=0.0,
        lr_schedule="constant",
        warmup_ratio=0.0,
        lora_dropout=0.0,
    )
    run = train(cfg)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 16
    # A tiny base's frozen, tied embeddings cap how far LoRA can move the logits (docs/training.md), so the drop is
    # small here; it must still be a drop. The strong "loss goes down" check is the full fine-tuning test.
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["max_steps"] == 16 and saved["lora_rank"] == 8  # the resolved config is kept with the run
    root, train_file = vqa_dataset
    samples, _ = load_samples([str(train_file)], root)
    batch = SFTCollator(load_processor(cfg))(samples[:2])
    reloaded = PeftModel.from_pretrained(
        AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir)), str(run.final)
    )
    assert torch.equal(_logits(run.model, batch), _logits(reloaded, batch))
    base = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir))
    assert not torch.allclose(_logits(base, batch), _logits(reloaded, batch), atol=1e-4)  # training changed something


def test_merged_model_matches_base_plus_adapter(tiny_model_dir, vqa_dataset, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from training.collator import SFTCollator
    from training.merge import merge_adapter
    from training.modeling import load_processor
    from training.train import train

    cfg = smoke_config(
        tiny_model_dir, vqa_dataset, tmp_path / "run", max_steps=3, learning_rate=1e-2, save_every=0, eval_fraction=0.0
    )
    run = train(cfg)
    merged_dir = merge_adapter(run.final, tmp_path / "merged", dtype="fp32")
    merged = AutoModelForImageTextToText.from_pretrained(str(merged_dir))
    assert not any("lora" in n for n, _ in merged.named_parameters())
    combo = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir)), str(run.final))
    root, train_file = vqa_dataset
    samples, _ = load_samples([str(train_file)], root)
    batch = SFTCollator(load_processor(cfg))(samples[:2])
    assert torch.allclose(_logits(merged, batch), _logits(combo, batch), atol=1e-4)


def test_resumed_run_continues_from_the_saved_step(tiny_model_dir, vqa_dataset, tmp_path):
    import torch

    from training.train import train

    common = dict(max_steps=4, save_every=2, keep_checkpoints=3, grad_accum=2, eval_fraction=0.2, eval_every=0)
    whole = train(smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "a", **common))
    assert sorted(p.name for p in (tmp_path / "a").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    # a run that "crashed" after step 2: only its checkpoint-2 survives
    (tmp_path / "b").mkdir()
    shutil.copytree(tmp_path / "a" / "checkpoint-2", tmp_path / "b" / "checkpoint-2")
    resumed = train(smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "b", resume="auto", **common))
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
        if '"loss"' in line
    ]
    assert steps == [3, 4] and resumed.steps == 4
    a = dict(whole.model.named_parameters())
    for name, p in resumed.model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, a[name], atol=1e-6), name  # same data order, same RNG: same weights


def test_time_budget_stops_cleanly_and_resume_finishes_the_same_schedule(tiny_model_dir, vqa_dataset, tmp_path):
    import torch

    from training.train import train

    common = dict(max_steps=4, save_every=0, eval_fraction=0.2, eval_every=0)
    whole = train(smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "a", **common))
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["stopped"] == "done"
    # A budget already spent when the first step ends: the run stops there as if it had finished.
    cut = train(smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "b", max_minutes=1e-9, **common))
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert cut.steps == 1 and (summary["steps"], summary["total_steps"], summary["stopped"]) == (1, 4, "max_minutes")
    assert any((tmp_path / "b" / "final").glob("*.safetensors")) and (tmp_path / "b" / "checkpoint-1").is_dir()
    assert "eval_loss" in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[-1]
    # Resumed without the budget it runs the rest of the same schedule and ends with the uninterrupted run's weights.
    resumed = train(smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "b", resume="auto", **common))
    assert resumed.steps == 4
    a = dict(whole.model.named_parameters())
    for name, p in resumed.model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, a[name], atol=1e-6), name
    for bad in (0, -1, "soon"):
        with pytest.raises(ValueError, match="max_minutes must be a number of minutes > 0"):
            smoke_config(tiny_model_dir, vqa_dataset, tmp_path / "c", max_minutes=bad).validate()


def test_cli_help_config_and_errors(tmp_path, capsys):
    from training.__main__ import main

    run = lambda *a: subprocess.run([sys.executable, "-m", "training", *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    helped = run("--help")
    assert helped.returncode == 0 and "merge" in helped.stdout and "LoRA" in helped.stdout
    shown = run(
        "train", "--config", "paper_lora", "--set", "model=/m", "--set", "train_files=a.json,b.json:2", "--print-config"
    )
    assert shown.returncode == 0, shown.stderr
    cfg = json.loads(shown.stdout)
    assert (cfg["lora_rank"], cfg["lora_alpha"], cfg["learning_rate"], cfg["epochs"], cfg["dtype"]) == (
        32,
        64,
        1e-5,
        1.0,
        "bf16",
    )
    assert cfg["train_files"] == ["a.json", "b.json:2"]
    bad = run("train", "--set", "lora_rnak=4")
    assert bad.returncode == 2 and "unknown config key" in bad.stderr and "Traceback" not in bad.stderr
    # In-process (a subprocess would spend seconds importing torch before it reads the model path).
    missing = main([
        "train", "--set", "model=/nonexistent", "--set", "train_files=x.json", "--set", f"dataset_root={tmp_path}",
        "--set", f"output_dir={tmp_path / 'run'}",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert missing == 2 and err.count("\n") == 1 and "expected a local model directory" in err
    assert not (tmp_path / "run").exists()  # bad input writes nothing
    presets = run("presets")
    assert {"paper_lora", "cpu_smoke", "tiny_scratch", "multi_gpu_lora"} <= {
        line.split(":")[0] for line in presets.stdout.splitlines()
    }


def _render(processor, n_images: int, **kwargs) -> str:
    from PIL import Image

    content = [{"type": "image", "image": Image.new("RGB", (64, 64))} for _ in range(n_images)]
    messages = [{"role": "user", "content": [*content, {"type": "text", "text": "Which image?"}]}]
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)


def test_chat_template_option_labels_images_and_is_saved_with_the_model(tiny_model_dir, vqa_dataset, tmp_path):
    from transformers import AutoProcessor

    from training.modeling import load_processor
    from training.train import train

    cfg = smoke_config(
        tiny_model_dir, vqa_dataset, tmp_path / "run", method="full", max_steps=1, grad_accum=1, save_every=0,
        eval_fraction=0.0, chat_template="image_labels",
    )  # fmt: skip
    assert "image number" not in _render(load_processor(smoke_config(tiny_model_dir, vqa_dataset, tmp_path)), 3)
    run = train(cfg)
    saved = AutoProcessor.from_pretrained(run.final)  # what inference loads
    text = _render(saved, 3)
    labels = [text.index(f"image number {k}: <|vision_start|>") for k in (1, 2, 3)]
    assert labels == sorted(labels) and text.count("<|vision_start|>") == 3
    assert "image number" not in _render(saved, 3, add_vision_id=False)

    custom = tmp_path / "mine.jinja"
    custom.write_text("{%- for m in messages %}CUSTOM {{ m['role'] }}{%- endfor %}")
    processor = load_processor(smoke_config(tiny_model_dir, vqa_dataset, tmp_path, chat_template=str(custom)))
    assert _render(processor, 1).startswith("CUSTOM user")


def test_unknown_chat_template_is_refused():
    cfg = TrainConfig(train_files=["a.json"], model="/m", chat_template="no_such_template")
    with pytest.raises(ValueError, match=r"chat_template 'no_such_template': expected \['image_labels', 'qwen'\]"):
        cfg.validate()


def test_bf16_mixed_keeps_fp32_weights_and_computes_under_bf16_autocast(
    tiny_model_dir, vqa_dataset, tmp_path, monkeypatch
):
    import torch

    import training.train as train_module
    from training.train import train

    computed: list[torch.dtype] = []
    real_load = train_module.load_model

    def spy_load(cfg):
        model = real_load(cfg)
        first_linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        first_linear.register_forward_hook(lambda _m, _i, out: computed.append(out.dtype))
        return model

    monkeypatch.setattr(train_module, "load_model", spy_load)
    cfg = smoke_config(
        tiny_model_dir, vqa_dataset, tmp_path / "run", method="full", dtype="bf16-mixed", max_steps=12,
        learning_rate=1e-2, grad_accum=1, save_every=0, eval_fraction=0.0, lr_schedule="constant",
        warmup_ratio=0.0, tags=["cot_avoidance_code_qa"],
    )  # fmt: skip
    run = train(cfg)
    assert len(computed) == 12 and set(computed) == {torch.bfloat16}  # every step ran under autocast
    assert {p.dtype for p in run.model.parameters()} == {torch.float32}  # master weights stay fp32
    losses = _losses(tmp_path / "run")
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses
    with pytest.raises(ValueError, match="dtype must be bf16, fp16, fp32 or bf16-mixed"):
        TrainConfig(train_files=["a.json"], model="/m", dtype="bf32").validate()


def _colour_frames(rng: np.random.Generator, colour: tuple[int, int, int], square: bool) -> np.ndarray:
    """A 64x64 frame of the colour (with noise), or a 640x480 grey camera-sized frame with a 40x40 square of it."""
    if not square:
        return np.clip(np.array(colour) + rng.integers(-25, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
    frame = np.full((480, 640, 3), 200, np.uint8)
    y, x = rng.integers(0, 440), rng.integers(0, 600)
    frame[y : y + 40, x : x + 40] = colour
    return frame


def _held_out_colours_named(model_dir, tmp_path, *, frames: int, square: bool, steps: int, lr: float):
    """Train on "Which colour is shown?" where only the pixels tell red from blue; held-out episodes named right
    (of 12) by comparing the loss of both answers, and the trained model's directory."""

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from training.collator import SFTCollator
    from training.train import train
    from vifailback_demo.core.dataset import VQARecord, write_vqa_records

    rng = np.random.default_rng(1)
    colours = {"red": (200, 30, 30), "blue": (30, 30, 200)}
    for split, n in (("train", 24), ("test", 12)):
        records = []
        for ep in range(n):
            name = ("red", "blue")[ep % 2]
            rels = [f"annotated_data/t/frames/episode_{split}{ep}_cam_high/{25 * k}.jpg" for k in range(frames)]
            for rel in rels:
                write_image_rgb(tmp_path / rel, _colour_frames(rng, colours[name], square))
            records.append(VQARecord.build("Which colour is shown?", f"It is {name}.", rels, "failure_reason_qa"))
        write_vqa_records(tmp_path / "VQA" / f"{split}.json", records)
    cfg = TrainConfig(
        model=str(model_dir), train_files=[str(tmp_path / "VQA" / "train.json")], output_dir=str(tmp_path / "run"),
        method="full", freeze_vision=False, max_steps=steps, batch_size=4, learning_rate=lr, warmup_ratio=0.0,
        eval_fraction=0.0, save_every=0, log_every=10, dtype="fp32", gradient_checkpointing=False,
    )  # fmt: skip
    final = train(cfg).final
    model = AutoModelForImageTextToText.from_pretrained(final).eval()
    collator = SFTCollator(AutoProcessor.from_pretrained(final))
    test, _ = load_samples([str(tmp_path / "VQA" / "test.json")], "auto")
    right = 0
    with torch.no_grad():
        for s in test:
            loss = {c: model(**collator([type(s)(s.prompt, f"It is {c}.", s.images, s.tag, s.episode)])).loss.item()
                    for c in colours}  # fmt: skip
            right += f"It is {min(loss, key=loss.get)}." == s.answer
    return right, final


@pytest.mark.slow  # a real training run (about a minute on 2 cores); the default run has the gradient check below
def test_training_teaches_a_question_only_the_pixels_answer(tiny_model_dir, tmp_path):
    """Every prompt is the same and only the frame's colour tells the answer: if images did not reach the loss
    (a broken collator, processor or merger), held-out accuracy would stay at chance (6 of 12)."""
    right, final = _held_out_colours_named(tiny_model_dir, tmp_path, frames=1, square=False, steps=60, lr=2e-3)
    assert right >= 11, f"{right}/12 held-out frames named by colour"
    # frame-reliance sees it: the loss is much lower with each episode's own frame than with another's.
    from training.frame_reliance import frame_reliance

    test_file = [str(tmp_path / "VQA" / "test.json")]
    trained = frame_reliance(str(final), test_file, limit=12)
    assert trained["samples"] == 12 and trained["gap"] > 0.15, trained
    assert trained["gap"] > 10 * abs(frame_reliance(str(tiny_model_dir), test_file, limit=12)["gap"])


def test_frame_reliance_without_a_model_is_one_line(tmp_path, capsys):
    from training.__main__ import main

    data = tmp_path / "VQA" / "test.json"
    code = main(["frame-reliance", "--model", str(tmp_path / "none"), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "config.json" in err


@pytest.mark.slow  # trains for minutes on 2 cores; the default run has the gradient check below
def test_bundled_model_learns_a_small_detail_across_twelve_camera_frames(tmp_path):
    """The CoT path's shape: 12 camera-sized frames, the answer in a 40x40 square (10x8 pixels as the bundled
    model sees a frame). A broken multi-image path (images swapped, merged or dropped) stays at chance."""
    bundled = Path(__file__).resolve().parents[2] / "assets" / "models" / "vifailback-tiny"
    right, _ = _held_out_colours_named(bundled, tmp_path, frames=12, square=True, steps=100, lr=4e-4)
    assert right >= 11, f"{right}/12 held-out episodes named by the colour of a small square"


def test_every_one_of_twelve_camera_frames_reaches_the_bundled_models_loss(tmp_path):
    """The cheap default-run guard of the multi-image path (the slow test above trains on it): one CoT-shaped
    sample of 12 camera-sized frames through the bundled processor and model. The loss must have a gradient on
    every frame's patches (a dropped or unused image has none), and swapping two frames must change the loss (a
    path that merged or pooled the frames, ignoring their order, would not)."""

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from training.collator import SFTCollator
    from training.data import Sample

    bundled = Path(__file__).resolve().parents[2] / "assets" / "models" / "vifailback-tiny"
    rng = np.random.default_rng(3)
    paths = []
    for k in range(12):
        paths.append(tmp_path / f"{k}.jpg")
        write_image_rgb(paths[-1], _colour_frames(rng, tuple(int(c) for c in rng.integers(0, 255, 3)), square=True))
    model = AutoModelForImageTextToText.from_pretrained(bundled).eval()
    collator = SFTCollator(AutoProcessor.from_pretrained(bundled))

    def loss_and_frame_grads(images: list[Path]) -> tuple[float, list[float]]:
        batch = collator([Sample("Which colours are shown?", "Red, then blue.", images, None, "e0")])
        pixels = batch["pixel_values"].requires_grad_(True)
        loss = model(**batch).loss
        loss.backward()
        per_frame = batch["image_grid_thw"].prod(-1).tolist()
        assert len(per_frame) == 12, f"{len(per_frame)} images reached the model, expected 12"
        return loss.item(), [g.abs().sum().item() for g in torch.split(pixels.grad, per_frame)]

    loss, grads = loss_and_frame_grads(paths)
    assert all(g > 0 for g in grads), f"frames without a gradient from the loss: {grads}"
    swapped = [paths[5], *paths[1:5], paths[0], *paths[6:]]
    assert abs(loss_and_frame_grads(swapped)[0] - loss) > 1e-6, "the loss ignores the order of the frames"
