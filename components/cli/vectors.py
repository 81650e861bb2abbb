"""``aiplat vectors apply STACK --uri URI``: make a Milvus hold the stack's collections.

Reads ``vector_store.collections`` from the stack file, plans against the Milvus at
``--uri`` (``http://host:19530`` or a Milvus Lite ``*.db`` file) and creates missing
collections and indexes. A change that would lose data is refused, with every key path,
before anything is written (exit 2). ``--json -`` prints only the JSON report on stdout;
``--json PATH`` writes it (conflicts included) and still prints the summary.
"""

from __future__ import annotations

import argparse
import os
import sys

from aiplat.cli._common import add_json_option, add_stack_arguments, emit_json
from aiplat.errors import ConfigError, UsageError
from aiplat.project import load_platform_config, resolve_stack_file
from aiplat.tools import vectors


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "vectors",
        help="apply the stack's vector collection specs to a Milvus",
        description="Vector store operations on a running Milvus.",
    )
    sub = p.add_subparsers(dest="vectors_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    a = sub.add_parser(
        "apply",
        help="create missing collections and indexes; refuse changes that would lose data",
        description=(
            "Create the stack's missing collections and indexes in the Milvus at --uri. Idempotent; "
            "refuses (exit 2, nothing changed) any change to an existing collection that would lose data."
        ),
    )
    add_stack_arguments(a)
    a.add_argument("--uri", required=True, help="Milvus URI: http(s)://host:19530, or a Milvus Lite file ending in .db")
    a.add_argument(
        "--token",
        default=None,
        help="Milvus token ('user:password' or API key). Default: $MILVUS_TOKEN, so it stays out of shell history",
    )
    a.add_argument("--dry-run", action="store_true", help="plan and report only; change nothing")
    add_json_option(a, "the report")
    a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_platform_config(args.stack, args.stack_file)
    source = str(resolve_stack_file(args.stack, args.stack_file))
    store = config.vector_store
    if store is None or not store.collections:
        raise UsageError(f"stack {args.stack!r} has no vector_store.collections in {source}; nothing to apply")
    vectors.quiet_pymilvus()
    token = args.token if args.token is not None else os.environ.get("MILVUS_TOKEN")
    the_plan = vectors.apply(args.uri, store.collections, token, dry_run=args.dry_run, raise_on_conflict=False)
    report = {"stack": args.stack, "uri": args.uri, "dry_run": args.dry_run, **the_plan.to_dict()}
    emit_json(args.json_path, report)
    if args.json_path != "-":
        _print_summary(the_plan, args.dry_run)
    if not the_plan.safe:
        raise ConfigError(the_plan.conflicts, source)
    return 0


def _print_summary(the_plan: vectors.Plan, dry_run: bool) -> None:
    verb = {"create": "would create" if dry_run else "created", "update": "would update" if dry_run else "updated",
            "unchanged": "unchanged", "conflict": "refused"}
    for c in the_plan.collections:
        print(f"{c.name}: {verb[c.action]}")
        for step in c.steps:
            print(f"  - {step}")
        for note in c.notes:
            print(f"  note: {note}")
    if not the_plan.safe:
        print("nothing was changed: the plan has conflicts", file=sys.stderr)
