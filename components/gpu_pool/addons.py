"""The cluster-wide GPU add-ons: cluster-autoscaler, NVIDIA device plugin, DCGM exporter.

Each is a ``helm.v3.Release`` of a pinned chart (``CHARTS``; no helm binary needed) in
``kube-system``. On AWS, ``cluster_autoscaler`` creates an IRSA role trusted only by the
autoscaler's ServiceAccount with least-privilege scaling rights on this cluster's ASGs, the
priority expander's ConfigMap (reserved before on-demand before spot, from
``priority_expander_config``), then the release with the image matching the control
plane's minor version; ``device_plugin`` runs NVIDIA's device plugin (GKE runs its own).
``dcgm_exporter`` runs on both clouds; the device plugin and the exporter tolerate the GPU
taint and run on GPU nodes only (``gpu_placement``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from aiplat._base import AiplatComponent
from aiplat.gpu_pool._nodes import GPU_TOLERATION, LABEL_ACCELERATOR, LABEL_POOL, ROLES
from aiplat.identity import irsa_trust_policy
from aiplat.refs import GPU_ADDONS_NAMESPACE

if TYPE_CHECKING:
    from aiplat.gpu_pool.args import GpuAddonsArgs

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
# registry.k8s.io/autoscaling/cluster-autoscaler, one per control-plane minor (the autoscaler
# supports exactly its own minor); tags checked in kubernetes/autoscaler (cluster-autoscaler-1.3x.y).
CLUSTER_AUTOSCALER_IMAGE_TAGS = {"1.31": "v1.31.0", "1.32": "v1.32.0", "1.33": "v1.33.0", "1.34": "v1.34.0",
                                 "1.35": "v1.35.0"}
ADDON_NAMESPACE = GPU_ADDONS_NAMESPACE
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
PRIORITY_CONFIGMAP = "cluster-autoscaler-priority-expander"  # the name CA's priority expander reads
ADDON_LABELS = {"app.kubernetes.io/managed-by": "aiplat", "app.kubernetes.io/part-of": "aiplat-gpu"}
# dcgm-exporter on GKE (chart 4.8.1 deployment/values.yaml and templates/daemonset.yaml: the
# container's securityContext is the values map as is). A privileged container can escalate by
# definition; the API server accepts privileged only with allowPrivilegeEscalation true.
DCGM_GKE_SECURITY_CONTEXT = {"privileged": True, "allowPrivilegeEscalation": True}


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


def gpu_placement() -> dict[str, Any]:
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


def cluster_autoscaler(comp: AiplatComponent, a: GpuAddonsArgs) -> tuple[pulumi.Output[str], k8s.helm.v3.Release]:
    """The autoscaler's IRSA role, its policy, the priority ConfigMap and the release; returns
    the role's ARN and the release."""
    n = comp._name
    sub = f"system:serviceaccount:{ADDON_NAMESPACE}:{CLUSTER_AUTOSCALER_SA}"
    trust = irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, ADDON_NAMESPACE, CLUSTER_AUTOSCALER_SA)
    role = aws.iam.Role(
        f"{n}-cluster-autoscaler",
        description=f"cluster-autoscaler of {a.cluster_name} (IRSA, {sub})",
        assume_role_policy=trust,
        tags={"Name": f"{n}-cluster-autoscaler", **a.tags},
        opts=pulumi.ResourceOptions(parent=comp),
    )
    policy = aws.iam.RolePolicy(
        f"{n}-cluster-autoscaler",
        role=role.id,
        policy=json.dumps(_autoscaler_policy(a.cluster_name)),
        opts=pulumi.ResourceOptions(parent=comp),
    )
    groups: dict[str, list[str]] = {"reserved": [], "on-demand": [], "spot": []}
    for pool in a.pools:
        for role_name in pool.node_group_names:
            groups[role_name].append(f"{pool.pool_name}-{role_name}")
    priorities = k8s.core.v1.ConfigMap(
        f"{n}-priority-expander",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=PRIORITY_CONFIGMAP, namespace=ADDON_NAMESPACE, labels=ADDON_LABELS
        ),
        data={"priorities": priority_expander_config(groups)},
        opts=comp._k8s(),
    )
    release = _release(
        comp,
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
            "podLabels": ADDON_LABELS,
        },
        depends_on=[priorities, policy],
    )
    return role.arn, release


def device_plugin(comp: AiplatComponent) -> k8s.helm.v3.Release:
    """NVIDIA's device plugin on GPU nodes (AWS; GKE runs its own)."""
    return _release(
        comp,
        "nvidia-device-plugin",
        {
            **gpu_placement(),
            "priorityClassName": "system-node-critical",
            # GFD/NFD label nodes we already label from config; keep the surface small.
            "gfd": {"enabled": False},
            "nfd": {"enabled": False},
        },
    )


def dcgm_exporter(comp: AiplatComponent, a: GpuAddonsArgs) -> k8s.helm.v3.Release:
    """DCGM exporter on GPU nodes; on GKE with the host's driver libraries mounted."""
    values: dict[str, Any] = {
        **gpu_placement(),
        # The ServiceMonitor CRD is not guaranteed; Prometheus scrapes the annotated pods.
        "serviceMonitor": {"enabled": False},
        "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9400"},
        "priorityClassName": "system-node-critical",
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if a.cloud == "gcp":
        # GKE installs the driver under /home/kubernetes/bin/nvidia and has no NVIDIA
        # container runtime: mount the driver libraries and run privileged to see /dev/nvidia*
        # (the exporter asks for no GPU, so the device plugin mounts none). Helm merges this map
        # into the chart's securityContext (4.8.1: allowPrivilegeEscalation false, runAsUser 0,
        # SYS_ADMIN), and the API server refuses privileged with allowPrivilegeEscalation false.
        values.update(
            securityContext=dict(DCGM_GKE_SECURITY_CONTEXT),
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
    return _release(comp, "dcgm-exporter", values)


def _release(comp: AiplatComponent, key: str, values: dict[str, Any], **opts) -> k8s.helm.v3.Release:
    """The pinned chart ``key`` as release ``key`` in kube-system, owned by ``comp``."""
    return comp._pinned_release(key, CHARTS[key], ADDON_NAMESPACE, values, **opts)


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
