"""The ``aiplat`` command line.

Each subcommand lives in its own module that exposes ``register(subparsers)``; the
parser it adds sets ``func`` to a callable ``(args) -> int`` returning the exit code.
Exit codes are a contract: 0 fine, 1 a finding (mandatory policy violation, failed
preflight or smoke test), 2 bad configuration or usage. ``AiplatError`` subclasses are
printed as messages, never as tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aiplat.errors import AiplatError

# Modules that contribute subcommands, in help order. Add yours here.
COMMAND_MODULES = [
    "aiplat.serving.cli",
    "aiplat.check",
    "aiplat.capacity_cmd",
    "aiplat.preflight",
    "aiplat.rules",
    "aiplat.vectors_cmd",
    "aiplat.policies.models_cli",  # after serving.cli: adds `approve` to its `models` parser
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors already; keep one line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aiplat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AiplatError as exc:
        print(f"aiplat {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
