"""``crd-installed``: every custom resource's CRD is installed in its cluster, before it.

A custom resource is a ``kubernetes:`` resource outside the SDK's built-in API groups
(``_installers.built_in_groups``), or one a Helm release's templates create (the catalog's
``uses`` of its chart, over its values). Its CRD must be served in the same cluster at its
version by something the graph creates (a ``CustomResourceDefinition``, a release of a chart
the catalog knows to ship it, an EKS add-on), be built into the managed cluster (catalog), or
be declared in ``aiplat:platform.deploy.prerequisites.crds``; and the resource must wait for
its installer: without the CRD the first ``up`` retries about a minute, then fails with "no
matches for kind".

Fails closed: a release whose chart the catalog does not know at its version, whose values
are not known at preview, a CRD resource whose spec is not known, an EKS add-on the catalog
does not know, each is a blocker naming what to add to the catalog.
"""

from __future__ import annotations

from typing import Iterable

from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy import _installers
from aiplat.tools.deploy._graph import Graph, Node

RULE = "crd-installed"
PREREQUISITE_KEY = "aiplat:platform.deploy.prerequisites.crds"


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    inst = _installers.of(graph)
    for node in graph.nodes:
        if _installers.is_custom_resource(node):
            api, kind = node.api_version, node.kind
            yield from _judge(graph, inst, ctx, node, api, kind, f"{kind} {node.display()}")
    for r in inst.releases:
        if r.problem or r.entry is None:
            continue
        own = r.entry.crds_installed(r.values, bool(r.node.inputs.get("skipCrds")))
        for use in r.entry.uses(r.values):
            api, kind = use.split(":")
            if kind in own.get(api, ()):
                continue  # the release installs the CRDs of what it creates (helm applies them first)
            yield from _judge(graph, inst, ctx, r.node, api, kind,
                              f"release {r.node.name} (chart {r.label}, which renders kind {kind})")
    for r in inst.unreadable_releases:
        yield Finding(r.node.urn, RULE,
                      f"cannot judge release {r.node.name} (chart {r.label}): {r.problem}; the CRDs it installs and "
                      f"the custom resources it creates are unknown",
                      _catalog_change(r))
    for node in inst.unreadable_crds:
        yield Finding(node.urn, RULE, f"cannot read the spec of CustomResourceDefinition {node.name}: not known at "
                                      f"preview, so what it installs is unknown",
                      "give the CustomResourceDefinition a spec known at preview (group, names.kind, versions)")
    for node in inst.unknown_addons:
        name = node.inputs.get("addonName")
        cluster = inst.addon_cluster(node)
        why = (f"the catalog does not know EKS add-on {name!r}" if cluster is not None
               else f"the EKS cluster of add-on {name!r} is not in the graph")
        yield Finding(node.urn, RULE, f"cannot judge EKS add-on {node.name}: {why}, so the CRDs and provisioners it "
                                      f"installs are unknown",
                      f"add {name!r} to eks_addons in components/catalog/installers.yaml with the CRDs and CSI "
                      f"provisioners it installs (from the add-on's documentation)")


def _judge(graph: Graph, inst: _installers.Installers, ctx: Context, node: Node, api: str, kind: str,
           what: str) -> Iterable[Finding]:
    if ctx.has_crd(api, kind):
        return
    managed = inst.managed_of(node)
    if managed is not None and kind in managed.crds.get(api, ()):
        return
    installed = inst.of(node)
    installers = installed.crds.get((api, kind), [])
    if not installers:
        served = sorted(a for a, k in installed.crds if k == kind and a.rsplit("/", 1)[0] == api.rsplit("/", 1)[0])
        if served:
            why = f"its CRD is installed at {', '.join(served)} only, not {api}"
        else:
            why = f"nothing in the graph installs the CRD of {kind} ({api}) in its cluster"
        cannot = [r for r in inst.unreadable_releases if graph.cluster_key(r.node) == graph.cluster_key(node)]
        if cannot:
            why += f" (not judged: release {', '.join(r.node.name for r in cannot)}, see below)"
        yield Finding(node.urn, RULE, f"{what}: {why}; "
                                      f"a first up fails with 'no matches for kind \"{kind}\"'",
                      f"install the CRD in the same cluster before it (a CustomResourceDefinition, a Helm release "
                      f"or an EKS add-on that ships it, known to components/catalog/installers.yaml) and make it "
                      f"depend on that; or, if the cluster already serves it, declare \"{api}/{kind}\" in "
                      f"{PREREQUISITE_KEY}")
        return
    if any(graph.waits_for(node, i) for i in installers):
        return
    names = ", ".join(f"{i.type.rsplit(':', 1)[-1]} {i.name}" for i in installers)
    yield Finding(node.urn, RULE,
                  f"{what} does not wait for {names}, which "
                  f"installs the CRD of {kind} ({api}); a first up may create it first and fail with "
                  f"'no matches for kind \"{kind}\"'",
                  f"add depends_on=[{installers[0].name}] to {node.name}")


def _catalog_change(r: _installers.Release) -> str:
    if r.entry is None and "not in the catalog" in r.problem:
        return (f"add chart {r.chart} (repo {r.repo}, version {r.version}) to components/catalog/installers.yaml: "
                f"the CRDs it ships, the custom resources and volume claims its templates create, read at that version")
    if r.entry is not None and not r.entry.knows(r.version):
        return (f"pin chart {r.chart} to {', '.join(r.entry.versions)}, or read it at {r.version} and add that "
                f"version to components/catalog/installers.yaml")
    if r.entry is not None:
        return f"turn those parts off, or read them and add them to chart {r.chart} in components/catalog/installers.yaml"
    return "give the release a chart, repository, version and values known at preview"
