"""AiPlatform: everything one stack runs, composed from a validated PlatformConfig.

Per region: a provider pinned to that region, a Network, a Cluster (with its Kubernetes
provider), then the in-cluster and regional components that build on it. Across
regions: global routing and stack-wide monitoring. The component takes the *validated*
config, so by the time the first child is registered every input is known to be good;
what the config alone cannot say (that ``serving.model_repository`` holds the served
versions with the stated digests: files, read from the program's working directory) is
checked here before anything is registered, with the stack's key paths.

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

import dataclasses

from aiplat.access_logs import AccessLogs, AccessLogsArgs
from aiplat.addons import ClusterAddons, ClusterAddonsArgs
from aiplat.cluster import Cluster, ClusterArgs
from aiplat.config import PlatformConfig, RegionConfig
from aiplat.gateway import ApiGateway, ApiGatewayArgs, GlobalRouting, GlobalRoutingArgs
from aiplat.gateway import endpoint_target, endpoints_service_name
from aiplat.gpu_pool import GpuAddons, GpuAddonsArgs, GpuPool, GpuPoolArgs
from aiplat.monitoring import (
    ROUTE53_REGION,
    Monitoring,
    MonitoringArgs,
    StackMonitoring,
    StackMonitoringArgs,
    pool_prices,
    queue_sizes,
    region_rule_groups,
)
from aiplat.network import DeployerPeer, Network, NetworkArgs
from aiplat.project_apis import ProjectApis, ProjectApisArgs
from aiplat.errors import ConfigError
from aiplat.triton import TritonEndpoint
from aiplat.triton import args_from_config as triton_args_from_config
from aiplat.triton import source_problems_of
from aiplat.vector_store import VectorStore
from aiplat.vector_store import args_from_config as vector_args_from_config


@dataclass
class Region:
    """What a region's later components build on."""

    config: RegionConfig
    name: str
    provider: pulumi.ProviderResource
    network: Network
    cluster: Cluster
    addons: ClusterAddons
    """The cluster's controllers (KEDA, CRDs, AWS LB controller, EBS CSI): what custom resources
    and volumes wait for (``addons.installers``)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    gpu_pools: dict[str, GpuPool] = field(default_factory=dict)
    """Pool name -> GpuPool (node_selector, tolerations, max_gpus, ... for Triton)."""
    endpoints: dict[str, TritonEndpoint] = field(default_factory=dict)
    """Endpoint name -> TritonEndpoint serving in this region (built after the GPU pools)."""
    gateway: ApiGateway | None = None
    monitoring: Monitoring | None = None
    """The cluster's monitoring (Prometheus, rules, dashboards, AWS gateway alarms)."""
    logs: AccessLogs | None = None
    """The region's log bucket: its buckets' and load balancers' access logs go there."""


class AiPlatform(pulumi.ComponentResource):
    """The platform of one stack. ``regions`` maps region name -> ``Region``."""

    def __init__(
        self,
        name: str,
        config: PlatformConfig,
        stack: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        problems = source_problems_of(config)  # every model file problem, before the first resource
        if problems:
            raise ConfigError(problems)
        # GCP: every resource below waits for the project APIs (and service agents) it needs,
        # enabled by ProjectApis as the resources register (aiplat.project_apis).
        hook = _ApisHook()
        if config.cloud == "gcp":
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[hook]))
        super().__init__("aiplat:platform:AiPlatform", name, None, opts)
        self.config = config
        self.stack = stack or pulumi.get_stack()
        self.tags = config.standard_tags(self.stack)
        self.regions: dict[str, Region] = {}
        self._providers = {r.name: self._region_provider(r.name) for r in config.regions}
        self.apis: ProjectApis | None = None
        if config.cloud == "gcp":
            self.apis = ProjectApis(
                f"{name}-apis", ProjectApisArgs(project=config.gcp_project),
                # project-level: the first region's provider (project, default labels) will do
                pulumi.ResourceOptions(parent=self, provider=self._providers[config.regions[0].name]))
            hook.apis = self.apis
        for region in config.regions:
            self.regions[region.name] = self._build_region(region)
        self._build_global()
        if self.apis is not None:
            self.apis.finish()
        self.register_outputs({"regions": {r: reg.outputs for r, reg in self.regions.items()}})

    # -- per region ------------------------------------------------------------------
    def _build_region(self, rc: RegionConfig) -> Region:
        cfg, prefix = self.config, f"{self._name}-{rc.name}"
        provider = self._providers[rc.name]
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        cluster_name = _cluster_name(self.stack, rc.name)
        peer = self._deployer_peer()
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
                deployer=peer,
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
                kubernetes_version=cfg.kubernetes_version,
                extended_support=cfg.cluster.extended_support,
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
                deployer_cidr=peer.cidr if peer else None,
                deployer_path=list(network.deployer_path),
                system_instance_type=cfg.system_instance_type,
                system_min_nodes=cfg.cluster.system_nodes.min_nodes,
                system_max_nodes=cfg.cluster.system_nodes.max_nodes,
                log_retention_days=cfg.log_retention_days,
                deletion_protection=cfg.protect_state,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[network]),
        )
        addons = ClusterAddons(
            f"{prefix}-addons",
            ClusterAddonsArgs(
                cloud=cfg.cloud,
                region=rc.name,
                stack=self.stack,
                cluster_name=cluster_name,
                kube_provider=cluster.kube_provider,
                cluster=cluster.name if cfg.cloud == "aws" else None,
                system_nodes=[cluster.system_nodes],
                vpc_id=network.vpc_id if cfg.cloud == "aws" else None,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                gcp_project=cfg.gcp_project,
                network=network.network if cfg.cloud == "gcp" else None,
                master_cidr=gcp_ranges.get("master"),
                node_service_account=cluster.node_service_account,
                production=cfg.production,
                protect=cfg.protect_state,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[cluster]),
        )
        region = Region(rc, rc.name, provider, network, cluster, addons)
        from aiplat.triton import bucket_name

        region.logs = AccessLogs(
            f"{prefix}-access",
            AccessLogsArgs(cloud=cfg.cloud, region=rc.name,
                           bucket_name=bucket_name(f"aiplat-{self.stack}", rc.name, "access-logs"),
                           gcp_project=cfg.gcp_project, tags=self.tags),
            opts,
        )
        region.outputs.update(
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            vpc_id=network.vpc_id if cfg.cloud == "aws" else network.network,
        )
        # Per-region components that build on the cluster are added below, in dependency
        # order: GPU pools -> Triton endpoints -> vector store -> gateway. Each takes its
        # own typed args and `pulumi.ResourceOptions(parent=self, provider=provider)`; the
        # custom resources and storage classes among their children wait for their installer
        # in `addons.installers`.
        self._build_gpu_pools(region)
        self._build_endpoints(region)
        self._build_vector_store(region)
        self._build_gateway(region)  # routes to everything above
        self._build_monitoring(region)  # watches everything above (gateway alarms need its API)
        return region

    def _build_gpu_pools(self, region: Region) -> None:
        """The region's GPU pools, then the cluster's GPU add-ons once (autoscaler, DCGM)."""
        cfg, rc, cluster = self.config, region.config, region.cluster
        if not rc.gpu_pools:
            return
        prefix = f"{self._name}-{rc.name}"
        cluster_name = _cluster_name(self.stack, rc.name)
        subnets = dict(zip(rc.zones, region.network.private_subnet_ids)) if cfg.cloud == "aws" else {}
        opts = pulumi.ResourceOptions(parent=self, provider=region.provider, depends_on=[cluster])
        for pc in rc.gpu_pools:
            region.gpu_pools[pc.name] = GpuPool(
                f"{prefix}-{pc.name}",
                GpuPoolArgs(
                    cloud=cfg.cloud,
                    region=rc.name,
                    pool=pc.name,
                    instance_type=pc.instance_type,
                    max_nodes=pc.max_nodes,
                    reserved_nodes=pc.reserved_nodes,
                    spot_max_nodes=pc.spot_max_nodes,
                    commitment=pc.commitment,
                    zones=list(pc.zones or rc.zones),
                    cluster_name=cluster_name,
                    cluster=cluster.name,
                    subnet_ids=subnets,
                    node_role_arn=cluster.node_role_arn,
                    node_service_account=cluster.node_service_account,
                    node_disk_key=cluster.node_disk_key,
                    node_disk_ready=tuple(cluster.node_disk_ready),
                    gcp_project=cfg.gcp_project,
                    tags=self.tags,
                ),
                opts,
            )
        GpuAddons(
            f"{prefix}-gpu",
            GpuAddonsArgs(
                cloud=cfg.cloud,
                region=rc.name,
                cluster_name=cluster_name,
                kube_provider=cluster.kube_provider,
                pools=list(region.gpu_pools.values()),
                kubernetes_version=cfg.kubernetes_version,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, provider=region.provider, depends_on=list(region.gpu_pools.values())),
        )
        region.outputs["gpu_pools"] = {
            name: {
                "reserved_nodes": p.reserved_nodes,
                "max_nodes": p.max_nodes,
                "spot_max_nodes": p.spot_max_nodes,
                "gpus_per_node": p.gpus_per_node,
                "reserved_gpus": p.reserved_gpus,
                "max_gpus": p.max_gpus,
                "node_group_names": p.node_group_names,
            }
            for name, p in region.gpu_pools.items()
        }

    def _build_endpoints(self, region: Region) -> None:
        """One TritonEndpoint per serving endpoint that runs in this region, on its GpuPool."""
        cfg = self.config
        if cfg.serving is None:
            return
        stack_regions = [r.name for r in cfg.regions]
        for ep in cfg.serving.endpoints:
            if region.name not in ep.resolved_regions(stack_regions):
                continue
            pool = region.gpu_pools.get(ep.pool)
            endpoint = TritonEndpoint(
                f"{self._name}-{region.name}-{ep.name}",
                _logged(triton_args_from_config(cfg, self.stack, region.config, ep, region.cluster, pool,
                                                installers=region.addons.installers), region),
                # The pool's node group (and its device plugin) must exist before pods ask for GPUs.
                pulumi.ResourceOptions(parent=self, provider=region.provider, depends_on=[pool] if pool else []),
            )
            region.endpoints[ep.name] = endpoint
            region.outputs.setdefault("endpoints", {})[ep.name] = {
                "namespace": endpoint.namespace,
                "service_name": endpoint.service_name,
                "deployments": endpoint.deployments,
                "bucket_uri": endpoint.bucket_uri,
            }

    def _build_vector_store(self, region: Region) -> None:
        """Milvus next to the region's models, where config enables it (``vector_store``)."""

        cfg = self.config
        store = cfg.vector_store
        if store is None or not store.enabled:
            return
        if region.name not in store.resolved_regions([r.name for r in cfg.regions]):
            return
        namespaces = [ep.namespace for ep in region.endpoints.values()]
        vs = VectorStore(
            f"{self._name}-{region.name}-vectors",
            _logged(vector_args_from_config(cfg, self.stack, region.config, region.cluster, namespaces,
                                            installers=region.addons.installers, ebs=region.addons.ebs,
                                            subnet_ids=region.network.private_subnet_ids if cfg.cloud == "aws"
                                            else None), region),
            pulumi.ResourceOptions(parent=self, provider=region.provider, depends_on=[region.cluster]),
        )
        region.outputs["vector_store"] = {
            "endpoint": vs.endpoint, "secret_name": vs.secret_name, "namespace": vs.namespace, "bucket": vs.bucket,
        }

    def _build_gateway(self, region: Region) -> None:
        """The regional ApiGateway in front of the region's Triton endpoints (config ``gateway``)."""
        cfg, rc = self.config, region.config
        if cfg.gateway is None:
            return
        targets = [endpoint_target(name, ep) for name, ep in region.endpoints.items()]
        region.gateway = ApiGateway(
            f"{self._name}-{rc.name}-gw",
            ApiGatewayArgs(
                cloud=cfg.cloud,
                region=rc.name,
                gateway=cfg.gateway,
                endpoints=targets,
                kube_provider=region.cluster.kube_provider,
                production=cfg.production,
                protect=cfg.protect_state,
                vpc_id=region.network.vpc_id,
                vpc_cidr=rc.cidr,
                private_subnet_ids=region.network.private_subnet_ids,
                gcp_project=cfg.gcp_project,
                network=region.network.network,
                zones=list(rc.zones),
                endpoints_service=endpoints_service_name(self.stack, cfg.gcp_project) if cfg.cloud == "gcp" else None,
                installers=region.addons.installers,
                access_logs_bucket=region.logs.bucket,
                access_logs_ready=list(region.logs.ready),
                tags=self.tags,
            ),
            pulumi.ResourceOptions(
                parent=self, provider=region.provider, depends_on=list(region.endpoints.values())
            ),
        )
        region.outputs["gateway"] = {"routes": region.gateway.routes, "api_id": region.gateway.api_id}

    def _build_monitoring(self, region: Region) -> None:
        """The cluster's Monitoring: kube-prometheus-stack, the region's alert rules, dashboards."""

        cfg, rc = self.config, region.config
        gw = region.gateway
        region.monitoring = Monitoring(
            f"{self._name}-{rc.name}-mon",
            MonitoringArgs(
                cloud=cfg.cloud,
                stack=self.stack,
                region=rc.name,
                monitoring=cfg.monitoring,
                kube_provider=region.cluster.kube_provider,
                rule_groups=region_rule_groups(cfg, self.stack, rc.name),
                queue_sizes=queue_sizes(cfg, [rc.name]),
                team=cfg.tags.team,
                pool_prices=pool_prices(cfg.cloud, rc.name, list(rc.gpu_pools)),
                retention="30d" if cfg.production else "15d",
                gateway_api_id=gw.api_id if gw is not None and cfg.cloud == "aws" else None,
                gateway_stage=gw.stage_name if gw is not None and cfg.cloud == "aws" else None,
                production=cfg.production,
                protect=cfg.protect_state,
                installers=region.addons.installers,
                storage_class=region.addons.storage_class,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, provider=region.provider, depends_on=[region.cluster]),
        )
        mon = region.monitoring
        region.outputs["monitoring"] = {
            "namespace": mon.namespace,
            "grafana_service": mon.grafana_service,
            "prometheus_service": mon.prometheus_service,
            "alertmanager_service": mon.alertmanager_service,
            "dashboards": mon.dashboards,
            "alert_topic_arn": mon.alert_topic_arn,
        }

    def _build_stack_monitoring(self) -> None:
        """Stack-wide alarms and the budget (AWS Budgets / GCP billing budget)."""

        cfg = self.config
        routing = getattr(self, "routing", None)
        us_east_1, health_checks = None, dict(routing.health_check_ids) if routing is not None else {}
        if cfg.cloud == "aws":
            # Route 53 health-check metrics exist only in us-east-1; reuse that region's provider if the
            # stack has it. A stack resident elsewhere (eu) keeps everything in its zone: the stack topic
            # and budget go to its first region and the health-check alarms are left out.
            region = self.regions.get(ROUTE53_REGION)
            if region is not None:
                us_east_1 = region.provider
            elif cfg.residency in ("us", "global"):
                us_east_1 = aws.Provider(f"{self._name}-{ROUTE53_REGION}", region=ROUTE53_REGION,
                                         opts=pulumi.ResourceOptions(parent=self))
            else:
                us_east_1, health_checks = next(iter(self.regions.values())).provider, {}
        self.monitoring = StackMonitoring(
            f"{self._name}-mon",
            StackMonitoringArgs(
                cloud=cfg.cloud,
                stack=self.stack,
                monitoring=cfg.monitoring,
                cost_center=cfg.tags.cost_center,
                health_check_ids=health_checks,
                us_east_1=us_east_1,
                gcp_project=cfg.gcp_project,
                url_map_name=getattr(routing, "url_map_name", None),
                production=cfg.production,
                protect=cfg.protect_state,
                tags=self.tags,
            ),
            # GCP's monitoring and billing resources are global: the first region's provider (project,
            # default labels) will do. AWS children name their us-east-1 provider themselves.
            pulumi.ResourceOptions(
                parent=self, provider=next(iter(self.regions.values())).provider if cfg.cloud == "gcp" else None
            ),
        )
        self.outputs_global = {
            "alert_topic_arn": self.monitoring.alert_topic_arn,
            "channel_ids": self.monitoring.channel_ids,
            "budget_name": self.monitoring.budget_name,
        }

    def _build_global(self) -> None:
        # Stack-wide components (global routing, budgets, cloud alarms) are added here.
        self._build_routing()
        self._build_stack_monitoring()  # after routing: alarms on its health checks / load balancer

    def _build_routing(self) -> None:
        """One global hostname over the regional gateways (Route 53 latency / global LB)."""
        cfg = self.config
        gateways = {name: r.gateway for name, r in self.regions.items() if r.gateway is not None}
        if cfg.gateway is None or not gateways:
            return
        # GCP's ESP service config routes to every endpoint in any region (same cluster DNS names).
        targets = {}
        for r in self.regions.values():
            for name, ep in r.endpoints.items():
                targets.setdefault(name, endpoint_target(name, ep))
        first = next(iter(self.regions.values()))
        self.routing = GlobalRouting(
            f"{self._name}-routing",
            GlobalRoutingArgs(
                cloud=cfg.cloud,
                gateway=cfg.gateway,
                gateways=gateways,
                stack=self.stack,
                gcp_project=cfg.gcp_project,
                endpoint_targets=list(targets.values()),
                production=cfg.production,
                tags=self.tags,
            ),
            # Route 53 and global GCP resources are not regional: the first region's provider will do.
            pulumi.ResourceOptions(parent=self, provider=first.provider),
        )

    def _deployer_peer(self) -> DeployerPeer | None:
        """The runner network a private-endpoint cluster is reached from (config ``deployer.network``);
        None for a public endpoint (reached over its allow-list, config ``deployer.cidrs``)."""
        cfg = self.config
        d = cfg.deployer.network if cfg.deployer is not None else None
        if cfg.cluster.endpoint_public_access or d is None:
            return None
        return DeployerPeer(cidr=d.cidr, aws_vpc_id=d.aws_vpc_id, aws_account_id=d.aws_account_id,
                            aws_region=d.aws_region, aws_route_table_ids=list(d.aws_route_table_ids),
                            gcp_network=d.gcp_network)

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


class _ApisHook:
    """The AiPlatform's transformation: ProjectApis's, once it exists (it is a child of the platform)."""

    def __init__(self) -> None:
        self.apis: ProjectApis | None = None

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        return self.apis.transformation(args) if self.apis is not None else None


def _cluster_name(stack: str, region: str) -> str:
    """'aiplat-prod-us-east-1': readable, unique per stack and region, valid on both clouds."""
    from aiplat.cluster import short_id

    return short_id(f"aiplat-{stack}-{region}", 40)


def _logged(args, region: Region):
    """Component args with the region's log bucket: the component's buckets log into it."""
    return dataclasses.replace(args, access_logs_bucket=region.logs.bucket, access_logs_ready=list(region.logs.ready))
