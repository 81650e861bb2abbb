"""``cluster``: the Kubernetes control plane and its system node group (the same shape on EKS and GKE)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from aiplat.config._base import _Model, _retention, rule
from aiplat.errors import Problem

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34")


class SystemNodesConfig(_Model):
    instance_type: str | None = Field(None, description="Default: m6i.large (AWS), e2-standard-4 (GCP).")
    min_nodes: int = Field(2, ge=1, description="Default 2, so add-ons survive a node loss.")
    max_nodes: int = Field(4, ge=1, description="Default 4.")

    @rule
    def _range(self, ctx):
        if self.min_nodes > self.max_nodes:
            yield Problem("", f"min_nodes {self.min_nodes} exceeds max_nodes {self.max_nodes}")


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

    _retention = field_validator("log_retention_days")(_retention)

    @rule
    def _public(self, ctx):
        if self.endpoint_public_access and not self.public_access_cidrs:
            yield Problem("public_access_cidrs", "required when endpoint_public_access is true")

