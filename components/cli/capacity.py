"""``aiplat capacity``: the reserved GPU baseline that minimises cost for an hourly demand CSV.

Prices come from the GPU catalog (list prices, dated); the arithmetic is
``aiplat.tools.capacity``. ``--json`` (or ``--json -``) prints only JSON on stdout (for
pipes); ``--json PATH`` writes the file and still prints the table.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from aiplat.catalog import gpu
from aiplat.cli._common import add_json_option, emit_json
from aiplat.errors import UsageError
from aiplat.tools import capacity


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "capacity",
        help="reserved GPU baseline that minimises cost for an hourly demand series",
        description=(
            "Find the reserved node count R minimising R*hours*reserved + on-demand for the hours above R, "
            "from an hourly CSV 'timestamp,nodes' (one row per hour, no gaps)."
        ),
    )
    p.add_argument("--demand", required=True, metavar="FILE.csv", help="hourly CSV with header timestamp,nodes")
    p.add_argument("--instance-type", required=True, metavar="TYPE", help="e.g. g6e.xlarge or a3-highgpu-8g")
    p.add_argument("--region", required=True, metavar="REGION", help="e.g. us-east-1 or us-central1")
    p.add_argument(
        "--cloud",
        choices=("aws", "gcp"),
        default=None,
        help="default: inferred from the instance type (GCP machine type names -> gcp, else aws)",
    )
    p.add_argument(
        "--term",
        choices=("1y", "3y"),
        default="1y",
        help="commitment term priced for the reserved baseline (default: 1y)",
    )
    add_json_option(p, "the plan")
    p.set_defaults(func=run)


def infer_cloud(instance_type: str) -> str:
    # Names do not collide across clouds (g5.xlarge vs g2-standard-4), so a GCP catalog
    # hit is unambiguous; anything else is treated as AWS and gets AWS suggestions.
    return "gcp" if gpu.get_instance_type("gcp", instance_type) is not None else "aws"


def build_report(args: argparse.Namespace) -> dict:
    """Validate the inputs, plan, and return the JSON document (also used by tests)."""
    cloud = args.cloud or infer_cloud(args.instance_type)
    problem = gpu.offering_problem(cloud, args.instance_type, args.region)
    if problem:
        raise UsageError(f"--instance-type/--region: {problem}")
    itype = gpu.get_instance_type(cloud, args.instance_type)
    price = itype.price(args.region)
    demand = capacity.read_demand_csv(args.demand)
    result = capacity.plan(demand.nodes, price.reserved_hourly(args.term), price.on_demand_hourly)
    return {
        "cloud": cloud,
        "instance_type": itype.name,
        "region": args.region,
        "term": args.term,
        "gpu_model": itype.gpu_model,
        "gpus_per_node": itype.gpus,
        "reserved_gpus": result.reserved_nodes * itype.gpus,
        "start": demand.timestamps[0].isoformat(),
        "end": demand.timestamps[-1].isoformat(),
        "prices_date": _catalog_date(),
        **result.to_dict(),
    }


def _catalog_date() -> str:
    import yaml

    return str(yaml.safe_load(gpu.GPU_FILE.read_text())["date"])


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def render(report: dict, console: Console) -> None:
    r = report
    title = (
        f"Capacity plan: {r['instance_type']} ({r['gpus_per_node']}x {r['gpu_model']}) in {r['region']}, "
        f"{r['term']} commitment"
    )
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("value", justify="right")
    table.add_column("note")
    rows = [
        ("Hours", f"{r['hours']:,}", f"{r['start']} .. {r['end']}"),
        ("Peak / mean nodes", f"{r['peak_nodes']} / {r['mean_nodes']:g}", ""),
        ("Prices (per node-hour)", f"${r['reserved_hourly_usd']:,.4f} / ${r['on_demand_hourly_usd']:,.4f}",
         f"reserved {r['term']} / on-demand, list prices of {r['prices_date']}"),
        ("Break-even utilisation", f"{r['break_even_utilisation']:.1%}",
         "reserve a node if it is busy more than this share of hours"),
        ("Reserved baseline", f"{r['reserved_nodes']} nodes", f"{r['reserved_gpus']} GPUs"),
        ("On-demand burst at peak", f"{r['on_demand_peak_nodes']} nodes", "max_nodes >= baseline + this"),
        ("Reserved cost", _usd(r["reserved_cost_usd"]), f"{r['reserved_node_hours']:,} node-hours"),
        ("On-demand burst cost", _usd(r["on_demand_burst_cost_usd"]), f"{r['on_demand_node_hours']:,} node-hours"),
        ("Total cost", _usd(r["total_cost_usd"]), ""),
        ("Idle reserved node-hours", f"{r['idle_reserved_node_hours']:,}",
         f"reserved utilisation {r['reserved_utilisation']:.1%}"),
        ("All on-demand", _usd(r["on_demand_only_cost_usd"]),
         f"saves {_usd(r['savings_vs_on_demand_usd'])} ({r['savings_vs_on_demand_pct']}%)"),
        ("Reserve the peak", _usd(r["peak_reserved_cost_usd"]),
         f"saves {_usd(r['savings_vs_peak_usd'])} ({r['savings_vs_peak_pct']}%)"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    report = build_report(args)
    emit_json(args.json_path, report)
    if args.json_path != "-":
        render(report, Console(width=120))
    return 0
