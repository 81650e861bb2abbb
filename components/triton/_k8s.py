"""The in-cluster half of a TritonEndpoint: what runs Triton and scales it.

``workload`` creates, in this order, the endpoint's Namespace (Pod Security "restricted"),
its ServiceAccount (annotated with the cloud identity), the ``<endpoint>-models`` ConfigMap,
then per track that has entries a Deployment, a Service, a PodDisruptionBudget and a KEDA
ScaledObject, and last one ServiceMonitor; each custom resource also waits for the release
installing its CRD (``args.installers``: KEDA, the prometheus-operator CRDs). The tritonserver
flags (``triton_args``) load exactly the pinned versions and turn on the latency summaries the
SLA alerts read (``aiplat.refs.TRITON_METRICS_ARGS``); the KEDA trigger (``queue_time_query``) scales on Triton's
queue time per request. Everything derives from the args and the model entries; the cloud
modules only hand over the bucket's readiness and the identity to annotate.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.refs import METRIC_QUEUE_US, METRIC_SUCCESS, TRITON_METRICS_ARGS, prometheus_label
from aiplat.triton import _tls
from aiplat.triton.args import TritonEndpointArgs

HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
TRITON_UID = 1000  # the `triton-server` user in the NGC tritonserver images
MODELS_ANNOTATION = "aiplat.io/models"
WEIGHT_ANNOTATION = "aiplat.io/traffic-weight"
TRACK_LABEL = "aiplat.io/track"
# model-approval (policies/model_approval.py) reads this ConfigMap key; `models.json` is
# the name the serving contract documents. Both hold the same JSON.
CONFIGMAP_KEYS = ("models.json", "aiplat-models.json")
TRACKS = ("stable", "canary")
Track = Literal["stable", "canary"]
SERVICE_ACCOUNT = "triton"  # the Kubernetes ServiceAccount the cloud identity trusts
SCALER_API, MONITOR_API = "keda.sh/v1alpha1", "monitoring.coreos.com/v1"


def triton_args(entries: list[dict[str, Any]]) -> list[str]:
    """tritonserver flags for the entries one Deployment serves."""
    args = [f"--model-repository={e['repository']}" for e in entries]
    args += [
        "--model-control-mode=explicit",
        *(f"--load-model={e['name']}" for e in entries),
        # Ready only when every loaded model is ready, so traffic never reaches a pod
        # that is still downloading or failed to load a model.
        "--strict-readiness=true",
        # A model that fails to load stops the server: the pod crash-loops visibly
        # instead of serving a partial model set.
        "--exit-on-error=true",
        # The repository's config.pbtxt must be complete (it carries the version policy).
        "--disable-auto-complete-config",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=true",
        # Latency quantiles: the p99/p95 SLA alerts and the latency panels read them.
        *TRITON_METRICS_ARGS,
    ]
    return args


def queue_time_query(namespace: str, track: str, models: list[str]) -> str:
    """PromQL: mean queue time per successful request of one track, in milliseconds."""
    sel = f'namespace="{namespace}",{prometheus_label(TRACK_LABEL)}="{track}",model=~"{"|".join(sorted(models))}"'
    return (
        f"sum(rate({METRIC_QUEUE_US}{{{sel}}}[1m])) / "
        f"clamp_min(sum(rate({METRIC_SUCCESS}{{{sel}}}[1m])), 0.001) / 1000"
    )


def child_labels(a: TritonEndpointArgs, track: str | None = None) -> dict[str, str]:
    """Labels of every in-cluster child; ``track`` adds the track label."""
    out = {
        "app.kubernetes.io/name": "triton",
        "app.kubernetes.io/instance": a.endpoint,
        "app.kubernetes.io/managed-by": "aiplat",
        "aiplat.io/pool": a.pool_name,
    }
    if track:
        out[TRACK_LABEL] = track
    return out


def workload(
    comp: AiplatComponent,
    a: TritonEndpointArgs,
    entries: list[dict[str, Any]],
    bucket_deps: list[pulumi.Resource],
    identity: pulumi.Output[str],
    objects: dict[tuple[str, int], list[pulumi.Resource]],
) -> tuple[dict[str, str], dict[str, str]]:
    """The endpoint's children in the cluster, owned by ``comp``; returns the Deployment and
    the Service name per track (``{track: name}``, each). ``objects`` are the published
    objects per (model, version): a track's Deployment waits for those of its versions."""
    n, ns = comp._name, a.namespace
    namespace = k8s.core.v1.Namespace(
        f"{n}-ns",
        metadata={
            "name": ns,
            "labels": {
                **child_labels(a),
                # Our pods meet "restricted"; enforcing it keeps anything else out.
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
        opts=comp._k8s(),
    )
    sa_annotation = (
        {"eks.amazonaws.com/role-arn": identity} if a.cloud == "aws" else {"iam.gke.io/gcp-service-account": identity}
    )
    sa = k8s.core.v1.ServiceAccount(
        f"{n}-sa",
        metadata={"name": SERVICE_ACCOUNT, "namespace": ns, "labels": child_labels(a),
                  "annotations": sa_annotation},
        # Triton never calls the Kubernetes API; the cloud token is projected by IRSA / GKE.
        automount_service_account_token=False,
        opts=comp._k8s(depends_on=[namespace]),
    )
    models_json = json.dumps(entries, sort_keys=True)
    k8s.core.v1.ConfigMap(
        f"{n}-models",
        metadata={"name": f"{a.endpoint}-models", "namespace": ns, "labels": child_labels(a)},
        data={key: models_json for key in CONFIGMAP_KEYS},
        opts=comp._k8s(depends_on=[namespace]),
    )
    # AWS: the ALB reaches the pods over HTTPS, terminated by a sidecar (aiplat.triton._tls).
    proxy = _tls.proxy_config(comp, a, namespace, HTTP_PORT) if a.cloud == "aws" else None
    deployments: dict[str, str] = {}
    track_services: dict[str, str] = {}
    for track in TRACKS:
        served = [e for e in entries if e["track"] == track]
        if not served:
            continue
        loads = [o for e in served for o in objects.get((e["name"], int(e["version"])), [])]
        deployments[track], track_services[track] = _track(comp, a, track, served, namespace, sa,
                                                           [*bucket_deps, *loads, *(proxy[2] if proxy else [])],
                                                           proxy[:2] if proxy else None)
    k8s.apiextensions.CustomResource(
        f"{n}-monitor",
        api_version=MONITOR_API,
        kind="ServiceMonitor",
        metadata={"name": "triton", "namespace": ns, "labels": child_labels(a)},
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/name": "triton",
                                         "app.kubernetes.io/instance": a.endpoint}},
            "namespaceSelector": {"matchNames": [ns]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
            # The track label on every series: KEDA's queries and dashboards split by it
            # (Prometheus sees it as aiplat_io_track).
            "podTargetLabels": [TRACK_LABEL],
        },
        opts=comp._k8s(depends_on=[namespace, *_installer(a, MONITOR_API)]),
    )
    return deployments, track_services


def _track(
    comp: AiplatComponent,
    a: TritonEndpointArgs,
    track: str,
    entries: list[dict[str, Any]],
    namespace: k8s.core.v1.Namespace,
    sa: k8s.core.v1.ServiceAccount,
    waits_for: list[pulumi.Resource],
    proxy: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """One track's Deployment, Service, PDB and ScaledObject; returns the Deployment and Service names.
    The Deployment waits for ``waits_for``: the bucket, its grants and the objects it loads.
    ``proxy`` (the certificate Secret and nginx ConfigMap names) adds the TLS sidecar and the
    Service's ``https`` port."""
    n, ns = comp._name, a.namespace
    deploy_name = f"triton-{track}"
    service_name = "triton" if track == "stable" else f"triton-{track}"
    labels = child_labels(a, track)
    weights = json.dumps({e["name"]: e["weight"] for e in entries}, sort_keys=True)
    served = json.dumps(entries, sort_keys=True)
    annotations = {MODELS_ANNOTATION: served, WEIGHT_ANNOTATION: weights}
    probe = lambda path, **kw: {"httpGet": {"path": path, "port": "http"}, **kw}  # noqa: E731
    gpus = str(a.gpus_per_replica)
    container = {
        "name": "triton",
        "image": a.image,
        "command": ["tritonserver"],
        "args": triton_args(entries),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "env": [
            # Triton's S3 client takes the region from the SDK's environment; IRSA's
            # webhook adds AWS_ROLE_ARN and the web identity token file.
            {"name": "AWS_DEFAULT_REGION", "value": a.region},
            {"name": "AWS_REGION", "value": a.region},
        ]
        if a.cloud == "aws"
        else [],
        "resources": {
            "requests": {"cpu": a.cpu, "memory": a.memory, "nvidia.com/gpu": gpus},
            # Memory limit = request (no OOM surprises from neighbours); no CPU limit,
            # which would only throttle pre/post-processing on an otherwise idle node.
            "limits": {"memory": a.memory, "nvidia.com/gpu": gpus},
        },
        # Downloading and loading models from the bucket can take minutes: the
        # startup probe allows 15 minutes before liveness takes over.
        "startupProbe": probe("/v2/health/ready", periodSeconds=10, failureThreshold=90, timeoutSeconds=5),
        "readinessProbe": probe("/v2/health/ready", periodSeconds=5, failureThreshold=3, timeoutSeconds=5),
        "livenessProbe": probe("/v2/health/live", periodSeconds=10, failureThreshold=6, timeoutSeconds=5),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRITON_UID,
            "runAsGroup": TRITON_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,  # see the aiplat.triton docstring
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
    }
    selector = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": a.endpoint, TRACK_LABEL: track}
    spread = lambda key: {  # noqa: E731
        "maxSkew": 1,
        "topologyKey": key,
        # GPUs are not always available in every zone: prefer spreading, never block a
        # scale-up on it.
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": selector},
    }
    deployment = k8s.apps.v1.Deployment(
        f"{n}-{track}",
        metadata={
            "name": deploy_name,
            "namespace": ns,
            "labels": labels,
            "annotations": {
                **annotations,
                # GPU nodes may have to be created and a ~15 GB image pulled first.
                "pulumi.com/timeoutSeconds": "1800",
            },
        },
        spec={
            # No `replicas`: KEDA's HPA owns the count; Pulumi (server-side apply)
            # must not reset it on every update.
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # Triton never calls the Kubernetes API (the ServiceAccount says so too); IRSA's
                    # webhook projects its own token volume, GKE's identity comes from the metadata server.
                    "automountServiceAccountToken": False,
                    "nodeSelector": dict(a.node_selector),
                    "tolerations": [dict(t) for t in a.tolerations],
                    "topologySpreadConstraints": [
                        spread("topology.kubernetes.io/zone"),
                        spread("kubernetes.io/hostname"),
                    ],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "fsGroup": TRITON_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 60,  # let in-flight inferences finish
                    "containers": [container, *([_tls.sidecar()] if proxy else [])],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
                        *(_tls.volumes(*proxy) if proxy else []),
                    ],
                },
            },
        },
        opts=comp._k8s(depends_on=[namespace, sa, *waits_for]),
    )
    k8s.core.v1.Service(
        f"{n}-{track}-svc",
        metadata={"name": service_name, "namespace": ns, "labels": labels,
                  "annotations": {WEIGHT_ANNOTATION: weights}},
        spec={
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP",
                 "appProtocol": "kubernetes.io/h2c"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
                *([{"name": "https", "port": _tls.HTTPS_PORT, "targetPort": "https", "protocol": "TCP"}]
                  if proxy else []),
            ],
        },
        opts=comp._k8s(depends_on=[namespace]),
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{n}-{track}-pdb",
        metadata={"name": deploy_name, "namespace": ns, "labels": labels},
        # maxUnavailable, not minAvailable: with one replica a minAvailable of 1 would
        # block every node drain forever.
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        opts=comp._k8s(depends_on=[namespace]),
    )
    lo, hi = (a.min_replicas, a.max_replicas) if track == "stable" else (1, a.canary_max_replicas)
    k8s.apiextensions.CustomResource(
        f"{n}-{track}-scaler",
        api_version=SCALER_API,
        kind="ScaledObject",
        metadata={"name": deploy_name, "namespace": ns, "labels": labels},
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deploy_name},
            "minReplicaCount": lo,
            "maxReplicaCount": hi,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        # A GPU pod is expensive to start: scale down slowly, one at a time.
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    # Mean queue time per request does not grow with replicas, so it is a
                    # Value metric, not AverageValue (which divides by the pod count).
                    "metricType": "Value",
                    "metadata": {
                        "serverAddress": a.prometheus_url,
                        "query": queue_time_query(ns, track, [e["name"] for e in entries]),
                        "threshold": _num(a.queue_time_target_ms),
                        "activationThreshold": "0",
                    },
                }
            ],
        },
        opts=comp._k8s(depends_on=[deployment, *_installer(a, SCALER_API)]),
    )
    return deploy_name, service_name


def _installer(a: TritonEndpointArgs, api_version: str) -> list[pulumi.Resource]:
    """What a custom resource of ``api_version`` waits for: the release installing its CRD."""
    return a.installers.crd(api_version) if a.installers is not None else []


def _num(x: float) -> str:
    """KEDA metadata values are strings: '50', '12.5'."""
    return str(int(x)) if float(x).is_integer() else str(x)
