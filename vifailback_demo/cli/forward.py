"""``vifailback train|merge|bench``: the training and benchmark command lines under the one console script.

They hand their arguments, unchanged, to the ``training`` and ``eval`` packages' own parsers (installed with
``vifailback_demo``), so they work from any folder and never differ from ``python -m training`` / ``python -m eval``:

* ``vifailback train [--config ...] [--set K=V ...]`` is ``python -m training train ...``; ``vifailback train
  COMMAND ...`` (``presets``, ``tiny``, ``frame-reliance``, ... any command ``python -m training`` has, ``train``
  included) is ``python -m training COMMAND ...``;
* ``vifailback merge ...`` is ``python -m training merge ...``;
* ``vifailback bench ...`` is ``python -m eval ...`` (``bench run``, ``bench score``, ...).

:func:`vifailback_demo.cli.main.main` sends these straight here before its own parsing (their options belong to the
other parsers); :func:`register` only lists them in ``vifailback --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

#: vifailback command -> the module with its ``build_parser()`` and ``main(argv)``.
FORWARDED: dict[str, str] = {"train": "training.__main__", "merge": "training.__main__", "bench": "eval.cli"}

_HELP = ("-h", "--help")
_MODEL_EXTRA = "pip install 'vifailback-studio[model]' (or: pip install -e '.[model]' in a checkout)"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    del common  # the forwarded parsers have their own options
    helps = {
        "train": "train a model (= python -m training: train, presets, tiny, frame-reliance, ...)",
        "merge": "fold a LoRA adapter into its base model (= python -m training merge)",
        "bench": "evaluate a model on ViFailback-Bench (= python -m eval: run, score, ...)",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_handler(name))


def _handler(name: str) -> Callable[[argparse.Namespace], Any]:
    def handler(args: argparse.Namespace) -> Any:
        from vifailback_demo.cli.main import CommandResult

        return CommandResult(data=None, exit_code=forward(name, args.args))

    return handler


class _NotInstalled(Exception):
    pass


def _load(name: str) -> Any:
    module = FORWARDED[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module.split(".")[0]:
            raise _NotInstalled(
                f"the '{exc.name}' package is not installed next to vifailback_demo; reinstall the project "
                "(pip install -e . in a checkout)"
            ) from None
        raise


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    return [
        choice
        for action in parser._actions  # argparse has no public accessor for the subcommand names
        if isinstance(action, argparse._SubParsersAction)
        for choice in action.choices
    ]


def _help(name: str, module: Any) -> str:
    """The wrapped parser's help under its ``vifailback`` name, after a note on how the two command lines map."""
    parser = module.build_parser()
    parser.prog = f"vifailback {name}"
    commands = ", ".join(_subcommands(parser))
    if name == "train":
        head = (
            "vifailback train [--config PRESET|FILE] [--set KEY=VALUE ...]   = python -m training train ...\n"
            "vifailback train COMMAND ...                                    = python -m training COMMAND ...\n"
            f"  COMMAND: {commands}; 'vifailback train COMMAND --help' lists its options.\n"
        )
    else:
        head = (
            "vifailback bench COMMAND ...   = python -m eval COMMAND ...\n"
            f"  COMMAND: {commands}; 'vifailback bench COMMAND --help' lists its options.\n"
        )
    return head + "\n" + parser.format_help()


def forward(name: str, argv: Sequence[str]) -> int:
    """Run ``vifailback <name> <argv>``; returns the exit code (one-line errors as the rest of the CLI)."""
    argv = list(argv)
    try:
        module = _load(name)
        if name != "merge" and (not argv or argv[0] in _HELP):
            print(_help(name, module))
            return 0 if argv else 2
        if name == "merge":
            argv = ["merge", *argv]
        elif name == "train" and argv[0] not in _subcommands(module.build_parser()):
            argv = ["train", *argv]
        try:
            code = module.main(argv)
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        return int(code or 0)
    except _NotInstalled as exc:
        print(f"vifailback {name}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # torch, transformers, ...
        print(f"vifailback {name}: error: {exc}; install the model extras: {_MODEL_EXTRA}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vifailback {name}: interrupted", file=sys.stderr)
        return 130
