"""Values and rules several layers must agree on, each stated once.

The stack contract (``aiplat.config``) validates against them and takes its defaults
from them; the components use the same values as their own defaults and in their own
argument checks; the policy pack judges with them. Nothing here needs the config models
or a cloud SDK, so a component imports this module, never ``aiplat.config``.
"""

from __future__ import annotations

import re

# -- Triton ------------------------------------------------------------------------------
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"
# Server flags the p99/p95 alerts (aiplat.monitoring.rules) and the latency panels need:
# Triton exports latency quantiles only with summaries on, which they are not by default.
# The Triton Deployment passes them (aiplat.triton.triton_args); everything else reads them here.
TRITON_METRICS_ARGS = ("--metrics-config=summary_latencies=true",)
# A model's bounded queue (config.pbtxt dynamic_batching.default_queue_policy.max_queue_size)
# unless its spec says otherwise: the model spec's default (aiplat.serving.modelspec) and the
# size the queue-full alert assumes for a served model that states none.
TRITON_MAX_QUEUE_SIZE = 64
# Content digest of a model version directory (``aiplat models digest``) or of an image.
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
DIGEST_RE = re.compile(rf"^{DIGEST_PATTERN}$")
# Pinned NGC release tag (yy.mm), optionally also pinned by digest; never `latest`.
TRITON_IMAGE_RE = re.compile(rf"^nvcr\.io/nvidia/tritonserver:\d{{2}}\.\d{{2}}-py3(@{DIGEST_PATTERN})?$")

# Triton's per-model metrics as Prometheus stores them: the alert rules, the KEDA trigger and
# the canary analysis take the names from here. Checked in triton-inference-server/core r25.01
# (the NGC 25.01 image we pin: src/metrics.cc, src/metric_model_reporter.cc) and on the 2.51
# server of the nvidia-pytriton wheel. Every series carries `model` and `version`; failures
# also carry `reason`.
METRIC_SUCCESS = "nv_inference_request_success"
METRIC_FAILURE = "nv_inference_request_failure"
METRIC_REQUEST_US = "nv_inference_request_duration_us"  # successful requests only
METRIC_QUEUE_US = "nv_inference_queue_duration_us"
METRIC_REQUEST_SUMMARY_US = "nv_inference_request_summary_us"  # only with TRITON_METRICS_ARGS
# Gauge: requests of a model version accepted but not yet executing (its queue, plus batches
# waiting for an instance). At the model's max_queue_size the next request is refused.
METRIC_PENDING = "nv_inference_pending_request_count"
MODEL_LABEL, VERSION_LABEL, REASON_LABEL = "model", "version", "reason"
# `reason` values. REJECTED counts only requests whose queue timeout expired
# (queue_policy.default_timeout_microseconds with timeout_action REJECT; scheduler_utils.cc
# ApplyPolicy). A request refused because the bounded queue is full ("Exceeds maximum queue
# size", HTTP 503) fails at enqueue (InferenceRequest::Run -> FAILED_ENQUEUE) and moves no
# counter at all: overload shows only in METRIC_PENDING reaching the queue size.
FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")


def prometheus_label(k8s_label: str) -> str:
    """The Prometheus label name of a Kubernetes label ('aiplat.io/track' -> 'aiplat_io_track')."""
    return re.sub(r"[^A-Za-z0-9_]", "_", k8s_label)


# -- monitoring --------------------------------------------------------------------------
MONITORING_NAMESPACE = "monitoring"  # where kube-prometheus-stack runs (aiplat.monitoring)
# prometheus-operator's governing Service for the Prometheus pods of a namespace: KEDA's
# query target for the Triton queue-time scalers.
PROMETHEUS_URL = f"http://prometheus-operated.{MONITORING_NAMESPACE}.svc:9090"

# -- GPU pools ---------------------------------------------------------------------------
# Node labels every GPU pool carries: workloads select the pool by it, the alert rules
# and the finance dashboard count nodes by them (kube-state-metrics allow-lists both).
POOL_NODE_LABEL = "aiplat.io/pool"
CAPACITY_NODE_LABEL = "aiplat.io/capacity-type"
GPU_ADDONS_NAMESPACE = "kube-system"  # device plugin, DCGM exporter, cluster-autoscaler


def reserved_problem(reserved_nodes: int, max_nodes: int) -> str | None:
    """Why a pool's reservation does not fit its cap, or None: ``max_nodes`` caps reserved + on-demand."""
    if reserved_nodes > max_nodes:
        return (f"reserved_nodes {reserved_nodes} exceeds max_nodes {max_nodes}; max_nodes caps reserved + "
                "on-demand, raise it or reserve less")
    return None
