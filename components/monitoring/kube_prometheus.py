"""kube-prometheus-stack in one cluster: the pinned chart, its values, and the resources around it.

In namespace ``monitoring``: Prometheus selects ServiceMonitors/PodMonitors/PrometheusRules
in every namespace (Triton's ServiceMonitors live in the endpoints' namespaces),
kube-state-metrics exports the nodes' pool, capacity-type and region labels (the at-cap
alert and the finance dashboard read them), Grafana loads dashboards from ConfigMaps
labelled ``grafana_dashboard: "1"``, Alertmanager runs ``alertmanager.alertmanager_config``.
Next to the release: the receivers Secret (when the stack holds the channel secrets), the
PrometheusRule with the region's rule groups, a PodMonitor for the DCGM exporter, and the
three dashboards. With the cluster's add-ons (``MonitoringArgs.installers``) the
prometheus-operator CRDs come from their own release, which the chart and every custom
resource wait for, and Prometheus's volume uses the cluster's encrypted default class. The
chart's scrapes and rules of the managed control plane are off (``stack_values``).
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
MONITORING_API = "monitoring.coreos.com/v1"


# Managed control planes (EKS, GKE) expose no scheduler, controller-manager or etcd endpoint to
# the cluster: the chart's scrapes of them fail forever and its KubeSchedulerDown /
# KubeControllerManagerDown / etcd alerts (critical) fire from day one. GKE Dataplane V2 runs no
# kube-proxy either (EKS runs it as an add-on on the nodes, metrics on 0.0.0.0:10249), and GKE's
# DNS is kube-dns, not CoreDNS. Values checked in kube-prometheus-stack 75.15.1: the
# `<component>.enabled` switch removes the component's Service, ServiceMonitor and rules
# (templates/prometheus/rules-1.14/*.yaml gate on it); the `defaultRules.rules.*` switches are
# set too, so neither alone can bring them back. The other default rules (and the chart's
# InfoInhibitor rule, which Alertmanager's inhibit rules rely on) stay.
MANAGED_CONTROL_PLANE = ("kubeScheduler", "kubeControllerManager", "kubeEtcd")
MANAGED_RULE_GROUPS = ("kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeControllerManager", "etcd")
PROMETHEUS_VOLUME = "50Gi"


def stack_values(m: MonitoringConfig, stack: str, region: str, retention: str, secrets: bool, *,
                 cloud: str = "aws", storage_class: str | None = None, install_crds: bool = True) -> dict[str, Any]:
    """kube-prometheus-stack values for one cluster.

    ``storage_class``: the class of Prometheus's volume (default none: the cluster's default
    class). ``install_crds``: false when the prometheus-operator CRDs come from their own
    release (``aiplat.addons``), which upgrades them with the chart; kube-prometheus-stack's
    own copies sit in its ``crds/`` and helm never upgrades those.
    """
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
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": PROMETHEUS_VOLUME}},
                **({"storageClassName": storage_class} if storage_class else {}),
            }}},
        }},
        "alertmanager": {"config": alertmanager_config(m), "alertmanagerSpec": alertmanager_spec},
        "grafana": {
            "fullnameOverride": GRAFANA_SERVICE,
            "sidecar": {"dashboards": {
                "enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL",
            }},
        },
        "crds": {"enabled": install_crds},
        **{component: {"enabled": False} for component in MANAGED_CONTROL_PLANE},
        **({"kubeProxy": {"enabled": False}, "coreDns": {"enabled": False}} if cloud == "gcp" else {}),
        "defaultRules": {"rules": {
            **{group: False for group in MANAGED_RULE_GROUPS},
            **({"kubeProxy": False} if cloud == "gcp" else {}),
        }},
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
    # The CRDs come from their own release when the cluster has one (aiplat.addons): the chart's
    # own templates are custom resources that wait for it, as does everything below.
    crds = a.installers.crd(MONITORING_API) if a.installers is not None else []
    volume = a.installers.storage_class(a.storage_class) if a.installers is not None else []
    values = stack_values(m, a.stack, a.region, a.retention, secrets=receivers_secret, cloud=a.cloud,
                          storage_class=a.storage_class, install_crds=not crds)
    release = owner._pinned_release(
        "stack", CHART, NAMESPACE, values, release_name=RELEASE,
        timeout=900,  # the operator, Prometheus and Grafana take a while on a fresh cluster
        depends_on=[*before, *crds, *volume])
    # CRs need the operator's CRDs (their release, else this one) and PrometheusRules the
    # operator's admission webhook, which this release runs.
    k8s.apiextensions.CustomResource(
        f"{n}-rules",
        api_version=MONITORING_API,
        kind="PrometheusRule",
        metadata={"name": "aiplat-slo", "namespace": NAMESPACE, "labels": labels},
        spec=rules_document(a.rule_groups),
        opts=owner._k8s(depends_on=[release, *crds]),
    )
    if a.pool_prices:
        k8s.apiextensions.CustomResource(
            f"{n}-dcgm",
            api_version=MONITORING_API,
            kind="PodMonitor",
            metadata={"name": "dcgm-exporter", "namespace": DCGM_NAMESPACE, "labels": labels},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}},
                "namespaceSelector": {"matchNames": [DCGM_NAMESPACE]},
                "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
            },
            opts=owner._k8s(depends_on=[release, *crds]),
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
