"""Dispatcher for ``vifailback <command>``.

Each command module exposes ``register(subparsers, common)``; its handler takes the parsed args and returns a
:class:`CommandResult`. ``train``, ``merge`` and ``bench`` are handed unchanged to the ``training`` / ``eval``
command lines (:mod:`vifailback_demo.cli.forward`). User errors (:class:`ViFailbackError`, bad files) print one line on stderr and exit 2;
never a traceback. Command modules import heavy libraries (torch, av) inside their handlers so that
``vifailback parse`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vifailback_demo import __version__
from vifailback_demo.cli.forward import FORWARDED, forward
from vifailback_demo.errors import ViFailbackError

#: Modules that add subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "vifailback_demo.cli.formats",
    "vifailback_demo.cli.diagnose",
    "vifailback_demo.cli.sim",
    "vifailback_demo.cli.corrections",
    "vifailback_demo.cli.robot",
    "vifailback_demo.cli.policy",
    "vifailback_demo.cli.live",
    "vifailback_demo.cli.forward",
)

EXIT_USER_ERROR = 2


@dataclass
class CommandResult:
    """What a command produced: ``data`` is printed as JSON with ``--json``, ``text`` otherwise."""

    data: Any
    text: str = ""
    exit_code: int = 0
    warnings: list[str] = field(default_factory=list)


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; the CLI contract is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _OneLineParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    parser = _OneLineParser(
        prog="vifailback",
        description="ViFailback Studio: diagnose, correct, and learn from robot manipulation failures via visual symbols.",
    )
    parser.add_argument("--version", action="version", version=f"vifailback {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def _emit(result: CommandResult, as_json: bool) -> None:
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if as_json:
        print(json.dumps(result.data, ensure_ascii=False, indent=2))
    elif result.text:
        print(result.text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in FORWARDED:  # train, merge, bench: their options belong to training's / eval's parsers
        return forward(argv[0], argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed as one line)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        result = args.handler(args)
        _emit(result, getattr(args, "json", False))
    except BrokenPipeError:
        # The reader went away (``vifailback parse ... | head``): not an error of ours, and no traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ViFailbackError as exc:
        print(f"vifailback {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (OSError, ValueError) as exc:
        # File-system and value problems from user input; still one line, no traceback.
        print(f"vifailback {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"vifailback {args.command}: interrupted", file=sys.stderr)
        return 130
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
