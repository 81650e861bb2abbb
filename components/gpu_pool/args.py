"""The contract of a GPU pool and of a cluster's GPU add-ons: typed args and their validation.

``GpuPoolArgs`` states a pool as intent (instance type, reserved baseline, hard cap, optional
spot tier, placement); ``GpuAddonsArgs`` what the cluster-wide add-ons need. Each field
documents its default and which cloud it applies to. ``validate_pool_args`` and
``validate_addons_args`` are pure: they return every problem with the field as key path,
and the components raise them as one ``ConfigError`` before the first child exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s

from aiplat.catalog import gpu as gpu_catalog
from aiplat.errors import Problem
from aiplat.gpu_pool.addons import CLUSTER_AUTOSCALER_IMAGE_TAGS
from aiplat.refs import reserved_problem

if TYPE_CHECKING:
    from aiplat.gpu_pool import GpuPool


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
    node_disk_key: pulumi.Input[str] | None = None
    """Customer-managed key of the nodes' root (AWS, KMS key ARN) / boot (GCP, Cloud KMS key id)
    disks: the cluster's ``node_disk_key``. Default none (the provider's key)."""
    node_disk_ready: tuple = ()
    """What the pools wait for before using ``node_disk_key`` (the cluster's ``node_disk_ready``:
    on GCP the Compute Engine agent's grant on the key). Default nothing."""
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
    kubernetes_version: str = "1.35"
    """Control-plane minor version; picks the cluster-autoscaler image. Default 1.35."""
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider (IRSA trust). Required on AWS."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme (IRSA condition keys). Required on AWS."""
    tags: dict[str, str] = field(default_factory=dict)
    """The stack's tags, merged into the IAM role and used as Kubernetes labels. Default none."""


def validate_addons_args(args: GpuAddonsArgs) -> list[Problem]:
    """Every problem with the add-ons' args, with the field as key path; [] when they are good."""
    problems = []
    if not args.pools:
        problems.append(Problem("pools", "at least one GPU pool is needed"))
    if args.cloud == "aws":
        if args.oidc_provider_arn is None or args.oidc_issuer is None:
            problems.append(Problem("oidc_provider_arn", "required on AWS (IRSA for the cluster-autoscaler)"))
        if args.kubernetes_version not in CLUSTER_AUTOSCALER_IMAGE_TAGS:
            problems.append(Problem("kubernetes_version", f"no cluster-autoscaler image pinned for {args.kubernetes_version}"))
    return problems
