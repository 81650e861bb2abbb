"""ClusterAddons: the pinned controllers of every cluster, their least-privilege identities, the
default StorageClass, and the ordering of every custom resource after its installer.

Three tiers: the pure values and IAM documents (exact), the child contract on the recorded
graphs of all five shipped stacks (exact types and key inputs), and graph walks that hold for
*every* custom resource and storage class of every stack: each one waits for the resource that
installs its CRD / provisioner directly (its own ``dependencies``, not via a parent).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml

from aiplat.addons import (
    BUILT_IN_PROVISIONERS,
    CHARTS,
    DEFAULT_STORAGE_CLASS,
    EKS_ADDONS,
    ClusterAddons,
    ClusterAddonsArgs,
    Installers,
    ebs_csi_policy,
    ebs_kms_policy,
    keda_values,
    load_balancer_controller_policy,
    load_balancer_controller_values,
    storage_class_parameters,
)
from aiplat.errors import ConfigError
from aiplat.project import load_platform_config
from aiplat.testing import engine

ADDONS = "aiplat:addons:ClusterAddons"
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS_ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
FIREWALL = "gcp:compute/firewall:Firewall"
STACKS = ("dev", "staging", "prod", "prod-eu", "gcp-prod")
# API groups of the Kubernetes API itself: no CRD, nothing to wait for.
BUILT_IN_GROUPS = {"core", "apps", "batch", "policy", "autoscaling", "storage.k8s.io", "networking.k8s.io",
                   "rbac.authorization.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io"}
# Which add-on release installs the CRDs of a group (ISSUE12 pins; chart CRDs read upstream).
INSTALLER_OF_GROUP = {"keda.sh": "keda", "eventing.keda.sh": "keda",
                      "monitoring.coreos.com": "prometheus-operator-crds",
                      "elbv2.k8s.aws": "aws-load-balancer-controller"}
# Charts whose templates render custom resources (values as we set them): release -> CRD groups.
# milvus 4.2.45: metrics.serviceMonitor.enabled -> templates/servicemonitor.yaml (+ pulsar PodMonitors);
# kube-prometheus-stack 75.15.1: its ServiceMonitors, PrometheusRules, Prometheus, Alertmanager.
CHARTS_RENDERING_CRS = {"milvus": {"monitoring.coreos.com"}, "kube-prometheus-stack": {"monitoring.coreos.com"}}


# -- helpers -------------------------------------------------------------------------------------
def _children(rec: engine.Recording, parent: str, type_: str | None = None) -> list[engine.Registration]:
    return sorted((r for r in rec.resources if r.parent == parent and (type_ is None or r.type == type_)),
                  key=lambda r: r.urn)


def _one(rec, parent, type_, name):
    (r,) = [c for c in _children(rec, parent, type_) if c.name == name]
    return r


def _addons(rec) -> dict[str, engine.Registration]:
    """region -> its ClusterAddons component."""
    return {a.name.removeprefix(f"{rec.stack}-").removesuffix("-addons"): a for a in rec.of_type(ADDONS)}


def _group(type_: str) -> str | None:
    """'kubernetes:keda.sh/v1alpha1:ScaledObject' -> 'keda.sh'; None for non-API types."""
    if not type_.startswith("kubernetes:") or type_.startswith(("kubernetes:helm.sh/", "kubernetes:yaml")):
        return None
    api = type_.split(":")[1]
    return api.rsplit("/", 1)[0] if "/" in api else "core"


def _k8s_provider(reg: engine.Registration) -> str:
    return reg.provider.rsplit("::", 1)[0]


def _policy_doc(reg: engine.Registration) -> dict:
    return json.loads(reg.inputs["policy"])


# -- pure: values and IAM documents ----------------------------------------------------------------
def test_pins_name_real_charts_at_versions_that_support_kubernetes_135():
    assert CHARTS == {
        "keda": {"repo": "https://kedacore.github.io/charts", "chart": "keda", "version": "2.20.2"},
        "aws-load-balancer-controller": {"repo": "https://aws.github.io/eks-charts",
                                         "chart": "aws-load-balancer-controller", "version": "3.5.0"},
        "prometheus-operator-crds": {"repo": "https://prometheus-community.github.io/helm-charts",
                                     "chart": "prometheus-operator-crds", "version": "21.0.0"},
    }
    assert EKS_ADDONS == {"aws-ebs-csi-driver": {"version": "v1.64.0-eksbuild.1"}}
    # the CRDs chart must be the operator kube-prometheus-stack runs (prometheus-operator v0.83)
    from aiplat.monitoring import CHART

    assert CHART["version"] == "75.15.1"
    for stack in STACKS:
        assert load_platform_config(stack).cluster.kubernetes_version == "1.35"


def test_keda_values_scale_deployments_only_and_read_no_secrets():
    labels = {"app.kubernetes.io/managed-by": "aiplat", "app.kubernetes.io/part-of": "aiplat-addons"}
    assert keda_values() == {
        "nodeSelector": {"aiplat.io/pool": "system"},
        "priorityClassName": "system-cluster-critical",
        "rbac": {"enabledCustomScaledRefKinds": False},
        "permissions": {"operator": {"restrict": {"secret": True}}, "metricServer": {"restrict": {"secret": True}}},
        "enableServiceLinks": False,
        "podLabels": {"keda": labels, "metricsAdapter": labels, "webhooks": labels},
    }
    # no cloud identity at all: the Prometheus trigger needs none
    assert "podIdentity" not in keda_values() and "serviceAccount" not in keda_values()


def test_load_balancer_controller_values_are_targetgroupbinding_only():
    v = load_balancer_controller_values("c", "us-east-1", "vpc-1", "arn:aws:iam::1:role/r")
    assert v["clusterName"] == "c" and v["region"] == "us-east-1" and v["vpcId"] == "vpc-1"
    assert v["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller",
                                   "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"}}
    # nothing it would need more IAM for: no ingress class, no Service controller/webhook, no gateway, no WAF
    assert (v["createIngressClassResource"], v["ingressClassParams"], v["disableIngressClassAnnotation"]) == (
        False, {"create": False}, True)
    assert v["enableServiceMutatorWebhook"] is False and v["enableBackendSecurityGroup"] is False
    assert (v["enableShield"], v["enableWaf"], v["enableWafv2"]) == (False, False, False)
    assert v["controllerConfig"] == {"featureGates": {"EnableServiceController": False, "ALBGatewayAPI": False,
                                                      "NLBGatewayAPI": False}}
    assert v["nodeSelector"] == {"aiplat.io/pool": "system"}


def test_load_balancer_controller_policy_writes_only_to_this_stack_and_cluster():
    doc = load_balancer_controller_policy("eu-west-1", "aiplat-prod-eu", "vpc-9", "prod-eu")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert set(by_sid) == {"Describe", "RegisterPodsInStackTargetGroups", "OpenClusterSecurityGroupToTheLoadBalancer"}
    assert all(a.split(":")[1].startswith("Describe") for a in by_sid["Describe"]["Action"])
    reg = by_sid["RegisterPodsInStackTargetGroups"]
    assert reg["Action"] == ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    assert reg["Resource"] == "arn:aws:elasticloadbalancing:eu-west-1:*:targetgroup/*/*"
    assert reg["Condition"] == {"StringEquals": {"aws:ResourceTag/stack": "prod-eu"}}
    sg = by_sid["OpenClusterSecurityGroupToTheLoadBalancer"]
    assert sg["Action"] == ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
    assert sg["Resource"] == "arn:aws:ec2:eu-west-1:*:security-group/*"
    assert sg["Condition"] == {"Null": {"aws:ResourceTag/kubernetes.io/cluster/aiplat-prod-eu": "false"},
                               "ArnLike": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:*:vpc/vpc-9"}}
    # nothing creates, deletes or modifies load balancers or target groups
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert not {a for a in actions if a.split(":")[1].startswith(("Create", "Delete", "Modify", "Set", "Add"))}


def test_ebs_csi_policy_acts_only_on_this_clusters_volumes_in_this_region():
    doc = ebs_csi_policy("us-east-1", "aiplat-dev-us-east-1")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["CreateClusterVolumes"] == {
        "Sid": "CreateClusterVolumes", "Effect": "Allow", "Action": ["ec2:CreateVolume"],
        "Resource": "arn:aws:ec2:us-east-1:*:volume/*",
        "Condition": {"StringEquals": {"aws:RequestTag/aiplat.io/cluster": "aiplat-dev-us-east-1",
                                       "aws:RequestTag/ebs.csi.aws.com/cluster": "true"}}}
    assert by_sid["ManageClusterVolumes"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/aiplat.io/cluster": "aiplat-dev-us-east-1"}}
    assert by_sid["TagOnCreate"]["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateVolume"}}
    # no snapshots (no snapshot controller), nothing account-wide but describes
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert not {a for a in actions if "Snapshot" in a}
    for s in doc["Statement"]:
        if s["Resource"] == "*":
            assert all(a.split(":")[1].startswith("Describe") for a in s["Action"]), s
        else:
            assert ":us-east-1:" in s["Resource"], s


def test_ebs_kms_policy_names_the_keys_and_only_through_ec2():
    doc = ebs_kms_policy("eu-west-1", ["arn:aws:kms:eu-west-1:1:key/b", "arn:aws:kms:eu-west-1:1:key/a"])
    for s in doc["Statement"]:
        assert s["Resource"] == ["arn:aws:kms:eu-west-1:1:key/a", "arn:aws:kms:eu-west-1:1:key/b"]
        assert s["Condition"]["StringEquals"] == {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}
    (grant,) = [s for s in doc["Statement"] if s["Action"] == ["kms:CreateGrant"]]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_storage_class_parameters_encrypt_with_the_key_and_tag_the_cluster():
    assert storage_class_parameters("arn:k", "c") == {
        "type": "gp3", "encrypted": "true", "kmsKeyId": "arn:k", "csi.storage.k8s.io/fstype": "ext4",
        "tagSpecification_1": "aiplat.io/cluster=c"}


def test_installers_refuse_what_nothing_installs():
    marker = object()
    inst = Installers(groups={"keda.sh": marker}, provisioners={"ebs.csi.aws.com": marker})
    assert inst.crd("keda.sh/v1alpha1") == [marker]
    assert inst.provisioner("ebs.csi.aws.com") == [marker]
    assert inst.provisioner("pd.csi.storage.gke.io") == [] and "pd.csi.storage.gke.io" in BUILT_IN_PROVISIONERS
    assert inst.storage_class(None) == []
    with pytest.raises(ValueError, match="nothing in this cluster installs the CRDs of 'elbv2.k8s.aws'"):
        inst.crd("elbv2.k8s.aws/v1beta1")
    with pytest.raises(ValueError, match="CSI provisioner 'efs.csi.aws.com'"):
        inst.provisioner("efs.csi.aws.com")
    with pytest.raises(ValueError, match="no StorageClass 'gp2'"):
        inst.storage_class("gp2")


def test_missing_cloud_inputs_are_one_error_with_every_name_and_nothing_created():
    def program():
        ClusterAddons("x", ClusterAddonsArgs(cloud="aws", region="us-east-1", stack="s", cluster_name="c",
                                             kube_provider=None))

    with pytest.raises(ConfigError) as exc:
        engine.run_program(program, "t", {})
    assert {p.path for p in exc.value.problems} == {"cluster", "vpc_id", "oidc_provider_arn", "oidc_issuer"}


# -- the child contract on the recorded graphs -------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-eu"])
def test_eks_addons_exact_contract(record, stack):
    rec = record(stack)
    cfg = load_platform_config(stack)
    regions = _addons(rec)
    assert sorted(regions) == sorted(r.name for r in cfg.regions)
    for region, comp in regions.items():
        n = comp.name
        cluster = f"aiplat-{stack}-{region}"
        kinds = sorted((c.type, c.name) for c in _children(rec, comp.urn))
        assert kinds == sorted([
            (EKS_ADDON, f"{n}-ebs-csi"), (POLICY, f"{n}-aws-load-balancer-controller"), (POLICY, f"{n}-ebs-csi"),
            (POLICY, f"{n}-ebs-csi-volumes-key"), (ROLE, f"{n}-aws-load-balancer-controller"),
            (ROLE, f"{n}-ebs-csi"), ("aws:kms/alias:Alias", f"{n}-volumes"), (KEY, f"{n}-volumes"),
            (RELEASE, f"{n}-aws-load-balancer-controller"), (RELEASE, f"{n}-keda"),
            (RELEASE, f"{n}-prometheus-operator-crds"), (SC, f"{n}-gp3")])
        releases = {r.inputs["name"]: r for r in _children(rec, comp.urn, RELEASE)}
        for key, ns in (("keda", "keda"), ("prometheus-operator-crds", "kube-system"),
                        ("aws-load-balancer-controller", "kube-system")):
            r = releases[key]
            assert (r.inputs["chart"], r.inputs["version"], r.inputs["repositoryOpts"]["repo"]) == (
                CHARTS[key]["chart"], CHARTS[key]["version"], CHARTS[key]["repo"]), key
            assert r.inputs["namespace"] == ns and r.inputs["atomic"] is True, key
        assert releases["keda"].inputs["values"] == keda_values()
        assert releases["keda"].inputs["createNamespace"] is True
        assert releases["prometheus-operator-crds"].inputs["values"] == {}

        # the load balancer controller: IRSA role trusted by its ServiceAccount only, the scoped policy
        role = _one(rec, comp.urn, ROLE, f"{n}-aws-load-balancer-controller")
        _assert_irsa(rec, role, region, "kube-system", "aws-load-balancer-controller")
        vpc = next(v for v in rec.of_type("aws:ec2/vpc:Vpc") if v.name == f"{stack}-{region}-vpc")
        lbc = releases["aws-load-balancer-controller"]
        lbc_policy = _one(rec, comp.urn, POLICY, f"{n}-aws-load-balancer-controller")
        vpc_id = lbc.inputs["values"]["vpcId"]
        assert vpc_id.startswith("vpc-") and vpc.urn in lbc.dependencies
        role_arn = f"arn:aws:iam::{engine.ACCOUNT_ID}:role/{lbc_policy.inputs['role']}"  # the policy names the role
        assert lbc.inputs["values"] == load_balancer_controller_values(cluster, region, vpc_id, role_arn)
        assert _policy_doc(lbc_policy) == load_balancer_controller_policy(region, cluster, vpc_id, stack)
        assert {role.urn, lbc_policy.urn} <= set(lbc.dependencies)

        # the EBS CSI add-on: pinned, with its IRSA role, after the system nodes and its permissions
        addon = _one(rec, comp.urn, EKS_ADDON, f"{n}-ebs-csi")
        assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
        assert addon.inputs["addonVersion"] == EKS_ADDONS["aws-ebs-csi-driver"]["version"]
        assert addon.inputs["clusterName"] == cluster
        csi_role = _one(rec, comp.urn, ROLE, f"{n}-ebs-csi")
        _assert_irsa(rec, csi_role, region, "kube-system", "ebs-csi-controller-sa")
        system = next(g for g in rec.of_type("aws:eks/nodeGroup:NodeGroup") if g.name == f"{stack}-{region}-system")
        csi_policy = _one(rec, comp.urn, POLICY, f"{n}-ebs-csi")
        kms_policy = _one(rec, comp.urn, POLICY, f"{n}-ebs-csi-volumes-key")
        assert addon.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::{engine.ACCOUNT_ID}:role/{csi_policy.inputs['role']}"
        assert csi_role.urn in addon.dependencies and csi_role.urn in csi_policy.dependencies
        assert {system.urn, csi_policy.urn, kms_policy.urn} <= set(addon.dependencies)
        assert _policy_doc(csi_policy) == ebs_csi_policy(region, cluster)

        # the default StorageClass: gp3, encrypted with the cluster's rotating volumes key, after the driver
        key = _one(rec, comp.urn, KEY, f"{n}-volumes")
        assert key.inputs["enableKeyRotation"] is True and key.protect is cfg.protect_state  # prod and staging
        sc = _one(rec, comp.urn, SC, f"{n}-gp3")
        assert sc.inputs["metadata"]["name"] == DEFAULT_STORAGE_CLASS
        assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
        assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
        arn = sc.inputs["parameters"]["kmsKeyId"]
        assert arn.startswith(f"arn:aws:kms:{region}:{engine.ACCOUNT_ID}:key/")
        assert sc.inputs["parameters"] == storage_class_parameters(arn, cluster)
        assert (sc.inputs["reclaimPolicy"], sc.inputs["volumeBindingMode"], sc.inputs["allowVolumeExpansion"]) == (
            "Delete", "WaitForFirstConsumer", True)
        assert {addon.urn, key.urn} <= set(sc.dependencies)
        # the driver may use exactly that key, through EC2
        assert _policy_doc(kms_policy) == ebs_kms_policy(region, [arn])
        assert key.urn in kms_policy.dependencies
        # exactly one default class per cluster
        defaults = [s for s in rec.of_type(SC) if _k8s_provider(s) == _k8s_provider(sc)
                    and s.inputs["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")]
        assert defaults == [sc]


def _assert_irsa(rec, role, region, namespace, service_account):
    oidc = next(o for o in rec.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
                if o.name.endswith(f"{region}-oidc"))
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    issuer = stmt["Principal"]["Federated"].split("oidc-provider/", 1)[1]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                                  f"{issuer}:aud": "sts.amazonaws.com"}}
    assert issuer.startswith(f"oidc.eks.{region}.amazonaws.com/id/")
    assert oidc.urn in role.dependencies


def test_gke_addons_exact_contract(record):
    rec = record("gcp-prod")
    cfg = load_platform_config("gcp-prod")
    regions = _addons(rec)
    assert sorted(regions) == sorted(r.name for r in cfg.regions)
    for rc in cfg.regions:
        comp = regions[rc.name]
        n = comp.name
        kinds = sorted((c.type, c.name) for c in _children(rec, comp.urn))
        # no LB controller, no EBS: GKE's own PD CSI driver and default class (standard-rwo) stay
        assert kinds == sorted([(FIREWALL, f"{n}-keda-control-plane"), (RELEASE, f"{n}-keda"),
                                (RELEASE, f"{n}-prometheus-operator-crds")])
        fw = _one(rec, comp.urn, FIREWALL, f"{n}-keda-control-plane")
        nodes_sa = next(a for a in rec.of_type("gcp:serviceaccount/account:Account")
                        if a.name == f"gcp-prod-{rc.name}-nodes")
        assert fw.inputs["direction"] == "INGRESS"
        assert fw.inputs["sourceRanges"] == [rc.gcp_ranges()["master"]]
        assert fw.inputs["targetServiceAccounts"] == [f"{nodes_sa.inputs['accountId']}@{cfg.gcp_project}.iam.gserviceaccount.com"]
        assert fw.inputs["allows"] == [{"protocol": "tcp", "ports": ["6443", "9443"]}]
        keda = _one(rec, comp.urn, RELEASE, f"{n}-keda")
        assert keda.inputs["values"] == keda_values() and keda.inputs["version"] == CHARTS["keda"]["version"]
        assert fw.urn in keda.dependencies


# -- every custom resource and storage class waits for its installer ------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_depends_on_the_release_installing_its_crd(record, stack):
    rec = record(stack)
    installers = {}  # (kubernetes provider, group) -> installer urn
    for comp in rec.of_type(ADDONS):
        for r in _children(rec, comp.urn, RELEASE):
            for group, release in INSTALLER_OF_GROUP.items():
                if r.inputs["name"] == release:
                    installers[(_k8s_provider(r), group)] = r.urn
    checked = set()
    for r in rec.resources:
        group = _group(r.type)
        if group is None or group in BUILT_IN_GROUPS:
            continue
        installer = installers.get((_k8s_provider(r), group))
        assert installer, f"{r.type} {r.name}: nothing in its cluster installs {group}"
        assert installer in r.dependencies, f"{r.type} {r.name} does not wait for {installer}"
        checked.add(r.type)
    # the charts that render custom resources wait as well
    for r in rec.of_type(RELEASE):
        for group in CHARTS_RENDERING_CRS.get(r.inputs.get("chart"), ()):
            assert installers[(_k8s_provider(r), group)] in r.dependencies, (r.name, group)
            checked.add(f"release:{r.inputs['chart']}")
    expected = {"kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
                "kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
                "release:kube-prometheus-stack", "release:milvus"}
    if load_platform_config(stack).cloud == "aws":
        expected.add("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")
    assert checked == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_storage_class_waits_for_its_provisioner_and_prometheus_for_its_class(record, stack):
    rec = record(stack)
    cloud = load_platform_config(stack).cloud
    # cluster <stack>-<region>: its Kubernetes provider is <stack>-<region>-k8s, its add-ons <stack>-<region>-addons
    drivers = {a.name.removesuffix("-addons-ebs-csi"): a.urn for a in rec.of_type(EKS_ADDON)
               if a.inputs["addonName"] == "aws-ebs-csi-driver"}
    classes = rec.of_type(SC)
    assert classes
    for sc in classes:
        provisioner = sc.inputs["provisioner"]
        if provisioner in BUILT_IN_PROVISIONERS:
            assert cloud == "gcp"
            continue
        assert provisioner == "ebs.csi.aws.com"
        prefix = _k8s_provider(sc).rsplit("::", 1)[1].removesuffix("-k8s")
        assert drivers[prefix] in sc.dependencies, sc.name
        assert sc.inputs["parameters"]["encrypted"] == "true" and sc.inputs["parameters"]["kmsKeyId"]
        # every aiplat EBS class tags its volumes with the cluster: the driver's policy requires it
        (cluster,) = [c.inputs["name"] for c in rec.of_type("aws:eks/cluster:Cluster") if c.name == f"{prefix}-eks"]
        assert sc.inputs["parameters"]["tagSpecification_1"] == f"aiplat.io/cluster={cluster}"
    for kps in [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]:
        values = kps.inputs["values"]
        claim = values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
        assert values["crds"] == {"enabled": False}
        if cloud == "aws":
            assert claim["storageClassName"] == DEFAULT_STORAGE_CLASS
            (default,) = [s for s in classes if s.inputs["metadata"]["name"] == DEFAULT_STORAGE_CLASS
                          and _k8s_provider(s) == _k8s_provider(kps)]
            assert default.urn in kps.dependencies
        else:
            assert "storageClassName" not in claim  # GKE's default standard-rwo (PD CSI, built in)


def test_milvus_volumes_use_a_key_the_csi_driver_may_use(record):
    rec = record("prod")
    for sc in [s for s in rec.of_type(SC) if s.inputs["metadata"]["name"].startswith("milvus-encrypted-")]:
        region = sc.inputs["metadata"]["name"].removeprefix("milvus-encrypted-")
        (grant,) = [p for p in rec.of_type(POLICY) if p.name == f"prod-{region}-vectors-ebs-csi-vectors-key"]
        assert grant.urn in sc.dependencies
        csi_role = next(r for r in rec.of_type(ROLE) if r.name == f"prod-{region}-addons-ebs-csi")
        assert grant.inputs["role"].startswith(f"prod-{region}-addons-ebs-csi")
        assert csi_role.urn in grant.dependencies
        assert _policy_doc(grant) == ebs_kms_policy(region, [sc.inputs["parameters"]["kmsKeyId"]])


# -- kube-prometheus-stack: day one is quiet -----------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_managed_control_plane_scrapes_and_rules_are_off(record, stack):
    rec = record(stack)
    gcp = load_platform_config(stack).cloud == "gcp"
    for kps in [r for r in rec.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]:
        v = kps.inputs["values"]
        for component in ("kubeScheduler", "kubeControllerManager", "kubeEtcd"):
            assert v[component] == {"enabled": False}, component
        off = {"kubeSchedulerAlerting": False, "kubeSchedulerRecording": False, "kubeControllerManager": False,
               "etcd": False}
        if gcp:  # Dataplane V2 has no kube-proxy; GKE's DNS is kube-dns, not CoreDNS
            assert v["kubeProxy"] == {"enabled": False} and v["coreDns"] == {"enabled": False}
            off["kubeProxy"] = False
        else:  # EKS runs kube-proxy and CoreDNS on the nodes: scraped and alerted on
            assert "kubeProxy" not in v and "coreDns" not in v
        assert v["defaultRules"] == {"rules": off}  # every other default rule group stays (InfoInhibitor too)


# -- the new core objects against the Kubernetes 1.35 OpenAPI schemas -----------------------------------
def test_addon_core_objects_validate_strictly(record, tmp_path):
    tool = shutil.which("kubernetes-validate") or str(Path(__file__).resolve().parents[1] / ".venv/bin/kubernetes-validate")
    if not Path(tool).exists():
        pytest.skip("kubernetes-validate is not installed")
    files, names = [], set()
    for stack in STACKS:
        for r in record(stack).of_type(SC):
            path = tmp_path / f"{r.name}.yaml"
            path.write_text(yaml.safe_dump(r.inputs))
            files.append(str(path))
            names.add(r.inputs["metadata"]["name"].split("-encrypted")[0])
    assert names == {"aiplat-gp3", "milvus"}  # the default class (EKS) and the Milvus classes
    run = subprocess.run([tool, "-k", "1.35.0", "--strict", *files], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not [line for line in (run.stdout + run.stderr).splitlines() if line.startswith(("ERROR", "WARN"))]
