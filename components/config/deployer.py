"""``deployer``: where the machine that runs ``pulumi up`` reaches each cluster's API from.

The Kubernetes resources of a stack are created by the deployer talking to the cluster API
in the same ``up`` that creates the cluster, so the stack must say how that works:

* **public endpoint** (``cluster.endpoint_public_access: true``): the endpoint's allow-list
  ``cluster.public_access_cidrs`` must include every ``deployer.cidrs`` entry (the runner's
  public egress addresses). The allow-list is never defaulted: it is the security decision
  of the stack and stays written in the stack file (the existing rule "required when
  endpoint_public_access is true" holds); ``deployer.cidrs`` is what it is checked against.
* **private endpoint** (the default): ``deployer.network`` names the runner network; the
  program peers it with every cluster network and opens the API to its CIDR (AWS: VPC
  peering, routes in the cluster VPC's private route tables, TCP 443 on the EKS cluster
  security group; GCP: network peering and master authorized networks). What the runner's
  own side needs (routes back, accepting a cross-account peering, GCP's reverse peering) is
  outside the program (README "First deploy").

Rules that compare with the cluster and the regions live in ``PlatformConfig``.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, ValidationInfo, field_validator

from aiplat import catalog
from aiplat.config._base import _ctx, _Model, if_known, rule
from aiplat.errors import Problem

AWS_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
AWS_ROUTE_TABLE_ID = re.compile(r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$")
AWS_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
GCP_NETWORK = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _network(v: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(v, strict=True)
    except ValueError as exc:
        raise ValueError(f"{v!r} is not an IPv4 network: {exc}") from None


def _only_on(cloud: str, v, info: ValidationInfo):
    actual = _ctx(info, "cloud")
    if v is not None and actual is not None and actual != cloud:
        raise ValueError(f"only valid when cloud is {cloud}")
    return v


class DeployerNetworkConfig(_Model):
    """The runner network (private-endpoint path): peered with each cluster network."""

    cidr: str = Field(description="IPv4 range of the runner network; must not overlap any region's cidr.")
    aws_vpc_id: str | None = Field(None, description="AWS: the runner VPC (vpc-...); required on aws.")
    aws_account_id: str | None = Field(
        None, description="AWS: the runner VPC's account, when it is not the stack's account (then the peering "
                          "is accepted in that account, outside the program). Default: the stack's account.")
    aws_region: str | None = Field(None, description="AWS: the runner VPC's region; required on aws.")
    aws_route_table_ids: list[str] = Field(
        default_factory=list,
        description="AWS, runner in the stack's account: the runner VPC's route tables the program adds a route to "
                    "each cluster VPC in (over the peering), so the first up needs no hand-made route. Default: "
                    "none (add those routes yourself, README \"First deploy\").")
    gcp_network: str | None = Field(
        None, description="GCP: the runner VPC network, projects/<project>/global/networks/<name>; required on gcp.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        net = _network(v)
        if not net.is_private:
            raise ValueError(f"{v} is not a private (RFC 1918) range: VPC peering routes private ranges")
        return v

    @field_validator("aws_vpc_id")
    @classmethod
    def _vpc(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not AWS_VPC_ID.match(v):
            raise ValueError(f"{v!r} is not a VPC id (vpc- and 8 or 17 hex digits)")
        return _only_on("aws", v, info)

    @field_validator("aws_account_id")
    @classmethod
    def _account(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not AWS_ACCOUNT_ID.match(v):
            raise ValueError(f"{v!r} is not an AWS account id (12 digits, quoted)")
        return _only_on("aws", v, info)

    @field_validator("aws_region")
    @classmethod
    def _region(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and v not in catalog.regions("aws"):
            raise ValueError(f"{v!r} is not an AWS region")
        return _only_on("aws", v, info)

    @field_validator("aws_route_table_ids")
    @classmethod
    def _route_tables(cls, v: list[str], info: ValidationInfo) -> list[str]:
        bad = [t for t in v if not AWS_ROUTE_TABLE_ID.match(t)]
        if bad:
            raise ValueError(f"not route table ids (rtb- and 8 or 17 hex digits): {', '.join(map(repr, bad))}")
        return _only_on("aws", v or None, info) or []

    @field_validator("gcp_network")
    @classmethod
    def _gcp_network(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not GCP_NETWORK.match(v):
            raise ValueError(f"{v!r} is not a network path projects/<project>/global/networks/<name>")
        return _only_on("gcp", v, info)

    @rule
    def _per_cloud(self, ctx):
        cloud = ctx.get("cloud")
        required = {"aws": ("aws_vpc_id", "aws_region"), "gcp": ("gcp_network",)}.get(cloud, ())
        for key in required:
            with if_known():  # one key that failed validation skips only itself
                if getattr(self, key) is None:
                    yield Problem(key, f"required on {cloud}: the program peers each cluster network with the "
                                       "runner network")

    @rule
    def _routes_in_own_account(self, ctx):
        if self.aws_route_table_ids and self.aws_account_id is not None:
            yield Problem("aws_route_table_ids", "only for a runner VPC in the stack's account (aws_account_id is "
                                                 "set): another account adds its routes itself")

    @property
    def ip_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def same_account(self) -> bool:
        return self.aws_account_id is None


class DeployerConfig(_Model):
    """How the deployer (the machine running ``pulumi up``) reaches each cluster's API."""

    cidrs: list[str] = Field(
        default_factory=list,
        description="The runner's public egress addresses (public-endpoint path); every entry must be in "
                    "cluster.public_access_cidrs when the endpoint is public. Default: none.")
    network: DeployerNetworkConfig | None = Field(
        None, description="The runner network (private-endpoint path). Default: none; required when the cluster "
                          "endpoint is private.")

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        from aiplat.config._base import raise_problems

        problems = []
        for i, c in enumerate(v):
            try:
                net = _network(c)
            except ValueError as exc:
                problems.append(Problem(f"[{i}]", str(exc)))
                continue
            if net.prefixlen == 0:
                problems.append(Problem(f"[{i}]", f"{c} is every address, not the runner's egress addresses"))
        raise_problems("cidrs", problems)
        return v

    @property
    def networks(self) -> list[ipaddress.IPv4Network]:
        return [ipaddress.IPv4Network(c) for c in self.cidrs]
