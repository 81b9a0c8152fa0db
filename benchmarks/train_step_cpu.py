"""Training step time on CPU: fp32 (baseline) against ``dtype=bf16-mixed`` (candidate), same process, same batches.

    python benchmarks/train_step_cpu.py [--model assets/models/vifailback-tiny] [--steps 12] [--batch-size 4]

Both arms run the training loop's work on identical batches of synthetic-world VQA (generated into a temporary
folder first, nothing downloaded): forward, backward, gradient clipping and an AdamW step of every parameter, as
``python -m training train --config tiny_scratch`` does. The candidate wraps forward and loss in
``torch.autocast("cpu", dtype=torch.bfloat16)`` exactly as Accelerate does for ``mixed_precision="bf16"``; weights
and optimiser stay fp32 in both. The arms alternate (baseline, candidate, baseline, candidate) so drift in a noisy
machine hits both; the medians and their ratio are printed. bf16 only pays off on CPUs with AVX512-BF16 or AMX,
which this prints as well. The model's weights are restored between arms, so both start from the same state.
"""

from __future__ import annotations

import argparse
import copy
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
from vifailback_demo.sim.generate import BENCH_FILE, GenerateConfig, generate  # noqa: E402


def cpu_bf16_support() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(found) or "none (expect no gain)"


def make_batches(model_dir: str, batch_size: int, n_batches: int, work: Path) -> list[dict]:
    from transformers import AutoProcessor

    generate(GenerateConfig(episodes=6, seed=4242, out=str(work / "data"), split="benchmark", progress=False))
    samples, _ = load_samples([str(work / "data" / BENCH_FILE)], str(work / "data"))
    random.Random(0).shuffle(samples)
    collator = SFTCollator(AutoProcessor.from_pretrained(model_dir))
    picked = samples[: batch_size * n_batches]
    return [collator(picked[i : i + batch_size]) for i in range(0, len(picked), batch_size)]


def time_steps(model, state: dict, batches: list[dict], autocast: bool) -> list[float]:
    """Seconds per optimiser step, from the same starting weights each time."""
    model.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for batch in batches:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(**batch).loss
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    from transformers import AutoModelForImageTextToText

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "vifailback-tiny"))
    parser.add_argument("--steps", type=int, default=12, help="steps per arm and round")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        batches = make_batches(args.model, args.batch_size, args.steps, Path(tmp))
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32)
    model.train()
    state = copy.deepcopy(model.state_dict())
    time_steps(model, state, batches[:2], autocast=False)  # warm-up: allocator, thread pool, kernels
    time_steps(model, state, batches[:2], autocast=True)
    base, cand = [], []
    for _ in range(args.rounds):
        base += time_steps(model, state, batches, autocast=False)
        cand += time_steps(model, state, batches, autocast=True)
    b, c = statistics.median(base), statistics.median(cand)
    tokens = statistics.mean(int(x["input_ids"].numel()) for x in batches)
    print(f"CPU bf16 support: {cpu_bf16_support()}; torch threads: {torch.get_num_threads()}")
    print(f"{len(batches)} batches of {args.batch_size} (mean {tokens:.0f} padded tokens), {args.rounds} rounds")
    print(f"baseline  fp32        : {b:.3f} s/step (median of {len(base)})")
    print(f"candidate bf16-mixed  : {c:.3f} s/step (median of {len(cand)})")
    print(f"speed-up: x{b / c:.2f}")


if __name__ == "__main__":
    main()
