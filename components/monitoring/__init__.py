"""aiplat.monitoring: what watches the platform, in each cluster and across the stack.

``Monitoring`` (type ``aiplat:monitoring:Monitoring``), one per cluster (region):
kube-prometheus-stack with a pinned chart (``kube_prometheus``), a PrometheusRule with
exactly ``region_rule_groups`` (= ``aiplat rules STACK --region R``, ``rules``), the
operations, engineering and finance dashboards (``dashboards``), Alertmanager routing each
alert to every channel listing its severity, email through the stack's SMTP relay
(``alertmanager``), a PodMonitor for the DCGM
exporter (Triton's ServiceMonitor comes with each TritonEndpoint), and on AWS an SNS topic
with alarms on the regional API gateway (``_aws``).

``StackMonitoring`` (type ``aiplat:monitoring:StackMonitoring``), once per stack: on AWS
the us-east-1 topic, Route 53 health-check alarms and an AWS Budgets budget (``_aws``); on
GCP Cloud Monitoring channels, load balancer alert policies and a billing budget (``_gcp``).

The classes only check their args, declare outputs and hand the work to those modules'
free functions. Everything that derives from the config (rules, dashboards, Alertmanager
configuration, chart values) is a pure function, tested without an engine.

Budget source of truth: ``monitoring.monthly_budget_usd`` in the stack file (the program
reads nothing else); tests/test_monitoring_component.py holds it equal to the spend-cap
policy's ``maxMonthlyUsd`` in policies/config/<stack>.json, so the two cannot drift.

Secrets: webhook URLs, routing keys and the SMTP password never appear in config or resource
inputs. Alertmanager reads them from files (``api_url_file``, ``routing_key_file``,
``smtp_auth_password_file``) in the
Kubernetes Secret ``aiplat-alert-receivers`` (``alertmanagerSpec.secrets``), mounted at
``/etc/alertmanager/secrets/aiplat-alert-receivers/<key>``. When the stack's Pulumi config
holds every named secret, ``Monitoring`` creates that Secret from them (a Pulumi secret
end to end). When it holds none (``aiplat check``, CI), the Secret is not created and must
be synced out of band (e.g. External Secrets) under that name with one key per config key.
Holding only some is a mistake and fails before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.config.monitoring import MonitoringConfig
from aiplat.errors import ConfigError, Problem
from aiplat.monitoring import _aws, _gcp, kube_prometheus
from aiplat.monitoring._aws import ROUTE53_REGION
from aiplat.monitoring.alertmanager import RECEIVERS_SECRET, alertmanager_config, secret_refs, validate_secrets
from aiplat.monitoring.dashboards import PoolPrice, pool_prices
from aiplat.monitoring.kube_prometheus import (
    ALERTMANAGER_SERVICE,
    CHART,
    GRAFANA_SERVICE,
    NAMESPACE,
    PROMETHEUS_SERVICE,
    stack_values,
)
from aiplat.monitoring.rules import (
    POOL_NODE_LABEL,
    REGION_NODE_LABEL,
    TRITON_METRICS_ARGS,
    PoolCap,
    platform_rule_groups,
    region_models,
    region_rule_groups,
    queue_sizes,
    rule_groups,
    rules_document,
    rules_yaml,
)

if TYPE_CHECKING:
    from aiplat.addons import Installers

__all__ = [
    "Monitoring",
    "MonitoringArgs",
    "StackMonitoring",
    "StackMonitoringArgs",
    "ROUTE53_REGION",
    # alert rules
    "PoolCap",
    "rule_groups",
    "platform_rule_groups",
    "region_rule_groups",
    "region_models",
    "queue_sizes",
    "rules_document",
    "rules_yaml",
    "POOL_NODE_LABEL",
    "REGION_NODE_LABEL",
    "TRITON_METRICS_ARGS",
    # dashboards, Alertmanager, chart
    "PoolPrice",
    "pool_prices",
    "alertmanager_config",
    "stack_values",
    "CHART",
    "NAMESPACE",
    "GRAFANA_SERVICE",
    "PROMETHEUS_SERVICE",
    "ALERTMANAGER_SERVICE",
    "RECEIVERS_SECRET",
]


# -- per cluster ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitoringArgs:
    """What one cluster's monitoring needs."""

    cloud: Literal["aws", "gcp"]
    """Cloud of the cluster. Required."""
    stack: str
    """Stack name (alert and series label ``stack``). Required."""
    region: str
    """Region of the cluster. Required."""
    monitoring: MonitoringConfig
    """The stack's ``monitoring`` section. Required."""
    kube_provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    rule_groups: list[dict[str, Any]]
    """The cluster's alert rule groups (``region_rule_groups``). Required."""
    team: str
    """The stack's team tag (finance dashboard's chargeback). Required."""
    pool_prices: list[PoolPrice] = field(default_factory=list)
    """The region's GPU pools with catalog prices. Default none (no DCGM PodMonitor, no pool costs)."""
    queue_sizes: dict[str, int] = field(default_factory=dict)
    """Served model -> its max_queue_size (``rules.queue_sizes``): the operations dashboard's queue-fill
    panel. Default none (the panel shows raw pending requests)."""
    retention: str = "15d"
    """Prometheus retention. Default 15d."""
    gateway_api_id: pulumi.Input[str] | None = None
    """AWS: the regional HTTP API (gateway alarms). Default none (no gateway alarms)."""
    gateway_stage: str | None = None
    """AWS: its stage name. Required with ``gateway_api_id``."""
    production: bool = False
    """Protect the alert topic's KMS key. Default false."""
    protect: bool = False
    """Protect its KMS keys from deletion (the platform sets it in prod and staging; ``production``
    implies it). Default false."""
    installers: Installers | None = None
    """The cluster's add-ons (``ClusterAddons.installers``): the chart and the custom resources wait
    for the prometheus-operator CRDs' release (the chart then installs none), the chart for the
    StorageClass of Prometheus's volume. Default none: the chart installs the CRDs itself."""
    storage_class: str | None = None
    """StorageClass of Prometheus's volume. Default none: the cluster's default class."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource; Kubernetes labels carry managed-by/part-of. Default none."""


def read_secrets(m: MonitoringConfig) -> dict[str, pulumi.Output[str]]:
    """The channels' secrets the stack's Pulumi config holds (ref -> secret Output)."""
    out = {}
    for ref in secret_refs(m):
        ns, _, key = ref.rpartition(":")
        value = pulumi.Config(ns or None).get_secret(key)
        if value is not None:
            out[ref] = value
    return out


class Monitoring(AiplatComponent):
    """One cluster's monitoring. Type ``aiplat:monitoring:Monitoring``.

    Outputs: ``namespace``, ``grafana_service``, ``prometheus_service``,
    ``alertmanager_service``, ``receivers_secret`` (its name; ``receivers_secret_created``
    says whether this component owns it), ``dashboards`` (kind -> uid),
    ``alert_topic_arn`` (AWS, else None).
    """

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        secrets = read_secrets(args.monitoring)
        problems = validate_secrets(args.monitoring, secrets)
        if args.gateway_api_id is not None and not args.gateway_stage:
            problems.append(Problem("gateway_stage", "required with gateway_api_id"))
        if problems:
            raise ConfigError(problems, f"Monitoring {name}")
        super().__init__("aiplat:monitoring:Monitoring", name, None, opts)
        self._name, self._in = name, args
        self._labels = {"app.kubernetes.io/managed-by": "aiplat", "app.kubernetes.io/part-of": "aiplat-monitoring"}
        self.namespace = NAMESPACE
        self.grafana_service = GRAFANA_SERVICE
        self.prometheus_service = PROMETHEUS_SERVICE
        self.alertmanager_service = ALERTMANAGER_SERVICE
        self.receivers_secret = RECEIVERS_SECRET if secret_refs(args.monitoring) else None
        self.receivers_secret_created = bool(secrets)
        self.alert_topic_arn: pulumi.Output[str] | None = None
        self.release, self.dashboards = kube_prometheus.deploy(
            self, name, args, secrets, self._labels, receivers_secret=self.receivers_secret is not None)
        if args.cloud == "aws":
            self.alert_topic_arn = _aws.gateway_alarms(self, name, args)
        self.register_outputs({
            "grafana_service": self.grafana_service, "prometheus_service": self.prometheus_service,
            "alertmanager_service": self.alertmanager_service, "dashboards": self.dashboards,
            "alert_topic_arn": self.alert_topic_arn,
        })


# -- per stack ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StackMonitoringArgs:
    cloud: Literal["aws", "gcp"]
    """Cloud of the stack. Required."""
    stack: str
    """Stack name. Required."""
    monitoring: MonitoringConfig
    """The stack's ``monitoring`` section. Required."""
    cost_center: str
    """The stack's cost-center tag: the budget counts only spend carrying it. Required."""
    health_check_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """AWS: region -> Route 53 health check of its gateway. Default none (no health alarms)."""
    us_east_1: pulumi.ProviderResource | None = None
    """AWS: a provider in us-east-1 (Route 53 metrics, budget). Required on AWS."""
    gcp_project: str | None = None
    """GCP: project. Required on GCP."""
    url_map_name: pulumi.Input[str] | None = None
    """GCP: the global load balancer's URL map (LB alert policies). Default none (no LB policies)."""
    production: bool = False
    protect: bool = False
    """Protect its KMS keys from deletion (the platform sets it in prod and staging; ``production``
    implies it). Default false."""
    tags: dict[str, str] = field(default_factory=dict)


class StackMonitoring(AiplatComponent):
    """Stack-wide alarms and the budget. Type ``aiplat:monitoring:StackMonitoring``.

    Outputs: ``alert_topic_arn`` (AWS), ``channel_ids`` (GCP: channel -> id),
    ``budget_name`` (None without ``monthly_budget_usd``)."""

    def __init__(self, name: str, args: StackMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        problems = []
        if args.cloud == "aws" and args.us_east_1 is None:
            problems.append(Problem("us_east_1", "required on AWS"))
        if args.cloud == "gcp" and not args.gcp_project:
            problems.append(Problem("gcp_project", "required on GCP"))
        if args.cloud == "gcp" and args.monitoring.monthly_budget_usd and not args.monitoring.gcp_billing_account:
            problems.append(Problem("monitoring.gcp_billing_account", "required for a GCP budget"))
        if problems:
            raise ConfigError(problems, f"StackMonitoring {name}")
        super().__init__("aiplat:monitoring:StackMonitoring", name, None, opts)
        self._name, self._in = name, args
        self.alert_topic_arn: pulumi.Output[str] | None = None
        self.channel_ids: dict[str, pulumi.Output[str]] = {}
        self.budget_name: str | None = None
        if args.cloud == "aws":
            self.alert_topic_arn, self.budget_name = _aws.stack_alarms(self, name, args)
        else:
            self.channel_ids, self.budget_name = _gcp.stack_alerts(self, name, args)
        self.register_outputs({"alert_topic_arn": self.alert_topic_arn, "channel_ids": self.channel_ids,
                               "budget_name": self.budget_name})
