"""What the pods of a Helm release are, read from its values: the catalog of charts the
``schedulable`` rule knows.

A chart's describer takes the release's values (what the graph says), merges them over the
chart's own defaults the way Helm does (maps deep-merged, everything else replaced) and
returns the pods the chart's templates render: kind, replicas, the resources of each
container and init container, nodeSelector, tolerations and affinity. Each describer
follows the templates of one pinned chart version, read upstream (version checked next to
each); a chart or version not listed here is one whose pods the rule cannot judge, and so
is a values key that switches on a part of a chart not modelled here (``Unreadable``).

Pod (anti-)affinity, topology spread and priority are not modelled: the rule asks whether
one pod fits some node, which they do not change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Pod:
    """One pod template of a workload."""

    name: str  # the workload, e.g. "queryNode" or "Deployment milvus/milvus-querynode"
    kind: str  # Deployment | StatefulSet | DaemonSet | Job | ReplicaSet | CronJob | Pod
    replicas: int
    containers: tuple[dict, ...]  # each container's `resources` ({} when it sets none)
    init_containers: tuple[dict, ...] = ()  # (resources, restartPolicy) pairs as dicts
    node_selector: dict = field(default_factory=dict)
    tolerations: tuple = ()
    affinity: dict | None = None
    values_path: str = ""  # where a release's values set this pod's resources ("" for a raw workload)


class Unreadable(Exception):
    """The values switch on something whose pods this catalog does not model."""


def merge(defaults: Any, values: Any) -> Any:
    """Helm's coalescing of user values over chart defaults: maps merge key by key, a user
    value of any other type replaces the default, ``null`` deletes the key."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return copy.deepcopy(values)
    out = copy.deepcopy(defaults)
    for k, v in values.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _get(values: dict, path: str, default: Any = None) -> Any:
    cur: Any = values
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return default
        cur = cur[key]
    return default if cur is None else cur


def _or(*candidates: Any) -> Any:
    """Helm's ``a | default b``: the first non-empty value."""
    for c in candidates:
        if c:
            return c
    return candidates[-1]


def _replicas(value: Any, default: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value) if value >= 1 else 1  # -1: replicas left to an HPA, at least one pod


def _init(resources: Any) -> dict:
    return {"resources": resources if isinstance(resources, dict) else {}}


# -- milvus 4.2.45 (zilliztech/milvus-helm tag milvus-4.2.45, charts/milvus) ------------------
# values.yaml and templates/*-deployment.yaml: each component takes its own nodeSelector /
# affinity / tolerations when set, else the global ones; no init containers unless heaptrack.
# Subcharts: etcd 6.3.3 (bitnami; statefulset.yaml: resources, nodeSelector, tolerations,
# affinity at its top level; volumePermissions init container off), pulsar 3.3.0 as `pulsarv3`
# (per component replicaCount/resources/nodeSelector/tolerations; bookkeeper, broker, proxy and
# autorecovery run init containers with `initContainer.resources`, 256Mi / 0.1 CPU by default;
# the pulsar-init and bookie-init Jobs take `pulsar_metadata.nodeSelector/tolerations`).
_MILVUS_COMPONENT = {"enabled": True, "replicas": 1, "resources": {}, "nodeSelector": {}, "affinity": {},
                     "tolerations": [], "heaptrack": {"enabled": False}}
_PULSAR_REQUESTS = {"zookeeper": (3, "0.2", "256Mi"), "bookkeeper": (3, "0.5", "2048Mi"),
                    "autorecovery": (1, "0.1", "128Mi"), "broker": (2, "0.5", "2048Mi"), "proxy": (2, "0.5", "1024Mi")}
_PULSAR_INIT = {"bookkeeper", "broker", "proxy", "autorecovery"}
MILVUS_DEFAULTS: dict[str, Any] = {
    "cluster": {"enabled": True},
    "nodeSelector": {}, "tolerations": [], "affinity": {},
    "streaming": {"enabled": False},
    "standalone": {**_MILVUS_COMPONENT, "replicas": 1},
    "proxy": dict(_MILVUS_COMPONENT),
    "queryNode": dict(_MILVUS_COMPONENT),
    "indexNode": dict(_MILVUS_COMPONENT),
    "dataNode": dict(_MILVUS_COMPONENT),
    "mixCoordinator": dict(_MILVUS_COMPONENT),
    **{k: {**_MILVUS_COMPONENT, "enabled": False} for k in
       ("rootCoordinator", "queryCoordinator", "indexCoordinator", "dataCoordinator")},
    "streamingNode": {**_MILVUS_COMPONENT, "enabled": True},
    "attu": {"enabled": False},
    "minio": {"enabled": True},
    "kafka": {"enabled": False},
    "pulsar": {"enabled": False},
    "woodpecker": {"enabled": False},
    "tei": {"enabled": False},
    "etcd": {"enabled": True, "replicaCount": 3, "resources": {"limits": {}, "requests": {}}, "nodeSelector": {},
             "tolerations": [], "affinity": {}, "volumePermissions": {"enabled": False}},
    "pulsarv3": {
        "enabled": True,
        "components": {"zookeeper": True, "bookkeeper": True, "autorecovery": True, "broker": True, "proxy": True,
                       "functions": False, "toolset": False, "pulsar_manager": False},
        "initContainer": {"resources": {"requests": {"memory": "256Mi", "cpu": 0.1}}},
        "pulsar_metadata": {},
        **{c: {"replicaCount": n, "resources": {"requests": {"memory": m, "cpu": cpu}}}
           for c, (n, cpu, m) in _PULSAR_REQUESTS.items()},
    },
}
_MILVUS_CLUSTER = ("proxy", "queryNode", "indexNode", "dataNode", "mixCoordinator", "rootCoordinator",
                   "queryCoordinator", "indexCoordinator", "dataCoordinator")


def milvus_4_2_45(values: dict) -> list[Pod]:
    v = merge(MILVUS_DEFAULTS, values)
    for part in ("attu", "minio", "kafka", "pulsar", "woodpecker", "tei"):
        if _get(v, f"{part}.enabled"):
            raise Unreadable(f"{part}.enabled is true and its pods are not modelled")
    pods = []

    def component(key: str, kind: str = "Deployment") -> Pod:
        c = v[key]
        if _get(c, "heaptrack.enabled"):
            raise Unreadable(f"{key}.heaptrack.enabled adds an init container not modelled")
        return Pod(key, kind, _replicas(c.get("replicas")), (c.get("resources") or {},),
                   node_selector=_or(c.get("nodeSelector"), v.get("nodeSelector")) or {},
                   tolerations=tuple(_or(c.get("tolerations"), v.get("tolerations")) or ()),
                   affinity=_or(c.get("affinity"), v.get("affinity")) or None, values_path=key)

    if _get(v, "cluster.enabled"):
        pods += [component(k) for k in _MILVUS_CLUSTER if _get(v, f"{k}.enabled")]
        if _get(v, "streaming.enabled"):
            pods.append(component("streamingNode"))
    else:
        pods.append(component("standalone"))
    if _get(v, "etcd.enabled"):
        e = v["etcd"]
        if _get(e, "volumePermissions.enabled"):
            raise Unreadable("etcd.volumePermissions.enabled adds an init container not modelled")
        pods.append(Pod("etcd", "StatefulSet", _replicas(e.get("replicaCount"), 3), (e.get("resources") or {},),
                        node_selector=e.get("nodeSelector") or {}, tolerations=tuple(e.get("tolerations") or ()),
                        affinity=e.get("affinity") or None, values_path="etcd"))
    if _get(v, "pulsarv3.enabled"):
        p = v["pulsarv3"]
        on = p.get("components") or {}
        for extra in ("functions", "toolset", "pulsar_manager"):
            if on.get(extra):
                raise Unreadable(f"pulsarv3.components.{extra} is on and its pods are not modelled")
        init = _init(_get(p, "initContainer.resources", {}))
        for c in _PULSAR_REQUESTS:
            if not on.get(c):
                continue
            spec = p.get(c) or {}
            pods.append(Pod(f"pulsarv3.{c}", "StatefulSet", _replicas(spec.get("replicaCount")),
                            (spec.get("resources") or {},), (init,) if c in _PULSAR_INIT else (),
                            node_selector=spec.get("nodeSelector") or {},
                            tolerations=tuple(spec.get("tolerations") or ()), values_path=f"pulsarv3.{c}"))
        meta = p.get("pulsar_metadata") or {}
        for job in ("pulsar-init", "bookie-init"):
            pods.append(Pod(f"pulsarv3.{job}", "Job", 1, (meta.get("resources") or {},),
                            node_selector=meta.get("nodeSelector") or {},
                            tolerations=tuple(meta.get("tolerations") or ()), values_path="pulsarv3.pulsar_metadata"))
    return pods


# -- keda 2.20.2 (kedacore/charts tag v2.20.2, keda/) -------------------------------------------
# templates/{manager,metrics-server,webhooks}/deployment.yaml: nodeSelector is always
# kubernetes.io/os: linux plus `<component>.nodeSelector | default nodeSelector`; tolerations
# and affinity `<component>.x | default x`; resources `resources.<operator|metricServer|webhooks>`
# (default 100m / 100Mi requests each) else `resources`; init containers only extraInitContainers.
KEDA_DEFAULTS: dict[str, Any] = {
    "nodeSelector": {}, "tolerations": [], "affinity": {},
    "resources": {r: {"limits": {"cpu": 1, "memory": "1000Mi"}, "requests": {"cpu": "100m", "memory": "100Mi"}}
                  for r in ("operator", "metricServer", "webhooks")},
    "operator": {"replicaCount": 1, "nodeSelector": {}, "tolerations": [], "affinity": {}},
    "metricsServer": {"enabled": True, "replicaCount": 1, "nodeSelector": {}, "tolerations": [], "affinity": {}},
    "webhooks": {"enabled": True, "replicaCount": 1, "nodeSelector": {}, "tolerations": [], "affinity": {}},
}


def keda_2_20_2(values: dict) -> list[Pod]:
    v = merge(KEDA_DEFAULTS, values)
    pods = []
    for key, res in (("operator", "operator"), ("metricsServer", "metricServer"), ("webhooks", "webhooks")):
        c = v.get(key) or {}
        if key != "operator" and not c.get("enabled"):
            continue
        if c.get("extraInitContainers") or c.get("extraContainers"):
            raise Unreadable(f"{key}.extraInitContainers/extraContainers are not modelled")
        resources = _get(v, f"resources.{res}") or {k: x for k, x in (v.get("resources") or {}).items()
                                                  if k in ("requests", "limits")}
        pods.append(Pod(key, "Deployment", _replicas(c.get("replicaCount")), (resources,),
                        node_selector={"kubernetes.io/os": "linux", **(_or(c.get("nodeSelector"), v.get("nodeSelector")) or {})},
                        tolerations=tuple(_or(c.get("tolerations"), v.get("tolerations")) or ()),
                        affinity=_or(c.get("affinity"), v.get("affinity")) or None, values_path=f"resources.{res}"))
    return pods


# -- kube-prometheus-stack 75.15.1 (prometheus-community/helm-charts tag kube-prometheus-stack-75.15.1)
# values.yaml: prometheusOperator / prometheus.prometheusSpec / alertmanager.alertmanagerSpec
# resources {} and no selectors by default; admission webhook patch Jobs (create + patch) with
# prometheusOperator.admissionWebhooks.patch.{resources,nodeSelector,tolerations,affinity};
# subcharts: kube-state-metrics 6.1.0 (resources {}, no selector), prometheus-node-exporter
# 4.47.3 (a DaemonSet: nodeSelector kubernetes.io/os: linux, tolerations [NoSchedule Exists],
# a default node affinity keeping it off Fargate / virtual-kubelet nodes), grafana 9.3.0
# (grafana/helm-charts tag grafana-9.3.0: replicas 1, resources {}, no selector; its dashboard
# sidecar's resources {}; the init-chown-data init container only with persistence, off);
# windows exporter and thanos ruler off.
_SPEC = {"resources": {}, "nodeSelector": {}, "tolerations": [], "affinity": {}}
KPS_DEFAULTS: dict[str, Any] = {
    "prometheusOperator": {"enabled": True, **_SPEC,
                           "admissionWebhooks": {"enabled": True, "certManager": {"enabled": False},
                                                 "deployment": {"enabled": False},
                                                 "patch": {"enabled": True, **_SPEC}}},
    "prometheus": {"enabled": True, "prometheusSpec": {"replicas": 1, "shards": 1, **_SPEC}},
    "alertmanager": {"enabled": True, "alertmanagerSpec": {"replicas": 1, **_SPEC}},
    "grafana": {"enabled": True, "replicas": 1, **_SPEC},
    "kubeStateMetrics": {"enabled": True},
    "kube-state-metrics": {"replicas": 1, **_SPEC},
    "nodeExporter": {"enabled": True},
    "prometheus-node-exporter": {
        "resources": {}, "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"effect": "NoSchedule", "operator": "Exists"}], "affinity": {}},
    "windowsMonitoring": {"enabled": False},
    "thanosRuler": {"enabled": False},
}
_NODE_EXPORTER_AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]},
                          {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]}]}]}}}


def kube_prometheus_stack_75_15_1(values: dict) -> list[Pod]:
    v = merge(KPS_DEFAULTS, values)
    for part in ("windowsMonitoring", "thanosRuler"):
        if _get(v, f"{part}.enabled"):
            raise Unreadable(f"{part}.enabled is true and its pods are not modelled")
    if _get(v, "prometheusOperator.admissionWebhooks.deployment.enabled"):
        raise Unreadable("prometheusOperator.admissionWebhooks.deployment.enabled is not modelled")

    def pod(name: str, kind: str, path: str, replicas: int = 1, init: tuple = ()) -> Pod:
        s = _get(v, path, {})
        return Pod(name, kind, replicas, (s.get("resources") or {},), init, node_selector=s.get("nodeSelector") or {},
                   tolerations=tuple(s.get("tolerations") or ()), affinity=s.get("affinity") or None,
                   values_path=path)

    pods = []
    if _get(v, "prometheusOperator.enabled"):
        pods.append(pod("prometheus-operator", "Deployment", "prometheusOperator"))
        hooks = "prometheusOperator.admissionWebhooks"
        if _get(v, f"{hooks}.enabled") and _get(v, f"{hooks}.patch.enabled") and not _get(v, f"{hooks}.certManager.enabled"):
            pods += [pod(f"admission-{j}", "Job", f"{hooks}.patch") for j in ("create", "patch")]
    if _get(v, "prometheus.enabled"):
        spec = "prometheus.prometheusSpec"
        n = _replicas(_get(v, f"{spec}.replicas")) * _replicas(_get(v, f"{spec}.shards"))
        pods.append(pod("prometheus", "StatefulSet", spec, n))
    if _get(v, "alertmanager.enabled"):
        spec = "alertmanager.alertmanagerSpec"
        pods.append(pod("alertmanager", "StatefulSet", spec, _replicas(_get(v, f"{spec}.replicas"))))
    if _get(v, "grafana.enabled"):
        pods.append(pod("grafana", "Deployment", "grafana", _replicas(_get(v, "grafana.replicas"))))
    if _get(v, "kubeStateMetrics.enabled"):
        pods.append(pod("kube-state-metrics", "Deployment", "kube-state-metrics",
                        _replicas(_get(v, "kube-state-metrics.replicas"))))
    if _get(v, "nodeExporter.enabled"):
        ne = pod("node-exporter", "DaemonSet", "prometheus-node-exporter")
        own = _get(v, "prometheus-node-exporter.affinity.nodeAffinity")
        affinity = merge(_NODE_EXPORTER_AFFINITY, {"nodeAffinity": own} if own else {})
        pods.append(Pod(ne.name, ne.kind, 1, ne.containers, (), ne.node_selector, ne.tolerations, affinity,
                        ne.values_path))
    return pods


# -- prometheus-operator-crds 21.0.0 (prometheus-community/helm-charts): CRDs only, no pods ------
def no_pods(values: dict) -> list[Pod]:
    return []


# -- one-workload charts: resources, nodeSelector, tolerations, affinity at the top of the values ---
def _one(name: str, kind: str, defaults: dict[str, Any], replicas_key: str | None = None,
         extra_selector: dict | None = None, init: bool = False) -> Callable[[dict], list[Pod]]:
    def describe(values: dict) -> list[Pod]:
        v = merge(defaults, values)
        if v.get("extraContainers") or (v.get("initContainers") and not init):
            raise Unreadable("extraContainers/initContainers are not modelled")
        inits = tuple({"resources": c.get("resources") or {}, "restartPolicy": c.get("restartPolicy")}
                      for c in v.get("initContainers") or () if isinstance(c, dict))
        replicas = _replicas(v.get(replicas_key)) if replicas_key else 1
        return [Pod(name, kind, replicas, (v.get("resources") or {},), inits,
                    node_selector={**(extra_selector or {}), **(v.get("nodeSelector") or {})},
                    tolerations=tuple(v.get("tolerations") or ()), affinity=v.get("affinity") or None,
                    values_path="")]
    return describe


_TOP = {"resources": {}, "nodeSelector": {}, "tolerations": [], "affinity": {}}
# aws/eks-charts commit 5239609, stable/aws-load-balancer-controller 3.5.0: templates/deployment.yaml
# (replicaCount 2, resources {}, no selector; default affinity is pod anti-affinity only).
aws_load_balancer_controller_3_5_0 = _one("controller", "Deployment", {**_TOP, "replicaCount": 2}, "replicaCount")
# kubernetes/autoscaler tag cluster-autoscaler-chart-9.46.6, charts/cluster-autoscaler:
# templates/deployment.yaml (replicaCount 1, resources {}, initContainers from values).
cluster_autoscaler_9_46_6 = _one("cluster-autoscaler", "Deployment", {**_TOP, "replicaCount": 1, "initContainers": []},
                                 "replicaCount", init=True)
# NVIDIA/dcgm-exporter tag 4.5.2-4.8.1, deployment/ (chart 4.8.1): templates/daemonset.yaml, one
# exporter container with `resources` (100m / 128Mi requests by default), initContainers from values,
# tolerations default the control-plane taint only.
dcgm_exporter_4_8_1 = _one("dcgm-exporter", "DaemonSet", {
    "resources": {"limits": {"cpu": "200m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
    "nodeSelector": {}, "affinity": {}, "initContainers": [],
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]},
    init=True)


# NVIDIA/k8s-device-plugin tag v0.17.1, deployments/helm/nvidia-device-plugin: the device plugin
# DaemonSet (templates/daemonset-device-plugin.yml: `resources` {}, its default node affinity on
# NVIDIA PCI / GPU-present labels and tolerations CriticalAddonsOnly + nvidia.com/gpu) and the MPS
# control daemon (templates/daemonset-mps-control-daemon.yml: the same plus nodeSelector
# nvidia.com/mps.capable=true); with a config (config.name / config.map) both add a config-manager
# init container and sidecar, not modelled; gfd (node-feature-discovery) off by default.
_DEVICE_PLUGIN_DEFAULTS = {
    "devicePlugin": {"enabled": True}, "gfd": {"enabled": False}, "config": {"name": "", "map": {}},
    "resources": {}, "nodeSelector": {},
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "feature.node.kubernetes.io/pci-10de.present", "operator": "In",
                               "values": ["true"]}]},
        {"matchExpressions": [{"key": "feature.node.kubernetes.io/cpu-model.vendor_id", "operator": "In",
                               "values": ["NVIDIA"]}]},
        {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]}}},
}


def nvidia_device_plugin_0_17_1(values: dict) -> list[Pod]:
    v = merge(_DEVICE_PLUGIN_DEFAULTS, values)
    if _get(v, "gfd.enabled") or _get(v, "config.name") or _get(v, "config.map"):
        raise Unreadable("gfd.enabled or a config (config.name / config.map) adds pods or containers not modelled")
    if not _get(v, "devicePlugin.enabled"):
        return []
    common = dict(tolerations=tuple(v.get("tolerations") or ()), affinity=v.get("affinity") or None)
    return [Pod("device-plugin", "DaemonSet", 1, (v.get("resources") or {},),
                node_selector=dict(v.get("nodeSelector") or {}), **common),
            Pod("mps-control-daemon", "DaemonSet", 1, (v.get("resources") or {},),
                ({"resources": v.get("resources") or {}},),
                node_selector={"nvidia.com/mps.capable": "true", **(v.get("nodeSelector") or {})}, **common)]


# chart name -> version -> describer
CHARTS: dict[str, dict[str, Callable[[dict], list[Pod]]]] = {
    "milvus": {"4.2.45": milvus_4_2_45},
    "keda": {"2.20.2": keda_2_20_2},
    "kube-prometheus-stack": {"75.15.1": kube_prometheus_stack_75_15_1},
    "prometheus-operator-crds": {"21.0.0": no_pods},
    "aws-load-balancer-controller": {"3.5.0": aws_load_balancer_controller_3_5_0},
    "cluster-autoscaler": {"9.46.6": cluster_autoscaler_9_46_6},
    "dcgm-exporter": {"4.8.1": dcgm_exporter_4_8_1},
    "nvidia-device-plugin": {"0.17.1": nvidia_device_plugin_0_17_1},
}


def describer(chart: str, version: str) -> Callable[[dict], list[Pod]] | None:
    return CHARTS.get(chart.rsplit("/", 1)[-1], {}).get(version)
