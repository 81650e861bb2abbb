"""Network: one regional network for a cluster, the same intent on AWS and GCP.

AWS: a VPC with a public and a private subnet per zone, an internet gateway, NAT (one
per zone, or a single one to save cost outside production), private route tables, and
an S3 gateway endpoint so model and vector-store traffic to S3 stays off the NAT.

GCP: a custom-mode VPC with one regional subnet carrying the GKE secondary ranges
(pods, services), private Google access, and Cloud NAT on a Cloud Router so private
nodes can pull images.

Subnet ranges are derived from the region CIDR by ``RegionConfig`` and passed in
resolved; this component makes no addressing decisions of its own.

With a ``deployer`` (the runner network of a private-endpoint stack, config ``deployer.network``)
the network is peered with it: AWS, a VPC peering connection to the runner VPC (accepted by the
program when it is in the stack's account: ``auto_accept`` in the same region, a
``VpcPeeringConnectionAccepter`` managed in the runner's region otherwise; another account accepts
it itself), a route to the runner CIDR over it in every private route table (the subnets of the
EKS control-plane ENIs) and routes back to this VPC in the runner route tables the config names; GCP, a network peering from this network to the runner's network (the
runner side must create the reverse peering). ``deployer_path`` lists what the cluster's
Kubernetes provider waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pulumi

from aiplat._base import AiplatComponent
import pulumi_aws as aws
import pulumi_gcp as gcp


@dataclass(frozen=True)
class DeployerPeer:
    """The runner network a private-endpoint cluster is reached from (config ``deployer.network``)."""

    cidr: str
    aws_vpc_id: str | None = None
    aws_account_id: str | None = None
    """None: the stack's own account (the program accepts the peering)."""
    aws_region: str | None = None
    aws_route_table_ids: list[str] = field(default_factory=list)
    """The runner VPC's route tables to route back to this VPC (same account only)."""
    gcp_network: str | None = None


@dataclass(frozen=True)
class NetworkArgs:
    cloud: Literal["aws", "gcp"]
    region: str
    cidr: str
    zones: list[str]
    private_subnets: list[str] = field(default_factory=list)
    """AWS: one CIDR per zone, same order as ``zones``."""
    public_subnets: list[str] = field(default_factory=list)
    """AWS: one CIDR per zone, same order as ``zones``."""
    nat: Literal["single", "per_zone"] = "single"
    """AWS: one NAT gateway per zone (zone-failure tolerant) or one in the first zone."""
    cluster_name: str | None = None
    """AWS: tags subnets ``kubernetes.io/cluster/<name>`` for load balancer discovery."""
    gcp_ranges: dict[str, str] = field(default_factory=dict)
    """GCP: ``nodes``, ``pods``, ``services`` CIDRs (see RegionConfig.gcp_ranges)."""
    deployer: DeployerPeer | None = None
    """The runner network to peer with (private-endpoint stacks); None: no peering."""
    tags: dict[str, str] = field(default_factory=dict)


class Network(AiplatComponent):
    """A regional network. Outputs: ``vpc_id``, ``private_subnet_ids``, ``public_subnet_ids``
    (AWS); ``network``, ``subnetwork``, ``pods_range``, ``services_range`` (GCP); ``deployer_path``
    (the peering with the runner network and what routes over it; empty without a deployer)."""

    vpc_id: pulumi.Output[str] | None = None
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    network: pulumi.Output[str] | None = None
    subnetwork: pulumi.Output[str] | None = None
    pods_range: str | None = None
    services_range: str | None = None
    deployer_path: list[pulumi.CustomResource]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:network:Network", name, None, opts)
        self._name, self._in = name, args
        self.private_subnet_ids, self.public_subnet_ids, self.deployer_path = [], [], []
        if args.cloud == "aws":
            self._aws()
        else:
            self._gcp()
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "network": self.network,
                "subnetwork": self.subnetwork,
            }
        )

    # -- AWS -----------------------------------------------------------------------
    def _aws(self) -> None:
        a, n = self._in, self._name
        vpc = aws.ec2.Vpc(
            f"{n}-vpc",
            cidr_block=a.cidr,
            enable_dns_hostnames=True,  # EKS private endpoints and IRSA need DNS
            enable_dns_support=True,
            tags=self._tags("vpc"),
            opts=self._opts(),
        )
        self.vpc_id = vpc.id
        peering = self._aws_deployer_peering(vpc) if a.deployer else None
        igw = aws.ec2.InternetGateway(f"{n}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=self._opts())
        cluster_tag = {f"kubernetes.io/cluster/{a.cluster_name}": "shared"} if a.cluster_name else {}

        public_rt = aws.ec2.RouteTable(
            f"{n}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=self._tags("public-rt"),
            opts=self._opts(),
        )
        public, private = [], []
        for zone, pub_cidr, priv_cidr in zip(a.zones, a.public_subnets, a.private_subnets):
            pub = aws.ec2.Subnet(
                f"{n}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=pub_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,  # nothing gets a public IP by accident
                tags=self._tags(f"public-{zone}", **{"kubernetes.io/role/elb": "1"}, **cluster_tag),
                opts=self._opts(),
            )
            aws.ec2.RouteTableAssociation(
                f"{n}-public-{zone}", subnet_id=pub.id, route_table_id=public_rt.id, opts=self._opts()
            )
            priv = aws.ec2.Subnet(
                f"{n}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=priv_cidr,
                availability_zone=zone,
                tags=self._tags(f"private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}, **cluster_tag),
                opts=self._opts(),
            )
            public.append(pub)
            private.append(priv)
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]

        nat_zones = a.zones if a.nat == "per_zone" else a.zones[:1]
        nats = []
        for zone, pub in zip(nat_zones, public):
            eip = aws.ec2.Eip(f"{n}-nat-{zone}", domain="vpc", tags=self._tags(f"nat-{zone}"), opts=self._opts())
            nats.append(
                aws.ec2.NatGateway(
                    f"{n}-nat-{zone}",
                    allocation_id=eip.id,
                    subnet_id=pub.id,
                    connectivity_type="public",
                    tags=self._tags(f"nat-{zone}"),
                    opts=self._opts(depends_on=[igw]),
                )
            )
        private_rts, peered = [], list(self.deployer_path)
        for i, (zone, priv) in enumerate(zip(a.zones, private)):
            nat = nats[i] if a.nat == "per_zone" else nats[0]  # keep egress in-zone when we can
            routes = [aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)]
            if peering is not None:
                # Inline like the NAT route: a standalone aws.ec2.Route next to inline routes would be
                # removed by the route table on its next update.
                routes.append(aws.ec2.RouteTableRouteArgs(cidr_block=a.deployer.cidr,
                                                          vpc_peering_connection_id=peering.id))
            rt = aws.ec2.RouteTable(
                f"{n}-private-{zone}",
                vpc_id=vpc.id,
                routes=routes,
                tags=self._tags(f"private-{zone}"),
                # a route over a peering is usable once it is accepted
                opts=self._opts(depends_on=peered),
            )
            if peering is not None:
                self.deployer_path.append(rt)
            aws.ec2.RouteTableAssociation(
                f"{n}-private-{zone}", subnet_id=priv.id, route_table_id=rt.id, opts=self._opts()
            )
            private_rts.append(rt)
        aws.ec2.VpcEndpoint(
            f"{n}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{a.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=self._tags("s3-endpoint"),
            opts=self._opts(),
        )

    def _aws_deployer_peering(self, vpc: aws.ec2.Vpc) -> aws.ec2.VpcPeeringConnection:
        """The peering to the runner VPC (pulumi_aws 7.51.1: ``auto_accept`` only with both VPCs in one
        account and region; with ``peer_region`` the accepter side is a ``VpcPeeringConnectionAccepter``)."""
        a, n, d = self._in, self._name, self._in.deployer
        same_account, same_region = d.aws_account_id is None, d.aws_region == a.region
        peering = aws.ec2.VpcPeeringConnection(
            f"{n}-deployer",
            vpc_id=vpc.id,
            peer_vpc_id=d.aws_vpc_id,
            peer_owner_id=d.aws_account_id,
            peer_region=None if same_region else d.aws_region,
            auto_accept=True if same_account and same_region else None,
            tags=self._tags("deployer-peering"),
            opts=self._opts(),
        )
        self.deployer_path.append(peering)
        if same_account and not same_region:
            self.deployer_path.append(aws.ec2.VpcPeeringConnectionAccepter(
                f"{n}-deployer-accepter",
                vpc_peering_connection_id=peering.id,
                auto_accept=True,
                region=d.aws_region,  # managed where the runner VPC is (pulumi_aws 7 per-resource region)
                tags=self._tags("deployer-peering"),
                opts=self._opts(),
            ))
        accepted = list(self.deployer_path)
        for table in d.aws_route_table_ids:
            # The runner's way back to this VPC (the cluster side is in the private route tables).
            self.deployer_path.append(aws.ec2.Route(
                f"{n}-deployer-{table}",
                route_table_id=table,
                destination_cidr_block=a.cidr,
                vpc_peering_connection_id=peering.id,
                region=d.aws_region,
                opts=self._opts(depends_on=accepted),
            ))
        return peering

    # -- GCP -----------------------------------------------------------------------
    def _gcp(self) -> None:
        a, n = self._in, self._name
        net = gcp.compute.Network(
            f"{n}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"aiplat network for {a.region}",
            opts=self._opts(),
        )
        self.pods_range, self.services_range = f"{n}-pods", f"{n}-services"
        subnet = gcp.compute.Subnetwork(
            f"{n}-nodes",
            region=a.region,
            network=net.id,
            ip_cidr_range=a.gcp_ranges["nodes"],
            private_ip_google_access=True,  # private nodes reach GCS and Artifact Registry
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.pods_range, ip_cidr_range=a.gcp_ranges["pods"]
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.services_range, ip_cidr_range=a.gcp_ranges["services"]
                ),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            opts=self._opts(),
        )
        router = gcp.compute.Router(f"{n}-router", region=a.region, network=net.id, opts=self._opts())
        gcp.compute.RouterNat(
            f"{n}-nat",
            router=router.name,
            region=a.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=self._opts(),
        )
        self.network, self.subnetwork = net.id, subnet.id
        if a.deployer:
            # One side of the peering; it turns ACTIVE when the runner network peers back.
            self.deployer_path.append(gcp.compute.NetworkPeering(
                f"{n}-deployer", network=net.id, peer_network=a.deployer.gcp_network, opts=self._opts()
            ))
