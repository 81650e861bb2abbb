"""Least-privilege IAM documents of the EKS add-ons (pure; tested without an engine).

Written from what each controller calls at its pinned version, not copied from the
upstream reference policies, which are written for every feature in every account:

* AWS Load Balancer Controller v3.5.0 in TargetGroupBinding mode: the webhook describes the
  bound target group (webhooks/elbv2/targetgroup_helper.go), the controller registers and
  deregisters pod IPs and reads target health (pkg/targetgroupbinding/targets_manager.go),
  resolves pod ENIs (pkg/networking/pod_eni_info_resolver.go: DescribeInstances,
  DescribeNetworkInterfaces), reads the VPC's CIDRs (vpc_info_provider.go) and, for a
  binding's ``networking`` rules, authorizes/revokes ingress on the node security group
  (security_group_manager.go). The "TargetGroupBinding only" subset of
  docs/deploy/installation.md also lists ModifyTargetGroup(Attributes): at v3.5.0 only the
  Ingress/Service deployers (pkg/deploy/elbv2) call them, and those are off, so they are left
  out. Writes are scoped to this region, to target groups tagged with the stack, and to
  security groups of this cluster's VPC tagged ``kubernetes.io/cluster/<name>`` (what EKS tags
  its cluster security group with, the one the controller edits: networking_manager.go).
* EBS CSI driver v1.64.0 (docs/example-iam-policy.json, docs/install.md): volumes only (no
  snapshot controller in the cluster, so no snapshot actions), only in this region, and only
  volumes carrying this cluster's tag (every aiplat StorageClass sets it), besides the tag
  the driver itself puts on every volume it creates. KMS: the actions EBS needs to encrypt a
  volume with a customer managed key (EBS user guide, "Requirements for Amazon EBS
  encryption"), on the named keys only, only through EC2, grants only for AWS resources.
"""

from __future__ import annotations

from typing import Any

from aiplat.addons.charts import VOLUME_CLUSTER_TAG

VERSION = "2012-10-17"


def load_balancer_controller_policy(region: str, cluster_name: str, vpc_id: str, stack: str) -> dict[str, Any]:
    """The controller's permissions for TargetGroupBinding with ``networking`` rules."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                # Describe calls have no resource-level permissions.
                "Action": [
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeVpcs",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ],
                "Resource": "*",
            },
            {
                "Sid": "RegisterPodsInStackTargetGroups",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": f"arn:aws:elasticloadbalancing:{region}:*:targetgroup/*/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/stack": stack}},
            },
            {
                "Sid": "OpenClusterSecurityGroupToTheLoadBalancer",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": f"arn:aws:ec2:{region}:*:security-group/*",
                "Condition": {
                    "Null": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "false"},
                    "ArnLike": {"ec2:Vpc": f"arn:aws:ec2:{region}:*:vpc/{vpc_id}"},
                },
            },
        ],
    }


def ebs_csi_policy(region: str, cluster_name: str) -> dict[str, Any]:
    """The EBS CSI controller's volume permissions (its KMS keys come from ``ebs_kms_policy``)."""
    volumes = f"arn:aws:ec2:{region}:*:volume/*"
    ours = {f"aws:ResourceTag/{VOLUME_CLUSTER_TAG}": cluster_name}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeTags",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVolumesModifications",
                    "ec2:DescribeVolumeStatus",
                ],
                "Resource": "*",
            },
            {
                "Sid": "CreateClusterVolumes",
                "Effect": "Allow",
                "Action": ["ec2:CreateVolume"],
                "Resource": volumes,
                "Condition": {"StringEquals": {
                    f"aws:RequestTag/{VOLUME_CLUSTER_TAG}": cluster_name,
                    "aws:RequestTag/ebs.csi.aws.com/cluster": "true",
                }},
            },
            {
                "Sid": "TagOnCreate",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": volumes,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateVolume"}},
            },
            {
                "Sid": "ManageClusterVolumes",
                "Effect": "Allow",
                "Action": ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:ModifyVolume", "ec2:DeleteVolume"],
                "Resource": volumes,
                "Condition": {"StringEquals": ours},
            },
            {
                # Attach/detach also name the instance; the volume condition above bounds what moves.
                "Sid": "AttachToInstances",
                "Effect": "Allow",
                "Action": ["ec2:AttachVolume", "ec2:DetachVolume"],
                "Resource": f"arn:aws:ec2:{region}:*:instance/*",
            },
        ],
    }


def ebs_kms_policy(region: str, key_arns: list[str]) -> dict[str, Any]:
    """Lets the EBS CSI driver create and attach volumes encrypted with ``key_arns``."""
    via_ec2 = {"kms:ViaService": f"ec2.{region}.amazonaws.com"}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "EncryptVolumes",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"],
                "Resource": sorted(key_arns),
                "Condition": {"StringEquals": via_ec2},
            },
            {
                "Sid": "GrantToEbs",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant"],
                "Resource": sorted(key_arns),
                "Condition": {"StringEquals": via_ec2, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }
