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
version. Publishing a version = building a repository with that single version
(``aiplat models build``) and ``aiplat models push <repo> <uri>`` to the prefix above.
The prefixes are *derived* here, never written in config, because the bucket differs per
region: config names model, version and digest; the component derives the URI.

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
The list of served model versions is built from config only (known at preview) as a JSON
array of ``{"name", "version" (string), "digest", "track": "stable"|"canary", "weight"
(int percent), "repository" (the URI above)}`` and emitted

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
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiplat.identity import irsa_trust_policy
from aiplat._base import AiplatComponent
from aiplat.errors import ConfigError, Problem
from aiplat.refs import DIGEST_RE, PROMETHEUS_URL, TRITON_IMAGE

DEFAULT_IMAGE = TRITON_IMAGE
DEFAULT_PROMETHEUS_URL = PROMETHEUS_URL
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


@dataclass(frozen=True)
class TritonModel:
    """One model an endpoint serves: a pinned stable version and an optional canary."""

    name: str
    version: int
    digest: str
    """``sha256:<64 hex>``, the content digest of the version directory (``aiplat models digest``)."""
    canary_version: int | None = None
    """Default: no canary."""
    canary_digest: str | None = None
    canary_weight: int = 0
    """Percent of this model's requests for the canary, 0-100. Default 0 (canary not deployed)."""

    @property
    def canary_active(self) -> bool:
        return self.canary_version is not None and self.canary_weight > 0


@dataclass(frozen=True)
class TritonEndpointArgs:
    cloud: Literal["aws", "gcp"]
    region: str
    endpoint: str
    """Endpoint name (DNS label): the namespace is ``triton-<endpoint>``."""
    models: list[TritonModel]
    kube_provider: pulumi.ProviderResource
    bucket_name: str
    """Physical bucket name, deterministic (see ``bucket_name``) so model URIs are known at preview."""
    # -- the GPU pool (GpuPool's contract, as plain values: works on clusters without GpuPool)
    pool_name: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    gpus_per_node: int
    max_gpus: int
    accelerator: str = ""
    # -- sizing
    min_replicas: int = 1
    """Stable replicas at least. Default 1."""
    max_replicas: int = 2
    """Stable replicas at most. Default 2. With the canary's, times gpus_per_replica, <= max_gpus."""
    gpus_per_replica: int = 1
    """``nvidia.com/gpu`` per pod. Default 1; at most gpus_per_node."""
    cpu: str = "4"
    """CPU request per pod. Default 4 (platform derives it from the pool's instance type)."""
    memory: str = "16Gi"
    """Memory request = limit per pod. Default 16Gi (platform derives it from the instance type)."""
    queue_time_target_ms: float = 50.0
    """KEDA target for queue time per request. Default 50 ms."""
    image: str = DEFAULT_IMAGE
    """Pinned tritonserver image. Default ``nvcr.io/nvidia/tritonserver:25.01-py3``."""
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    """Prometheus KEDA queries. Default the prometheus-operator Service in ``monitoring``."""
    # -- identity: AWS IRSA or GCP Workload Identity
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme (``oidc.eks.<region>.amazonaws.com/id/<id>``)."""
    gcp_project: str | None = None
    """GCP: project of the bucket, key and service account; the workload pool is ``<project>.svc.id.goog``."""
    protect: bool = True
    """Protect bucket and key from deletion. Default true."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource (AWS tags, GCP labels)."""

    @property
    def namespace(self) -> str:
        return f"triton-{self.endpoint}"

    @property
    def canary_max_replicas(self) -> int:
        return canary_max_replicas(self.max_replicas, [m.canary_weight for m in self.models if m.canary_active])


# -- pure helpers (unit-tested) -----------------------------------------------------
def canary_max_replicas(max_replicas: int, weights: list[int]) -> int:
    """Canary replicas needed to carry the largest canary share at full scale (0 without one)."""
    active = [w for w in weights if w > 0]
    return max(1, math.ceil(max_replicas * max(active) / 100)) if active else 0


def bucket_name(prefix: str, region: str, endpoint: str) -> str:
    """Deterministic, globally meaningful bucket name within S3/GCS's 63 characters."""
    from aiplat.cluster import short_id

    return short_id(f"{prefix}-{region}-{endpoint}", 63)


def repository_uri(cloud: str, bucket: str, model: str, version: int) -> str:
    """The single-version Triton repository prefix of one model version (module docstring)."""
    return f"{'s3' if cloud == 'aws' else 'gs'}://{bucket}/{model}/v{version}"


def model_entries(cloud: str, bucket: str, models: list[TritonModel]) -> list[dict[str, Any]]:
    """The policy-visible model list: stable entries, then canary entries (weight > 0)."""
    out = []
    for m in models:
        out.append(
            {
                "name": m.name,
                "version": str(m.version),
                "digest": m.digest,
                "track": "stable",
                "weight": 100 - m.canary_weight if m.canary_active else 100,
                "repository": repository_uri(cloud, bucket, m.name, m.version),
            }
        )
    for m in models:
        if m.canary_active:
            out.append(
                {
                    "name": m.name,
                    "version": str(m.canary_version),
                    "digest": m.canary_digest,
                    "track": "canary",
                    "weight": m.canary_weight,
                    "repository": repository_uri(cloud, bucket, m.name, m.canary_version),
                }
            )
    return out


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
    ]
    return args


def queue_time_query(namespace: str, track: str, models: list[str]) -> str:
    """PromQL: mean queue time per successful request of one track, in milliseconds."""
    sel = f'namespace="{namespace}",aiplat_io_track="{track}",model=~"{"|".join(sorted(models))}"'
    return (
        f"sum(rate(nv_inference_queue_duration_us{{{sel}}}[1m])) / "
        f"clamp_min(sum(rate(nv_inference_request_success{{{sel}}}[1m])), 0.001) / 1000"
    )


def validate_args(a: TritonEndpointArgs) -> list[Problem]:
    """Every problem with the args, before the first child exists (paths are arg names)."""
    problems = []
    if not a.models:
        problems.append(Problem("models", "at least one model is required"))
    names = [m.name for m in a.models]
    digest = DIGEST_RE
    for i, m in enumerate(a.models):
        if names.count(m.name) > 1:
            problems.append(Problem(f"models[{i}].name", f"duplicate model {m.name!r}"))
        if m.version < 1:
            problems.append(Problem(f"models[{i}].version", "Triton versions are positive integers"))
        if not digest.match(m.digest or ""):
            problems.append(Problem(f"models[{i}].digest", f"{m.digest!r} is not sha256:<64 hex>"))
        if not 0 <= m.canary_weight <= 100:
            problems.append(Problem(f"models[{i}].canary_weight", "must be 0-100"))
        if m.canary_version is not None:
            if m.canary_version == m.version:
                problems.append(Problem(f"models[{i}].canary_version", "must differ from the stable version"))
            if not digest.match(m.canary_digest or ""):
                problems.append(Problem(f"models[{i}].canary_digest", f"{m.canary_digest!r} is not sha256:<64 hex>"))
    if a.min_replicas < 1:
        problems.append(Problem("min_replicas", "must be at least 1 (Triton is not scaled to zero)"))
    if a.max_replicas < a.min_replicas:
        problems.append(Problem("max_replicas", f"{a.max_replicas} is below min_replicas {a.min_replicas}"))
    if a.gpus_per_replica < 1 or a.gpus_per_replica > a.gpus_per_node:
        problems.append(
            Problem("gpus_per_replica", f"{a.gpus_per_replica} must be 1..{a.gpus_per_node} (GPUs of one node)")
        )
    need = (a.max_replicas + a.canary_max_replicas) * a.gpus_per_replica
    if need > a.max_gpus:
        problems.append(
            Problem(
                "max_replicas",
                f"({a.max_replicas} + {a.canary_max_replicas} canary) replicas x {a.gpus_per_replica} GPU = "
                f"{need} GPUs exceed pool {a.pool_name!r} ({a.max_gpus} GPUs)",
            )
        )
    if a.cloud == "aws" and (a.oidc_provider_arn is None or a.oidc_issuer is None):
        problems.append(Problem("oidc_provider_arn", "AWS endpoints need the cluster's OIDC provider and issuer (IRSA)"))
    if a.cloud == "gcp" and not a.gcp_project:
        problems.append(Problem("gcp_project", "GCP endpoints need the project (Workload Identity)"))
    return problems


class TritonEndpoint(AiplatComponent):
    """Triton serving pinned model versions from a per-region bucket (module docstring).

    Outputs (same shape on AWS and GCP):
      ``namespace`` (str), ``service_name`` (str, the stable/default Service),
      ``canary_service_name`` (str | None), ``track_services`` ({track: Service name}),
      ``deployments`` ({track: Deployment name}), ``http_port`` 8000, ``grpc_port`` 8001,
      ``metrics_port`` 8002, ``bucket`` (Output[str] name), ``bucket_uri`` (str),
      ``service_account`` (str, the Kubernetes ServiceAccount), ``cloud_identity``
      (Output[str]: IAM role ARN or GSA email), ``models`` (the entries list),
      ``traffic_weights`` ({track: {model: percent}}).
    """

    def __init__(self, name: str, args: TritonEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_args(args)
        if problems:
            raise ConfigError(problems, f"TritonEndpoint {name}")
        super().__init__("aiplat:triton:TritonEndpoint", name, None, opts)
        self._name, self._in = name, args
        a = args
        self.namespace = a.namespace
        self.service_account = "triton"
        self.http_port, self.grpc_port, self.metrics_port = HTTP_PORT, GRPC_PORT, METRICS_PORT
        self.bucket_uri = f"{'s3' if a.cloud == 'aws' else 'gs'}://{a.bucket_name}"
        self.models = model_entries(a.cloud, a.bucket_name, a.models)
        self.traffic_weights: dict[str, dict[str, int]] = {}
        for e in self.models:
            self.traffic_weights.setdefault(e["track"], {})[e["name"]] = e["weight"]

        if a.cloud == "aws":
            bucket_dep, annotation = self._aws()
        else:
            bucket_dep, annotation = self._gcp()
        self._kubernetes(bucket_dep, annotation)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "canary_service_name": self.canary_service_name,
                "deployments": self.deployments,
                "http_port": self.http_port,
                "grpc_port": self.grpc_port,
                "metrics_port": self.metrics_port,
                "bucket": self.bucket,
                "bucket_uri": self.bucket_uri,
                "service_account": self.service_account,
                "cloud_identity": self.cloud_identity,
            }
        )

    # -- AWS: S3 + KMS + IRSA -------------------------------------------------------------
    def _aws(self) -> tuple[list[pulumi.Resource], pulumi.Output[str]]:
        a, n = self._in, self._name
        key = aws.kms.Key(
            f"{n}-models",
            description=f"SSE-KMS for Triton model bucket {a.bucket_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._tags("models-key"),
            opts=self._opts(protect=a.protect),
        )
        aws.kms.Alias(f"{n}-models", name=f"alias/{a.bucket_name}", target_key_id=key.key_id, opts=self._opts())
        bucket = aws.s3.Bucket(
            f"{n}-models",
            bucket=a.bucket_name,
            force_destroy=False,
            tags=self._tags("models"),
            opts=self._opts(protect=a.protect),
        )
        versioning = aws.s3.BucketVersioning(
            f"{n}-models",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=self._opts(),
        )
        sse = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-models",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                    # S3 Bucket Keys cut KMS requests (and cost) when Triton pulls many files.
                    "bucket_key_enabled": True,
                }
            ],
            opts=self._opts(),
        )
        pab = aws.s3.BucketPublicAccessBlock(
            f"{n}-models",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._opts(),
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{n}-models",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off: access is IAM only
            opts=self._opts(),
        )
        tls_only = aws.s3.BucketPolicy(
            f"{n}-models",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            # The public access block must exist first, or this policy could briefly be
            # evaluated against a bucket without it.
            opts=self._opts(depends_on=[pab]),
        )
        subject = f"system:serviceaccount:{a.namespace}:{self.service_account}"
        trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, a.namespace, self.service_account)
        role = aws.iam.Role(
            f"{n}-triton",
            description=f"IRSA role of {subject}: read-only on {a.bucket_name}",
            assume_role_policy=trust,
            tags=self._tags("triton-role"),
            opts=self._opts(),
        )
        aws.iam.RolePolicy(
            f"{n}-triton-read",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": v[0]},
                            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{v[0]}/*"},
                            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": v[1]},
                        ],
                    }
                )
            ),
            opts=self._opts(),
        )
        self.bucket = bucket.bucket
        self.kms_key = key.arn
        self.cloud_identity = role.arn
        return [bucket, versioning, sse, pab, ownership, tls_only], role.arn

    # -- GCP: GCS + Cloud KMS + Workload Identity -----------------------------------------
    def _gcp(self) -> tuple[list[pulumi.Resource], pulumi.Output[str]]:
        from aiplat.cluster import short_id

        a, n = self._in, self._name
        labels = {k.lower(): v for k, v in a.tags.items()}
        project = gcp.organizations.get_project(project_id=a.gcp_project)
        ring = gcp.kms.KeyRing(f"{n}-models", name=f"{n}-models", location=a.region, project=a.gcp_project,
                               opts=self._opts())
        key = gcp.kms.CryptoKey(
            f"{n}-models",
            name="models",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period="7776000s",  # 90 days
            labels=labels,
            opts=self._opts(protect=a.protect),
        )
        # CMEK: Cloud Storage's service agent encrypts/decrypts; readers need no KMS grant.
        grant = gcp.kms.CryptoKeyIAMMember(
            f"{n}-models-gcs",
            crypto_key_id=key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=f"serviceAccount:service-{project.number}@gs-project-accounts.iam.gserviceaccount.com",
            opts=self._opts(),
        )
        bucket = gcp.storage.Bucket(
            f"{n}-models",
            name=a.bucket_name,
            project=a.gcp_project,
            location=a.region,  # a single region: models never leave it (GCS reports it upper-cased)
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            encryption={"default_kms_key_name": key.id},
            force_destroy=False,
            labels=labels,
            opts=self._opts(protect=a.protect, depends_on=[grant]),
        )
        gsa = gcp.serviceaccount.Account(
            f"{n}-triton",
            account_id=short_id(f"{n}-triton", 30),
            display_name=f"Triton {a.endpoint} in {a.region} (read-only models)",
            project=a.gcp_project,
            opts=self._opts(),
        )
        reader = gcp.storage.BucketIAMMember(
            f"{n}-triton-read",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=gsa.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=self._opts(),
        )
        wi = gcp.serviceaccount.IAMMember(
            f"{n}-triton-wi",
            service_account_id=gsa.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{a.gcp_project}.svc.id.goog[{a.namespace}/{self.service_account}]",
            opts=self._opts(),
        )
        self.bucket = bucket.name
        self.kms_key = key.id
        self.cloud_identity = gsa.email
        return [bucket, reader, wi], gsa.email

    # -- Kubernetes -----------------------------------------------------------------------
    def _labels(self, track: str | None = None, **extra: str) -> dict[str, str]:
        labels = {
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": self._in.endpoint,
            "app.kubernetes.io/managed-by": "aiplat",
            "aiplat.io/pool": self._in.pool_name,
        }
        if track:
            labels[TRACK_LABEL] = track
        return {**labels, **extra}

    def _kubernetes(self, bucket_deps: list[pulumi.Resource], identity: pulumi.Output[str]) -> None:
        a, n, ns = self._in, self._name, self._in.namespace
        namespace = k8s.core.v1.Namespace(
            f"{n}-ns",
            metadata={
                "name": ns,
                "labels": {
                    **self._labels(),
                    # Our pods meet "restricted"; enforcing it keeps anything else out.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
            opts=self._k8s(),
        )
        sa_annotation = (
            {"eks.amazonaws.com/role-arn": identity} if a.cloud == "aws" else {"iam.gke.io/gcp-service-account": identity}
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{n}-sa",
            metadata={"name": self.service_account, "namespace": ns, "labels": self._labels(),
                      "annotations": sa_annotation},
            # Triton never calls the Kubernetes API; the cloud token is projected by IRSA / GKE.
            automount_service_account_token=False,
            opts=self._k8s(depends_on=[namespace]),
        )
        models_json = json.dumps(self.models, sort_keys=True)
        k8s.core.v1.ConfigMap(
            f"{n}-models",
            metadata={"name": f"{a.endpoint}-models", "namespace": ns, "labels": self._labels()},
            data={key: models_json for key in CONFIGMAP_KEYS},
            opts=self._k8s(depends_on=[namespace]),
        )
        self.deployments: dict[str, str] = {}
        self.track_services: dict[str, str] = {}
        for track in TRACKS:
            entries = [e for e in self.models if e["track"] == track]
            if not entries:
                continue
            self._track(track, entries, namespace, sa, bucket_deps)
        self.service_name = self.track_services["stable"]
        self.canary_service_name = self.track_services.get("canary")
        k8s.apiextensions.CustomResource(
            f"{n}-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "triton", "namespace": ns, "labels": self._labels()},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": "triton",
                                             "app.kubernetes.io/instance": a.endpoint}},
                "namespaceSelector": {"matchNames": [ns]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
                # The track label on every series: KEDA's queries and dashboards split by it
                # (Prometheus sees it as aiplat_io_track).
                "podTargetLabels": [TRACK_LABEL],
            },
            opts=self._k8s(depends_on=[namespace]),
        )

    def _track(self, track: str, entries, namespace, sa, bucket_deps) -> None:
        a, n, ns = self._in, self._name, self._in.namespace
        deploy_name = f"triton-{track}"
        service_name = "triton" if track == "stable" else f"triton-{track}"
        labels = self._labels(track)
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
                "readOnlyRootFilesystem": False,  # see module docstring
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
                        "serviceAccountName": self.service_account,
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
                        "containers": [container],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {}},
                            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
                        ],
                    },
                },
            },
            opts=self._k8s(depends_on=[namespace, sa, *bucket_deps]),
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
                ],
            },
            opts=self._k8s(depends_on=[namespace]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{n}-{track}-pdb",
            metadata={"name": deploy_name, "namespace": ns, "labels": labels},
            # maxUnavailable, not minAvailable: with one replica a minAvailable of 1 would
            # block every node drain forever.
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            opts=self._k8s(depends_on=[namespace]),
        )
        lo, hi = (a.min_replicas, a.max_replicas) if track == "stable" else (1, a.canary_max_replicas)
        k8s.apiextensions.CustomResource(
            f"{n}-{track}-scaler",
            api_version="keda.sh/v1alpha1",
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
            opts=self._k8s(depends_on=[deployment]),
        )
        self.deployments[track] = deploy_name
        self.track_services[track] = service_name


def _num(x: float) -> str:
    """KEDA metadata values are strings: '50', '12.5'."""
    return str(int(x)) if float(x).is_integer() else str(x)


# -- from the platform config -----------------------------------------------------------
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_resources(vcpus: int, memory_gib: float, gpus_per_node: int, gpus_per_replica: int) -> tuple[str, str]:
    """CPU and memory requests for a pod holding ``gpus_per_replica`` of a node's GPUs.

    75% of the node's per-GPU share: the rest is kubelet/system reservation and the
    DaemonSets every GPU node runs (device plugin, DCGM exporter, CNI, log agent)."""
    share = gpus_per_replica / gpus_per_node
    cpu = max(1, math.floor(vcpus * share * 0.75))
    memory = max(2, math.floor(memory_gib * share * 0.75))
    return str(cpu), f"{memory}Gi"


def args_from_config(config, stack: str, region, endpoint, cluster, pool=None) -> TritonEndpointArgs:
    """TritonEndpointArgs for one ``serving.endpoints[]`` entry in one region.

    ``pool`` is the region's ``GpuPool`` (its ``pool_name``, ``node_selector``,
    ``tolerations``, ``gpus_per_node``, ``max_gpus``, ``accelerator``). Without one (a
    platform whose GPU pools are managed elsewhere) the same values are derived from the
    pool's config and the GPU catalog: label ``aiplat.io/pool=<name>`` and the
    ``nvidia.com/gpu`` NoSchedule taint, the convention GPU node groups use.
    """
    from aiplat.catalog import gpu

    pool_cfg = next(p for p in region.gpu_pools if p.name == endpoint.pool)
    itype = gpu.get_instance_type(config.cloud, pool_cfg.instance_type)
    if pool is not None:
        selector, tolerations = dict(pool.node_selector), [dict(t) for t in pool.tolerations]
        gpus_per_node, max_gpus, accelerator = pool.gpus_per_node, pool.max_gpus, pool.accelerator
    else:
        selector, tolerations = {"aiplat.io/pool": pool_cfg.name}, [dict(GPU_TOLERATION)]
        gpus_per_node, max_gpus = itype.gpus, pool_cfg.max_nodes * itype.gpus
        accelerator = itype.accelerator or itype.gpu_model
    cpu, memory = pod_resources(itype.vcpus, itype.memory_gib, itype.gpus, endpoint.gpus_per_replica)
    serving = config.serving
    models = [
        TritonModel(
            name=m.name,
            version=m.version,
            digest=m.digest,
            canary_version=m.canary.version if m.canary else None,
            canary_digest=m.canary.digest if m.canary else None,
            canary_weight=m.canary.weight if m.canary else 0,
        )
        for m in endpoint.models
    ]
    return TritonEndpointArgs(
        cloud=config.cloud,
        region=region.name,
        endpoint=endpoint.name,
        models=models,
        kube_provider=cluster.kube_provider,
        bucket_name=bucket_name(serving.bucket_prefix or f"aiplat-{stack}", region.name, endpoint.name),
        pool_name=pool_cfg.name,
        node_selector=selector,
        tolerations=tolerations,
        gpus_per_node=gpus_per_node,
        max_gpus=max_gpus,
        accelerator=accelerator,
        min_replicas=endpoint.min_replicas,
        max_replicas=endpoint.max_replicas,
        gpus_per_replica=endpoint.gpus_per_replica,
        cpu=cpu,
        memory=memory,
        queue_time_target_ms=endpoint.queue_time_target_ms,
        image=endpoint.image,
        prometheus_url=serving.prometheus_url,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        gcp_project=config.gcp_project,
        protect=True,
        tags=config.standard_tags(stack),
    )
