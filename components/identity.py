"""Workload identity shared by the components: no static keys anywhere.

``irsa_trust_policy`` is the one trust document for IAM Roles for Service Accounts: the
cluster's OIDC provider may assume the role only for one Kubernetes service account
(``sub``) and only for STS (``aud``), so another pod in the cluster cannot borrow it.
"""

from __future__ import annotations

import json

import pulumi


def irsa_trust_policy(
    oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """Trust policy letting ``system:serviceaccount:<namespace>:<service_account>`` assume a role.

    ``oidc_issuer`` is the issuer host/path without scheme (``oidc.eks.<region>.amazonaws.com/id/<id>``).
    """
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda v: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": v[0]},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {f"{v[1]}:sub": subject, f"{v[1]}:aud": "sts.amazonaws.com"}},
                    }
                ],
            }
        )
    )
