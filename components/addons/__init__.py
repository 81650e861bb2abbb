"""ClusterAddons: the controllers the platform's own resources need, installed before they are used.

One ``ClusterAddons`` per cluster (type ``aiplat:addons:ClusterAddons``), built right after
the ``Cluster`` and before anything that creates a custom resource or a volume. Each add-on
is pinned (``CHARTS``, ``EKS_ADDONS``, with the upstream version its values were read at)
and runs with least privilege:

* **KEDA** (both clouds): the ScaledObjects that scale every Triton track. No cloud identity
  (its only trigger is the in-cluster Prometheus); it may scale Deployments and StatefulSets
  only. On GKE a firewall rule lets the private control plane reach its metrics API and
  webhooks (``_gcp``).
* **prometheus-operator CRDs** (both clouds): ServiceMonitor, PodMonitor, PrometheusRule, ...
  in their own pinned release, so Triton's and Milvus's monitors can be created before (and
  independently of) the kube-prometheus-stack release, and a chart bump upgrades the CRDs.
* **AWS Load Balancer Controller** (EKS): fills the gateway's ALB target groups with Triton
  pod IPs (TargetGroupBinding); IRSA role for exactly that (``iam``).
* **EBS CSI driver** (EKS add-on, IRSA role scoped to this cluster's volumes and its keys) and
  the **default StorageClass** ``aiplat-gp3-encrypted`` (gp3, encrypted with the cluster's
  volumes KMS key): Prometheus's and Milvus's volumes provision.

``installers`` (an ``Installers``) tells the components that build on the cluster which
resource installs the CRDs of an API group and which installs a CSI provisioner; each of
their custom resources and storage classes ``depends_on`` exactly that resource, so a first
``pulumi up`` never creates a custom resource before its CRD exists. Without an
``Installers`` (a component used on a cluster aiplat did not build) nothing is added: the
CRDs are then that cluster's owner's business. Which groups a chart installs, and which CSI
drivers EKS and GKE run, come from the installers catalog (components/catalog/installers.yaml,
``charts.crd_groups``): the deploy analysis of ``aiplat check`` judges the graph with the same
facts.

Where the code is: ``charts`` (pins, values, StorageClass parameters; pure), ``iam`` (the
IAM documents; pure), ``_aws`` (the EKS add-ons), ``_gcp`` (the GKE firewall rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.addons import _aws, _gcp
from aiplat.addons._aws import EbsVolumes
from aiplat.addons.charts import (
    ADDON_NAMESPACE,
    BUILT_IN_PROVISIONERS,
    CHARTS,
    DEFAULT_STORAGE_CLASS,
    EBS_CSI_PROVISIONER,
    EKS_ADDONS,
    KEDA_NAMESPACE,
    VOLUME_CLUSTER_TAG,
    crd_groups,
    keda_values,
    load_balancer_controller_values,
    storage_class_parameters,
)
from aiplat.addons.iam import ebs_csi_policy, ebs_kms_policy, load_balancer_controller_policy
from aiplat.errors import ConfigError, Problem

__all__ = [
    "ClusterAddons",
    "ClusterAddonsArgs",
    "Installers",
    "EbsVolumes",
    "validate_args",
    "CHARTS",
    "EKS_ADDONS",
    "ADDON_NAMESPACE",
    "KEDA_NAMESPACE",
    "DEFAULT_STORAGE_CLASS",
    "EBS_CSI_PROVISIONER",
    "BUILT_IN_PROVISIONERS",
    "VOLUME_CLUSTER_TAG",
    "keda_values",
    "crd_groups",
    "load_balancer_controller_values",
    "storage_class_parameters",
    "load_balancer_controller_policy",
    "ebs_csi_policy",
    "ebs_kms_policy",
]


@dataclass(frozen=True)
class Installers:
    """Which resource in the graph installs the CRDs of an API group, a CSI provisioner, a StorageClass.

    ``crd("keda.sh/v1alpha1")``, ``provisioner("ebs.csi.aws.com")`` and
    ``storage_class("aiplat-gp3-encrypted")`` return the resources a custom resource, a
    StorageClass or a release with volume claims must ``depends_on`` (empty for a provisioner
    the cloud runs itself, ``BUILT_IN_PROVISIONERS``, and for no class: the cluster's
    default). Asking for something nothing installs is an error, not an empty list: a missing
    installer would be a deploy failure.
    """

    groups: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """API group -> the release / add-on installing its CRDs."""
    provisioners: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """CSI provisioner name -> the add-on installing the driver."""
    storage_classes: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """StorageClass name -> the StorageClass resource."""

    def crd(self, api_version: str) -> list[pulumi.Resource]:
        group = api_version.rpartition("/")[0]
        if group not in self.groups:
            raise ValueError(f"nothing in this cluster installs the CRDs of {group!r} ({api_version}); "
                             f"installed: {sorted(self.groups)}")
        return [self.groups[group]]

    def provisioner(self, name: str) -> list[pulumi.Resource]:
        if name in BUILT_IN_PROVISIONERS:
            return []
        if name not in self.provisioners:
            raise ValueError(f"nothing in this cluster installs the CSI provisioner {name!r}; "
                             f"installed: {sorted(self.provisioners)}")
        return [self.provisioners[name]]

    def storage_class(self, name: str | None) -> list[pulumi.Resource]:
        if name is None:
            return []
        if name not in self.storage_classes:
            raise ValueError(f"no StorageClass {name!r} in this cluster's graph; created: {sorted(self.storage_classes)}")
        return [self.storage_classes[name]]


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cloud: Literal["aws", "gcp"]
    """Cloud of the cluster. Required."""
    region: str
    """Region of the cluster. Required."""
    stack: str
    """Stack name: the load balancer controller may register targets only in target groups
    tagged ``stack=<stack>`` (what the gateway's target groups carry). Required."""
    cluster_name: str
    """Physical cluster name (the controllers' ``clusterName``, IAM conditions). Required."""
    kube_provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    cluster: pulumi.Input[str] | None = None
    """AWS: the EKS cluster's name as an output (the EBS CSI add-on waits for the cluster). Required on AWS."""
    system_nodes: list[pulumi.Resource] = field(default_factory=list)
    """The system node group / pool: the EKS add-on becomes ACTIVE only once its pods run. Default none."""
    vpc_id: pulumi.Input[str] | None = None
    """AWS: the cluster's VPC (controller ``vpcId``; IAM scope). Required on AWS."""
    oidc_provider_arn: pulumi.Input[str] | None = None
    """AWS: the cluster's IAM OIDC provider (IRSA). Required on AWS."""
    oidc_issuer: pulumi.Input[str] | None = None
    """AWS: issuer host/path without scheme. Required on AWS."""
    gcp_project: str | None = None
    """GCP: project of the firewall rule. Required on GCP."""
    network: pulumi.Input[str] | None = None
    """GCP: the cluster's VPC network. Required on GCP."""
    master_cidr: str | None = None
    """GCP: the private control plane's /28 (source of the KEDA firewall rule). Required on GCP."""
    node_service_account: pulumi.Input[str] | None = None
    """GCP: the nodes' service account email (target of the KEDA firewall rule). Required on GCP."""
    production: bool = False
    """Protect the volumes KMS key from deletion. Default false."""
    protect: bool = False
    """Protect its KMS keys from deletion (the platform sets it in prod and staging; ``production``
    implies it). Default false."""
    tags: dict[str, str] = field(default_factory=dict)
    """Merged into every taggable cloud resource. Default none."""


def validate_args(a: ClusterAddonsArgs) -> list[Problem]:
    """Every problem with the args, before the first child exists (paths are arg names)."""
    required = {"aws": ("cluster", "vpc_id", "oidc_provider_arn", "oidc_issuer"),
                "gcp": ("gcp_project", "network", "master_cidr", "node_service_account")}
    if a.cloud not in required:
        return [Problem("cloud", f"{a.cloud!r} is not aws or gcp")]
    return [Problem(f, f"required on {a.cloud.upper()}") for f in required[a.cloud] if getattr(a, f) is None]


class ClusterAddons(AiplatComponent):
    """The cluster's controllers (module docstring). Type ``aiplat:addons:ClusterAddons``.

    Outputs: ``releases`` (name -> helm Release), ``installers`` (``Installers``),
    ``storage_class`` (the default class's name on EKS, None on GKE: GKE's own default
    ``standard-rwo`` stays), ``ebs`` (``EbsVolumes`` on EKS, else None), ``volumes_key_arn``
    (EKS, else None).
    """

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        problems = validate_args(args)
        if problems:
            raise ConfigError(problems, f"ClusterAddons {name}")
        super().__init__("aiplat:addons:ClusterAddons", name, None, opts)
        self._name, self._in = name, args
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.storage_class: str | None = None
        self.ebs: EbsVolumes | None = None
        self.volumes_key_arn: pulumi.Output[str] | None = None
        groups: dict[str, pulumi.Resource] = {}
        provisioners: dict[str, pulumi.Resource] = {}
        classes: dict[str, pulumi.Resource] = {}

        keda_deps = [_gcp.keda_control_plane_firewall(self, args)] if args.cloud == "gcp" else []
        self.releases["keda"] = self._release("keda", KEDA_NAMESPACE, keda_values(), create_namespace=True,
                                              depends_on=keda_deps)
        self.releases["prometheus-operator-crds"] = self._release("prometheus-operator-crds", ADDON_NAMESPACE, {})
        if args.cloud == "aws":
            self.releases["aws-load-balancer-controller"] = _aws.load_balancer_controller(self, args)
        for key, release in self.releases.items():  # the groups each chart installs: the installers catalog
            for group in crd_groups(key):
                groups[group] = release
        if args.cloud == "aws":
            addon, self.ebs, sc = _aws.ebs_csi(self, args)
            provisioners[EBS_CSI_PROVISIONER] = addon
            self.storage_class = DEFAULT_STORAGE_CLASS
            classes[DEFAULT_STORAGE_CLASS] = sc
        self.installers = Installers(groups=groups, provisioners=provisioners, storage_classes=classes)
        self.register_outputs({
            "releases": {k: r.status for k, r in self.releases.items()},
            "storage_class": self.storage_class,
            "volumes_key_arn": self.volumes_key_arn,
        })

    def _release(self, key: str, namespace: str, values: Any, **opts) -> k8s.helm.v3.Release:
        """The pinned chart ``key`` (``CHARTS``) as release ``key``."""
        return self._pinned_release(key, CHARTS[key], namespace, values, **opts)
