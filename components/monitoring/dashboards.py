"""Grafana dashboards (JSON models) for one cluster: operations, engineering, finance.

Pure functions of plain values, so tests can check the exact panels and PromQL. The
Monitoring component puts each into a ConfigMap labelled ``grafana_dashboard: "1"``,
which kube-prometheus-stack's Grafana sidecar loads.

Metrics: Triton's per-model counters, latency summaries and pending-request gauge
(``nv_inference_*``; the p50/p95/p99 and queue p99 panels need
``--metrics-config=summary_latencies=true``, which the Triton Deployment passes:
``aiplat.refs.TRITON_METRICS_ARGS``), kube-state-metrics (``kube_node_labels`` with the
allow-listed pool and capacity-type labels, GPU requests) and DCGM (``DCGM_FI_*``).
Overload shows in the queue-fill panel, not in the error panels: Triton counts no failure
for the requests its full queue refuses (``aiplat.monitoring.rules``, "Overload").

Finance: GPU cost = node count per (pool, capacity type) x the catalog's list price per
node-hour (components/catalog/gpu.py): reserved nodes at the pool's commitment price,
on-demand at the on-demand price, spot at the on-demand price too (the catalog has no spot
prices, so spot cost is an upper bound). Cost per model splits the cluster's GPU cost by
each model's share of Triton compute time; cost per endpoint by GPU requests of its pods;
the team is the stack's ``team`` tag (chargeback tags are per stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from aiplat.config.monitoring import duration_seconds
from aiplat.monitoring.rules import ksm_label, promql_string
from aiplat.refs import CAPACITY_NODE_LABEL, METRIC_PENDING, POOL_NODE_LABEL

SCHEMA_VERSION = 39  # Grafana 11's dashboard schema
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SUMMARY_QUANTILES = ("0.5", "0.95", "0.99")


POOL = ksm_label(POOL_NODE_LABEL)
CAPACITY = ksm_label(CAPACITY_NODE_LABEL)


@dataclass(frozen=True)
class PoolPrice:
    """List price of one node of a pool per capacity type, USD per node-hour."""

    pool: str
    instance_type: str
    gpus_per_node: int
    hourly: dict[str, float]  # capacity type (reserved / on-demand / spot) -> USD per node-hour


def pool_prices(cloud: str, region: str, pools: list[Any]) -> list[PoolPrice]:
    """Prices of a region's pools (``GpuPoolConfig``s) from the GPU catalog."""
    from aiplat.catalog import gpu

    out = []
    for p in pools:
        itype = gpu.get_instance_type(cloud, p.instance_type)
        price = itype.price(region)
        on_demand = price.on_demand_hourly
        hourly = {"on-demand": on_demand}
        if getattr(p, "spot_max_nodes", 0):
            hourly["spot"] = on_demand
        if p.reserved_nodes:
            hourly["reserved"] = price.reserved_hourly(p.commitment) if p.commitment else on_demand
        out.append(PoolPrice(p.name, p.instance_type, itype.gpus, hourly))
    return out


# -- building blocks -------------------------------------------------------------------
def _target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t = {"datasource": DATASOURCE, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if instant:
        t["instant"] = True
    return t


def _panel(pid: int, title: str, kind: str, targets: list[dict], unit: str, x: int, y: int,
           w: int = 12, h: int = 8, description: str = "") -> dict[str, Any]:
    refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [{**t, "refId": refs[i]} for i, t in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["aiplat", *tags],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,  # provisioned from Pulumi: edits in the UI would be overwritten
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
                {
                    "name": "model", "type": "query", "label": "Model", "datasource": DATASOURCE,
                    "query": "label_values(nv_inference_request_success, model)",
                    "includeAll": True, "multi": True, "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": panels,
    }


M = 'model=~"$model"'


def _uid(kind: str, stack: str, region: str) -> str:
    # Grafana uids are at most 40 characters.
    from aiplat.cluster import short_id

    return short_id(f"aiplat-{kind}-{stack}-{region}", 40)


# -- the three dashboards --------------------------------------------------------------
def queue_fill_expr(queue_sizes: Mapping[str, int]) -> str:
    """PromQL: per model, the busiest replica's pending requests as a share of its max_queue_size."""
    return "\nor ".join(
        f"max by (model) ({METRIC_PENDING}{{model={promql_string(model)}, {M}}}) / {size}"
        for model, size in sorted(queue_sizes.items()))


def operations_dashboard(stack: str, region: str, rate_window: str = "5m",
                         queue_sizes: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Health, latency quantiles, throughput, errors and queue fill of the region's Triton endpoints.

    ``queue_sizes`` (model -> max_queue_size) turn the pending-request panel into queue fill."""
    w = rate_window
    latency = [
        _target(f'max by (model) (nv_inference_request_summary_us{{quantile="{q}", {M}}}) / 1000',
                f"{{{{model}}}} p{int(float(q) * 100)}")
        for q in SUMMARY_QUANTILES
    ]
    panels = [
        _panel(1, "Triton replicas available", "stat", [
            _target('sum by (namespace, deployment) (kube_deployment_status_replicas_available{deployment=~"triton-.*"})',
                    "{{namespace}}/{{deployment}}"),
        ], "short", 0, 0, 8, 4, "Ready Triton pods per Deployment; 0 pages (TritonDeploymentUnavailable)."),
        _panel(2, "Metrics targets up", "stat", [
            _target('sum(up{job=~".*triton.*"})', "up"),
            _target('count(up{job=~".*triton.*"})', "total"),
        ], "short", 8, 0, 8, 4),
        _panel(3, "Models loaded", "stat", [
            _target(f"count(count by (model, version) (nv_inference_request_success{{{M}}}))", "model versions"),
        ], "short", 16, 0, 8, 4),
        _panel(4, "Request latency p50 / p95 / p99 (worst replica)", "timeseries", latency, "ms", 0, 4, 24, 8,
               "Triton's request summary quantiles (summary_latencies=true); the SLA line is the p99 alert."),
        _panel(5, "Throughput (requests/s)", "timeseries", [
            _target(f"sum by (model) (rate(nv_inference_request_success{{{M}}}[{w}]))", "{{model}}"),
        ], "reqps", 0, 12),
        _panel(6, "Error ratio", "timeseries", [
            _target(f"sum by (model) (rate(nv_inference_request_failure{{{M}}}[{w}]))\n"
                    f"/ (sum by (model) (rate(nv_inference_request_success{{{M}}}[{w}])) "
                    f"+ sum by (model) (rate(nv_inference_request_failure{{{M}}}[{w}])))", "{{model}}"),
        ], "percentunit", 12, 12, description=(
            "Failures Triton counts: queue timeouts (REJECTED), CANCELED, BACKEND, OTHER. Requests a full "
            "queue refuses (503) are not among them: see the queue panel.")),
        _panel(7, "Failures by reason (requests/s)", "timeseries", [
            _target(f"sum by (model, reason) (rate(nv_inference_request_failure{{{M}}}[{w}]))",
                    "{{model}} {{reason}}"),
        ], "reqps", 0, 20, 24, 8, "REJECTED = the queue timeout expired; a full queue's refusals count nowhere."),
    ]
    if queue_sizes:
        panels.append(_panel(8, "Queue fill (busiest replica, share of max_queue_size)", "timeseries", [
            _target(queue_fill_expr(queue_sizes), "{{model}}"),
        ], "percentunit", 0, 28, 24, 8, "At 100 % Triton refuses requests with 503 and counts no failure: this "
                                         "panel, not the error ratio, shows that overload (TritonQueueFull)."))
    else:
        panels.append(_panel(8, "Pending requests (busiest replica)", "timeseries", [
            _target(f"max by (model) ({METRIC_PENDING}{{{M}}})", "{{model}}"),
        ], "short", 0, 28, 24, 8, "Requests queued or waiting for an instance."))
    return _dashboard(_uid("ops", stack, region), f"aiplat operations · {stack} · {region}", ["operations"], panels)


def engineering_dashboard(stack: str, region: str, rate_window: str = "5m") -> dict[str, Any]:
    """Per model: queue vs compute time, batch sizes, GPU utilisation and memory."""
    w = rate_window
    per_req = f"sum by (model, version) (rate(nv_inference_request_success{{{M}}}[{w}]))"
    panels = [
        _panel(1, "Queue vs compute time per request", "timeseries", [
            _target(f"sum by (model, version) (rate(nv_inference_queue_duration_us{{{M}}}[{w}]))\n/ {per_req} / 1000",
                    "{{model}} v{{version}} queue"),
            _target(f"sum by (model, version) (rate(nv_inference_compute_infer_duration_us{{{M}}}[{w}]))\n/ {per_req} / 1000",
                    "{{model}} v{{version}} compute"),
        ], "ms", 0, 0, 24, 8, "Queueing dominates: add replicas or batch slots. Compute dominates: a slower model "
                             "version or a throttled GPU."),
        _panel(2, "Inferences per execution (mean batch size)", "timeseries", [
            _target(f"sum by (model, version) (rate(nv_inference_count{{{M}}}[{w}]))\n"
                    f"/ sum by (model, version) (rate(nv_inference_exec_count{{{M}}}[{w}]))",
                    "{{model}} v{{version}}"),
        ], "short", 0, 8, 12, 8, "nv_inference_count / nv_inference_exec_count: how well the dynamic batcher fills."),
        _panel(3, "Executions/s", "timeseries", [
            _target(f"sum by (model, version) (rate(nv_inference_exec_count{{{M}}}[{w}]))", "{{model}} v{{version}}"),
        ], "ops", 12, 8, 12, 8),
        _panel(4, "Queue time p99 (worst replica)", "timeseries", [
            _target(f'max by (model) (nv_inference_queue_summary_us{{quantile="0.99", {M}}}) / 1000', "{{model}}"),
        ], "ms", 0, 16, 12, 8),
        _panel(5, "GPU utilisation", "timeseries", [
            _target("avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} gpu{{gpu}}"),
        ], "percent", 12, 16, 12, 8),
        _panel(6, "GPU framebuffer used", "timeseries", [
            _target("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "{{Hostname}} gpu{{gpu}}"),
        ], "percentunit", 0, 24, 24, 8),
    ]
    return _dashboard(_uid("eng", stack, region), f"aiplat engineering · {stack} · {region}", ["engineering"], panels)


def _nodes(pool: str, capacity: str) -> str:
    return f'(count(kube_node_labels{{{POOL}="{pool}", {CAPACITY}="{capacity}"}}) or vector(0))'


def _price(x: float) -> str:
    return f"{x:.6g}"


def cost_rate_expr(prices: list[PoolPrice], pool: str | None = None) -> str:
    """USD per hour of the GPU nodes now running (one pool, or all): nodes x list price."""
    terms = [
        f"{_nodes(p.pool, cap)} * {_price(usd)}"
        for p in prices if pool is None or p.pool == pool
        for cap, usd in sorted(p.hourly.items())
    ]
    return "\n+ ".join(terms) if terms else "vector(0)"


def node_hours_expr(pool: str, capacity: str, step: str = "5m") -> str:
    """GPU node-hours over the dashboard range, sampled every ``step``."""
    return f"sum_over_time({_nodes(pool, capacity)}[$__range:{step}]) * {_price(duration_seconds(step) / 3600)}"


def finance_dashboard(stack: str, region: str, team: str, prices: list[PoolPrice],
                      rate_window: str = "5m") -> dict[str, Any]:
    """GPU node-hours by pool x catalog price; cost per pool, model, endpoint and team."""
    w = rate_window
    total = cost_rate_expr(prices)
    hours = [
        _target(node_hours_expr(p.pool, cap), f"{p.pool} {cap}", instant=True)
        for p in prices for cap in sorted(p.hourly)
    ]
    spend = [
        _target(f"({node_hours_expr(p.pool, cap)}) * {_price(usd)}", f"{p.pool} {cap}", instant=True)
        for p in prices for cap, usd in sorted(p.hourly.items())
    ]
    rate = [_target(cost_rate_expr(prices, p.pool), p.pool) for p in prices]
    compute = f"rate(nv_inference_compute_infer_duration_us[{w}])"
    gpu_req = 'kube_pod_container_resource_requests{resource="nvidia_com_gpu"}'
    panels = [
        _panel(1, "GPU node-hours by pool (dashboard range)", "bargauge", hours or [_target("vector(0)")], "h",
               0, 0, 12, 8, "Nodes per pool and capacity type, integrated over the range."),
        _panel(2, "GPU spend by pool (USD, dashboard range)", "bargauge", spend or [_target("vector(0)")],
               "currencyUSD", 12, 0, 12, 8,
               "Node-hours x catalog list price: " + "; ".join(
                   f"{p.pool} ({p.instance_type}): " + ", ".join(f"{c} ${u:g}/h" for c, u in sorted(p.hourly.items()))
                   for p in prices) + ". Spot is priced at on-demand (upper bound)."),
        _panel(3, "GPU cost rate by pool (USD/h)", "timeseries", rate or [_target("vector(0)")], "currencyUSD",
               0, 8, 12, 8),
        _panel(4, "Cost per model (USD/h)", "timeseries", [
            _target(f"sum by (model) ({compute})\n/ scalar(sum({compute}))\n* scalar({total})", "{{model}}"),
        ], "currencyUSD", 12, 8, 12, 8, "Cluster GPU cost split by each model's share of Triton compute time."),
        _panel(5, "Cost per endpoint namespace (USD/h)", "timeseries", [
            _target(f"sum by (namespace) ({gpu_req})\n/ scalar(sum({gpu_req}))\n* scalar({total})", "{{namespace}}"),
        ], "currencyUSD", 0, 16, 12, 8, "Cluster GPU cost split by the GPUs each namespace's pods request."),
        _panel(6, f"Cost of team {team} (USD/h)", "stat", [
            _target(f'label_replace(vector(scalar({total})), "team", "{team}", "", "")', "{{team}}"),
        ], "currencyUSD", 12, 16, 12, 8, "Chargeback: every GPU node of this stack carries the team tag."),
    ]
    return _dashboard(_uid("fin", stack, region), f"aiplat finance · {stack} · {region}", ["finance"], panels)
