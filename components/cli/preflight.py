"""``aiplat preflight STACK``: GPU offerings and vCPU quotas in the AWS account, before ``pulumi up``.

The checks are ``aiplat.tools.preflight``; this module parses, renders and sets the exit
code (1 on any shortfall).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiplat.cli._common import add_json_option, add_stack_arguments, emit_json
from aiplat.project import load_platform_config
from aiplat.tools import preflight
from aiplat.tools.preflight import ClientFactory, Report



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "preflight",
        help="check GPU instance offerings and vCPU quotas in the AWS account (exit 1 on a shortfall)",
        description=(
            "Per region of an AWS stack: is each GPU pool's instance type offered in its zones, and do the "
            "EC2 On-Demand/Spot vCPU quotas cover every pool at max_nodes? Exit 1 on any shortfall."
        ),
    )
    add_stack_arguments(p)
    add_json_option(p, "the report")
    p.set_defaults(func=run)


def render(report: Report, console: Console) -> None:
    # Text objects, not markup: zone lists like "[us-east-1a, us-east-1b]" would parse as tags.
    ok, bad = Text("ok", style="green"), lambda s: Text(s, style="bold red")
    if not report.offerings:
        console.print(f"preflight {report.stack}: no GPU pools, nothing to check")
        return
    t = Table(title=f"GPU instance offerings ({report.stack})", header_style="bold")
    for col in ("Region", "Pool", "Instance type", "Zones", "Status"):
        t.add_column(col)
    for c in report.offerings:
        status = ok if c.ok else bad(f"not offered in {', '.join(c.missing_zones)}")
        t.add_row(c.region, c.pool, c.instance_type, ", ".join(c.zones), status)
    console.print(t)
    q = Table(title=f"EC2 vCPU quotas at full scale ({report.stack})", header_style="bold")
    for col, justify in (("Region", "left"), ("Quota", "left"), ("Pools", "left"), ("vCPUs needed", "right"),
                         ("Quota vCPUs", "right"), ("Status", "left")):
        q.add_column(col, justify=justify)
    for c in report.quotas:
        status = ok if c.ok else bad(f"short by {c.needed_vcpus - c.quota_vcpus:g}")
        src = " (default)" if c.quota_source == "aws-default" else ""
        q.add_row(c.region, f"{c.quota_code} {c.quota_name}", ", ".join(c.pools), f"{c.needed_vcpus:,}",
                  f"{c.quota_vcpus:,g}{src}", status)
    console.print(q)
    fixes = [f"{c.path}: {c.advice()}" for c in report.offerings if not c.ok]
    fixes += [f"{c.region} {c.market}: {c.advice()}" for c in report.quotas if not c.ok]
    if not fixes:
        console.print(Text("preflight: ok", style="green"))
        return
    console.print(bad(f"preflight: {len(fixes)} shortfall{'s' if len(fixes) != 1 else ''}"))
    for line in fixes:
        console.print(Text(f"  - {line}"), soft_wrap=True)


def run(args: argparse.Namespace, clients: ClientFactory | None = None) -> int:
    config = load_platform_config(args.stack, args.stack_file)
    report = preflight.run_preflight(args.stack, config, clients or preflight.boto_clients)
    emit_json(args.json_path, report.to_dict())
    if args.json_path != "-":
        render(report, Console(width=160))
    return 0 if report.ok else 1
