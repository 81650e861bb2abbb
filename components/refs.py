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


# -- model repositories ---------------------------------------------------------------------
# Where an endpoint's model versions come from: a local directory built by `aiplat models
# build` (the program publishes the served versions into the endpoint's bucket), or an existing
# object-store prefix of the stack's cloud holding the same single-version repositories,
# <prefix>/<model>/v<version>/ (nothing is published). `{region}` in such a URI is replaced by
# each serving region's name, so every region can read models kept in that region.
MODEL_STORE_SCHEMES = {"aws": "s3", "gcp": "gs"}
# S3 keeps at most 10 tags per object, and every published model file carries the stack's tags.
S3_OBJECT_MAX_TAGS = 10
REGION_PLACEHOLDER = "{region}"
_STORE_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<bucket>[^/]*)(?:/(?P<prefix>.*))?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")  # S3 and GCS share this much


def is_model_store_uri(value: str) -> bool:
    """True for ``scheme://...`` (an object-store prefix), False for a local directory."""
    return "://" in value


def model_store_problem(uri: str, cloud: str | None) -> str | None:
    """Why ``uri`` is not an object-store prefix the stack's ``cloud`` can read, or None."""
    m = _STORE_URI.match(uri)
    want = MODEL_STORE_SCHEMES.get(cloud or "")
    schemes = " or ".join(f"{s}://" for s in MODEL_STORE_SCHEMES.values())
    if m is None or m["scheme"] not in MODEL_STORE_SCHEMES.values():
        return f"{uri!r} is neither a local directory nor an {schemes} prefix"
    if want and m["scheme"] != want:
        return f"{uri!r}: on {cloud.upper()} the models come from {want}:// prefixes, not {m['scheme']}://"
    if not _BUCKET.match(m["bucket"].replace(REGION_PLACEHOLDER, "us-east-1")):
        return f"{uri!r}: {m['bucket']!r} is not a bucket name"
    prefix = (m["prefix"] or "").strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        return f"{uri!r}: the prefix has an empty, '.' or '..' segment"
    return None


def model_store_prefix(uri: str, region: str) -> str:
    """The prefix a region reads: ``{region}`` replaced, no trailing ``/``."""
    return uri.replace(REGION_PLACEHOLDER, region).rstrip("/")


def split_store_uri(uri: str) -> tuple[str, str, str]:
    """``s3://bucket/some/prefix/`` -> ("s3", "bucket", "some/prefix")."""
    m = _STORE_URI.match(uri)
    if m is None:
        raise ValueError(f"not an object-store URI: {uri!r}")
    return m["scheme"], m["bucket"], (m["prefix"] or "").strip("/")


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
