"""``vifailback diagnose VIDEO|DIR --task TEXT --out DIR``: one diagnosis from the command line."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from vifailback_demo.cli.main import CommandResult
from vifailback_demo.core.prompts import MODES

BACKEND_CHOICES = ("transformers", "openai", "scripted")
# Copies of models.backend.DEADLINE_* for the help text: importing that module would load numpy into every command
# (a test keeps them equal).
DEADLINE_BASE_S, DEADLINE_PER_TOKEN_S = 60.0, 0.1


def seconds(text: str) -> float:
    """``--deadline``: a finite number of seconds > 0 (argparse turns the error into one line)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "diagnose",
        parents=[common],
        help="diagnose a robot failure video (or frame folder) with a VLM; writes diagnosis.json + keyframe.png",
        description="Sample frames from VIDEO (mp4/mov/mkv/webm) or a folder of frames, ask the model for a "
        "chain-of-thought diagnosis, parse it, and draw the proposed symbols on the keyframe. Model resolution "
        "(transformers backend): --model > $VIFAILBACK_MODEL > sii-rhos-ai/ViFailback-8B in the local Hugging Face "
        "cache > the bundled tiny model. Nothing is downloaded.",
    )
    p.add_argument("source", metavar="VIDEO|DIR", help="video file or folder of frames (0.jpg, 1.jpg, ...)")
    p.add_argument("--task", required=True, help="the task instruction the robot was given")
    p.add_argument("--out", required=True, help="output folder for diagnosis.json and keyframe.png")
    p.add_argument("--mode", choices=MODES, default="avoidance", help="avoidance (default) or correction")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="transformers")
    p.add_argument(
        "--model",
        help="transformers: model directory or cached Hub id; openai: served model name; scripted: answer text file",
    )
    p.add_argument("--adapter", help="LoRA adapter directory applied on the model (transformers)")
    p.add_argument("--merge-adapter", action="store_true", help="merge the adapter into the weights after loading")
    p.add_argument("--dtype", choices=("auto", "bfloat16", "float16", "float32"), default="auto")
    p.add_argument("--quantization", choices=("none", "8bit", "nf4"), default="none", help="bitsandbytes quantisation")
    p.add_argument("--device-map", help="accelerate device map, e.g. auto, cpu, cuda:0")
    p.add_argument("--attn-implementation", help="sdpa, eager or flash_attention_2")
    p.add_argument("--max-pixels", type=int, help="image pixel budget per frame (processor max_pixels)")
    p.add_argument("--min-pixels", type=int, help="minimum pixels per frame (processor min_pixels)")
    p.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="openai backend: seconds of silence allowed while connecting or between two reads (default 120)",
    )
    p.add_argument(
        "--deadline",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="seconds the whole answer may take, retries and streaming included (openai default: "
        f"{DEADLINE_BASE_S:g} + {DEADLINE_PER_TOKEN_S:g} per --max-new-tokens, at least --timeout; transformers: "
        "no limit unless given)",
    )
    p.add_argument("--retries", type=int, default=None, help="openai backend: retries on 429/5xx/timeouts (default 2)")
    p.add_argument(
        "--sampling",
        choices=("official", "even"),
        default="official",
        help="official: one frame per second plus the last (default); even: --frames evenly spaced",
    )
    p.add_argument("--frames", type=int, default=16, help="number of frames for --sampling even")
    p.add_argument("--max-frames", type=int, default=32, help="cap on frames given to the model")
    p.add_argument("--max-new-tokens", type=int, default=2048)
    p.add_argument("--stream", action="store_true", help="print the model's text to stderr as it is generated")
    p.set_defaults(handler=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.diagnosis import Diagnoser, write_diagnosis
    from vifailback_demo.models.backend import GenerationSettings
    from vifailback_demo.models.factory import create_backend
    from vifailback_demo.video.sampling import SamplingSpec

    spec = SamplingSpec(args.sampling, num_frames=args.frames, max_frames=args.max_frames)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    backend = create_backend(
        args.backend,
        args.model,
        mode=args.mode,
        adapter=args.adapter,
        merge_adapter=args.merge_adapter or None,
        dtype=args.dtype,
        quantization=args.quantization,
        device_map=args.device_map,
        attn_implementation=args.attn_implementation,
        max_pixels=args.max_pixels,
        min_pixels=args.min_pixels,
        base_url=args.base_url,
        timeout_s=args.timeout,
        deadline_s=args.deadline,
        max_retries=args.retries,
    )
    if args.deadline and args.backend == "transformers":
        # The openai client enforces the deadline on its socket; a local model gets the generic bound (the run
        # fails after it; the generation thread is left to the process exit).
        from vifailback_demo.models.backend import DeadlineBackend

        backend = DeadlineBackend(backend, args.deadline, hint=" (--deadline)")
    on_text = None
    if args.stream:

        def on_text(piece: str) -> None:
            sys.stderr.write(piece)
            sys.stderr.flush()

    diagnosis = Diagnoser(backend, sampling=spec, settings=settings).diagnose(
        args.source, args.task, args.mode, on_text=on_text
    )
    if args.stream:
        sys.stderr.write("\n")
    paths = write_diagnosis(diagnosis, args.out)
    data = diagnosis.to_dict()
    data["files"] = {k: str(v) for k, v in paths.items()}
    if diagnosis.status == "successful":
        verdict = "task successful (no keyframe)"
    elif diagnosis.status == "failed":
        verdict = f"task failed at image {diagnosis.keyframe}: {diagnosis.failure_type}; {diagnosis.low_level}"
    else:
        verdict = "the model's answer could not be read; raw text kept in diagnosis.json"
    t = diagnosis.timings
    lines = [
        f"{diagnosis.model}: {verdict}",
        f"{len(diagnosis.symbols)} symbols; {diagnosis.frames['count']} frames; "
        f"sampling {t['sampling']:.2f} s, generation {t['generation']:.2f} s, total {t['total']:.2f} s",
        *(f"-> {p}" for p in paths.values()),
    ]
    return CommandResult(data=data, text="\n".join(lines), warnings=diagnosis.problems + diagnosis.frames["warnings"])
