"""GKE side of the add-ons: let the private control plane reach KEDA.

A private GKE cluster's control plane reaches the nodes only on 443 and 10250 (the
firewall rule GKE creates). KEDA serves the external metrics API on 6443 and its admission
webhooks on 9443 (chart keda 2.20.2; the KEDA docs name 6443 for GKE): without this rule the
HPAs KEDA creates get no metrics and every ScaledObject waits for the webhook's timeout.
The rule admits only the control plane's /28 and only to the cluster's node service account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from aiplat.addons import charts
from aiplat.cluster import short_id

if TYPE_CHECKING:
    from aiplat.addons import ClusterAddons, ClusterAddonsArgs


def keda_control_plane_firewall(comp: ClusterAddons, a: ClusterAddonsArgs) -> gcp.compute.Firewall:
    return gcp.compute.Firewall(
        f"{comp._name}-keda-control-plane",
        name=short_id(f"{a.cluster_name}-keda-cp", 63),
        project=a.gcp_project,
        network=a.network,
        description=f"GKE control plane of {a.cluster_name} to KEDA's metrics API and webhooks",
        direction="INGRESS",
        source_ranges=[a.master_cidr],
        target_service_accounts=[a.node_service_account],
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(charts.KEDA_CONTROL_PLANE_PORTS))],
        opts=comp._opts(),
    )
