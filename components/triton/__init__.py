"""TritonEndpoint: NVIDIA Triton serving a fixed set of model versions in one region.

One ``TritonEndpoint`` per endpoint per region (type ``aiplat:triton:TritonEndpoint``).
It owns, in that region:

- **a model bucket**, protected from deletion: AWS S3 (versioning, SSE-KMS with its own
  rotating KMS key, all four public-access-block flags, bucket-owner-enforced ownership,
  TLS-only bucket policy); GCP GCS (uniform bucket-level access, versioning, CMEK with its
  own Cloud KMS key, public access prevention enforced, located in the region).
- **a workload identity, read-only on that bucket, no static keys**: AWS IRSA (an IAM role
  trusted by the cluster's OIDC provider for ``system:serviceaccount:<ns>:triton`` only,
  with s3:GetObject/ListBucket on the bucket and kms:Decrypt on its key; Kubernetes
  ServiceAccount annotated ``eks.amazonaws.com/role-arn``); GCP Workload Identity (a
  Google service account with ``roles/storage.objectViewer`` on the bucket, bound with
  ``roles/iam.workloadIdentityUser`` to the Kubernetes ServiceAccount, annotated
  ``iam.gke.io/gcp-service-account``).
- **in the cluster**: a Namespace (Pod Security "restricted"), the ServiceAccount, a
  ConfigMap ``<endpoint>-models``, one Deployment per track (``triton-stable`` and, while a
  canary has weight > 0, ``triton-canary``), a Service per track (``triton``,
  ``triton-canary``: http 8000, grpc 8001, metrics 8002), a PodDisruptionBudget and a KEDA
  ScaledObject per track, and one ServiceMonitor.

How exactly the configured versions load (Triton explicit mode)
----------------------------------------------------------------
Triton loads, for a model named by ``--load-model``, the versions its ``config.pbtxt``
``version_policy`` selects among the version directories present. A single repository
holding versions 3 and 4 would make *both* tracks load both (and answer unversioned
requests with the highest). So every model version gets its own immutable repository
prefix in the bucket::

    <scheme>://<bucket>/<model>/v<version>/            <- one Triton model repository
        <model>/config.pbtxt                           version_policy: specific { versions: [<version>] }
        <model>/<version>/...                          the artifact (its digest is the approved one)

Each Deployment passes one ``--model-repository=<that prefix>`` per model it serves
(Triton accepts the flag repeatedly; model names are unique across them) plus
``--model-control-mode=explicit --load-model=<model>``: the only version present is the
pinned one, and the ``specific`` policy makes Triton refuse to serve anything else even if
a stray directory appeared. The stable Deployment serves every model at its stable
version; the canary Deployment serves only the models that have a canary, at the canary
version. The prefixes are *derived* here, never written in config, because the bucket
differs per region: config names model, version and digest; the component derives the URI.

The models arrive with the deploy
---------------------------------
``model_repository`` names where the versions come from (``_source``). From a local
directory built by ``aiplat models build``, the component publishes exactly the served
versions (stable, and canaries with weight > 0) into the bucket as Pulumi resources, one
object per file under the prefix above (``config.pbtxt`` is the version's pinned config
``configs/v<version>.pbtxt``), each with its SHA-256 and model version in metadata and the
bucket's KMS key; each version's digest is computed from the files at preview and must
equal the configured one (else a problem naming both, before anything is created); each
Deployment ``depends_on`` the objects of the versions it loads, so Triton never starts on
an empty prefix (it would crash-loop: ``--exit-on-error``). A changed file is a changed
asset hash, so a diff in ``pulumi preview``. From an existing ``s3://``/``gs://`` prefix
nothing is published: the Deployments read ``<prefix>/<model>/v<version>`` and the workload
identity may read that prefix; the digests deploy unverified (``accept_unverified_digests``).

Canary and rollback
-------------------
A model's ``canary: {version, digest, weight}`` sends ``weight`` percent of that model's
requests to the canary track. The weights are stated in the resource inputs for the
gateway: each track's Deployment and Service carry the label ``aiplat.io/track`` and the
annotation ``aiplat.io/traffic-weight`` = JSON ``{"<model>": <percent>}`` (stable: 100 -
weight per canaried model, 100 otherwise). Inside the cluster the per-track Services
stay separate (a request for a model the canary does not load must never reach it).
Rollback is a config change: set ``weight: 0`` (the canary Deployment, Service,
ScaledObject and PDB are removed; the canary stays documented in config) or delete the
``canary`` block. Promotion: move the canary's version/digest into ``version``/``digest``.

Models visible to policies (the model-approval contract)
--------------------------------------------------------
The list of served model versions is built from config and the published files (known
at preview) as a JSON array of ``{"name", "version" (string), "digest", "track":
"stable"|"canary", "weight" (int percent), "repository" (the URI above)}``
plus, for published versions, ``"config"``: the ``sha256:`` of the ``config.pbtxt``
published with it (not part of the approved digest: serving parameters), so this list and
the pod template that carries it change when the config does. The list is emitted

- in the ConfigMap ``<endpoint>-models``, ``data["models.json"]`` and, identically,
  ``data["aiplat-models.json"]`` (the key policies/model_approval.py reads), listing every
  track;
- in each Deployment's ``metadata.annotations["aiplat.io/models"]`` and its pod template's,
  listing the entries that Deployment loads.

Autoscaling
-----------
KEDA scales each track on Triton's queue time per request, from Prometheus::

    sum(rate(nv_inference_queue_duration_us{<track pods>}[1m]))
      / clamp_min(sum(rate(nv_inference_request_success{<track pods>}[1m])), 0.001) / 1000

in milliseconds against ``queue_time_target_ms`` as a ``Value`` metric (an average per
request is not divided by the replica count). Stable runs ``min_replicas..max_replicas``;
the canary ``1..ceil(max_replicas * max canary weight / 100)``. Config validation keeps
``(stable max + canary max) * gpus_per_replica`` within the pool's GPUs.

Security context: non-root (uid 1000, the ``triton-server`` user of the NGC image), no
privilege escalation, all capabilities dropped, RuntimeDefault seccomp. The root file
system stays writable: Triton's cloud repository agent downloads models into a temp dir
and backends (Python stubs, TensorRT/ONNX caches) write under the image's paths; ``/tmp``
and ``/dev/shm`` are emptyDirs (the default 64 MiB shm is too small for the Python
backend's tensors).

Where the code is
-----------------
``TritonEndpoint`` below only validates its args, declares its outputs and calls the free
functions of its modules: ``args`` (the typed args, their validation, config -> args),
``_source`` (where the models come from, what is published of them), ``_models``
(repository URIs, the policy-visible model entries), ``_aws`` / ``_gcp`` (the model bucket,
its key, the workload identity and the published objects per cloud) and ``_k8s``
(everything in the cluster). Every name other code imports is re-exported here; import from
``aiplat.triton``, not from the modules behind it.
"""

from __future__ import annotations

import pulumi

from aiplat._base import AiplatComponent
from aiplat.errors import ConfigError
from aiplat.triton import _aws, _gcp, _tls
from aiplat.triton._k8s import (
    CONFIGMAP_KEYS,
    GRPC_PORT,
    HTTP_PORT,
    METRICS_PORT,
    MODELS_ANNOTATION,
    SERVICE_ACCOUNT,
    TRACK_LABEL,
    TRACKS,
    TRITON_UID,
    WEIGHT_ANNOTATION,
    Track,
    queue_time_query,
    triton_args,
    workload,
)
from aiplat.triton._models import ModelStore, model_entries, repository_uri, traffic_weights
from aiplat.triton._source import (
    META_DIGEST,
    META_MODEL,
    META_SHA256,
    META_VERSION,
    PublishedFile,
    VersionArtifact,
    load_version,
)
from aiplat.triton.args import (
    DEFAULT_IMAGE,
    DEFAULT_PROMETHEUS_URL,
    GPU_TOLERATION,
    TritonEndpointArgs,
    TritonModel,
    args_from_config,
    bucket_name,
    canary_max_replicas,
    endpoint_namespace,
    model_artifacts,
    pod_resources,
    source_problems_of,
    validate_args,
)
from aiplat.refs import model_store_prefix

__all__ = [
    "TritonEndpoint",
    "TritonEndpointArgs",
    "TritonModel",
    "ModelStore",
    "args_from_config",
    "validate_args",
    "model_artifacts",
    "source_problems_of",
    "load_version",
    "VersionArtifact",
    "PublishedFile",
    "META_SHA256",
    "META_MODEL",
    "META_VERSION",
    "META_DIGEST",
    "bucket_name",
    "canary_max_replicas",
    "endpoint_namespace",
    "pod_resources",
    "repository_uri",
    "model_entries",
    "traffic_weights",
    "triton_args",
    "queue_time_query",
    "DEFAULT_IMAGE",
    "DEFAULT_PROMETHEUS_URL",
    "GPU_TOLERATION",
    "HTTP_PORT",
    "GRPC_PORT",
    "METRICS_PORT",
    "TRITON_UID",
    "MODELS_ANNOTATION",
    "WEIGHT_ANNOTATION",
    "TRACK_LABEL",
    "CONFIGMAP_KEYS",
    "TRACKS",
    "Track",
    "SERVICE_ACCOUNT",
]


class TritonEndpoint(AiplatComponent):
    """Triton serving pinned model versions from a per-region bucket (module docstring).

    Outputs (same shape on AWS and GCP):
      ``namespace`` (str), ``service_name`` (str, the stable/default Service),
      ``canary_service_name`` (str | None), ``track_services`` ({track: Service name}),
      ``deployments`` ({track: Deployment name}), ``http_port`` 8000, ``https_port`` (8443 on
      AWS: the TLS sidecar the ALB reaches; None on GCP), ``grpc_port`` 8001,
      ``metrics_port`` 8002, ``bucket`` (Output[str] name), ``bucket_uri`` (str),
      ``service_account`` (str, the Kubernetes ServiceAccount), ``cloud_identity``
      (Output[str]: IAM role ARN or GSA email), ``models`` (the entries list),
      ``traffic_weights`` ({track: {model: percent}}), ``published`` ({"<model>/v<version>":
      [object key, ...]}, empty when the models come from an existing prefix).
    """

    def __init__(self, name: str, args: TritonEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_args(args)
        if problems:
            raise ConfigError(problems, f"TritonEndpoint {name}")
        super().__init__("aiplat:triton:TritonEndpoint", name, None, opts)
        self._name, self._in = name, args
        a = args
        self.namespace = a.namespace
        self.service_account = SERVICE_ACCOUNT
        self.http_port, self.grpc_port, self.metrics_port = HTTP_PORT, GRPC_PORT, METRICS_PORT
        # AWS: the TLS sidecar's port, the one the gateway's target groups use (aiplat.triton._tls).
        self.https_port = _tls.HTTPS_PORT if a.cloud == "aws" else None
        self.bucket_uri = f"{'s3' if a.cloud == 'aws' else 'gs'}://{a.bucket_name}"
        artifacts, _ = model_artifacts(a)  # validated above; scans are cached
        store_prefix = None if a.publishes else model_store_prefix(a.model_repository, a.region)
        self.models = model_entries(a.cloud, a.bucket_name, a.models, store_prefix=store_prefix,
                                    configs={k: v.config_digest for k, v in artifacts.items()})
        self.traffic_weights: dict[str, dict[str, int]] = traffic_weights(self.models)

        # Cloud children first (bucket, key, identity, the models in the bucket), then the
        # cluster's, which wait for them.
        cloud = _aws if a.cloud == "aws" else _gcp
        store = cloud.model_store(self, a, self.service_account)
        self.bucket, self.kms_key, self.cloud_identity = store.bucket, store.kms_key, store.identity
        objects = {k: [cloud.model_object(self, a, store, f"{self._name}-{f.key}", f.key,
                                          source=pulumi.FileAsset(f.source), metadata=art.metadata(f),
                                          opts=self._opts(depends_on=store.settings)) for f in art.files]
                   for k, art in sorted(artifacts.items())}
        self.published = {art.prefix: [f.key for f in art.files] for _, art in sorted(artifacts.items())}
        self.deployments, self.track_services = workload(self, a, self.models, store.ready, store.identity, objects)
        self.service_name = self.track_services["stable"]
        self.canary_service_name = self.track_services.get("canary")
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "canary_service_name": self.canary_service_name,
                "deployments": self.deployments,
                "http_port": self.http_port,
                "https_port": self.https_port,
                "grpc_port": self.grpc_port,
                "metrics_port": self.metrics_port,
                "bucket": self.bucket,
                "bucket_uri": self.bucket_uri,
                "service_account": self.service_account,
                "cloud_identity": self.cloud_identity,
            }
        )
