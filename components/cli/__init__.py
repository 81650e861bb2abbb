"""The ``aiplat`` command line: one module per subcommand, named after it.

Each module exposes ``register(subparsers)``; the parser it adds sets ``func`` to a
callable ``(args) -> int`` returning the exit code. Exit codes are a contract: 0 fine,
1 a finding (mandatory policy violation, deploy blocker, failed preflight, smoke, load or
evaluation gate), 2 bad configuration or usage. ``AiplatError`` subclasses are printed as
messages, never as tracebacks. This package is the only place with argparse and rich.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aiplat.errors import AiplatError

# Modules that contribute subcommands, in help order. Add yours here.
COMMAND_MODULES = [
    "aiplat.cli.check",
    "aiplat.cli.capacity",
    "aiplat.cli.preflight",
    "aiplat.cli.rules",
    "aiplat.cli.vectors",
    "aiplat.cli.models",
    "aiplat.cli.serve",
    "aiplat.cli.smoke",
    "aiplat.cli.loadtest",
    "aiplat.cli.eval",
    "aiplat.cli.canary",
]

DESCRIPTION = "aiplat: GPU inference platforms on Pulumi, checked offline before any cloud sees them."
EPILOG = (
    "Commands that need a Pulumi project (check, preflight, rules, vectors) find it from the current "
    "directory upward by Pulumi.yaml. Exit codes: 0 fine, 1 a finding (policy violation, deploy blocker, "
    "failed gate), 2 bad configuration or usage. Run 'aiplat COMMAND --help' for a command's options."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors already; keep one line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aiplat", description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# Modules of the optional dependencies -> the extra of pyproject.toml that installs them. A
# command whose extra is absent says which one to install instead of a traceback (exit 2).
EXTRAS = {
    "rich": "cli",
    "pulumi_policy": "policy",
    "jsonschema": "policy",
    "tritonclient": "serving",
    "numpy": "serving",
    "pymilvus": "vectors",
    "boto3": "aws",
    "botocore": "aws",
}


def missing_extra(exc: ModuleNotFoundError, command: str = "") -> str | None:
    """The message for a missing optional dependency, or None when ``exc`` is something else."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    who = f"aiplat {command}" if command else "aiplat"
    return f"{who}: needs {module}, which is not installed: pip install 'aiplat[{extra}]'"


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ModuleNotFoundError as exc:  # the command modules import rich and the pack
        if (message := missing_extra(exc)) is None:
            raise
        print(message, file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AiplatError as exc:
        print(f"aiplat {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if (message := missing_extra(exc, args.command)) is None:
            raise
        print(message, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
