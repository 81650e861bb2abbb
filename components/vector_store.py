"""Vector store for RAG: the typed config of a stack's Milvus and its collections.

A stack states which collections it needs (name, vector dimension, metric, index,
scalar fields) under ``vector_store`` in its platform config; ``aiplat vectors apply``
(components/vectors.py) makes a running Milvus match those specs without ever losing
data. The Milvus deployment itself (one per region, next to the documents it holds)
is the ``VectorStore`` component further down this module.

Validation follows the platform rule: every problem is reported with its key path in
one pass (``vector_store.collections[0].index.params.M: required for HNSW ...``).
Milvus's own server-side checks are not relied on: Milvus Lite accepts any index type
and any parameter value and only fails later, in a background index build.
"""

from __future__ import annotations

import re
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from aiplat.identity import irsa_trust_policy
from aiplat._base import AiplatComponent
from aiplat.errors import ConfigError, Problem

# -- Milvus limits (Milvus 2.x docs, "Milvus Limits") -----------------------------------
# Collection and field names: a letter or underscore, then letters, digits, underscores.
MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 255
MAX_DIMENSION = 32768
MAX_FIELDS = 64
MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096

Metric = Literal["COSINE", "L2", "IP"]
ScalarType = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "JSON", "ARRAY"]
ElementType = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR"]
IndexType = Literal["FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN", "AUTOINDEX"]

# Build parameters per index type: name -> (required, low, high). Ranges from the Milvus
# index reference; anything not listed is rejected so a typo ("efconstruction") cannot
# silently fall back to a server default.
INDEX_PARAMS: dict[str, dict[str, tuple[bool, int, int]]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "DISKANN": {},
    "IVF_FLAT": {"nlist": (True, 1, 65536)},
    "IVF_SQ8": {"nlist": (True, 1, 65536)},
    "IVF_PQ": {"nlist": (True, 1, 65536), "m": (True, 1, MAX_DIMENSION), "nbits": (False, 1, 64)},
    "HNSW": {"M": (True, 2, 2048), "efConstruction": (True, 1, 2**31 - 1)},
}

# Index types Milvus Lite (milvus-lite 3.2) builds. It *accepts* the others at
# create_index time, then its background build fails ("unknown index_type") and
# searches fall back to brute force, so `aiplat vectors apply` refuses them on a Lite URI.
MILVUS_LITE_INDEX_TYPES = frozenset({"FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "AUTOINDEX"})


def _err(loc: tuple, message: str, value) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)


def _raise(title: str, errors: list[InitErrorDetails]) -> None:
    # A ValidationError raised inside a validator is merged by pydantic with the outer
    # location, so each problem keeps its own key path (collections[0].index.params.M).
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def _check_name(kind: str, v: str) -> str:
    if not MILVUS_NAME.match(v):
        raise ValueError(f"{v!r} is not a valid Milvus {kind} name (a letter or '_', then letters, digits or '_')")
    if len(v) > MAX_NAME_LENGTH:
        raise ValueError(f"{kind} name is {len(v)} characters; Milvus allows at most {MAX_NAME_LENGTH}")
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScalarField(_Model):
    """A scalar (filterable) field stored next to each vector, e.g. ``tenant`` or ``source``."""

    name: str = Field(description="Field name (Milvus naming rules), unique within the collection.")
    type: ScalarType = Field(description="Milvus scalar type: BOOL, INT8..INT64, FLOAT, DOUBLE, VARCHAR, JSON or ARRAY.")
    max_length: int | None = Field(
        None,
        description=f"VARCHAR (or ARRAY of VARCHAR) only: maximum length, 1..{MAX_VARCHAR_LENGTH}. "
        "Default 256 for those types; must be unset for the others.",
    )
    element_type: ElementType | None = Field(
        None, description="ARRAY only, required there: the element type. Must be unset for other types."
    )
    max_capacity: int | None = Field(
        None, description=f"ARRAY only, required there: maximum elements, 1..{MAX_ARRAY_CAPACITY}."
    )
    nullable: bool = Field(False, description="Whether rows may omit the value. Default false.")
    description: str = Field("", description="Free text stored in the schema. Default empty.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("field", v)

    @model_validator(mode="after")
    def _type_params(self) -> "ScalarField":
        errors = []
        varchar = self.type == "VARCHAR" or (self.type == "ARRAY" and self.element_type == "VARCHAR")
        if self.max_length is not None:
            if not varchar:
                errors.append(_err(("max_length",), f"only valid for VARCHAR (or ARRAY of VARCHAR), not {self.type}", self.max_length))
            elif not 1 <= self.max_length <= MAX_VARCHAR_LENGTH:
                errors.append(_err(("max_length",), f"{self.max_length} is outside 1..{MAX_VARCHAR_LENGTH}", self.max_length))
        if self.type == "ARRAY":
            if self.element_type is None:
                errors.append(_err(("element_type",), "required for ARRAY", None))
            if self.max_capacity is None:
                errors.append(_err(("max_capacity",), "required for ARRAY", None))
            elif not 1 <= self.max_capacity <= MAX_ARRAY_CAPACITY:
                errors.append(_err(("max_capacity",), f"{self.max_capacity} is outside 1..{MAX_ARRAY_CAPACITY}", self.max_capacity))
        else:
            for key in ("element_type", "max_capacity"):
                if getattr(self, key) is not None:
                    errors.append(_err((key,), f"only valid for ARRAY, not {self.type}", getattr(self, key)))
        _raise("ScalarField", errors)
        return self

    @property
    def resolved_max_length(self) -> int | None:
        """The VARCHAR length Milvus is given: the configured one, else 256; None for other types."""
        if self.type == "VARCHAR" or (self.type == "ARRAY" and self.element_type == "VARCHAR"):
            return self.max_length or 256
        return None


class PrimaryKey(_Model):
    """The primary key field of a collection."""

    name: str = Field("id", description="Field name. Default `id`.")
    type: Literal["INT64", "VARCHAR"] = Field("INT64", description="INT64 or VARCHAR (the two Milvus allows). Default INT64.")
    max_length: int | None = Field(
        None, description=f"VARCHAR only: maximum key length, 1..{MAX_VARCHAR_LENGTH}. Default 64 for VARCHAR."
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("field", v)

    @model_validator(mode="after")
    def _length(self) -> "PrimaryKey":
        if self.max_length is not None:
            if self.type != "VARCHAR":
                _raise("PrimaryKey", [_err(("max_length",), "only valid for a VARCHAR primary key", self.max_length)])
            if not 1 <= self.max_length <= MAX_VARCHAR_LENGTH:
                _raise("PrimaryKey", [_err(("max_length",), f"{self.max_length} is outside 1..{MAX_VARCHAR_LENGTH}", self.max_length)])
        return self

    @property
    def resolved_max_length(self) -> int | None:
        return (self.max_length or 64) if self.type == "VARCHAR" else None


class IndexSpec(_Model):
    """The vector index of a collection: its type and build parameters.

    Build parameters per type (all integers): HNSW needs ``M`` (2..2048) and
    ``efConstruction``; IVF_FLAT and IVF_SQ8 need ``nlist`` (1..65536); IVF_PQ needs
    ``nlist`` and ``m`` (a divisor of the dimension), ``nbits`` optional (1..64);
    FLAT, DISKANN and AUTOINDEX take none. Unknown parameters are errors.
    """

    type: IndexType = Field("HNSW", description="Index type. Default HNSW (the usual RAG choice: fast, high recall).")
    params: dict[str, int] = Field(
        default_factory=lambda: {"M": 16, "efConstruction": 200},
        description="Build parameters for the type (see above). Default {M: 16, efConstruction: 200}, "
        "which only suits HNSW: set params whenever you set another type.",
    )

    @model_validator(mode="after")
    def _params(self) -> "IndexSpec":
        allowed = INDEX_PARAMS[self.type]
        errors = []
        for key, value in self.params.items():
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                errors.append(_err(("params", key), f"not a parameter of {self.type} (it takes: {known})", value))
                continue
            _, lo, hi = allowed[key]
            if not lo <= value <= hi:
                errors.append(_err(("params", key), f"{value} is outside {lo}..{hi} for {self.type}", value))
        for key, (required, lo, hi) in allowed.items():
            if required and key not in self.params:
                errors.append(_err(("params", key), f"required for {self.type} ({lo}..{hi})", None))
        _raise("IndexSpec", errors)
        return self


class CollectionSpec(_Model):
    """One Milvus collection: float vectors of one dimension, a primary key, scalar fields, one index."""

    name: str = Field(description="Collection name (Milvus naming rules), unique in the stack.")
    description: str = Field("", description="Free text stored with the collection. Default empty.")
    dimension: int = Field(
        ge=1, le=MAX_DIMENSION, description=f"Vector dimension (1..{MAX_DIMENSION}), the embedding model's output size."
    )
    metric: Metric = Field("COSINE", description="Similarity metric: COSINE, L2 or IP. Default COSINE.")
    vector_field: str = Field("embedding", description="Name of the FLOAT_VECTOR field. Default `embedding`.")
    primary_key: PrimaryKey = Field(default_factory=PrimaryKey, description="Default: INT64 field `id`.")
    auto_id: bool = Field(
        False,
        description="Let Milvus generate INT64 keys. Default false: callers supply stable keys, so re-ingesting "
        "a document upserts instead of duplicating it. Only valid with an INT64 primary key.",
    )
    index: IndexSpec = Field(default_factory=IndexSpec, description="Vector index. Default HNSW M=16 efConstruction=200.")
    scalar_fields: list[ScalarField] = Field(default_factory=list, description="Filterable fields. Default none.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("collection", v)

    @field_validator("vector_field")
    @classmethod
    def _valid_vector_field(cls, v: str) -> str:
        return _check_name("field", v)

    @model_validator(mode="after")
    def _cross(self) -> "CollectionSpec":
        errors = []
        taken = {self.primary_key.name: ("primary_key", "name")}
        if self.vector_field in taken:
            errors.append(_err(("vector_field",), f"{self.vector_field!r} is also the primary key name", self.vector_field))
        else:
            taken[self.vector_field] = ("vector_field",)
        for i, f in enumerate(self.scalar_fields):
            if f.name in taken:
                other = ".".join(taken[f.name])
                errors.append(_err(("scalar_fields", i, "name"), f"{f.name!r} is already used by {other}", f.name))
            else:
                taken[f.name] = ("scalar_fields", str(i), "name")
        if 2 + len(self.scalar_fields) > MAX_FIELDS:
            errors.append(_err(("scalar_fields",), f"{len(self.scalar_fields)} fields; Milvus allows {MAX_FIELDS} per collection including the key and vector", None))
        if self.auto_id and self.primary_key.type != "INT64":
            errors.append(_err(("auto_id",), "only valid with an INT64 primary key; Milvus generates integer keys", True))
        m = self.index.params.get("m")
        if self.index.type == "IVF_PQ" and m and self.dimension % m:
            errors.append(_err(("index", "params", "m"), f"{m} does not divide the dimension {self.dimension}", m))
        _raise("CollectionSpec", errors)
        return self


class VectorStoreConfig(_Model):
    """Milvus per region for RAG, and the collections `aiplat vectors apply` keeps in shape."""

    enabled: bool = Field(True, description="Deploy the vector store. Default true when the section is present.")
    mode: Literal["standalone", "cluster"] | None = Field(
        None,
        description="Milvus deployment mode. Default: cluster in prod (replicated, survives a node loss), "
        "standalone elsewhere (one pod, cheap).",
    )
    regions: list[str] | None = Field(
        None, description="Stack regions that get a Milvus. Default: every region of the stack. Each must be a stack region."
    )
    storage_gb: int = Field(
        50, ge=10, le=16384, description="Persistent volume size per Milvus data volume, GiB (10..16384). Default 50."
    )
    collections: list[CollectionSpec] = Field(
        default_factory=list, description="Collections applied by `aiplat vectors apply`. Default none."
    )
    client_namespaces: list[str] = Field(
        default_factory=lambda: ["rag"],
        description="Namespaces whose pods may reach Milvus (the NetworkPolicy), besides the stack's Triton "
        "endpoint namespaces in the same region, which are always admitted. Default [rag].",
    )

    @model_validator(mode="after")
    def _unique(self) -> "VectorStoreConfig":
        errors = []
        names = [c.name for c in self.collections]
        for i, n in enumerate(names):
            if names.index(n) != i:
                errors.append(_err(("collections", i, "name"), f"duplicate collection name {n!r} (first at collections[{names.index(n)}])", n))
        if self.regions is not None and not self.regions:
            errors.append(_err(("regions",), "empty; omit it for every stack region, or set enabled: false", []))
        _raise("VectorStoreConfig", errors)
        return self

    def resolved_mode(self, environment: str) -> str:
        """The deployment mode: the configured one, else cluster for prod and standalone elsewhere."""
        return self.mode or ("cluster" if environment == "prod" else "standalone")

    def resolved_regions(self, stack_regions: list[str]) -> list[str]:
        """Regions that get a Milvus, in stack order: the configured ones, else all."""
        wanted = set(self.regions) if self.regions is not None else set(stack_regions)
        return [r for r in stack_regions if r in wanted]

    def region_problems(self, stack_regions: list[str]) -> list[str]:
        """`regions[i]: ...` for each listed region that is repeated or not a stack region (data stays in-region).

        Checked by PlatformConfig, which knows the stack's regions."""
        out = []
        listed = self.regions or []
        for i, r in enumerate(listed):
            if listed.index(r) != i:
                out.append(f"regions[{i}]: region {r!r} is listed twice")
            elif r not in stack_regions:
                out.append(
                    f"regions[{i}]: {r!r} is not a region of this stack ({', '.join(stack_regions)}); "
                    "Milvus runs only next to a stack cluster"
                )
        return out


# =========================================================================================
# The VectorStore component: Milvus in one region, next to the documents it indexes
# =========================================================================================

# zilliztech/milvus-helm chart 4.2.45 = Milvus 2.5.9. Pinned: a chart upgrade changes the
# Milvus version and its on-disk format, which must be a reviewed change, never a rebuild.
MILVUS_CHART = "milvus"
MILVUS_CHART_VERSION = "4.2.45"
MILVUS_CHART_REPO = "https://zilliztech.github.io/milvus-helm/"
MILVUS_PORT = 19530
METRICS_PORT = 9091
RELEASE = "milvus"  # the chart names its Service after the release: milvus.<namespace>.svc
NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True)
class VectorStoreArgs:
    """Everything a VectorStore needs, resolved (the platform derives it from VectorStoreConfig)."""

    cloud: Literal["aws", "gcp"]
    region: str
    kube_provider: pulumi.ProviderResource
    bucket_name: str
    """Physical bucket name (deterministic; same region as the cluster)."""
    zones: list[str]
    """The region's zones; cluster mode spreads replicas over them."""
    mode: Literal["standalone", "cluster"] = "standalone"
    """standalone: one Milvus pod (rocksmq); cluster: replicated components, Pulsar, 3 etcd. Default standalone."""
    storage_gb: int = 50
    """Size of each Milvus data volume, GiB. Default 50."""
    client_namespaces: list[str] = field(default_factory=lambda: ["rag"])
    """Namespaces admitted by the NetworkPolicy. Default [rag]."""
    namespace: str = "milvus"
    """Namespace of the release. Default milvus."""
    chart_version: str = MILVUS_CHART_VERSION
    """Milvus Helm chart version. Default 4.2.45 (Milvus 2.5.9)."""
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider (IRSA). Required on AWS."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme. Required on AWS."""
    gcp_project: str | None = None
    """GCP: project of bucket, key and service account. Required on GCP."""
    protect: bool = True
    """Protect bucket and key from deletion. Default true."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource (AWS tags, GCP labels)."""

    @property
    def production(self) -> bool:
        return self.mode == "cluster"


def validate_store_args(a: VectorStoreArgs) -> list[Problem]:
    """Every problem with the args, before the first child exists (paths are arg names)."""
    problems = []
    if a.mode not in ("standalone", "cluster"):
        problems.append(Problem("mode", f"{a.mode!r} is not standalone or cluster"))
    if not 10 <= a.storage_gb <= 16384:
        problems.append(Problem("storage_gb", f"{a.storage_gb} is outside 10..16384"))
    if a.mode == "cluster" and len(a.zones) < 2:
        problems.append(Problem("zones", "cluster mode spreads replicas over zones: at least 2 are needed"))
    if not a.client_namespaces:
        problems.append(Problem("client_namespaces", "at least one namespace must be able to reach Milvus"))
    if not 3 <= len(a.bucket_name) <= 63:
        problems.append(Problem("bucket_name", f"{a.bucket_name!r} must be 3..63 characters"))
    if a.cloud == "aws" and (a.oidc_provider_arn is None or a.oidc_issuer is None):
        problems.append(Problem("oidc_provider_arn", "AWS needs the cluster's OIDC provider and issuer (IRSA)"))
    if a.cloud == "gcp" and not a.gcp_project:
        problems.append(Problem("gcp_project", "GCP needs the project (Workload Identity)"))
    return problems


def helm_values(a: VectorStoreArgs, storage_class: str, identity_annotation: dict[str, Any],
                root_password: str) -> dict[str, Any]:
    """The chart values (pure; tested). Object storage is the region's bucket through the
    pod identity, never MinIO and never static keys."""
    spread = lambda component: [{  # noqa: E731 - one spread rule per component
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE, "component": component}},
    }]
    user_yaml = json.dumps({"common": {"security": {"authorizationEnabled": True,
                                                   "defaultRootPassword": root_password}}})
    values: dict[str, Any] = {
        "cluster": {"enabled": a.mode == "cluster"},
        "serviceAccount": {"create": True, "name": "milvus", "annotations": identity_annotation},
        # JSON is YAML: user.yaml merges into milvus.yaml (auth on, the generated root password).
        "extraConfigFiles": {"user.yaml": user_yaml},
        "minio": {"enabled": False},
        "externalS3": {
            "enabled": True,
            "host": "s3.amazonaws.com" if a.cloud == "aws" else "storage.googleapis.com",
            "port": "443",
            "useSSL": True,
            "bucketName": a.bucket_name,
            "rootPath": "milvus",
            "useIAM": True,  # IRSA / Workload Identity: no access keys anywhere
            "cloudProvider": a.cloud,
            "region": a.region,
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "etcd": {
            "replicaCount": 3 if a.mode == "cluster" else 1,
            "persistence": {"storageClass": storage_class, "size": "10Gi"},
        },
    }
    pvc = {"storageClass": storage_class, "size": f"{a.storage_gb}Gi"}
    if a.mode == "standalone":
        values["standalone"] = {
            "messageQueue": "rocksmq",
            "persistence": {"persistentVolumeClaim": pvc},
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}},
        }
        values["pulsarv3"] = {"enabled": False}
        return values
    sized = {
        "proxy": (2, "1", "2Gi"),
        "queryNode": (3, "2", "16Gi"),
        "dataNode": (2, "1", "4Gi"),
        "indexNode": (2, "2", "8Gi"),
        "mixCoordinator": (2, "500m", "1Gi"),
    }
    labels = {"proxy": "proxy", "queryNode": "querynode", "dataNode": "datanode", "indexNode": "indexnode",
              "mixCoordinator": "mixcoord"}
    for key, (replicas, cpu, memory) in sized.items():
        values[key] = {
            "replicas": replicas,
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
            # One replica per zone first: losing a zone leaves the others serving.
            "topologySpreadConstraints": spread(labels[key]),
        }
    values["mixCoordinator"]["activeStandby"] = {"enabled": True}  # two coordinators need standby mode
    volume = {"storageClassName": storage_class}
    values["pulsarv3"] = {
        "enabled": True,
        "bookkeeper": {"volumes": {"journal": {**volume, "size": "20Gi"}, "ledgers": {**volume, "size": f"{a.storage_gb}Gi"}}},
        "zookeeper": {"volumes": {"data": {**volume, "size": "10Gi"}}},
    }
    return values


class VectorStore(AiplatComponent):
    """Milvus in one region (type ``aiplat:vector_store:VectorStore``).

    Children: a KMS key and a bucket in the region (versioned, encrypted with that key,
    public access blocked, old versions expired after 30 days, protected from deletion);
    the pod identity that alone may use it (AWS IRSA role / GCP service account with
    Workload Identity); an encrypted StorageClass (``Retain``: deleting a claim never
    deletes vectors); a generated root password (pulumi-random, a secret in state) and
    the Kubernetes Secret holding it for clients; the Milvus Helm release (pinned chart,
    auth on); a NetworkPolicy admitting only the client namespaces (and monitoring to
    the metrics port).

    The chart puts the root password into Milvus's config (its ``user.yaml`` ConfigMap):
    Milvus reads its first root password only from configuration. Rotate it with the
    Milvus API after the first deploy if ConfigMaps are readable more widely than Secrets.

    Outputs: ``endpoint`` (``milvus.<ns>.svc.cluster.local:19530``), ``secret_name``
    (Secret with ``username``/``password`` in ``namespace``), ``namespace``, ``bucket``
    (Output[str]), ``mode``, ``chart_version``, ``cloud_identity`` (role ARN / GSA email).
    """

    def __init__(self, name: str, args: VectorStoreArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_store_args(args)
        if problems:
            raise ConfigError(problems, f"VectorStore {name}")
        super().__init__("aiplat:vector_store:VectorStore", name, None, opts)
        self._name, self._in = name, args
        self.namespace = args.namespace
        self.mode = args.mode
        self.chart_version = args.chart_version
        self.endpoint = f"{RELEASE}.{args.namespace}.svc.cluster.local:{MILVUS_PORT}"
        self.secret_name = "milvus-root"
        if args.cloud == "aws":
            bucket_deps, annotation, sc_params, provisioner = self._aws()
        else:
            bucket_deps, annotation, sc_params, provisioner = self._gcp()
        self._kubernetes(bucket_deps, annotation, sc_params, provisioner)
        self.register_outputs({
            "endpoint": self.endpoint,
            "secret_name": self.secret_name,
            "namespace": self.namespace,
            "bucket": self.bucket,
            "mode": self.mode,
            "chart_version": self.chart_version,
            "cloud_identity": self.cloud_identity,
        })

    # -- AWS: S3 + KMS + IRSA ---------------------------------------------------------------
    def _aws(self):
        import pulumi_aws as aws

        a, n = self._in, self._name
        key = aws.kms.Key(f"{n}-vectors", description=f"Milvus data of {a.bucket_name} (bucket and volumes)",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=self._tags("vectors-key"),
                          opts=self._opts(protect=a.protect))
        bucket = aws.s3.Bucket(f"{n}-vectors", bucket=a.bucket_name, force_destroy=False,
                               tags=self._tags("vectors"), opts=self._opts(protect=a.protect))
        versioning = aws.s3.BucketVersioning(f"{n}-vectors", bucket=bucket.id,
                                             versioning_configuration={"status": "Enabled"}, opts=self._opts())
        sse = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-vectors", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                    "bucket_key_enabled": True}],
            opts=self._opts())
        pab = aws.s3.BucketPublicAccessBlock(f"{n}-vectors", bucket=bucket.id, block_public_acls=True,
                                             block_public_policy=True, ignore_public_acls=True,
                                             restrict_public_buckets=True, opts=self._opts())
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{n}-vectors", bucket=bucket.id,
            rules=[{
                "id": "expire-old-versions",
                "status": "Enabled",
                "filter": {},
                # Milvus compaction rewrites segments constantly; old versions are only an undo window.
                "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            }],
            opts=self._opts(depends_on=[versioning]))
        subject = f"system:serviceaccount:{a.namespace}:milvus"
        trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, a.namespace, "milvus")
        role = aws.iam.Role(f"{n}-milvus", description=f"IRSA role of {subject}: read/write on {a.bucket_name}",
                            assume_role_policy=trust, tags=self._tags("milvus-role"), opts=self._opts())
        aws.iam.RolePolicy(
            f"{n}-milvus-rw", role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": v[0]},
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": f"{v[0]}/*"},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": v[1]},
                ],
            })),
            opts=self._opts())
        self.bucket = bucket.bucket
        self.kms_key = key.arn
        self.cloud_identity = role.arn
        sc_params = key.arn.apply(lambda arn: {"type": "gp3", "encrypted": "true", "kmsKeyId": arn})
        return ([bucket, versioning, sse, pab, lifecycle], {"eks.amazonaws.com/role-arn": role.arn},
                sc_params, "ebs.csi.aws.com")

    # -- GCP: GCS + Cloud KMS + Workload Identity ---------------------------------------------
    def _gcp(self):
        import pulumi_gcp as gcp

        from aiplat.cluster import short_id

        a, n = self._in, self._name
        labels = {k.lower(): v for k, v in a.tags.items()}
        project = gcp.organizations.get_project(project_id=a.gcp_project)
        ring = gcp.kms.KeyRing(f"{n}-vectors", name=f"{n}-vectors", location=a.region, project=a.gcp_project,
                               opts=self._opts())
        key = gcp.kms.CryptoKey(f"{n}-vectors", name="vectors", key_ring=ring.id, purpose="ENCRYPT_DECRYPT",
                                rotation_period="7776000s", labels=labels, opts=self._opts(protect=a.protect))
        # CMEK for the bucket (Cloud Storage agent) and for the PD volumes (Compute Engine agent).
        grants = [
            gcp.kms.CryptoKeyIAMMember(f"{n}-vectors-{who}", crypto_key_id=key.id,
                                       role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                       member=f"serviceAccount:service-{project.number}@{agent}", opts=self._opts())
            for who, agent in (("gcs", "gs-project-accounts.iam.gserviceaccount.com"),
                               ("pd", "compute-system.iam.gserviceaccount.com"))
        ]
        bucket = gcp.storage.Bucket(
            f"{n}-vectors", name=a.bucket_name, project=a.gcp_project,
            location=a.region,  # one region: the vectors never leave it
            storage_class="STANDARD", uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True}, encryption={"default_kms_key_name": key.id}, force_destroy=False,
            lifecycle_rules=[{"action": {"type": "Delete"},
                              "condition": {"days_since_noncurrent_time": NONCURRENT_VERSION_DAYS, "with_state": "ARCHIVED"}}],
            labels=labels, opts=self._opts(protect=a.protect, depends_on=[grants[0]]))
        gsa = gcp.serviceaccount.Account(f"{n}-milvus", account_id=short_id(f"{n}-milvus", 30),
                                         display_name=f"Milvus in {a.region} (its vector bucket only)",
                                         project=a.gcp_project, opts=self._opts())
        rw = gcp.storage.BucketIAMMember(f"{n}-milvus-rw", bucket=bucket.name, role="roles/storage.objectAdmin",
                                         member=gsa.email.apply(lambda e: f"serviceAccount:{e}"), opts=self._opts())
        wi = gcp.serviceaccount.IAMMember(f"{n}-milvus-wi", service_account_id=gsa.name,
                                          role="roles/iam.workloadIdentityUser",
                                          member=f"serviceAccount:{a.gcp_project}.svc.id.goog[{a.namespace}/milvus]",
                                          opts=self._opts())
        self.bucket = bucket.name
        self.kms_key = key.id
        self.cloud_identity = gsa.email
        sc_params = key.id.apply(lambda k: {"type": "pd-balanced", "disk-encryption-kms-key": k})
        return ([bucket, rw, wi, grants[1]], {"iam.gke.io/gcp-service-account": gsa.email}, sc_params,
                "pd.csi.storage.gke.io")

    # -- Kubernetes ---------------------------------------------------------------------------
    def _kubernetes(self, bucket_deps, annotation, sc_params, provisioner) -> None:
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        a, n, ns = self._in, self._name, self._in.namespace
        labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/managed-by": "aiplat"}
        namespace = k8s.core.v1.Namespace(f"{n}-ns", metadata={"name": ns, "labels": labels}, opts=self._k8s())
        storage_class = f"milvus-encrypted-{a.region}"
        sc = k8s.storage.v1.StorageClass(
            f"{n}-sc", metadata={"name": storage_class, "labels": labels}, provisioner=provisioner,
            parameters=sc_params,
            reclaim_policy="Retain",  # a deleted claim must not delete the vectors with it
            volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True, opts=self._k8s())
        password = random.RandomPassword(f"{n}-root", length=32, special=False, opts=self._opts())
        self.root_password = password.result  # a secret output: never shown, never in plain config
        secret = k8s.core.v1.Secret(
            f"{n}-root", metadata={"name": self.secret_name, "namespace": ns, "labels": labels},
            type="Opaque", string_data={"username": "root", "password": password.result},
            opts=self._k8s(depends_on=[namespace]))
        values = pulumi.Output.all(annotation, password.result).apply(
            lambda v: helm_values(a, storage_class, v[0], v[1]))
        release = k8s.helm.v3.Release(
            f"{n}-milvus", name=RELEASE, namespace=ns, chart=MILVUS_CHART, version=a.chart_version,
            repository_opts={"repo": MILVUS_CHART_REPO}, values=pulumi.Output.secret(values),
            atomic=True, cleanup_on_fail=True, timeout=1200,
            opts=self._k8s(depends_on=[namespace, sc, secret, *bucket_deps]))
        peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": c}}}
                 for c in a.client_namespaces]
        k8s.networking.v1.NetworkPolicy(
            f"{n}-netpol",
            metadata={"name": "milvus-clients", "namespace": ns, "labels": labels},
            spec={
                "podSelector": {},  # every pod of the namespace: proxy, nodes, etcd, pulsar
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": peers, "ports": [{"protocol": "TCP", "port": MILVUS_PORT}]},
                    # Milvus components, etcd and Pulsar talk to each other inside the namespace.
                    {"from": [{"podSelector": {}}]},
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                     "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
                ],
            },
            opts=self._k8s(depends_on=[namespace]))
        self.release_name = release.name


def args_from_config(config, stack: str, region, cluster, endpoint_namespaces: list[str]) -> VectorStoreArgs:
    """VectorStoreArgs for one region of a stack whose ``vector_store`` is enabled there."""
    from aiplat.triton import bucket_name

    store = config.vector_store
    return VectorStoreArgs(
        cloud=config.cloud,
        region=region.name,
        kube_provider=cluster.kube_provider,
        bucket_name=bucket_name(f"aiplat-{stack}", region.name, "vectors"),
        zones=list(region.zones),
        mode=store.resolved_mode(config.environment),
        storage_gb=store.storage_gb,
        client_namespaces=sorted(set(store.client_namespaces) | set(endpoint_namespaces)),
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        gcp_project=config.gcp_project,
        protect=True,
        tags=config.standard_tags(stack),
    )
