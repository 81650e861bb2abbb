"""Monitoring: SLO config, Prometheus alert rules, and (later) the Monitoring component.

The stack's ``monitoring:`` section states the service level (p99 latency SLA, error
ratio, queue time, GPU thresholds) and who is told (email, Slack, PagerDuty). From it,
``rule_groups`` derives Prometheus alert rules in three tiers, labelled by severity:

* ``critical`` (group ``aiplat-immediate``): endpoint down, p99 above the SLA, error
  ratio above threshold, GPU memory exhausted, GPU Xid errors, a declared model absent;
* ``warning`` (``aiplat-warning``): p95 trending toward the SLA, queue time rising, GPU
  utilisation high, a GPU pool at its node cap, latency quantiles not exported;
* ``info`` (``aiplat-info``): a model's version changed, traffic near the rate limit.

The same groups go into ``aiplat rules`` (a rules file for promtool) and into the
cluster's PrometheusRule, so what the tests check is what is deployed.

Latency SLI. Triton 2.51 (the ``tritonserver`` in the nvidia-pytriton wheel) exports
per-model counters (``nv_inference_request_success``/``_failure``, ``nv_inference_count``,
``nv_inference_{request,queue,compute_infer}_duration_us``) by default. Latency
quantiles exist only with ``--metrics-config=summary_latencies=true``: then it also
exports the summaries ``nv_inference_request_summary_us{quantile="0.5|0.9|0.95|0.99|0.999"}``
(and ``nv_inference_queue_summary_us`` etc.), computed by Triton over a sliding window.
``histogram_latencies=true`` adds no request-latency histogram in 2.51 (it only covers
decoupled models' first response). Our Triton deployment sets ``summary_latencies=true``
(``TRITON_METRICS_ARGS``), the p99/p95 alerts read those quantiles, taking the worst
replica (summary quantiles cannot be averaged across replicas), and a warning fires when
a model serves traffic without the summary, so the SLO is never silently unmonitored.
Queue time and error ratio come from the counters (rate of the sums / rate of requests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")

# Triton server flags our deployments (and the integration test) run with: the p99/p95
# alerts need the latency summaries, which are off by default.
TRITON_METRICS_ARGS = ("--metrics-config=summary_latencies=true",)

# Triton's per-model metrics as Prometheus stores them: the one place the alert rules, the
# KEDA trigger and the canary analysis take the names from. Checked in
# triton-inference-server/core r25.01 (the NGC 25.01 image we pin: src/metrics.cc,
# src/metric_model_reporter.cc) and on the 2.51 server of the nvidia-pytriton wheel.
# Every series carries the labels `model` and `version`; failures also carry `reason`.
METRIC_SUCCESS = "nv_inference_request_success"
METRIC_FAILURE = "nv_inference_request_failure"
METRIC_REQUEST_US = "nv_inference_request_duration_us"  # successful requests only
METRIC_QUEUE_US = "nv_inference_queue_duration_us"
METRIC_REQUEST_SUMMARY_US = "nv_inference_request_summary_us"  # only with TRITON_METRICS_ARGS
MODEL_LABEL, VERSION_LABEL, REASON_LABEL = "model", "version", "reason"
# `reason` values. REJECTED counts requests whose queue timeout expired; a request refused
# because the bounded queue is full fails at enqueue (InferenceRequest::Run ->
# FAILED_ENQUEUE) and moves no counter at all: Triton's metrics cannot see it.
FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")


def prometheus_label(k8s_label: str) -> str:
    """The Prometheus label name of a Kubernetes label ('aiplat.io/track' -> 'aiplat_io_track')."""
    return re.sub(r"[^A-Za-z0-9_]", "_", k8s_label)

# Node label the GPU pools carry; kube-state-metrics exports it (allow-listed by the
# Monitoring component) as kube_node_labels{label_aiplat_io_pool=...}.
POOL_NODE_LABEL = "aiplat.io/pool"  # components.gpu_pool.LABEL_POOL
REGION_NODE_LABEL = "topology.kubernetes.io/region"

# Prometheus durations: one or more <int><unit>, e.g. 5m, 1h30m, 30s.
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# A Pulumi config key (optionally namespaced) naming a secret value, e.g. slackOpsWebhook
# or aiplat:slackOpsWebhook.
_SECRET_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*:)?[A-Za-z][A-Za-z0-9_.-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(v: str) -> str:
    if not isinstance(v, str) or not _DURATION.match(v):
        raise ValueError(f"{v!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
    return v


def duration_seconds(v: str) -> float:
    """'1h30m' -> 5400.0 (Prometheus duration units)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", _duration(v)))


class SloConfig(_Model):
    """Service level objectives of the inference endpoints and the GPU health thresholds."""

    p99_latency_ms: float = Field(500.0, gt=0, description="p99 request latency SLA in ms (Triton request time). Default 500.")
    latency_for: str = Field("5m", description="How long p99 must exceed the SLA before paging. Default 5m.")
    p95_warning_fraction: float = Field(
        0.8, gt=0, le=1, description="Warn when p95 exceeds this fraction of the p99 SLA. Default 0.8."
    )
    error_ratio: float = Field(0.01, gt=0, lt=1, description="Page when failed/all requests exceeds this. Default 0.01 (1 %).")
    error_for: str = Field("5m", description="How long the error ratio must stay above it. Default 5m.")
    rate_window: str = Field("5m", description="Window of rate() in ratios and averages. Default 5m.")
    down_for: str = Field("2m", description="How long an endpoint may be down before paging. Default 2m.")
    queue_time_warning_ms: float = Field(100.0, gt=0, description="Warn when mean queue time per request exceeds it. Default 100.")
    gpu_util_warning: float = Field(0.8, gt=0, le=1, description="Warn when a GPU's utilisation exceeds it. Default 0.8 (80 %).")
    gpu_memory_exhaustion: float = Field(
        0.95, gt=0, le=1, description="Page when a GPU's framebuffer use exceeds this fraction. Default 0.95."
    )
    gpu_for: str = Field("5m", description="How long GPU memory must stay exhausted before paging. Default 5m.")
    warning_for: str = Field("15m", description="How long warning-tier conditions must hold. Default 15m.")
    rate_limit_rps: float | None = Field(
        None, gt=0, description="Request rate limit per region (the gateway throttle). Default: none, no rate alert."
    )
    rate_limit_warning_fraction: float = Field(
        0.8, gt=0, le=1, description="Info alert when traffic exceeds this fraction of rate_limit_rps. Default 0.8."
    )
    version_change_window: str = Field(
        "10m", description="A model version counts as new for this long after it appears. Default 10m."
    )

    _durations = field_validator(
        "latency_for", "error_for", "rate_window", "down_for", "gpu_for", "warning_for", "version_change_window"
    )(_duration)

    @property
    def p95_warning_ms(self) -> float:
        return self.p99_latency_ms * self.p95_warning_fraction


def _severities(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("must name at least one of critical, warning, info")
    if len(set(v)) != len(v):
        raise ValueError("must not repeat a severity")
    return v


def _secret_ref(v: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://", v, re.I):
        raise ValueError(
            "is a plaintext URL; store it as a Pulumi secret (pulumi config set --secret aiplat:NAME URL) "
            "and give NAME here"
        )
    if not _SECRET_KEY.match(v):
        raise ValueError(f"{v!r} is not a Pulumi config key naming a secret (e.g. slackOpsWebhook)")
    return v


class EmailChannel(_Model):
    address: str = Field(description="Email address alerts go to.")
    severities: list[Severity] = Field(["critical", "warning"], description="Default: critical and warning.")

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v

    _sev = field_validator("severities")(_severities)


class SlackChannel(_Model):
    name: str = Field(description="Receiver name (e.g. the Slack channel), unique among Slack channels.")
    webhook_secret: str = Field(description="Pulumi secret config key holding the incoming-webhook URL; never the URL.")
    severities: list[Severity] = Field(["critical", "warning"], description="Default: critical and warning.")

    _ref = field_validator("webhook_secret")(_secret_ref)
    _sev = field_validator("severities")(_severities)


class PagerDutyChannel(_Model):
    name: str = Field(description="Receiver name (e.g. the PagerDuty service), unique among PagerDuty channels.")
    routing_key_secret: str = Field(description="Pulumi secret config key holding the Events v2 routing key.")
    severities: list[Severity] = Field(["critical"], description="Default: critical only (pages).")

    _ref = field_validator("routing_key_secret")(_secret_ref)
    _sev = field_validator("severities")(_severities)


class ChannelsConfig(_Model):
    """Who is told. Alertmanager routes each alert to every channel listing its severity."""

    email: list[EmailChannel] = Field(default_factory=list, description="Default: none.")
    slack: list[SlackChannel] = Field(default_factory=list, description="Default: none.")
    pagerduty: list[PagerDutyChannel] = Field(default_factory=list, description="Default: none.")

    @field_validator("slack", "pagerduty")
    @classmethod
    def _unique_names(cls, v: list) -> list:
        names = [c.name for c in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel name(s): {', '.join(dupes)}")
        return v


class MonitoringConfig(_Model):
    """The stack's monitoring: SLOs, notification channels and budget alerts.

    Every field has a default, so a stack without a ``monitoring:`` section is valid and
    gets the default SLOs (with no one notified until channels are added)."""

    slo: SloConfig = Field(default_factory=SloConfig, description="Default: the SloConfig defaults.")
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig, description="Default: no channels.")
    budget_thresholds: list[float] = Field(
        [0.8, 1.0], description="Budget alerts at these fractions of the monthly budget. Default [0.8, 1.0]."
    )
    monthly_budget_usd: float | None = Field(
        None, gt=0, description="Monthly spend the budget alerts measure against. Default: none (no budget)."
    )
    gcp_billing_account: str | None = Field(
        None, validate_default=True,
        description="GCP billing account (XXXXXX-XXXXXX-XXXXXX) the budget is created on. Required on GCP when "
                    "monthly_budget_usd is set; only valid on GCP. Default: none.",
    )
    smtp_smarthost: str | None = Field(
        None, description="host:port of the SMTP relay Alertmanager sends email through. Default: none, so email "
                          "channels get only the cloud-side alarms and budget alerts (SNS / Cloud Monitoring).",
    )
    smtp_from: str = Field("alertmanager@aiplat.invalid", description="Sender of Alertmanager's emails.")
    runbook_url: str = Field(
        "https://github.com/aiplat/aiplat/blob/main/docs/runbooks.md",
        description="Runbook page; each alert links to #<alertname, lowercased>. Default: the project's runbooks.",
    )
    triton_job: str = Field(".*triton.*", description="Regex of the Prometheus job scraping Triton. Default .*triton.*")
    triton_deployment: str = Field(
        ".*triton.*", description="Regex of the Triton Deployment names (kube-state-metrics). Default .*triton.*"
    )

    @field_validator("budget_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("must list at least one fraction (e.g. [0.8, 1.0])")
        bad = [t for t in v if not 0 < t <= 2]
        if bad:
            raise ValueError(f"fractions must be in (0, 2], got {', '.join(map(str, bad))}")
        if list(v) != sorted(set(v)):
            raise ValueError("must be strictly increasing (e.g. [0.8, 1.0])")
        return v

    @field_validator("gcp_billing_account")
    @classmethod
    def _billing(cls, v: str | None, info) -> str | None:
        # The cloud comes from PlatformConfig's validation context (absent when validated alone).
        cloud = (info.context or {}).get("cloud")
        if v is not None and not re.match(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", v):
            raise ValueError(f"{v!r} is not a billing account id (XXXXXX-XXXXXX-XXXXXX, uppercase hex)")
        if cloud == "aws" and v is not None:
            raise ValueError("only valid when cloud is gcp (AWS budgets use the stack's account)")
        if cloud == "gcp" and v is None and info.data.get("monthly_budget_usd") is not None:
            raise ValueError("required on gcp when monthly_budget_usd is set (the billing budget lives on it)")
        return v

    @field_validator("smtp_smarthost")
    @classmethod
    def _smarthost(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", v):
            raise ValueError(f"{v!r} must be host:port (e.g. email-smtp.us-east-1.amazonaws.com:587)")
        return v

    @field_validator("runbook_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://\S+$", v) or "#" in v:
            raise ValueError(f"{v!r} must be an http(s) URL without a #fragment (alerts add their own)")
        return v

    @field_validator("triton_job", "triton_deployment")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"{v!r} is not a regex: {exc}") from None
        if '"' in v or "\\" in v:
            raise ValueError(f"{v!r}: quotes and backslashes are not supported in this selector")
        return v


# -- alert rules (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCap:
    """A GPU pool's node cap in one region: the most nodes its autoscaler can reach."""

    region: str
    pool: str
    max_nodes: int


def _num(x: float) -> str:
    """Threshold as PromQL/annotation text: 250.0 -> '250', 0.015 -> '0.015'."""
    return f"{x:g}" if abs(x) < 1e15 else repr(x)


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


def _q(s: str) -> str:
    """A PromQL double-quoted string literal (model and pool names may hold any char)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alert(name: str, severity: str, expr: str, for_: str | None, summary: str, description: str,
           runbook_url: str, stack: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ and duration_seconds(for_) > 0:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, "stack": stack, **(extra_labels or {})}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{runbook_url}#{name.lower()}",
    }
    return rule


def rule_groups(monitoring: MonitoringConfig, *, stack: str, models: list[str] | tuple[str, ...] = (),
                pools: list[PoolCap] | tuple[PoolCap, ...] = ()) -> list[dict[str, Any]]:
    """Prometheus rule groups (the ``groups:`` list of a rules file) for one stack.

    ``models`` are the model names the stack serves (each gets a not-loaded alert);
    ``pools`` the GPU pools with their node caps (each gets an at-cap warning). Both are
    plain values so this stays a pure function of its arguments."""
    slo, url = monitoring.slo, monitoring.runbook_url
    w = slo.rate_window
    job = f'job=~{_q(monitoring.triton_job)}'
    dep = f'deployment=~{_q(monitoring.triton_deployment)}'
    sla = slo.p99_latency_ms

    def a(*args, **kw):
        return _alert(*args, runbook_url=url, stack=stack, **kw)

    immediate = [
        a("TritonDeploymentUnavailable", "critical",
          f"(kube_deployment_status_replicas_available{{{dep}}} == 0)\n"
          f"and on (namespace, deployment) (kube_deployment_spec_replicas{{{dep}}} > 0)",
          slo.down_for,
          "Triton deployment {{ $labels.namespace }}/{{ $labels.deployment }} has no available replicas",
          f"No ready replica (threshold: 0 available while replicas are desired) for {slo.down_for}; "
          "the endpoint serves nothing."),
        a("TritonTargetDown", "critical", f"up{{{job}}} == 0", slo.down_for,
          "Triton metrics target {{ $labels.instance }} is down",
          f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) "
          f"(threshold: up == 0 for {slo.down_for})."),
        a("TritonP99LatencyHigh", "critical",
          f'max by (model, version) ({METRIC_REQUEST_SUMMARY_US}{{quantile="0.99"}}) / 1000 > ' + _num(sla),
          slo.latency_for,
          f"p99 latency of {{{{ $labels.model }}}} v{{{{ $labels.version }}}} above the {_num(sla)} ms SLA",
          f"p99 request latency is {{{{ $value | printf \"%.1f\" }}}} ms (threshold: {_num(sla)} ms "
          f"for {slo.latency_for}), worst replica."),
        a("TritonErrorRatioHigh", "critical",
          f"sum by (model) (rate({METRIC_FAILURE}[{w}]))\n"
          f"/ (sum by (model) (rate({METRIC_SUCCESS}[{w}])) "
          f"+ sum by (model) (rate({METRIC_FAILURE}[{w}])))\n> {_num(slo.error_ratio)}",
          slo.error_for,
          f"Error ratio of {{{{ $labels.model }}}} above {_pct(slo.error_ratio)}",
          f"{{{{ $value | humanizePercentage }}}} of requests failed over {w} "
          f"(threshold: {_pct(slo.error_ratio)} for {slo.error_for})."),
        a("GpuMemoryExhausted", "critical",
          "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > "
          + _num(slo.gpu_memory_exhaustion),
          slo.gpu_for,
          "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is out of memory",
          f"Framebuffer {{{{ $value | humanizePercentage }}}} used "
          f"(threshold: {_pct(slo.gpu_memory_exhaustion)} for {slo.gpu_for}); allocations will fail."),
        # DCGM_FI_DEV_XID_ERRORS is a gauge holding the last Xid code, not a count.
        a("GpuXidError", "critical", "DCGM_FI_DEV_XID_ERRORS > 0", None,
          "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported Xid {{ $value }}",
          "The driver reported Xid error {{ $value }} (threshold: any Xid > 0); "
          "drain the node if it repeats or is a hardware Xid (48, 63, 64, 74, 79)."),
    ]
    if models:
        immediate.append(a(
            "TritonModelNotLoaded", "critical",
            "\nor ".join(f"absent({METRIC_SUCCESS}{{model={_q(m)}}})" for m in models),
            slo.down_for,
            "Model {{ $labels.model }} is not served by any Triton replica",
            f"No Triton exports metrics for the declared model {{{{ $labels.model }}}} "
            f"(threshold: absent for {slo.down_for})."))

    warning = [
        a("TritonP95LatencyNearSla", "warning",
          f'max by (model, version) ({METRIC_REQUEST_SUMMARY_US}{{quantile="0.95"}}) / 1000 > '
          + _num(slo.p95_warning_ms),
          slo.warning_for,
          f"p95 latency of {{{{ $labels.model }}}} v{{{{ $labels.version }}}} nearing the {_num(sla)} ms SLA",
          f"p95 request latency is {{{{ $value | printf \"%.1f\" }}}} ms (threshold: {_num(slo.p95_warning_ms)} ms, "
          f"{_pct(slo.p95_warning_fraction)} of the SLA, for {slo.warning_for})."),
        a("TritonQueueTimeHigh", "warning",
          f"sum by (model, version) (rate({METRIC_QUEUE_US}[{w}]))\n"
          f"/ sum by (model, version) (rate({METRIC_SUCCESS}[{w}])) / 1000\n"
          f"> {_num(slo.queue_time_warning_ms)}",
          slo.warning_for,
          "Requests to {{ $labels.model }} v{{ $labels.version }} queue too long",
          f"Mean queue time is {{{{ $value | printf \"%.1f\" }}}} ms per request over {w} "
          f"(threshold: {_num(slo.queue_time_warning_ms)} ms for {slo.warning_for}); add replicas or batch."),
        a("GpuUtilizationHigh", "warning",
          f"DCGM_FI_DEV_GPU_UTIL > {_num(slo.gpu_util_warning * 100)}", slo.warning_for,
          "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is busy",
          f"GPU utilisation is {{{{ $value }}}}% (threshold: {_pct(slo.gpu_util_warning)} "
          f"for {slo.warning_for}); the pool is near saturation."),
        a("TritonLatencySummaryMissing", "warning",
          f"count by (model) ({METRIC_SUCCESS})\n"
          f"unless count by (model) ({METRIC_REQUEST_SUMMARY_US}_count)",
          slo.warning_for,
          "Latency SLO of {{ $labels.model }} is unmonitored",
          "Triton serves {{ $labels.model }} without latency quantiles (threshold: no "
          f"{METRIC_REQUEST_SUMMARY_US}); run it with {' '.join(TRITON_METRICS_ARGS)}."),
    ]
    pool_label = "label_" + prometheus_label(POOL_NODE_LABEL)
    region_label = "label_" + prometheus_label(REGION_NODE_LABEL)
    for p in pools:
        warning.append(a(
            "GpuPoolAtNodeCap", "warning",
            f"count(kube_node_labels{{{pool_label}={_q(p.pool)}, {region_label}={_q(p.region)}}}) "
            f">= {p.max_nodes}",
            slo.warning_for,
            f"GPU pool {p.pool} in {p.region} is at its node cap",
            f"{{{{ $value }}}} nodes in pool {p.pool} (threshold: cap {p.max_nodes} for {slo.warning_for}); "
            "the autoscaler cannot add capacity: raise max_nodes or shed load.",
            extra_labels={"pool": p.pool, "region": p.region}))

    vw = slo.version_change_window
    info = [
        # A (model, version) that exists now but not vw ago, for a model that existed vw
        # ago: a new version of a known model (a first deployment does not count).
        a("TritonModelVersionChanged", "info",
          f"count by (model, version) ({METRIC_SUCCESS})\n"
          f"unless count by (model, version) ({METRIC_SUCCESS} offset {vw})\n"
          f"and on (model) count by (model) ({METRIC_SUCCESS} offset {vw})",
          None,
          "Model {{ $labels.model }} now serves version {{ $labels.version }}",
          f"Version {{{{ $labels.version }}}} of {{{{ $labels.model }}}} appeared within the last {vw} "
          "(threshold: any new version); watch latency and errors of the rollout."),
    ]
    if slo.rate_limit_rps is not None:
        limit = slo.rate_limit_rps * slo.rate_limit_warning_fraction
        info.append(a(
            "RequestRateNearLimit", "info",
            f"sum(rate({METRIC_SUCCESS}[{w}])) "
            f"+ (sum(rate({METRIC_FAILURE}[{w}])) or vector(0))\n> {_num(limit)}",
            slo.warning_for,
            f"Request rate nearing the {_num(slo.rate_limit_rps)} req/s limit",
            f"Serving {{{{ $value | printf \"%.1f\" }}}} req/s (threshold: {_num(limit)} req/s, "
            f"{_pct(slo.rate_limit_warning_fraction)} of the limit, for {slo.warning_for}); "
            "requests beyond the limit get 429."))

    return [
        {"name": "aiplat-immediate", "rules": immediate},
        {"name": "aiplat-warning", "rules": warning},
        {"name": "aiplat-info", "rules": info},
    ]


def rules_document(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A Prometheus rules file (also the ``spec`` of a PrometheusRule)."""
    return {"groups": groups}


class _RulesDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, s: str):
    # Multi-line PromQL reads best as a literal block, as in hand-written rules files.
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


_RulesDumper.add_representer(str, _str)


def rules_yaml(groups: list[dict[str, Any]]) -> str:
    return yaml.dump(rules_document(groups), Dumper=_RulesDumper, sort_keys=False, width=1000)


def platform_rule_groups(cfg: Any, stack: str, models: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rule groups of a validated PlatformConfig: its SLOs and its GPU pools' caps."""
    pools = [
        # The cap counts every node of the pool, the spot tier included.
        PoolCap(region.name, pool.name, pool.max_nodes + pool.spot_max_nodes)
        for region in cfg.regions
        for pool in region.gpu_pools
    ]
    return rule_groups(cfg.monitoring, stack=stack, models=models, pools=pools)


def region_models(cfg: Any, region: str) -> list[str]:
    """Model names the stack's Triton endpoints serve in ``region`` (each gets a not-loaded alert).

    Only endpoints that run in the region: a model served elsewhere would be "absent" here
    forever and page for nothing."""
    if cfg.serving is None:
        return []
    regions = [r.name for r in cfg.regions]
    names = {
        m.name
        for ep in cfg.serving.endpoints if region in ep.resolved_regions(regions)
        for m in ep.models
    }
    return sorted(names)


def region_rule_groups(cfg: Any, stack: str, region: str) -> list[dict[str, Any]]:
    """The rule groups of one cluster: the stack's SLOs, the region's models and GPU pools.

    The Monitoring component's PrometheusRule carries exactly these, and
    ``aiplat rules STACK --region REGION`` writes them."""
    rc = next(r for r in cfg.regions if r.name == region)
    pools = [PoolCap(rc.name, p.name, p.max_nodes + p.spot_max_nodes) for p in rc.gpu_pools]
    return rule_groups(cfg.monitoring, stack=stack, models=region_models(cfg, region), pools=pools)
