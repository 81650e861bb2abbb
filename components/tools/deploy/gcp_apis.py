"""Rule ``gcp-api-enabled``: every GCP resource waits for the APIs it needs, every grant for its agent.

A new project has almost no API enabled, so a resource created before the
``gcp:projects/service:Service`` enabling its API fails ("API has not been used in project ...
or it is disabled"). For every ``gcp:`` resource of the graph this rule reads the APIs its type
needs from the catalog (``aiplat.catalog.gcp_apis``) and requires, per API, a Service enabling
it in the resource's project (its ``project`` input, else its provider's) that the resource
waits for (``Graph.waits_for``). Service Usage, through which enabling goes, is a prerequisite
and never required. A ``gcp:`` type the catalog does not know cannot be judged: a blocker
naming the type (fail closed). A ServiceIdentity also waits for the Service of the API whose
agent it creates.

A grant (``member`` / ``members``) naming a Google service agent waits for what creates the
agent: the ``gcp:projects/serviceIdentity:ServiceIdentity`` of its API for a primary agent
(the Kubernetes Engine Service Agent), else the Service of its API (Compute Engine's agent is
created by enabling compute.googleapis.com; Cloud Storage's by the storage API's lookup, an
invoke that is no node of a preview, so the rule can hold the grant only to the storage API).
Projects are matched by id; a grant on a resource whose project the graph does not say is
judged against its provider's project.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from pulumi.runtime.rpc import UNKNOWN  # the sentinel a preview shows for a value not known yet

from aiplat.catalog import gcp_apis as catalog
from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy._graph import Graph, Node

RULE = "gcp-api-enabled"
CATALOG_FILE = "components/catalog/gcp_apis.yaml"


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    services = _by_project_and_service(graph, catalog.SERVICE_TYPE)
    identities = _by_project_and_service(graph, catalog.IDENTITY_TYPE)
    for node in graph.nodes:
        if not node.type.startswith("gcp:"):
            continue
        apis = catalog.to_enable(node.type)
        if apis is None:
            yield Finding(
                node.urn, RULE,
                f"cannot judge {node.type}: the API catalog ({CATALOG_FILE}) does not say which service API "
                "it needs enabled",
                f"add {node.type} (or its module) with the API it needs to {CATALOG_FILE}")
            continue
        project = _project(graph, node)
        if project is None:
            yield Finding(
                node.urn, RULE,
                f"cannot judge {node.type}: neither the resource nor its provider names a project, so the "
                "project whose APIs it needs is unknown",
                "set project on the resource or on its gcp provider")
            continue
        needed = list(apis)
        if node.type == catalog.IDENTITY_TYPE and isinstance(node.inputs.get("service"), str):
            needed.append(node.inputs["service"])
        for api in dict.fromkeys(needed):
            yield from _waits_for_service(graph, node, project, api, services, node.type)
        for member in _members(node):
            found = catalog.agent_of(member)
            if found is None:
                continue
            email, agent = found
            if agent.created_by == "identity":
                yield from _waits_for_identity(graph, node, project, email, agent, identities)
            else:
                yield from _waits_for_service(graph, node, project, agent.api, services,
                                              f"the grant to {email} ({agent.name})")


def _waits_for_service(graph: Graph, node: Node, project: str, api: str,
                       services: dict[tuple[str, str], list[Node]], what: str) -> Iterator[Finding]:
    enabling = services.get((project, api), [])
    if not enabling:
        yield Finding(
            node.urn, RULE,
            f"{what} needs {api} enabled in project {project}, and the graph never enables it "
            f"(no {catalog.SERVICE_TYPE} for it)",
            f"add a gcp.projects.Service for {api} in project {project} and make {node.name} depend on it")
    elif not any(graph.waits_for(node, s) for s in enabling):
        yield Finding(
            node.urn, RULE,
            f"{what} does not wait for {enabling[0].name}, which enables {api} in project {project}: on a "
            "fresh project it is created before its API is on and fails",
            f"make {node.name} depend on {enabling[0].name} (ResourceOptions.depends_on)")


def _waits_for_identity(graph: Graph, node: Node, project: str, email: str, agent: catalog.Agent,
                        identities: dict[tuple[str, str], list[Node]]) -> Iterator[Finding]:
    creating = identities.get((project, agent.api), [])
    if not creating:
        yield Finding(
            node.urn, RULE,
            f"the grant to {email} ({agent.name}) names an agent that does not exist until a "
            f"{catalog.IDENTITY_TYPE} for {agent.api} creates it, and the graph has none in project {project}",
            f"add a gcp.projects.ServiceIdentity for {agent.api} in project {project} and make {node.name} "
            "depend on it")
    elif not any(graph.waits_for(node, i) for i in creating):
        yield Finding(
            node.urn, RULE,
            f"the grant to {email} ({agent.name}) does not wait for {creating[0].name}, which creates that agent",
            f"make {node.name} depend on {creating[0].name} (ResourceOptions.depends_on)")


def _by_project_and_service(graph: Graph, type_: str) -> dict[tuple[str, str], list[Node]]:
    out: dict[tuple[str, str], list[Node]] = {}
    for n in graph.of_type(type_):
        project, service = _project(graph, n), n.inputs.get("service")
        if project is not None and isinstance(service, str):
            out.setdefault((project, service), []).append(n)
    return out


def _project(graph: Graph, node: Node) -> str | None:
    """The resource's project id: its ``project`` input, else its provider's (None if neither says)."""
    value = _known_str(node.inputs.get("project"))
    if value is not None:
        return value
    provider = graph.provider_of(node)
    return _known_str(provider.inputs.get("project")) if provider is not None else None


def _members(node: Node) -> list[str]:
    found: list[Any] = [node.inputs.get("member"), *(node.inputs.get("members") or [])]
    return [m for m in found if _known_str(m) is not None]


def _known_str(value: Any) -> str | None:
    """A plain string input (not absent, empty or the preview's unknown sentinel)."""
    return value if isinstance(value, str) and value and value != UNKNOWN else None
