"""What the subcommands share: the stack arguments, ``--json [PATH|-]``, output streams."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from aiplat.errors import UsageError


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``STACK`` and ``--stack-file``: the project's ``Pulumi.<STACK>.yaml`` unless told otherwise."""
    parser.add_argument("stack", metavar="STACK",
                        help="stack name: Pulumi.<STACK>.yaml in the project's stackConfigDir")
    parser.add_argument("--stack-file", metavar="PATH", default=None,
                        help="read this stack file instead of the project's Pulumi.<STACK>.yaml")


def add_json_option(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """``--json`` alone prints JSON on stdout (as ``pulumi preview --json`` does); ``--json PATH`` writes a file."""
    parser.add_argument("--json", dest="json_path", metavar="PATH", nargs="?", const="-", default=None,
                        help=f"{what} as JSON: on stdout with no value or '-' (the summary goes to stderr), "
                             "else written to PATH")


def human_stream(args: argparse.Namespace) -> TextIO:
    """Where the human summary goes: stderr when stdout carries the JSON document."""
    return sys.stderr if getattr(args, "json_path", None) == "-" else sys.stdout


def emit_json(path: str | None, doc: Any, sort_keys: bool = False) -> None:
    """Write ``doc`` to ``path`` ('-' = stdout); nothing when no ``--json`` was given."""
    if not path:
        return
    text = json.dumps(doc, indent=2, sort_keys=sort_keys) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise UsageError(f"--json: cannot write {path}: {exc.strerror or exc}") from None


def console_for(stream: TextIO, width: int = 110):
    """A rich Console on ``stream``; piped output (CI logs) gets a fixed width, not 80 columns."""
    from rich.console import Console

    return Console(file=stream, width=None if stream.isatty() else width)
