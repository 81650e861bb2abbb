"""``aiplat check STACK``: the whole stack, offline, before any cloud sees it.

Finds the Pulumi project (``Pulumi.yaml`` from the current directory upward), validates
the stack file (exit 2 with every bad key path), runs the project's program (its
``main``, or ``--program FILE``) under the recording engine (``aiplat.testing``), and
prints the resource inventory grouped by region and component, the monthly cost at full
scale (``aiplat.policies.cost``) and the verdicts of the CrossGuard pack evaluated
through the SDK's own analyzer (``aiplat.policies.offline``) with ``--policy-config`` or
the project's ``policies/config/<stack>.json``, and the deploy analysis
(``aiplat.tools.deploy``: what would make the first ``pulumi up`` fail, read from the
graph). Exit 1 on any mandatory violation or deploy blocker, 2 on bad configuration or usage.

``--json`` writes ``{"stack", "steps", "changeSummary", "cost", "policies", "deploy"}`` where
``steps`` has the shape of ``pulumi preview --json`` and ``deploy`` is
``{"blockers": [...], "warnings": [...]}``, each ``{"resource", "rule", "message", "change"}``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pulumi
from rich.console import Console
from rich.table import Table

from aiplat.cli._common import add_json_option, add_stack_arguments, console_for, emit_json, human_stream
from aiplat.errors import ConfigError, UsageError
from aiplat.policies import cost, offline
from aiplat.project import Project, find_project, load_platform_config, read_stack_config, resolve_stack_file
from aiplat.testing import engine
from aiplat.tools import deploy

GLOBAL = "global"


def register(sub) -> None:
    p = sub.add_parser("check", help="run a stack offline: inventory, cost and policy verdicts",
                       description="Run the Pulumi project's program for STACK offline under a recording engine "
                                   "and print the resource inventory, the monthly cost, the policy verdicts and "
                                   "what would make the first pulumi up fail (deploy analysis). "
                                   "Exit 1 on a mandatory policy violation or a deploy blocker, 2 on bad "
                                   "configuration or usage.")
    add_stack_arguments(p)
    p.add_argument("--program", metavar="FILE",
                   help="run this program file instead of the project's main (same stack config)")
    p.add_argument("--policy-config", metavar="PATH",
                   help="policy pack config (--policy-pack-config format); default: the project's "
                        "policies/config/<STACK>.json when present")
    add_json_option(p, "the preview-shaped graph with cost, verdicts and the deploy analysis")
    p.set_defaults(func=run)


def run(args) -> int:
    project = find_project()
    path = resolve_stack_file(args.stack, args.stack_file, project)
    load_platform_config(args.stack, path)  # every config problem, with key paths, before anything runs
    program = Path(args.program).resolve() if args.program else project.program
    if not program.is_file():
        raise UsageError(f"program not found: {program}" + ("" if args.program else f" (main of {project.root})"))
    policy_config = Path(args.policy_config) if args.policy_config else project.policy_config(args.stack)
    config = read_stack_config(path)
    try:
        recording = engine.run_stack(args.stack, config, program, project=project.name)
    except ConfigError as exc:  # what only the program can judge (the model files), named like the rest
        raise exc.with_source(str(path)) from None
    except pulumi.RunError as exc:  # the program stopped itself with a message (no traceback under pulumi either)
        raise UsageError(f"the program stopped: {exc}") from None
    steps = recording.steps()
    estimate = cost.estimate(steps, cost.commitments_of_config(policy_config))  # the commitments the stack holds
    report = evaluate(project, args.stack, steps, policy_config)
    analysis = analyze_deploy(args.stack, recording, config)
    console = console_for(human_stream(args))
    render(console, args.stack, recording)
    console.print(cost_table(estimate))
    if report.verdicts:
        console.print(verdict_table(report))
    n_mandatory = len(report.mandatory_violations)
    verdict = "[bold red]FAIL[/]" if n_mandatory else "[bold green]PASS[/]"
    console.print(f"{verdict} policies: {n_mandatory} mandatory violation(s), {len(report.advisories)} advisory "
                  f"({report.config_path})")
    if analysis.findings:
        console.print(deploy_table(args.stack, analysis))
    n_blockers = len(analysis.blockers)
    verdict = "[bold red]FAIL[/]" if n_blockers else "[bold green]PASS[/]"
    console.print(f"{verdict} deploy: {n_blockers} blocker(s), {len(analysis.warnings)} warning(s) "
                  f"({len(deploy.RULE_MODULES)} rules)")
    emit_json(args.json_path, build_result(args.stack, recording, estimate, report, analysis))
    return report.exit_code or (1 if n_blockers else 0)


def analyze_deploy(stack: str, recording: engine.Recording, config: dict[str, Any]) -> deploy.DeployReport:
    """The deploy analysis of the recorded graph, secrets shown to it (``pulumi preview --json
    --show-secrets``): the offline run holds them anyway, and a value the analysis needs must
    not be hidden only because a sibling value in the same input is a secret."""
    return deploy.analyze(recording.steps(show_secrets=True), deploy.Context(stack, config))


def evaluate(project: Project, stack: str, steps: list[dict[str, Any]], policy_config: Path | None):
    report = offline.evaluate(steps, stack, policy_config, project=project.name)
    report.config_path = project.relative(policy_config) if policy_config else "pack defaults (no policy config)"
    return report


def golden_document(project: Project, stack: str, recording: engine.Recording) -> dict[str, Any]:
    """What ``aiplat check STACK --json`` writes for a stack of ``project`` with its own policy config."""
    steps = recording.steps()
    report = evaluate(project, stack, steps, project.policy_config(stack))
    analysis = analyze_deploy(stack, recording, read_stack_config(project.stack_file(stack)))
    return build_result(stack, recording, cost.estimate(steps, cost.commitments_of_config(project.policy_config(stack))),
                        report, analysis)


def build_result(stack: str, recording: engine.Recording, estimate=None, report=None,
                 analysis: deploy.DeployReport | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"stack": stack, **recording.preview_json()}
    if estimate is not None:
        doc["cost"] = estimate.to_json()
    if report is not None:
        doc["policies"] = report.to_json()
    if analysis is not None:
        doc["deploy"] = analysis.as_json()
    return doc


# -- tables -----------------------------------------------------------------------------
def cost_table(estimate: cost.CostEstimate, title: str = "Monthly cost at full scale") -> Table:
    table = Table(title=f"{title} · ${estimate.monthly_usd:,.2f} · {estimate.total_gpus} GPUs")
    for col, justify in (("category", "left"), ("item", "left"), ("region", "left"), ("units", "right"),
                         ("GPUs", "right"), ("$/h each", "right"), ("$/month", "right")):
        table.add_column(col, justify=justify)
    for line in estimate.lines:
        table.add_row(line.category, line.item, line.region, str(line.units), str(line.gpus),
                      f"{line.unit_hourly_usd:g}", f"{line.monthly_usd:,.2f}")
    table.add_row("total", "", "", "", str(estimate.total_gpus), "", f"{estimate.monthly_usd:,.2f}", style="bold")
    for item in estimate.unpriced:
        table.add_row("unpriced", item, "", "", "", "", "", style="dim")
    return table


def verdict_table(report: offline.PolicyReport) -> Table:
    table = Table(title=f"Policy verdicts · {report.stack} · {len(report.mandatory_violations)} mandatory, "
                  f"{len(report.advisories)} advisory", show_lines=False)
    for col in ("policy", "level", "resource", "message"):
        table.add_column(col, overflow="fold")
    for v in report.verdicts:
        style = "bold red" if v.mandatory else "yellow"
        table.add_row(v.policy, f"[{style}]{v.enforcement_level}[/]", f"{v.type}\n{v.name}" if v.urn else "stack",
                      v.message)
    return table


def deploy_table(stack: str, analysis: deploy.DeployReport) -> Table:
    table = Table(title=f"Deploy analysis · {stack} · {len(analysis.blockers)} blocker(s), "
                        f"{len(analysis.warnings)} warning(s)", show_lines=True)
    for col in ("rule", "level", "resource", "message", "change"):
        table.add_column(col, overflow="fold")
    for f in analysis.findings:
        style = "bold red" if f.severity == "blocker" else "yellow"
        head, _, name = f.resource.rpartition("::")
        type_ = head.rpartition("::")[2].rpartition("$")[2]
        table.add_row(f.rule, f"[{style}]{f.severity}[/]", f"{type_}\n{name}", f.message, f.change)
    return table


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
