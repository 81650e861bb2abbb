"""AiPlatform: everything one stack runs, composed from a validated PlatformConfig.

Per region: a provider pinned to that region, a Network, a Cluster (with its Kubernetes
provider), then the in-cluster and regional components that build on it. Across
regions: global routing and stack-wide monitoring. The component takes the *validated*
config, so by the time the first child is registered every input is known to be good.

Naming: the component is named after the stack; each region's components are named
``<stack>-<region>`` and their children ``<stack>-<region>-<role>``, so the same config
always yields the same graph (stable URNs across runs and machines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.cluster import Cluster, ClusterArgs
from components.config import PlatformConfig, RegionConfig
from components.network import Network, NetworkArgs


@dataclass
class Region:
    """What a region's later components build on."""

    config: RegionConfig
    name: str
    provider: pulumi.ProviderResource
    network: Network
    cluster: Cluster
    outputs: dict[str, Any] = field(default_factory=dict)


class AiPlatform(pulumi.ComponentResource):
    """The platform of one stack. ``regions`` maps region name -> ``Region``."""

    def __init__(
        self,
        name: str,
        config: PlatformConfig,
        stack: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("aiplat:platform:AiPlatform", name, None, opts)
        self.config = config
        self.stack = stack or pulumi.get_stack()
        self.tags = config.standard_tags(self.stack)
        self.regions: dict[str, Region] = {}
        for region in config.regions:
            self.regions[region.name] = self._build_region(region)
        self._build_global()
        self.register_outputs({"regions": {r: reg.outputs for r, reg in self.regions.items()}})

    # -- per region ------------------------------------------------------------------
    def _build_region(self, rc: RegionConfig) -> Region:
        cfg, prefix = self.config, f"{self._name}-{rc.name}"
        provider = self._region_provider(rc.name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        cluster_name = _cluster_name(self.stack, rc.name)
        network = Network(
            prefix,
            NetworkArgs(
                cloud=cfg.cloud,
                region=rc.name,
                cidr=rc.cidr,
                zones=list(rc.zones),
                private_subnets=rc.private_subnets(),
                public_subnets=rc.public_subnets(),
                nat=cfg.nat_mode,
                cluster_name=cluster_name,
                gcp_ranges=rc.gcp_ranges() if cfg.cloud == "gcp" else {},
                tags=self.tags,
            ),
            opts,
        )
        gcp_ranges = rc.gcp_ranges() if cfg.cloud == "gcp" else {}
        cluster = Cluster(
            prefix,
            ClusterArgs(
                cloud=cfg.cloud,
                region=rc.name,
                cluster_name=cluster_name,
                kubernetes_version=cfg.cluster.kubernetes_version,
                zones=list(rc.zones),
                subnet_ids=network.private_subnet_ids,
                network=network.network,
                subnetwork=network.subnetwork,
                pods_range=network.pods_range,
                services_range=network.services_range,
                master_cidr=gcp_ranges.get("master"),
                gcp_project=cfg.gcp_project,
                release_channel=cfg.release_channel,
                endpoint_public_access=cfg.cluster.endpoint_public_access,
                public_access_cidrs=list(cfg.cluster.public_access_cidrs),
                system_instance_type=cfg.system_instance_type,
                system_min_nodes=cfg.cluster.system_nodes.min_nodes,
                system_max_nodes=cfg.cluster.system_nodes.max_nodes,
                log_retention_days=cfg.log_retention_days,
                deletion_protection=cfg.production,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[network]),
        )
        region = Region(rc, rc.name, provider, network, cluster)
        region.outputs.update(
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            vpc_id=network.vpc_id if cfg.cloud == "aws" else network.network,
        )
        # Per-region components that build on the cluster are added below, in dependency
        # order: GPU pools -> Triton endpoints -> vector store -> gateway. Each takes its
        # own typed args and `pulumi.ResourceOptions(parent=self, provider=provider)`.
        return region

    def _build_global(self) -> None:
        # Stack-wide components (global routing, budgets, cloud alarms) are added here.
        pass

    def _region_provider(self, region: str) -> pulumi.ProviderResource:
        if self.config.cloud == "aws":
            return aws.Provider(f"{self._name}-{region}", region=region, opts=pulumi.ResourceOptions(parent=self))
        return gcp.Provider(
            f"{self._name}-{region}",
            project=self.config.gcp_project,
            region=region,
            default_labels={k.lower(): v for k, v in self.tags.items()},
            opts=pulumi.ResourceOptions(parent=self),
        )


def _cluster_name(stack: str, region: str) -> str:
    """'aiplat-prod-us-east-1': readable, unique per stack and region, valid on both clouds."""
    from components.cluster import short_id

    return short_id(f"aiplat-{stack}-{region}", 40)
