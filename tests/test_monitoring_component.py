"""Monitoring components: the exact per-cluster and stack-wide contract in the recorded graph,
the secrets paths, and the pure builders (Alertmanager routing, Helm values, dashboards)."""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

from aiplat.testing import engine
from aiplat.config import MonitoringConfig, PlatformConfig
from aiplat.errors import ConfigError
from aiplat.monitoring import CHART, RECEIVERS_SECRET, alertmanager_config, dashboards, region_rule_groups, stack_values
from aiplat.monitoring.alertmanager import CHART_CONFIG_KEYS
from aiplat.project import load_platform_config, read_stack_config
from tests._project import available_stacks, stack_file_path

from .conftest import by_type
from tests._project import run_stack

HELM = "kubernetes:helm.sh/v3:Release"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SECRET = "kubernetes:core/v1:Secret"
PROD_SECRETS = {"aiplat:slackInferenceWebhook": "https://hooks.slack.com/services/T000/B000/plaintext-do-not-leak",
                "aiplat:pagerdutyInferenceKey": "pd-routing-key-plaintext-0123456789",
                "aiplat:smtpPassword": "smtp-password-plaintext-do-not-leak"}


def kps(rec):
    return [r for r in by_type(rec, HELM) if r.inputs["chart"] == "kube-prometheus-stack"]


def mon_region(rec, reg) -> str:
    """In-cluster resources use the cluster's Kubernetes provider: the region is in the component's name."""
    comp = rec.by_urn()[reg.parent]
    assert comp.type == "aiplat:monitoring:Monitoring"
    return comp.name.removeprefix(f"{rec.stack}-").removesuffix("-mon")


@lru_cache(maxsize=None)
def with_secrets(stack: str, secrets: tuple) -> engine.Recording:
    cfg = {**read_stack_config(stack_file_path(stack)), **dict(secrets)}
    return run_stack(stack, cfg, secret_keys=[k for k, _ in secrets])


# -- per cluster ---------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod", "gcp-prod"])
def test_each_cluster_gets_a_pinned_kube_prometheus_stack(record, stack):
    rec, cfg = record(stack), load_platform_config(stack)
    releases = kps(rec)
    assert sorted(mon_region(rec, r) for r in releases) == sorted(r.name for r in cfg.regions)
    for r in releases:
        i = r.inputs
        assert (i["chart"], i["version"], i["repositoryOpts"]["repo"]) == (
            "kube-prometheus-stack", "75.15.1", "https://prometheus-community.github.io/helm-charts")
        assert i["namespace"] == "monitoring" and i["name"] == "kube-prometheus-stack"
        v = i["values"]
        spec = v["prometheus"]["prometheusSpec"]
        assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
        assert spec["podMonitorSelectorNilUsesHelmValues"] is False
        assert spec["ruleSelectorNilUsesHelmValues"] is False
        assert spec["serviceMonitorNamespaceSelector"] == {}
        assert spec["retention"] == ("30d" if cfg.production else "15d")
        assert spec["externalLabels"] == {"stack": stack, "region": mon_region(rec, r)}
        assert v["kube-state-metrics"]["metricLabelsAllowlist"] == [
            "nodes=[aiplat.io/pool,aiplat.io/capacity-type,topology.kubernetes.io/region]"]
        assert v["grafana"]["sidecar"]["dashboards"] == {
            "enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}
        assert v["alertmanager"]["config"] == json.loads(json.dumps(alertmanager_config(cfg.monitoring)))
        # the namespace exists before the release
        parent = rec.by_urn()[r.parent]
        assert parent.type == "aiplat:monitoring:Monitoring"


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-eu", "gcp-prod"])
def test_prometheus_rule_carries_exactly_the_regions_rule_groups(record, cli, stack, tmp_path):
    rec, cfg = record(stack), load_platform_config(stack)
    rules = by_type(rec, RULE)
    assert len(rules) == len(cfg.regions)
    for r in rules:
        region = mon_region(rec, r)
        assert r.inputs["metadata"]["namespace"] == "monitoring"
        assert r.inputs["spec"] == {"groups": json.loads(json.dumps(region_rule_groups(cfg, stack, region)))}
        release = next(x for x in kps(rec) if mon_region(rec, x) == region)
        assert release.urn in r.dependencies  # the CRD comes with the release
    # ... and `aiplat rules --region` writes the same groups
    import yaml
    region = cfg.regions[-1].name
    out = tmp_path / "r.yaml"
    assert cli("rules", stack, "--region", region, "--out", str(out)).returncode == 0
    rule = next(r for r in rules if mon_region(rec, r) == region)
    assert yaml.safe_load(out.read_text()) == rule.inputs["spec"]


def test_region_rules_name_only_models_served_there(record):
    cfg = load_platform_config("prod")
    alerts = lambda region: {  # noqa: E731
        r["expr"] for g in region_rule_groups(cfg, "prod", region) for r in g["rules"]
        if r["alert"] == "TritonModelNotLoaded"}
    # classify (linear-classifier) runs in us-east-1 and us-west-2 only
    assert any("linear-classifier" in e for e in alerts("us-east-1"))
    assert not any("linear-classifier" in e for e in alerts("us-east-2"))
    assert any("text-embedder" in e for e in alerts("us-east-2"))


@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_three_dashboards_per_cluster_as_labelled_configmaps(record, stack):
    rec = record(stack)
    cms = [c for c in by_type(rec, "kubernetes:core/v1:ConfigMap")
           if c.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    cfg = load_platform_config(stack)
    assert len(cms) == 3 * len(cfg.regions)
    for c in cms:
        assert c.inputs["metadata"]["namespace"] == "monitoring"
        (body,) = c.inputs["data"].values()
        board = json.loads(body)
        assert board["schemaVersion"] == dashboards.SCHEMA_VERSION and board["panels"]
        assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in board["panels"])
    names = sorted(c.inputs["metadata"]["name"] for c in cms)
    assert names == sorted(["aiplat-dashboard-engineering", "aiplat-dashboard-finance",
                            "aiplat-dashboard-operations"] * len(cfg.regions))


def test_dcgm_exporter_is_scraped_by_a_podmonitor(record):
    rec = record("dev")
    (pm,) = by_type(rec, "kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert pm.inputs["metadata"]["namespace"] == "kube-system"
    assert pm.inputs["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}}
    assert pm.inputs["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


# -- AWS cloud side -------------------------------------------------------------------------
def test_aws_alert_topics_are_kms_encrypted_with_email_subscriptions(record):
    rec = record("prod")
    topics = by_type(rec, "aws:sns/topic:Topic")
    # one per region (alarms notify topics in their own region) + the stack's in us-east-1
    assert sorted(t.name for t in topics) == sorted(
        ["prod-mon-alerts", "prod-us-east-1-mon-alerts", "prod-us-west-2-mon-alerts", "prod-us-east-2-mon-alerts"])
    keys = {k.name: k for k in by_type(rec, "aws:kms/key:Key")}
    for t in topics:
        assert t.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
        key = keys[t.name]
        assert key.inputs["enableKeyRotation"] is True and key.protect is True  # prod
        stmts = json.loads(key.inputs["policy"])["Statement"]
        assert {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"} <= set(stmts[1]["Principal"]["Service"])
    stack_topic = next(t for t in topics if t.name == "prod-mon-alerts")
    assert rec.region_of(stack_topic) == "us-east-1"
    subs = by_type(rec, "aws:sns/topicSubscription:TopicSubscription")
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subs} == {("email", "ml-platform@example.com")}
    assert len(subs) == 4


def test_aws_gateway_alarms_use_the_gateway_api_and_the_slo(record):
    rec = record("prod")
    cfg = load_platform_config("prod")
    alarms = {a.name: a for a in by_type(rec, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    apis = {rec.region_of(a): a for a in by_type(rec, "aws:apigatewayv2/api:Api") if not a.name.endswith("health-api")}
    for region in ("us-east-1", "us-west-2", "us-east-2"):
        five = alarms[f"prod-{region}-mon-gateway-5xx"]
        lat = alarms[f"prod-{region}-mon-gateway-latency"]
        api_id = apis[region].id
        queries = {q["id"]: q for q in five.inputs["metricQueries"]}
        assert queries["errors"]["metric"]["metricName"] == "5xx"
        assert queries["errors"]["metric"]["dimensions"] == {"ApiId": api_id, "Stage": "$default"}
        assert queries["ratio"]["returnData"] is True
        assert five.inputs["threshold"] == cfg.monitoring.slo.error_ratio
        assert (lat.inputs["namespace"], lat.inputs["metricName"], lat.inputs["extendedStatistic"]) == (
            "AWS/ApiGateway", "Latency", "p99")
        assert lat.inputs["dimensions"] == {"ApiId": api_id, "Stage": "$default"}
        assert lat.inputs["threshold"] == 300 and lat.inputs["evaluationPeriods"] == 5
        assert rec.region_of(five) == region == rec.region_of(lat)
        topic = next(t for t in by_type(rec, "aws:sns/topic:Topic") if t.name == f"prod-{region}-mon-alerts")
        assert lat.inputs["alarmActions"] == [topic.inputs.get("arn") or lat.inputs["alarmActions"][0]]


def test_aws_route53_health_check_alarms_in_us_east_1(record):
    rec = record("prod")
    checks = {c.name: c for c in by_type(rec, "aws:route53/healthCheck:HealthCheck")}
    health = [a for a in by_type(rec, "aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-health")]
    assert len(health) == 3 == len(checks)
    for a in health:
        assert (a.inputs["namespace"], a.inputs["metricName"], a.inputs["statistic"]) == (
            "AWS/Route53", "HealthCheckStatus", "Minimum")
        assert a.inputs["comparisonOperator"] == "LessThanThreshold" and a.inputs["threshold"] == 1
        assert a.inputs["dimensions"]["HealthCheckId"] in {c.id for c in checks.values()}
        assert rec.region_of(a) == "us-east-1"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_aws_budget_thresholds_forecast_and_cost_center(record, stack):
    rec, cfg = record(stack), load_platform_config(stack)
    (budget,) = by_type(rec, "aws:budgets/budget:Budget")
    i = budget.inputs
    assert (i["budgetType"], i["timeUnit"], i["limitUnit"]) == ("COST", "MONTHLY", "USD")
    assert float(i["limitAmount"]) == cfg.monitoring.monthly_budget_usd
    assert i["name"] == f"aiplat-{stack}-monthly"
    assert i["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:cost-center${cfg.tags.cost_center}"]}]
    notes = {(n["notificationType"], n["threshold"]) for n in i["notifications"]}
    assert {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)} <= notes
    assert notes == {("ACTUAL", t * 100) for t in cfg.monitoring.budget_thresholds} | {("FORECASTED", 100)}
    for n in i["notifications"]:
        assert n["thresholdType"] == "PERCENTAGE" and n["comparisonOperator"] == "GREATER_THAN"
        assert n["subscriberEmailAddresses"] == sorted({c.address for c in cfg.monitoring.channels.email})
        assert len(n["subscriberSnsTopicArns"]) == 1
    assert {"owner", "team", "cost-center"} <= set(i["tags"])


@pytest.mark.parametrize("stack", available_stacks())
def test_budget_equals_the_spend_cap_policy(stack):
    """One source of truth (monitoring.monthly_budget_usd); the policy's cap must agree."""
    from tests._project import ROOT as PROJECT_DIR

    cap = json.loads((PROJECT_DIR / "policies" / "config" / f"{stack}.json").read_text())["spend-cap"]["maxMonthlyUsd"]
    assert load_platform_config(stack).monitoring.monthly_budget_usd == cap


# -- GCP cloud side --------------------------------------------------------------------------
def test_gcp_channels_policies_and_billing_budget(record):
    rec, cfg = record("gcp-prod"), load_platform_config("gcp-prod")
    (email,) = by_type(rec, "gcp:monitoring/notificationChannel:NotificationChannel")
    assert email.inputs["type"] == "email" and email.inputs["labels"] == {"email_address": "ml-platform@example.com"}
    policies = {p.name: p for p in by_type(rec, "gcp:monitoring/alertPolicy:AlertPolicy")}
    assert set(policies) == {"gcp-prod-mon-lb-5xx", "gcp-prod-mon-lb-latency"}
    (urlmap,) = by_type(rec, "gcp:compute/uRLMap:URLMap")
    five = policies["gcp-prod-mon-lb-5xx"].inputs["conditions"][0]["conditionThreshold"]
    assert f'resource.label.url_map_name="{urlmap.id}"' in five["filter"]
    assert 'metric.label.response_code_class="500"' in five["filter"]
    assert five["thresholdValue"] == 0.005 and five["duration"] == "300s"
    lat = policies["gcp-prod-mon-lb-latency"].inputs["conditions"][0]["conditionThreshold"]
    assert lat["aggregations"][0]["perSeriesAligner"] == "ALIGN_PERCENTILE_99" and lat["thresholdValue"] == 400
    for p in policies.values():
        assert p.inputs["notificationChannels"] == [email.id]
    (budget,) = by_type(rec, "gcp:billing/budget:Budget")
    b = budget.inputs
    assert b["billingAccount"] == cfg.monitoring.gcp_billing_account == "01A2B3-C4D5E6-F7A8B9"
    assert b["amount"] == {"specifiedAmount": {"currencyCode": "USD", "units": "80000"}}
    assert {(r["thresholdPercent"], r["spendBasis"]) for r in b["thresholdRules"]} == {
        (0.8, "CURRENT_SPEND"), (1, "CURRENT_SPEND"), (1, "FORECASTED_SPEND")}
    assert b["budgetFilter"]["labels"] == {"cost-center": "cc-4410"}
    assert b["budgetFilter"]["projects"][0].startswith("projects/")
    assert b["allUpdatesRule"]["monitoringNotificationChannels"] == [email.id]


def test_gcp_billing_account_is_validated():
    raw = read_stack_config(stack_file_path("gcp-prod"))["aiplat:platform"]
    bad = {**raw, "monitoring": {**raw["monitoring"], "gcp_billing_account": "not-an-account"}}
    missing = {**raw, "monitoring": {k: v for k, v in raw["monitoring"].items() if k != "gcp_billing_account"}}
    for cfg, msg in ((bad, "not a billing account"), (missing, "required on gcp")):
        with pytest.raises(ConfigError) as exc:
            PlatformConfig.from_raw(cfg)
        assert [p.path for p in exc.value.problems] == ["monitoring.gcp_billing_account"]
        assert msg in str(exc.value)
    aws_raw = read_stack_config(stack_file_path("dev"))["aiplat:platform"]
    with pytest.raises(ConfigError, match="only valid when cloud is gcp"):
        PlatformConfig.from_raw({**aws_raw, "monitoring": {**aws_raw["monitoring"],
                                                           "gcp_billing_account": "01A2B3-C4D5E6-F7A8B9"}})


# -- secrets ------------------------------------------------------------------------------
def _all_strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_strings(v)
    elif isinstance(value, str):
        yield value


def test_secrets_absent_no_secret_resource_and_files_referenced(record):
    rec = record("prod")
    assert not [s for s in by_type(rec, SECRET) if s.inputs["metadata"]["name"] == RECEIVERS_SECRET]
    for r in kps(rec):
        am = r.inputs["values"]["alertmanager"]
        assert am["alertmanagerSpec"]["secrets"] == [RECEIVERS_SECRET]
        recv = {x["name"]: x for x in am["config"]["receivers"]}
        assert recv["slack-inference-alerts"]["slack_configs"][0]["api_url_file"] == (
            "/etc/alertmanager/secrets/aiplat-alert-receivers/slackInferenceWebhook")
        assert recv["pagerduty-inference-oncall"]["pagerduty_configs"][0]["routing_key_file"] == (
            "/etc/alertmanager/secrets/aiplat-alert-receivers/pagerdutyInferenceKey")
        assert am["config"]["global"]["smtp_auth_password_file"] == (
            "/etc/alertmanager/secrets/aiplat-alert-receivers/smtpPassword")
        assert "smtp_auth_password" not in am["config"]["global"]


def test_secrets_present_become_a_secret_and_never_plaintext():
    rec = with_secrets("prod", tuple(sorted(PROD_SECRETS.items())))
    secrets = [s for s in by_type(rec, SECRET) if s.inputs["metadata"]["name"] == RECEIVERS_SECRET]
    assert len(secrets) == 3  # one per cluster
    for s in secrets:
        assert s.inputs["stringData"] == engine.SECRET
        assert s.inputs["metadata"]["namespace"] == "monitoring"
        release = next(r for r in kps(rec) if mon_region(rec, r) == mon_region(rec, s))
        assert s.urn in release.dependencies  # Alertmanager mounts it at start
    for r in rec.resources:
        for text in _all_strings(r.inputs):
            assert not any(v in text for v in PROD_SECRETS.values()), f"{r.type} {r.name} leaks a secret"


def test_some_secrets_present_is_a_config_error():
    with pytest.raises(Exception, match="pagerdutyInferenceKey"):
        with_secrets("prod", (("aiplat:slackInferenceWebhook", "https://hooks.slack.com/x"),))


def test_gcp_pagerduty_channel_only_when_its_key_is_a_secret():
    rec = with_secrets("gcp-prod", (("aiplat:pagerdutyInferenceGcpKey", "pd-key-plaintext-0000"),
                                    ("aiplat:smtpPassword", "smtp-plaintext-0000")))
    chans = {c.inputs["type"]: c for c in by_type(rec, "gcp:monitoring/notificationChannel:NotificationChannel")}
    assert set(chans) == {"email", "pagerduty"}
    assert chans["pagerduty"].inputs["sensitiveLabels"] in (engine.SECRET, {"serviceKey": engine.SECRET})
    for r in rec.resources:
        assert not any("pd-key-plaintext" in t or "smtp-plaintext" in t for t in _all_strings(r.inputs))


# -- pure builders ---------------------------------------------------------------------------
def test_alertmanager_routes_each_channel_by_its_severities():
    m = MonitoringConfig.model_validate({
        "smtp": {"smarthost": "smtp.example.com:587", "sender": "am@example.com", "username": "am",
                 "password_secret": "aiplat:smtpPw"},
        "channels": {
            "email": [{"address": "a@example.com", "severities": ["critical", "warning"]}],
            "slack": [{"name": "ops", "webhook_secret": "aiplat:slackOps", "severities": ["warning", "info"]}],
            "pagerduty": [{"name": "oncall", "routing_key_secret": "pdKey"}],
        },
    })
    c = alertmanager_config(m)
    # every key the chart's default config sets is ours, so Helm's merge leaves nothing of the chart's
    for key, sub in CHART_CONFIG_KEYS.items():
        assert key in c and (sub is None or sub <= set(c[key])), key
    routes = {r["receiver"]: r for r in c["route"]["routes"]}
    assert [r["matchers"] for r in c["route"]["routes"][:2]] == [['alertname="Watchdog"'], ['alertname="InfoInhibitor"']]
    assert routes["email-a@example.com"]["matchers"] == ['severity=~"critical|warning"']
    assert routes["slack-ops"]["matchers"] == ['severity=~"warning|info"']
    assert routes["pagerduty-oncall"]["matchers"] == ['severity=~"critical"']
    assert all(r.get("continue") for n, r in routes.items() if n != "null")
    assert c["route"]["receiver"] == "null"
    assert c["global"] == {
        "resolve_timeout": "5m", "smtp_smarthost": "smtp.example.com:587", "smtp_from": "am@example.com",
        "smtp_require_tls": True, "smtp_auth_username": "am",
        "smtp_auth_password_file": "/etc/alertmanager/secrets/aiplat-alert-receivers/smtpPw"}
    assert c["templates"] == ["/etc/alertmanager/config/*.tmpl"]
    recv = {r["name"]: r for r in c["receivers"]}
    assert recv["slack-ops"]["slack_configs"][0]["api_url_file"].endswith("/aiplat-alert-receivers/slackOps")
    assert recv["email-a@example.com"]["email_configs"] == [{"to": "a@example.com", "send_resolved": True}]
    # twins: each rule names its pair and requires the labels it compares (a missing label is
    # "equal" to Alertmanager, which would let any critical mute any warning)
    twins = [r for r in c["inhibit_rules"] if any(x.startswith('alertname="Triton') for x in r.get("source_matchers", []))]
    assert twins == [
        {"source_matchers": ['alertname="TritonP99LatencyHigh"', 'model=~".+"', 'version=~".+"'],
         "target_matchers": ['alertname="TritonP95LatencyNearSla"', 'model=~".+"', 'version=~".+"'],
         "equal": ["stack", "model", "version"]},
        {"source_matchers": ['alertname="TritonQueueFull"', 'model=~".+"', 'version=~".+"'],
         "target_matchers": ['alertname="TritonQueueTimeHigh"', 'model=~".+"', 'version=~".+"'],
         "equal": ["stack", "model", "version"]},
    ]
    assert {"target_matchers": ['alertname="InfoInhibitor"']} in c["inhibit_rules"]
    assert "secrets" not in stack_values(MonitoringConfig(), "s", "r", "15d", secrets=False)["alertmanager"][
        "alertmanagerSpec"]
    # no SMTP relay and no channels: nobody is told (a stack with channels must reach every severity)
    bare = alertmanager_config(MonitoringConfig())
    assert [r["name"] for r in bare["receivers"]] == ["null"] and bare["global"] == {"resolve_timeout": "5m"}


@pytest.mark.parametrize("channels, smtp, problems", [
    ({"email": [{"address": "a@example.com", "severities": ["critical", "warning", "info"]}]}, None,
     {"monitoring.smtp"}),
    ({"pagerduty": [{"name": "pd", "routing_key_secret": "pdKey"}]}, None,
     {"monitoring.channels"}),
])
def test_a_severity_or_channel_that_reaches_nobody_is_a_config_error(channels, smtp, problems):
    raw = {**read_stack_config(stack_file_path("dev"))["aiplat:platform"]}
    raw["monitoring"] = {"channels": channels, **({"smtp": smtp} if smtp else {})}
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    assert {p.path for p in exc.value.problems} == problems
    by_msg = [p.message for p in exc.value.problems]
    if "monitoring.channels" in problems:  # pagerduty pages only: warning and info reach nobody
        assert sorted(by_msg) == [
            "no channel receives info alerts, so Alertmanager drops them: add 'info' to the severities of a channel",
            "no channel receives warning alerts, so Alertmanager drops them: add 'warning' to the severities of a channel"]
    else:
        assert by_msg == ["required: channels.email lists 1 address(es) and Alertmanager sends email only through an "
                          "SMTP relay (smtp: {smarthost, sender, username, password_secret})"]


def test_smtp_password_is_a_secret_reference_and_goes_with_a_username():
    raw = {**read_stack_config(stack_file_path("dev"))["aiplat:platform"]}
    raw["monitoring"] = {**raw["monitoring"], "smtp": {"smarthost": "smtp.example.com", "sender": "am@example.com",
                                                       "username": "am", "password_secret": "smtp://user:pw@host"}}
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    assert {p.path for p in exc.value.problems} == {"monitoring.smtp.smarthost", "monitoring.smtp.password_secret"}
    assert "pw@host" not in str(exc.value)
    raw["monitoring"]["smtp"] = {"smarthost": "smtp.example.com:587", "sender": "am@example.com", "username": "am"}
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    assert [(p.path, p.message) for p in exc.value.problems] == [
        ("monitoring.smtp.password_secret", "username and password_secret go together (SMTP AUTH needs both)")]


def test_finance_dashboard_prices_come_from_the_catalog():
    from aiplat.catalog import gpu

    cfg = load_platform_config("prod")
    prices = dashboards.pool_prices("aws", "us-east-1", cfg.regions[0].gpu_pools)
    llm = next(p for p in prices if p.pool == "llm")
    cat = gpu.get_instance_type("aws", "g6e.12xlarge").price("us-east-1")
    assert llm.hourly == {"on-demand": cat.on_demand_hourly, "reserved": cat.reserved_1y_hourly}
    embed = next(p for p in prices if p.pool == "embed")
    assert set(embed.hourly) == {"on-demand", "reserved", "spot"}  # embed has a spot tier
    board = dashboards.finance_dashboard("prod", "us-east-1", "inference", prices)
    titles = [p["title"] for p in board["panels"]]
    assert titles[:3] == ["GPU node-hours by pool (dashboard range)", "GPU spend by pool (USD, dashboard range)",
                          "GPU cost rate by pool (USD/h)"]
    spend = board["panels"][1]["targets"]
    reserved = next(t for t in spend if t["legendFormat"] == "llm reserved")
    assert reserved["expr"].endswith(f"* {cat.reserved_1y_hourly:.6g}")
    assert 'label_aiplat_io_pool="llm", label_aiplat_io_capacity_type="reserved"' in reserved["expr"]
    assert "nv_inference_compute_infer_duration_us" in board["panels"][3]["targets"][0]["expr"]
    assert '"team", "inference"' in board["panels"][5]["targets"][0]["expr"]


def test_operations_and_engineering_dashboards_query_triton_metrics():
    ops = dashboards.operations_dashboard("dev", "us-east-1")
    exprs = [t["expr"] for p in ops["panels"] for t in p["targets"]]
    for q in ("0.5", "0.95", "0.99"):
        assert any(f'nv_inference_request_summary_us{{quantile="{q}"' in e for e in exprs)
    assert any("nv_inference_request_failure" in e for e in exprs)
    assert any("rate(nv_inference_request_success" in e for e in exprs)
    eng = dashboards.engineering_dashboard("dev", "us-east-1")
    e_exprs = [t["expr"] for p in eng["panels"] for t in p["targets"]]
    assert any("nv_inference_queue_duration_us" in e for e in e_exprs)
    assert any("nv_inference_compute_infer_duration_us" in e for e in e_exprs)
    assert any("nv_inference_count" in e and "nv_inference_exec_count" in e for e in e_exprs)
    for board in (ops, eng):
        assert board["schemaVersion"] == dashboards.SCHEMA_VERSION
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
        assert len(board["uid"]) <= 40
        json.dumps(board)  # serialisable


def test_chart_is_pinned():
    assert CHART["version"].count(".") == 2 and CHART["repo"].startswith("https://")
