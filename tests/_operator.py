"""prometheus-operator's scrape job for a recorded ServiceMonitor, and the targets Kubernetes service
discovery would hand it, so that a local Prometheus scrapes a local Triton the way the cluster's does.

``scrape_config`` follows ``generateServiceMonitorConfig`` of prometheus-operator v0.83.0
(pkg/prometheus/promcfg.go; kube-prometheus-stack 75.15.1, our pin, ships appVersion v0.83.0)
with the chart's default endpoints-role discovery: job name ``serviceMonitor/<ns>/<name>/<i>``,
``honor_labels: false``, and the relabelings in the operator's order: the job into
``__tmp_prometheus_job_name``; keep the Services whose labels match the selector; keep the
endpoint's port; ``node``/``pod`` from the address target; ``namespace``, ``service``, ``pod``,
``container``; drop finished pods; the Service's ``targetLabels`` and the pod's
``podTargetLabels`` (``aiplat.io/track`` -> ``aiplat_io_track``); ``job`` from the Service name
(or ``jobLabel``); ``endpoint`` = the port name; sharding with one shard. A ServiceMonitor field,
or a Prometheus spec field, that this does not reproduce is refused: a ServiceMonitor that grows
one fails the test instead of being scraped differently here than in the cluster.

``discovered`` stands in for ``kubernetes_sd_configs`` (role endpoints, the ServiceMonitor's
namespaces): for every Service of the namespace whose selector picks the pod, one target per
Service port, labelled with the ``__meta_kubernetes_*`` labels Prometheus's Kubernetes discovery
sets, at the local address that serves that container port. Only the relabelings decide what
is scraped and how it is labelled.
"""

from __future__ import annotations

import re
from typing import Any

SPEC_FIELDS = {"selector", "namespaceSelector", "endpoints", "podTargetLabels", "targetLabels", "jobLabel"}
ENDPOINT_FIELDS = {"port", "path", "interval"}
# Prometheus spec fields that would add relabelings or change discovery (none are set by our values).
PROMETHEUS_FIELDS = ("podTargetLabels", "scrapeClasses", "serviceDiscoveryRole", "enforcedNamespaceLabel",
                     "shards", "overrideHonorLabels")
SHARD = "0"  # the config reloader substitutes $(SHARD) with the pod's shard: one shard, number 0


def sanitize(name: str) -> str:
    """The operator's sanitizeLabelName (and Prometheus discovery's): every invalid character -> '_'."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _label_copy(source: str, target: str) -> dict[str, Any]:
    return {"source_labels": [source], "target_label": target, "regex": "(.+)", "replacement": "${1}"}


def scrape_config(monitor: dict, index: int, prometheus_spec: dict, targets: list[dict]) -> dict[str, Any]:
    """The scrape job prometheus-operator generates for ``endpoints[index]`` of a ServiceMonitor
    (``monitor``: its manifest), discovering ``targets`` (``discovered(...)``) statically."""
    spec, meta = monitor["spec"], monitor["metadata"]
    assert set(spec) <= SPEC_FIELDS, f"ServiceMonitor fields not reproduced: {sorted(set(spec) - SPEC_FIELDS)}"
    ep = spec["endpoints"][index]
    assert set(ep) <= ENDPOINT_FIELDS, f"endpoint fields not reproduced: {sorted(set(ep) - ENDPOINT_FIELDS)}"
    assert set(spec["selector"]) <= {"matchLabels"}, "only matchLabels selectors are reproduced"
    assert set(spec.get("namespaceSelector", {})) <= {"matchNames"}
    set_fields = [f for f in PROMETHEUS_FIELDS if prometheus_spec.get(f)]
    assert not set_fields, f"Prometheus spec fields not reproduced: {set_fields}"
    namespaces = spec.get("namespaceSelector", {}).get("matchNames", [meta["namespace"]])
    assert all(t["labels"]["__meta_kubernetes_namespace"] in namespaces for t in targets), \
        "discovery only sees the ServiceMonitor's namespaces"

    relabel: list[dict[str, Any]] = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
    match = spec["selector"].get("matchLabels", {})
    for k in sorted(match):
        relabel.append({"action": "keep",
                        "source_labels": [f"__meta_kubernetes_service_label_{sanitize(k)}",
                                          f"__meta_kubernetes_service_labelpresent_{sanitize(k)}"],
                        "regex": f"({match[k]});true"})
    if ep.get("port"):
        relabel.append({"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                        "regex": ep["port"]})
    address_target = ["__meta_kubernetes_endpoint_address_target_kind",
                      "__meta_kubernetes_endpoint_address_target_name"]
    relabel += [
        {"source_labels": address_target, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}",
         "target_label": "node"},
        {"source_labels": address_target, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}",
         "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
    ]
    relabel += [_label_copy(f"__meta_kubernetes_service_label_{sanitize(k)}", sanitize(k))
                for k in spec.get("targetLabels", [])]
    relabel += [_label_copy(f"__meta_kubernetes_pod_label_{sanitize(k)}", sanitize(k))
                for k in spec.get("podTargetLabels", [])]
    relabel.append({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job",
                    "replacement": "${1}"})
    if spec.get("jobLabel"):
        relabel.append(_label_copy(f"__meta_kubernetes_service_label_{sanitize(spec['jobLabel'])}", "job"))
    if ep.get("port"):
        relabel.append({"target_label": "endpoint", "replacement": ep["port"]})
    relabel += [
        {"source_labels": ["__address__", "__tmp_hash"], "target_label": "__tmp_hash", "regex": "(.+);",
         "replacement": "$1", "action": "replace"},
        {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
        {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": f"{SHARD};|.+;.+", "action": "keep"},
    ]
    job: dict[str, Any] = {"job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{index}",
                           "honor_labels": False, "static_configs": targets}
    if ep.get("interval"):
        job["scrape_interval"] = ep["interval"]
    if ep.get("path"):
        job["metrics_path"] = ep["path"]
    job["relabel_configs"] = relabel
    return job


def _labels(kind: str, labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for k, v in labels.items():
        out[f"__meta_kubernetes_{kind}_label_{sanitize(k)}"] = v
        out[f"__meta_kubernetes_{kind}_labelpresent_{sanitize(k)}"] = "true"
    return out


def discovered(services: list[dict], pod: dict, address: dict[int, str]) -> list[dict]:
    """Endpoints-role targets of ``services`` (manifests) for one running ``pod`` (``{"name", "namespace",
    "labels", "containers"}``, as its Deployment's template makes it); ``address`` maps a container
    port number to the local host:port serving it."""
    out = []
    for svc in services:
        if svc["metadata"]["namespace"] != pod["namespace"]:
            continue
        selector = svc["spec"].get("selector", {})
        if not selector or any(pod["labels"].get(k) != v for k, v in selector.items()):
            continue  # the pod is no endpoint of this Service
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            container, cport = next(
                (c, p) for c in pod["containers"] for p in c.get("ports", [])
                if (p.get("name") == target if isinstance(target, str) else p["containerPort"] == target))
            out.append({"targets": [address[cport["containerPort"]]], "labels": {
                "__meta_kubernetes_namespace": pod["namespace"],
                "__meta_kubernetes_service_name": svc["metadata"]["name"],
                **_labels("service", svc["metadata"].get("labels", {})),
                "__meta_kubernetes_endpoints_name": svc["metadata"]["name"],
                "__meta_kubernetes_endpoint_port_name": port.get("name", ""),
                "__meta_kubernetes_endpoint_port_protocol": port.get("protocol", "TCP"),
                "__meta_kubernetes_endpoint_ready": "true",
                "__meta_kubernetes_endpoint_address_target_kind": "Pod",
                "__meta_kubernetes_endpoint_address_target_name": pod["name"],
                "__meta_kubernetes_pod_name": pod["name"],
                "__meta_kubernetes_pod_phase": "Running",
                "__meta_kubernetes_pod_ready": "true",
                **_labels("pod", pod["labels"]),
                "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_port_name": cport.get("name", ""),
                "__meta_kubernetes_pod_container_port_number": str(cport["containerPort"]),
                "__meta_kubernetes_pod_container_port_protocol": cport.get("protocol", "TCP"),
            }})
    return out
