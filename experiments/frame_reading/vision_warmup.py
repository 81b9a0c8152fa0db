"""Vision warm-up: teach the vision tower the scene's state directly, before (or instead of) VQA training.

Trained only through answer tokens, a small vision tower gets a weak, noisy gradient: most answer tokens follow from
the text, and a tiny model learns those first and then stops looking (``python -m training frame-reliance``). Here
each frame of a synthetic dataset is labelled with the simulator's exact state (re-simulated from the manifest, as
``python -m experiments.frame_reading probes`` does) and the tower + merger learn to predict it through a small
head: per gripper its shape (open / half-closed / closed / holding) and where it is (nothing near / at / above /
beside an object), its fingertip position and finger gap; for the first three graspable objects where each rests
and its position; whether a human hand is in view. The head is thrown away; the model directory written has the new
tower and merger and the language model unchanged, ready for ``python -m training train`` (with
``freeze_vision=true`` to keep what it learned).

``--freeze-tower`` trains the head alone: a probe of what an existing tower already encodes.
Every run writes warmup.json: the settings and, per evaluation, held-out accuracy per label beside the majority class,
balanced accuracy beside chance, and R^2 of the positions. OUT must be new or empty; nothing is overwritten.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from experiments.frame_reading.model_output import check_new_dir, save_model_dir
from experiments.frame_reading.sim_probes import config_from_manifest, gripper_state, simulated_episodes
from vifailback_demo.sim.scene import ObjectSpec
from vifailback_demo.sim.world import HAND, WorldState

SHAPES = ("open", "half-closed", "closed", "holds")
RELATIONS = ("none", "at", "above", "beside")
PLACES = ("table", "gripper", "on or in an object", "human hand", "absent")
OBJECTS = 3  # graspable objects labelled per frame (spec order); tasks have one to three
#: Categorical labels: name -> number of classes. Regression targets: arm x, y, z, gap (x2), object x, y, z (x3).
HEADS = {
    **{f"{arm}_{kind}": len(c) for arm in ("left", "right") for kind, c in (("shape", SHAPES), ("near", RELATIONS))},
    **{f"object{k}_place": len(PLACES) for k in range(OBJECTS)},
    "hand": 2,
}
REGRESSION = 8 + 3 * OBJECTS


@dataclass
class WarmupConfig:
    model: str
    data: list[str]
    eval_data: str
    out: str
    steps: int = 1500
    batch_size: int = 64  # frames a step
    learning_rate: float = 1e-3  # head; the tower and merger get tower_lr
    tower_lr: float = 3e-4
    freeze_tower: bool = False  # head only: what does the tower already encode?
    max_pixels: int | None = None  # default: the model's processor
    episodes: int | None = None  # per dataset (default all)
    video_frames: int = 0  # train on N frames per episode from its video (0: the ~13 JPEG frames of its VQA items)
    eval_every: int = 500
    seed: int = 0

    def validate(self) -> WarmupConfig:
        """One-line errors before anything loads: counts must be positive (a batch of one breaks batch norm)."""
        minimum = {"steps": 1, "batch_size": 2, "eval_every": 1, "video_frames": 0, "episodes": 1, "max_pixels": 1024}
        for name, least in minimum.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"--{name.replace('_', '-')} {value}: expected at least {least}")
        if self.learning_rate <= 0 or self.tower_lr <= 0:
            raise ValueError("--lr and --tower-lr: expected positive learning rates")
        return self


def frame_labels(state: WorldState, specs: list[ObjectSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class per head, regression targets, regression mask) of one frame."""
    classes = []
    for arm in (0, 1):
        shape, relation, _ = gripper_state(state, arm, specs)
        classes += [SHAPES.index(shape), RELATIONS.index(relation or "none")]
    graspable = [i for i, s in enumerate(specs) if s.graspable][:OBJECTS]
    target = np.zeros(REGRESSION, np.float32)
    mask = np.zeros(REGRESSION, np.float32)
    target[:8] = state.arms[:, [0, 1, 2, 4]].reshape(-1)
    mask[:8] = 1
    for k in range(OBJECTS):
        if k >= len(graspable):
            classes.append(PLACES.index("absent"))
            continue
        i = graspable[k]
        holder = int(state.holder[i])
        place = 3 if holder == HAND else 1 if holder >= 0 else 0 if state.support[i] < 0 else 2
        classes.append(place)
        target[8 + 3 * k : 11 + 3 * k] = state.objects[i, :3]
        mask[8 + 3 * k : 11 + 3 * k] = 1
    classes.append(int(state.hand[0] > 0))
    return np.array(classes, np.int64), target, mask


def video_frames(video: Path, indices: list[int]) -> list[Any]:
    """The frames of a sim video at the given indices (frame k of the video is simulator state k), as PIL images."""
    import av

    if not video.is_file():
        raise ValueError(f"{video}: no such video; expected the episode video of a 'vifailback sim generate' dataset")
    wanted, images = set(indices), {}
    with av.open(str(video), timeout=30) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k in wanted:
                images[k] = frame.to_image()
            if k >= max(wanted):
                break
    if len(images) != len(wanted):
        raise ValueError(f"{video}: {len(images)} of {len(wanted)} frames decoded; expected the episode's whole video")
    return [images[k] for k in indices]


class FrameSet:
    """Frames of some generated datasets, preprocessed once (fp16 patches) with their labels.

    By default the JPEG frames the VQA records use (about 13 an episode); with ``per_video=N``, N frames spread
    evenly over each episode's video instead (every simulator step is in the video), for many more gripper states
    per scene.
    """

    def __init__(
        self, roots: list[str], processor: Any, episodes: int | None, progress: str = "", per_video: int = 0
    ) -> None:
        from PIL import Image

        pixels, classes, targets, masks, self.grid = [], [], [], [], None
        for root in roots:
            for n, item in enumerate(simulated_episodes(root)):
                if episodes is not None and n >= episodes:
                    break
                frames = item.frames
                if per_video:
                    last = len(item.episode.states) - 1
                    frames = sorted({round(x) for x in np.linspace(0, last, per_video)})
                    images = video_frames(Path(root) / item.video, frames)
                else:
                    images = [Image.open(Path(root) / p).convert("RGB") for p in item.images]
                out = processor.image_processor(images=images, return_tensors="pt")
                grids = out["image_grid_thw"]
                if self.grid is None:
                    self.grid = grids[0].tolist()
                if any(g.tolist() != self.grid for g in grids):
                    raise ValueError(f"{root}: frames of different sizes; expected one camera resolution")
                pixels.append(
                    out["pixel_values"].to(torch.float16).view(len(images), -1, out["pixel_values"].shape[-1])
                )
                for f in frames:
                    c, t, m = frame_labels(item.episode.states[f], item.episode.task.specs)
                    classes.append(c)
                    targets.append(t)
                    masks.append(m)
                if progress and n % 200 == 0:
                    print(f"{progress}: {root} episode {n}", flush=True)
        if not pixels:
            raise ValueError(f"{roots}: expected generated datasets with episodes")
        self.pixels = torch.cat(pixels)
        self.classes = torch.from_numpy(np.stack(classes))
        self.targets = torch.from_numpy(np.stack(targets))
        self.masks = torch.from_numpy(np.stack(masks))

    def __len__(self) -> int:
        return len(self.classes)


class StateHead(nn.Module):
    """A small MLP shared by every visual token, pooled over the frame (max and mean), then a linear layer to labels.

    Sharing the MLP across positions and pooling makes "is there a hand / a held object anywhere" cheap to say and
    leaves the head too small to memorise frames, so what it learns has to come from the tower (a first head on
    all tokens flattened, 2 M parameters, fit the training frames and generalised no better than chance).
    Merger outputs are large and dominated by a fixed per-position pattern; a batch normalisation per position
    and feature removes it first. The head is tied to one token count (one resolution) and is discarded after.
    """

    def __init__(self, tokens: int, width: int, hidden: int = 256) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(tokens * width)
        self.token_mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.out = nn.Linear(2 * hidden, sum(HEADS.values()) + REGRESSION)

    def forward(self, tokens: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:  # tokens (B, T, width)
        x = self.norm(tokens.flatten(1)).view_as(tokens)
        h = self.token_mlp(x)
        out = self.out(torch.cat([h.amax(1), h.mean(1)], dim=-1))
        logits = list(torch.split(out[:, : sum(HEADS.values())], list(HEADS.values()), dim=1))
        return logits, out[:, sum(HEADS.values()) :]


def _encode(visual: Any, pixels: torch.Tensor, grid: list[int]) -> torch.Tensor:
    """Merger outputs of a batch of frames, (B, tokens per frame, width)."""
    b = pixels.shape[0]
    grid_thw = torch.tensor([grid] * b)
    merged = visual(pixels.reshape(-1, pixels.shape[-1]).float(), grid_thw=grid_thw, return_dict=True).pooler_output
    return merged.view(b, -1, merged.shape[-1])


def class_weights(classes: torch.Tensor) -> list[torch.Tensor]:
    """Per head, weights of 1/sqrt(frequency) (mean 1 over the frames): a hand is in 4% of frames, a grasp in 15%;
    unweighted, the head settles on the majority class."""
    weights = []
    for k, n in enumerate(HEADS.values()):
        counts = torch.bincount(classes[:, k], minlength=n).float()
        w = torch.where(counts > 0, counts.clamp(min=1).rsqrt(), torch.zeros(()))
        weights.append(w / (w[classes[:, k]].mean()))
    return weights


def _losses(
    head: StateHead, tokens: torch.Tensor, data: FrameSet, idx: torch.Tensor, norm: tuple, weights: list
) -> torch.Tensor:
    logits, reg = head(tokens)
    classes = data.classes[idx]
    loss = sum(nn.functional.cross_entropy(lg, classes[:, k], weight=weights[k]) for k, lg in enumerate(logits)) / len(
        logits
    )
    mean, std = norm
    mask = data.masks[idx]
    err = ((reg - (data.targets[idx] - mean) / std) ** 2 * mask).sum() / mask.sum().clamp(min=1)
    return loss + err


@torch.no_grad()
def evaluate(visual: Any, head: StateHead, data: FrameSet, norm: tuple, majority: torch.Tensor) -> dict[str, Any]:
    """Held-out accuracy per label (beside the train set's majority class) and R^2 of the positions."""
    hits = torch.zeros(len(HEADS))
    base = torch.zeros(len(HEADS))
    width = max(HEADS.values())
    confusion = torch.zeros(len(HEADS), width, width)  # head, true class, predicted class
    sq = torch.zeros(REGRESSION)
    var = torch.zeros(REGRESSION)
    counted = torch.zeros(REGRESSION)
    mean, std = norm
    for start in range(0, len(data), 128):
        idx = torch.arange(start, min(start + 128, len(data)))
        logits, reg = head(_encode(visual, data.pixels[idx], data.grid))
        classes = data.classes[idx]
        for k, lg in enumerate(logits):
            hits[k] += (lg.argmax(-1) == classes[:, k]).sum()
            confusion[k].index_put_((classes[:, k], lg.argmax(-1)), torch.ones(len(idx)), accumulate=True)
            base[k] += (classes[:, k] == majority[k]).sum()
        target, mask = (data.targets[idx] - mean) / std, data.masks[idx]
        sq += ((reg - target) ** 2 * mask).sum(0)
        var += (target**2 * mask).sum(0)  # against the train mean (0 after normalising)
        counted += mask.sum(0)
    n = len(data)
    # Balanced accuracy (mean recall over the classes present) shows whether rare states (holding, at an object,
    # a hand) are seen at all; always answering the majority class scores 100 / classes present.
    present = confusion.sum(-1) > 0
    recall = confusion.diagonal(dim1=1, dim2=2) / confusion.sum(-1).clamp(min=1)
    balanced = (recall * present).sum(-1) / present.sum(-1).clamp(min=1)
    per_head = {
        name: {
            "accuracy": round(100 * hits[k].item() / n, 2),
            "majority": round(100 * base[k].item() / n, 2),
            "balanced": round(100 * balanced[k].item(), 2),
            "balanced_chance": round(100 / max(int(present[k].sum()), 1), 2),
        }
        for k, name in enumerate(HEADS)
    }
    arms, objs = slice(0, 8), slice(8, REGRESSION)
    r2 = {
        group: round(1 - sq[s].sum().item() / max(var[s].sum().item(), 1e-9), 3)
        for group, s in (("arm_positions", arms), ("object_positions", objs))
        if counted[s].sum() > 0
    }
    gain = sum(v["balanced"] - v["balanced_chance"] for v in per_head.values()) / len(per_head)
    return {"labels": per_head, "r2": r2, "mean_balanced_over_chance": round(gain, 2), "frames": n}


def run_warmup(cfg: WarmupConfig) -> dict[str, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cfg.validate()
    if not (Path(cfg.model) / "config.json").is_file():
        raise ValueError(f"--model {cfg.model}: expected a local model directory with config.json")
    out = check_new_dir(cfg.out)
    for root in [*cfg.data, cfg.eval_data]:
        config_from_manifest(Path(root))  # a wrong folder fails here, before minutes of loading
    torch.manual_seed(cfg.seed)
    kwargs = {"size": {"longest_edge": cfg.max_pixels, "shortest_edge": 1024}} if cfg.max_pixels else {}
    processor = AutoProcessor.from_pretrained(cfg.model, **kwargs)
    model = AutoModelForImageTextToText.from_pretrained(cfg.model, dtype=torch.float32)
    visual = model.model.visual
    started = time.time()
    train = FrameSet(cfg.data, processor, cfg.episodes, progress="frames", per_video=cfg.video_frames)
    held_out = FrameSet([cfg.eval_data], processor, None, progress="held-out frames")
    print(f"{len(train)} train and {len(held_out)} held-out frames, grid {train.grid}, {time.time() - started:.0f} s")
    m = train.masks.sum(0).clamp(min=1)
    mean = (train.targets * train.masks).sum(0) / m
    std = (((train.targets - mean) ** 2 * train.masks).sum(0) / m).sqrt().clamp(min=1e-3)
    norm = (mean, std)
    majority = torch.tensor([torch.bincount(train.classes[:, k]).argmax() for k in range(len(HEADS))])
    weights = class_weights(train.classes)
    grid_t, grid_h, grid_w = train.grid
    head = StateHead(grid_t * grid_h * grid_w // visual.spatial_merge_size**2, visual.merger.linear_fc2.out_features)
    visual.requires_grad_(not cfg.freeze_tower)
    groups = [{"params": head.parameters(), "lr": cfg.learning_rate}]
    if not cfg.freeze_tower:
        groups.append({"params": visual.parameters(), "lr": cfg.tower_lr})
    optim = torch.optim.AdamW(groups, weight_decay=0.01)
    peak = [g["lr"] for g in optim.param_groups]
    history = [{"step": 0, **evaluate(visual.eval(), head.eval(), held_out, norm, majority)}]
    print(json.dumps(history[-1]), flush=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    running: list[float] = []
    for step in range(1, cfg.steps + 1):
        visual.train(not cfg.freeze_tower)
        head.train()
        scale = min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))  # warm-up, then cosine
        for g, lr in zip(optim.param_groups, peak):
            g["lr"] = lr * scale
        idx = torch.randint(len(train), (cfg.batch_size,), generator=gen)
        loss = _losses(head, _encode(visual, train.pixels[idx], train.grid), train, idx, norm, weights)
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in optim.param_groups for p in g["params"]], 1.0)
        optim.step()
        running.append(loss.item())
        if step % 50 == 0:
            print(f"step {step}/{cfg.steps} loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            train_loss = round(sum(running) / len(running), 5)
            running.clear()
            history.append(
                {
                    "step": step,
                    "train_loss": train_loss,
                    **evaluate(visual.eval(), head.eval(), held_out, norm, majority),
                }
            )
            print(json.dumps(history[-1]), flush=True)
    report = {"config": asdict(cfg), "history": history, "seconds": round(time.time() - started)}
    # With --freeze-tower only the report: the tower is unchanged. The processor keeps the model's own pixel budget.
    save_model_dir(None if cfg.freeze_tower else model, cfg.model, out, {"warmup.json": report})
    return report
