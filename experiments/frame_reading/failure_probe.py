"""Failure probe: how much of the failure type can be read from a model's frame features, and how much from the rest?

A VLM that answers failure types no better than a guess from the task text may have a vision tower that does not
see failures, or a language model that does not read what the tower sees. This tells the two apart. Every
episode's frames (the ``images`` of its annotation, as the VQA items use them) go once through the model's frozen
vision tower and merger, exactly what the language model receives. Two small classifiers then learn the failure
type (or success) from the same batches in the same process:

* **frames**: per frame, a normalisation (``--norm``, below), an MLP shared by every token, max and mean pooled;
  then a 2-layer transformer over the frames with the task family and the arms named in the task;
* **blind**: the same network with every frame's features zeroed, so it sees the task family, the arms and the
  number of frames: what a model can guess without looking.

Held-out episodes (another dataset, other seeds) are scored by both, per episode, and the report keeps every
prediction. The frames head's accuracy is a lower bound on what the features carry; the gap to the blind head is
what a language model could gain by reading them. Nothing is trained in the model; it is only read.

``--norm`` picks how the classifier first sees each token: ``position`` (default) standardises every feature at
every token position over the batch, which removes the pattern all frames share; ``token`` divides each token by its
RMS and nothing else, as a language model's RMS norm reads it; ``feature`` standardises each feature with its mean
and spread over the training frames, then divides by the RMS, which is what ``standardize-merger`` folds into a model.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vifailback_demo.core.answer import FAILURE_TYPES
from vifailback_demo.core.dataset import load_annotation_records, write_json_atomic

CLASSES = ("success", *FAILURE_TYPES)
MAX_FRAMES = 32
NORMS = ("position", "token", "feature")


@dataclass
class ProbeConfig:
    model: str
    data: list[str]  # dataset folders, each with annotations.json
    eval_data: str
    out: str  # the report (JSON); must not exist
    steps: int = 3000  # optimizer steps of each head
    batch_size: int = 32  # episodes a step
    learning_rate: float = 1e-3
    episodes: int | None = None  # per --data dataset; None = all
    max_pixels: int | None = None  # None = the model's own pixel budget
    norm: str = "position"  # how the classifier first sees each token: one of NORMS
    seed: int = 0

    def validate(self) -> ProbeConfig:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a positive integer")
        if not self.learning_rate > 0:
            raise ValueError(f"--lr {self.learning_rate}: expected a positive number")
        if self.norm not in NORMS:
            raise ValueError(f"--norm {self.norm}: expected one of {', '.join(NORMS)}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"--episodes {self.episodes}: expected a positive integer")
        if Path(self.out).exists():
            raise ValueError(f"--out {self.out}: already exists; expected a new file (nothing is overwritten)")
        if not (Path(self.model) / "config.json").is_file():
            raise ValueError(f"--model {self.model}: expected a local model directory with config.json")
        for root in [*self.data, self.eval_data]:
            if not (Path(root) / "annotations.json").is_file():
                raise ValueError(f"{root}: no annotations.json; expected a dataset folder (official schema)")
        return self


def _family(images: list[str]) -> str:
    """The task folder of an episode: ``annotated_data/<task>/frames/<episode>/0.jpg`` -> ``<task>``."""
    parts = Path(images[0]).parts
    return parts[1] if len(parts) > 2 else parts[0]


def _arms(task: str) -> int:
    text = task.lower()
    return int("left arm" in text) + 2 * int("right arm" in text)


def episode_frames(processor: Any, root: str, limit: int | None, progress: str = ""):
    """Yield each episode's annotation record and its frames as the processor prepares them for the tower."""
    from PIL import Image

    records = load_annotation_records(Path(root) / "annotations.json")[:limit]
    for n, rec in enumerate(records):
        if not rec.images:
            continue
        if len(rec.images) > MAX_FRAMES:
            raise ValueError(f"{root}: an episode with {len(rec.images)} frames; expected at most {MAX_FRAMES}")
        frames = []
        for rel in rec.images:
            path = Path(root) / rel
            if not path.is_file():
                raise ValueError(f"{path}: no such frame; expected every image the annotations name")
            frames.append(Image.open(path).convert("RGB"))
        out = processor.image_processor(images=frames, return_tensors="pt")
        if len({tuple(g) for g in out["image_grid_thw"].tolist()}) != 1:
            raise ValueError(f"{root}: frames of different sizes in one episode; expected one camera resolution")
        yield rec, out
        if progress and n % 250 == 0:
            print(f"{progress}: {root} episode {n}/{len(records)}", flush=True)


@torch.no_grad()
def encode_episodes(visual: Any, processor: Any, root: str, limit: int | None, progress: str = "") -> list[dict]:
    """Each episode's frame features (frames, tokens, width; fp16) with its class, task folder and arms."""
    episodes = []
    for rec, out in episode_frames(processor, root, limit, progress):
        label = (rec.failure_type or "success") if rec.failed else "success"
        if label not in CLASSES:
            raise ValueError(f"{root}: failure type {label!r}; expected one of {', '.join(CLASSES[1:])}")
        merged = visual(out["pixel_values"], grid_thw=out["image_grid_thw"], return_dict=True).pooler_output
        episodes.append(
            {
                "feats": merged.view(len(rec.images), -1, merged.shape[-1]).half(),
                "label": CLASSES.index(label),
                "family": _family(rec.images),
                "arms": _arms(rec.task),
                "images": rec.images[0].rsplit("/", 1)[0],
            }
        )
    if not episodes:
        raise ValueError(f"{root}: no episodes with frames")
    return episodes


class EpisodeHead(nn.Module):
    """Frames -> failure type. With ``blind`` the frame features are zeroed after pooling (task and count only)."""

    def __init__(
        self, tokens: int, width: int, families: int, blind: bool, norm: str, stats: tuple, d: int = 128
    ) -> None:
        super().__init__()
        self.blind, self.norm_kind = blind, norm
        self.register_buffer("feature_mean", stats[0])
        self.register_buffer("feature_std", stats[1])
        # Merger outputs carry a large pattern fixed per token position (the static scene); normalising per
        # position and feature leaves what changes between frames.
        self.norm = nn.BatchNorm1d(tokens * width)
        self.token_mlp = nn.Sequential(nn.Linear(width, 192), nn.GELU(), nn.Linear(192, 192), nn.GELU())
        self.frame = nn.Linear(384, d)
        self.position = nn.Embedding(MAX_FRAMES, d)
        self.family = nn.Embedding(families + 1, d)  # index 0: a task folder not seen in training
        self.arms = nn.Embedding(4, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True, norm_first=True)
        self.frames = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(d, len(CLASSES))

    def forward(self, feats: torch.Tensor, mask: torch.Tensor, family: torch.Tensor, arms: torch.Tensor):
        b, f, t, w = feats.shape  # mask (b, f): True for a real frame, False for padding
        flat = feats.float().reshape(b * f, t * w)
        real = mask.reshape(-1)
        normed = torch.zeros_like(flat)
        if self.norm_kind == "position":
            normed[real] = self.norm(flat[real])  # padding stays out of the batch statistics
        else:
            x = flat[real].view(-1, t, w)
            if self.norm_kind == "feature":
                x = (x - self.feature_mean) / self.feature_std
            normed[real] = (x * x.pow(2).mean(-1, keepdim=True).add(1e-6).rsqrt()).reshape(-1, t * w)
        h = self.token_mlp(normed.view(b * f, t, w))
        v = self.frame(torch.cat([h.amax(1), h.mean(1)], -1)).view(b, f, -1)
        if self.blind:
            v = torch.zeros_like(v)
        v = v + self.position(torch.arange(f))[None]
        cls = self.cls.expand(b, 1, -1) + self.family(family)[:, None] + self.arms(arms)[:, None]
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool), mask], 1)
        return self.out(self.frames(torch.cat([cls, v], 1), src_key_padding_mask=~keep)[:, 0])


def collate(episodes: list[dict], idx: list[int], families: dict[str, int]) -> tuple[torch.Tensor, ...]:
    f = max(episodes[i]["feats"].shape[0] for i in idx)
    t, w = episodes[idx[0]]["feats"].shape[1:]
    feats = torch.zeros(len(idx), f, t, w, dtype=torch.float16)
    mask = torch.zeros(len(idx), f, dtype=torch.bool)
    for k, i in enumerate(idx):
        n = episodes[i]["feats"].shape[0]
        feats[k, :n], mask[k, :n] = episodes[i]["feats"], True
    family = torch.tensor([families.get(episodes[i]["family"], 0) for i in idx])
    arms = torch.tensor([episodes[i]["arms"] for i in idx])
    labels = torch.tensor([episodes[i]["label"] for i in idx])
    return feats, mask, family, arms, labels


@torch.no_grad()
def predict(head: EpisodeHead, episodes: list[dict], families: dict[str, int]) -> list[int]:
    head.eval()
    preds: list[int] = []
    for start in range(0, len(episodes), 64):
        feats, mask, family, arms, _ = collate(episodes, list(range(start, min(start + 64, len(episodes)))), families)
        preds += head(feats, mask, family, arms).argmax(-1).tolist()
    return preds


def score(preds: list[int], episodes: list[dict]) -> dict[str, Any]:
    """Accuracy over all episodes (success is a class) and over failed ones (the failure type rate of the bench)."""
    labels = [e["label"] for e in episodes]
    failed = [(p, y) for p, y in zip(preds, labels, strict=True) if y > 0]
    confusion = Counter((CLASSES[y], CLASSES[p]) for p, y in zip(preds, labels, strict=True))
    return {
        "accuracy": round(100 * sum(p == y for p, y in zip(preds, labels, strict=True)) / len(labels), 2),
        "failure_type": round(100 * sum(p == y for p, y in failed) / max(len(failed), 1), 2),
        "confusion": {f"{y} -> {p}": n for (y, p), n in sorted(confusion.items())},
    }


def run_probe(cfg: ProbeConfig) -> dict[str, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cfg.validate()
    torch.manual_seed(cfg.seed)
    kwargs = {"size": {"longest_edge": cfg.max_pixels, "shortest_edge": 1024}} if cfg.max_pixels else {}
    processor = AutoProcessor.from_pretrained(cfg.model, **kwargs)
    visual = AutoModelForImageTextToText.from_pretrained(cfg.model, dtype=torch.float32).model.visual.eval()
    started = time.time()
    train = [e for root in cfg.data for e in encode_episodes(visual, processor, root, cfg.episodes, "encoding")]
    held_out = encode_episodes(visual, processor, cfg.eval_data, None, "encoding held-out")
    print(
        f"{len(train)} train and {len(held_out)} held-out episodes encoded, {time.time() - started:.0f} s", flush=True
    )
    families = {name: k + 1 for k, name in enumerate(sorted({e["family"] for e in train}))}
    tokens, width = train[0]["feats"].shape[1:]
    every = torch.cat([e["feats"].float().reshape(-1, width) for e in train])
    stats = (every.mean(0), every.std(0).clamp(min=1e-3))  # for --norm feature
    del every
    heads = {
        name: EpisodeHead(tokens, width, len(families), blind=name == "blind", norm=cfg.norm, stats=stats)
        for name in ("frames", "blind")
    }
    for head in heads.values():
        head.load_state_dict(heads["frames"].state_dict())  # same start, same batches: only the frames differ
    optims = {
        name: torch.optim.AdamW(h.parameters(), lr=cfg.learning_rate, weight_decay=0.05) for name, h in heads.items()
    }
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: dict[str, list[float]] = {name: [] for name in heads}
    for step in range(1, cfg.steps + 1):
        scale = min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))  # warm-up, then cosine
        feats, mask, family, arms, labels = collate(
            train, torch.randint(len(train), (cfg.batch_size,), generator=gen).tolist(), families
        )
        for name, head in heads.items():
            head.train()
            for group in optims[name].param_groups:
                group["lr"] = cfg.learning_rate * scale
            loss = nn.functional.cross_entropy(head(feats, mask, family, arms), labels)
            optims[name].zero_grad()
            loss.backward()
            optims[name].step()
            losses[name].append(loss.item())
        if step % 100 == 0 or step == cfg.steps:
            recent = {name: round(sum(v[-100:]) / len(v[-100:]), 4) for name, v in losses.items()}
            print(f"step {step}/{cfg.steps} train loss {recent} ({time.time() - started:.0f} s)", flush=True)
    preds = {name: predict(head, held_out, families) for name, head in heads.items()}
    results = {name: score(p, held_out) for name, p in preds.items()}
    report = {
        "config": asdict(cfg),
        "train_episodes": len(train),
        "held_out_episodes": len(held_out),
        "classes": dict(Counter(CLASSES[e["label"]] for e in held_out)),
        "frames": results["frames"],
        "blind": results["blind"],
        "gap": {k: round(results["frames"][k] - results["blind"][k], 2) for k in ("accuracy", "failure_type")},
        "first_train_loss": {name: round(sum(v[:100]) / len(v[:100]), 4) for name, v in losses.items()},
        "last_train_loss": {name: round(sum(v[-100:]) / len(v[-100:]), 4) for name, v in losses.items()},
        "seconds": round(time.time() - started),
        "per_episode": [
            {"episode": e["images"], "reference": CLASSES[e["label"]]}
            | {name: CLASSES[preds[name][k]] for name in heads}
            for k, e in enumerate(held_out)
        ],
    }
    write_json_atomic(cfg.out, report)
    return report
