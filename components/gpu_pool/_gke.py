"""The GKE half of a GpuPool: zonal reservations and the node pools that consume them.

``node_pools`` creates, per zone with reserved nodes, one specific reservation (machine
type and GPUs) and a ``reserved-<zone suffix>`` node pool with a fixed count that consumes
exactly it; then an ``on-demand`` pool autoscaling 0 .. max - reserved across the zones and
an optional ``spot`` pool, both consuming no reservation. GKE installs the GPU driver and
the device plugin; nodes run as the cluster's node service account behind the GKE metadata
server (Workload Identity), with Shielded VM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from aiplat.gpu_pool._nodes import GPU_TAINT_KEY, GPU_TAINT_VALUE, Nodes

if TYPE_CHECKING:
    from aiplat.catalog.gpu import GpuInstanceType
    from aiplat.gpu_pool import GpuPool


def node_pools(comp: GpuPool, spec: GpuInstanceType) -> Nodes:
    """The pool's reservations and node pools, owned by ``comp``; ``spec`` is its catalog entry."""
    a, n = comp._in, comp._name
    node_group_names: dict[str, pulumi.Output[str]] = {}
    reservation_ids: dict[str, pulumi.Output[str]] = {}
    cluster = a.cluster if a.cluster is not None else a.cluster_name
    accelerator = spec.accelerator
    for zone, count in comp.reserved_split.items():
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
            opts=comp._opts(),
        )
        reservation_ids[zone] = reservation.name
        pool = _node_pool(
            comp,
            spec,
            f"reserved-{suffix}",
            "reserved",
            cluster,
            [zone],
            node_count=count,
            reservation=reservation.name,
        )
        node_group_names[f"reserved-{zone}"] = pool.name
    if comp.burst_max_nodes > 0:
        pool = _node_pool(comp, spec, "on-demand", "on-demand", cluster, list(a.zones), total_max=comp.burst_max_nodes)
        node_group_names["on-demand"] = pool.name
    if a.spot_max_nodes > 0:
        pool = _node_pool(comp, spec, "spot", "spot", cluster, list(a.zones), total_max=a.spot_max_nodes)
        node_group_names["spot"] = pool.name
    return Nodes(node_group_names, reservation_ids)


def _node_pool(
    comp: GpuPool,
    spec: GpuInstanceType,
    role_name: str,
    role: str,
    cluster: pulumi.Input[str],
    zones: list[str],
    node_count: int | None = None,
    total_max: int | None = None,
    reservation: pulumi.Input[str] | None = None,
) -> gcp.container.NodePool:
    a, n = comp._in, comp._name
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
            boot_disk_kms_key=a.node_disk_key,
            labels=comp.node_labels(role),
            taints=[
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE["gcp"], effect="NO_SCHEDULE"
                )
            ],
            resource_labels=labels,
        ),
        opts=comp._opts(
            ignore_changes=["nodeCount"] if total_max is not None else [],
            depends_on=list(a.node_disk_ready),
        ),
    )


def _gcp_name(value: str, limit: int) -> str:
    from aiplat.cluster import short_id

    return short_id(value, limit)
