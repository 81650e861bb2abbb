"""The stack as a stack policy sees it: resources by URN, their provider and region."""

from __future__ import annotations

from typing import Any, Iterable

from pulumi_policy import PolicyResource

from aiplat.policies._props import UNKNOWN, cloud_of, get, is_provider


class StackGraph:
    def __init__(self, resources: Iterable[PolicyResource]):
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in types]

    def provider_region(self, resource: PolicyResource) -> Any:
        """Region configured on the resource's provider (or on the provider itself);
        None when the provider sets none, UNKNOWN when it is not known in preview."""
        if is_provider(resource.resource_type):
            return get(resource.props, "region")
        if resource.provider is None:
            return None
        return get(resource.provider.props, "region")

    def dependents_of(self, urn: str, *types: str) -> list[PolicyResource]:
        """Resources of the given types that depend on ``urn`` (directly or via a property)."""
        out = []
        for r in self.resources:
            if types and r.resource_type not in types:
                continue
            deps = {d.urn for d in r.dependencies}
            for ds in r.property_dependencies.values():
                deps.update(d.urn for d in ds)
            if urn in deps:
                out.append(r)
        return out

    def property_deps(self, resource: PolicyResource, key: str) -> list[PolicyResource]:
        return list(resource.property_dependencies.get(key, []))

    def references(self, resource: PolicyResource, key: str, target: PolicyResource) -> bool:
        """Does ``resource.key`` point at ``target``? By property dependency (the only way while
        the target's id is unknown in preview), else by the known name/id value."""
        if any(d.urn == target.urn for d in self.property_deps(resource, key)):
            return True
        value = get(resource.props, key)
        if value is None or value is UNKNOWN:
            return False
        names = {target.name, get(target.props, "bucket"), get(target.props, "name"), get(target.props, "id")}
        names.discard(None)
        return value in names or (isinstance(value, str) and value.endswith(f":::{target.name}"))


def cloud_resources(graph: StackGraph) -> list[PolicyResource]:
    return [r for r in graph.resources if cloud_of(r.resource_type)]
