"""``vifailback sim generate``: a synthetic ViFailback dataset in the official layout."""

from __future__ import annotations

import argparse
import time
from typing import Any

from vifailback_demo.cli.main import CommandResult

#: Where ``sim generate`` writes without --out (the same as ``GenerateConfig.out``).
DEFAULT_OUT = "sim_data"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sim", help="the synthetic failure world", description="The synthetic dual-arm failure world.")
    simsub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    g = simsub.add_parser(
        "generate",
        parents=[common],
        help="write a synthetic dataset (frames, videos, annotations, VQA files)",
        # A description is printed as written (only help= strings are %-formatted): a single % here.
        description="Simulate episodes (about 13% succeed; the rest carry one injected failure of the four types) "
        "and write them in the official ViFailback layout under --out (default ./sim_data), with "
        "VQA/ViFailback_VQA_train.json, VQA/ViFailback_VQA_benchmark.json, annotations.json and manifest.json. "
        "The same --seed gives byte-identical JSON files.",
    )
    g.add_argument("--episodes", type=int, required=True, help="number of episodes (> 0)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"output dataset root directory (default ./{DEFAULT_OUT}, in the current folder; created if missing; "
        "files of the same names in it are replaced)",
    )
    g.add_argument(
        "--split",
        choices=["train", "benchmark", "both"],
        default="both",
        help="which VQA file the episodes go to; 'both' sends each episode to the benchmark with probability "
        "--bench-fraction (default both)",
    )
    g.add_argument("--bench-fraction", type=float, default=0.1, help="benchmark share for --split both (default 0.1)")
    g.add_argument("--task", action="append", help="restrict to this task id (repeatable); default all tasks")
    g.add_argument("--width", type=int, default=640, help="frame width (even, default 640)")
    g.add_argument("--height", type=int, default=480, help="frame height (even, default 480)")
    g.add_argument(
        "--video-scale", type=float, default=0.5, help="video size as a fraction of the frame size (default 0.5)"
    )
    g.add_argument("--workers", type=int, default=0, help="worker processes (default: up to 2)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    g.set_defaults(handler=cmd_generate)
    p.set_defaults(handler=_need_subcommand)


def _need_subcommand(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.errors import SimError

    raise SimError("expected a subcommand: 'vifailback sim generate --episodes N --seed S --out DIR'")


def cmd_generate(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.sim.generate import GenerateConfig, generate
    from vifailback_demo.sim.tasks import TASK_IDS

    cfg = GenerateConfig(
        episodes=args.episodes,
        seed=args.seed,
        out=args.out,
        split=args.split,
        bench_fraction=args.bench_fraction,
        width=args.width,
        height=args.height,
        video_scale=args.video_scale,
        workers=max(0, args.workers),
        tasks=tuple(args.task) if args.task else TASK_IDS,
        progress=not args.no_progress,
    )
    start = time.perf_counter()
    manifest = generate(cfg)
    seconds = time.perf_counter() - start
    data = {
        "out": args.out,
        "episodes": manifest["episodes"],
        "successes": manifest["successes"],
        "vqa_records": manifest["vqa_records"],
        "counts": manifest["counts"],
        "seconds": round(seconds, 2),
        "episodes_per_second": round(manifest["episodes"] / seconds, 3),
    }
    text = (
        f"wrote {manifest['episodes']} episodes ({manifest['successes']} successful) to {args.out} in {seconds:.1f} s; "
        f"VQA records: train {manifest['vqa_records']['train']}, benchmark {manifest['vqa_records']['benchmark']}"
    )
    return CommandResult(data=data, text=text)
