"""``regions``: each region's network range, zones and GPU pools (stated as intent).

Checks that need the cloud or the residency zone read them from the validation context
``PlatformConfig.from_raw`` passes; checks across fields are rules (``aiplat.config._base``),
so a mistake in one region, pool or field does not hide one in another.
The subnet layout is derived here, deterministically (same CIDR, same subnets).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from aiplat import catalog
from aiplat.config._base import CLOUD_NAMES, DnsLabel, _ctx, _Model, known, not_empty, repeated, rule
from aiplat.errors import Problem
from aiplat.refs import reserved_problem


class GpuPoolConfig(_Model):
    """A GPU node pool stated as intent: what to run on, how much is reserved, the hard cap."""

    name: DnsLabel = Field(description="Pool name (DNS label), unique within the region.")
    instance_type: str = Field(description="Catalog instance/machine type, e.g. g6e.2xlarge or g2-standard-8.")
    reserved_nodes: int = Field(0, ge=0, description="Baseline held in capacity reservations. Default 0.")
    max_nodes: int = Field(ge=1, description="Hard cap on reserved + on-demand nodes.")
    spot_max_nodes: int = Field(0, ge=0, description="Optional spot tier on top of the cap. Default 0 (off).")
    commitment: Literal["1y", "3y"] = Field("1y", description="Term priced for reserved nodes. Default 1y.")
    zones: list[str] | None = Field(
        None,
        description="Subset of the region's zones. Default (key absent): all of them; an empty list is an error.")

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

    _zones_listed = field_validator("zones")(not_empty("omit zones for every zone of the region, or list them"))

    @rule
    def _caps(self, ctx):
        problem = reserved_problem(self.reserved_nodes, self.max_nodes)
        if problem:
            yield Problem("reserved_nodes", problem)

    @rule
    def _unique_zones(self, ctx):
        if self.zones is not None and len(set(self.zones)) != len(self.zones):
            yield Problem("zones", "must be unique")


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

    @rule
    def _unique_zones(self, ctx):
        if len(set(self.zones)) != len(self.zones):
            yield Problem("zones", "must be unique")

    @rule
    def _zones_of_region(self, ctx):
        cloud = ctx.get("cloud")
        if cloud not in catalog.CLOUDS or self.name not in catalog.regions(cloud):
            return
        lo, hi = (2, 6) if cloud == "aws" else (1, 4)
        if not lo <= len(self.zones) <= hi:
            yield Problem("zones", f"{CLOUD_NAMES[cloud]} needs {lo} to {hi} zones, got {len(self.zones)}")
        for i, z in enumerate(self.zones):
            if catalog.region_of_zone(cloud, z) != self.name:
                yield Problem(f"zones[{i}]", f"{z!r} is not a zone of {self.name}")

    @rule
    def _unique_pools(self, ctx):
        for i, name in repeated(self.gpu_pools, "name"):
            yield Problem(f"gpu_pools[{i}].name", f"duplicate pool name {name!r}")

    @rule
    def _pools_offered(self, ctx):
        from aiplat.catalog import gpu

        cloud = ctx.get("cloud")
        if cloud not in catalog.CLOUDS:
            return
        for i, p in known(self.gpu_pools, "instance_type"):
            if gpu.get_instance_type(cloud, p.instance_type) is not None:  # unknown types: a field problem
                problem = gpu.offering_problem(cloud, p.instance_type, self.name)
                if problem:
                    yield Problem(f"gpu_pools[{i}].instance_type", problem)

    @rule
    def _pool_zones_in_region(self, ctx):
        for i, p in known(self.gpu_pools, "zones"):
            for j, z in enumerate(p.zones or []):
                if z not in self.zones:
                    yield Problem(f"gpu_pools[{i}].zones[{j}]", f"{z!r} is not one of the region's zones")

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

