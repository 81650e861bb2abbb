"""The stack's data classification, read from the stack itself.

The platform labels every resource it creates with ``data-classification`` (AWS tags, GCP
labels, Kubernetes ``metadata.labels``) from ``platform.data_classification``; a team's own
program next to it may label its resources too. The stack's classification is the highest
class any resource (or any provider's default tags/labels) declares: data flows between the
resources of a stack, so one confidential bucket makes the stack confidential. A value that
is not a known class is a problem to report, never a class to ignore; a stack that declares
none at all cannot be judged by a policy that depends on the class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from aiplat.policies._props import UNKNOWN, get, items

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")  # lowest to highest
KEY = "data-classification"
K8S_KEY = "aiplat.io/data-classification"
# Where a resource carries its tags/labels (wire names), and a provider its defaults.
_TAG_PATHS = (("tags",), ("tagsAll",), ("labels",), ("resourceLabels",), ("userLabels",),
              ("metadata", "labels"))
_PROVIDER_PATHS = (("defaultTags", "tags"), ("defaultTags",), ("defaultLabels",))


@dataclass(frozen=True)
class Classification:
    level: str | None  # the highest declared class; None when nothing declares one
    problems: tuple[str, ...] = ()  # "<resource>: <key>=<value> is not a class" and the like
    # (urn, problem) for each problem, so a policy can name the resource that carries it
    findings: tuple[tuple[str, str], ...] = ()

    def at_least(self, level: str) -> bool:
        """Is the stack's class ``level`` or higher? False when unknown (the caller decides)."""
        return self.level is not None and rank(self.level) >= rank(level)


def rank(level: str) -> int:
    return CLASSIFICATIONS.index(level)


def declared(props: Any, paths: Iterable[tuple[str, ...]] = _TAG_PATHS) -> list[Any]:
    """The classification values a props tree declares (``UNKNOWN`` for a value unknown at preview)."""
    out = []
    for path in paths:
        tags = get(props, *path)
        if tags is UNKNOWN:
            continue
        if isinstance(tags, str):  # providers receive their default tags/labels as a JSON string
            try:
                tags = json.loads(tags)
            except ValueError:
                continue
        if path == ("defaultTags",):  # {"tags": {...}}, as a JSON string on the wire
            tags = tags.get("tags") if isinstance(tags, dict) and not isinstance(tags.get("tags"), str) else None
        for key, value in items(tags):
            if key in (KEY, K8S_KEY):
                out.append(value)
    return out


def stack_classification(resources: Iterable[Any]) -> Classification:
    """The highest class declared by any resource or provider of the stack (``PolicyResource``s)."""
    found: list[str] = []
    problems: list[str] = []
    findings: list[tuple[str, str]] = []
    seen_providers: set[str] = set()
    for r in resources:
        sources = [(r.name, r.urn, r.props, _TAG_PATHS)]
        provider = getattr(r, "provider", None)
        if provider is not None and provider.urn not in seen_providers:
            seen_providers.add(provider.urn)
            sources.append((provider.name, provider.urn, provider.props, _PROVIDER_PATHS))
        if r.resource_type.startswith("pulumi:providers:"):
            sources.append((r.name, r.urn, r.props, _PROVIDER_PATHS))
        for name, urn, props, paths in sources:
            for value in declared(props, paths):
                if value is UNKNOWN:
                    problem = f"{KEY} is unknown at preview"
                elif value not in CLASSIFICATIONS:
                    problem = f"{KEY}={value!r} is not one of {', '.join(CLASSIFICATIONS)}"
                else:
                    found.append(value)
                    continue
                problems.append(f"{name}: {problem}")
                findings.append((urn, problem))
    level = max(found, key=rank) if found else None
    return Classification(level, tuple(dict.fromkeys(problems)), tuple(dict.fromkeys(findings)))
