"""``aiplat check STACK``: the whole stack, offline, before any cloud sees it.

Validates the stack file (exit 2 with every bad key path), runs the real Pulumi program
under the recording mock engine, prints the resource inventory grouped by region and
component, the monthly cost at full scale (``policies.cost``) and the verdicts of the
CrossGuard pack evaluated through the SDK's own analyzer (``policies.offline``) with the
stack's ``policies/config/<stack>.json``. Exit 1 on any mandatory violation.

``--json PATH`` writes ``{"stack", "steps", "changeSummary", "cost", "policies"}`` where
``steps`` has the shape of ``pulumi preview --json``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aiplat import engine
from aiplat.policies import cost, offline
from aiplat.errors import UsageError
from aiplat.stackfile import load_platform_config, read_stack_config, resolve_stack_file

GLOBAL = "global"


def register(sub) -> None:
    p = sub.add_parser("check", help="run a stack offline: inventory, cost and policy verdicts")
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--stack-file", help="use this stack file instead of stacks/Pulumi.<stack>.yaml")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="write the result as JSON ('-' for stdout)")
    p.add_argument(
        "--policy-config",
        metavar="PATH",
        help="policy pack config (--policy-pack-config format); default policies/config/<stack>.json",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    path = resolve_stack_file(args.stack, args.stack_file)
    load_platform_config(args.stack, path)  # every config problem, with key paths, before anything runs
    recording = engine.run_stack(args.stack, read_stack_config(path))
    steps = recording.steps()
    estimate = cost.estimate(steps)
    report = offline.evaluate(steps, args.stack, args.policy_config)
    stream = sys.stderr if args.json_path == "-" else sys.stdout
    # Piped output (CI logs) gets a fixed width instead of rich's 80-column fallback.
    console = Console(file=stream, width=None if stream.isatty() else 110)
    render(console, args.stack, recording)
    console.print(estimate.table())
    if report.verdicts:
        console.print(report.table())
    n_mandatory = len(report.mandatory_violations)
    verdict = "[bold red]FAIL[/]" if n_mandatory else "[bold green]PASS[/]"
    console.print(
        f"{verdict} policies: {n_mandatory} mandatory violation(s), {len(report.advisories)} advisory "
        f"({report.config_path})"
    )
    if args.json_path:
        write_json(args.json_path, build_result(args.stack, recording, estimate, report))
    return report.exit_code


def golden_document(stack: str, recording: engine.Recording) -> dict[str, Any]:
    """What ``aiplat check STACK --json`` writes for a shipped stack (its own stack and policy config)."""
    steps = recording.steps()
    return build_result(stack, recording, cost.estimate(steps), offline.evaluate(steps, stack))


def build_result(stack: str, recording: engine.Recording, estimate=None, report=None) -> dict[str, Any]:
    doc: dict[str, Any] = {"stack": stack, **recording.preview_json()}
    if estimate is not None:
        doc["cost"] = estimate.to_json()
    if report is not None:
        doc["policies"] = report.to_json()
    return doc


def write_json(path: str, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, indent=2, sort_keys=False)
    if path == "-":
        print(text)
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


# -- inventory --------------------------------------------------------------------------
def regions_by_urn(recording: engine.Recording) -> dict[str, str]:
    """Region of every resource: its cloud provider's region, else its component's."""
    urns = recording.by_urn()
    component_regions: dict[str, set[str]] = defaultdict(set)
    direct: dict[str, str] = {}
    for reg in recording.resources:
        region = recording.region_of(reg)
        if region:
            direct[reg.urn] = region
            parent = reg.parent
            while parent in urns:
                component_regions[parent].add(region)
                parent = urns[parent].parent
    out = {}
    for reg in recording.resources:
        if reg.urn in direct:
            out[reg.urn] = direct[reg.urn]
            continue
        region, node = GLOBAL, reg.urn
        while node in urns:
            found = component_regions.get(node, set())
            if len(found) == 1:
                region = next(iter(found))
                break
            if len(found) > 1:
                break
            node = urns[node].parent
        out[reg.urn] = region
    return out


def component_of(recording: engine.Recording, reg: engine.Registration) -> str:
    """Type name of the nearest aiplat component above a resource (Network, Cluster, ...)."""
    urns = recording.by_urn()
    node = reg.parent
    while node in urns:
        parent = urns[node]
        if parent.type.startswith("aiplat:"):
            return parent.type.rsplit(":", 1)[-1]
        node = parent.parent
    return "-"


def render(console: Console, stack: str, recording: engine.Recording) -> None:
    regions = regions_by_urn(recording)
    rows: Counter = Counter()
    for reg in recording.resources:
        if not reg.custom or reg.is_provider:
            continue
        key = (regions[reg.urn], component_of(recording, reg), reg.type)
        rows[key] += 1
    table = Table(title=f"aiplat check {stack}: resources by region and component", show_lines=False)
    for col in ("Region", "Component", "Resource type", "Count"):
        table.add_column(col, justify="right" if col == "Count" else "left")
    last = None
    for key in sorted(rows, key=lambda k: (k[0] == GLOBAL, k[0], k[1], k[2])):
        region, component, type_ = key
        if last and last != region:
            table.add_section()
        table.add_row(region if region != last else "", component, type_, str(rows[key]))
        last = region
    console.print(table)
    custom = sum(1 for r in recording.resources if r.custom and not r.is_provider)
    n_regions = len({r for r in regions.values() if r != GLOBAL})
    console.print(
        f"{len(recording.resources)} registrations: {custom} cloud/Kubernetes resources, "
        f"{sum(1 for r in recording.resources if r.is_provider)} providers, "
        f"{sum(1 for r in recording.resources if not r.custom)} components, in {n_regions} region(s)"
    )
