"""One full chain-of-thought diagnosis of 12 frames with the bundled tiny model on CPU, against a naive baseline.

    python benchmarks/tiny_latency.py [--model assets/models/vifailback-tiny] [--repeats 3]

The candidate is the app's path: ``Diagnoser`` with the transformers backend (KV cache on, greedy), sampling 12
evenly spaced frames from a bundled example clip, parsing and rendering the keyframe. The baseline is the same
model, frames and prompt decoding without a KV cache (every new token recomputes the whole sequence), run in the
same process. Target: under 2 s per diagnosis on a 2-core CPU. This machine is noisy; quote the ratio, and absolute
times only from a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vifailback_demo.diagnosis.diagnoser import Diagnoser  # noqa: E402
from vifailback_demo.models.backend import GenerationSettings  # noqa: E402
from vifailback_demo.models.transformers_backend import TransformersBackend, TransformersOptions  # noqa: E402
from vifailback_demo.video.sampling import SamplingSpec  # noqa: E402
from vifailback_demo.video.sources import read_frames  # noqa: E402

TARGET_S = 2.0


class NoCacheBackend(TransformersBackend):
    """The naive baseline: the same backend, decoding without a KV cache."""

    def _generate_kwargs(self, settings):
        return {**super()._generate_kwargs(settings), "use_cache": False}


def time_runs(diagnoser: Diagnoser, frames, task: str, repeats: int) -> tuple[float, object]:
    samples, last = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        last = diagnoser.diagnose(frames, task, "avoidance")
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "vifailback-tiny"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    index = json.loads((REPO / "assets" / "examples" / "index.json").read_text())
    example = next(e for e in index["examples"] if not e["success"])
    clip = REPO / "assets" / "examples" / example["clip"]
    sampled = read_frames(clip, SamplingSpec(rule="even", num_frames=args.frames))
    settings = GenerationSettings(max_new_tokens=512)
    options = TransformersOptions(model=args.model, dtype="float32")
    fast = Diagnoser(TransformersBackend(options), settings=settings)
    slow = Diagnoser(NoCacheBackend(options), settings=settings)
    fast.diagnose(sampled, example["task"], "avoidance")  # warm-up: load the model, first-call overheads
    slow.diagnose(sampled, example["task"], "avoidance")
    ours, result = time_runs(fast, sampled, example["task"], args.repeats)
    base, _ = time_runs(slow, sampled, example["task"], max(1, args.repeats // 2))
    print(
        f"example: {example['name']} ({len(sampled.frames)} frames), new tokens: {result.new_tokens}, status: {result.status}"
    )
    print("stages (s): " + ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items() if not k.startswith("backend")))
    status = "ok" if ours < TARGET_S else "OVER TARGET"
    print(
        f"diagnosis: {ours:.3f} s (KV cache) | baseline without cache: {base:.3f} s | speed-up x{base / ours:.2f} | target < {TARGET_S} s: {status}"
    )


if __name__ == "__main__":
    main()
