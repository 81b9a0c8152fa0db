"""The recipe of the bundled tiny model (``assets/models/vifailback-tiny``), end to end and reproducible.

    python -m training tiny --episodes 3000 --seed 0 --work runs/tiny-recipe --out assets/models/vifailback-tiny

1. Generate the synthetic world's dataset (train split) with ``vifailback sim generate``.
2. Train a byte-level BPE tokenizer (Qwen special tokens, chat template) on that corpus: every prompt and answer.
3. Build a small Qwen3-VL from a config, with random weights.
4. Train every parameter from scratch (preset ``tiny_scratch``) on all 11 task tags.
5. Export the final model + processor as safetensors (checked to be at most 40 MB).

The bench for its scores uses episodes from unseen seeds: ``vifailback sim generate --seed 1000 ...`` then
``python -m eval run`` (see the README).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from training.config import load_config

MAX_BUNDLE_BYTES = 40 * 1024 * 1024


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episodes", type=int, default=3000, help="synthetic training episodes to generate")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic world (bench seeds must differ)")
    p.add_argument("--work", default="runs/tiny-recipe", help="working directory (data, tokenizer, runs)")
    p.add_argument("--out", default="assets/models/vifailback-tiny", help="where the finished model goes")
    p.add_argument("--data", help="use an already generated dataset root instead of generating one")
    p.add_argument(
        "--workers", type=int, default=1, help="simulator processes for the data (one per free core is fastest)"
    )
    p.add_argument(
        "--vocab-size", type=int, default=4096, help="BPE vocabulary (merges span words; digits stay single)"
    )
    p.add_argument("--hidden-size", type=int, default=256, help="language model width")
    p.add_argument("--layers", type=int, default=4, help="language model layers")
    p.add_argument("--vision-hidden-size", type=int, default=128, help="vision tower width")
    p.add_argument("--vision-depth", type=int, default=3, help="vision tower blocks")
    p.add_argument(
        "--max-pixels", type=int, default=32 * 32 * 20, help="image pixel budget (32x32 px per visual token)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the tiny_scratch preset (repeatable)",
    )


def _generate(root: Path, episodes: int, seed: int, workers: int = 1) -> None:
    if (root / "VQA" / "ViFailback_VQA_train.json").is_file():
        return
    cmd = [
        sys.executable,
        "-m",
        "vifailback_demo",
        "sim",
        "generate",
        "--episodes",
        str(episodes),
        "--seed",
        str(seed),
        "--out",
        str(root),
        "--split",
        "train",
        "--workers",
        str(workers),
    ]
    subprocess.run(cmd, check=True)


def training_corpus(vqa_file: Path) -> list[str]:
    """Every prompt and answer of the train file, so that both tokenize into few tokens."""
    records = json.loads(vqa_file.read_text())
    texts = []
    for r in records:
        texts.extend(m["content"].replace("<image>", "") for m in r["messages"])
    return texts


def run(args: argparse.Namespace) -> Path:
    from vifailback_demo.models.tiny import build_tiny_qwen3vl

    work = Path(args.work)
    root = Path(args.data) if args.data else work / "data"
    if not args.data:
        _generate(root, args.episodes, args.seed, args.workers)
    train_file = root / "VQA" / "ViFailback_VQA_train.json"
    if not train_file.is_file():
        raise FileNotFoundError(f"{train_file}: expected the synthetic train split (vifailback sim generate)")
    base = build_tiny_qwen3vl(
        work / "base",
        seed=args.seed,
        corpus=training_corpus(train_file),
        vocab_size=args.vocab_size,
        merge_across_words=True,
        max_pixels=args.max_pixels,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=8,
        num_kv_heads=4,
        head_dim=args.hidden_size // 8,
        intermediate_size=args.hidden_size * 3,
        vision_hidden_size=args.vision_hidden_size,
        vision_depth=args.vision_depth,
        vision_heads=4,
    )
    cfg = load_config("tiny_scratch", args.overrides)
    cfg.model, cfg.train_files, cfg.dataset_root = str(base), [str(train_file)], str(root)
    cfg.output_dir = str(work / "run")
    from training.train import train

    final = train(cfg).final
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(final, out)
    size = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    if size > MAX_BUNDLE_BYTES:
        raise ValueError(f"{out}: weights are {size / 2**20:.1f} MB, over the 40 MB bundle limit; shrink the model")
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    recipe = {
        # What the model was really trained on: the data's own manifest (not the --episodes default with --data).
        "data": {"root": str(root), "episodes": manifest.get("episodes"), "settings": manifest.get("settings")},
        "seed": args.seed,
        "model": {
            "vocab_size": args.vocab_size,
            "hidden_size": args.hidden_size,
            "layers": args.layers,
            "vision_hidden_size": args.vision_hidden_size,
            "vision_depth": args.vision_depth,
            "max_pixels": args.max_pixels,
        },
        "config": cfg.to_dict(),
    }
    (out / "RECIPE.json").write_text(json.dumps(recipe, indent=2) + "\n")
    print(f"tiny model: {out} ({size / 2**20:.1f} MB of weights)")
    return out
