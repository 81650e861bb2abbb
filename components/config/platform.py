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

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from aiplat.config._base import _ctx, _Model, _Nested, problems_of
from aiplat.config.cluster import ClusterConfig
from aiplat.config.gateway import GatewayConfig
from aiplat.config.monitoring import MonitoringConfig
from aiplat.config.network import NetworkConfig
from aiplat.config.regions import RegionConfig
from aiplat.config.serving import ServingConfig
from aiplat.config.tags import Tags
from aiplat.config.vector_store import VectorStoreConfig
from aiplat.errors import ConfigError, Problem

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
            raise ConfigError(problems_of(exc)) from None

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

