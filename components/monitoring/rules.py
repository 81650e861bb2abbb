"""Prometheus alert rules of a stack: pure functions of its validated config.

The stack's ``monitoring:`` section (``aiplat.config.MonitoringConfig``) states the
service level (p99 latency SLA, error ratio, queue time, GPU thresholds) and who is told
(email, Slack, PagerDuty). From it, ``rule_groups`` derives Prometheus alert rules in three tiers, labelled by severity:

* ``critical`` (group ``aiplat-immediate``): endpoint down, p99 above the SLA, error
  ratio above threshold, a model's queue full (overload), GPU memory exhausted, GPU Xid
  errors, a declared model absent;
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
decoupled models' first response). The Triton Deployment passes ``TRITON_METRICS_ARGS``
(``aiplat.triton.triton_args``, checked against a real Triton and Prometheus by
tests/test_monitoring_integration.py), the p99/p95 alerts read those quantiles, taking the
worst replica (summary quantiles cannot be averaged across replicas), and a warning fires
when a model serves traffic without the summary, so the SLO is never silently unmonitored.
Queue time and error ratio come from the counters (rate of the sums / rate of requests).

Overload. A model's bounded queue refuses what it cannot hold at once (HTTP 503 "Exceeds
maximum queue size"), and Triton (core r25.01 and the 2.51 server alike) counts those
refusals nowhere: they fail at enqueue, before any statistics, and ``reason="REJECTED"``
counts only queue *timeouts*. So the error ratio reads 0 in exactly that overload.
``TritonQueueFull`` watches the one thing that does move, the pending-request gauge
(``nv_inference_pending_request_count``), against each model's ``max_queue_size``: when a
replica's queue stays at ``queue_full_fraction`` of it, requests are being refused. (At the
edge the cloud alarms count the 503s: the API gateway's 5xx ratio on AWS, the load
balancer's on GCP.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from aiplat.config.monitoring import MonitoringConfig, duration_seconds
from aiplat.refs import (  # noqa: F401  (TRITON_METRICS_ARGS: the flags the p99/p95 alerts need)
    FAILURE_REASONS,
    METRIC_FAILURE,
    METRIC_PENDING,
    METRIC_QUEUE_US,
    METRIC_REQUEST_SUMMARY_US,
    METRIC_REQUEST_US,
    METRIC_SUCCESS,
    MODEL_LABEL,
    POOL_NODE_LABEL,
    REASON_LABEL,
    TRITON_METRICS_ARGS,
    VERSION_LABEL,
    prometheus_label,
)

# The GPU pools' node label (POOL_NODE_LABEL) and the region label: kube-state-metrics
# exports them (allow-listed by the Monitoring component) as kube_node_labels{label_...}.
REGION_NODE_LABEL = "topology.kubernetes.io/region"


def ksm_label(node_label: str) -> str:
    """kube-state-metrics' name of a Kubernetes label: aiplat.io/pool -> label_aiplat_io_pool."""
    return "label_" + prometheus_label(node_label)


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


def promql_string(s: str) -> str:
    """A PromQL double-quoted string literal (model and pool names may hold any char)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


_q = promql_string


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
                pools: list[PoolCap] | tuple[PoolCap, ...] = (),
                queue_sizes: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Prometheus rule groups (the ``groups:`` list of a rules file) for one stack.

    ``models`` are the model names the stack serves (each gets a not-loaded alert);
    ``pools`` the GPU pools with their node caps (each gets an at-cap warning);
    ``queue_sizes`` each served model's ``max_queue_size`` (each gets a queue-full alert).
    All are plain values so this stays a pure function of its arguments."""
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
    ]
    for model, size in sorted((queue_sizes or {}).items()):
        at = size * slo.queue_full_fraction
        immediate.append(a(
            "TritonQueueFull", "critical",
            f"max by (namespace, model, version) ({METRIC_PENDING}{{model={_q(model)}}}) >= {_num(at)}",
            slo.error_for,
            "Queue of {{ $labels.model }} v{{ $labels.version }} is full: Triton refuses requests",
            f"{{{{ $value }}}} requests pending on the busiest replica of {{{{ $labels.namespace }}}} "
            f"(threshold: {_pct(slo.queue_full_fraction)} of max_queue_size {size} for {slo.error_for}); "
            "beyond the queue Triton answers 503 and counts no failure: scale out or shed load.",
            # one rule per model (its own size); the label keeps them distinct for promtool
            extra_labels={"model": model}))
    immediate += [
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
    pool_label, region_label = ksm_label(POOL_NODE_LABEL), ksm_label(REGION_NODE_LABEL)
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
    """The rule groups of a validated PlatformConfig: its SLOs, its GPU pools' caps, its models' queues."""
    pools = [
        # The cap counts every node of the pool, the spot tier included.
        PoolCap(region.name, pool.name, pool.max_nodes + pool.spot_max_nodes)
        for region in cfg.regions
        for pool in region.gpu_pools
    ]
    return rule_groups(cfg.monitoring, stack=stack, models=models, pools=pools,
                       queue_sizes=queue_sizes(cfg, [r.name for r in cfg.regions]))


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


def queue_sizes(cfg: Any, regions: list[str]) -> dict[str, int]:
    """``max_queue_size`` of every model the stack serves in ``regions`` (model name -> size).

    A model served by several endpoints with different sizes takes the smallest: its queue
    fills first."""
    if cfg.serving is None:
        return {}
    stack_regions = [r.name for r in cfg.regions]
    out: dict[str, int] = {}
    for ep in cfg.serving.endpoints:
        if set(ep.resolved_regions(stack_regions)) & set(regions):
            for m in ep.models:
                out[m.name] = min(out.get(m.name, m.max_queue_size), m.max_queue_size)
    return dict(sorted(out.items()))


def region_rule_groups(cfg: Any, stack: str, region: str) -> list[dict[str, Any]]:
    """The rule groups of one cluster: the stack's SLOs, the region's models and GPU pools.

    The Monitoring component's PrometheusRule carries exactly these, and
    ``aiplat rules STACK --region REGION`` writes them."""
    rc = next(r for r in cfg.regions if r.name == region)
    pools = [PoolCap(rc.name, p.name, p.max_nodes + p.spot_max_nodes) for p in rc.gpu_pools]
    return rule_groups(cfg.monitoring, stack=stack, models=region_models(cfg, region), pools=pools,
                       queue_sizes=queue_sizes(cfg, [region]))
