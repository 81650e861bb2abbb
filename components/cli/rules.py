"""``aiplat rules STACK --out FILE``: the stack's Prometheus alert rules as a rules file.

The groups are the ones the Monitoring component puts into the cluster's PrometheusRule
(``aiplat.monitoring.rules.platform_rule_groups``), so ``promtool check rules FILE`` and
``promtool test rules`` check exactly what is deployed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiplat.errors import UsageError
from aiplat.monitoring.rules import platform_rule_groups, region_rule_groups, rules_yaml
from aiplat.cli._common import add_stack_arguments
from aiplat.project import load_platform_config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rules",
        help="write the stack's Prometheus alert rules (SLO tiers) to a rules file",
        description="Write the Prometheus alert rules the stack deploys (the groups of its PrometheusRule) to a rules file, for promtool.",
    )
    add_stack_arguments(p)
    p.add_argument("--out", metavar="FILE", required=True, help="rules file to write ('-' for stdout)")
    p.add_argument("--region", metavar="REGION",
                   help="write exactly the rules of this region's cluster (its models and GPU pools), "
                        "as its PrometheusRule carries them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_platform_config(args.stack, args.stack_file)
    region = getattr(args, "region", None)
    if region is not None:
        names = [r.name for r in cfg.regions]
        if region not in names:
            raise UsageError(f"stack {args.stack} has no region {region!r} (regions: {', '.join(names)})")
        text = rules_yaml(region_rule_groups(cfg, args.stack, region))
    else:
        text = rules_yaml(platform_rule_groups(cfg, args.stack))
    if args.out == "-":
        print(text, end="")
        return 0
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: directory {out.parent} does not exist")
    try:
        out.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    return 0
