"""``deploy``: what the first ``pulumi up`` may take for granted in the clusters.

Read by the deploy analysis of ``aiplat check`` (``aiplat.tools.deploy``): a custom resource
whose CRD the program does not install, or a StorageClass whose CSI driver it does not
install, is a blocker unless declared here as present in the clusters beforehand (installed
by whoever owns a cluster the program does not build, or by the cloud). Keep it to what is
really outside the program: a declared CRD that is not there fails the ``up`` exactly as
the analysis would have said.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from aiplat.config._base import _Model

# group/version[/Kind]: a CRD group has at least one dot (the API server refuses one without).
CRD_REF = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/v[0-9]+((alpha|beta)[0-9]+)?"
                     r"(/[A-Z][A-Za-z0-9]*)?$")
# A CSI driver name: a DNS subdomain (Kubernetes CSIDriver naming), e.g. ebs.csi.aws.com.
PROVISIONER = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")


class PrerequisitesConfig(_Model):
    """What the clusters already have."""

    crds: list[str] = Field(
        default_factory=list,
        description='CRDs the clusters already serve, as "group/version" (every kind) or "group/version/Kind" '
                    '(e.g. "cert-manager.io/v1/Certificate"). Default none.')
    provisioners: list[str] = Field(
        default_factory=list,
        description="CSI provisioners the clusters already run (e.g. efs.csi.aws.com). Default none.")

    @field_validator("crds")
    @classmethod
    def _crds(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not CRD_REF.match(c)]
        if bad:
            raise ValueError(f"{bad} are not group/version or group/version/Kind with a dotted group "
                             f"(e.g. keda.sh/v1alpha1 or keda.sh/v1alpha1/ScaledObject)")
        if len(set(v)) != len(v):
            raise ValueError("lists a CRD twice")
        return v

    @field_validator("provisioners")
    @classmethod
    def _provisioners(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if not PROVISIONER.match(p) or len(p) > 253]
        if bad:
            raise ValueError(f"{bad} are not CSI provisioner names (a DNS subdomain, e.g. efs.csi.aws.com)")
        if len(set(v)) != len(v):
            raise ValueError("lists a provisioner twice")
        return v


class DeployConfig(_Model):
    """Inputs of the deploy analysis."""

    prerequisites: PrerequisitesConfig = Field(
        default_factory=PrerequisitesConfig, description="What the clusters have before the first up. Default none.")
