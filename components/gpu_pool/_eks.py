"""The EKS half of a GpuPool: capacity reservations, launch templates and managed node groups.

``node_groups`` creates, when the pool has a reserved baseline, one targeted On-Demand
Capacity Reservation per zone as members of a capacity reservation group and a launch
template that targets the group, then the fixed ``reserved`` node group; then one burst
launch template that avoids reservations, the ``on-demand`` group (0 .. max - reserved) and
the optional ``spot`` group, whose ASGs carry the cluster-autoscaler node-template tags so
they scale from zero. Every group runs the AL2023 NVIDIA AMI with the GPU taint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from aiplat.cluster import encrypted_root_volume
from aiplat.gpu_pool._nodes import (
    EKS_GPU_AMI_TYPE,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_COMMITMENT,
    LABEL_POOL,
    Nodes,
)

if TYPE_CHECKING:
    from aiplat.gpu_pool import GpuPool


def node_groups(comp: GpuPool) -> Nodes:
    """The pool's reservations, launch templates and node groups, owned by ``comp``."""
    a, n = comp._in, comp._name
    reservation_ids: dict[str, pulumi.Output[str]] = {}
    cluster = a.cluster if a.cluster is not None else a.cluster_name
    lt_common = dict(
        # Pods get AWS credentials through IRSA; hop limit 1 keeps them off the node role.
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        block_device_mappings=encrypted_root_volume(a.disk_size_gb, a.node_disk_key),
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
            tags=comp._tags("reservations", **{LABEL_POOL: a.pool}),
            opts=comp._opts(),
        )
        for zone, count in comp.reserved_split.items():
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
                tags=comp._tags(f"reservation-{zone}", **{LABEL_POOL: a.pool, LABEL_COMMITMENT: a.commitment}),
                opts=comp._opts(),
            )
            reservation_ids[zone] = cr.id
            members.append(
                aws.resourcegroups.Resource(
                    f"{n}-reservation-{zone}",
                    group_arn=reservation_group.arn,
                    resource_arn=cr.arn,
                    opts=comp._opts(),
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
            tag_specifications=_tag_specifications(comp, "reserved"),
            tags=comp._tags("reserved-lt"),
            # the group must hold the reservations before the first node launches
            opts=comp._opts(depends_on=members),
            **lt_common,
        )
        groups["reserved"] = _node_group(comp, 
            "reserved", lt_reserved, [a.subnet_ids[z] for z in comp.reserved_split], a.reserved_nodes, cluster
        )
    if comp.burst_max_nodes > 0 or a.spot_max_nodes > 0:
        # Burst nodes avoid capacity reservations: they must not eat another pool's or
        # team's open reservation while the reserved group's own stay targeted.
        lt_burst = aws.ec2.LaunchTemplate(
            f"{n}-burst",
            name=f"{a.cluster_name}-{a.pool}-burst",
            description=f"GPU pool {a.pool}: on-demand and spot burst nodes",
            capacity_reservation_specification=aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_preference="none"
            ),
            tag_specifications=_tag_specifications(comp, "burst"),
            tags=comp._tags("burst-lt"),
            opts=comp._opts(),
            **lt_common,
        )
        subnets = [a.subnet_ids[z] for z in a.zones]
        if comp.burst_max_nodes > 0:
            groups["on-demand"] = _node_group(comp, "on-demand", lt_burst, subnets, comp.burst_max_nodes, cluster)
        if a.spot_max_nodes > 0:
            groups["spot"] = _node_group(comp, "spot", lt_burst, subnets, a.spot_max_nodes, cluster)
    return Nodes({role: g.node_group_name for role, g in groups.items()}, reservation_ids)


def _tag_specifications(comp: GpuPool, role: str) -> list[aws.ec2.LaunchTemplateTagSpecificationArgs]:
    # Instances, their volumes and ENIs carry the chargeback tags too (EKS does not copy
    # node group tags onto instances).
    return [
        aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=comp._tags(f"{role}-node"))
        for kind in ("instance", "volume", "network-interface")
    ]


def autoscaler_template_tags(labels: dict[str, str], gpus_per_node: int) -> dict[str, str]:
    """ASG tags that tell the cluster-autoscaler what a node of an empty group looks like."""
    prefix = "k8s.io/cluster-autoscaler/node-template"
    tags = {f"{prefix}/label/{k}": v for k, v in labels.items()}
    tags[f"{prefix}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE['aws']}:NoSchedule"
    tags[f"{prefix}/resources/{GPU_RESOURCE}"] = str(gpus_per_node)
    return tags


def _node_group(
    comp: GpuPool, role: str, lt: aws.ec2.LaunchTemplate, subnets: list, max_size: int, cluster: pulumi.Input[str]
) -> aws.eks.NodeGroup:
    """One managed node group of ``role``; a burst group's ASG also gets the node-template tags."""
    a, n = comp._in, comp._name
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
        labels=comp.node_labels(role),
        taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE["aws"], effect="NO_SCHEDULE")],
        tags=comp._tags(role, **discovery, **comp.autoscaler_template_tags(role)),
        opts=comp._opts(
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
        for i, (key, value) in enumerate(sorted(comp.autoscaler_template_tags(role).items())):
            aws.autoscaling.Tag(
                f"{n}-{role}-template-{i}",
                autoscaling_group_name=asg,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=comp._opts(),
            )
    return group


def _asg_name(resources: Any) -> str | None:
    """The ASG behind a managed node group (known after creation; unknown in preview)."""
    try:
        first = resources[0]
        groups = first.get("autoscaling_groups") if isinstance(first, dict) else first.autoscaling_groups
        group = groups[0]
        return group.get("name") if isinstance(group, dict) else group.name
    except (TypeError, IndexError, KeyError, AttributeError):
        return None
