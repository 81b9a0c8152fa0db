"""Standardise what the vision-language merger hands the language model, folded into the merger's last layer.

A small VLM trained from scratch can end up with merger outputs about 260 times the size of its text embeddings,
much of them a pattern that every frame shares (the static scene), with features whose spreads differ by 80x. The language model reads each visual token through an RMS norm, which keeps that shared pattern and those
scales; what changes between frames (a gripper closed or not) is then a small part of every token. Measured with
the failure probe's classifier on the bundled tiny model's frozen features: read through a per-token RMS norm, as the
language model reads them, failure type stayed at the blind rate (52% of failed episodes after 1,000 steps); after
subtracting each feature's mean and dividing by its spread over the training frames, 66% at 1,000 steps and 72.5%
at 1,500, as with a normalisation per token position (73%).

That per-feature standardisation is affine, so it folds exactly into ``merger.linear_fc2``:
``W' = diag(s / sd) W`` and ``b' = s (b - mean) / sd``. The model written is the same architecture, loadable as
before; only the merger's last layer differs. The language model has to learn the new inputs (train with
``freeze_vision=true train_merger=false`` to keep them standardised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from training.model_output import check_new_dir, save_model_dir


@torch.no_grad()
def merger_statistics(visual: Any, processor: Any, roots: list[str], episodes: int | None) -> dict[str, Any]:
    """Per-feature mean and standard deviation of the merger outputs over every frame the datasets' episodes use."""
    from training.failure_probe import encode_episodes

    total, squares, count = None, None, 0
    for root in roots:
        for ep in encode_episodes(visual, processor, root, episodes, progress="frames"):
            x = ep["feats"].double().reshape(-1, ep["feats"].shape[-1])
            total = x.sum(0) if total is None else total + x.sum(0)
            squares = (x**2).sum(0) if squares is None else squares + (x**2).sum(0)
            count += x.shape[0]
    mean = total / count
    std = (squares / count - mean**2).clamp(min=0).sqrt()
    return {"mean": mean.float(), "std": std.float(), "tokens": count}


def fold_standardisation(merger_fc2: torch.nn.Linear, mean: torch.Tensor, std: torch.Tensor, scale: float) -> None:
    """Make ``merger_fc2(h)`` return ``scale * (old(h) - mean) / std``, in place."""
    factor = scale / std.clamp(min=1e-6)
    with torch.no_grad():
        merger_fc2.weight.mul_(factor[:, None].to(merger_fc2.weight.dtype))
        merger_fc2.bias.sub_(mean.to(merger_fc2.bias.dtype)).mul_(factor.to(merger_fc2.bias.dtype))


def standardize_merger(
    model_dir: str, data: list[str], out: str, episodes: int | None = None, scale: float = 1.0
) -> dict[str, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if not scale > 0:
        raise ValueError(f"--scale {scale}: expected a positive number")
    if episodes is not None and episodes < 1:
        raise ValueError(f"--episodes {episodes}: expected a positive integer")
    if not (Path(model_dir) / "config.json").is_file():
        raise ValueError(f"--model {model_dir}: expected a local model directory with config.json")
    for root in data:
        if not (Path(root) / "annotations.json").is_file():
            raise ValueError(f"{root}: no annotations.json; expected a dataset folder (official schema)")
    target = check_new_dir(out)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    visual = model.model.visual.eval()
    stats = merger_statistics(visual, AutoProcessor.from_pretrained(model_dir), data, episodes)
    mean, std = stats["mean"], stats["std"]
    fold_standardisation(visual.merger.linear_fc2, mean, std, scale)
    report = {
        "model": model_dir,
        "data": data,
        "episodes": episodes,
        "scale": scale,
        "tokens": stats["tokens"],
        "before": {
            "mean_abs_mean": round(mean.abs().mean().item(), 4),
            "std_min": round(std.min().item(), 4),
            "std_median": round(std.median().item(), 4),
            "std_max": round(std.max().item(), 4),
        },
        "mean": [round(v, 6) for v in mean.tolist()],
        "std": [round(v, 6) for v in std.tolist()],
    }
    save_model_dir(model, model_dir, target, {"standardize.json": report})
    return report
