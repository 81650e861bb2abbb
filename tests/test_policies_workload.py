"""workload-hardening through the SDK analyzer: every pod spec of the program (any kind the
schema gives a pod template), each missing setting named with the container and the field;
exceptions only by name, with a reason; Helm releases by their pin and their values."""

from __future__ import annotations

import copy

import pytest

from aiplat.policies import offline, workload
from aiplat.policies._judge import Coverage
from tests.policy_steps import UNKNOWN, Steps, write_config

IMAGE = "nvcr.io/nvidia/tritonserver@sha256:" + "ab" * 32
GOOD = {
    "name": "app", "image": IMAGE,
    "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
}


def run(g: Steps, tmp_path, **config) -> list[tuple[str, str]]:
    path = write_config(tmp_path, {"all": "mandatory", "workload-hardening": config})
    report = offline.evaluate(g.steps, g.stack, path, policies=[workload.POLICY])
    return sorted((v.name, v.message) for v in report.by_policy("workload-hardening"))


def stack(kind: str = "kubernetes:apps/v1:Deployment", container=None, pod=None, path=("spec", "template", "spec"),
          name="w", namespace="team") -> Steps:
    g = Steps()
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    spec = {"containers": [container if container is not None else copy.deepcopy(GOOD)], **(pod or {})}
    body: dict = spec
    for key in reversed(path):
        body = {key: body}
    g.add(kind, name, {"metadata": {"name": name, "namespace": namespace}, **body}, k8s)
    return g


@pytest.mark.parametrize("kind,path", [
    ("kubernetes:apps/v1:Deployment", ("spec", "template", "spec")),
    ("kubernetes:apps/v1:StatefulSet", ("spec", "template", "spec")),
    ("kubernetes:apps/v1:DaemonSet", ("spec", "template", "spec")),
    ("kubernetes:batch/v1:Job", ("spec", "template", "spec")),
    ("kubernetes:batch/v1:CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
    ("kubernetes:core/v1:Pod", ("spec",)),
])
def test_every_pod_kind_is_judged(kind, path, tmp_path):
    assert workload.coverage(kind) == Coverage.judged()
    assert run(stack(kind, path=path), tmp_path) == []
    bare = {"name": "app", "image": IMAGE}
    found = run(stack(kind, container=bare, path=path), tmp_path)
    where = ".".join(path)
    head = f"{kind} w (team/w): container 'app' ({where}.containers[0]): "
    assert found == sorted(("w", head + m) for m in (
        "set securityContext.runAsNonRoot=true (and a non-zero runAsUser)",
        "set securityContext.allowPrivilegeEscalation=false",
        "drop every capability: securityContext.capabilities.drop=['ALL']",
        "set securityContext.seccompProfile.type=RuntimeDefault (pod or container)",
        "set resources.limits.memory and resources.requests.cpu",
        "set securityContext.readOnlyRootFilesystem=true (mount emptyDirs where the image writes)",
    ))


def test_pod_level_defaults_count_and_root_is_refused(tmp_path):
    c = copy.deepcopy(GOOD)
    del c["securityContext"]["runAsNonRoot"], c["securityContext"]["seccompProfile"]
    pod = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}
    assert run(stack(container=c, pod=pod), tmp_path) == []
    c["securityContext"]["runAsUser"] = 0
    found = run(stack(container=c, pod=pod), tmp_path)
    assert [m.split(": ", 2)[-1] for _, m in found] == ["set securityContext.runAsNonRoot=true (and a non-zero "
                                                         "runAsUser)"]


def test_privileged_host_namespaces_and_init_containers(tmp_path):
    init = copy.deepcopy(GOOD) | {"name": "init"}
    init["securityContext"] = {**init["securityContext"], "privileged": True}
    g = stack(pod={"hostNetwork": True, "hostPID": True, "initContainers": [init]})
    found = run(g, tmp_path)
    assert found == [
        ("w", "kubernetes:apps/v1:Deployment w (team/w): container 'init' (spec.template.spec.initContainers[0]): "
              "privileged container; remove securityContext.privileged"),
        ("w", "kubernetes:apps/v1:Deployment w (team/w): spec.template.spec.hostNetwork shares the node's namespaces; "
              "remove it"),
        ("w", "kubernetes:apps/v1:Deployment w (team/w): spec.template.spec.hostPID shares the node's namespaces; "
              "remove it"),
    ]


def test_exceptions_are_named_per_workload_container_and_check(tmp_path):
    c = copy.deepcopy(GOOD)
    c["securityContext"]["readOnlyRootFilesystem"] = False
    g = stack(container=c, namespace="triton-embed", name="triton-stable")
    assert len(run(g, tmp_path)) == 1
    exc = {"workload": "triton-*/triton-*", "container": "app", "checks": ["readOnlyRootFilesystem"],
           "reason": "the image writes to its root filesystem"}
    assert run(g, tmp_path, exceptions=[exc]) == []
    assert len(run(g, tmp_path, exceptions=[{**exc, "container": "other"}])) == 1  # another container: not waived
    assert len(run(g, tmp_path, exceptions=[{**exc, "checks": ["privileged"]}])) == 1  # another check: not waived
    other = stack(container=c, namespace="team", name="triton-stable")
    assert len(run(other, tmp_path, exceptions=[exc])) == 1  # another namespace: not waived


def test_unknown_pod_spec_and_unknown_kinds_cannot_be_judged(tmp_path):
    g = stack(container=UNKNOWN)
    g.add("kubernetes:apps.kruise.io/v1alpha1:CloneSet", "clones", {"spec": {}})
    found = run(g, tmp_path)
    assert found == [
        ("clones", "kubernetes:apps.kruise.io/v1alpha1:CloneSet clones: cannot judge: no provider schema is known for "
                   "the type, so whether it runs pods is unknown; change the resource so it can be judged, or allow "
                   "the type on purpose in workload-hardening.allowedTypes"),
        ("w", "kubernetes:apps/v1:Deployment w: cannot judge: spec.template.spec.containers[0] is unknown at preview; "
              "change the resource so it can be judged, or allow the type on purpose in "
              "workload-hardening.allowedTypes"),
    ]
    assert [n for n, _ in run(g, tmp_path, allowedTypes=["kubernetes:apps.kruise.io/v1alpha1:CloneSet"])] == ["w"]


def test_containers_outside_kubernetes_cannot_be_judged():
    assert workload.coverage("aws:sagemaker/model:Model").kind == "cannot-judge"
    assert workload.coverage("aws:ecs/taskDefinition:TaskDefinition").kind == "cannot-judge"
    assert workload.coverage("gcp:container/nodePool:NodePool").kind == "not-applicable"
    assert workload.coverage("kubernetes:core/v1:ConfigMap").kind == "not-applicable"


def test_helm_release_values_that_weaken_pods(tmp_path):
    g = Steps()
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    g.add("kubernetes:helm.sh/v3:Release", "exporter", {
        "name": "dcgm-exporter", "namespace": "kube-system", "chart": "dcgm-exporter", "version": "4.8.1",
        "repositoryOpts": {"repo": "https://nvidia.github.io/dcgm-exporter/helm-charts"},
        "values": {"securityContext": {"privileged": True}, "hostNetwork": False}}, k8s)
    found = run(g, tmp_path)
    assert found == [("exporter", "kubernetes:helm.sh/v3:Release exporter (kube-system/dcgm-exporter): values "
                                  "securityContext.privileged=True weakens the chart's pods (privileged); remove it or "
                                  "name the exception")]
    exc = {"workload": "kube-system/dcgm-exporter", "checks": ["privileged"], "reason": "GKE needs it for DCGM"}
    assert run(g, tmp_path, exceptions=[exc]) == []
