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

Where the code is: ``GpuPool`` and ``GpuAddons`` below only validate their args, declare
their outputs and call free functions: ``args`` (typed args and their validators),
``_nodes`` (the label/taint/role table and the zone split), ``_eks`` (reservations, launch
templates, node groups), ``_gke`` (reservations, node pools) and ``addons`` (the pinned
Helm releases). Every name other code imports is re-exported here; import from
``aiplat.gpu_pool``, not from the modules behind it.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.catalog import gpu as gpu_catalog
from aiplat.errors import ConfigError
from aiplat.gpu_pool import _eks, _gke, addons
from aiplat.gpu_pool._nodes import (
    EKS_GPU_AMI_TYPE,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    GPU_TOLERATION,
    LABEL_ACCELERATOR,
    LABEL_AWS_ACCELERATOR,
    LABEL_CAPACITY,
    LABEL_COMMITMENT,
    LABEL_POOL,
    ROLES,
    Nodes,
    accelerator_label,
    node_labels,
    split_across_zones,
)
from aiplat.gpu_pool.addons import (
    ADDON_NAMESPACE,
    CHARTS,
    CLUSTER_AUTOSCALER_IMAGE_TAGS,
    CLUSTER_AUTOSCALER_SA,
    PRIORITY_CONFIGMAP,
    priority_expander_config,
)
from aiplat.gpu_pool.args import GpuAddonsArgs, GpuPoolArgs, validate_addons_args, validate_pool_args

__all__ = [
    "GpuPool",
    "GpuPoolArgs",
    "GpuAddons",
    "GpuAddonsArgs",
    "Nodes",
    "validate_pool_args",
    "validate_addons_args",
    "split_across_zones",
    "accelerator_label",
    "node_labels",
    "priority_expander_config",
    "LABEL_POOL",
    "LABEL_ACCELERATOR",
    "LABEL_CAPACITY",
    "LABEL_COMMITMENT",
    "LABEL_AWS_ACCELERATOR",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "GPU_TAINT_VALUE",
    "GPU_TOLERATION",
    "EKS_GPU_AMI_TYPE",
    "ROLES",
    "CHARTS",
    "CLUSTER_AUTOSCALER_IMAGE_TAGS",
    "ADDON_NAMESPACE",
    "CLUSTER_AUTOSCALER_SA",
    "PRIORITY_CONFIGMAP",
]


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
        nodes = _eks.node_groups(self) if args.cloud == "aws" else _gke.node_pools(self, spec)
        self.node_group_names: dict[str, pulumi.Output[str]] = nodes.node_group_names
        self.reservation_ids: dict[str, pulumi.Output[str]] = nodes.reservation_ids
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

    def node_labels(self, role: str) -> dict[str, str]:
        """Kubernetes labels of the pool's nodes in ``role`` (reserved | on-demand | spot)."""
        a = self._in
        return node_labels(a.cloud, a.pool, self.accelerator, a.commitment, role)

    def autoscaler_template_tags(self, role: str) -> dict[str, str]:
        """ASG tags that tell the cluster-autoscaler what a node of an empty group looks like (AWS)."""
        return _eks.autoscaler_template_tags(self.node_labels(role), self.gpus_per_node)


class GpuAddons(AiplatComponent):
    """Cluster-wide GPU add-ons. Type ``aiplat:gpu_pool:GpuAddons``.

    AWS: cluster-autoscaler (IRSA role, priority expander ConfigMap, Helm release) and the
    NVIDIA device plugin. Both clouds: DCGM exporter. Outputs: ``releases`` (name ->
    Release), ``autoscaler_role_arn`` (AWS, else None).
    """

    def __init__(self, name: str, args: GpuAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_addons_args(args)
        if problems:
            raise ConfigError(problems, f"GpuAddons {name}")
        super().__init__("aiplat:gpu_pool:GpuAddons", name, None, opts)
        self._name, self._in = name, args
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.autoscaler_role_arn: pulumi.Output[str] | None = None
        if args.cloud == "aws":
            self.autoscaler_role_arn, self.releases["cluster-autoscaler"] = addons.cluster_autoscaler(self, args)
            self.releases["nvidia-device-plugin"] = addons.device_plugin(self)
        self.releases["dcgm-exporter"] = addons.dcgm_exporter(self, args)
        self.register_outputs(
            {"releases": {k: r.status for k, r in self.releases.items()}, "autoscaler_role_arn": self.autoscaler_role_arn}
        )
