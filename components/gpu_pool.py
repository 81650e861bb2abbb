"""GpuPool: a GPU node pool with a reserved baseline and a hard-capped on-demand burst.

A pool is stated as intent (instance type, ``reserved_nodes``, ``max_nodes``, optional
spot tier); everything else is derived here from one table so AWS and GCP pools have the
same labels, taint and outputs:

* node labels ``aiplat.io/pool`` (what workloads select and the Monitoring rules count,
  ``components.monitoring.POOL_NODE_LABEL``),
  ``aiplat.io/accelerator`` (GPU model as a label value, e.g. ``nvidia-l40s``) and
  ``aiplat.io/capacity-type`` (``reserved`` | ``on-demand`` | ``spot``; the spend-cap policy
  prices node groups by it), plus ``aiplat.io/commitment`` on reserved nodes;
* the taint ``nvidia.com/gpu:NoSchedule`` so only pods that tolerate it (and ask for GPUs)
  land on GPU nodes.

AWS (EKS): one targeted On-Demand Capacity Reservation per zone, the counts split across
the pool's zones so they sum to ``reserved_nodes`` exactly. The reservations are members of
a capacity reservation *group* (``aws.resourcegroups.Group``) and the reserved launch
template targets the group, not one reservation: a launch template can name only one
reservation id, a managed node group spans zones, and a group-targeted launch falls back
to plain on-demand instead of failing if the ASG's zone balancing ever puts a node where
the zone's reservation is full. Node groups: ``reserved`` (min = desired = max =
``reserved_nodes``), ``on-demand`` burst (0 .. ``max_nodes - reserved_nodes``, absent when
that is 0) and optional ``spot`` (0 .. ``spot_max_nodes``). AMI type AL2023_x86_64_NVIDIA
(driver and container toolkit baked in). The burst groups scale from zero, so their ASGs
carry the cluster-autoscaler node-template tags (labels, taint, GPU count).

Autoscaler (AWS): **cluster-autoscaler with the priority expander**, not Karpenter. The
hard cap and the reservation are properties of the managed node groups themselves
(``scalingConfig.maxSize``, the launch template's reservation target), which is what the
spend-cap policy reads at preview time and what AWS enforces; the cluster-autoscaler only
chooses *which* capped group grows (on-demand before spot; the reserved group is fixed
and always up, so pods fill it first). Karpenter would provision outside the node groups,
moving the cap into NodePool ``limits`` the policy cannot price per capacity type, and
consuming targeted ODCRs needs its own capacity-reservation selectors. It runs once per
cluster (``GpuAddons``) with an IRSA role trusted only by its service account.

GCP (GKE): one specific reservation per zone (``specific_reservation_required``, machine
type + guest accelerators) and one ``reserved`` node pool per zone consuming exactly that
reservation (``reservation_affinity`` SPECIFIC_RESERVATION) with a fixed node count: a
reservation is zonal and a pool's node count is per zone, so one pool per zone is the only
way for an uneven split (3 nodes over 2 zones) to match the reservations node for node.
An ``on-demand`` pool autoscales 0 .. ``max_nodes - reserved_nodes`` (total counts, across
zones) and an optional ``spot`` pool 0 .. ``spot_max_nodes``. GKE installs the driver
(``gpu_driver_installation_config``) and runs the device plugin itself; nodes use the
cluster's node service account with Workload Identity (GKE metadata server).

In-cluster add-ons (``GpuAddons``, once per cluster): NVIDIA device plugin (AWS only) and
DCGM exporter (both clouds), as ``helm.v3.Release`` with pinned chart versions (no helm
binary needed), tolerating the GPU taint and pinned to GPU nodes by node affinity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from aiplat.identity import irsa_trust_policy
from aiplat._base import AiplatComponent
from aiplat.catalog import gpu as gpu_catalog
from aiplat.errors import ConfigError, Problem
from aiplat.refs import CAPACITY_NODE_LABEL, GPU_ADDONS_NAMESPACE, POOL_NODE_LABEL, reserved_problem

# -- the one table the labels, taints and tolerations derive from -----------------------
LABEL_POOL = POOL_NODE_LABEL  # "aiplat.io/pool": one label for scheduling and for the alerts
LABEL_ACCELERATOR = "aiplat.io/accelerator"
LABEL_CAPACITY = CAPACITY_NODE_LABEL
LABEL_COMMITMENT = "aiplat.io/commitment"
# The AWS cluster-autoscaler treats nodes with this label as GPU nodes and waits for the
# device plugin to advertise nvidia.com/gpu before calling them ready (no double scale-up).
LABEL_AWS_ACCELERATOR = "k8s.amazonaws.com/accelerator"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
# GKE adds nvidia.com/gpu=present:NoSchedule to GPU pools itself; we declare the same taint
# so the value matches instead of fighting it. Tolerations use operator Exists either way.
GPU_TAINT_VALUE = {"aws": "true", "gcp": "present"}
GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
EKS_GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
# Role -> capacity type label and cluster-autoscaler priority (higher is preferred).
ROLES = {"reserved": ("reserved", 30), "on-demand": ("on-demand", 20), "spot": ("spot", 10)}

# -- pinned Helm charts (repository, chart, version) ------------------------------------
# Versions are pinned so a cluster rebuilt next year runs what was reviewed; bump them
# deliberately. cluster-autoscaler 9.46.6 ships CA 1.32; the image tag is set per
# Kubernetes minor below because CA must match the control plane's minor version.
CHARTS: dict[str, dict[str, str]] = {
    "cluster-autoscaler": {
        "repo": "https://kubernetes.github.io/autoscaler",
        "chart": "cluster-autoscaler",
        "version": "9.46.6",
    },
    "nvidia-device-plugin": {
        "repo": "https://nvidia.github.io/k8s-device-plugin",
        "chart": "nvidia-device-plugin",
        "version": "0.17.1",
    },
    "dcgm-exporter": {
        "repo": "https://nvidia.github.io/dcgm-exporter/helm-charts",
        "chart": "dcgm-exporter",
        "version": "4.8.1",
    },
}
CLUSTER_AUTOSCALER_IMAGE_TAGS = {"1.31": "v1.31.0", "1.32": "v1.32.0", "1.33": "v1.33.0", "1.34": "v1.34.0"}
ADDON_NAMESPACE = GPU_ADDONS_NAMESPACE
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
PRIORITY_CONFIGMAP = "cluster-autoscaler-priority-expander"  # the name CA's priority expander reads


# -- pure helpers (unit-tested) ---------------------------------------------------------
def split_across_zones(total: int, zones: list[str]) -> dict[str, int]:
    """Spread ``total`` nodes over ``zones`` as evenly as possible, earlier zones first.

    ``split_across_zones(5, [a, b, c]) == {a: 2, b: 2, c: 1}``; the counts always sum to
    ``total`` and differ by at most one. Zones that get 0 are kept (callers skip them).
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if not zones:
        raise ValueError("at least one zone is needed")
    base, extra = divmod(total, len(zones))
    return {z: base + (1 if i < extra else 0) for i, z in enumerate(zones)}


def accelerator_label(gpu_model: str) -> str:
    """'NVIDIA A100 40GB' -> 'nvidia-a100-40gb': the GPU model as a Kubernetes label value."""
    return re.sub(r"[^a-z0-9]+", "-", gpu_model.lower()).strip("-")[:63]


def priority_expander_config(groups_by_role: dict[str, list[str]]) -> str:
    """The cluster-autoscaler priority expander's ``priorities`` document for EKS groups.

    EKS names a managed node group's ASG ``eks-<node group name>-<uuid>``. Each regex ends
    with ``[0-9a-f-]+$`` (the uuid), and every node group name ends with a role word that
    has non-hex letters (reserved, on-demand, spot), so a pool whose name contains another
    pool's group name cannot match the wrong priority. Groups matching nothing (the system
    node group) get the lowest priority.
    """
    tiers: dict[int, list[str]] = {}
    for role, names in groups_by_role.items():
        _, priority = ROLES[role]
        for name in names:
            # node group names are DNS labels: nothing in them needs escaping in a regex
            if not re.fullmatch(r"[a-z0-9-]+", name):
                raise ValueError(f"node group name {name!r} is not a DNS label")
            tiers.setdefault(priority, []).append(f"^eks-{name}-[0-9a-f-]+$")
    tiers[1] = [".*"]
    return yaml.safe_dump({p: sorted(tiers[p]) for p in sorted(tiers, reverse=True)}, sort_keys=False)


# -- args ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuPoolArgs:
    """One GPU pool, as intent. Defaults are noted per field; AWS-only / GCP-only fields
    are ignored on the other cloud."""

    cloud: Literal["aws", "gcp"]
    """Cloud of the cluster. Required."""
    region: str
    """Region of the cluster; the instance type must be offered there (GPU catalog). Required."""
    pool: str
    """Pool name (DNS label, unique per cluster): the ``aiplat.io/pool`` label value and the
    prefix of node group / node pool names. Required."""
    instance_type: str
    """Catalog GPU instance type (AWS, e.g. g6e.12xlarge) or machine type (GCP, e.g.
    g2-standard-24). Required."""
    max_nodes: int
    """Hard cap on reserved + on-demand nodes (>= 1, >= reserved_nodes); spot excluded. Required."""
    cluster_name: str
    """Physical cluster name, known at preview (it goes into autoscaler tag keys). Required."""
    zones: list[str]
    """Zones to place the pool in (AWS: each needs a subnet in ``subnet_ids``). Required, non-empty."""
    reserved_nodes: int = 0
    """Baseline held in capacity reservations, split evenly across ``zones``. Default 0 (no
    reservation, no reserved group)."""
    spot_max_nodes: int = 0
    """Optional spot tier on top of ``max_nodes``. Default 0 (no spot group)."""
    commitment: Literal["1y", "3y"] = "1y"
    """Term the reserved nodes are priced at (label/tag ``aiplat.io/commitment``). Default 1y."""
    cluster: pulumi.Input[str] | None = None
    """The cluster's name (AWS) or id (GCP) as an Output, so node groups depend on the
    cluster resource. Default: ``cluster_name`` (then order with ``depends_on``)."""
    subnet_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """AWS: private subnet id per zone. Required on AWS for every zone in ``zones``."""
    node_role_arn: pulumi.Input[str] | None = None
    """AWS: IAM role of the nodes (the cluster's ``node_role_arn``). Required on AWS."""
    node_service_account: pulumi.Input[str] | None = None
    """GCP: service account email of the nodes (the cluster's). Required on GCP."""
    gcp_project: str | None = None
    """GCP: project of the reservations and node pools. Required on GCP."""
    disk_size_gb: int = 200
    """Root volume per node (GPU AMIs, Triton images and model caches are large). Default 200."""
    gpu_driver_version: Literal["LATEST", "DEFAULT"] = "LATEST"
    """GCP: driver GKE installs (LATEST for current CUDA). Default LATEST."""
    tags: dict[str, str] = field(default_factory=dict)
    """The stack's tags/labels, merged into every taggable child. Default none."""


def validate_pool_args(a: GpuPoolArgs) -> list[Problem]:
    """Every problem with the args, with the field as key path; [] when they are good."""
    problems: list[Problem] = []
    p = lambda path, msg: problems.append(Problem(path, msg))  # noqa: E731
    if a.cloud not in ("aws", "gcp"):
        p("cloud", f"{a.cloud!r} is not aws or gcp")
        return problems
    offering = gpu_catalog.offering_problem(a.cloud, a.instance_type, a.region)
    if offering:
        p("instance_type", offering)
    if a.max_nodes < 1:
        p("max_nodes", f"must be >= 1, got {a.max_nodes}")
    if a.reserved_nodes < 0:
        p("reserved_nodes", f"must be >= 0, got {a.reserved_nodes}")
    elif msg := reserved_problem(a.reserved_nodes, a.max_nodes):
        p("reserved_nodes", msg)
    if a.spot_max_nodes < 0:
        p("spot_max_nodes", f"must be >= 0, got {a.spot_max_nodes}")
    if not a.zones:
        p("zones", "at least one zone is needed")
    if len(set(a.zones)) != len(a.zones):
        p("zones", "must be unique")
    if a.cloud == "aws":
        for z in a.zones:
            if z not in a.subnet_ids:
                p("subnet_ids", f"no subnet for zone {z!r}")
        if a.node_role_arn is None:
            p("node_role_arn", "required on AWS")
    else:
        if a.node_service_account is None:
            p("node_service_account", "required on GCP")
        if not a.gcp_project:
            p("gcp_project", "required on GCP")
    return problems


# -- the component ------------------------------------------------------------------------
class GpuPool(AiplatComponent):
    """A GPU pool on EKS or GKE. Type ``aiplat:gpu_pool:GpuPool``.

    Outputs (same shape on both clouds):
      ``pool_name`` str; ``instance_type`` str; ``accelerator`` str (label value of the GPU
      model, e.g. ``nvidia-l40s``); ``gpus_per_node`` int;
      ``reserved_nodes``, ``max_nodes`` (cap on reserved + on-demand), ``spot_max_nodes`` int;
      ``reserved_gpus``, ``max_gpus`` (= max_nodes x gpus_per_node, spot excluded),
      ``spot_max_gpus`` int;
      ``node_selector`` dict = ``{"aiplat.io/pool": pool_name}``;
      ``tolerations`` list = ``[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]``;
      ``node_group_names`` dict role -> physical node group (AWS) / node pool (GCP) name;
      GCP roles of the per-zone reserved pools are ``reserved-<zone>``;
      ``reservation_ids`` dict zone -> capacity reservation id / reservation name.
    """

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_pool_args(args)
        if problems:
            # Before super().__init__: nothing is registered for a bad pool.
            raise ConfigError(problems, f"GpuPool {name}")
        super().__init__("aiplat:gpu_pool:GpuPool", name, None, opts)
        self._name, self._in = name, args
        spec = gpu_catalog.get_instance_type(args.cloud, args.instance_type)
        self._spec = spec
        self.pool_name: str = args.pool
        self.instance_type: str = args.instance_type
        self.accelerator: str = accelerator_label(spec.gpu_model)
        self.gpus_per_node: int = spec.gpus
        self.reserved_nodes: int = args.reserved_nodes
        self.max_nodes: int = args.max_nodes
        self.spot_max_nodes: int = args.spot_max_nodes
        self.burst_max_nodes: int = args.max_nodes - args.reserved_nodes
        self.reserved_gpus: int = args.reserved_nodes * spec.gpus
        self.max_gpus: int = args.max_nodes * spec.gpus
        self.spot_max_gpus: int = args.spot_max_nodes * spec.gpus
        self.node_selector: dict[str, str] = {LABEL_POOL: args.pool}
        self.tolerations: list[dict[str, str]] = [dict(GPU_TOLERATION)]
        self.reserved_split: dict[str, int] = {
            z: n for z, n in split_across_zones(args.reserved_nodes, list(args.zones)).items() if n
        }
        self.node_group_names: dict[str, pulumi.Output[str]] = {}
        self.reservation_ids: dict[str, pulumi.Output[str]] = {}
        if args.cloud == "aws":
            self._aws()
        else:
            self._gcp()
        self.register_outputs(
            {
                "pool_name": self.pool_name,
                "accelerator": self.accelerator,
                "gpus_per_node": self.gpus_per_node,
                "reserved_nodes": self.reserved_nodes,
                "max_nodes": self.max_nodes,
                "spot_max_nodes": self.spot_max_nodes,
                "reserved_gpus": self.reserved_gpus,
                "max_gpus": self.max_gpus,
                "node_selector": self.node_selector,
                "tolerations": self.tolerations,
                "node_group_names": self.node_group_names,
                "reservation_ids": self.reservation_ids,
            }
        )

    # -- shared --------------------------------------------------------------------------
    def node_labels(self, role: str) -> dict[str, str]:
        """Kubernetes labels of the pool's nodes in ``role`` (reserved | on-demand | spot)."""
        capacity, _ = ROLES[role]
        labels = {
            LABEL_POOL: self._in.pool,
            LABEL_ACCELERATOR: self.accelerator,
            LABEL_CAPACITY: capacity,
        }
        if role == "reserved":
            labels[LABEL_COMMITMENT] = self._in.commitment
        if self._in.cloud == "aws":
            labels[LABEL_AWS_ACCELERATOR] = self.accelerator
        return labels

    # -- AWS -----------------------------------------------------------------------------
    def _aws(self) -> None:
        a, n = self._in, self._name
        cluster = a.cluster if a.cluster is not None else a.cluster_name
        lt_common = dict(
            # Pods get AWS credentials through IRSA; hop limit 1 keeps them off the node role.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=a.disk_size_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            update_default_version=True,
        )

        groups: dict[str, aws.eks.NodeGroup] = {}
        if a.reserved_nodes > 0:
            members = []
            reservation_group = aws.resourcegroups.Group(
                f"{n}-reservations",
                name=f"{a.cluster_name}-{a.pool}-reservations",
                description=f"Capacity reservations of GPU pool {a.pool} ({a.instance_type}) in {a.cluster_name}",
                configurations=[
                    aws.resourcegroups.GroupConfigurationArgs(type="AWS::EC2::CapacityReservationPool"),
                    aws.resourcegroups.GroupConfigurationArgs(
                        type="AWS::ResourceGroups::Generic",
                        parameters=[
                            aws.resourcegroups.GroupConfigurationParameterArgs(
                                name="allowed-resource-types", values=["AWS::EC2::CapacityReservation"]
                            )
                        ],
                    ),
                ],
                tags=self._tags("reservations", **{LABEL_POOL: a.pool}),
                opts=self._opts(),
            )
            for zone, count in self.reserved_split.items():
                cr = aws.ec2.CapacityReservation(
                    f"{n}-reservation-{zone}",
                    availability_zone=zone,
                    instance_type=a.instance_type,
                    instance_platform="Linux/UNIX",
                    instance_count=count,
                    # targeted: only our launch template consumes it, not any matching instance
                    instance_match_criteria="targeted",
                    end_date_type="unlimited",
                    tenancy="default",
                    tags=self._tags(f"reservation-{zone}", **{LABEL_POOL: a.pool, LABEL_COMMITMENT: a.commitment}),
                    opts=self._opts(),
                )
                self.reservation_ids[zone] = cr.id
                members.append(
                    aws.resourcegroups.Resource(
                        f"{n}-reservation-{zone}",
                        group_arn=reservation_group.arn,
                        resource_arn=cr.arn,
                        opts=self._opts(),
                    )
                )
            lt_reserved = aws.ec2.LaunchTemplate(
                f"{n}-reserved",
                name=f"{a.cluster_name}-{a.pool}-reserved",
                description=f"GPU pool {a.pool}: nodes launched into its capacity reservation group",
                capacity_reservation_specification=aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                    capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                        capacity_reservation_resource_group_arn=reservation_group.arn
                    )
                ),
                tag_specifications=self._tag_specifications("reserved"),
                tags=self._tags("reserved-lt"),
                # the group must hold the reservations before the first node launches
                opts=self._opts(depends_on=members),
                **lt_common,
            )
            groups["reserved"] = self._node_group(
                "reserved", lt_reserved, [a.subnet_ids[z] for z in self.reserved_split], a.reserved_nodes, cluster
            )
        if self.burst_max_nodes > 0 or a.spot_max_nodes > 0:
            # Burst nodes avoid capacity reservations: they must not eat another pool's or
            # team's open reservation while the reserved group's own stay targeted.
            lt_burst = aws.ec2.LaunchTemplate(
                f"{n}-burst",
                name=f"{a.cluster_name}-{a.pool}-burst",
                description=f"GPU pool {a.pool}: on-demand and spot burst nodes",
                capacity_reservation_specification=aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                    capacity_reservation_preference="none"
                ),
                tag_specifications=self._tag_specifications("burst"),
                tags=self._tags("burst-lt"),
                opts=self._opts(),
                **lt_common,
            )
            subnets = [a.subnet_ids[z] for z in a.zones]
            if self.burst_max_nodes > 0:
                groups["on-demand"] = self._node_group("on-demand", lt_burst, subnets, self.burst_max_nodes, cluster)
            if a.spot_max_nodes > 0:
                groups["spot"] = self._node_group("spot", lt_burst, subnets, a.spot_max_nodes, cluster)
        self.node_group_names = {role: g.node_group_name for role, g in groups.items()}
        self._node_groups = groups

    def _tag_specifications(self, role: str) -> list[aws.ec2.LaunchTemplateTagSpecificationArgs]:
        # Instances, their volumes and ENIs carry the chargeback tags too (EKS does not copy
        # node group tags onto instances).
        return [
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=self._tags(f"{role}-node"))
            for kind in ("instance", "volume", "network-interface")
        ]

    def autoscaler_template_tags(self, role: str) -> dict[str, str]:
        """ASG tags that tell the cluster-autoscaler what a node of an empty group looks like."""
        prefix = "k8s.io/cluster-autoscaler/node-template"
        tags = {f"{prefix}/label/{k}": v for k, v in self.node_labels(role).items()}
        tags[f"{prefix}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE['aws']}:NoSchedule"
        tags[f"{prefix}/resources/{GPU_RESOURCE}"] = str(self.gpus_per_node)
        return tags

    def _node_group(
        self, role: str, lt: aws.ec2.LaunchTemplate, subnets: list, max_size: int, cluster: pulumi.Input[str]
    ) -> aws.eks.NodeGroup:
        a, n = self._in, self._name
        fixed = role == "reserved"
        discovery = {
            "k8s.io/cluster-autoscaler/enabled": "true",
            f"k8s.io/cluster-autoscaler/{a.cluster_name}": "owned",
        }
        group = aws.eks.NodeGroup(
            f"{n}-{role}",
            cluster_name=cluster,
            # Fixed, deterministic name: the autoscaler's priority regexes match it.
            node_group_name=f"{a.pool}-{role}",
            node_role_arn=a.node_role_arn,
            subnet_ids=subnets,
            ami_type=EKS_GPU_AMI_TYPE,
            capacity_type="SPOT" if role == "spot" else "ON_DEMAND",
            instance_types=[a.instance_type],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=max_size if fixed else 0, desired_size=max_size if fixed else 0, max_size=max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=self.node_labels(role),
            taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE["aws"], effect="NO_SCHEDULE")],
            tags=self._tags(role, **discovery, **self.autoscaler_template_tags(role)),
            opts=self._opts(
                # A fixed name cannot be created next to its predecessor.
                delete_before_replace=True,
                # The autoscaler owns desired size of burst groups; `up` must not reset it.
                ignore_changes=[] if fixed else ["scalingConfig.desiredSize"],
            ),
        )
        if not fixed:
            # EKS does not copy node group tags to the ASG, and a group at 0 nodes has no
            # node to read labels/taints from: tag the ASG so scale-from-zero works.
            asg = group.resources.apply(_asg_name)
            for i, (key, value) in enumerate(sorted(self.autoscaler_template_tags(role).items())):
                aws.autoscaling.Tag(
                    f"{n}-{role}-template-{i}",
                    autoscaling_group_name=asg,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=self._opts(),
                )
        return group

    # -- GCP -----------------------------------------------------------------------------
    def _gcp(self) -> None:
        a, n, spec = self._in, self._name, self._spec
        cluster = a.cluster if a.cluster is not None else a.cluster_name
        accelerator = spec.accelerator
        for zone, count in self.reserved_split.items():
            suffix = zone.rsplit("-", 1)[-1]
            reservation = gcp.compute.Reservation(
                f"{n}-reservation-{zone}",
                name=_gcp_name(f"{a.cluster_name}-{a.pool}-{zone}", 63),
                project=a.gcp_project,
                zone=zone,
                description=f"GPU pool {a.pool} baseline ({a.commitment} commitment)",
                # Only node pools that name this reservation may use it.
                specific_reservation_required=True,
                specific_reservation=gcp.compute.ReservationSpecificReservationArgs(
                    count=count,
                    instance_properties=gcp.compute.ReservationSpecificReservationInstancePropertiesArgs(
                        machine_type=a.instance_type,
                        guest_accelerators=[
                            gcp.compute.ReservationSpecificReservationInstancePropertiesGuestAcceleratorArgs(
                                accelerator_type=accelerator, accelerator_count=spec.gpus
                            )
                        ],
                    ),
                ),
                opts=self._opts(),
            )
            self.reservation_ids[zone] = reservation.name
            pool = self._node_pool(
                f"reserved-{suffix}",
                "reserved",
                cluster,
                [zone],
                node_count=count,
                reservation=reservation.name,
            )
            self.node_group_names[f"reserved-{zone}"] = pool.name
        if self.burst_max_nodes > 0:
            pool = self._node_pool("on-demand", "on-demand", cluster, list(a.zones), total_max=self.burst_max_nodes)
            self.node_group_names["on-demand"] = pool.name
        if a.spot_max_nodes > 0:
            pool = self._node_pool("spot", "spot", cluster, list(a.zones), total_max=a.spot_max_nodes)
            self.node_group_names["spot"] = pool.name

    def _node_pool(
        self,
        role_name: str,
        role: str,
        cluster: pulumi.Input[str],
        zones: list[str],
        node_count: int | None = None,
        total_max: int | None = None,
        reservation: pulumi.Input[str] | None = None,
    ) -> gcp.container.NodePool:
        a, n, spec = self._in, self._name, self._spec
        labels = {k.lower(): v for k, v in a.tags.items()}
        affinity = (
            gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                consume_reservation_type="SPECIFIC_RESERVATION",
                key="compute.googleapis.com/reservation-name",
                values=[reservation],
            )
            if reservation is not None
            # burst nodes must not consume any reservation (ours are specific-only anyway)
            else gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="NO_RESERVATION")
        )
        return gcp.container.NodePool(
            f"{n}-{role_name}",
            name=_gcp_name(f"{a.pool}-{role_name}", 40),
            project=a.gcp_project,
            cluster=cluster,
            location=a.region,
            node_locations=zones,
            node_count=node_count,
            initial_node_count=0 if total_max is not None else None,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=0, total_max_node_count=total_max, location_policy="ANY"
            )
            if total_max is not None
            else None,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # A reserved pool cannot surge (the reservation has no spare VM): replace in place.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE",
                max_surge=0 if role == "reserved" else 1,
                max_unavailable=1 if role == "reserved" else 0,
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=a.instance_type,
                spot=role == "spot",
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=spec.accelerator,
                        count=spec.gpus,
                        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=a.gpu_driver_version
                        ),
                    )
                ],
                reservation_affinity=affinity,
                service_account=a.node_service_account,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                disk_type="pd-balanced",
                disk_size_gb=a.disk_size_gb,
                labels=self.node_labels(role),
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE["gcp"], effect="NO_SCHEDULE"
                    )
                ],
                resource_labels=labels,
            ),
            opts=self._opts(
                ignore_changes=["nodeCount"] if total_max is not None else [],
            ),
        )


def _asg_name(resources: Any) -> str | None:
    """The ASG behind a managed node group (known after creation; unknown in preview)."""
    try:
        first = resources[0]
        groups = first.get("autoscaling_groups") if isinstance(first, dict) else first.autoscaling_groups
        group = groups[0]
        return group.get("name") if isinstance(group, dict) else group.name
    except (TypeError, IndexError, KeyError, AttributeError):
        return None


def _gcp_name(value: str, limit: int) -> str:
    from aiplat.cluster import short_id

    return short_id(value, limit)


# -- per-cluster add-ons ----------------------------------------------------------------
@dataclass(frozen=True)
class GpuAddonsArgs:
    """What a cluster's GPU add-ons need. Build once per cluster that has GPU pools."""

    cloud: Literal["aws", "gcp"]
    """Cloud of the cluster. Required."""
    region: str
    """Region (the cluster-autoscaler's AWS region). Required."""
    cluster_name: str
    """Physical cluster name (autoscaler auto-discovery and IAM condition). Required."""
    kube_provider: k8s.Provider
    """Kubernetes provider of the cluster (``Cluster.kube_provider``). Required."""
    pools: list[GpuPool]
    """The cluster's GPU pools (priority expander tiers). Required, non-empty."""
    kubernetes_version: str = "1.32"
    """Control-plane minor version; picks the cluster-autoscaler image. Default 1.32."""
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider (IRSA trust). Required on AWS."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme (IRSA condition keys). Required on AWS."""
    tags: dict[str, str] = field(default_factory=dict)
    """The stack's tags, merged into the IAM role and used as Kubernetes labels. Default none."""


class GpuAddons(AiplatComponent):
    """Cluster-wide GPU add-ons. Type ``aiplat:gpu_pool:GpuAddons``.

    AWS: cluster-autoscaler (IRSA role, priority expander ConfigMap, Helm release) and the
    NVIDIA device plugin. Both clouds: DCGM exporter. Outputs: ``releases`` (name ->
    Release), ``autoscaler_role_arn`` (AWS, else None).
    """

    def __init__(self, name: str, args: GpuAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        problems = []
        if not args.pools:
            problems.append(Problem("pools", "at least one GPU pool is needed"))
        if args.cloud == "aws":
            if args.oidc_provider_arn is None or args.oidc_issuer is None:
                problems.append(Problem("oidc_provider_arn", "required on AWS (IRSA for the cluster-autoscaler)"))
            if args.kubernetes_version not in CLUSTER_AUTOSCALER_IMAGE_TAGS:
                problems.append(Problem("kubernetes_version", f"no cluster-autoscaler image pinned for {args.kubernetes_version}"))
        if problems:
            raise ConfigError(problems, f"GpuAddons {name}")
        super().__init__("aiplat:gpu_pool:GpuAddons", name, None, opts)
        self._name, self._in = name, args
        self._k8s_labels = {"app.kubernetes.io/managed-by": "aiplat", "app.kubernetes.io/part-of": "aiplat-gpu"}
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.autoscaler_role_arn: pulumi.Output[str] | None = None
        if args.cloud == "aws":
            self._cluster_autoscaler()
            self._device_plugin()
        self._dcgm_exporter()
        self.register_outputs(
            {"releases": {k: r.status for k, r in self.releases.items()}, "autoscaler_role_arn": self.autoscaler_role_arn}
        )

    def _release(self, key: str, values: dict[str, Any], **opts) -> k8s.helm.v3.Release:
        chart = CHARTS[key]
        release = k8s.helm.v3.Release(
            f"{self._name}-{key}",
            name=key,
            chart=chart["chart"],
            version=chart["version"],
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart["repo"]),
            namespace=ADDON_NAMESPACE,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            max_history=5,
            opts=self._k8s(**opts),
        )
        self.releases[key] = release
        return release

    @staticmethod
    def _gpu_placement() -> dict[str, Any]:
        """Run on GPU nodes only (every pool node has the accelerator label), tolerating the taint."""
        return {
            "tolerations": [dict(GPU_TOLERATION)],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": LABEL_ACCELERATOR, "operator": "Exists"}]}]
                    }
                }
            },
        }

    def _cluster_autoscaler(self) -> None:
        a, n = self._in, self._name
        sub = f"system:serviceaccount:{ADDON_NAMESPACE}:{CLUSTER_AUTOSCALER_SA}"
        trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, ADDON_NAMESPACE, CLUSTER_AUTOSCALER_SA)
        role = aws.iam.Role(
            f"{n}-cluster-autoscaler",
            description=f"cluster-autoscaler of {a.cluster_name} (IRSA, {sub})",
            assume_role_policy=trust,
            tags={"Name": f"{n}-cluster-autoscaler", **a.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = aws.iam.RolePolicy(
            f"{n}-cluster-autoscaler",
            role=role.id,
            policy=json.dumps(_autoscaler_policy(a.cluster_name)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.autoscaler_role_arn = role.arn
        groups: dict[str, list[str]] = {"reserved": [], "on-demand": [], "spot": []}
        for pool in a.pools:
            for role_name in pool.node_group_names:
                groups[role_name].append(f"{pool.pool_name}-{role_name}")
        priorities = k8s.core.v1.ConfigMap(
            f"{n}-priority-expander",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PRIORITY_CONFIGMAP, namespace=ADDON_NAMESPACE, labels=self._k8s_labels
            ),
            data={"priorities": priority_expander_config(groups)},
            opts=self._k8s(),
        )
        self._release(
            "cluster-autoscaler",
            {
                "cloudProvider": "aws",
                "awsRegion": a.region,
                "autoDiscovery": {"clusterName": a.cluster_name},
                "image": {"tag": CLUSTER_AUTOSCALER_IMAGE_TAGS[a.kubernetes_version]},
                "rbac": {
                    "serviceAccount": {
                        "create": True,
                        "name": CLUSTER_AUTOSCALER_SA,
                        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                    }
                },
                "extraArgs": {
                    "expander": "priority",
                    # reserved / on-demand / spot groups of a pool look alike; balancing
                    # them would defeat the priority order.
                    "balance-similar-node-groups": "false",
                    "skip-nodes-with-system-pods": "false",
                    "scale-down-unneeded-time": "10m",
                    # GPU capacity can take a while; give up on a group after this and
                    # try the next priority (e.g. spot when on-demand is short).
                    "max-node-provision-time": "15m",
                },
                "nodeSelector": {LABEL_POOL: "system"},
                "priorityClassName": "system-cluster-critical",
                "podLabels": self._k8s_labels,
            },
            depends_on=[priorities, policy],
        )

    def _device_plugin(self) -> None:
        self._release(
            "nvidia-device-plugin",
            {
                **self._gpu_placement(),
                "priorityClassName": "system-node-critical",
                # GFD/NFD label nodes we already label from config; keep the surface small.
                "gfd": {"enabled": False},
                "nfd": {"enabled": False},
            },
        )

    def _dcgm_exporter(self) -> None:
        values: dict[str, Any] = {
            **self._gpu_placement(),
            # The ServiceMonitor CRD is not guaranteed; Prometheus scrapes the annotated pods.
            "serviceMonitor": {"enabled": False},
            "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9400"},
            "priorityClassName": "system-node-critical",
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        }
        if self._in.cloud == "gcp":
            # GKE installs the driver under /home/kubernetes/bin/nvidia and has no NVIDIA
            # container runtime: mount the driver libraries and run privileged to see /dev/nvidia*.
            values.update(
                securityContext={"privileged": True},
                extraHostVolumes=[{"name": "nvidia-install-dir-host", "hostPath": "/home/kubernetes/bin/nvidia"}],
                extraVolumeMounts=[
                    {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia", "readOnly": True},
                    # keep the chart's default counters mount (lists replace, they do not merge)
                    {
                        "name": "exporter-metrics-volume",
                        "mountPath": "/etc/dcgm-exporter/default-counters.csv",
                        "subPath": "default-counters.csv",
                    },
                ],
                extraEnv=[{"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"}],
            )
        self._release("dcgm-exporter", values)


def _autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """Least privilege for cluster-autoscaler: read everything it must, scale only the
    ASGs EKS tagged as owned by this cluster."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
            {
                "Sid": "ScaleOwnGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ],
    }
