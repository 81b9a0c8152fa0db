"""GPU memory and speed of one diagnosis with the full-size Qwen3-VL-8B architecture (random weights, no download).

    .venv/bin/python benchmarks/gpu_memory.py [--modes none,8bit,nf4] [--frames 15] [--new-tokens 512]
        [--workdir /tmp/vifailback-8b-random] [--json-out results.json]

What it does, on a CUDA machine:
1. Builds the Qwen3-VL-8B architecture from the config values written below (those of Qwen/Qwen3-VL-8B-Instruct,
   the base of ViFailback-8B) with random bf16 weights on the GPU and saves it as safetensors (about 17 GB), with
   this project's offline tokenizer and a Qwen3-VL processor at the real pixel budget. Nothing is downloaded.
2. For each mode (bf16, 8-bit, nf4) loads it through the project's transformers backend (the app's code path), runs a
   warm-up, then one diagnosis-shaped generation: 15 frames of 640x480 + the official CoT prompt, greedy, with
   exactly 512 new tokens forced (``min_new_tokens``), and records:
   peak GPU memory (``torch.cuda.max_memory_allocated``), weights memory, prefill time (a 1-token generation,
   median of 3) and decode speed (tokens/s over the 511 tokens after the first).

Random weights change nothing about memory or speed: the architecture and the shapes are those of the real model.
The four special-token ids are taken from the offline tokenizer (its vocabulary is small), which does not change
any tensor shape: the embedding table still has the real 151,936 rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Qwen/Qwen3-VL-8B-Instruct config.json (text and vision towers), written out so no download is needed.
QWEN3_VL_8B_TEXT = {
    "vocab_size": 151936,
    "hidden_size": 4096,
    "intermediate_size": 12288,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "hidden_act": "silu",
    "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-6,
    "attention_bias": False,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 5000000,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
}
QWEN3_VL_8B_VISION = {
    "depth": 27,
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_heads": 16,
    "in_channels": 3,
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "out_hidden_size": 4096,
    "num_position_embeddings": 2304,
    "deepstack_visual_indexes": [8, 16, 24],
    "hidden_act": "gelu_pytorch_tanh",
}
#: The real processor's pixel budget (shortest_edge = min pixels, longest_edge = max pixels).
MIN_PIXELS, MAX_PIXELS = 65536, 16777216
TASK = "Use the right arm to place the orange block into the bowl."


def build_checkpoint(out: Path) -> Path:
    import torch
    from transformers import GenerationConfig, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from vifailback_demo.models.tiny import build_tiny_processor, build_tokenizer

    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        print(f"reusing checkpoint in {out}")
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    config = Qwen3VLConfig(
        text_config=QWEN3_VL_8B_TEXT,
        vision_config=QWEN3_VL_8B_VISION,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    t0 = time.perf_counter()
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=eos, pad_token_id=eos)
    model.save_pretrained(out, safe_serialization=True)
    build_tiny_processor(tokenizer, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS).save_pretrained(out)
    print(f"built random Qwen3-VL-8B ({params / 1e9:.2f} B parameters) in {time.perf_counter() - t0:.0f} s -> {out}")
    del model
    gc.collect()
    torch.cuda.empty_cache()
    return out


def measure(
    checkpoint: Path, mode: str, frames: int, width: int, height: int, new_tokens: int, attn: str | None
) -> dict:
    import numpy as np
    import torch

    from vifailback_demo.core.prompts import cot_prompt
    from vifailback_demo.models.backend import GenerationSettings
    from vifailback_demo.models.transformers_backend import TransformersBackend, TransformersOptions

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    backend = TransformersBackend(
        TransformersOptions(
            model=str(checkpoint), dtype="bfloat16", quantization=mode, device_map="cuda:0", attn_implementation=attn
        )
    )
    load_s = time.perf_counter() - t0
    weights = torch.cuda.memory_allocated()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(frames)]
    prompt = cot_prompt(TASK, "avoidance")

    def run(n: int, backend=backend):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = backend.generate(images, prompt, settings=GenerationSettings(max_new_tokens=n, min_new_tokens=n))
        torch.cuda.synchronize()
        return time.perf_counter() - start, result

    run(8)  # warm-up: kernels, caches
    torch.cuda.reset_peak_memory_stats()
    prefill_s = statistics.median(run(1)[0] for _ in range(3))
    total_s, result = run(new_tokens)
    peak = torch.cuda.max_memory_allocated()
    row = {
        "mode": {"none": "bf16"}.get(mode, mode),
        "frames": frames,
        "size": f"{width}x{height}",
        "prompt_tokens": result.prompt_tokens,
        "new_tokens": result.new_tokens,
        "load_s": round(load_s, 1),
        "weights_gib": round(weights / 2**30, 2),
        "peak_gib": round(peak / 2**30, 2),
        "prefill_s": round(prefill_s, 3),
        "decode_tokens_per_s": round((result.new_tokens - 1) / max(total_s - prefill_s, 1e-9), 1),
        "total_s": round(total_s, 2),
        "gpu": torch.cuda.get_device_name(0),
        "attn": attn or "default",
    }
    del backend
    gc.collect()
    torch.cuda.empty_cache()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="none,8bit,nf4", help="comma list of none (bf16), 8bit, nf4")
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--attn", default="sdpa", help="attention implementation (sdpa, eager, flash_attention_2)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vifailback-8b-random"))
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("benchmarks/gpu_memory.py needs a CUDA GPU; none found. Nothing measured.", file=sys.stderr)
        return 2
    checkpoint = build_checkpoint(args.workdir)
    rows = []
    for mode in args.modes.split(","):
        row = measure(checkpoint, mode.strip(), args.frames, args.width, args.height, args.new_tokens, args.attn)
        rows.append(row)
        print(json.dumps(row))
    print(f"\n| mode | peak GiB | weights GiB | prefill s | decode tok/s | prompt tokens |  ({rows[0]['gpu']})")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['peak_gib']} | {r['weights_gib']} | {r['prefill_s']} | {r['decode_tokens_per_s']} | {r['prompt_tokens']} |"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
