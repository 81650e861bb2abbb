"""What the graph installs in each cluster: CRDs and CSI provisioners, and by which resource.

Shared by the ``crd-installed`` and ``volume-provisioner`` rules. Installers are read from the
graph, judged with the catalog (``aiplat.catalog.installers``):

* a ``CustomResourceDefinition`` resource installs its group/version/kind (served versions);
* a Helm release of a chart the catalog knows at that version installs the chart's CRDs (its
  switches evaluated over the release's values, ``skipCrds`` honoured);
* an EKS add-on installs what the catalog says (the EBS CSI driver: ``ebs.csi.aws.com``);
* the managed cluster itself runs what the catalog lists for EKS / GKE (built in: no resource).

A cluster is identified by ``Graph.cluster_key``; an EKS add-on belongs to the EKS cluster it
depends on. What cannot be read (a release whose chart the catalog does not know, values not
known at preview) is collected in ``unreadable_releases`` for the rules to report.

The built-in API groups are the SDK's: every group the installed ``pulumi_kubernetes``
registers a resource module for (``apps``, ``core``, ``networking.k8s.io``, ...; plus Pulumi's
own ``helm.sh``, ``yaml``, ``kustomize``). A ``kubernetes:`` type in any other group is a
custom resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from aiplat.catalog import installers as catalog
from aiplat.tools.deploy._graph import Graph, Node, get, unreadable

CRD_TYPES = ("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
             "kubernetes:apiextensions.k8s.io/v1beta1:CustomResourceDefinition")
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
EKS_ADDON_TYPE = "aws:eks/addon:Addon"


@lru_cache(maxsize=None)
def built_in_groups() -> frozenset[str]:
    """API groups of the resource types the pulumi_kubernetes SDK itself defines."""
    import pulumi_kubernetes  # noqa: F401 - registers its resource modules
    from pulumi.runtime import rpc

    return frozenset(key.split(":", 1)[1].rsplit("/", 1)[0] for key in rpc._RESOURCE_MODULES
                     if key.startswith("kubernetes:"))


def is_custom_resource(node: Node) -> bool:
    if not node.is_kubernetes or node.is_provider:
        return False
    api = node.api_version
    return bool(api) and api.rsplit("/", 1)[0] not in built_in_groups()


@dataclass(frozen=True)
class Release:
    """A Helm release as the catalog reads it."""

    node: Node
    chart: Any
    repo: Any
    version: Any
    values: Any
    entry: catalog.ChartEntry | None
    problem: str  # "" when the catalog can judge it

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}" if self.version else str(self.chart)


def read_release(node: Node) -> Release:
    i = node.inputs
    chart, version, values = i.get("chart"), i.get("version"), i.get("values", {})
    repo = get(i, "repositoryOpts", "repo")
    entry, problem = None, ""
    if unreadable(chart) or unreadable(repo) or unreadable(version):
        problem = "its chart, repository or version is not known at preview"
    elif unreadable(values) and not isinstance(values, dict):
        problem = "its values are not known at preview (an output, or a secret the preview hides)"
    elif not isinstance(values, dict):
        problem = f"its values are not a mapping ({values!r})"
    else:
        entry = catalog.chart(str(chart), str(repo or ""))
        if entry is None:
            problem = (f"chart {chart!r} from {repo!r} is not in the catalog "
                       f"(components/catalog/installers.yaml)")
        elif not entry.knows(version):
            problem = (f"the catalog read chart {chart} at {', '.join(entry.versions)} only, "
                       f"not {version or 'an unpinned version'}")
        elif hidden := [p for p in entry.paths() if _unreadable_at(values, p)]:
            problem = (f"the values it is judged by are not known at preview (an output, or a secret the preview "
                       f"hides): {', '.join(hidden)}")
        elif entry.unknown(values):
            problem = f"it turns on parts the catalog did not read ({', '.join(entry.unknown(values))})"
    return Release(node, chart, repo, version, values if isinstance(values, dict) else {}, entry, problem)


def _unreadable_at(values: Any, path: str) -> bool:
    """Whether the value at ``path``, or a mapping on the way to it, is not readable."""
    node = values
    for part in path.split("."):
        if unreadable(node) and not isinstance(node, (dict, list)):
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return unreadable(node)


@dataclass
class Installed:
    """One cluster's installers."""

    managed: catalog.ManagedCluster | None = None  # EKS / GKE, when the graph has the cluster
    crds: dict[tuple[str, str], list[Node]] = field(default_factory=dict)  # (group/version, kind) -> installers
    provisioners: dict[str, list[Node]] = field(default_factory=dict)


class Installers:
    """The installers of a graph, per cluster key."""

    def __init__(self, graph: Graph):
        self.graph = graph

    @cached_property
    def releases(self) -> list[Release]:
        return [read_release(n) for n in self.graph.of_type(RELEASE_TYPE)]

    @cached_property
    def unreadable_releases(self) -> list[Release]:
        return [r for r in self.releases if r.problem]

    @cached_property
    def unreadable_crds(self) -> list[Node]:
        return [n for n in self.graph.of_type(*CRD_TYPES) if unreadable(get(n.inputs, "spec"))]

    @cached_property
    def by_cluster(self) -> dict[str, Installed]:
        g = self.graph
        out: dict[str, Installed] = {}

        def at(key: str) -> Installed:
            return out.setdefault(key, Installed())

        for node in g.nodes:
            kind = catalog.cluster_kind(node.type)
            if kind:
                at(node.urn).managed = catalog.managed(kind)
        for node in g.of_type(*CRD_TYPES):
            spec = get(node.inputs, "spec", default={})
            if unreadable(spec):
                continue
            group, kind = get(spec, "group"), get(spec, "names", "kind")
            for v in get(spec, "versions", default=[]) or []:
                if isinstance(v, dict) and v.get("served", True):
                    at(g.cluster_key(node)).crds.setdefault((f"{group}/{v.get('name')}", kind), []).append(node)
        for r in self.releases:
            if r.problem or r.entry is None:
                continue
            installed = at(g.cluster_key(r.node))
            for api, kinds in r.entry.crds_installed(r.values, bool(r.node.inputs.get("skipCrds"))).items():
                for kind in kinds:
                    installed.crds.setdefault((api, kind), []).append(r.node)
        for node in g.of_type(EKS_ADDON_TYPE):
            entry = catalog.eks_addon(str(node.inputs.get("addonName")))
            cluster = self.addon_cluster(node)
            if entry is None or cluster is None:
                continue
            installed = at(cluster.urn)
            for api, kinds in entry.crds.items():
                for kind in kinds:
                    installed.crds.setdefault((api, kind), []).append(node)
            for p in entry.provisioners:
                installed.provisioners.setdefault(p, []).append(node)
        return out

    def addon_cluster(self, addon: Node) -> Node | None:
        """The EKS cluster an add-on goes to: the one it depends on, else the one named ``clusterName``."""
        g = self.graph
        for d in addon.dependencies:
            n = g.by_urn.get(d)
            if n is not None and n.type == "aws:eks/cluster:Cluster":
                return n
        name = addon.inputs.get("clusterName")
        named = [n for n in g.of_type("aws:eks/cluster:Cluster") if n.inputs.get("name") == name]
        return named[0] if len(named) == 1 else None

    @cached_property
    def unknown_addons(self) -> list[Node]:
        return [n for n in self.graph.of_type(EKS_ADDON_TYPE)
                if catalog.eks_addon(str(n.inputs.get("addonName"))) is None or self.addon_cluster(n) is None]

    def of(self, node: Node) -> Installed:
        return self.by_cluster.get(self.graph.cluster_key(node)) or Installed()

    def managed_of(self, node: Node) -> catalog.ManagedCluster | None:
        cluster = self.graph.cluster_of(node)
        return catalog.managed(catalog.cluster_kind(cluster.type)) if cluster is not None else None


def of(graph: Graph) -> Installers:
    """One ``Installers`` per graph (both rules share it)."""
    inst = graph.__dict__.get("_installers")
    if inst is None:
        inst = graph.__dict__["_installers"] = Installers(graph)
    return inst
