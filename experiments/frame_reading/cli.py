"""``python -m experiments.frame_reading COMMAND``: the frame-reading experiments (README.md here).

Run from the repository root (the product's ``training`` and ``eval`` packages are imported from there). Bad input
prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PROG = "python -m experiments.frame_reading"

HELP = """\
Experiments on whether a small VLM reads the frames (findings and commands: experiments/frame_reading/README.md).

  probes              write frame-state probe questions (training only) for a dataset of 'vifailback sim generate'
  eval-probes         ask a model those probes and score them fact by fact (--frames shuffled: the prior)
  priors              blind baselines: failure type, keyframe and symbols from the text and frame count alone
  vision-warmup       train the vision tower + merger on the simulator's state of every frame (or, with
                      --freeze-tower, measure what a tower already encodes)
  failure-probe       a classifier of the failure type on a model's frozen frame features, against it blind
  standardize-merger  fold a per-feature standardisation of the merger outputs into the mergers' last layers
  train-head          'python -m training train' with an auxiliary outcome head installed as a training hook
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    pr = sub.add_parser(
        "probes",
        help="write frame-state probes for a generated dataset",
        description="Re-simulate the episodes of a dataset written by 'vifailback sim generate' (from its "
        "manifest.json) and write one probe question per episode: for every image, what each gripper does, where "
        "each movable object is and whether a human hand is in view (the first image in full, then the changes). "
        "Writes VQA/ViFailback_VQA_probes_train.json and VQA/ViFailback_VQA_probes_benchmark.json (tag "
        "frame_states_probe) next to the dataset's VQA files; nothing else changes.",
    )
    pr.add_argument("--data", required=True, help="dataset root written by 'vifailback sim generate'")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    from eval.cli import add_model_args

    ep = sub.add_parser(
        "eval-probes",
        help="how well a model reads the frames: the probes scored fact by fact",
        description="Ask a model the frame-state probes written by 'probes' and score each reference fact the "
        "reply states for the same image, overall and by kind. Writes samples.jsonl and probes.json under --out "
        "(rerunning resumes) and prints the summary as JSON. With --frames shuffled, what remains is the prior.",
    )
    ep.add_argument("--probes", required=True, metavar="FILE", help="probe VQA JSON (tag frame_states_probe)")
    ep.add_argument("--dataset-root", metavar="DIR", help="root that image paths are relative to "
                    "(default: the parent of the file's VQA/ folder)")  # fmt: skip
    ep.add_argument("--limit", type=int, metavar="N", help="only the first N probes")
    ep.add_argument("--frames", choices=("given", "shuffled"), default="given",
                    help="shuffled: each probe over another episode's frames of the same count")  # fmt: skip
    ep.add_argument("--out", required=True, metavar="DIR", help="run directory (created; reused to resume)")
    add_model_args(ep)

    pi = sub.add_parser(
        "priors",
        help="blind baselines: failure type and keyframe guessed from the text and frame count alone",
        description="Score predictors that never look at the frames on the bench's failed chain-of-thought items "
        "(most common answers of the training files per key; see priors.py). A model shows it reads the frames "
        "only where it beats these. Prints JSON.",
    )
    pi.add_argument("--train", required=True, nargs="+", metavar="FILE", help="training VQA JSON file(s)")
    pi.add_argument("--bench", required=True, metavar="FILE", help="bench VQA JSON file")

    w = sub.add_parser(
        "vision-warmup",
        help="teach the vision tower the simulator's frame states (or probe what it encodes)",
        description="Label every frame of generated datasets with the simulator's state and train the vision "
        "tower + merger to predict it through a small head; the model written has the new tower and the language "
        "model unchanged. Held-out accuracy per label, beside the majority class, goes to OUT/warmup.json.",
    )
    w.add_argument("--model", required=True, help="model directory whose vision tower is trained")
    w.add_argument("--data", required=True, nargs="+", metavar="DIR", help="datasets from 'vifailback sim generate'")
    w.add_argument("--eval-data", required=True, metavar="DIR", help="a generated dataset from other seeds")
    w.add_argument("--out", required=True, help="where the model (and warmup.json) go")
    w.add_argument("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    w.add_argument("--batch-size", type=int, default=64, help="frames a step (default 64)")
    w.add_argument("--lr", type=float, default=1e-3, help="head learning rate (default 1e-3)")
    w.add_argument("--tower-lr", type=float, default=3e-4, help="vision tower + merger learning rate (default 3e-4)")
    w.add_argument("--freeze-tower", action="store_true", help="train the head only; writes warmup.json only")
    w.add_argument("--episodes", type=int, help="episodes to use from each --data dataset (default all)")
    w.add_argument(
        "--video-frames",
        type=int,
        default=0,
        metavar="N",
        help="train on N frames spread over each episode's video (default 0: the JPEG frames the VQA items use)",
    )
    w.add_argument("--max-pixels", type=int, help="pixel budget per frame for this run (default: the model's)")
    w.add_argument("--eval-every", type=int, default=500, help="held-out evaluation every N steps")
    w.add_argument("--seed", type=int, default=0)

    fp = sub.add_parser(
        "failure-probe",
        help="can the failure type be read from the model's frame features? (against a blind control)",
        description="Encode every episode's frames with the model's frozen vision tower + merger, train a small "
        "classifier of the failure type on them and the same classifier blind (frames zeroed: task folder, arms, "
        "frame count), and score both on held-out episodes. Writes OUT (JSON) with both rates, the gap, the "
        "confusions and every held-out prediction.",
    )
    fp.add_argument("--model", required=True, help="model directory whose vision tower is read (not changed)")
    fp.add_argument("--data", required=True, nargs="+", metavar="DIR", help="dataset folders with annotations.json")
    fp.add_argument("--eval-data", required=True, metavar="DIR", help="a dataset folder of held-out episodes")
    fp.add_argument("--out", required=True, help="the report to write (JSON; must not exist)")
    fp.add_argument("--steps", type=int, default=3000, help="optimizer steps per classifier (default 3000)")
    fp.add_argument("--batch-size", type=int, default=32, help="episodes a step (default 32)")
    fp.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    fp.add_argument("--episodes", type=int, help="episodes to use from each --data dataset (default all)")
    fp.add_argument("--max-pixels", type=int, help="pixel budget per frame (default: the model's)")
    fp.add_argument(
        "--norm",
        default="position",
        choices=("position", "token", "feature"),
        help="how the classifier first sees each token: standardised per position (default), divided by its RMS "
        "as a language model reads it, or standardised per feature over the training frames then RMS-divided "
        "(what standardize-merger folds in)",
    )
    fp.add_argument("--seed", type=int, default=0)

    sm = sub.add_parser(
        "standardize-merger",
        help="fold a per-feature standardisation of the merger outputs into the mergers' last layers",
        description="Measure each output feature's mean and spread, for the merger and every deepstack merger, "
        "over every frame of the datasets' episodes and fold (x - mean) / spread * scale into that merger's "
        "linear_fc2. OUT (new or empty) is the whole model, changed in those layers only, with standardize.json "
        "(the statistics).",
    )
    sm.add_argument("--model", required=True, help="model directory")
    sm.add_argument("--data", required=True, nargs="+", metavar="DIR", help="dataset folders with annotations.json")
    sm.add_argument("--out", required=True, help="where the model goes (new or empty)")
    sm.add_argument("--episodes", type=int, help="episodes to use from each dataset (default all)")
    sm.add_argument("--scale", type=float, default=1.0, help="spread of each feature after (default 1)")

    th = sub.add_parser(
        "train-head",
        help="train with an auxiliary outcome head (a hook on the product's training loop)",
        description="'python -m training train' (same --config and --set) with a linear head on the language "
        "model's hidden state at the last prompt token that predicts the episode's outcome (success or a failure "
        "type, read from the episode's CoT answers) at every question; its cross-entropy times --head-weight "
        "joins the answer loss. metrics.jsonl adds head_loss, head_accuracy and eval_head_accuracy; the head is "
        "not exported.",
    )
    th.add_argument("--config", help="a training preset name or JSON file (as 'python -m training train')")
    th.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one training config key (repeatable)")  # fmt: skip
    th.add_argument("--head-weight", type=float, default=1.0, help="weight of the head's loss (default 1)")
    th.add_argument("--head-layer", type=int, default=-1,
                    help="decoder layer the head reads (0-based), or -1 for the final norm (default)")  # fmt: skip
    return parser


def _config_from_args(cls: type, args: argparse.Namespace) -> object:
    """A command's config dataclass from the parsed options of the same names (``--lr`` fills learning_rate)."""
    values = vars(args) | {"learning_rate": getattr(args, "lr", None)}
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})


def cmd_probes(args: argparse.Namespace) -> int:
    from experiments.frame_reading.sim_probes import write_probes

    start = time.perf_counter()
    result = write_probes(args.data, progress=not args.no_progress)
    print(json.dumps({**result, "seconds": round(time.perf_counter() - start, 2)}, indent=2))
    return 0


def cmd_eval_probes(args: argparse.Namespace) -> int:
    from eval.ablation import shuffle_frames
    from eval.backends import build_backend, describe, generation_settings
    from experiments.frame_reading.eval_probes import generate_probe_samples, probe_items, summarize_probes
    from vifailback_demo.core.dataset import dataset_root_of, load_vqa_records, read_json, write_json_atomic
    from vifailback_demo.errors import ViFailbackError

    path = Path(args.probes)
    root = Path(args.dataset_root) if args.dataset_root else dataset_root_of(path)
    items = probe_items(load_vqa_records(path), limit=args.limit)
    if args.frames == "shuffled":
        items, _ = shuffle_frames(items)
    generator_info = describe(args)
    out = Path(args.out)
    manifest = {"probes": str(path.resolve()), "dataset_root": str(root.resolve()), "limit": args.limit,
                "frames": args.frames, "generator": generator_info}  # fmt: skip
    if (out / "run.json").is_file():
        stored = read_json(out / "run.json")
        if {k: stored.get(k) for k in ("frames", "generator")} != {k: manifest[k] for k in ("frames", "generator")}:
            raise ViFailbackError(f"{out} holds a run with other --frames or model settings; use another --out")
    backend = build_backend(args, items)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run.json", manifest)
    samples = generate_probe_samples(
        items, backend, root, out, log=lambda m: print(m, file=sys.stderr), settings=generation_settings(args)
    )
    summary = {**summarize_probes(samples), "frames": args.frames, "model": generator_info.get("model")}
    write_json_atomic(out / "probes.json", summary)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_priors(args: argparse.Namespace) -> int:
    from experiments.frame_reading.priors import blind_baselines
    from vifailback_demo.core.dataset import load_vqa_records

    train = [r for path in args.train for r in load_vqa_records(path)]
    print(json.dumps(blind_baselines(train, load_vqa_records(args.bench)), indent=2))
    return 0


def cmd_vision_warmup(args: argparse.Namespace) -> int:
    from experiments.frame_reading.vision_warmup import WarmupConfig, run_warmup

    report = run_warmup(_config_from_args(WarmupConfig, args))
    print(json.dumps(report["history"][-1], indent=2))
    return 0


def cmd_failure_probe(args: argparse.Namespace) -> int:
    from experiments.frame_reading.failure_probe import ProbeConfig, run_probe

    report = run_probe(_config_from_args(ProbeConfig, args))
    summary = {k: report[k] for k in ("train_episodes", "held_out_episodes", "gap", "seconds")}
    summary |= {name: {k: report[name][k] for k in ("accuracy", "failure_type")} for name in ("frames", "blind")}
    print(json.dumps(summary, indent=2))
    return 0


def cmd_standardize_merger(args: argparse.Namespace) -> int:
    from experiments.frame_reading.standardize_merger import standardize_merger

    report = standardize_merger(args.model, args.data, args.out, episodes=args.episodes, scale=args.scale)
    before = {name: {"tokens": o["tokens"], **o["before"]} for name, o in report["outputs"].items()}
    print(json.dumps({"scale": args.scale, "before": before, "model": args.out}, indent=2))
    return 0


def cmd_train_head(args: argparse.Namespace) -> int:
    from experiments.frame_reading.failure_head import train_with_head
    from training.config import load_config

    run = train_with_head(load_config(args.config, args.overrides), args.head_weight, args.head_layer)
    print(f"final model: {run.final}")
    return 0


COMMANDS = {
    "probes": cmd_probes,
    "eval-probes": cmd_eval_probes,
    "priors": cmd_priors,
    "vision-warmup": cmd_vision_warmup,
    "failure-probe": cmd_failure_probe,
    "standardize-merger": cmd_standardize_merger,
    "train-head": cmd_train_head,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from vifailback_demo.errors import ViFailbackError

    try:
        return COMMANDS[args.command](args)
    except (ViFailbackError, ValueError, OSError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
