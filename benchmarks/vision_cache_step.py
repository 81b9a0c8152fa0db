"""Training step with the frozen tower's features cached (``vision_cache=true``) against from pixels, same process.

    python benchmarks/vision_cache_step.py [--model assets/models/vifailback-tiny] [--steps 10] [--batch-size 8]

Both arms do one optimiser step's whole work on the same samples of synthetic-world VQA (generated into a temporary
folder first, nothing downloaded): collate the batch, forward, backward, clip, AdamW; tower and mergers frozen,
everything else trained, bf16 autocast as ``dtype=bf16-mixed``. The baseline collates from the JPEG frames (decode,
resize, the tower in the forward); the candidate from a ``VisionFeatureCache`` built once before (its one-time cost
is printed too). The arms alternate, from the same starting weights; medians and their ratio are printed. Without
dataloader workers, so collation is counted in the step, as it competes for the same cores in a real run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from training.collator import SFTCollator  # noqa: E402
from training.data import load_samples  # noqa: E402
from training.vision_cache import VisionFeatureCache, model_inputs  # noqa: E402
from vifailback_demo.sim.generate import BENCH_FILE, GenerateConfig, generate  # noqa: E402


def step_seconds(model, state, collator, batches, params) -> list[float]:
    model.load_state_dict(state)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for samples in batches:
        started = time.perf_counter()
        batch = collator(samples)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**model_inputs(batch)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(REPO / "assets/models/vifailback-tiny"))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(GenerateConfig(episodes=8, seed=4242, out=str(data), split="benchmark", progress=False))
        samples, _ = load_samples([str(data / BENCH_FILE)], str(data))
        random.Random(0).shuffle(samples)
        batches = [
            samples[i : i + args.batch_size] for i in range(0, args.batch_size * (args.steps + 1), args.batch_size)
        ]
        processor = AutoProcessor.from_pretrained(args.model)
        model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32).train()
        for name, param in model.named_parameters():
            param.requires_grad = ".visual." not in name
        params = [q for q in model.parameters() if q.requires_grad]
        state = {k: v.clone() for k, v in model.state_dict().items()}
        started = time.perf_counter()
        cache = VisionFeatureCache().build(
            model, processor, samples, lambda: torch.autocast("cpu", dtype=torch.bfloat16), log=lambda _: None
        )
        build = time.perf_counter() - started
        arms = {"pixels": SFTCollator(processor), "cache": SFTCollator(processor, cache=cache)}
        times: dict[str, list[float]] = {name: [] for name in arms}
        for _ in range(2):  # alternate: pixels, cache, pixels, cache; the first step of each is warm-up
            for name, collator in arms.items():
                times[name] += step_seconds(model, state, collator, batches, params)[1:]
    base, cand = statistics.median(times["pixels"]), statistics.median(times["cache"])
    print(
        f"model {args.model}, batch {args.batch_size}, {len(times['cache'])} steps per arm, {torch.get_num_threads()} threads"
    )
    print(f"cache build (once): {build:.2f} s for {len(cache.entries)} frames, {cache.nbytes / 2**20:.1f} MiB")
    print(f"baseline (pixels) {base:.3f} s/step, candidate (cached features) {cand:.3f} s/step, x{base / cand:.2f}")


if __name__ == "__main__":
    main()
