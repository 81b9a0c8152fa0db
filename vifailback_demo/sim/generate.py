"""Generate a synthetic ViFailback dataset: episodes streamed to disk, VQA files, and a manifest.

Episodes are independent (each has its own random stream from ``(seed, index)``), so they can be simulated and
rendered by worker processes; the parent writes the JSON lists in episode order, which keeps the output
byte-identical for a seed whatever the number of workers. Nothing per episode stays in memory after it is written.

Split (``split``): ``train`` or ``benchmark`` puts every episode in that VQA file; ``both`` sends each episode to
the benchmark with probability ``bench_fraction`` (default 0.1), by its own seed. Both VQA files always exist.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vifailback_demo.core.dataset import write_json_atomic
from vifailback_demo.errors import SimError
from vifailback_demo.sim.dataset_writer import JsonListStream, write_episode
from vifailback_demo.sim.episode import episode_rng, make_episode
from vifailback_demo.sim.tasks import TASK_IDS
from vifailback_demo.sim.vqa import episode_records

SPLITS = ("train", "benchmark", "both")
TRAIN_FILE, BENCH_FILE = "VQA/ViFailback_VQA_train.json", "VQA/ViFailback_VQA_benchmark.json"


@dataclass
class GenerateConfig:
    episodes: int
    seed: int = 0
    out: str = "sim_data"
    split: str = "both"
    bench_fraction: float = 0.1
    width: int = 640
    height: int = 480
    video_scale: float = 0.5
    workers: int = 0  # 0: one per CPU core, at most 2 per core pair on small machines
    tasks: tuple[str, ...] = field(default_factory=lambda: TASK_IDS)
    progress: bool = True

    def check(self) -> None:
        if not isinstance(self.episodes, int) or self.episodes <= 0:
            raise SimError(f"--episodes: expected a positive number of episodes, got {self.episodes}")
        if self.split not in SPLITS:
            raise SimError(f"--split: expected one of {list(SPLITS)}, got {self.split!r}")
        if not 0.0 <= self.bench_fraction <= 1.0:
            raise SimError(f"--bench-fraction: expected a number from 0 to 1, got {self.bench_fraction}")
        unknown = [t for t in self.tasks if t not in TASK_IDS]
        if unknown or not self.tasks:
            raise SimError(f"--task: unknown task {unknown[:1] or self.tasks!r}; expected names from {list(TASK_IDS)}")
        if not 0.1 <= self.video_scale <= 1.0:
            raise SimError(f"--video-scale: expected a number from 0.1 to 1, got {self.video_scale}")

    @property
    def video_size(self) -> tuple[int, int]:
        return (
            max(2, int(self.width * self.video_scale) // 2 * 2),
            max(2, int(self.height * self.video_scale) // 2 * 2),
        )


def task_of(cfg: GenerateConfig, index: int) -> str:
    """The first draw of an episode's stream picks its task (same as ``make_episode``)."""
    return str(episode_rng(cfg.seed, index).choice(list(cfg.tasks)))


def split_of(cfg: GenerateConfig, index: int) -> str:
    if cfg.split != "both":
        return cfg.split
    return "benchmark" if np.random.default_rng([cfg.seed, index, 1]).random() < cfg.bench_fraction else "train"


def _produce(job: tuple[GenerateConfig, int, int]) -> dict[str, Any]:
    """Simulate, render and write one episode; returns only small JSON-able results."""
    cfg, index, number = job
    ep = make_episode(cfg.seed, index, tasks=cfg.tasks, width=cfg.width, height=cfg.height)
    record = write_episode(ep, Path(cfg.out), number, video_size=cfg.video_size)
    records = episode_records(ep, record.images, np.random.default_rng([cfg.seed, index, 2]))
    return {
        "record": record.to_dict(),
        "vqa": [r.to_dict() for r in records],
        "split": split_of(cfg, index),
        "task": ep.task.task_id,
        "variant": ep.injection.variant if ep.injection else "success",
        "failure_type": ep.injection.failure_type if ep.injection else "success",
        "frames": ep.num_frames,
    }


def check_out_dir(out: str | os.PathLike) -> Path:
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise SimError(f"--out {root}: expected a directory, found a file")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimError(f"--out {root}: cannot create the output directory ({exc.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise SimError(f"--out {root}: the directory is not writable; expected a writable output directory")
    return root


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    """Write the dataset; returns the manifest (also written to ``<out>/manifest.json``)."""
    cfg.check()
    root = check_out_dir(cfg.out)
    counters: dict[str, int] = Counter()
    jobs = []
    for index in range(cfg.episodes):
        task = task_of(cfg, index)
        jobs.append((cfg, index, counters[task]))
        counters[task] += 1
    workers = cfg.workers or min(2, os.cpu_count() or 1)
    streams = {
        "annotations": JsonListStream(root / "annotations.json"),
        "train": JsonListStream(root / TRAIN_FILE),
        "benchmark": JsonListStream(root / BENCH_FILE),
    }
    counts: dict[str, Counter] = {
        k: Counter() for k in ("failure_type", "variant", "task", "split", "tag_train", "tag_benchmark")
    }
    frames = 0
    from tqdm import tqdm

    bar = tqdm(total=cfg.episodes, desc="episodes", unit="ep", file=sys.stderr, disable=not cfg.progress)
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_produce, jobs) if pool else map(_produce, jobs)
        for res in results:
            streams["annotations"].add(res["record"])
            for rec in res["vqa"]:
                streams[res["split"]].add(rec)
                counts[f"tag_{res['split']}"][rec["tag"]] += 1
            for key in ("failure_type", "variant", "task", "split"):
                counts[key][res[key]] += 1
            frames += res["frames"]
            bar.update(1)
    except BaseException:
        for s in streams.values():
            s.abort()
        raise
    finally:
        bar.close()
        if pool:
            pool.terminate()
    for s in streams.values():
        s.close()
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("out", "progress", "workers")}
    settings["tasks"] = list(cfg.tasks)
    manifest = {
        "generator": "vifailback_demo.sim",
        "settings": settings,
        "video_size": list(cfg.video_size),
        "episodes": cfg.episodes,
        "successes": counts["failure_type"]["success"],
        "frames": frames,
        "counts": {k: dict(sorted(v.items())) for k, v in counts.items()},
        "files": {"annotations": "annotations.json", "train": TRAIN_FILE, "benchmark": BENCH_FILE},
        "vqa_records": {"train": streams["train"].count, "benchmark": streams["benchmark"].count},
    }
    write_json_atomic(root / "manifest.json", manifest)
    return manifest
