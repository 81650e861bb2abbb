"""spend-cap: the stack's monthly cost at full scale and its GPU count stay under the caps.

A stack policy: cost is a property of the whole graph. The arithmetic is
``policies.cost.estimate_resources`` (shared with ``aiplat check``'s cost table); this
module feeds it the resources as the analyzer delivers them, with the commitments the stack
declares it holds (``commitments`` in its config), and compares.

Fail closed: every resource that can run instances or accelerators is priced at its largest
size and its most expensive configuration; one it cannot price (a type not in the catalog, a
size unknown at preview or without a maximum, attribute-based selection, Auto Mode, node
auto-provisioning, Karpenter) is a violation naming the resource, never a note. A type whose
schema carries an instance type, machine type or accelerator that this module does not know
how to price (RDS, ElastiCache, EMR ...) is "cannot judge".
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

from aiplat.policies import _judge, _schema
from aiplat.policies._graph import StackGraph
from aiplat.policies._props import plain
from aiplat.policies.cost import (NODE_PROVISIONER_GROUPS, PRICED_TYPES, TERMS, Commitment, Resource,
                                  estimate_resources)

NAME = "spend-cap"

# Input names that say a resource launches compute of some size: an instance/machine/node type or
# class, an accelerator, attribute-based selection, an engine that picks nodes by itself.
COMPUTE_INPUTS = frozenset({
    "instancetype", "instancetypes", "machinetype", "acceleratortype", "acceleratortypes", "guestaccelerators",
    "accelerators", "instanceclass", "nodetype", "instancerequirements", "computeconfig", "clusterautoscaling",
    "enableautopilot", "instancecount", "coreinstancetype", "masterinstancetype", "instancefleets",
    "computetype", "gpu", "gpus",
})


def coverage(resource_type: str) -> _judge.Coverage:
    if resource_type in PRICED_TYPES:
        return _judge.Coverage.judged()
    parts = resource_type.split(":")
    if resource_type.startswith("pulumi:") or (len(parts) == 3 and "/" not in parts[1] and parts[0] not in
                                                _schema.PACKAGES):
        return _judge.Coverage.not_applicable("a component or provider: its children are priced, not it")
    if resource_type.startswith("kubernetes:"):
        group = parts[1].split("/")[0] if len(parts) == 3 else ""
        if group in NODE_PROVISIONER_GROUPS or resource_type in ("kubernetes:core/v1:Service",
                                                                 "kubernetes:helm.sh/v3:Release",
                                                                 "kubernetes:helm.sh/v4:Chart"):
            return _judge.Coverage.judged()
        return _judge.Coverage.not_applicable("Kubernetes objects run on the node groups/pools, which are priced")
    sc = _schema.schema(resource_type)
    if sc is None:
        return _judge.Coverage.cannot_judge("no provider schema is known for the type, so whether it launches "
                                            "instances cannot be read")
    hits = sc.matching(lambda n: n.lower() in COMPUTE_INPUTS)
    if hits:
        return _judge.Coverage.cannot_judge(f"it launches compute ({', '.join('.'.join(h) for h in hits[:3])}) and "
                                            "spend-cap has no price model for it")
    return _judge.Coverage.not_applicable("its schema has no instance type, machine type or accelerator input")


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
    cap = float(config["maxMonthlyUsd"])
    max_gpus = int(config["maxGpus"])
    allowed = list(config.get(_judge.ALLOWED_TYPES, []))
    est = estimate_resources(resources_of(args), Commitment.parse(config.get("commitments")))
    for r in args.resources:
        cov = coverage(r.resource_type)
        if cov.kind == "cannot-judge":
            _judge.report_unjudged(NAME, r.resource_type, r.name, cov.reason, allowed, report_violation, r.urn)
    for u in est.unpriced_resources:
        if u.type in allowed:
            continue
        report_violation(f"{u.type} {u.name}: cannot price: {u.reason}; a resource that cannot be priced at its "
                         f"largest size is refused (spend-cap fails closed)", u.urn or None)
    if est.monthly_usd > cap:
        report_violation(
            f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd ${cap:,.2f} by "
            f"${est.monthly_usd - cap:,.2f}: {est.breakdown()}. Lower the pools' max_nodes or a cheaper instance "
            f"type, declare the commitments the stack holds, or raise maxMonthlyUsd in "
            f"policies/config/<stack>.json.", None)
    if est.total_gpus > max_gpus:
        per = "; ".join(f"{line.category} {line.units}x {line.item} {line.region} = {line.gpus} GPUs"
                        for line in est.lines if line.gpus)
        report_violation(
            f"{est.total_gpus} GPUs at full scale exceed maxGpus {max_gpus} ({per}); lower the pools' "
            f"max_nodes or raise maxGpus.", None)


POLICY = StackValidationPolicy(
    name=NAME,
    description="Monthly cost at full scale (every instance-launching resource at its largest size and dearest "
                "type; committed prices only for declared commitments) and GPUs stay under the caps; what "
                "cannot be priced is refused.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "maxMonthlyUsd": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Monthly spend cap in USD (730 h/month). Required.",
            },
            "maxGpus": {
                "type": "integer",
                "minimum": 0,
                "description": "Most GPUs the stack may run at full scale. Required.",
            },
            "commitments": {
                "type": "array",
                "description": "Commitments the stack holds (Savings Plans / reserved instances on AWS, committed "
                               "use discounts on GCP): that many units of the type in the region are priced at "
                               "the term's committed rate, paid whether used or not. Nothing else gets a "
                               "committed price. Default: none.",
                "default": [],
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "region", "count", "term"],
                    "properties": {
                        "type": {"type": "string", "minLength": 1},
                        "region": {"type": "string", "minLength": 1},
                        "count": {"type": "integer", "minimum": 1},
                        "term": {"type": "string", "enum": list(TERMS)},
                    },
                },
            },
            _judge.ALLOWED_TYPES: _judge.ALLOWED_TYPES_SCHEMA,
        },
        required=["maxMonthlyUsd", "maxGpus"],
    ),
)
