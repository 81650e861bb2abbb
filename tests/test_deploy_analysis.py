"""The deploy analysis (``aiplat.tools.deploy``) of ``aiplat check``: rules crd-installed,
volume-provisioner and triton-models.

Each rule is triggered by mutating a real stack's graph (the steps ``aiplat check`` analyses:
the recording of the shipped program, secrets shown) the way a program could have been
written, and the exact finding is asserted; then the same through the CLI (JSON, table, exit
code) with a program that adds to the real dev stack. Every shipped stack has no finding.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from aiplat.catalog import installers as catalog
from aiplat.tools.deploy import RULE_MODULES, Context, Finding, analyze
from aiplat.tools.deploy import _installers
from aiplat.tools.deploy._graph import Graph
from aiplat.tools.deploy.triton_models import parse_repository, Repository
from tests._project import policy_config_path, stack_config, stack_file_path
from tests.conftest import ROOT, recorded

SHIPPED = ("dev", "staging", "prod", "prod-eu", "gcp-prod")
P = "urn:pulumi:dev::aiplat::aiplat:platform:AiPlatform$"
G = "urn:pulumi:gcp-prod::aiplat::aiplat:platform:AiPlatform$"
KEDA = f"{P}aiplat:addons:ClusterAddons$kubernetes:helm.sh/v3:Release::dev-us-east-1-addons-keda"
SCALER = f"{P}aiplat:triton:TritonEndpoint$kubernetes:keda.sh/v1alpha1:ScaledObject::dev-us-east-1-embed-stable-scaler"
TGB = f"{P}aiplat:gateway:ApiGateway$kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding::dev-us-east-1-gw-embed-stable-tgb"
OPERATOR_CRDS = (f"{P}aiplat:addons:ClusterAddons$kubernetes:helm.sh/v3:Release::"
                 "dev-us-east-1-addons-prometheus-operator-crds")
KPS = f"{P}aiplat:monitoring:Monitoring$kubernetes:helm.sh/v3:Release::dev-us-east-1-mon-stack"
MILVUS = f"{P}aiplat:vector_store:VectorStore$kubernetes:helm.sh/v3:Release::dev-us-east-1-vectors-milvus"
EBS = f"{P}aiplat:addons:ClusterAddons$aws:eks/addon:Addon::dev-us-east-1-addons-ebs-csi"
GP3 = f"{P}aiplat:addons:ClusterAddons$kubernetes:storage.k8s.io/v1:StorageClass::dev-us-east-1-addons-gp3"
MILVUS_SC = f"{P}aiplat:vector_store:VectorStore$kubernetes:storage.k8s.io/v1:StorageClass::dev-us-east-1-vectors-sc"
TRITON = f"{P}aiplat:triton:TritonEndpoint$kubernetes:apps/v1:Deployment::dev-us-east-1-embed-stable"
CRD_CHANGE = ("install the CRD in the same cluster before it (a CustomResourceDefinition, a Helm release or an EKS "
              "add-on that ships it, known to components/catalog/installers.yaml) and make it depend on that; or, if "
              "the cluster already serves it, declare \"{ref}\" in aiplat:platform.deploy.prerequisites.crds")


@lru_cache(maxsize=None)
def _steps(stack: str) -> tuple:
    return tuple(recorded(stack).steps(show_secrets=True))


def steps_of(stack: str) -> list[dict]:
    """A fresh copy of the stack's steps as ``aiplat check`` analyses them."""
    return copy.deepcopy(list(_steps(stack)))


def state(steps: list[dict], urn: str) -> dict:
    found = [s["newState"] for s in steps if s["urn"] == urn]
    assert len(found) == 1, urn
    return found[0]


def drop(steps: list[dict], *urns: str) -> list[dict]:
    assert all(any(s["urn"] == u for s in steps) for u in urns)
    return [s for s in steps if s["urn"] not in urns]


def unwait(steps: list[dict], urn: str, *prerequisites: str) -> None:
    st = state(steps, urn)
    assert set(prerequisites) <= set(st["dependencies"]), urn
    st["dependencies"] = [d for d in st["dependencies"] if d not in prerequisites]


def findings(steps: list[dict], stack: str = "dev", config: dict | None = None, rule: str | None = None) -> list[Finding]:
    report = analyze(steps, Context(stack, stack_config(stack) if config is None else config))
    return [f for f in report.findings if rule is None or f.rule == rule]


# -- the shipped stacks -------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_stack_has_no_blocker_and_no_warning(stack):
    report = analyze(list(_steps(stack)), Context(stack, stack_config(stack)))
    assert report.as_json() == {"blockers": [], "warnings": []}


def test_the_analysis_judges_every_release_and_custom_resource_of_the_shipped_stacks():
    # not vacuous: every release is one the catalog read, and the custom resources are there
    for stack in SHIPPED:
        inst = _installers.of(Graph.of(list(_steps(stack))))
        assert inst.releases and all(r.problem == "" and r.entry is not None for r in inst.releases), stack
        kinds = {n.kind for n in inst.graph.nodes if _installers.is_custom_resource(n)}
        assert {"ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds, stack


def test_built_in_groups_come_from_the_kubernetes_sdk():
    groups = _installers.built_in_groups()
    assert {"core", "apps", "batch", "networking.k8s.io", "storage.k8s.io", "apiextensions.k8s.io",
            "rbac.authorization.k8s.io", "policy", "helm.sh"} <= groups
    assert not {"keda.sh", "monitoring.coreos.com", "elbv2.k8s.aws"} & groups


def test_the_catalog_read_every_pinned_chart_at_its_pin():
    # a chart bump without reading the chart again (and adding the version) fails here, not in a deploy
    from aiplat.addons.charts import CHARTS, EKS_ADDONS
    from aiplat.gpu_pool.addons import CHARTS as GPU_CHARTS
    from aiplat.monitoring.kube_prometheus import CHART
    from aiplat.vector_store import MILVUS_CHART, MILVUS_CHART_REPO, MILVUS_CHART_VERSION

    pins = [*CHARTS.values(), *GPU_CHARTS.values(), CHART,
            {"chart": MILVUS_CHART, "repo": MILVUS_CHART_REPO, "version": MILVUS_CHART_VERSION}]
    assert len(pins) == 8
    for pin in pins:
        entry = catalog.chart(pin["chart"], pin["repo"])
        assert entry is not None and entry.knows(pin["version"]), pin
    assert all(catalog.eks_addon(name) is not None for name in EKS_ADDONS)
    assert catalog.eks_addon("aws-ebs-csi-driver").provisioners == ["ebs.csi.aws.com"]


def test_the_catalog_reads_switches_with_chart_defaults():
    kps = catalog.chart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts")
    assert kps is not None and kps.knows("75.15.1") and not kps.knows("75.16.0")
    assert kps.crds_installed({}, skip_crds=False)["monitoring.coreos.com/v1"][-1] == "ThanosRuler"
    assert kps.crds_installed({"crds": {"enabled": False}}, skip_crds=False) == {}
    assert kps.crds_installed({}, skip_crds=True) == {}  # crds/ of the subchart: helm's skipCrds skips them
    assert kps.volumes({}) == []  # storageSpec {} by default: no claim
    milvus = catalog.chart("milvus", "https://zilliztech.github.io/milvus-helm")  # trailing slash or not
    assert [name for name, _, _ in milvus.volumes({})] == ["etcd", "minio", "pulsar-journal", "pulsar-ledgers",
                                                           "pulsar-zookeeper"]  # cluster mode by default
    assert milvus.uses({}) == [] and milvus.uses({"metrics": {"serviceMonitor": {"enabled": True}}}) == [
        "monitoring.coreos.com/v1:ServiceMonitor"]
    assert milvus.unknown({"kafka": {"enabled": True}}) == ["kafka.enabled"]


# -- crd-installed --------------------------------------------------------------------------------
def test_a_custom_resource_whose_crd_nothing_installs_is_a_blocker():
    steps = drop(steps_of("dev"), KEDA)
    assert findings(steps, rule="crd-installed") == [Finding(
        SCALER, "crd-installed",
        "ScaledObject triton-embed/triton-stable: nothing in the graph installs the CRD of ScaledObject "
        "(keda.sh/v1alpha1) in its cluster; a first up fails with 'no matches for kind \"ScaledObject\"'",
        CRD_CHANGE.format(ref="keda.sh/v1alpha1/ScaledObject"))]


def test_a_declared_prerequisite_suppresses_it():
    steps = drop(steps_of("dev"), KEDA)
    config = copy.deepcopy(stack_config("dev"))
    config["aiplat:platform"]["deploy"] = {"prerequisites": {"crds": ["keda.sh/v1alpha1"]}}
    assert findings(steps, config=config) == []
    config["aiplat:platform"]["deploy"] = {"prerequisites": {"crds": ["keda.sh/v1alpha1/ScaledJob"]}}  # another kind
    assert [f.resource for f in findings(steps, config=config)] == [SCALER]


def test_a_custom_resource_that_does_not_wait_for_its_installer_is_a_blocker():
    steps = steps_of("dev")
    unwait(steps, SCALER, KEDA)
    assert findings(steps) == [Finding(
        SCALER, "crd-installed",
        "ScaledObject triton-embed/triton-stable does not wait for Release dev-us-east-1-addons-keda, which installs "
        "the CRD of ScaledObject (keda.sh/v1alpha1); a first up may create it first and fail with "
        "'no matches for kind \"ScaledObject\"'",
        "add depends_on=[dev-us-east-1-addons-keda] to dev-us-east-1-embed-stable-scaler")]


def test_a_version_the_crd_does_not_serve_is_a_blocker():
    steps = steps_of("dev")
    st = state(steps, TGB)
    st["type"] = "kubernetes:elbv2.k8s.aws/v1:TargetGroupBinding"
    urn = st["urn"] = TGB.replace("v1beta1", "v1")
    for s in steps:
        if s["urn"] == TGB:
            s["urn"] = urn
    assert findings(steps) == [Finding(
        urn, "crd-installed",
        "TargetGroupBinding triton-embed/embed-stable-gateway: its CRD is installed at elbv2.k8s.aws/v1alpha1, "
        "elbv2.k8s.aws/v1beta1 only, not elbv2.k8s.aws/v1; a first up fails with 'no matches for kind "
        "\"TargetGroupBinding\"'",
        CRD_CHANGE.format(ref="elbv2.k8s.aws/v1/TargetGroupBinding"))]


def test_a_crd_resource_in_the_graph_installs_its_kind():
    steps = drop(steps_of("dev"), KEDA)
    scaler = state(steps, SCALER)
    crd_urn = f"{P}kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition::scaledobjects"
    steps.append({"op": "create", "urn": crd_urn, "newState": {
        "urn": crd_urn, "type": "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "provider": scaler["provider"], "parent": "", "dependencies": [],
        "inputs": {"spec": {"group": "keda.sh", "names": {"kind": "ScaledObject", "plural": "scaledobjects"},
                            "versions": [{"name": "v1alpha1", "served": True, "storage": True}]}}}})
    assert [f.message for f in findings(steps)] == [
        "ScaledObject triton-embed/triton-stable does not wait for CustomResourceDefinition scaledobjects, which "
        "installs the CRD of ScaledObject (keda.sh/v1alpha1); a first up may create it first and fail with "
        "'no matches for kind \"ScaledObject\"'"]
    scaler["dependencies"].append(crd_urn)
    assert findings(steps) == []


def test_a_release_creating_custom_resources_needs_their_crds_too():
    # kube-prometheus-stack with its own CRDs off (crds.enabled: false) and no operator-CRDs release:
    # the Prometheus, Alertmanager, ServiceMonitors and PrometheusRules it renders have no CRD.
    steps = steps_of("dev")
    for s in steps:  # only the release's part matters here
        s["newState"]["dependencies"] = [d for d in s["newState"]["dependencies"] if d != OPERATOR_CRDS]
    steps = drop(steps, OPERATOR_CRDS)
    kps = [f for f in findings(steps) if f.resource == KPS]
    assert [f.message for f in kps] == [
        f"release dev-us-east-1-mon-stack (chart kube-prometheus-stack 75.15.1, which renders kind {kind}): nothing in "
        f"the graph installs the CRD of {kind} (monitoring.coreos.com/v1) in its cluster; a first up fails with "
        f"'no matches for kind \"{kind}\"'" for kind in ("Alertmanager", "Prometheus", "PrometheusRule", "ServiceMonitor")]
    assert {f.severity for f in kps} == {"blocker"}
    # with the chart's own CRDs on, the release installs what it renders (helm applies crds/ first);
    # the PodMonitor and PrometheusRule depend on it, Triton's ServiceMonitor and Milvus's chart do not
    state(steps, KPS)["inputs"]["values"]["crds"]["enabled"] = True
    rest = findings(steps)
    assert [f for f in rest if f.resource == KPS] == []
    assert [f.message.split(", which installs")[0] for f in rest] == [
        "ServiceMonitor triton-embed/triton does not wait for Release dev-us-east-1-mon-stack",
        "release dev-us-east-1-vectors-milvus (chart milvus 4.2.45, which renders kind ServiceMonitor) does not wait "
        "for Release dev-us-east-1-mon-stack"]


def test_milvus_service_monitor_waits_for_the_operator_crds():
    steps = steps_of("dev")
    assert state(steps, MILVUS)["inputs"]["values"]["metrics"]["serviceMonitor"]["enabled"] is True
    unwait(steps, MILVUS, OPERATOR_CRDS)
    assert findings(steps) == [Finding(
        MILVUS, "crd-installed",
        "release dev-us-east-1-vectors-milvus (chart milvus 4.2.45, which renders kind ServiceMonitor) does not wait for "
        "Release dev-us-east-1-addons-prometheus-operator-crds, which installs the CRD of ServiceMonitor "
        "(monitoring.coreos.com/v1); a first up may create it first and fail with 'no matches for kind "
        "\"ServiceMonitor\"'",
        "add depends_on=[dev-us-east-1-addons-prometheus-operator-crds] to dev-us-east-1-vectors-milvus")]


def test_a_chart_version_the_catalog_did_not_read_fails_closed():
    steps = steps_of("dev")
    state(steps, KEDA)["inputs"]["version"] = "2.21.0"
    got = findings(steps)
    # every rule that reads charts fails closed on it (schedulable, where its pods fit: a warning)
    assert [(f.rule, f.resource, f.severity) for f in got] == [
        ("crd-installed", KEDA, "blocker"), ("crd-installed", SCALER, "blocker"),
        ("volume-provisioner", KEDA, "blocker"), ("schedulable", KEDA, "warning")]
    assert got[0] == Finding(
        KEDA, "crd-installed",
        "cannot judge release dev-us-east-1-addons-keda (chart keda 2.21.0): the catalog read chart keda at 2.20.2 "
        "only, not 2.21.0; the CRDs it installs and the custom resources it creates are unknown",
        "pin chart keda to 2.20.2, or read it at 2.21.0 and add that version to components/catalog/installers.yaml")
    assert got[1].message == (
        "ScaledObject triton-embed/triton-stable: nothing in the graph installs the CRD of ScaledObject "
        "(keda.sh/v1alpha1) in its cluster (not judged: release dev-us-east-1-addons-keda, see below); a first up "
        "fails with 'no matches for kind \"ScaledObject\"'")


def test_values_hidden_from_the_analysis_fail_closed():
    # `pulumi preview --json` without --show-secrets: the whole values input is "[secret]"
    steps = steps_of("dev")
    state(steps, KEDA)["inputs"]["values"] = "[secret]"
    got = [f for f in findings(steps) if f.resource == KEDA]
    assert [f.message for f in got] == [
        "cannot judge release dev-us-east-1-addons-keda (chart keda 2.20.2): its values are not known at preview (an "
        "output, or a secret the preview hides); the CRDs it installs and the custom resources it creates are unknown",
        "cannot judge release dev-us-east-1-addons-keda (chart keda 2.20.2): its values are not known at preview (an "
        "output, or a secret the preview hides); the volume claims it renders are unknown",
        "Helm release dev-us-east-1-addons-keda (keda 2.20.2): cannot judge where its pods fit: its values are "
        "secret or unknown in the preview"]
    # one value the catalog reads, unknown at preview (the rest of the values known)
    steps = steps_of("dev")
    state(steps, MILVUS)["inputs"]["values"]["etcd"]["persistence"]["storageClass"] = \
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert [f.message for f in findings(steps) if f.rule == "volume-provisioner"] == [
        "cannot judge release dev-us-east-1-vectors-milvus (chart milvus 4.2.45): the values it is judged by are not "
        "known at preview (an output, or a secret the preview hides): etcd.persistence.storageClass; the volume "
        "claims it renders are unknown"]


def test_an_unknown_chart_fails_closed():
    steps = steps_of("dev")
    state(steps, KEDA)["inputs"]["repositoryOpts"]["repo"] = "https://example.com/charts"
    assert findings(steps)[0] == Finding(
        KEDA, "crd-installed",
        "cannot judge release dev-us-east-1-addons-keda (chart keda 2.20.2): chart 'keda' from "
        "'https://example.com/charts' is not in the catalog (components/catalog/installers.yaml); the CRDs it installs "
        "and the custom resources it creates are unknown",
        "add chart keda (repo https://example.com/charts, version 2.20.2) to components/catalog/installers.yaml: the "
        "CRDs it ships, the custom resources and volume claims its templates create, read at that version")


# -- volume-provisioner -------------------------------------------------------------------------------
def test_a_storage_class_whose_provisioner_nothing_installs_is_a_blocker():
    steps = drop(steps_of("dev"), EBS)
    change = ("install the EBS CSI driver: an aws.eks.Addon 'aws-ebs-csi-driver' on the cluster (with its IRSA role), "
              "and make {} depend on it")
    assert findings(steps) == [
        Finding(GP3, "volume-provisioner",
                "StorageClass aiplat-gp3-encrypted: nothing in the graph installs the CSI provisioner ebs.csi.aws.com, "
                "and AWS does not run it itself; its volumes never provision", change.format("dev-us-east-1-addons-gp3")),
        Finding(MILVUS_SC, "volume-provisioner",
                "StorageClass milvus-encrypted-us-east-1: nothing in the graph installs the CSI provisioner "
                "ebs.csi.aws.com, and AWS does not run it itself; its volumes never provision",
                change.format("dev-us-east-1-vectors-sc")),
    ]


def test_a_storage_class_not_waiting_for_its_driver_is_a_warning():
    steps = steps_of("dev")
    unwait(steps, MILVUS_SC, EBS)
    report = analyze(steps, Context("dev", stack_config("dev")))
    assert report.blockers == [] and report.warnings == [Finding(
        MILVUS_SC, "volume-provisioner",
        "StorageClass milvus-encrypted-us-east-1 does not wait for dev-us-east-1-addons-ebs-csi, which installs "
        "ebs.csi.aws.com", "add depends_on=[dev-us-east-1-addons-ebs-csi] to dev-us-east-1-vectors-sc", "warning")]


def test_prometheus_claim_without_a_class_on_eks_needs_a_default_class():
    steps = steps_of("dev")
    spec = state(steps, KPS)["inputs"]["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert spec.pop("storageClassName") == "aiplat-gp3-encrypted"
    assert findings(steps) == []  # the graph's default class (annotated), which the release waits for
    state(steps, GP3)["inputs"]["metadata"]["annotations"] = {}
    assert findings(steps) == [Finding(
        KPS, "volume-provisioner",
        "the prometheus volume of release dev-us-east-1-mon-stack (chart kube-prometheus-stack 75.15.1, values "
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName) names no StorageClass and "
        "no StorageClass in the graph is the cluster's default (EKS clusters created on Kubernetes 1.30 and later "
        "have no default StorageClass); the claim stays Pending",
        "name a StorageClass the graph creates in that cluster (or create one annotated "
        "storageclass.kubernetes.io/is-default-class: \"true\", depending on its CSI driver)")]


def test_on_gke_a_claim_without_a_class_gets_the_built_in_default():
    steps = steps_of("gcp-prod")
    kps = [s["newState"] for s in steps if s["newState"]["type"] == "kubernetes:helm.sh/v3:Release"
           and s["newState"]["inputs"]["chart"] == "kube-prometheus-stack"]
    assert len(kps) == 2
    for st in kps:
        assert "storageClassName" not in st["inputs"]["values"]["prometheus"]["prometheusSpec"]["storageSpec"][
            "volumeClaimTemplate"]["spec"]
    assert findings(steps, "gcp-prod") == []


def test_a_claim_naming_a_class_that_does_not_exist_is_a_blocker():
    steps = steps_of("dev")
    state(steps, MILVUS)["inputs"]["values"]["etcd"]["persistence"]["storageClass"] = "fast"
    assert findings(steps) == [Finding(
        MILVUS, "volume-provisioner",
        "the etcd volume of release dev-us-east-1-vectors-milvus (chart milvus 4.2.45, values "
        "etcd.persistence.storageClass) names StorageClass fast, which is not in the graph (not built into its "
        "cluster); the claim stays Pending",
        "create StorageClass fast in that cluster before it, or name one the graph creates (aiplat-gp3-encrypted, "
        "milvus-encrypted-us-east-1)")]


def test_the_built_in_gp2_class_needs_the_ebs_driver():
    steps = steps_of("dev")
    state(steps, MILVUS)["inputs"]["values"]["standalone"]["persistence"]["persistentVolumeClaim"]["storageClass"] = "gp2"
    assert findings(steps) == []  # gp2 is EKS's, and its in-tree provisioner migrates to the EBS driver we install
    steps = drop(steps, EBS)
    gp2 = [f for f in findings(steps) if f.resource == MILVUS]
    assert gp2 == [Finding(
        MILVUS, "volume-provisioner",
        "the standalone volume of release dev-us-east-1-vectors-milvus (chart milvus 4.2.45, values "
        "standalone.persistence.persistentVolumeClaim.storageClass) uses the built-in StorageClass gp2, but nothing "
        "in the graph installs the CSI provisioner ebs.csi.aws.com (kubernetes.io/aws-ebs is ebs.csi.aws.com on this "
        "cluster), and AWS does not run it itself; the claim stays Pending",
        "install the EBS CSI driver: an aws.eks.Addon 'aws-ebs-csi-driver' on the cluster (with its IRSA role), and "
        "make dev-us-east-1-vectors-milvus depend on it")]


# -- triton-models ----------------------------------------------------------------------------------
def _objects(steps: list[dict], stack: str = "dev") -> list[str]:
    return [s["urn"] for s in steps if s["newState"]["type"] in (
        "aws:s3/bucketObjectv2:BucketObjectv2", "gcp:storage/bucketObject:BucketObject")]


def test_triton_on_a_bucket_the_up_creates_empty_is_a_blocker():
    steps = steps_of("dev")
    steps = drop(steps, *_objects(steps))
    assert findings(steps) == [Finding(
        TRITON, "triton-models",
        "Triton container triton of Deployment triton-embed/triton-stable loads models from "
        "s3://acme-aiplat-dev-us-east-1-embed/text-embedder/v1, but no object in the graph is under that prefix: the "
        "bucket is created empty by the same up, so Triton starts on an empty repository",
        "publish the models into s3://acme-aiplat-dev-us-east-1-embed/text-embedder/v1 as bucket objects "
        "(aws.s3.BucketObjectv2 / gcp.storage.BucketObject) and make dev-us-east-1-embed-stable depend on them")]


def test_triton_on_gcs_too():
    steps = steps_of("gcp-prod")
    steps = drop(steps, *_objects(steps))
    got = findings(steps, "gcp-prod")
    assert [(f.rule, f.resource.rsplit("::", 1)[1]) for f in got] == [
        ("triton-models", "gcp-prod-us-central1-embed-stable"), ("triton-models", "gcp-prod-us-east4-embed-stable")]
    assert "loads models from gs://acme-inference-prod-us-central1-embed/text-embedder/v1, but no object" in got[0].message


def test_triton_that_does_not_wait_for_its_model_objects_is_a_blocker():
    steps = steps_of("dev")
    unwait(steps, TRITON, *_objects(steps))
    assert findings(steps) == [Finding(
        TRITON, "triton-models",
        "Triton container triton of Deployment triton-embed/triton-stable does not wait for 2 of the 2 model "
        "object(s) under its repositories (dev-us-east-1-embed-text-embedder/v1/text-embedder/1/model.py, "
        "dev-us-east-1-embed-text-embedder/v1/text-embedder/config.pbtxt): it may start before they are written",
        "add depends_on=[<the model objects>] to dev-us-east-1-embed-stable")]


def _args(steps: list[dict]) -> list[str]:
    return state(steps, TRITON)["inputs"]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_triton_loading_a_model_the_repository_lacks_is_a_blocker():
    steps = steps_of("dev")
    args = _args(steps)
    args[args.index("--load-model=text-embedder")] = "--load-model=reranker"
    assert [f.message for f in findings(steps)] == [
        "Triton container triton of Deployment triton-embed/triton-stable loads model reranker (--load-model), but no "
        "object in the graph is under <repository>/reranker/ of s3://acme-aiplat-dev-us-east-1-embed/text-embedder/v1"]


def test_triton_on_a_bucket_outside_the_graph_is_a_warning_and_unreadable_args_a_blocker():
    steps = steps_of("dev")
    _args(steps)[0] = "--model-repository=s3://models-of-another-team/embedder"
    report = analyze(steps, Context("dev", stack_config("dev")))
    assert report.blockers == [] and [f.message for f in report.warnings] == [
        "Triton container triton of Deployment triton-embed/triton-stable loads models from "
        "s3://models-of-another-team/embedder, in a bucket this program does not create: the graph cannot show that "
        "the models are there"]
    _args(steps)[0] = "--model-repository=s3://04da6b54-80e4-46f7-96ec-b56ff0331ba9/embedder"
    assert [f.message for f in findings(steps)] == [
        "cannot read the arguments of Triton container triton of Deployment triton-embed/triton-stable (not known at "
        "preview), so the models it loads are unknown"]


def test_model_repository_uris_as_triton_reads_them():
    assert parse_repository("s3://b/p/q") == Repository("s3", "b", "p/q")
    assert parse_repository("s3://minio.local:9000/b/p") == Repository("s3", "b", "p")
    assert parse_repository("gs://b") == Repository("gs", "b", "")
    assert parse_repository("/models") is None and parse_repository("as://acct/container") is None


# -- the CLI ---------------------------------------------------------------------------------------
PROGRAM = """
import runpy

import pulumi
import pulumi_kubernetes as k8s

stack = runpy.run_path({main!r}, run_name="__main__")  # the real stack
k8s.apiextensions.CustomResource(
    "web-cert", api_version="cert-manager.io/v1", kind="Certificate",
    metadata={{"name": "web", "namespace": "default"}},
    spec={{"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {{"name": "le", "kind": "ClusterIssuer"}}}},
    opts=pulumi.ResourceOptions(provider=stack["platform"].regions["us-east-1"].cluster.kube_provider))
"""
# The policies cannot judge a cert-manager Certificate (no provider schema): the programs here are
# about the deploy analysis, so they run with a policy config that allows that type on purpose.
CERT_TYPE = "kubernetes:cert-manager.io/v1:Certificate"


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("deploy-program") / "with_certificate.py"
    path.write_text(PROGRAM.format(main=str(ROOT / "__main__.py")))
    return path


def _stack_file(tmp_path: Path, deploy: dict | None) -> Path:
    """dev's stack file; the model repository absolute (the program runs from its own directory)."""
    doc = yaml.safe_load(stack_file_path("dev").read_text())
    platform = doc["config"]["aiplat:platform"]
    platform["serving"]["model_repository"] = str(ROOT / platform["serving"]["model_repository"])
    if deploy is not None:
        platform["deploy"] = deploy
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _policy_config(tmp_path: Path) -> Path:
    """dev's policy config with the Certificate allowed on purpose by every policy."""
    doc = json.loads(policy_config_path("dev").read_text())
    for name, section in doc.items():
        if name != "all":
            section["allowedTypes"] = [*section.get("allowedTypes", []), CERT_TYPE]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return path


def test_cli_a_blocker_exits_1_with_the_table_and_the_json(cli, program, tmp_path):
    out = tmp_path / "dev.json"
    path = _stack_file(tmp_path, None)
    result = cli("check", "dev", "--stack-file", str(path), "--program", str(program), "--json", str(out),
                 "--policy-config", str(_policy_config(tmp_path)))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    deploy = json.loads(out.read_text())["deploy"]
    assert deploy == {"warnings": [], "blockers": [{
        "resource": "urn:pulumi:dev::aiplat::kubernetes:cert-manager.io/v1:Certificate::web-cert",
        "rule": "crd-installed",
        "message": "Certificate default/web: nothing in the graph installs the CRD of Certificate (cert-manager.io/v1) "
                   "in its cluster; a first up fails with 'no matches for kind \"Certificate\"'",
        "change": CRD_CHANGE.format(ref="cert-manager.io/v1/Certificate")}]}
    assert "Deploy analysis · dev · 1 blocker(s), 0 warning(s)" in result.stdout
    assert f"FAIL deploy: 1 blocker(s), 0 warning(s) ({len(RULE_MODULES)} rules)" in result.stdout
    assert "PASS policies:" in result.stdout  # the exit 1 is the deploy blocker's


def test_cli_a_declared_prerequisite_passes(cli, program, tmp_path):
    path = _stack_file(tmp_path, {"prerequisites": {"crds": ["cert-manager.io/v1/Certificate"]}})
    out = tmp_path / "dev.json"
    result = cli("check", "dev", "--stack-file", str(path), "--program", str(program), "--json", str(out),
                 "--policy-config", str(_policy_config(tmp_path)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(out.read_text())["deploy"] == {"blockers": [], "warnings": []}
    assert f"PASS deploy: 0 blocker(s), 0 warning(s) ({len(RULE_MODULES)} rules)" in result.stdout


def test_cli_bad_prerequisites_exit_2_naming_each_key_path(cli, tmp_path):
    path = _stack_file(tmp_path, {"prerequisites": {"crds": ["keda/v1", "keda.sh/v1alpha1"],
                                                    "provisioners": ["EBS CSI"], "drivers": []}})
    result = cli("check", "dev", "--stack-file", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"invalid configuration in {path} (3 problems):" in result.stderr
    for line in (
        "deploy.prerequisites.crds: ['keda/v1'] are not group/version or group/version/Kind with a dotted group "
        "(e.g. keda.sh/v1alpha1 or keda.sh/v1alpha1/ScaledObject)",
        "deploy.prerequisites.provisioners: ['EBS CSI'] are not CSI provisioner names (a DNS subdomain, e.g. "
        "efs.csi.aws.com)",
        "deploy.prerequisites.drivers:",
    ):
        assert line in result.stderr, result.stderr


@pytest.mark.parametrize("stack", SHIPPED)
def test_cli_every_shipped_stack_exits_0_with_no_blocker(cli, stack, tmp_path):
    out = tmp_path / f"{stack}.json"
    result = cli("check", stack, "--json", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(out.read_text())["deploy"] == {"blockers": [], "warnings": []}
    assert f"PASS deploy: 0 blocker(s), 0 warning(s) ({len(RULE_MODULES)} rules)" in result.stdout
