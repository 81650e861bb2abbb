"""kube-prometheus-stack in one cluster: the pinned chart, its values, and the resources around it.

In namespace ``monitoring``: Prometheus selects ServiceMonitors/PodMonitors/PrometheusRules
in every namespace (Triton's ServiceMonitors live in the endpoints' namespaces),
kube-state-metrics exports the nodes' pool, capacity-type and region labels (the at-cap
alert and the finance dashboard read them), Grafana loads dashboards from ConfigMaps
labelled ``grafana_dashboard: "1"``, Alertmanager runs ``alertmanager.alertmanager_config``.
Next to the release: the receivers Secret (when the stack holds the channel secrets), the
PrometheusRule with the region's rule groups, a PodMonitor for the DCGM exporter, and the
three dashboards.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.config.monitoring import MonitoringConfig
from aiplat.monitoring import dashboards
from aiplat.monitoring.alertmanager import RECEIVERS_SECRET, alertmanager_config, secret_key
from aiplat.monitoring.rules import REGION_NODE_LABEL, rules_document
from aiplat.refs import CAPACITY_NODE_LABEL, GPU_ADDONS_NAMESPACE, MONITORING_NAMESPACE, POOL_NODE_LABEL

if TYPE_CHECKING:
    from aiplat.monitoring import MonitoringArgs

NAMESPACE = MONITORING_NAMESPACE
CHART = {
    "repo": "https://prometheus-community.github.io/helm-charts",
    "chart": "kube-prometheus-stack",
    "version": "75.15.1",  # Prometheus operator v0.83; bump deliberately
}
RELEASE = "kube-prometheus-stack"
FULLNAME = "kps"  # short, fixed resource names: kps-prometheus, kps-alertmanager
GRAFANA_SERVICE = "grafana"
PROMETHEUS_SERVICE = f"{FULLNAME}-prometheus"
ALERTMANAGER_SERVICE = f"{FULLNAME}-alertmanager"
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DCGM_NAMESPACE = GPU_ADDONS_NAMESPACE  # GpuAddons runs the DCGM exporter there


def stack_values(m: MonitoringConfig, stack: str, region: str, retention: str, secrets: bool) -> dict[str, Any]:
    """kube-prometheus-stack values for one cluster."""
    everywhere = {"serviceMonitorSelectorNilUsesHelmValues": False, "podMonitorSelectorNilUsesHelmValues": False,
                  "ruleSelectorNilUsesHelmValues": False, "probeSelectorNilUsesHelmValues": False}
    alertmanager_spec: dict[str, Any] = {"retention": "120h"}
    if secrets:
        alertmanager_spec["secrets"] = [RECEIVERS_SECRET]
    return {
        "fullnameOverride": FULLNAME,
        "prometheus": {"prometheusSpec": {
            **everywhere,
            # {} = every namespace: Triton's ServiceMonitors live in the endpoints' namespaces.
            "serviceMonitorNamespaceSelector": {},
            "podMonitorNamespaceSelector": {},
            "ruleNamespaceSelector": {},
            "retention": retention,
            "externalLabels": {"stack": stack, "region": region},
            "storageSpec": {"volumeClaimTemplate": {"spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}},
            }}},
        }},
        "alertmanager": {"config": alertmanager_config(m), "alertmanagerSpec": alertmanager_spec},
        "grafana": {
            "fullnameOverride": GRAFANA_SERVICE,
            "sidecar": {"dashboards": {
                "enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL",
            }},
        },
        "kube-state-metrics": {
            # kube_node_labels exports no label unless allow-listed.
            "metricLabelsAllowlist": [
                f"nodes=[{POOL_NODE_LABEL},{CAPACITY_NODE_LABEL},{REGION_NODE_LABEL}]",
            ],
        },
    }



def deploy(owner: AiplatComponent, n: str, a: MonitoringArgs, secrets: dict[str, pulumi.Output[str]],
           labels: dict[str, str], receivers_secret: bool) -> tuple[k8s.helm.v3.Release, dict[str, str]]:
    """The cluster's monitoring resources as children of ``owner`` (a ``Monitoring`` named ``n``).

    Returns the release and the dashboards (kind -> uid)."""
    m = a.monitoring
    ns = k8s.core.v1.Namespace(f"{n}-ns", metadata={"name": NAMESPACE, "labels": labels},
                               opts=owner._k8s())
    before: list[pulumi.Resource] = [ns]
    if secrets:
        # One secret Output holding every key: the whole stringData stays a Pulumi secret.
        data = pulumi.Output.all(**{secret_key(r): v for r, v in secrets.items()}).apply(dict)
        before.append(k8s.core.v1.Secret(
            f"{n}-receivers",
            metadata={"name": RECEIVERS_SECRET, "namespace": NAMESPACE, "labels": labels},
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=owner._k8s(depends_on=[ns]),
        ))
    values = stack_values(m, a.stack, a.region, a.retention, secrets=receivers_secret)
    release = k8s.helm.v3.Release(
        f"{n}-stack",
        name=RELEASE,
        chart=CHART["chart"],
        version=CHART["version"],
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART["repo"]),
        namespace=NAMESPACE,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=5,
        timeout=900,  # the operator, CRDs, Prometheus and Grafana take a while on a fresh cluster
        opts=owner._k8s(depends_on=before),
    )
    # CRs need the operator's CRDs, which the release installs.
    k8s.apiextensions.CustomResource(
        f"{n}-rules",
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata={"name": "aiplat-slo", "namespace": NAMESPACE, "labels": labels},
        spec=rules_document(a.rule_groups),
        opts=owner._k8s(depends_on=[release]),
    )
    if a.pool_prices:
        k8s.apiextensions.CustomResource(
            f"{n}-dcgm",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": "dcgm-exporter", "namespace": DCGM_NAMESPACE, "labels": labels},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}},
                "namespaceSelector": {"matchNames": [DCGM_NAMESPACE]},
                "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
            },
            opts=owner._k8s(depends_on=[release]),
        )
    w = m.slo.rate_window
    boards = {
        "operations": dashboards.operations_dashboard(a.stack, a.region, w, a.queue_sizes),
        "engineering": dashboards.engineering_dashboard(a.stack, a.region, w),
        "finance": dashboards.finance_dashboard(a.stack, a.region, a.team, a.pool_prices, w),
    }
    for kind, board in boards.items():
        k8s.core.v1.ConfigMap(
            f"{n}-dashboard-{kind}",
            metadata={"name": f"aiplat-dashboard-{kind}", "namespace": NAMESPACE,
                      "labels": {**labels, **DASHBOARD_LABEL}},
            data={f"aiplat-{kind}.json": json.dumps(board, indent=1, sort_keys=True)},
            opts=owner._k8s(depends_on=[ns]),
        )
    return release, {kind: b["uid"] for kind, b in boards.items()}
