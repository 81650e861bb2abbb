"""EKS add-ons: the AWS Load Balancer Controller, the EBS CSI driver and the default StorageClass.

Each controller gets an IRSA role trusted only by its own ServiceAccount, with the policy of
``aiplat.addons.iam``. The EBS CSI driver is the EKS-managed add-on (EKS patches it); the
StorageClass it provisions for is gp3, encrypted with this cluster's volumes key, the
cluster's default (EKS 1.30+ ships no default class, so a claim without a class would stay
Pending forever), and waits for the add-on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aiplat.addons import charts, iam
from aiplat.identity import irsa_trust_policy

if TYPE_CHECKING:
    from aiplat.addons import ClusterAddons, ClusterAddonsArgs


@dataclass(frozen=True)
class EbsVolumes:
    """What a component creating its own EBS StorageClass needs from the cluster's CSI driver.

    ``role_name``: the driver's IAM role; a component with its own KMS key attaches
    ``aiplat.addons.iam.ebs_kms_policy`` for that key to it. ``parameters``: StorageClass
    parameters every aiplat EBS class carries (the cluster tag the driver's policy requires).
    """

    role_name: pulumi.Output[str]
    parameters: dict[str, str]


def load_balancer_controller(comp: ClusterAddons, a: ClusterAddonsArgs) -> k8s.helm.v3.Release:
    """IRSA role + policy, then the controller release in kube-system."""
    n = comp._name
    role = _irsa_role(comp, a, "aws-load-balancer-controller", charts.LBC_SERVICE_ACCOUNT,
                      "AWS Load Balancer Controller (TargetGroupBinding)")
    policy = aws.iam.RolePolicy(
        f"{n}-aws-load-balancer-controller",
        role=role.id,
        policy=pulumi.Output.from_input(a.vpc_id).apply(lambda vpc: json.dumps(
            iam.load_balancer_controller_policy(a.region, a.cluster_name, vpc, a.stack))),
        opts=comp._opts(),
    )
    values = pulumi.Output.all(a.vpc_id, role.arn).apply(
        lambda v: charts.load_balancer_controller_values(a.cluster_name, a.region, v[0], v[1]))
    return comp._release("aws-load-balancer-controller", charts.ADDON_NAMESPACE, values, depends_on=[policy])


def ebs_csi(comp: ClusterAddons, a: ClusterAddonsArgs) -> tuple[aws.eks.Addon, EbsVolumes, k8s.storage.v1.StorageClass]:
    """The volumes key, the driver's role and policies, the add-on and the default StorageClass."""
    n = comp._name
    key = aws.kms.Key(
        f"{n}-volumes",
        description=f"EBS volumes of {a.cluster_name} (default StorageClass {charts.DEFAULT_STORAGE_CLASS})",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=comp._tags("volumes"),
        opts=comp._opts(protect=a.production or a.protect),
    )
    aws.kms.Alias(f"{n}-volumes", name=f"alias/{a.cluster_name}-volumes", target_key_id=key.key_id,
                  opts=comp._opts())
    role = _irsa_role(comp, a, "ebs-csi", charts.EBS_CSI_SERVICE_ACCOUNT, "EBS CSI driver")
    volumes = aws.iam.RolePolicy(
        f"{n}-ebs-csi",
        role=role.id,
        policy=json.dumps(iam.ebs_csi_policy(a.region, a.cluster_name)),
        opts=comp._opts(),
    )
    kms = aws.iam.RolePolicy(
        f"{n}-ebs-csi-volumes-key",
        role=role.id,
        policy=key.arn.apply(lambda arn: json.dumps(iam.ebs_kms_policy(a.region, [arn]))),
        opts=comp._opts(),
    )
    spec = charts.EKS_ADDONS["aws-ebs-csi-driver"]
    addon = aws.eks.Addon(
        f"{n}-ebs-csi",
        cluster_name=a.cluster,
        addon_name="aws-ebs-csi-driver",
        addon_version=spec["version"],
        service_account_role_arn=role.arn,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=comp._tags("ebs-csi"),
        # The controller must run to turn the add-on ACTIVE (system nodes), with its permissions.
        opts=comp._opts(depends_on=[*a.system_nodes, volumes, kms]),
    )
    storage_class = k8s.storage.v1.StorageClass(
        f"{n}-gp3",
        metadata={"name": charts.DEFAULT_STORAGE_CLASS, "labels": dict(charts.ADDON_LABELS),
                  "annotations": {charts.DEFAULT_CLASS_ANNOTATION: "true"}},
        provisioner=charts.EBS_CSI_PROVISIONER,
        parameters=key.arn.apply(lambda arn: charts.storage_class_parameters(arn, a.cluster_name)),
        reclaim_policy="Delete",
        # the volume is created in the zone the pod is scheduled to
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=comp._k8s(depends_on=[addon]),
    )
    comp.volumes_key_arn = key.arn
    return addon, EbsVolumes(role_name=role.name, parameters=charts.volume_tag_parameters(a.cluster_name)), \
        storage_class


def _irsa_role(comp: ClusterAddons, a: ClusterAddonsArgs, role: str, service_account: str,
               what: str) -> aws.iam.Role:
    sub = f"system:serviceaccount:{charts.ADDON_NAMESPACE}:{service_account}"
    return aws.iam.Role(
        f"{comp._name}-{role}",
        description=f"{what} of {a.cluster_name} (IRSA, {sub})",
        assume_role_policy=irsa_trust_policy(a.oidc_provider_arn, a.oidc_issuer, charts.ADDON_NAMESPACE,
                                             service_account),
        tags=comp._tags(role),
        opts=comp._opts(),
    )
