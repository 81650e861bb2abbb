"""PlatformConfig: the one typed contract of a stack, composed of its sections.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds the platform under the config key
``aiplat:platform``. ``PlatformConfig.from_raw`` validates it once and reports *every*
problem with its key path in a single ``ConfigError``, e.g.::

    regions[1].name: 'eu-central-9' is not an AWS region

Users state intent ("two regions, three zones, private endpoint"); the details (subnet
CIDRs, NAT layout, node sizes, log retention) are derived so that the components receive
resolved values and never guess. Checks that read another section (regions of the
serving endpoints, the gateway's endpoints, the vector store's regions) live here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Iterator, Literal

from pydantic import Field, ValidationInfo, field_validator

from aiplat import catalog
from aiplat.config._base import _ctx, _Model, known, repeated, rule, validate_all
from aiplat.config.cluster import ClusterConfig
from aiplat.config.deploy import DeployConfig
from aiplat.config.deployer import DeployerConfig
from aiplat.config.gateway import GatewayConfig
from aiplat.config.monitoring import MonitoringConfig
from aiplat.config.network import NetworkConfig
from aiplat.config.regions import RegionConfig
from aiplat.config.serving import ServingConfig
from aiplat.config.tags import Tags
from aiplat.config.vector_store import VectorStoreConfig
from aiplat.errors import ConfigError, Problem
from aiplat.refs import S3_OBJECT_MAX_TAGS, is_model_store_uri

Cloud = Literal["aws", "gcp"]
Environment = Literal["dev", "test", "staging", "prod"]
DataClassification = Literal["public", "internal", "confidential", "restricted"]
ResidencyZone = Literal["eu", "us", "uk", "ch", "global"]


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
    deployer: DeployerConfig | None = Field(
        None, description="Where `pulumi up` reaches each cluster's API from (aiplat.config.deployer). Required in "
                          "effect: a public endpoint checks deployer.cidrs, a private one needs deployer.network.")
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
    serving: ServingConfig | None = Field(
        None, description="Triton endpoints (models, GPU pool, regions, scaling). Default: none (no endpoints)."
    )
    gateway: GatewayConfig | None = Field(
        None, description="API gateways per region + one global hostname. Default: none (no gateway)."
    )
    deploy: DeployConfig = Field(
        default_factory=DeployConfig,
        description="What the clusters have before the first up (the deploy analysis's prerequisites). Default none.",
    )

    # -- rules across sections (each runs on whatever validated; see aiplat.config._base) --
    @rule
    def _regions_distinct(self, ctx):
        for i, name in repeated(self.regions, "name"):
            yield Problem(f"regions[{i}].name", f"region {name!r} is listed twice")

    @rule
    def _cidrs_disjoint(self, ctx):
        nets = [(i, r.network) for i, r in known(self.regions, "cidr")]
        for n, (i, a) in enumerate(nets):
            for j, b in nets[:n]:
                if a.overlaps(b):
                    yield Problem(f"regions[{i}].cidr", f"{a} overlaps regions[{j}].cidr {b}")

    @rule
    def _deployer_reaches_clusters(self, ctx):
        """The stack says how `up` reaches every cluster API: a public endpoint admitting the deployer's
        addresses, or a private one with a declared runner network (aiplat.config.deployer)."""
        cluster, deployer = self.cluster, self.deployer
        public = cluster.endpoint_public_access
        if public:
            if deployer is None or not deployer.cidrs:
                yield Problem("deployer.cidrs", "required when cluster.endpoint_public_access is true: the runner's "
                                                "egress addresses the endpoint's allow-list must admit")
                return
            allowed = [ipaddress.IPv4Network(c) for c in cluster.public_access_cidrs]
            if not allowed:
                return  # the cluster's own rule: public_access_cidrs is required
            for i, net in enumerate(deployer.networks):
                if not any(net.subnet_of(a) for a in allowed):
                    yield Problem("cluster.public_access_cidrs",
                                  f"does not include deployer.cidrs[{i}] {net}: the deployer could not reach the "
                                  "public API endpoint; add it (or a range holding it)")
        elif deployer is None or deployer.network is None:
            yield Problem("cluster.endpoint_public_access",
                          "false (private endpoint only) and no deployer.network: nothing the program creates "
                          "lets the deployer reach the API; declare deployer.network (a runner network the program "
                          "peers with each cluster) or set endpoint_public_access: true with public_access_cidrs "
                          "including deployer.cidrs")
            yield Problem("deployer.network", "required when cluster.endpoint_public_access is false (private "
                                              "endpoint only): the runner network the deployer reaches the API from")

    @rule
    def _deployer_network_disjoint(self, ctx):
        if self.deployer is None or self.deployer.network is None:
            return
        runner = self.deployer.network.ip_network
        for i, r in known(self.regions, "cidr"):
            if runner.overlaps(r.network):
                yield Problem("deployer.network.cidr", f"{runner} overlaps regions[{i}].cidr {r.network}: peered "
                                                       "networks need disjoint ranges")

    @rule
    def _system_nodes_offered(self, ctx):
        # The system pool runs in every region of the stack: its type must be offered in each.
        from aiplat.catalog import instances
        from aiplat.config.cluster import SYSTEM_NODE_TYPES

        cloud = ctx.get("cloud")
        if cloud not in SYSTEM_NODE_TYPES:
            return
        itype = self.cluster.system_nodes.instance_type or SYSTEM_NODE_TYPES[cloud]
        spec = instances.get(cloud, itype)
        if spec is None:  # an unknown type: the field's own problem
            return
        for i, r in known(self.regions, "name"):
            if r.name in catalog.regions(cloud) and not spec.offered_in(r.name):
                yield Problem("cluster.system_nodes.instance_type", f"{itype} is not offered in regions[{i}] "
                                                                    f"{r.name} (instance catalog)")

    @rule
    def _vector_store_regions(self, ctx):
        if self.vector_store is not None:
            yield from _under("vector_store", self.vector_store.region_problems(self._region_names()))

    @rule
    def _vector_store_nodes(self, ctx):
        store, cloud = self.vector_store, ctx.get("cloud")
        if store is not None and store.enabled and cloud is not None:
            mode = store.resolved_mode(self.environment)
            yield from _under("vector_store", store.node_problems(mode, cloud, self.regions))

    @rule
    def _serving_pools(self, ctx):
        if self.serving is not None:
            yield from _under("serving", self.serving.region_problems(ctx.get("cloud"), self.regions))

    @rule
    def _published_object_tags(self, ctx):
        # Every published model file is an S3 object carrying the stack's tags; S3 keeps 10 per object.
        serving = self.serving
        if ctx.get("cloud") != "aws" or serving is None or not serving.endpoints:
            return
        if serving.model_repository is None or is_model_store_uri(serving.model_repository):
            return
        n = len(self.standard_tags("stack"))
        if n > S3_OBJECT_MAX_TAGS:
            yield Problem("tags.extra", f"the stack has {n} tags; S3 keeps at most {S3_OBJECT_MAX_TAGS} per object and "
                                        f"every published model file carries them: drop {n - S3_OBJECT_MAX_TAGS} of "
                                        "tags.extra")

    @rule
    def _gateway_certificates(self, ctx):
        if self.gateway is not None:
            yield from _under("gateway", self.gateway.certificate_problems(self._region_names()))

    @rule
    def _gateway_routes(self, ctx):
        if self.gateway is not None:
            served = self.serving.served() if self.serving is not None else {}
            yield from _under("gateway", self.gateway.route_problems(served))

    def _region_names(self) -> list[str]:
        """Every region's name (raises Unknown when one failed: "not a stack region" needs them all)."""
        return [r.name for r in self.regions]

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_raw(cls, raw: Any) -> "PlatformConfig":
        """Validate a raw mapping; raise one ConfigError listing every problem (see ``validate_all``)."""
        if not isinstance(raw, dict):
            raise ConfigError([Problem("", f"the platform config must be a mapping, got {type(raw).__name__}")])
        # The cloud and residency zone every section's checks read; unusable values are
        # reported on their own keys and judge nothing else.
        cloud = raw.get("cloud") if raw.get("cloud") in catalog.CLOUDS else None
        zone = raw.get("residency")
        zone = zone if isinstance(zone, str) and zone in catalog.residency_zones() else None
        return validate_all(cls, raw, {"cloud": cloud, "residency": zone})

    # -- derived values the components use ---------------------------------------------
    @property
    def production(self) -> bool:
        return self.environment == "prod"

    @property
    def protect_state(self) -> bool:
        """Stateful resources (keys, clusters) are protected from deletion: prod, and staging,
        which is enforced like prod; dev is rebuilt on purpose."""
        return self.environment in ("prod", "staging")

    @property
    def nat_mode(self) -> str:
        return self.network.nat or ("per_zone" if self.production else "single")

    @property
    def log_retention_days(self) -> int:
        return self.cluster.log_retention_days or (365 if self.production else 30)

    @property
    def release_channel(self) -> str:
        if self.cluster.release_channel:
            return self.cluster.release_channel
        if self.cluster.extended_support:
            return "EXTENDED"
        return "STABLE" if self.production else "REGULAR"

    @property
    def kubernetes_version(self) -> str:
        return self.cluster.resolved_kubernetes_version(self.cloud)

    @property
    def system_instance_type(self) -> str:
        from aiplat.config.cluster import SYSTEM_NODE_TYPES

        return self.cluster.system_nodes.instance_type or SYSTEM_NODE_TYPES[self.cloud]

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


def _under(section: str, problems: Iterable[Problem]) -> Iterator[Problem]:
    for p in problems:
        yield Problem(f"{section}.{p.path}" if p.path else section, p.message)
