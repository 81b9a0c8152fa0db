"""``python -m training {train,merge,presets,tiny,frame-reliance,vision-warmup,failure-probe,standardize-merger}``: see ``python -m training --help``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from training.config import TrainConfig, load_config

HELP = """\
Train ViFailback models.

  train    LoRA SFT with the paper's defaults (rank 32, alpha 64, lr 1e-5, 1 epoch, LoRA on the language model's
           attention and MLP projections, the vision-language merger fully trained, vision tower frozen, bf16),
           or full fine-tuning (--set method=full). Data: ShareGPT VQA JSON files (official, synthetic, or
           exported corrections), images resolved under each file's own dataset folder (the one above VQA/, or
           the file's folder) or under --set dataset_root=DIR for all; records with missing images are
           skipped and counted; whole episodes are held out for evaluation. Resume with --set resume=auto.
           Several GPUs: accelerate launch --config_file training/configs/accelerate/zero2.yaml -m training train ...
  merge    fold a LoRA adapter into its base model (what vLLM needs to serve it).
  presets  list the config presets in training/configs/.
  tiny     the recipe of the bundled tiny model: synthetic data, tokenizer, model from scratch, training, export.
  frame-reliance  loss with each sample's own frames against another sample's: does the model read the frames?
  vision-warmup   train the vision tower + merger to predict the simulator's state of every frame (gripper shape
           and place, objects' places and positions, human hand) before VQA training; or, with --freeze-tower,
           measure what a tower already encodes. Writes warmup.json with held-out accuracy per label.
  failure-probe   how much of the failure type a model's frame features carry: a small classifier on the frozen
           tower's outputs against the same classifier blind (task and frame count only), scored on held-out
           episodes. A large gap with a VLM that answers at the blind level means its language model does not
           read what the tower sees.
  standardize-merger  fold a per-feature standardisation of what the tower hands the language model (the
           merger's tokens and every deepstack merger's; mean and spread over a dataset's frames) into those
           mergers' last layers, so the language model's RMS norms see what changes between frames rather than the
           pattern all frames share. Same architecture; train after it.

Every run directory holds config.json (the resolved config), data_stats.json, metrics.jsonl, tensorboard/
(when tensorboard is installed), checkpoint-<step>/ and final/.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    t = sub.add_parser(
        "train",
        help="run supervised fine-tuning",
        description="Keys for --set: " + ", ".join(TrainConfig.__dataclass_fields__),
    )
    t.add_argument("--config", help="a preset name (see 'presets') or a JSON file; defaults are the paper's")
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (repeatable); lists as JSON or comma-separated",
    )
    t.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    m = sub.add_parser("merge", help="merge a LoRA adapter into its base model")
    m.add_argument("--adapter", required=True, help="the adapter directory (a run's final/)")
    m.add_argument("--out", required=True, help="where to write the merged model")
    m.add_argument("--base", help="base model directory (default: the one recorded in the adapter)")
    m.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    sub.add_parser("presets", help="list config presets")
    f = sub.add_parser(
        "frame-reliance",
        help="does a model use the frames? loss with own vs another episode's frames",
        description="Score VQA samples with their own frames and with another sample's of the same count (text "
        "and answer unchanged); prints both mean losses and the gap as JSON. A gap near 0 means the model answers "
        "from the text alone.",
    )
    f.add_argument("--model", required=True, help="model directory (a run's final/ or a full model)")
    f.add_argument("--data", required=True, nargs="+", metavar="FILE", help="VQA JSON file(s), e.g. probes")
    f.add_argument("--limit", type=int, default=64, help="samples to score (default 64)")
    f.add_argument("--dataset-root", default="auto", help="image root (default auto: each file's dataset)")
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
    from training.tiny_recipe import add_arguments

    add_arguments(
        sub.add_parser(
            "tiny", help="build and train the bundled tiny model", description="See README: 'The bundled tiny model'."
        )
    )
    return parser


def _config_from_args(cls: type, args: argparse.Namespace) -> object:
    """A command's config dataclass from the parsed options of the same names (``--lr`` fills learning_rate)."""
    values = vars(args) | {"learning_rate": getattr(args, "lr", None)}
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            cfg = load_config(args.config, args.overrides)
            if args.print_config:
                print(json.dumps(cfg.validate().to_dict(), indent=2))
                return 0
            from training.train import train

            print(f"final model: {train(cfg).final}")
        elif args.command == "merge":
            from training.merge import merge_adapter

            print(f"merged model: {merge_adapter(args.adapter, args.out, args.base, args.dtype)}")
        elif args.command == "presets":
            for p in sorted((Path(__file__).parent / "configs").glob("*.json")):
                print(f"{p.stem}: {json.loads(p.read_text()).get('_comment', '')}")
        elif args.command == "frame-reliance":
            from training.frame_reliance import frame_reliance

            result = frame_reliance(args.model, args.data, limit=args.limit, root=args.dataset_root)
            print(json.dumps(result, indent=2))
        elif args.command == "failure-probe":
            from training.failure_probe import ProbeConfig, run_probe

            report = run_probe(_config_from_args(ProbeConfig, args))
            summary = {k: report[k] for k in ("train_episodes", "held_out_episodes", "gap", "seconds")}
            summary |= {
                name: {k: report[name][k] for k in ("accuracy", "failure_type")} for name in ("frames", "blind")
            }
            print(json.dumps(summary, indent=2))
        elif args.command == "standardize-merger":
            from training.standardize_merger import standardize_merger

            report = standardize_merger(args.model, args.data, args.out, episodes=args.episodes, scale=args.scale)
            before = {name: {"tokens": o["tokens"], **o["before"]} for name, o in report["outputs"].items()}
            print(json.dumps({"scale": args.scale, "before": before, "model": args.out}, indent=2))
        elif args.command == "vision-warmup":
            from training.vision_warmup import WarmupConfig, run_warmup

            report = run_warmup(_config_from_args(WarmupConfig, args))
            print(json.dumps(report["history"][-1], indent=2))
        elif args.command == "tiny":
            from training.tiny_recipe import run

            run(args)
        else:
            parser.print_help()
            return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"python -m training {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from vifailback_demo.errors import ViFailbackError

        if isinstance(exc, ViFailbackError):
            print(f"python -m training {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
