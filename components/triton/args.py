"""The contract of a TritonEndpoint: its typed args, their validation, and config -> args.

``TritonModel`` and ``TritonEndpointArgs`` state what an endpoint serves and where (plain
values, so the component also runs on clusters aiplat did not build); ``validate_args``
returns every problem with the arg name as key path before the first child exists;
``args_from_config`` derives the args of one ``serving.endpoints[]`` entry in one region
from the platform config, the cluster and the region's ``GpuPool`` (or, without one, the
pool's config and the GPU catalog). Pure: no resource is created here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi

from aiplat.errors import Problem
from aiplat.refs import (
    DIGEST_RE,
    PROMETHEUS_URL,
    S3_OBJECT_MAX_TAGS,
    TRITON_IMAGE,
    is_model_store_uri,
    model_store_problem,
)
from aiplat.triton._source import Served, VersionArtifact, source_problems

if TYPE_CHECKING:
    from aiplat.addons import Installers

DEFAULT_IMAGE = TRITON_IMAGE
DEFAULT_PROMETHEUS_URL = PROMETHEUS_URL


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
    # -- where the models come from (aiplat.triton._source)
    model_repository: str | None = None
    """A local directory built by ``aiplat models build`` (relative to the program's working
    directory): the served versions are published into the bucket and each Deployment waits
    for its versions' objects. Or an existing ``s3://`` / ``gs://`` prefix holding
    ``<model>/v<version>/`` repositories (``{region}`` replaced by ``region``): nothing is
    published, Triton reads it directly, and ``accept_unverified_digests`` must be set.
    Required: without it Triton would start on an empty bucket."""
    accept_unverified_digests: bool = False
    """Deploy the digests of an object-store ``model_repository`` unchecked. Default false."""
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
    access_logs_bucket: pulumi.Input[str] | None = None
    """The region's log bucket (``aiplat.access_logs``): the model bucket's server access logs go there. Default none: no access logs (the
    access-logs policy refuses that)."""
    access_logs_ready: list[pulumi.Resource] = field(default_factory=list)
    """What logging into it waits for (the log bucket's policy and settings)."""
    installers: Installers | None = None
    """The cluster's add-ons (``ClusterAddons.installers``): the ScaledObjects wait for KEDA, the
    ServiceMonitor for the prometheus-operator CRDs. Default none: the cluster already has them."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource (AWS tags, GCP labels)."""

    @property
    def namespace(self) -> str:
        return endpoint_namespace(self.endpoint)

    @property
    def canary_max_replicas(self) -> int:
        return canary_max_replicas(self.max_replicas, [m.canary_weight for m in self.models if m.canary_active])

    @property
    def publishes(self) -> bool:
        """True when the models are published from a local directory (False: an existing prefix)."""
        return self.model_repository is not None and not is_model_store_uri(self.model_repository)


def served_versions(a: TritonEndpointArgs) -> list[Served]:
    """Every version the endpoint serves (stable, then active canaries), with its arg paths."""
    out = [Served(m.name, m.version, m.digest, f"models[{i}].name", f"models[{i}].version", f"models[{i}].digest")
           for i, m in enumerate(a.models)]
    out += [Served(m.name, m.canary_version, m.canary_digest or "", f"models[{i}].name",
                   f"models[{i}].canary_version", f"models[{i}].canary_digest")
            for i, m in enumerate(a.models) if m.canary_active]
    return out


def model_artifacts(a: TritonEndpointArgs) -> tuple[dict[tuple[str, int], VersionArtifact], list[Problem]]:
    """What the endpoint publishes ({(model, version): artifact}) and the problems with its source."""
    if a.model_repository is not None and is_model_store_uri(a.model_repository):
        problem = model_store_problem(a.model_repository, a.cloud)
        if problem:
            return {}, [Problem("model_repository", problem)]
    artifacts, problems = source_problems(a.model_repository, a.accept_unverified_digests, served_versions(a),
                                          "model_repository", "accept_unverified_digests")
    if artifacts and a.cloud == "aws" and len(a.tags) > S3_OBJECT_MAX_TAGS:
        problems.append(Problem("tags", f"{len(a.tags)} tags: S3 keeps at most {S3_OBJECT_MAX_TAGS} per object, and "
                                        "every published model file carries them"))
    return artifacts, problems


# -- pure helpers (unit-tested) -----------------------------------------------------
def endpoint_namespace(endpoint: str) -> str:
    """The Kubernetes namespace of an endpoint's Triton (also the ``namespace`` label of its metrics)."""
    return f"triton-{endpoint}"


def canary_max_replicas(max_replicas: int, weights: list[int]) -> int:
    """Canary replicas needed to carry the largest canary share at full scale (0 without one)."""
    active = [w for w in weights if w > 0]
    return max(1, math.ceil(max_replicas * max(active) / 100)) if active else 0


def bucket_name(prefix: str, region: str, endpoint: str) -> str:
    """Deterministic, globally meaningful bucket name within S3/GCS's 63 characters."""
    from aiplat.cluster import short_id

    return short_id(f"{prefix}-{region}-{endpoint}", 63)


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
    problems += model_artifacts(a)[1]
    return problems


# -- from the platform config -----------------------------------------------------------
def source_problems_of(config) -> list[Problem]:
    """Whether ``serving.model_repository`` holds every served version with its stated digest,
    at the stack's key paths (``serving.endpoints[i].models[j].digest``, ...). Reads the files
    relative to the working directory: call it from the program, before anything is created."""
    serving = getattr(config, "serving", None)
    if serving is None or not serving.endpoints:
        return []
    served = []
    for i, ep in enumerate(serving.endpoints):
        for j, m in enumerate(ep.models):
            at = f"serving.endpoints[{i}].models[{j}]"
            served.append(Served(m.name, m.version, m.digest, f"{at}.name", f"{at}.version", f"{at}.digest"))
            if m.canary is not None and m.canary.weight > 0:
                served.append(Served(m.name, m.canary.version, m.canary.digest, f"{at}.name",
                                     f"{at}.canary.version", f"{at}.canary.digest"))
    return source_problems(serving.model_repository, serving.accept_unverified_digests, served,
                           "serving.model_repository", "serving.accept_unverified_digests")[1]


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_resources(vcpus: int, memory_gib: float, gpus_per_node: int, gpus_per_replica: int) -> tuple[str, str]:
    """CPU and memory requests for a pod holding ``gpus_per_replica`` of a node's GPUs.

    75% of the node's per-GPU share: the rest is kubelet/system reservation and the
    DaemonSets every GPU node runs (device plugin, DCGM exporter, CNI, log agent)."""
    share = gpus_per_replica / gpus_per_node
    cpu = max(1, math.floor(vcpus * share * 0.75))
    memory = max(2, math.floor(memory_gib * share * 0.75))
    return str(cpu), f"{memory}Gi"


def args_from_config(config, stack: str, region, endpoint, cluster, pool=None,
                     installers: Installers | None = None) -> TritonEndpointArgs:
    """TritonEndpointArgs for one ``serving.endpoints[]`` entry in one region.

    ``pool`` is the region's ``GpuPool`` (its ``pool_name``, ``node_selector``,
    ``tolerations``, ``gpus_per_node``, ``max_gpus``, ``accelerator``). Without one (a
    platform whose GPU pools are managed elsewhere) the same values are derived from the
    pool's config and the GPU catalog: label ``aiplat.io/pool=<name>`` and the
    ``nvidia.com/gpu`` NoSchedule taint, the convention GPU node groups use. ``installers``
    are the cluster's add-ons (what the custom resources wait for).
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
        model_repository=serving.model_repository,
        accept_unverified_digests=serving.accept_unverified_digests,
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
        installers=installers,
        tags=config.standard_tags(stack),
    )
