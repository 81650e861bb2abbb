"""Deploy analysis: what would make the first ``pulumi up`` of a graph fail, read from the graph.

``analyze(steps, ctx)`` runs every rule over the steps of a preview (the shape of
``pulumi preview --json``: ``aiplat check``'s recording, or a real preview of any program)
and returns the findings: a *blocker* is something the first ``up`` cannot get past (it
exits 1 like a mandatory policy); a *warning* is something it gets past in a state the
stack did not ask for. Each finding names the resource, the rule, what is wrong and the
change to make.

A rule is a module of this package with ``RULE`` (its name) and
``check(graph, ctx) -> Iterable[Finding]``; ``RULE_MODULES`` lists them in report order.
Rules judge what the graph says, not what our components happen to emit: a rule that
cannot read what it needs from a resource reports that as a finding (fail closed).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from aiplat.tools.deploy._graph import Graph

Severity = Literal["blocker", "warning"]

# Rule modules of this package, in report order (each: RULE, check(graph, ctx)).
RULE_MODULES: tuple[str, ...] = (
    "crd_installed",
    "volume_provisioner",
    "triton_models",
    "schedulable",
    "reach",
    "gcp_apis",
)


@dataclass(frozen=True)
class Finding:
    resource: str  # URN
    rule: str
    message: str
    change: str  # the change that removes the finding
    severity: Severity = "blocker"

    def as_json(self) -> dict[str, str]:
        return {"resource": self.resource, "rule": self.rule, "message": self.message, "change": self.change}


@dataclass(frozen=True)
class Context:
    """What a rule may read besides the graph: the stack's name and its raw config
    (``{"aiplat:platform": {...}, ...}`` as in the stack file; ``platform`` is that section,
    empty for a program that does not use the platform config)."""

    stack: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> dict[str, Any]:
        value = self.config.get("aiplat:platform")
        return value if isinstance(value, dict) else {}

    def prerequisites(self, what: str) -> list[str]:
        """``deploy.prerequisites.<what>`` of the platform config (``crds``: "group/version" or
        "group/version/Kind" the clusters already serve; ``provisioners``: CSI drivers they run)
        — what the program does not install because the clusters have it. Validated by
        ``aiplat.config.deploy``."""
        value = self.platform.get("deploy", {})
        value = value.get("prerequisites", {}) if isinstance(value, dict) else {}
        value = value.get(what, []) if isinstance(value, dict) else []
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def has_crd(self, api_version: str, kind: str) -> bool:
        declared = self.prerequisites("crds")
        return api_version in declared or f"{api_version}/{kind}" in declared


@dataclass
class DeployReport:
    findings: list[Finding]

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "blocker"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def as_json(self) -> dict[str, list[dict[str, str]]]:
        return {"blockers": [f.as_json() for f in self.blockers], "warnings": [f.as_json() for f in self.warnings]}


def rules() -> list[Any]:
    return [importlib.import_module(f"{__name__}.{m}") for m in RULE_MODULES]


def analyze(steps: list[dict[str, Any]], ctx: Context) -> DeployReport:
    graph = Graph.of(steps)
    findings = [f for rule in rules() for f in rule.check(graph, ctx)]
    return DeployReport(sorted(findings, key=lambda f: (f.severity != "blocker", f.rule, f.resource, f.message)))
