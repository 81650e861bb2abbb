"""Monitoring components: what watches the platform, in each cluster and across the stack.

``Monitoring`` (type ``aiplat:monitoring:Monitoring``), one per cluster (region):

- kube-prometheus-stack as a ``helm.v3.Release`` with a pinned chart, in namespace
  ``monitoring``: Prometheus selects ServiceMonitors/PodMonitors/PrometheusRules in every
  namespace (not only the release's), kube-state-metrics exports the nodes' pool,
  capacity-type and region labels (``GpuPoolAtNodeCap`` and the finance dashboard read
  them), Grafana loads dashboards from ConfigMaps labelled ``grafana_dashboard: "1"``,
  Alertmanager routes each alert to every channel of ``monitoring.channels`` listing its
  severity;
- a PodMonitor for the DCGM exporter (GpuAddons runs it without a ServiceMonitor);
  Triton's ServiceMonitor comes with each TritonEndpoint;
- a PrometheusRule with exactly ``region_rule_groups`` (= ``aiplat rules STACK --region R``);
- the operations, engineering and finance dashboards (``components.dashboards``);
- AWS: a KMS-encrypted SNS topic for the region's CloudWatch alarms (alarms can only notify
  a topic in their own region), email subscriptions, and alarms on the regional API
  gateway: 5XX ratio and p99 latency against the SLO.

``StackMonitoring`` (type ``aiplat:monitoring:StackMonitoring``), once per stack:

- AWS: a KMS-encrypted SNS topic in us-east-1 (Route 53 health-check metrics exist only
  there) with email subscriptions, a ``HealthCheckStatus`` alarm per regional health
  check, and an AWS Budgets cost budget on the ``cost-center`` tag, alerting at each of
  ``monitoring.budget_thresholds`` (ACTUAL) and at 100 % FORECASTED;
- GCP: Cloud Monitoring notification channels (email; PagerDuty when its key is in the
  stack's secrets), alert policies on the global load balancer's 5xx ratio and p99 latency,
  and a billing budget with the same thresholds.

Budget source of truth: ``monitoring.monthly_budget_usd`` in the stack file (the program
reads nothing else); tests/test_monitoring_component.py holds it equal to the spend-cap
policy's ``maxMonthlyUsd`` in policies/config/<stack>.json, so the two cannot drift.

Secrets: webhook URLs and routing keys never appear in config or resource inputs.
Alertmanager reads them from files (``api_url_file``, ``routing_key_file``) in the
Kubernetes Secret ``aiplat-alert-receivers`` (``alertmanagerSpec.secrets``), mounted at
``/etc/alertmanager/secrets/aiplat-alert-receivers/<key>``. When the stack's Pulumi config
holds every named secret, this component creates that Secret from them (a Pulumi secret
end to end). When it holds none (``aiplat check``, CI), the Secret is not created and must
be synced out of band (e.g. External Secrets) under that name with one key per config key.
Holding only some is a mistake and fails before anything is created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat import dashboards
from aiplat.errors import ConfigError, Problem
from aiplat.monitoring import (
    POOL_NODE_LABEL,
    REGION_NODE_LABEL,
    MonitoringConfig,
    duration_seconds,
    rules_document,
)

NAMESPACE = "monitoring"
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
RECEIVERS_SECRET = "aiplat-alert-receivers"
SECRETS_DIR = "/etc/alertmanager/secrets"
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DCGM_NAMESPACE = "kube-system"  # components.gpu_pool.ADDON_NAMESPACE
ROUTE53_REGION = "us-east-1"  # Route 53 publishes health-check metrics only here


# -- pure helpers (unit-tested) ----------------------------------------------------------
def secret_key(ref: str) -> str:
    """Pulumi config key (maybe namespaced) -> (namespace, key): 'aiplat:slackX' -> 'slackX'."""
    return ref.split(":", 1)[-1]


def secret_refs(m: MonitoringConfig) -> list[str]:
    """Every secret config key the channels name, in config order, without repeats."""
    refs = [c.webhook_secret for c in m.channels.slack] + [c.routing_key_secret for c in m.channels.pagerduty]
    return list(dict.fromkeys(refs))


def _file(ref: str) -> str:
    return f"{SECRETS_DIR}/{RECEIVERS_SECRET}/{secret_key(ref)}"


def alertmanager_config(m: MonitoringConfig) -> dict[str, Any]:
    """Alertmanager's configuration: one receiver per channel, routed by the severities it lists.

    Credentials are file references only (mounted from the receivers Secret). Email
    receivers need an SMTP relay (``monitoring.smtp_smarthost``); without one, email
    channels get only the cloud-side alarms."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        # kube-prometheus-stack's always-firing heartbeat: never a notification.
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
    ]

    def add(name: str, severities: list[str], config: dict[str, Any]) -> None:
        receivers.append({"name": name, **config})
        routes.append({"receiver": name, "matchers": [f'severity=~"{"|".join(severities)}"'], "continue": True})

    if m.smtp_smarthost:
        for c in m.channels.email:
            add(f"email-{c.address}", c.severities,
                {"email_configs": [{"to": c.address, "send_resolved": True}]})
    for c in m.channels.slack:
        add(f"slack-{c.name}", c.severities, {"slack_configs": [{
            "api_url_file": _file(c.webhook_secret),
            "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.severity }}: {{ .CommonLabels.alertname }}',
            "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n'
                    '{{ .Annotations.runbook_url }}\n{{ end }}',
        }]})
    for c in m.channels.pagerduty:
        add(f"pagerduty-{c.name}", c.severities, {"pagerduty_configs": [{
            "routing_key_file": _file(c.routing_key_secret),
            "send_resolved": True,
            "severity": "{{ .CommonLabels.severity }}",
            "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
        }]})
    config: dict[str, Any] = {
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "stack", "namespace", "model", "pool"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        # A paging alert already tells the story: mute its warning twin for the same model/pool.
        "inhibit_rules": [{
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["stack", "model", "pool"],
        }],
        "receivers": receivers,
    }
    if m.smtp_smarthost:
        config["global"] = {"smtp_smarthost": m.smtp_smarthost, "smtp_from": m.smtp_from, "smtp_require_tls": True}
    return config


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
                f"nodes=[{POOL_NODE_LABEL},{dashboards.CAPACITY_NODE_LABEL},{REGION_NODE_LABEL}]",
            ],
        },
    }


def _minutes(d: str) -> int:
    return max(1, int(duration_seconds(d) // 60))


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
    pool_prices: list[dashboards.PoolPrice] = field(default_factory=list)
    """The region's GPU pools with catalog prices. Default none (no DCGM PodMonitor, no pool costs)."""
    retention: str = "15d"
    """Prometheus retention. Default 15d."""
    gateway_api_id: pulumi.Input[str] | None = None
    """AWS: the regional HTTP API (gateway alarms). Default none (no gateway alarms)."""
    gateway_stage: str | None = None
    """AWS: its stage name. Required with ``gateway_api_id``."""
    production: bool = False
    """Protect the alert topic's KMS key. Default false."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource; Kubernetes labels carry managed-by/part-of. Default none."""


def validate_secrets(m: MonitoringConfig, present: dict[str, Any]) -> list[Problem]:
    """All of the channels' secrets or none: a partial Secret would silently drop a channel."""
    refs = secret_refs(m)
    missing = [r for r in refs if r not in present]
    if present and missing:
        return [Problem("monitoring.channels", f"Pulumi config holds some channel secrets but not "
                                               f"{', '.join(missing)}; set them with `pulumi config set --secret`, "
                                               "or hold none and sync the Secret out of band")]
    return []


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
        self._kubernetes(secrets)
        if args.cloud == "aws":
            self._aws_alarms()
        self.register_outputs({
            "grafana_service": self.grafana_service, "prometheus_service": self.prometheus_service,
            "alertmanager_service": self.alertmanager_service, "dashboards": self.dashboards,
            "alert_topic_arn": self.alert_topic_arn,
        })

    def _kubernetes(self, secrets: dict[str, pulumi.Output[str]]) -> None:
        a, n, m = self._in, self._name, self._in.monitoring
        ns = k8s.core.v1.Namespace(f"{n}-ns", metadata={"name": NAMESPACE, "labels": self._labels},
                                   opts=self._k8s())
        before: list[pulumi.Resource] = [ns]
        if secrets:
            # One secret Output holding every key: the whole stringData stays a Pulumi secret.
            data = pulumi.Output.all(**{secret_key(r): v for r, v in secrets.items()}).apply(dict)
            before.append(k8s.core.v1.Secret(
                f"{n}-receivers",
                metadata={"name": RECEIVERS_SECRET, "namespace": NAMESPACE, "labels": self._labels},
                type="Opaque",
                string_data=pulumi.Output.secret(data),
                opts=self._k8s(depends_on=[ns]),
            ))
        values = stack_values(m, a.stack, a.region, a.retention, secrets=self.receivers_secret is not None)
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
            opts=self._k8s(depends_on=before),
        )
        self.release = release
        # CRs need the operator's CRDs, which the release installs.
        k8s.apiextensions.CustomResource(
            f"{n}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "aiplat-slo", "namespace": NAMESPACE, "labels": self._labels},
            spec=rules_document(a.rule_groups),
            opts=self._k8s(depends_on=[release]),
        )
        if a.pool_prices:
            k8s.apiextensions.CustomResource(
                f"{n}-dcgm",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata={"name": "dcgm-exporter", "namespace": DCGM_NAMESPACE, "labels": self._labels},
                spec={
                    "selector": {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}},
                    "namespaceSelector": {"matchNames": [DCGM_NAMESPACE]},
                    "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
                },
                opts=self._k8s(depends_on=[release]),
            )
        w = m.slo.rate_window
        boards = {
            "operations": dashboards.operations_dashboard(a.stack, a.region, w),
            "engineering": dashboards.engineering_dashboard(a.stack, a.region, w),
            "finance": dashboards.finance_dashboard(a.stack, a.region, a.team, a.pool_prices, w),
        }
        self.dashboards = {kind: b["uid"] for kind, b in boards.items()}
        for kind, board in boards.items():
            k8s.core.v1.ConfigMap(
                f"{n}-dashboard-{kind}",
                metadata={"name": f"aiplat-dashboard-{kind}", "namespace": NAMESPACE,
                          "labels": {**self._labels, **DASHBOARD_LABEL}},
                data={f"aiplat-{kind}.json": json.dumps(board, indent=1, sort_keys=True)},
                opts=self._k8s(depends_on=[ns]),
            )

    def _aws_alarms(self) -> None:
        a, n, slo = self._in, self._name, self._in.monitoring.slo
        topic = alert_topic(self, n, a.monitoring, a.tags, a.production, severity="critical")
        self.alert_topic_arn = topic.arn
        if a.gateway_api_id is None:
            return
        dims = {"ApiId": a.gateway_api_id, "Stage": a.gateway_stage}
        err_periods = _minutes(slo.error_for)

        def metric(mid: str, name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=mid, return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApiGateway", metric_name=name, dimensions=dims, period=60, stat="Sum"),
            )

        # HTTP APIs publish 5xx/Count/Latency per ApiId and Stage; the ratio is the SLO's error ratio.
        aws.cloudwatch.MetricAlarm(
            f"{n}-gateway-5xx",
            alarm_description=f"{a.stack} {a.region}: API gateway 5xx ratio above {slo.error_ratio:g} "
                              f"for {slo.error_for}",
            comparison_operator="GreaterThanThreshold",
            threshold=slo.error_ratio,
            evaluation_periods=err_periods,
            datapoints_to_alarm=err_periods,
            treat_missing_data="notBreaching",  # no traffic is not an error
            metric_queries=[
                metric("errors", "5xx"),
                metric("requests", "Count"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="ratio", expression="IF(requests > 0, errors / requests, 0)", label="5xx ratio",
                    return_data=True),
            ],
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags={"Name": f"{n}-gateway-5xx", **a.tags},
            opts=self._opts(),
        )
        lat_periods = _minutes(slo.latency_for)
        aws.cloudwatch.MetricAlarm(
            f"{n}-gateway-latency",
            alarm_description=f"{a.stack} {a.region}: API gateway p99 latency above {slo.p99_latency_ms:g} ms "
                              f"for {slo.latency_for}",
            namespace="AWS/ApiGateway",
            metric_name="Latency",
            dimensions=dims,
            extended_statistic="p99",
            period=60,
            comparison_operator="GreaterThanThreshold",
            threshold=slo.p99_latency_ms,
            evaluation_periods=lat_periods,
            datapoints_to_alarm=lat_periods,
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags={"Name": f"{n}-gateway-latency", **a.tags},
            opts=self._opts(),
        )


def alert_topic(owner: pulumi.Resource, n: str, m: MonitoringConfig, tags: dict[str, str], production: bool,
                severity: str, opts: pulumi.ResourceOptions | None = None) -> aws.sns.Topic:
    """A KMS-encrypted SNS topic CloudWatch and Budgets may publish to, with the email
    channels listing ``severity`` subscribed. A customer-managed key, because the AWS
    managed SNS key's policy does not let CloudWatch or Budgets use it."""
    base = pulumi.ResourceOptions(parent=owner)
    o = pulumi.ResourceOptions.merge(base, opts) if opts else base
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=owner, provider=o.provider))
    services = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    key_policy = account.account_id.apply(lambda acct: json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "AlarmPublishers", "Effect": "Allow", "Principal": {"Service": services},
             "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": acct}}},
        ],
    }))
    key = aws.kms.Key(
        f"{n}-alerts",
        description=f"{n}: alert topic encryption",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy,
        tags={"Name": f"{n}-alerts", **tags},
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(protect=production)),
    )
    topic = aws.sns.Topic(
        f"{n}-alerts",
        kms_master_key_id=key.arn,
        tags={"Name": f"{n}-alerts", **tags},
        opts=o,
    )
    aws.sns.TopicPolicy(
        f"{n}-alerts",
        arn=topic.arn,
        policy=pulumi.Output.all(topic.arn, account.account_id).apply(lambda x: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "AlarmPublishers", "Effect": "Allow", "Principal": {"Service": services},
                           "Action": "sns:Publish", "Resource": x[0],
                           "Condition": {"StringEquals": {"aws:SourceAccount": x[1]}}}],
        })),
        opts=o,
    )
    for c in m.channels.email:
        if severity in c.severities:
            aws.sns.TopicSubscription(
                f"{n}-alerts-{c.address}", topic=topic.arn, protocol="email", endpoint=c.address, opts=o
            )
    return topic


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
            self._aws()
        else:
            self._gcp()
        self.register_outputs({"alert_topic_arn": self.alert_topic_arn, "channel_ids": self.channel_ids,
                               "budget_name": self.budget_name})

    def _aws(self) -> None:
        a, n, m = self._in, self._name, self._in.monitoring
        east = self._opts(provider=a.us_east_1)
        topic = alert_topic(self, n, m, a.tags, a.production, severity="critical", opts=east)
        self.alert_topic_arn = topic.arn
        for region, hc in sorted(a.health_check_ids.items()):
            aws.cloudwatch.MetricAlarm(
                f"{n}-{region}-health",
                alarm_description=f"{a.stack}: Route 53 health check of {region} failing; the region is out "
                                  "of the latency-routed hostname",
                namespace="AWS/Route53",
                metric_name="HealthCheckStatus",
                dimensions={"HealthCheckId": hc},
                statistic="Minimum",
                period=60,
                evaluation_periods=2,
                comparison_operator="LessThanThreshold",
                threshold=1,
                treat_missing_data="breaching",  # a check that stops reporting is not healthy
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                tags={"Name": f"{n}-{region}-health", **a.tags},
                opts=east,
            )
        if m.monthly_budget_usd is None:
            return
        self.budget_name = f"aiplat-{a.stack}-monthly"
        emails = sorted({c.address for c in m.channels.email})[:10]  # Budgets allows 10 per notification

        def note(kind: str, fraction: float) -> aws.budgets.BudgetNotificationArgs:
            return aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN", notification_type=kind, threshold=round(fraction * 100, 4),
                threshold_type="PERCENTAGE", subscriber_email_addresses=emails,
                subscriber_sns_topic_arns=[topic.arn],
            )

        aws.budgets.Budget(
            f"{n}-budget",
            name=self.budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{m.monthly_budget_usd:.2f}",
            limit_unit="USD",
            # Counts spend tagged with the stack's cost center (activate `cost-center` as a
            # cost allocation tag in Billing once per account).
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue",
                                                           values=[f"user:cost-center${a.cost_center}"])],
            notifications=[note("ACTUAL", t) for t in m.budget_thresholds] + [note("FORECASTED", 1.0)],
            tags={"Name": f"{n}-budget", **a.tags},
            opts=east,
        )

    def _gcp(self) -> None:
        a, n, m, slo = self._in, self._name, self._in.monitoring, self._in.monitoring.slo
        labels = {k.lower(): v for k, v in a.tags.items()}
        by_severity: dict[str, list[pulumi.Output[str]]] = {s: [] for s in ("critical", "warning", "info")}
        for c in m.channels.email:
            ch = gcp.monitoring.NotificationChannel(
                f"{n}-email-{c.address}",
                project=a.gcp_project, type="email", display_name=f"aiplat {a.stack} {c.address}",
                labels={"email_address": c.address}, user_labels=labels, opts=self._opts(),
            )
            self.channel_ids[f"email-{c.address}"] = ch.id
            for s in c.severities:
                by_severity[s].append(ch.id)
        for c in m.channels.pagerduty:
            ns, _, key = c.routing_key_secret.rpartition(":")
            service_key = pulumi.Config(ns or None).get_secret(key)
            if service_key is None:
                continue  # not in this stack's config: PagerDuty gets Alertmanager's pages only
            ch = gcp.monitoring.NotificationChannel(
                f"{n}-pagerduty-{c.name}",
                project=a.gcp_project, type="pagerduty", display_name=f"aiplat {a.stack} {c.name}",
                sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(service_key=service_key),
                user_labels=labels, opts=self._opts(),
            )
            self.channel_ids[f"pagerduty-{c.name}"] = ch.id
            for s in c.severities:
                by_severity[s].append(ch.id)
        # Slack on GCP would need a Slack app token or a webhook URL in a non-sensitive label:
        # Slack channels get Alertmanager's notifications only.
        if a.url_map_name is not None:
            lb = pulumi.Output.concat('resource.type="https_lb_rule" AND resource.label.url_map_name="',
                                      a.url_map_name, '"')
            count = pulumi.Output.concat('metric.type="loadbalancing.googleapis.com/https/request_count" AND ', lb)
            rate = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                alignment_period="60s", per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM")
            gcp.monitoring.AlertPolicy(
                f"{n}-lb-5xx",
                project=a.gcp_project,
                display_name=f"aiplat {a.stack}: load balancer 5xx ratio above {slo.error_ratio:g}",
                combiner="OR",
                severity="CRITICAL",
                conditions=[gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="5xx / all requests",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=pulumi.Output.concat(count, ' AND metric.label.response_code_class="500"'),
                        denominator_filter=count,
                        aggregations=[rate], denominator_aggregations=[rate],
                        comparison="COMPARISON_GT", threshold_value=slo.error_ratio,
                        duration=f"{int(duration_seconds(slo.error_for))}s",
                    ),
                )],
                notification_channels=by_severity["critical"],
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=f"See {m.runbook_url}#tritonerrorratiohigh", mime_type="text/markdown"),
                user_labels=labels,
                opts=self._opts(),
            )
            gcp.monitoring.AlertPolicy(
                f"{n}-lb-latency",
                project=a.gcp_project,
                display_name=f"aiplat {a.stack}: load balancer p99 latency above {slo.p99_latency_ms:g} ms",
                combiner="OR",
                severity="CRITICAL",
                conditions=[gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="p99 total latency",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=pulumi.Output.concat(
                            'metric.type="loadbalancing.googleapis.com/https/total_latencies" AND ', lb),
                        aggregations=[gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                            alignment_period="60s", per_series_aligner="ALIGN_PERCENTILE_99",
                            cross_series_reducer="REDUCE_MAX")],
                        comparison="COMPARISON_GT", threshold_value=slo.p99_latency_ms,
                        duration=f"{int(duration_seconds(slo.latency_for))}s",
                    ),
                )],
                notification_channels=by_severity["critical"],
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=f"See {m.runbook_url}#tritonp99latencyhigh", mime_type="text/markdown"),
                user_labels=labels,
                opts=self._opts(),
            )
        if m.monthly_budget_usd is None:
            return
        self.budget_name = f"aiplat-{a.stack}-monthly"
        project = gcp.organizations.get_project_output(project_id=a.gcp_project,
                                                       opts=pulumi.InvokeOptions(parent=self))
        rules = [gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
                 for t in m.budget_thresholds]
        rules.append(gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"))
        email_ids = [v for k, v in self.channel_ids.items() if k.startswith("email-")][:5]  # API allows 5
        gcp.billing.Budget(
            f"{n}-budget",
            billing_account=m.gcp_billing_account,
            display_name=self.budget_name,
            amount=gcp.billing.BudgetAmountArgs(specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                currency_code="USD", units=str(int(m.monthly_budget_usd)))),
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[project.number.apply(lambda num: f"projects/{num}")],
                labels={"cost-center": a.cost_center},
                calendar_period="MONTH",
            ),
            threshold_rules=rules,
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(monitoring_notification_channels=email_ids),
            opts=self._opts(),
        )
