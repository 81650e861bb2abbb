"""spend-cap: the stack's monthly cost at full scale and its GPU count stay under the caps.

A stack policy: cost is a property of the whole graph. The arithmetic is
``policies.cost.estimate_resources`` (shared with ``aiplat check``'s cost table); this
module only feeds it the resources as the analyzer delivers them and compares.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

from aiplat.policies._graph import StackGraph
from aiplat.policies._props import plain
from aiplat.policies.cost import Resource, estimate_resources

NAME = "spend-cap"


def resources_of(args) -> list[Resource]:
    graph = StackGraph(args.resources)
    out = []
    for r in graph.resources:
        region = graph.provider_region(r)
        out.append(Resource(r.urn, r.resource_type, r.name, plain(r.props),
                            region if isinstance(region, str) else None,
                            {k: [d.urn for d in v] for k, v in r.property_dependencies.items()}))
    return out


def validate(args, report_violation) -> None:
    config = args.get_config()
    cap = float(config.get("maxMonthlyUsd", 50000))
    max_gpus = int(config.get("maxGpus", 16))
    est = estimate_resources(resources_of(args), config.get("reservedTerm", "1y"))
    unpriced = f" Not priced (add to the GPU catalog if they are GPUs): {'; '.join(est.unpriced)}." \
        if est.unpriced else ""
    if est.monthly_usd > cap:
        report_violation(
            f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd ${cap:,.2f} by "
            f"${est.monthly_usd - cap:,.2f}: {est.breakdown()}. Lower the pools' max_nodes/reserved_nodes or a "
            f"cheaper instance type, or raise maxMonthlyUsd in policies/config/<stack>.json.{unpriced}", None)
    if est.total_gpus > max_gpus:
        per = "; ".join(f"{line.category} {line.units}x {line.item} {line.region} = {line.gpus} GPUs"
                        for line in est.lines if line.gpus)
        report_violation(
            f"{est.total_gpus} GPUs at full scale exceed maxGpus {max_gpus} ({per}); lower the pools' "
            f"max_nodes or raise maxGpus.", None)


POLICY = StackValidationPolicy(
    name=NAME,
    description="Monthly cost at full scale (reserved + on-demand up to the caps + fixed) and GPUs stay under the caps.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "maxMonthlyUsd": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 50000,
                "description": "Monthly spend cap in USD (730 h/month). Default 50000.",
            },
            "maxGpus": {
                "type": "integer",
                "minimum": 0,
                "default": 16,
                "description": "Most GPUs the stack may run at full scale. Default 16.",
            },
            "reservedTerm": {
                "type": "string",
                "enum": ["1y", "3y"],
                "default": "1y",
                "description": "Commitment priced for reserved nodes without an aiplat.io/commitment label. "
                               "Default 1y.",
            },
        },
    ),
)
