"""The graph the deploy rules read: the steps of a preview, indexed.

Values a rule cannot read: ``UNKNOWN`` (the preview's placeholder for an output not known
before ``up``) and ``SECRET`` (``pulumi preview --json`` without ``--show-secrets``);
``unreadable(value)`` says whether a value is, or holds, either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

from pulumi.runtime.rpc import UNKNOWN

SECRET = "[secret]"
# The resource types of the managed clusters whose Kubernetes API a provider talks to.
CLUSTER_TYPES = ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster")


def unreadable(value: Any) -> bool:
    """Whether ``value`` is, or contains, a value not known at preview or hidden as a secret."""
    if isinstance(value, str):
        return value == SECRET or UNKNOWN in value
    if isinstance(value, dict):
        return any(unreadable(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(unreadable(v) for v in value)
    return False


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """``value[p0][p1]...``; ``default`` when a step is missing or of the wrong shape."""
    for p in path:
        if isinstance(p, int) and isinstance(value, list) and -len(value) <= p < len(value):
            value = value[p]
        elif isinstance(p, str) and isinstance(value, dict) and p in value:
            value = value[p]
        else:
            return default
    return value


@dataclass(frozen=True)
class Node:
    urn: str
    type: str
    inputs: dict[str, Any]
    parent: str
    provider: str  # provider URN ("" for none); the "::<id>" suffix removed
    dependencies: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:")

    @property
    def api_version(self) -> str:
        """"group/version" of a Kubernetes type (``core/v1`` for the core group), else ""."""
        parts = self.type.split(":")
        return parts[1] if len(parts) == 3 and self.is_kubernetes else ""

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    def display(self) -> str:
        """``metadata.namespace/name`` of a Kubernetes object when known, else the resource name."""
        meta = self.inputs.get("metadata") if isinstance(self.inputs.get("metadata"), dict) else {}
        name = meta.get("name")
        if isinstance(name, str) and not unreadable(name):
            ns = meta.get("namespace")
            return f"{ns}/{name}" if isinstance(ns, str) and not unreadable(ns) else name
        return self.name


class Graph:
    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.by_urn = {n.urn: n for n in nodes}

    @classmethod
    def of(cls, steps: list[dict[str, Any]]) -> "Graph":
        nodes = []
        for s in steps:
            st = s.get("newState") or {}
            nodes.append(Node(
                urn=st.get("urn", s.get("urn", "")), type=st.get("type", ""), inputs=st.get("inputs") or {},
                parent=st.get("parent", ""), provider=(st.get("provider") or "").rsplit("::", 1)[0],
                dependencies=tuple(st.get("dependencies") or ())))
        return cls(nodes)

    def of_type(self, *types: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.type in types)

    def provider_of(self, node: Node) -> Node | None:
        return self.by_urn.get(node.provider) if node.provider else None

    @cached_property
    def _needs(self) -> dict[str, frozenset[str]]:
        """Direct prerequisites: explicit dependencies, the parent and the provider."""
        return {n.urn: frozenset(u for u in (*n.dependencies, n.parent, n.provider) if u and u in self.by_urn)
                for n in self.nodes}

    def before(self, node: Node) -> Iterator[str]:
        """Every URN ``node`` is created after (transitive prerequisites), nearest first."""
        seen, todo = {node.urn}, [node.urn]
        while todo:
            nxt = []
            for u in todo:
                for d in self._needs.get(u, ()):
                    if d not in seen:
                        seen.add(d)
                        nxt.append(d)
                        yield d
            todo = nxt

    def waits_for(self, node: Node, other: Node) -> bool:
        """Whether ``node`` is created after ``other``: a path of dependencies, providers or
        parents (a component waits for its children through its dependants' ``dependsOn``,
        which the SDK expands to the children, so the expanded edges are in the graph)."""
        if other.urn in self._needs.get(node.urn, ()):  # the usual case: a direct dependency
            return True
        return any(u == other.urn for u in self.before(node))

    def cluster_of(self, node: Node) -> Node | None:
        """The managed cluster (EKS / GKE resource in the graph) a Kubernetes resource is
        created in: the one its provider was built from (the provider's prerequisites), or
        None (a default provider, or a cluster the program does not create)."""
        provider = node if node.is_provider else self.provider_of(node)
        if provider is None:
            return None
        return self._provider_clusters.get(provider.urn)

    @cached_property
    def _provider_clusters(self) -> dict[str, Node | None]:
        out: dict[str, Node | None] = {}
        for p in self.nodes:
            if p.type != "pulumi:providers:kubernetes":
                continue
            direct = [self.by_urn[d] for d in p.dependencies if d in self.by_urn
                      and self.by_urn[d].type in CLUSTER_TYPES]
            found = direct or [self.by_urn[u] for u in self.before(p) if self.by_urn[u].type in CLUSTER_TYPES]
            out[p.urn] = found[0] if len({c.urn for c in found}) == 1 else None
        return out

    def cluster_key(self, node: Node) -> str:
        """What identifies the cluster a Kubernetes resource goes to: its cluster's URN when the
        graph has it, else its provider's URN ("" for the default provider)."""
        cluster = self.cluster_of(node)
        return cluster.urn if cluster else node.provider
