"""``python -m training {train,merge,presets,tiny}``: see ``python -m training --help``."""

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
