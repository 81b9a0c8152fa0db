"""``python -m training {train,merge,presets,tiny,frame-reliance}``: see ``python -m training --help``."""

from __future__ import annotations

import argparse
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
    f.add_argument("--data", required=True, nargs="+", metavar="FILE", help="VQA JSON file(s)")
    f.add_argument("--limit", type=int, default=64, help="samples to score (default 64)")
    f.add_argument("--dataset-root", default="auto", help="image root (default auto: each file's dataset)")
    from training.tiny_recipe import add_arguments

    add_arguments(
        sub.add_parser(
            "tiny", help="build and train the bundled tiny model", description="See README: 'The bundled tiny model'."
        )
    )
    return parser


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
