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


# -- Kubernetes resource quantities --------------------------------------------------------
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def quantity(value: object) -> float | None:
    """A Kubernetes resource quantity (``"500m"``, ``"16Gi"``, ``0.2``, ``"2"``) as a plain
    number (cores, bytes), or None when it is not one (resource.Quantity's suffixes:
    binary Ki..Ei, decimal n, u, m, k, M..E, and exponents)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if m is None:
        return None
    number, suffix = float(m.group(1)), m.group(2) or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def cpu_millicores(value: object) -> int | None:
    q = quantity(value)
    return None if q is None else round(q * 1000)


def memory_mib(value: object) -> int | None:
    q = quantity(value)
    return None if q is None else -(-int(q) // 2**20)  # rounded up: a request never shrinks


def format_cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def format_memory(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


# -- system nodes --------------------------------------------------------------------------
# The largest pod the platform itself puts on the system nodes (the untainted pool): the GCP
# gateway's ESP proxy (500m / 512Mi); KEDA (100m / 100Mi per pod), the AWS Load Balancer
# Controller (100m / 128Mi) and kube-prometheus-stack (no requests) are smaller. A system node
# type whose allocatable is below it is a config error (tests tie it to the graphs).
SYSTEM_POD_MAX_REQUEST = ("500m", "512Mi")


# -- Milvus nodes --------------------------------------------------------------------------
# The Milvus release runs on a node pool of its own (aiplat.vector_store): tainted so nothing
# else lands there, labelled so every Milvus pod (its components, etcd, Pulsar) selects it.
MILVUS_POOL = "milvus"  # the POOL_NODE_LABEL value of its nodes
MILVUS_TAINT_KEY = "aiplat.io/dedicated"
MILVUS_TAINT_VALUE = "milvus"
MILVUS_TOLERATION = {"key": MILVUS_TAINT_KEY, "operator": "Equal", "value": MILVUS_TAINT_VALUE, "effect": "NoSchedule"}
# The pods of the Milvus release per mode: chart values key -> (replicas, CPU, memory requests).
# Milvus chart 4.2.45 sets no requests of its own (every component's `resources: {}`); the
# sizes below are ours (aiplat.vector_store.helm_values sets them). etcd (bitnami etcd 6.3.3,
# `resources.requests: {}`) gets a request so it is not the first pod evicted under memory
# pressure. Pulsar (pulsar chart 3.3.0 as the Milvus chart's `pulsarv3` values configure it)
# keeps the Milvus chart's own requests, set explicitly so the pool is sized for what runs.
MILVUS_PODS: dict[str, dict[str, tuple[int, str, str]]] = {
    "standalone": {
        "standalone": (1, "2", "8Gi"),
        "etcd": (1, "250m", "1Gi"),
    },
    "cluster": {
        "proxy": (2, "1", "2Gi"),
        "queryNode": (3, "2", "16Gi"),
        "dataNode": (2, "1", "4Gi"),
        "indexNode": (2, "2", "8Gi"),
        "mixCoordinator": (2, "500m", "1Gi"),
        "etcd": (3, "250m", "1Gi"),
        "pulsarv3.zookeeper": (3, "200m", "256Mi"),
        "pulsarv3.bookkeeper": (3, "500m", "2048Mi"),
        "pulsarv3.autorecovery": (1, "100m", "128Mi"),
        "pulsarv3.broker": (2, "500m", "2048Mi"),
        "pulsarv3.proxy": (2, "500m", "1024Mi"),
    },
}
# The node type of the Milvus pool unless vector_store.nodes.instance_type says otherwise:
# standalone holds one 2 CPU / 8Gi pod, which no 2-vCPU node's allocatable CPU (1930m) holds;
# cluster mode's largest pod is a 16Gi queryNode and the release asks ~19 CPU / ~91Gi in all,
# which three memory-optimised 8-vCPU nodes (one per zone) hold with room for a rolling update.
MILVUS_NODE_TYPES = {
    ("standalone", "aws"): "m6i.xlarge",
    ("standalone", "gcp"): "e2-standard-4",
    ("cluster", "aws"): "r6i.2xlarge",
    ("cluster", "gcp"): "n2-highmem-8",
}


def milvus_pod_requests(mode: str) -> dict[str, tuple[int, int, int]]:
    """mode -> {component: (replicas, CPU millicores, memory MiB)} of MILVUS_PODS."""
    return {k: (n, cpu_millicores(c), memory_mib(m)) for k, (n, c, m) in MILVUS_PODS[mode].items()}


def milvus_nodes_needed(mode: str, cpu_millicores: int, memory_mib: int, pods: int) -> int:
    """How many nodes of that allocatable the mode's Milvus pods need at least (their sums)."""
    want = milvus_pod_requests(mode).values()
    cpu = sum(n * c for n, c, _ in want)
    mem = sum(n * m for n, _, m in want)
    count = sum(n for n, _, _ in want)
    return max(-(-cpu // cpu_millicores), -(-mem // memory_mib), -(-count // pods), 1)


def milvus_default_nodes(mode: str, zones: int, needed: int = 1) -> tuple[int, int]:
    """(min_nodes, max_nodes) of the Milvus pool by default: standalone one node (its one pod and
    its zonal volume live in the first zone) and one spare; cluster one node per zone, or as many
    as its pods need, up to twice that (room for a rolling update or a lost zone)."""
    low = max(1 if mode == "standalone" else zones, needed)
    return low, 2 * low
