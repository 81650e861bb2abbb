"""Everything schedules (issue 12, item 4): the Milvus node pool per mode, the ``schedulable``
deploy rule over the recorded graphs of the five shipped stacks, the rule triggered by
mutating real graphs, and the sizes that cannot fit as config errors through the CLI.
"""

from __future__ import annotations

import copy

import pytest

from aiplat.catalog import instances
from aiplat.policies import cost
from aiplat.refs import SYSTEM_POD_MAX_REQUEST, cpu_millicores, memory_mib, quantity
from aiplat.tools.deploy import RULE_MODULES, Context, analyze
from aiplat.tools.deploy._charts import Pod, describer, merge
from aiplat.tools.deploy._graph import Graph
from aiplat.tools.deploy import schedulable
from tests._project import stack_config
from tests.test_config_errors import config_error_lines, raw_of, write_stack

STACKS = ("dev", "staging", "prod", "prod-eu", "gcp-prod")
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "gcp:container/nodePool:NodePool"
VS = "aiplat:vector_store:VectorStore"
MILVUS_TAINT = {"key": "aiplat.io/dedicated", "value": "milvus", "effect": "NO_SCHEDULE"}
MILVUS_TOLERATION = {"key": "aiplat.io/dedicated", "operator": "Equal", "value": "milvus", "effect": "NoSchedule"}
STANDALONE_PODS = ["standalone", "etcd"]
CLUSTER_PODS = ["proxy", "queryNode", "indexNode", "dataNode", "mixCoordinator", "etcd", "pulsarv3.zookeeper",
                "pulsarv3.bookkeeper", "pulsarv3.autorecovery", "pulsarv3.broker", "pulsarv3.proxy",
                "pulsarv3.pulsar-init", "pulsarv3.bookie-init"]


def _findings(steps, stack):
    return list(schedulable.check(Graph.of(steps), Context(stack, stack_config(stack))))


def _state(steps, type_, name):
    (found,) = [s["newState"] for s in steps if s["newState"]["type"] == type_ and s["newState"]["urn"].endswith(
        f"::{name}")]
    return found


# -- the catalog's allocatable (the figures the issue quotes) ------------------------------------
def test_allocatable_follows_the_eks_ami_and_gke_reservations():
    a = instances.get("aws", "m6i.large").allocatable()
    # 2000m - 6 % of core 1 - 1 % of core 2; 8 GiB x 0.925 - (11 x 29 + 255) MiB - 100 MiB eviction
    assert (a.cpu_millicores, a.memory_mib, a.pods) == (1930, 6903, 29)
    g = instances.get("gcp", "e2-standard-4").allocatable()
    # 16 GiB - (25 % of 4 + 20 % of 4 + 10 % of 8 GiB) - 100 MiB; CPU + 0.5 % of cores 3 and 4
    assert (g.cpu_millicores, g.memory_mib, g.pods) == (3920, 13621, 110)
    assert instances.get("aws", "r6i.2xlarge").allocatable().memory_mib == 59627


def test_quantities_are_read_as_kubernetes_reads_them():
    assert [cpu_millicores(v) for v in ("500m", "2", 0.2, "0.5", "1k")] == [500, 2000, 200, 500, 1000000]
    assert [memory_mib(v) for v in ("16Gi", "2048Mi", "1G", 1048576, "512M")] == [16384, 2048, 954, 1, 489]
    assert quantity("lots") is None and quantity(True) is None and quantity(None) is None


def test_rule_is_registered():
    assert "schedulable" in RULE_MODULES


# -- every platform workload of every shipped stack fits ----------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_platform_workload_fits_a_pool_it_may_use(record, stack):
    rec = record(stack)
    steps = rec.steps()
    graph = Graph.of(steps)
    findings = _findings(steps, stack)
    assert findings == []  # no blocker, and nothing it could not judge: every release's chart is described
    placed = schedulable.placements(graph)
    # every Deployment and every release with pods was judged, and each of their pods fits a pool
    assert all(describer(n.inputs["chart"], n.inputs["version"]) for n in graph.of_type(RELEASE))
    judged = {n.name for n in graph.of_type("kubernetes:apps/v1:Deployment")} | {
        n.name for n in graph.of_type(RELEASE) if n.inputs["chart"] != "prometheus-operator-crds"}
    assert set(placed) == judged
    # (the device plugin's MPS control daemon runs only on nodes labelled nvidia.com/mps.capable: none here)
    unplaced = {(w, p) for w, pods in placed.items() for p, pools in pods.items() if not pools}
    assert unplaced == {(w, "mps-control-daemon") for w in placed if w.endswith("-gpu-nvidia-device-plugin")}
    # the deploy analysis carries the rule's findings
    report = analyze(steps, Context(stack, stack_config(stack)))
    assert [f for f in report.findings if f.rule == "schedulable"] == sorted(
        findings, key=lambda f: (f.severity != "blocker", f.rule, f.resource, f.message))


@pytest.mark.parametrize("stack", STACKS)
def test_the_system_nodes_hold_the_platforms_largest_system_pod(record, stack):
    """SYSTEM_POD_MAX_REQUEST (the config check of cluster.system_nodes.instance_type) is at least
    every pod the graph places on the system pool."""
    graph = Graph.of(record(stack).steps())
    system = {p.name for p in schedulable.node_pools(graph) if p.labels.get("aiplat.io/pool") == "system"}
    cpu, mem = cpu_millicores(SYSTEM_POD_MAX_REQUEST[0]), memory_mib(SYSTEM_POD_MAX_REQUEST[1])
    pods = {(n.name, p.name): p for n, _, ps, _, _ in schedulable._workloads(graph) if ps for p in ps}
    on_system = [(w, p) for w, ps in schedulable.placements(graph).items() for p, pools in ps.items()
                 if set(pools) & system and not (set(pools) - system)]
    assert on_system
    for key in on_system:
        r = schedulable.pod_requests(pods[key])
        assert r.get("cpu", 0) <= cpu and r.get("memory", 0) <= mem, (key, r)


# -- the Milvus pool per mode ----------------------------------------------------------------
@pytest.mark.parametrize(("stack", "region", "itype", "zones", "scaling"), [
    ("dev", "us-east-1", "m6i.xlarge", ["us-east-1a"], (1, 2)),
    ("staging", "us-east-1", "m6i.xlarge", ["us-east-1a"], (1, 1)),  # nodes.max_nodes: 1 (its spend cap)
    ("prod", "us-west-2", "r6i.2xlarge", ["us-west-2a", "us-west-2b", "us-west-2c"], (3, 6)),
    ("prod-eu", "eu-west-1", "r6i.2xlarge", ["eu-west-1a", "eu-west-1b", "eu-west-1c"], (3, 6)),
])
def test_aws_milvus_runs_on_its_own_node_group_sized_for_the_mode(record, stack, region, itype, zones, scaling):
    rec = record(stack)
    steps = rec.steps()
    prefix = f"{stack}-{region}"
    group = _state(steps, NODE_GROUP, f"{prefix}-vectors-nodes")
    assert group["parent"].endswith(f"{VS}::{prefix}-vectors")
    inputs = group["inputs"]
    assert inputs["instanceTypes"] == [itype] and inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert inputs["capacityType"] == "ON_DEMAND"
    assert inputs["labels"] == {"aiplat.io/pool": "milvus", "aiplat.io/capacity-type": "on-demand"}
    assert inputs["taints"] == [MILVUS_TAINT]
    assert inputs["scalingConfig"] == {"minSize": scaling[0], "desiredSize": scaling[0], "maxSize": scaling[1]}
    subnets = sorted(d.rsplit("::", 1)[-1] for d in group["dependencies"] if "aws:ec2/subnet:Subnet" in d)
    assert subnets == [f"{prefix}-private-{z}" for z in zones] and len(inputs["subnetIds"]) == len(zones)
    assert f"{prefix}-eks" in {d.rsplit("::", 1)[-1] for d in group["dependencies"]}
    release = _state(steps, RELEASE, f"{prefix}-vectors-milvus")
    assert group["urn"] in release["dependencies"]  # the atomic install waits for its nodes
    values = release["inputs"]["values"]
    assert values["nodeSelector"] == {"aiplat.io/pool": "milvus"} and values["tolerations"] == [MILVUS_TOLERATION]
    assert values["etcd"]["nodeSelector"] == {"aiplat.io/pool": "milvus"}
    mode_pods = STANDALONE_PODS if scaling[0] == 1 else CLUSTER_PODS
    placed = schedulable.placements(Graph.of(steps))[f"{prefix}-vectors-milvus"]
    assert placed == {p: [f"{prefix}-vectors-nodes"] for p in mode_pods}
    # priced by the cost model at its cap, on-demand
    (line,) = [ln for ln in cost.estimate(steps).lines if ln.item == itype and ln.region == region]
    assert (line.category, line.units, line.resources) == ("on-demand", scaling[1], (f"{prefix}-vectors-nodes",))
    assert line.unit_hourly_usd == instances.get("aws", itype).price(region).on_demand_hourly


def test_gcp_milvus_runs_on_its_own_node_pool_in_cluster_mode(record):
    steps = record("gcp-prod").steps()
    pool = _state(steps, NODE_POOL, "gcp-prod-us-central1-vectors-nodes")
    i = pool["inputs"]
    assert {k: i[k] for k in ("cluster", "location", "nodeLocations", "autoscaling", "initialNodeCount", "name")} == {
        "cluster": "aiplat-gcp-prod-us-central1", "location": "us-central1",
        "nodeLocations": ["us-central1-a", "us-central1-b", "us-central1-c"],
        "autoscaling": {"locationPolicy": "BALANCED", "totalMinNodeCount": 3, "totalMaxNodeCount": 6},
        "initialNodeCount": 1, "name": "milvus-us-central1"}
    assert i["nodeConfig"]["machineType"] == "n2-highmem-8"
    assert i["nodeConfig"]["labels"] == {"aiplat.io/pool": "milvus", "aiplat.io/capacity-type": "on-demand"}
    assert i["nodeConfig"]["taints"] == [MILVUS_TAINT]
    assert i["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    release = _state(steps, RELEASE, "gcp-prod-us-central1-vectors-milvus")
    assert pool["urn"] in release["dependencies"]
    pulsar = release["inputs"]["values"]["pulsarv3"]
    for c in ("zookeeper", "bookkeeper", "autorecovery", "broker", "proxy", "pulsar_metadata"):
        assert pulsar[c]["nodeSelector"] == {"aiplat.io/pool": "milvus"} and pulsar[c]["tolerations"] == [
            MILVUS_TOLERATION], c
    placed = schedulable.placements(Graph.of(steps))["gcp-prod-us-central1-vectors-milvus"]
    assert placed == {p: ["gcp-prod-us-central1-vectors-nodes"] for p in CLUSTER_PODS}
    (line,) = [ln for ln in cost.estimate(steps).lines if ln.item == "n2-highmem-8"]
    assert (line.category, line.region, line.units) == ("on-demand", "us-central1", 6)
    # no Milvus in us-east4 (vector_store.regions), so no pool there
    assert not [s for s in steps if s["newState"]["urn"].endswith("gcp-prod-us-east4-vectors-nodes")]


# -- the rule, triggered on real graphs ------------------------------------------------------
DEV_SYSTEM = "dev-us-east-1-system (m6i.large: 1930m CPU / 6903Mi allocatable)"
DEV_GPU = "dev-us-east-1-llm-on-demand (g6.xlarge: 3920m CPU / 13590Mi / 1 GPU allocatable)"
DEV_MILVUS = "dev-us-east-1-vectors-nodes (m6i.xlarge: 3920m CPU / 14162Mi allocatable)"


def _blockers(steps, stack):
    return [(f.resource.rsplit("::", 1)[-1], f.message, f.change) for f in _findings(steps, stack)
            if f.severity == "blocker"]


def test_milvus_requests_larger_than_its_pool_are_a_blocker(record):
    steps = copy.deepcopy(record("dev").steps())
    values = _state(steps, RELEASE, "dev-us-east-1-vectors-milvus")["inputs"]["values"]
    values["standalone"]["resources"]["requests"]["memory"] = "32Gi"
    assert _blockers(steps, "dev") == [(
        "dev-us-east-1-vectors-milvus",
        "Helm release dev-us-east-1-vectors-milvus (milvus 4.2.45): Deployment standalone: 1 pod(s) of 2 CPU / 32Gi "
        "each (nodeSelector aiplat.io/pool=milvus; tolerations aiplat.io/dedicated=milvus:NoSchedule) fits no node "
        f"pool of its cluster: {DEV_SYSTEM}: nodeSelector aiplat.io/pool=milvus not matched (aiplat.io/pool=system); "
        f"2 CPU > 1930m allocatable; 32Gi memory > 6903Mi allocatable; {DEV_GPU}: taint nvidia.com/gpu=true:NoSchedule "
        "not tolerated; nodeSelector aiplat.io/pool=milvus not matched (aiplat.io/pool=llm); 32Gi memory > 13590Mi "
        f"allocatable; {DEV_MILVUS}: 32Gi memory > 14162Mi allocatable",
        "use a larger instance type for the pool it selects (allocatable at least 2 CPU / 32Gi) or lower values "
        "standalone.resources.requests")]


def test_milvus_without_its_toleration_fits_nowhere(record):
    steps = copy.deepcopy(record("dev").steps())
    del _state(steps, RELEASE, "dev-us-east-1-vectors-milvus")["inputs"]["values"]["tolerations"]
    assert _blockers(steps, "dev") == [(
        "dev-us-east-1-vectors-milvus",
        "Helm release dev-us-east-1-vectors-milvus (milvus 4.2.45): Deployment standalone: 1 pod(s) of 2 CPU / 8Gi "
        f"each (nodeSelector aiplat.io/pool=milvus) fits no node pool of its cluster: {DEV_SYSTEM}: nodeSelector "
        "aiplat.io/pool=milvus not matched (aiplat.io/pool=system); 2 CPU > 1930m allocatable; 8Gi memory > 6903Mi "
        f"allocatable; {DEV_GPU}: taint nvidia.com/gpu=true:NoSchedule not tolerated; nodeSelector aiplat.io/pool=milvus "
        f"not matched (aiplat.io/pool=llm); {DEV_MILVUS}: taint aiplat.io/dedicated=milvus:NoSchedule not tolerated",
        "give it a node pool it tolerates and selects with at least 2 CPU / 8Gi allocatable, or change values "
        "standalone.nodeSelector/tolerations or values standalone.resources.requests")]


def test_milvus_on_the_system_nodes_as_before_is_a_blocker(record):
    """The graph before this change: no Milvus pool, no selector: 2 CPU / 8Gi fit no m6i.large."""
    steps = [s for s in copy.deepcopy(record("dev").steps())
             if not s["newState"]["urn"].endswith("::dev-us-east-1-vectors-nodes")]
    values = _state(steps, RELEASE, "dev-us-east-1-vectors-milvus")["inputs"]["values"]
    for v in (values, values["etcd"]):
        del v["nodeSelector"], v["tolerations"]
    ((_, message, _),) = _blockers(steps, "dev")
    assert message == (
        "Helm release dev-us-east-1-vectors-milvus (milvus 4.2.45): Deployment standalone: 1 pod(s) of 2 CPU / 8Gi "
        f"each (no nodeSelector, no tolerations) fits no node pool of its cluster: {DEV_SYSTEM}: 2 CPU > 1930m "
        f"allocatable; 8Gi memory > 6903Mi allocatable; {DEV_GPU}: taint nvidia.com/gpu=true:NoSchedule not tolerated")


def test_a_cluster_mode_querynode_larger_than_the_pool_type(record):
    steps = copy.deepcopy(record("gcp-prod").steps())
    values = _state(steps, RELEASE, "gcp-prod-us-central1-vectors-milvus")["inputs"]["values"]
    values["queryNode"]["resources"]["requests"]["memory"] = "64Gi"
    ((resource, message, change),) = _blockers(steps, "gcp-prod")
    assert resource == "gcp-prod-us-central1-vectors-milvus"
    assert message.startswith(
        "Helm release gcp-prod-us-central1-vectors-milvus (milvus 4.2.45): Deployment queryNode: 3 pod(s) of 2 CPU / "
        "64Gi each (nodeSelector aiplat.io/pool=milvus; tolerations aiplat.io/dedicated=milvus:NoSchedule) fits no "
        "node pool of its cluster: gcp-prod-us-central1-system (e2-standard-4: 3920m CPU / 13621Mi allocatable): "
        "nodeSelector aiplat.io/pool=milvus not matched (aiplat.io/pool=system); 64Gi memory > 13621Mi allocatable; ")
    assert message.endswith(
        "gcp-prod-us-central1-vectors-nodes (n2-highmem-8: 7910m CPU / 59824Mi allocatable): 64Gi memory > 59824Mi "
        "allocatable")
    assert change == ("use a larger instance type for the pool it selects (allocatable at least 2 CPU / 64Gi) or "
                      "lower values queryNode.resources.requests")


def test_a_triton_deployment_without_the_gpu_toleration_fits_nowhere(record):
    steps = copy.deepcopy(record("dev").steps())  # Triton 3 CPU / 12Gi plus its TLS sidecar's 100m / 64Mi
    _state(steps, "kubernetes:apps/v1:Deployment", "dev-us-east-1-embed-stable")["inputs"]["spec"]["template"][
        "spec"]["tolerations"] = []
    assert _blockers(steps, "dev") == [(
        "dev-us-east-1-embed-stable",
        "Deployment dev-us-east-1-embed-stable: 1 pod(s) of 3100m CPU / 12352Mi / 1 nvidia.com/gpu each (nodeSelector "
        f"aiplat.io/pool=llm) fits no node pool of its cluster: {DEV_SYSTEM}: nodeSelector aiplat.io/pool=llm not "
        "matched (aiplat.io/pool=system); 3100m CPU > 1930m allocatable; 12352Mi memory > 6903Mi allocatable; 1 "
        f"nvidia.com/gpu > 0 allocatable; {DEV_GPU}: taint nvidia.com/gpu=true:NoSchedule not tolerated; {DEV_MILVUS}: "
        "taint aiplat.io/dedicated=milvus:NoSchedule not tolerated; nodeSelector aiplat.io/pool=llm not matched "
        "(aiplat.io/pool=milvus); 1 nvidia.com/gpu > 0 allocatable",
        "give it a node pool it tolerates and selects with at least 3100m CPU / 12352Mi / 1 nvidia.com/gpu allocatable, or "
        "change its nodeSelector/tolerations or its containers' resources.requests")]


def test_a_daemonset_too_large_for_a_pool_it_selects(record):
    """node-exporter tolerates every NoSchedule taint: every pool must hold it."""
    steps = copy.deepcopy(record("dev").steps())
    values = _state(steps, RELEASE, "dev-us-east-1-mon-stack")["inputs"]["values"]
    values["prometheus-node-exporter"] = {"resources": {"requests": {"memory": "10Gi"}}}
    blockers = _blockers(steps, "dev")
    head = ("Helm release dev-us-east-1-mon-stack (kube-prometheus-stack 75.15.1): DaemonSet node-exporter: 1 pod(s) "
            "of 10Gi each (nodeSelector kubernetes.io/os=linux; tolerations *:NoSchedule) does not fit node pool ")
    assert [m for _, m, _ in blockers] == [f"{head}{DEV_SYSTEM}, which it selects and tolerates: 10Gi memory > 6903Mi "
                                           "allocatable"]


def test_a_chart_the_catalog_does_not_describe_is_a_warning(record):
    steps = copy.deepcopy(record("dev").steps())
    _state(steps, RELEASE, "dev-us-east-1-gpu-dcgm-exporter")["inputs"]["version"] = "4.9.0"
    (f,) = _findings(steps, "dev")
    assert (f.severity, f.resource.rsplit("::", 1)[-1], f.message) == (
        "warning", "dev-us-east-1-gpu-dcgm-exporter",
        "Helm release dev-us-east-1-gpu-dcgm-exporter (dcgm-exporter 4.9.0): cannot judge where its pods fit: the "
        "chart catalog does not describe dcgm-exporter 4.9.0, so its pods' requests and placement cannot be read")
    assert f.change == ("describe the chart at that version in aiplat.tools.deploy._charts (the values paths of its "
                        "pods' resources and placement, and the chart's defaults)")


def test_what_the_rule_cannot_read_is_a_warning(record):
    steps = copy.deepcopy(record("dev").steps())
    _state(steps, RELEASE, "dev-us-east-1-vectors-milvus")["inputs"]["values"] = "[secret]"
    group = _state(steps, NODE_GROUP, "dev-us-east-1-system")
    group["inputs"]["instanceTypes"] = ["m9z.large"]
    warnings = {(f.resource.rsplit("::", 1)[-1], f.message) for f in _findings(steps, "dev")}
    assert warnings == {
        ("dev-us-east-1-vectors-milvus", "Helm release dev-us-east-1-vectors-milvus (milvus 4.2.45): cannot judge "
                                         "where its pods fit: its values are secret or unknown in the preview"),
        ("dev-us-east-1-system", "node pool dev-us-east-1-system: instance type m9z.large is not in the instance "
                                 "catalog, so what fits on it cannot be judged"),
        # KEDA and kube-prometheus-stack pods select only the (now unknown) system pool
        *{("dev-us-east-1-addons-keda", "Helm release dev-us-east-1-addons-keda (keda 2.20.2): Deployment "
           f"{c}: 1 pod(s) of 100m CPU / 100Mi each (nodeSelector aiplat.io/pool=system, kubernetes.io/os=linux): "
           "fits no node pool of known size; dev-us-east-1-system cannot be judged")
          for c in ("operator", "metricsServer", "webhooks")},
        *{("dev-us-east-1-mon-stack", "Helm release dev-us-east-1-mon-stack (kube-prometheus-stack 75.15.1): "
           f"{kind} {name}: 1 pod(s) of no requests each (no nodeSelector, no tolerations): fits no node pool of known "
           "size; dev-us-east-1-system cannot be judged")
          for kind, name in (("Deployment", "prometheus-operator"), ("Job", "admission-create"),
                             ("Job", "admission-patch"), ("StatefulSet", "prometheus"), ("StatefulSet", "alertmanager"),
                             ("Deployment", "grafana"), ("Deployment", "kube-state-metrics"))},
        ("dev-us-east-1-addons-aws-load-balancer-controller", "Helm release dev-us-east-1-addons-aws-load-balancer-"
         "controller (aws-load-balancer-controller 3.5.0): Deployment controller: 2 pod(s) of 100m CPU / 128Mi each "
         "(nodeSelector aiplat.io/pool=system): fits no node pool of known size; dev-us-east-1-system cannot be judged"),
        ("dev-us-east-1-gpu-cluster-autoscaler", "Helm release dev-us-east-1-gpu-cluster-autoscaler (cluster-autoscaler "
         "9.46.6): Deployment cluster-autoscaler: 1 pod(s) of no requests each (nodeSelector aiplat.io/pool=system): "
         "fits no node pool of known size; dev-us-east-1-system cannot be judged"),
    }
    assert all(f.severity == "warning" for f in _findings(steps, "dev"))


# -- the chart describers follow the chart's own defaults --------------------------------------
def test_milvus_chart_defaults_are_the_chart_values_at_4_2_45():
    pods = describer("milvus", "4.2.45")({"minio": {"enabled": False}})
    # cluster mode by default, with Pulsar (pulsar 3.3.0 requests, set in the Milvus chart's values)
    assert [p.name for p in pods] == CLUSTER_PODS
    bookie = next(p for p in pods if p.name == "pulsarv3.bookkeeper")
    assert (bookie.replicas, schedulable.pod_requests(bookie)) == (3, {"cpu": 500, "memory": 2048})
    etcd = next(p for p in pods if p.name == "etcd")
    assert (etcd.replicas, schedulable.pod_requests(etcd)) == (3, {})
    with pytest.raises(Exception, match="minio.enabled is true"):
        describer("milvus", "4.2.45")({})


def test_helm_merge_and_the_pod_request_rule():
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [], "c": None}) == {"a": {"b": 3, "c": 2},
                                                                                              "d": []}
    # max(sum of containers (+ sidecars), largest init container); limits stand in for missing requests
    pod = Pod("x", "Deployment", 1, ({"requests": {"cpu": "1", "memory": "1Gi"}}, {"limits": {"memory": "1Gi"}}),
              ({"resources": {"requests": {"memory": "4Gi"}}},
               {"resources": {"requests": {"cpu": "500m"}}, "restartPolicy": "Always"}))
    assert schedulable.pod_requests(pod) == {"cpu": 1500, "memory": 4096}


# -- sizes that cannot fit are config errors (the CLI, exit 2, key paths) ---------------------
@pytest.mark.parametrize(("stack", "edit", "lines"), [
    ("dev", {"vector_store": {"nodes": {"instance_type": "m6i.large"}}},
     ["  vector_store.nodes.instance_type: standalone Milvus pods do not fit one m6i.large node (1930m CPU / 6903Mi "
      "allocatable): standalone requests 2 CPU / 8Gi; choose a larger type"]),
    ("gcp-prod", {"vector_store": {"nodes": {"instance_type": "e2-standard-4"}}},
     ["  vector_store.nodes.instance_type: cluster Milvus pods do not fit one e2-standard-4 node (3920m CPU / 13621Mi "
      "allocatable): queryNode requests 2 CPU / 16Gi; choose a larger type"]),
    ("prod-eu", {"vector_store": {"nodes": {"min_nodes": 1, "max_nodes": 1}}},
     ["  vector_store.nodes.max_nodes: 1 r6i.2xlarge nodes (7910m CPU / 59627Mi allocatable) cannot hold the cluster "
      "Milvus pods (19950m CPU / 96128Mi requested in eu-central-1); at least 3"]),
    ("prod-eu", {"vector_store": {"nodes": {"max_nodes": 2}}},
     ["  vector_store.nodes.max_nodes: 2 is below min_nodes 3 (the cluster default for 3 zones and r6i.2xlarge)"]),
    ("prod", {"cluster": {"system_nodes": {"instance_type": "t3.micro"}}},
     ["  cluster.system_nodes.instance_type: 't3.micro' is not an AWS type of the instance catalog "
      "(components/catalog/machines.yaml: m6i.2xlarge, m6i.4xlarge, m6i.large, m6i.xlarge, m7i.2xlarge, m7i.4xlarge, "
      "m7i.large, m7i.xlarge, r6i.2xlarge, r6i.4xlarge, r6i.large, r6i.xlarge, r7i.2xlarge, r7i.4xlarge, r7i.large, "
      "r7i.xlarge)"]),
])
def test_sizes_that_cannot_fit_are_config_errors(cli, tmp_path, stack, edit, lines):
    raw = raw_of(stack)
    for section, change in edit.items():
        for key, value in change.items():
            target = raw.setdefault(section, {})
            target[key] = {**target.get(key, {}), **value} if isinstance(value, dict) else value
    path = write_stack(tmp_path / f"Pulumi.{stack}-sizes.yaml", stack, raw)
    assert config_error_lines(cli("check", stack, "--stack-file", str(path))) == [
        f"aiplat check: invalid configuration in {path} (1 problem):", *lines]


def test_triton_requests_fit_every_catalog_gpu_type_by_construction():
    """A Triton replica asks 75 % of its GPUs' share of the node (aiplat.triton.args.pod_resources),
    which every GPU type of the catalog can hand out at any gpus_per_replica: no config can make a
    Triton pod larger than its pool's node, so there is no config error for it (the rule still judges
    the Deployments, above)."""
    from aiplat.triton.args import pod_resources

    checked = 0
    for cloud in ("aws", "gcp"):
        for t in instances.machine_types(cloud):
            if not t.gpus:
                continue
            a = t.allocatable()
            for g in range(1, t.gpus + 1):
                cpu, mem = pod_resources(t.vcpus, t.memory_gib, t.gpus, g)
                assert cpu_millicores(cpu) <= a.cpu_millicores and memory_mib(mem) <= a.memory_mib, (t.name, g)
                checked += 1
    assert checked > 20


def test_gke_taints_gpu_nodes_itself_and_a_group_of_several_types_counts_the_smallest(record):
    steps = copy.deepcopy(record("gcp-prod").steps())
    for s in steps:
        n = s["newState"]
        if n["type"] == NODE_POOL and n["inputs"]["nodeConfig"].get("guestAccelerators"):
            n["inputs"]["nodeConfig"]["taints"] = []  # GKE still taints them nvidia.com/gpu=present:NoSchedule
    placed = schedulable.placements(Graph.of(steps))
    assert placed["gcp-prod-us-central1-gw-esp"] == {"Deployment gcp-prod-us-central1-gw-esp": [
        "gcp-prod-us-central1-system"]}
    aws = copy.deepcopy(record("dev").steps())
    _state(aws, NODE_GROUP, "dev-us-east-1-vectors-nodes")["inputs"]["instanceTypes"] = ["r6i.2xlarge", "m6i.large"]
    ((_, message, _),) = _blockers(aws, "dev")
    assert message.endswith("dev-us-east-1-vectors-nodes (r6i.2xlarge|m6i.large: 1930m CPU / 6903Mi allocatable): "
                            "2 CPU > 1930m allocatable; 8Gi memory > 6903Mi allocatable")


def test_gcp_standalone_milvus_gets_a_one_zone_pool():
    from tests._project import run_stack

    config = copy.deepcopy(stack_config("gcp-prod"))
    config["aiplat:platform"]["vector_store"]["mode"] = "standalone"
    steps = run_stack("gcp-prod", config).steps()
    i = _state(steps, NODE_POOL, "gcp-prod-us-central1-vectors-nodes")["inputs"]
    assert (i["nodeConfig"]["machineType"], i["nodeLocations"], i["autoscaling"], i["initialNodeCount"]) == (
        "e2-standard-4", ["us-central1-a"],
        {"locationPolicy": "BALANCED", "totalMinNodeCount": 1, "totalMaxNodeCount": 2}, 1)
    placed = schedulable.placements(Graph.of(steps))["gcp-prod-us-central1-vectors-milvus"]
    assert placed == {p: ["gcp-prod-us-central1-vectors-nodes"] for p in STANDALONE_PODS}
    assert _findings(steps, "gcp-prod") == []
