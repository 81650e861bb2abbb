"""Rule ``schedulable``: every workload fits a node pool it may land on.

For each workload of the graph (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
CronJobs, Pods, and the pods of Helm releases whose chart ``_charts`` describes), the pools
of its cluster it may land on are those whose taints it tolerates (every ``NoSchedule`` and
``NoExecute`` taint) and whose labels match its ``nodeSelector`` and required node affinity;
it fits one when the pod's requests are within the allocatable CPU, memory, GPUs and pod
count of the pool's instance type (``aiplat.catalog.instances``, the clouds' kubelet
reservations). A pod's requests are what the scheduler counts: per resource the larger of
the sum over its containers (sidecar init containers, ``restartPolicy: Always``, included)
and the largest other init container; a container with limits and no requests requests its
limits.

Pools are the graph's ``aws:eks/nodeGroup:NodeGroup`` and ``gcp:container/nodePool:NodePool``;
their labels are the ones they declare plus the ones the kubelet and the cloud put on every
node (``kubernetes.io/os``, ``kubernetes.io/arch``, ``node.kubernetes.io/instance-type``,
``eks.amazonaws.com/capacityType`` / ``cloud.google.com/gke-nodepool`` and the like). A
workload's cluster is the cluster its Kubernetes provider was built from (the provider's
dependencies), a pool's the cluster it joins.

Findings: a **blocker** for a workload that fits no pool (naming its requests and, per pool,
why not) and for a DaemonSet too large for a pool it selects; a **warning** for what cannot be
judged: a release whose chart or values the catalog does not describe, values that are
secret or unknown, a pool whose instance type the catalog does not know, a workload whose
cluster cannot be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from aiplat.catalog import instances
from aiplat.refs import cpu_millicores, format_cpu, format_memory, memory_mib
from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy._charts import Pod, Unreadable, describer
from aiplat.tools.deploy._graph import Graph, Node

RULE = "schedulable"

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTERS = ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster")
RELEASE = "kubernetes:helm.sh/v3:Release"
GPU = "nvidia.com/gpu"
# Workload kind -> where its pod template is, in the resource's inputs.
WORKLOADS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
BLOCKING_EFFECTS = {"NoSchedule", "NoExecute"}
EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


# ---- node pools ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NodePool:
    urn: str
    name: str
    cloud: str
    instance_type: str | None
    labels: dict[str, str]
    taints: tuple[tuple[str, str, str], ...]  # (key, value, effect)
    allocatable: dict[str, int] | None  # cpu (millicores), memory (MiB), pods, nvidia.com/gpu; None: unknown

    def describe(self) -> str:
        if self.allocatable is None:
            return f"{self.name} ({self.instance_type or 'instance type unknown'})"
        a = self.allocatable
        gpus = f" / {a[GPU]} GPU" if a.get(GPU) else ""
        return (f"{self.name} ({self.instance_type}: {format_cpu(a['cpu'])} CPU / {format_memory(a['memory'])}"
                f"{gpus} allocatable)")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value and not _unknown(value) else None


# How a preview shows a value not known yet (the Pulumi engine's unknown sentinel) and a secret.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and value in (UNKNOWN, SECRET)


def _arch(cloud: str, ami_type: str | None, itype: str | None) -> str:
    if cloud == "aws":
        return "arm64" if ami_type and "ARM" in ami_type.upper() else "amd64"
    return "arm64" if itype and itype.split("-")[0] in ("t2a", "c4a", "n4a") else "amd64"


def node_pools(graph: Graph) -> list[NodePool]:
    out = []
    for n in graph.of_type(EKS_NODE_GROUP, GKE_NODE_POOL):
        i = n.inputs
        if n.type == EKS_NODE_GROUP:
            cloud, types = "aws", i.get("instanceTypes")
            names = [_str(t) for t in types] if isinstance(types, list) and types else [_launch_template_type(graph, n)]
            itype = "|".join(names) if all(names) else None
            labels = dict(i.get("labels") or {}) if isinstance(i.get("labels"), dict) else {}
            taints = i.get("taints") or []
            spot = i.get("capacityType") == "SPOT"
            implicit = {"eks.amazonaws.com/capacityType": "SPOT" if spot else "ON_DEMAND"}
            if _str(i.get("nodeGroupName")):
                implicit["eks.amazonaws.com/nodegroup"] = i["nodeGroupName"]
            arch = _arch(cloud, _str(i.get("amiType")), itype)
        else:
            cloud, cfg = "gcp", i.get("nodeConfig") or {}
            itype = _str(cfg.get("machineType"))
            labels = dict(cfg.get("labels") or {}) if isinstance(cfg.get("labels"), dict) else {}
            taints = list(cfg.get("taints") or [])
            if cfg.get("guestAccelerators"):
                # GKE taints every node with GPUs itself (nvidia.com/gpu=present:NoSchedule)
                taints.append({"key": GPU, "value": "present", "effect": "NO_SCHEDULE"})
            implicit = {}
            if _str(i.get("name")):
                implicit["cloud.google.com/gke-nodepool"] = i["name"]
            if cfg.get("spot") is True:
                implicit["cloud.google.com/gke-spot"] = "true"
            arch = _arch(cloud, None, itype)
        implicit.update({"kubernetes.io/os": "linux", "kubernetes.io/arch": arch})
        if itype and "|" not in itype:
            implicit["node.kubernetes.io/instance-type"] = itype
        parsed = tuple(dict.fromkeys(
            (t.get("key", ""), str(t.get("value", "")), EFFECTS.get(t.get("effect"), t.get("effect", "")))
            for t in taints if isinstance(t, dict)))
        # several types (an EKS group may list more): a pod must fit whichever one is launched
        specs = [instances.get(cloud, t) for t in itype.split("|")] if itype else [None]
        alloc = None
        if all(spec is not None for spec in specs):
            each = [(spec.allocatable(), spec.gpus) for spec in specs]
            alloc = {"cpu": min(a.cpu_millicores for a, _ in each), "memory": min(a.memory_mib for a, _ in each),
                     "pods": min(a.pods for a, _ in each), GPU: min(g for _, g in each)}
        out.append(NodePool(n.urn, n.name, cloud, itype, {**implicit, **labels}, parsed, alloc))
    return out


def _launch_template_type(graph: Graph, group: Node) -> str | None:
    """The instance type of the launch template a node group names (its dependency), if any."""
    for d in group.dependencies:
        lt = graph.by_urn.get(d)
        if lt is not None and lt.type == "aws:ec2/launchTemplate:LaunchTemplate":
            return _str(lt.inputs.get("instanceType"))
    return None


# ---- clusters -----------------------------------------------------------------------------
def _cluster_of(graph: Graph, node: Node) -> str | None:
    """The cluster (URN) ``node`` names among its direct dependencies, else None."""
    found = [d for d in node.dependencies if d in graph.by_urn and graph.by_urn[d].type in CLUSTERS]
    return found[0] if len(set(found)) == 1 else None


def _pool_cluster(graph: Graph, pool: Node) -> str | None:
    urn = _cluster_of(graph, pool)
    if urn is not None:
        return urn
    name = pool.inputs.get("clusterName" if pool.type == EKS_NODE_GROUP else "cluster")
    for c in graph.of_type(*CLUSTERS):
        if isinstance(name, str) and name in (c.inputs.get("name"), c.name):
            return c.urn
    return None


def _workload_cluster(graph: Graph, node: Node) -> str | None:
    provider = graph.provider_of(node)
    if provider is not None:
        return _cluster_of(graph, provider)
    clusters = list(graph.of_type(*CLUSTERS))
    return clusters[0].urn if len(clusters) == 1 else None


# ---- pods ---------------------------------------------------------------------------------
def _resources_of(container: Any) -> dict[str, int] | None:
    """A container's requests (cpu millicores, memory MiB, others as counts); None when unreadable."""
    res = container if isinstance(container, dict) else {}
    requests = res.get("requests") if isinstance(res.get("requests"), dict) else {}
    limits = res.get("limits") if isinstance(res.get("limits"), dict) else {}
    out: dict[str, int] = {}
    for key in set(requests) | set(limits):
        value = requests.get(key, limits.get(key))  # limits without requests: the requests are the limits
        if key == "cpu":
            q = cpu_millicores(value)
        elif key == "memory":
            q = memory_mib(value)
        elif key in ("ephemeral-storage", "hugepages-2Mi", "hugepages-1Gi"):
            continue  # node-local storage is not in the catalog; not judged
        else:
            q = cpu_millicores(value)
            q = None if q is None else -(-q // 1000)
        if q is None:
            return None
        out[key] = q
    return out


def pod_requests(pod: Pod) -> dict[str, int] | None:
    """What the scheduler counts for one pod of ``pod``: per resource max(sum of app and sidecar
    containers, largest init container); None when a quantity cannot be read."""
    total: dict[str, int] = {}
    for c in pod.containers:
        r = _resources_of(c)
        if r is None:
            return None
        for k, q in r.items():
            total[k] = total.get(k, 0) + q
    init_max: dict[str, int] = {}
    for ic in pod.init_containers:
        r = _resources_of(ic.get("resources"))
        if r is None:
            return None
        for k, q in r.items():
            if ic.get("restartPolicy") == "Always":
                total[k] = total.get(k, 0) + q
            else:
                init_max[k] = max(init_max.get(k, 0), q)
    return {k: max(total.get(k, 0), init_max.get(k, 0)) for k in set(total) | set(init_max)}


def _pod_of_template(name: str, kind: str, spec: dict, replicas: int) -> Pod:
    def resources(cs: Any) -> tuple:
        return tuple((c.get("resources") or {}) for c in cs or () if isinstance(c, dict))

    inits = tuple({"resources": c.get("resources") or {}, "restartPolicy": c.get("restartPolicy")}
                  for c in spec.get("initContainers") or () if isinstance(c, dict))
    return Pod(name, kind, replicas, resources(spec.get("containers")), inits,
               spec.get("nodeSelector") or {}, tuple(spec.get("tolerations") or ()), spec.get("affinity") or None)


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _contains_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return _unknown(value)


# ---- matching -----------------------------------------------------------------------------
def _tolerates(tolerations: Iterable[Any], taint: tuple[str, str, str]) -> bool:
    key, value, effect = taint
    for t in tolerations:
        if not isinstance(t, dict):
            continue
        if t.get("effect") and t.get("effect") != effect:
            continue
        op = t.get("operator", "Equal")
        if op == "Exists" and (not t.get("key") or t.get("key") == key):
            return True
        if op == "Equal" and t.get("key") == key and str(t.get("value", "")) == value:
            return True
    return False


def _expression_matches(expr: dict, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or ()]
    have = labels.get(key)
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and values:
        try:
            return int(have) > int(values[0]) if op == "Gt" else int(have) < int(values[0])
        except ValueError:
            return False
    return False


def _selection_problems(pod: Pod, pool: NodePool) -> list[str]:
    why = []
    untolerated = [t for t in pool.taints if t[2] in BLOCKING_EFFECTS and not _tolerates(pod.tolerations, t)]
    if untolerated:
        why.append("taint " + ", ".join(f"{k}={v}:{e}" for k, v, e in untolerated) + " not tolerated")
    wrong = {k: v for k, v in pod.node_selector.items() if pool.labels.get(k) != str(v)}
    if wrong:
        have = ", ".join(f"{k}={pool.labels[k]}" if k in pool.labels else f"no {k}" for k in wrong)
        why.append("nodeSelector " + ", ".join(f"{k}={v}" for k, v in wrong.items()) + f" not matched ({have})")
    terms = _dig(pod.affinity or {}, ("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                      "nodeSelectorTerms"))
    if isinstance(terms, list) and terms:
        def term_matches(term: dict) -> bool:
            if term.get("matchFields"):
                return False  # node names / fields: not known before the nodes exist
            return all(_expression_matches(e, pool.labels) for e in term.get("matchExpressions") or ())
        if not any(term_matches(t) for t in terms if isinstance(t, dict)):
            why.append("required node affinity not matched")
    return why


def _size_problems(requests: dict[str, int], pool: NodePool) -> list[str]:
    a = pool.allocatable or {}
    why = []
    for key, want in sorted(requests.items()):
        have = a.get(key, 0)
        if want <= have:
            continue
        if key == "cpu":
            why.append(f"{format_cpu(want)} CPU > {format_cpu(have)} allocatable")
        elif key == "memory":
            why.append(f"{format_memory(want)} memory > {format_memory(have)} allocatable")
        else:
            why.append(f"{want} {key} > {have} allocatable")
    return why


def describe_requests(requests: dict[str, int]) -> str:
    parts = []
    if "cpu" in requests:
        parts.append(f"{format_cpu(requests['cpu'])} CPU")
    if "memory" in requests:
        parts.append(format_memory(requests["memory"]))
    parts += [f"{q} {k}" for k, q in sorted(requests.items()) if k not in ("cpu", "memory")]
    return " / ".join(parts) or "no requests"


def _placement(pod: Pod) -> str:
    bits = []
    if pod.node_selector:
        bits.append("nodeSelector " + ", ".join(f"{k}={v}" for k, v in sorted(pod.node_selector.items())))
    tol = [t for t in pod.tolerations if isinstance(t, dict)]
    if tol:
        bits.append("tolerations " + ", ".join(
            (f"{t.get('key', '*')}" + (f"={t['value']}" if t.get("value") else "") + f":{t.get('effect', '*')}")
            for t in tol))
    return f" ({'; '.join(bits)})" if bits else " (no nodeSelector, no tolerations)"


# ---- the rule -----------------------------------------------------------------------------
DESCRIBE = ("describe the chart at that version in aiplat.tools.deploy._charts (the values paths of its pods' "
            "resources and placement, and the chart's defaults)")


def _workloads(graph: Graph) -> Iterator[tuple[Node, str, list[Pod] | None, str, str]]:
    """(resource, what it is, its pods or None, why unreadable, the change that makes it readable)."""
    for n in graph.nodes:
        if n.type in WORKLOADS:
            kind = n.type.rsplit(":", 1)[-1]
            spec = _dig(n.inputs, WORKLOADS[n.type])
            if not isinstance(spec, dict) or _contains_unknown(spec):
                yield n, f"{kind} {n.name}", None, "its pod template is unknown or secret in the preview", \
                    "keep the pod template's resources and placement known at preview (no secrets or outputs there)"
                continue
            replicas = n.inputs.get("spec", {}).get("replicas") if kind in ("Deployment", "StatefulSet", "ReplicaSet") \
                else 1
            replicas = replicas if isinstance(replicas, int) and replicas >= 1 else 1
            yield n, f"{kind} {n.name}", [_pod_of_template(f"{kind} {n.name}", kind, spec, replicas)], "", ""
        elif n.type == RELEASE:
            chart, version = n.inputs.get("chart"), n.inputs.get("version")
            what = f"Helm release {n.name} ({chart} {version})"
            describe = describer(chart, version) if isinstance(chart, str) and isinstance(version, str) else None
            values = n.inputs.get("values", {})
            if describe is None:
                yield n, what, None, (f"the chart catalog does not describe {chart} {version}, so its pods' requests "
                                      "and placement cannot be read"), DESCRIBE
            elif not isinstance(values, dict) or _unknown(values):
                yield n, what, None, "its values are secret or unknown in the preview", \
                    "keep secrets in leaves of the values (a secret Output per value), not the whole values"
            elif n.inputs.get("valueYamlFiles"):
                yield n, what, None, "its valueYamlFiles are not read", "set the values inline"
            else:
                try:
                    yield n, what, describe(values), "", ""
                except Unreadable as exc:
                    yield n, what, None, str(exc), DESCRIBE


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    pools = node_pools(graph)
    cluster_of_pool = {p.urn: _pool_cluster(graph, graph.by_urn[p.urn]) for p in pools}
    for pool in pools:
        if pool.allocatable is None:
            yield Finding(pool.urn, RULE, f"node pool {pool.name}: instance type {pool.instance_type or 'unknown'} is "
                                          "not in the instance catalog, so what fits on it cannot be judged",
                          "use a type from components/catalog/machines.yaml or gpu_instances.yaml, or add it there",
                          "warning")
    for node, what, pods, why, change in _workloads(graph):
        if pods is None:
            yield Finding(node.urn, RULE, f"{what}: cannot judge where its pods fit: {why}", change, "warning")
            continue
        cluster = _workload_cluster(graph, node)
        if cluster is None:
            yield Finding(node.urn, RULE, f"{what}: cannot tell which cluster it runs in (its Kubernetes provider "
                                          "names no cluster of the graph)",
                          "build the Kubernetes provider from the cluster resource", "warning")
            continue
        mine = [p for p in pools if cluster_of_pool[p.urn] == cluster]
        for pod in pods:
            yield from _judge(node, what, pod, mine)


def _judge(node: Node, what: str, pod: Pod, pools: list[NodePool]) -> Iterator[Finding]:
    requests = pod_requests(pod)
    label = what if pod.name == what else f"{what}: {pod.kind} {pod.name}"
    if requests is None:
        yield Finding(node.urn, RULE, f"{label}: cannot read its resource requests", "state requests as "
                      "Kubernetes quantities", "warning")
        return
    head = f"{label}: {pod.replicas} pod(s) of {describe_requests(requests)} each{_placement(pod)}"
    reasons, fits, unknown = [], [], []
    for pool in pools:
        sel = _selection_problems(pod, pool)
        size = _size_problems(requests, pool) if pool.allocatable is not None else []
        if pool.allocatable is None and not sel:
            unknown.append(pool)
        elif not sel and not size:
            fits.append(pool)
        elif pod.kind == "DaemonSet" and not sel:
            # A DaemonSet runs on every node it selects: each must hold it, or its rollout never completes.
            yield Finding(node.urn, RULE, f"{head} does not fit node pool {pool.describe()}, which it selects and "
                                          f"tolerates: {'; '.join(size)}",
                          _change(pod, requests, size_only=True), "blocker")
        else:
            reasons.append(f"{pool.describe()}: {'; '.join(sel + size)}")
    if fits or pod.kind == "DaemonSet":
        return
    if unknown:
        yield Finding(node.urn, RULE, f"{head}: fits no node pool of known size; "
                                      f"{', '.join(p.name for p in unknown)} cannot be judged", _change(pod, requests),
                      "warning")
        return
    where = "; ".join(reasons) if reasons else "its cluster has no node pool in the graph"
    size_only = bool(reasons) and any(not _selection_problems(pod, p) for p in pools)
    yield Finding(node.urn, RULE, f"{head} fits no node pool of its cluster: {where}",
                  _change(pod, requests, size_only), "blocker")


def _change(pod: Pod, requests: dict[str, int], size_only: bool = False) -> str:
    size = describe_requests(requests)
    if pod.values_path:
        where, place = f"values {pod.values_path}.resources.requests", f"values {pod.values_path}.nodeSelector/tolerations"
    else:
        where, place = "its containers' resources.requests", "its nodeSelector/tolerations"
    if size_only:
        return f"use a larger instance type for the pool it selects (allocatable at least {size}) or lower {where}"
    return (f"give it a node pool it tolerates and selects with at least {size} allocatable, or change {place} "
            f"or {where}")


def placements(graph: Graph) -> dict[str, dict[str, list[str]]]:
    """Workload name -> pod name -> the names of the node pools that pod fits (what the rule
    judged; for tests and for reading a graph). Unreadable workloads are left out."""
    pools = node_pools(graph)
    cluster_of_pool = {p.urn: _pool_cluster(graph, graph.by_urn[p.urn]) for p in pools}
    out: dict[str, dict[str, list[str]]] = {}
    for node, _, pods, _, _ in _workloads(graph):
        cluster = _workload_cluster(graph, node)
        if pods is None or cluster is None:
            continue
        for pod in pods:
            requests = pod_requests(pod)
            out.setdefault(node.name, {})[pod.name] = [
                p.name for p in pools if cluster_of_pool[p.urn] == cluster and requests is not None
                and p.allocatable is not None and not _selection_problems(pod, p) and not _size_problems(requests, p)]
    return out
