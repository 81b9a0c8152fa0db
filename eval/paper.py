"""Published ViFailback-Bench numbers (arXiv 2512.02787), for the comparison table of a run on the official bench.

Values in % as printed in the paper; ``None`` where the paper gives no number. The ViFailback-8B average is given
only as "about 84"; 84.11 is the item-weighted value of its Lite and Hard numbers (2,622 and 2,192 items).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vifailback_demo.core.prompts import (
    TAG_COT_AVOIDANCE,
    TAG_FAILURE_REASON,
    TAG_HIGHLEVEL_AVOIDANCE,
    TAG_HIGHLEVEL_CORRECTION,
    TAG_KEYFRAME,
    TAG_LOWLEVEL_CORRECTION,
    TAG_SUBTASK,
)

OFFICIAL_BENCH_NAME = "ViFailback_VQA_benchmark.json"
#: The synthetic world writes this generator name into ``<dataset root>/manifest.json``.
SIM_GENERATOR = "vifailback_demo.sim"
#: Item counts of the official bench (the weights of the paper's "Average").
PAPER_LITE_ITEMS = 2622
PAPER_HARD_ITEMS = 2192

#: (model, Lite, Hard, Average) from the paper's main table.
PAPER_RESULTS: tuple[tuple[str, float, float, float], ...] = (
    ("Qwen3-VL-8B (base)", 38.33, 33.04, 35.92),
    ("RoboBrain2.0-32B", 49.92, 29.22, 40.50),
    ("Qwen3-VL-32B", 47.79, 35.23, 42.07),
    ("Qwen2.5-VL-72B", 50.61, 36.56, 44.21),
    ("GPT-4o", 48.21, 40.00, 44.47),
    ("Gemini-2.5-Pro", 54.64, 32.45, 44.54),
    ("ViFailback-8B", 93.70, 72.64, 84.11),
)

#: ViFailback-8B per task, where the paper states it.
PAPER_VIFAILBACK_8B_PER_TASK: dict[str, float] = {
    TAG_KEYFRAME: 92.58,
    TAG_SUBTASK: 93.48,
    TAG_LOWLEVEL_CORRECTION: 95.93,
    TAG_COT_AVOIDANCE: 47.95,
    TAG_FAILURE_REASON: 83.97,
    TAG_HIGHLEVEL_AVOIDANCE: 85.36,
    TAG_HIGHLEVEL_CORRECTION: 81.79,
}


def weighted_average(lite: float | None, n_lite: int, hard: float | None, n_hard: int) -> float | None:
    """The paper's "Average": Lite and Hard weighted by their item counts (a missing split is left out)."""
    parts = [(v, n) for v, n in ((lite, n_lite), (hard, n_hard)) if v is not None and n > 0]
    total = sum(n for _, n in parts)
    return sum(v * n for v, n in parts) / total if total else None


def looks_official(bench_name: str, dataset_root: str | os.PathLike | None) -> bool:
    """The official bench's file name, and not a synthetic bench (the sim uses the same name, with a manifest)."""
    if bench_name != OFFICIAL_BENCH_NAME:
        return False
    manifest = Path(dataset_root or ".") / "manifest.json"
    try:
        generator = json.loads(manifest.read_text()).get("generator")
    except (OSError, ValueError, AttributeError):
        return True
    return generator != SIM_GENERATOR
