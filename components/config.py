"""PlatformConfig: the one typed contract of a stack.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds the platform under the config key
``aiplat:platform``. ``PlatformConfig.from_raw`` validates it once and reports *every*
problem with its key path in a single ``ConfigError``, e.g.::

    regions[1].name: 'eu-central-9' is not an AWS region

Users state intent ("two regions, three zones, private endpoint"); the details (subnet
CIDRs, NAT layout, node sizes, log retention) are derived here so that the components
receive resolved values and never guess. Checks that need a sibling value (the cloud,
the residency zone) run as field validators with a validation context, so a mistake in
one region does not hide a mistake in another.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aiplat import catalog
from aiplat.errors import ConfigError, Problem, format_path
from aiplat.monitoring import MonitoringConfig
from aiplat.vector_store import VectorStoreConfig

Cloud = Literal["aws", "gcp"]
Environment = Literal["dev", "test", "staging", "prod"]
DataClassification = Literal["public", "internal", "confidential", "restricted"]
ResidencyZone = Literal["eu", "us", "uk", "ch", "global"]

CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP"}
# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34")
# GCP label values and Kubernetes-friendly identifiers: one rule for both clouds, so the
# same tags work as AWS tags and as GCP labels.
LABEL_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")


def _dns_label(v: str) -> str:
    if not DNS_LABEL.match(v):
        raise ValueError(f"{v!r} is not a DNS label (lowercase, digits, '-', max 32)")
    return v


# Names that become Kubernetes/cloud resource names (pools, endpoints).
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ctx(info: ValidationInfo, key: str, default: Any = None) -> Any:
    return (info.context or {}).get(key, default)


class Tags(_Model):
    """Chargeback tags, merged into every taggable resource (AWS tags, GCP labels)."""

    owner: str = Field(description="Owning person or group handle (lowercase label value).")
    team: str = Field(description="Team that runs the service.")
    cost_center: str = Field(description="Cost center for chargeback; tagged as `cost-center`.")
    extra: dict[str, str] = Field(default_factory=dict, description="Additional tags. Default: none.")

    @field_validator("owner", "team", "cost_center")
    @classmethod
    def _label_value(cls, v: str) -> str:
        if not LABEL_VALUE.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits, '-' or '_' (max 63), usable as a GCP label")
        return v


class GpuPoolConfig(_Model):
    """A GPU node pool stated as intent: what to run on, how much is reserved, the hard cap."""

    name: DnsLabel = Field(description="Pool name (DNS label), unique within the region.")
    instance_type: str = Field(description="Catalog instance/machine type, e.g. g6e.2xlarge or g2-standard-8.")
    reserved_nodes: int = Field(0, ge=0, description="Baseline held in capacity reservations. Default 0.")
    max_nodes: int = Field(ge=1, description="Hard cap on reserved + on-demand nodes.")
    spot_max_nodes: int = Field(0, ge=0, description="Optional spot tier on top of the cap. Default 0 (off).")
    commitment: Literal["1y", "3y"] = Field("1y", description="Term priced for reserved nodes. Default 1y.")
    zones: list[str] | None = Field(None, description="Subset of the region's zones. Default: all of them.")

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, v: str, info: ValidationInfo) -> str:
        from aiplat.catalog import gpu

        cloud = _ctx(info, "cloud")
        if cloud in catalog.CLOUDS and gpu.get_instance_type(cloud, v) is None:
            hint = gpu.suggest(cloud, v, None)
            did = f"; did you mean {', '.join(hint[:3])}?" if hint else ""
            raise ValueError(f"{v!r} is not a known {CLOUD_NAMES[cloud]} GPU instance type{did}")
        return v

    @model_validator(mode="after")
    def _caps(self) -> "GpuPoolConfig":
        if self.reserved_nodes > self.max_nodes:
            # _Nested, so the key path names the field to change, not just the pool
            raise _Nested([
                f"reserved_nodes: reserved_nodes {self.reserved_nodes} exceeds max_nodes {self.max_nodes}; "
                "max_nodes caps reserved + on-demand, raise it or reserve less"
            ])
        return self


class RegionConfig(_Model):
    """One region of the stack: its network range and zones; GPU pools live here."""

    name: str = Field(description="Cloud region, e.g. us-east-1 or europe-west4.")
    cidr: str = Field(description="Private IPv4 range of the region's network, /16 to /20.")
    zones: list[str] = Field(description="Availability zones to spread over (AWS: 2-6, GCP: 1-4).")
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list, description="GPU pools. Default: none.")

    @field_validator("name")
    @classmethod
    def _region(cls, v: str, info: ValidationInfo) -> str:
        cloud = _ctx(info, "cloud")
        if cloud not in catalog.CLOUDS:
            return v
        if v not in catalog.regions(cloud):
            raise ValueError(f"{v!r} is not an {CLOUD_NAMES[cloud]} region")
        zone = _ctx(info, "residency")
        if zone in catalog.residency_zones() and not catalog.in_residency_zone(zone, cloud, v):
            raise ValueError(
                f"{v!r} is in jurisdiction {catalog.jurisdiction(cloud, v)!r}, outside residency zone {zone!r}"
            )
        return v

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"{v!r} is not an IPv4 network: {exc}") from None
        if not net.is_private:
            raise ValueError(f"{v} is not a private (RFC 1918) range")
        if not 16 <= net.prefixlen <= 20:
            raise ValueError(f"{v} must be between /16 and /20 to hold the derived subnets")
        return v

    @model_validator(mode="after")
    def _zones(self, info: ValidationInfo) -> "RegionConfig":
        from aiplat.catalog import gpu

        cloud = _ctx(info, "cloud")
        problems = []
        if len(set(self.zones)) != len(self.zones):
            problems.append("zones: must be unique")
        if cloud in catalog.CLOUDS and self.name in catalog.regions(cloud):
            lo, hi = (2, 6) if cloud == "aws" else (1, 4)
            if not lo <= len(self.zones) <= hi:
                problems.append(f"zones: {CLOUD_NAMES[cloud]} needs {lo} to {hi} zones, got {len(self.zones)}")
            for i, z in enumerate(self.zones):
                if catalog.region_of_zone(cloud, z) != self.name:
                    problems.append(f"zones[{i}]: {z!r} is not a zone of {self.name}")
        names = [p.name for p in self.gpu_pools]
        for i, p in enumerate(self.gpu_pools):
            if names.count(p.name) > 1:
                problems.append(f"gpu_pools[{i}].name: duplicate pool name {p.name!r}")
            itype = gpu.get_instance_type(cloud, p.instance_type) if cloud in catalog.CLOUDS else None
            if itype is not None and not itype.offered_in(self.name):
                offered = gpu.suggest(cloud, p.instance_type, self.name)
                alt = f"; offered there: {', '.join(offered[:4])}" if offered else ""
                problems.append(f"gpu_pools[{i}].instance_type: {p.instance_type!r} is not offered in {self.name}{alt}")
            for j, z in enumerate(p.zones or []):
                if z not in self.zones:
                    problems.append(f"gpu_pools[{i}].zones[{j}]: {z!r} is not one of the region's zones")
        if problems:
            raise _Nested(problems)
        return self

    # -- derived network layout (deterministic: same CIDR, same subnets) -------------
    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    def private_subnets(self) -> list[str]:
        """One large subnet per zone (pods take VPC IPs with the AWS VPC CNI)."""
        blocks = list(self.network.subnets(new_prefix=self.network.prefixlen + 3))
        return [str(b) for b in blocks[: len(self.zones)]]

    def public_subnets(self) -> list[str]:
        """One small subnet per zone for load balancers and NAT, carved from the last block."""
        last = list(self.network.subnets(new_prefix=self.network.prefixlen + 3))[-1]
        return [str(b) for b in list(last.subnets(new_prefix=last.prefixlen + 3))[: len(self.zones)]]

    def gcp_ranges(self) -> dict[str, str]:
        """GKE VPC-native ranges: nodes, services, control plane (/28), pods (upper half)."""
        quarter = list(self.network.subnets(new_prefix=self.network.prefixlen + 4))
        return {
            "nodes": str(quarter[0]),
            "services": str(quarter[1]),
            "master": str(next(quarter[2].subnets(new_prefix=28))),
            "pods": str(list(self.network.subnets(new_prefix=self.network.prefixlen + 1))[1]),
        }


class _Nested(ValueError):
    """Several problems found by one model validator, each with a path relative to it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class NetworkConfig(_Model):
    nat: Literal["single", "per_zone"] | None = Field(
        None, description="NAT gateways. Default: per_zone in prod (zone-failure tolerant), single elsewhere."
    )


class SystemNodesConfig(_Model):
    instance_type: str | None = Field(None, description="Default: m6i.large (AWS), e2-standard-4 (GCP).")
    min_nodes: int = Field(2, ge=1, description="Default 2, so add-ons survive a node loss.")
    max_nodes: int = Field(4, ge=1, description="Default 4.")

    @model_validator(mode="after")
    def _range(self) -> "SystemNodesConfig":
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes {self.min_nodes} exceeds max_nodes {self.max_nodes}")
        return self


class ClusterConfig(_Model):
    kubernetes_version: str = Field("1.32", description=f"One of {', '.join(KUBERNETES_VERSIONS)}. Default 1.32.")
    endpoint_public_access: bool = Field(False, description="Public API endpoint. Default false (private only).")
    public_access_cidrs: list[str] = Field(
        default_factory=list, description="Allow-list for the public endpoint; required when it is on."
    )
    system_nodes: SystemNodesConfig = Field(default_factory=SystemNodesConfig)
    log_retention_days: int | None = Field(None, description="Control-plane logs. Default: 365 in prod, 30 elsewhere.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] | None = Field(
        None, description="GKE only. Default: STABLE in prod, REGULAR elsewhere."
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in KUBERNETES_VERSIONS:
            raise ValueError(f"{v!r} is not a supported Kubernetes version ({', '.join(KUBERNETES_VERSIONS)})")
        return v

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        bad = []
        for c in v:
            try:
                ipaddress.IPv4Network(c, strict=True)
            except ValueError:
                bad.append(c)
        if bad:
            raise ValueError(f"not IPv4 networks: {', '.join(map(repr, bad))}")
        return v

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: int | None) -> int | None:
        if v is not None and v not in LOG_RETENTION_DAYS:
            raise ValueError(f"{v} is not a CloudWatch retention value (e.g. 30, 90, 365)")
        return v

    @model_validator(mode="after")
    def _public(self) -> "ClusterConfig":
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise _Nested(["public_access_cidrs: required when endpoint_public_access is true"])
        return self


# -- gateway ---------------------------------------------------------------------------
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
HEALTH_PATH = "/health"
# Route paths: literal segments or one {param} per segment, the form both API Gateway
# route keys and OpenAPI paths accept.
ROUTE_PATH = re.compile(r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z][A-Za-z0-9_]*\}))+$")
HOSTNAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


class GatewayAuthConfig(_Model):
    """JWT validation at the edge: tokens must be signed by ``issuer`` for one of ``audiences``."""

    issuer: str = Field(description="OIDC issuer URL (https); its /.well-known/openid-configuration gives the keys.")
    audiences: list[str] = Field(min_length=1, description="Accepted `aud` values; at least one.")
    jwks_uri: str | None = Field(
        None, description="GCP (ESPv2) key set URL. Default: <issuer>/.well-known/jwks.json."
    )

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", v):
            raise ValueError(f"{v!r} must be an https:// URL")
        return v


class ThrottleConfig(_Model):
    """Stage throttling per region (AWS) / per client IP (GCP Cloud Armor); excess gets 429."""

    rate_per_second: float = Field(100, gt=0, description="Steady-state requests per second. Default 100.")
    burst: int = Field(200, gt=0, description="Token-bucket burst above the rate. Default 200.")


class GatewayRouteConfig(_Model):
    """One route of the regional gateways. ``endpoint`` names a ``serving.endpoints[].name``."""

    path: str = Field(description="Path, e.g. /v2/models/resnet/infer; {param} segments allowed.")
    methods: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]] | None = Field(
        None, min_length=1, description="Default [POST] ([GET] for /health)."
    )
    endpoint: str | None = Field(None, description="Target Triton endpoint. Required except for /health.")
    model: str | None = Field(None, description="Model the route serves: its canary weight applies. Default none.")
    version: str | None = Field(None, description="Pin to the Deployment serving this model version. Default none.")
    auth: Literal["jwt", "none"] = Field(
        "jwt", description="Default jwt. `none` is only allowed on /health (and is still served with JWT to clients)."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not ROUTE_PATH.match(v):
            raise ValueError(f"{v!r} is not a route path (/segment/{{param}}/..., no trailing slash)")
        return v

    @field_validator("auth")
    @classmethod
    def _auth(cls, v: str, info: ValidationInfo) -> str:
        # The unauthenticated exception exists only for the health path the DNS/LB probes call;
        # a field validator, so it is reported even when another key of the stack is wrong too.
        path = info.data.get("path")
        if v == "none" and path is not None and path != HEALTH_PATH:
            raise ValueError(f"`none` is only allowed on {HEALTH_PATH}; {path} needs jwt")
        return v

    @property
    def http_methods(self) -> list[str]:
        return list(self.methods or (["GET"] if self.path == HEALTH_PATH else ["POST"]))

    @model_validator(mode="after")
    def _shape(self) -> "GatewayRouteConfig":
        problems = []
        if self.path != HEALTH_PATH and not self.endpoint:
            problems.append("endpoint: required (the serving endpoint this route goes to)")
        if self.version is not None and not self.model:
            problems.append("version: needs `model` (a version pins one model's Deployment)")
        if problems:
            raise _Nested(problems)
        return self


class GatewayConfig(_Model):
    """Regional API gateways behind one global hostname (latency routing with health checks)."""

    domain: str = Field(description="The one global hostname clients use, e.g. infer.example.com.")
    hosted_zone: str = Field(
        description="AWS: Route 53 hosted zone id (Z...); GCP: Cloud DNS managed zone name. Holds `domain`."
    )
    certificate: Literal["create"] | dict[str, str] = Field(
        "create",
        description="`create` (ACM / Google-managed, DNS-validated in hosted_zone) or, on AWS, an ACM certificate "
        "ARN per region ({region: arn}). Default create.",
    )
    auth: GatewayAuthConfig
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)
    routes: list[GatewayRouteConfig] | None = Field(
        None,
        description="Default: per configured model POST /v2/models/<model>/infer (canary-weighted) and "
        "/v2/models/<model>/versions/<version>/infer per served version, plus GET /health.",
    )
    log_retention_days: int | None = Field(None, description="Access logs. Default: 365 in prod, 30 elsewhere.")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not HOSTNAME.match(v):
            raise ValueError(f"{v!r} is not a fully qualified lowercase hostname")
        return v

    @field_validator("hosted_zone")
    @classmethod
    def _zone(cls, v: str, info: ValidationInfo) -> str:
        cloud = _ctx(info, "cloud")
        if cloud == "aws" and not re.match(r"^Z[A-Z0-9]{1,31}$", v):
            raise ValueError(f"{v!r} is not a Route 53 hosted zone id (Z followed by capitals and digits)")
        if cloud == "gcp" and not re.match(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", v):
            raise ValueError(f"{v!r} is not a Cloud DNS managed zone name")
        return v

    @field_validator("certificate")
    @classmethod
    def _certificate(cls, v: Any, info: ValidationInfo) -> Any:
        if v == "create":
            return v
        if _ctx(info, "cloud") == "gcp":
            raise ValueError("GCP uses a Google-managed certificate: set `create`")
        problems = []
        for region, arn in v.items():
            m = ACM_ARN.match(arn)
            if not m:
                problems.append(f"{region}: {arn!r} is not an ACM certificate ARN")
            elif m.group(1) != region:
                problems.append(f"{region}: the certificate is in {m.group(1)}; API Gateway needs one in {region}")
        if problems:
            raise _Nested(problems)
        return v

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: int | None) -> int | None:
        if v is not None and v not in LOG_RETENTION_DAYS:
            raise ValueError(f"{v} is not a CloudWatch retention value (e.g. 30, 90, 365)")
        return v

    @model_validator(mode="after")
    def _routes(self) -> "GatewayConfig":
        problems, seen = [], set()
        for i, r in enumerate(self.routes or []):
            for m in r.http_methods:
                if (m, r.path) in seen:
                    problems.append(f"routes[{i}].path: {m} {r.path} is defined twice")
                seen.add((m, r.path))
        if problems:
            raise _Nested(problems)
        return self

    def route_problems(self, regions: list[str], endpoints: list[str] | None) -> list[str]:
        """Problems that need the rest of the stack (regions, serving endpoints), relative paths."""
        problems = []
        if isinstance(self.certificate, dict):
            for region in regions:
                if region not in self.certificate:
                    problems.append(f"certificate.{region}: required (one ACM certificate per stack region)")
            for region in self.certificate:
                if region not in regions:
                    problems.append(f"certificate.{region}: not a region of this stack")
        if endpoints is not None:
            for i, r in enumerate(self.routes or []):
                if r.endpoint and r.endpoint not in endpoints:
                    problems.append(f"routes[{i}].endpoint: no serving endpoint named {r.endpoint!r}")
        return problems

    def retention_days(self, production: bool) -> int:
        return self.log_retention_days or (365 if production else 30)


# -- serving (Triton endpoints) -----------------------------------------------------------
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"
# Pinned NGC release tag (yy.mm), optionally also pinned by digest; never `latest`.
TRITON_IMAGE_RE = re.compile(r"^nvcr\.io/nvidia/tritonserver:\d{2}\.\d{2}-py3(@sha256:[0-9a-f]{64})?$")
MODEL_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Triton model names become repository directories and URL path segments.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CanaryConfig(_Model):
    """A candidate version taking ``weight`` percent of the model's requests.

    Rollback: set ``weight: 0`` (the canary Deployment is removed, the block stays as a
    record) or delete the block. Promotion: copy version/digest to the model's own."""

    version: int = Field(ge=1, description="Triton version directory of the candidate.")
    digest: str = Field(description="sha256:<64 hex> content digest of that version (`aiplat models digest`).")
    weight: int = Field(ge=0, le=100, description="Percent of this model's requests; 0 = rolled back (not deployed).")

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        if not MODEL_DIGEST.match(v):
            raise ValueError(f"{v!r} is not sha256:<64 lowercase hex>")
        return v


class ServedModelConfig(_Model):
    """A model an endpoint serves, pinned to one version and its digest.

    The repository URI is derived, not configured: ``s3://<bucket>/<name>/v<version>``
    (``gs://`` on GCP) in the endpoint's bucket of each region; see components/triton.py."""

    name: str = Field(description="Triton model name (the repository directory).")
    version: int = Field(ge=1, description="Stable version (Triton version directory).")
    digest: str = Field(description="sha256:<64 hex> content digest of that version (`aiplat models digest`).")
    canary: CanaryConfig | None = Field(None, description="Candidate version and its traffic weight. Default: none.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(f"{v!r} is not a Triton model name (letters, digits, '_', '.', '-', max 64)")
        return v

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        if not MODEL_DIGEST.match(v):
            raise ValueError(f"{v!r} is not sha256:<64 lowercase hex>")
        return v

    @model_validator(mode="after")
    def _canary(self) -> "ServedModelConfig":
        if self.canary is not None and self.canary.version == self.version:
            raise _Nested([f"canary.version: {self.version} is already the stable version"])
        return self


class EndpointConfig(_Model):
    """A Triton endpoint: the models it serves, on which GPU pool, where, and how it scales."""

    name: DnsLabel = Field(description="Endpoint name (DNS label); namespace triton-<name>.")
    pool: str = Field(description="GPU pool name; must exist in every region the endpoint runs in.")
    regions: list[str] | None = Field(None, description="Regions to serve in. Default: every stack region.")
    min_replicas: int = Field(1, ge=1, description="Stable replicas at least. Default 1.")
    max_replicas: int = Field(
        2, ge=1, description="Stable replicas at most. Default 2. (max + canary) x gpus_per_replica <= pool GPUs."
    )
    gpus_per_replica: int = Field(1, ge=1, description="GPUs per Triton pod. Default 1; at most one node's GPUs.")
    queue_time_target_ms: float = Field(
        50.0, gt=0, description="KEDA scales out when mean queue time per request exceeds this. Default 50 ms."
    )
    image: str = Field(TRITON_IMAGE, description=f"Pinned tritonserver image. Default {TRITON_IMAGE}.")
    models: list[ServedModelConfig] = Field(min_length=1, description="At least one model.")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not TRITON_IMAGE_RE.match(v):
            raise ValueError(f"{v!r} must be a pinned nvcr.io/nvidia/tritonserver:<yy.mm>-py3 image")
        return v

    @model_validator(mode="after")
    def _shape(self) -> "EndpointConfig":
        problems = []
        if self.max_replicas < self.min_replicas:
            problems.append(f"max_replicas: {self.max_replicas} is below min_replicas {self.min_replicas}")
        names = [m.name for m in self.models]
        for i, m in enumerate(self.models):
            if names.count(m.name) > 1:
                problems.append(f"models[{i}].name: model {m.name!r} is listed twice")
        if problems:
            raise _Nested(problems)
        return self

    @property
    def canary_max_replicas(self) -> int:
        """Replicas the canary track may add at full scale (0 without an active canary)."""
        weights = [m.canary.weight for m in self.models if m.canary is not None and m.canary.weight > 0]
        return max(1, -(-self.max_replicas * max(weights) // 100)) if weights else 0

    def resolved_regions(self, stack_regions: list[str]) -> list[str]:
        return list(self.regions) if self.regions is not None else list(stack_regions)


class ServingConfig(_Model):
    """Triton endpoints per region; each endpoint owns a model bucket per region."""

    bucket_prefix: str | None = Field(
        None,
        description="Start of every model bucket name (S3/GCS names are global: use your org, e.g. acme-ml-prod). "
        "Bucket = <prefix>-<region>-<endpoint>. Default aiplat-<stack>.",
    )
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus KEDA queries for queue time. Default: prometheus-operator's Service in `monitoring`.",
    )
    endpoints: list[EndpointConfig] = Field(default_factory=list, description="Default: none.")

    @field_validator("bucket_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", v):
            raise ValueError(f"{v!r}: lowercase letters, digits and '-', 3-32 characters")
        return v

    @model_validator(mode="after")
    def _unique(self) -> "ServingConfig":
        names = [e.name for e in self.endpoints]
        problems = [f"endpoints[{i}].name: endpoint {n!r} is listed twice" for i, n in enumerate(names) if names.count(n) > 1]
        if problems:
            raise _Nested(problems)
        return self

    def region_problems(self, cloud: str | None, regions: list["RegionConfig"]) -> list[str]:
        """Pools per region and GPU capacity; paths relative to ``serving``."""
        from aiplat.catalog import gpu

        problems = []
        by_name = {r.name: r for r in regions}
        used: dict[tuple[str, str], list[tuple[int, int]]] = {}  # (region, pool) -> [(endpoint index, GPUs)]
        for i, ep in enumerate(self.endpoints):
            for j, rname in enumerate(ep.regions or []):
                if rname not in by_name:
                    problems.append(f"endpoints[{i}].regions[{j}]: {rname!r} is not a region of this stack")
            for rname in ep.resolved_regions(list(by_name)):
                region = by_name.get(rname)
                if region is None:
                    continue
                pool = next((p for p in region.gpu_pools if p.name == ep.pool), None)
                if pool is None:
                    have = ", ".join(p.name for p in region.gpu_pools) or "none"
                    problems.append(f"endpoints[{i}].pool: no GPU pool {ep.pool!r} in region {rname} (pools there: {have})")
                    continue
                itype = gpu.get_instance_type(cloud, pool.instance_type) if cloud in catalog.CLOUDS else None
                if itype is None:
                    continue  # reported on the pool itself
                if ep.gpus_per_replica > itype.gpus:
                    problems.append(
                        f"endpoints[{i}].gpus_per_replica: {ep.gpus_per_replica} GPUs do not fit one "
                        f"{pool.instance_type} node ({itype.gpus} GPUs) of pool {pool.name!r}"
                    )
                need = (ep.max_replicas + ep.canary_max_replicas) * ep.gpus_per_replica
                used.setdefault((rname, pool.name), []).append((i, need))
                cap = pool.max_nodes * itype.gpus
                if need > cap:
                    canary = f" + {ep.canary_max_replicas} canary" if ep.canary_max_replicas else ""
                    problems.append(
                        f"endpoints[{i}].max_replicas: ({ep.max_replicas}{canary}) replicas x {ep.gpus_per_replica} GPU "
                        f"= {need} GPUs exceed pool {pool.name!r} in {rname}: max_nodes {pool.max_nodes} x "
                        f"{itype.gpus} GPU = {cap}"
                    )
        for (rname, pname), users in used.items():
            total = sum(n for _, n in users)
            pool = next(p for p in by_name[rname].gpu_pools if p.name == pname)
            itype = gpu.get_instance_type(cloud, pool.instance_type)
            cap = pool.max_nodes * itype.gpus
            if len(users) > 1 and total > cap:
                names = ", ".join(self.endpoints[i].name for i, _ in users)
                problems.append(
                    f"endpoints[{users[-1][0]}].max_replicas: endpoints {names} together need {total} GPUs at full "
                    f"scale; pool {pname!r} in {rname} has {cap}"
                )
        return problems


class PlatformConfig(_Model):
    """The validated platform of one stack. Build it with ``PlatformConfig.from_raw``."""

    cloud: Cloud = Field(description="aws or gcp.")
    environment: Environment = Field(description="dev, test, staging or prod; drives production defaults.")
    tags: Tags
    data_classification: DataClassification = Field(description="Highest class of data the platform handles.")
    residency: ResidencyZone = Field(description="Where data may live: eu, us, uk, ch or global.")
    regions: list[RegionConfig] = Field(min_length=1, description="At least one region.")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="SLOs, alert channels, budgets. Default: the MonitoringConfig defaults."
    )
    gcp_project: str | None = Field(
        None, validate_default=True, description="GCP project id; required when cloud is gcp."
    )

    @field_validator("gcp_project")
    @classmethod
    def _gcp_project(cls, v: str | None, info: ValidationInfo) -> str | None:
        cloud = _ctx(info, "cloud")
        if cloud == "gcp" and not v:
            raise ValueError("required when cloud is gcp")
        if cloud == "gcp" and not re.match(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", v):
            raise ValueError(f"{v!r} is not a GCP project id")
        if cloud == "aws" and v:
            raise ValueError("only valid when cloud is gcp")
        return v
    vector_store: VectorStoreConfig | None = Field(
        None, description="Milvus for RAG per region and its collections. Default: none (no vector store)."
    )

    @field_validator("vector_store")
    @classmethod
    def _vector_store_regions(cls, v: VectorStoreConfig | None, info: ValidationInfo) -> VectorStoreConfig | None:
        # A field validator (regions are validated first), so this is reported alongside other mistakes.
        if v is not None and "regions" in info.data:
            problems = v.region_problems([r.name for r in info.data["regions"]])
            if problems:
                raise _Nested(problems)
        return v

    serving: ServingConfig | None = Field(
        None, description="Triton endpoints (models, GPU pool, regions, scaling). Default: none (no endpoints)."
    )

    @field_validator("serving")
    @classmethod
    def _serving_cross(cls, v: ServingConfig | None, info: ValidationInfo) -> ServingConfig | None:
        # A field validator (regions are validated first; declared before `gateway`, which
        # reads the endpoint names), so pool/capacity problems show up next to other mistakes.
        if v is not None and "regions" in info.data:
            problems = v.region_problems(_ctx(info, "cloud"), info.data["regions"])
            if problems:
                raise _Nested(problems)
        return v

    gateway: GatewayConfig | None = Field(
        None, description="API gateways per region + one global hostname. Default: none (no gateway)."
    )

    @field_validator("gateway")
    @classmethod
    def _gateway_cross(cls, v: GatewayConfig | None, info: ValidationInfo) -> GatewayConfig | None:
        # A field validator so these show up next to other mistakes (model validators run only if all fields pass).
        if v is None or "regions" not in info.data:
            return v
        serving = info.data.get("serving")
        endpoints = [e.name for e in serving.endpoints] if getattr(serving, "endpoints", None) is not None else None
        problems = v.route_problems([r.name for r in info.data["regions"]], endpoints)
        if problems:
            raise _Nested(problems)
        return v

    @model_validator(mode="after")
    def _cross(self) -> "PlatformConfig":
        problems = []
        names = [r.name for r in self.regions]
        for i, r in enumerate(self.regions):
            if names.count(r.name) > 1:
                problems.append(f"regions[{i}].name: region {r.name!r} is listed twice")
        nets = [r.network for r in self.regions]
        for i, a in enumerate(nets):
            for j in range(i):
                if a.overlaps(nets[j]):
                    problems.append(f"regions[{i}].cidr: {a} overlaps regions[{j}].cidr {nets[j]}")
        if problems:
            raise _Nested(problems)
        return self

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_raw(cls, raw: Any) -> "PlatformConfig":
        """Validate a raw mapping; raise one ConfigError listing every problem."""
        if not isinstance(raw, dict):
            raise ConfigError([Problem("", f"the platform config must be a mapping, got {type(raw).__name__}")])
        context = {"cloud": raw.get("cloud"), "residency": raw.get("residency")}
        try:
            return cls.model_validate(raw, context=context)
        except ValidationError as exc:
            raise ConfigError(_problems(exc)) from None

    # -- derived values the components use ---------------------------------------------
    @property
    def production(self) -> bool:
        return self.environment == "prod"

    @property
    def nat_mode(self) -> str:
        return self.network.nat or ("per_zone" if self.production else "single")

    @property
    def log_retention_days(self) -> int:
        return self.cluster.log_retention_days or (365 if self.production else 30)

    @property
    def release_channel(self) -> str:
        return self.cluster.release_channel or ("STABLE" if self.production else "REGULAR")

    @property
    def system_instance_type(self) -> str:
        return self.cluster.system_nodes.instance_type or ("m6i.large" if self.cloud == "aws" else "e2-standard-4")

    def standard_tags(self, stack: str) -> dict[str, str]:
        """The one source of tags/labels; keys and values are valid as GCP labels too."""
        return {
            "owner": self.tags.owner,
            "team": self.tags.team,
            "cost-center": self.tags.cost_center,
            "environment": self.environment,
            "stack": stack,
            "data-classification": self.data_classification,
            "managed-by": "aiplat",
            **self.tags.extra,
        }


def _problems(exc: ValidationError, prefix: tuple = ()) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Nested):
            for item in ctx_error.problems:
                sub, _, msg = item.partition(": ")
                base = format_path(loc)
                out.append(Problem(f"{base}.{sub}" if base else sub, msg))
            continue
        out.append(Problem(format_path(loc), _message(err)))
    return out


def _message(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see PlatformConfig)"
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        return f"{err['input']!r} is not one of {msg.split('Input should be ', 1)[-1]}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg
