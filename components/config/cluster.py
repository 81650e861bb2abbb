"""``cluster``: the Kubernetes control plane and its system node group (the same shape on EKS and GKE)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from aiplat.catalog import kubernetes
from aiplat.config._base import _Model, _retention, rule
from aiplat.errors import Problem

CLOUD_NAMES = {"aws": "EKS", "gcp": "GKE"}


SYSTEM_NODE_TYPES = {"aws": "m6i.large", "gcp": "e2-standard-4"}
# The system pool runs the add-ons (CoreDNS, the load-balancer and autoscaler controllers,
# monitoring, the Milvus operator): a fixed set of Deployments with 2-3 replicas each, none of
# which scales with inference traffic (Triton and Milvus run on their own pools). The shipped
# prod stacks cap it at 6; 20 is three times that. A larger cap is a slip (an extra zero) or
# load placed on the wrong pool, and the autoscaler would buy it: refused, not priced.
SYSTEM_NODES_MAX = 20


class SystemNodesConfig(_Model):
    instance_type: str | None = Field(
        None, description="Default: m6i.large (AWS), e2-standard-4 (GCP). A type of components/catalog/machines.yaml "
                          "whose allocatable holds the largest pod the platform runs there (500m CPU / 512Mi).")
    min_nodes: int = Field(2, ge=1, description="Default 2, so add-ons survive a node loss.")
    max_nodes: int = Field(4, ge=1,
                           description=f"Default 4; at most {SYSTEM_NODES_MAX} (the pool runs only the add-ons).")

    @field_validator("min_nodes", "max_nodes")
    @classmethod
    def _bounded(cls, v: int) -> int:
        if v > SYSTEM_NODES_MAX:
            raise ValueError(f"{v} nodes; the system pool runs only the add-ons (a fixed set of 2-3 replica "
                             f"Deployments, not the inference load): at most {SYSTEM_NODES_MAX}")
        return v

    @rule
    def _range(self, ctx):
        if self.min_nodes > self.max_nodes:
            yield Problem("", f"min_nodes {self.min_nodes} exceeds max_nodes {self.max_nodes}")

    @rule
    def _fits(self, ctx):
        from aiplat.catalog import instances
        from aiplat.refs import SYSTEM_POD_MAX_REQUEST, cpu_millicores, format_cpu, format_memory, memory_mib

        cloud = ctx.get("cloud")
        if cloud not in CLOUD_NAMES or self.instance_type is None:
            return
        spec = instances.get(cloud, self.instance_type)
        if spec is None:
            known_types = ", ".join(t.name for t in instances.machine_types(cloud) if not t.gpus)
            yield Problem("instance_type", f"{self.instance_type!r} is not {'an AWS' if cloud == 'aws' else 'a GCP'} type of the instance "
                                           f"catalog (components/catalog/machines.yaml: {known_types})")
            return
        if spec.gpus:
            known_types = ", ".join(t.name for t in instances.machine_types(cloud) if not t.gpus)
            yield Problem("instance_type", f"{self.instance_type!r} is a GPU type ({spec.gpus} x {spec.gpu_model}); the "
                                           f"system nodes run only the add-ons: use a general-purpose type ({known_types})")
            return
        cpu, mem = (cpu_millicores(SYSTEM_POD_MAX_REQUEST[0]), memory_mib(SYSTEM_POD_MAX_REQUEST[1]))
        alloc = spec.allocatable()
        if alloc.cpu_millicores < cpu or alloc.memory_mib < mem:
            yield Problem("instance_type", f"one {self.instance_type} node has {format_cpu(alloc.cpu_millicores)} CPU / "
                                           f"{format_memory(alloc.memory_mib)} allocatable; the system nodes run pods "
                                           f"of up to {format_cpu(cpu)} CPU / {format_memory(mem)}")


class ClusterConfig(_Model):
    kubernetes_version: str | None = Field(
        None,
        description="Minor version of the control plane, from components/catalog/kubernetes.yaml. Default: the "
                    "newest version in standard support on the catalog's date. A version in extended support "
                    "needs extended_support: true; one past extended support is refused.",
    )
    extended_support: bool = Field(
        False,
        description="Allow a version in extended support (paid: EKS 0.60 instead of 0.10 USD per cluster hour; "
                    "GKE needs release_channel EXTENDED). Default false: EKS clusters are set to upgrade at the "
                    "end of standard support instead of entering extended support.",
    )
    endpoint_public_access: bool = Field(False, description="Public API endpoint. Default false (private only).")
    public_access_cidrs: list[str] = Field(
        default_factory=list, description="Allow-list for the public endpoint; required when it is on."
    )
    system_nodes: SystemNodesConfig = Field(default_factory=SystemNodesConfig)
    log_retention_days: int | None = Field(None, description="Control-plane logs. Default: 365 in prod, 30 elsewhere.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] | None = Field(
        None, description="GKE only. Default: STABLE in prod, REGULAR elsewhere (EXTENDED with extended_support)."
    )

    @rule
    def _version(self, ctx):
        cloud = ctx.get("cloud")
        if cloud not in CLOUD_NAMES or self.kubernetes_version is None:
            return
        v, known = self.kubernetes_version, kubernetes.versions(cloud)
        period = kubernetes.support(cloud, v)
        on = kubernetes.catalog_date().isoformat()
        standard = ", ".join(kubernetes.in_standard_support(cloud)) or "none"
        if period is None:
            yield Problem("kubernetes_version", f"{v!r} is not a known {CLOUD_NAMES[cloud]} version in the catalog "
                                                f"({', '.join(known)}; in standard support on {on}: {standard})")
        elif period in ("unreleased", "ended"):
            what = "not released yet" if period == "unreleased" else "past the end of extended support"
            yield Problem("kubernetes_version", f"{v} is {what} on {CLOUD_NAMES[cloud]} on {on}; use {standard}")
        elif period == "extended" and not self.extended_support:
            end = known[v].standard_support_end.isoformat()
            yield Problem("kubernetes_version", f"{v} left standard support on {CLOUD_NAMES[cloud]} on {end} and is "
                                                f"in paid extended support; upgrade to {standard} or set "
                                                "cluster.extended_support: true")
        if cloud == "gcp" and self.extended_support and self.release_channel not in (None, "EXTENDED"):
            yield Problem("release_channel", "extended support on GKE is the EXTENDED channel; set it or drop "
                                             "extended_support")

    def resolved_kubernetes_version(self, cloud: str) -> str:
        """The configured version, else the newest in standard support on the catalog's date."""
        if self.kubernetes_version:
            return self.kubernetes_version
        return max(kubernetes.in_standard_support(cloud), key=lambda v: tuple(int(x) for x in v.split(".")))

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

