"""The graph the deploy rules read: the steps of a preview, indexed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator


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

    def waits_for(self, node: Node, other: Node) -> bool:
        """Whether ``node`` is created after ``other``: a path of dependencies, providers or
        parents (a component waits for its children through its dependants' ``dependsOn``,
        which the SDK expands to the children, so the expanded edges are in the graph)."""
        seen, todo = set(), [node.urn]
        while todo:
            u = todo.pop()
            for d in self._needs.get(u, ()):
                if d == other.urn:
                    return True
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return False
