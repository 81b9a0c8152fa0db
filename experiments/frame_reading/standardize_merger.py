"""Standardise what the vision-language merger hands the language model, folded into the merger's last layer.

A small VLM trained from scratch can end up with merger outputs about 260 times the size of its text embeddings,
much of them a pattern that every frame shares (the static scene), with features whose spreads differ by 80x. The language model reads each visual token through an RMS norm, which keeps that shared pattern and those
scales; what changes between frames (a gripper closed or not) is then a small part of every token. Measured with
the failure probe's classifier on the bundled tiny model's frozen features: read through a per-token RMS norm, as the
language model reads them, failure type stayed at the blind rate (52% of failed episodes after 1,000 steps); after
subtracting each feature's mean and dividing by its spread over the training frames, 66% at 1,000 steps and 72.5%
at 1,500, as with a normalisation per token position (73%).

Qwen3-VL hands the language model a second kind of visual input: each ``deepstack_merger_list.N`` output is added
to the hidden states at the visual tokens after the language model's layer N. Standardising only the merger leaves
those (RMS 2.5 against the standardised tokens' 1 in the bundled model, much of it shared by every token) to swamp
the standardised tokens from layer N on, so every one of them is standardised the same way.

That per-feature standardisation is affine, so it folds exactly into each merger's ``linear_fc2``:
``W' = diag(s / sd) W`` and ``b' = s (b - mean) / sd``. The model written is the same architecture, loadable as
before; only those mergers' last layers differ. The language model has to learn the new inputs (train with
``freeze_vision=true train_merger=false`` to keep them standardised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from experiments.frame_reading.model_output import check_new_dir, save_model_dir


class _Moments:
    """Running per-feature sum and sum of squares, in float64."""

    def __init__(self) -> None:
        self.total, self.squares, self.count = 0.0, 0.0, 0

    def add(self, x: torch.Tensor) -> None:
        x = x.double().reshape(-1, x.shape[-1])
        self.total, self.squares = self.total + x.sum(0), self.squares + (x**2).sum(0)
        self.count += x.shape[0]

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count
        return mean.float(), (self.squares / self.count - mean**2).clamp(min=0).sqrt().float()


@torch.no_grad()
def merger_statistics(visual: Any, processor: Any, roots: list[str], episodes: int | None) -> dict[str, Any]:
    """Per-feature mean and spread of every output the language model receives from the tower, over every frame
    the datasets' episodes use: ``merger`` (the visual tokens) and ``deepstack_merger_list.N`` (added to the
    language model's hidden states at those tokens after its layer N)."""
    from experiments.frame_reading.failure_probe import episode_frames

    moments: dict[str, _Moments] = {}
    for root in roots:
        for _, inputs in episode_frames(processor, root, episodes, progress="frames"):
            out = visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"], return_dict=True)
            named = {"merger": out.pooler_output}
            named.update({f"deepstack_merger_list.{i}": f for i, f in enumerate(out.deepstack_features or [])})
            for name, feats in named.items():
                moments.setdefault(name, _Moments()).add(feats)
    if not moments:
        raise ValueError(f"{', '.join(roots)}: no episodes with frames")
    return {name: (*m.mean_std(), m.count) for name, m in moments.items()}


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
    outputs = {}
    for name, (mean, std, tokens) in stats.items():
        fold_standardisation(visual.get_submodule(name).linear_fc2, mean, std, scale)
        outputs[name] = {
            "tokens": tokens,
            "before": {
                "rms": round((mean**2 + std**2).mean().sqrt().item(), 4),
                "mean_abs_mean": round(mean.abs().mean().item(), 4),
                "std_min": round(std.min().item(), 4),
                "std_median": round(std.median().item(), 4),
                "std_max": round(std.max().item(), 4),
            },
            "mean": [round(v, 6) for v in mean.tolist()],
            "std": [round(v, 6) for v in std.tolist()],
        }
    report = {"model": model_dir, "data": data, "episodes": episodes, "scale": scale, "outputs": outputs}
    save_model_dir(model, model_dir, target, {"standardize.json": report})
    return report
