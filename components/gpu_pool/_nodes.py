"""What a GPU pool's nodes look like on either cloud: the one table and the pure helpers.

Labels (``aiplat.io/pool``, ``aiplat.io/accelerator``, ``aiplat.io/capacity-type``,
``aiplat.io/commitment`` on reserved nodes, and on AWS ``k8s.amazonaws.com/accelerator``),
the ``nvidia.com/gpu`` NoSchedule taint and its toleration, the roles with their
cluster-autoscaler priorities, the zone split of the reserved baseline and the GPU model as
a label value all derive from here, so EKS node groups, GKE node pools, the add-ons and the
workloads that select them agree. ``Nodes`` is what a cloud module returns to the facade.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pulumi

from aiplat.refs import CAPACITY_NODE_LABEL, POOL_NODE_LABEL

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


class Nodes(NamedTuple):
    """What ``_eks.node_groups`` / ``_gke.node_pools`` created, as the pool's outputs name it."""

    node_group_names: dict[str, pulumi.Output[str]]
    """Role -> physical node group (AWS) / node pool (GCP) name."""
    reservation_ids: dict[str, pulumi.Output[str]]
    """Zone -> capacity reservation id (AWS) / reservation name (GCP)."""


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


def node_labels(cloud: str, pool: str, accelerator: str, commitment: str, role: str) -> dict[str, str]:
    """Kubernetes labels of a pool's nodes in ``role`` (reserved | on-demand | spot)."""
    capacity, _ = ROLES[role]
    labels = {
        LABEL_POOL: pool,
        LABEL_ACCELERATOR: accelerator,
        LABEL_CAPACITY: capacity,
    }
    if role == "reserved":
        labels[LABEL_COMMITMENT] = commitment
    if cloud == "aws":
        labels[LABEL_AWS_ACCELERATOR] = accelerator
    return labels
