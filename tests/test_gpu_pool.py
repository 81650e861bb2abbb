"""GpuPool: pure helpers, the exact child contract on the recorded graphs (prod, gcp-prod),
the outputs the Triton component builds on, and `aiplat check` rejecting bad pools."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pulumi
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aiplat.testing import engine
from aiplat.catalog import gpu as gpu_catalog
from aiplat.errors import ConfigError
from aiplat.gpu_pool import (
    CHARTS,
    EKS_GPU_AMI_TYPE,
    GpuPool,
    GpuPoolArgs,
    accelerator_label,
    priority_expander_config,
    split_across_zones,
    validate_pool_args,
)
from aiplat.monitoring import POOL_NODE_LABEL
from aiplat.project import load_platform_config
from tests._project import stack_file_path

POOL_TYPE = "aiplat:gpu_pool:GpuPool"
ADDONS_TYPE = "aiplat:gpu_pool:GpuAddons"
CR = "aws:ec2/capacityReservation:CapacityReservation"
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
RG = "aws:resourcegroups/group:Group"
RG_MEMBER = "aws:resourcegroups/resource:Resource"
RELEASE = "kubernetes:helm.sh/v3:Release"
GCP_RES = "gcp:compute/reservation:Reservation"
GCP_POOL = "gcp:container/nodePool:NodePool"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


# -- pure helpers ---------------------------------------------------------------------
@given(st.integers(0, 500), st.lists(st.text("abcdef", min_size=1, max_size=4), min_size=1, max_size=6, unique=True))
def test_split_across_zones_sums_exactly_and_is_even(total, zones):
    split = split_across_zones(total, zones)
    assert list(split) == zones
    assert sum(split.values()) == total
    assert max(split.values()) - min(split.values()) <= 1
    # earlier zones get the remainder: counts never increase along the list
    counts = list(split.values())
    assert counts == sorted(counts, reverse=True)


def test_split_across_zones_rejects_nonsense():
    with pytest.raises(ValueError):
        split_across_zones(1, [])
    with pytest.raises(ValueError):
        split_across_zones(-1, ["a"])


def test_accelerator_label_is_a_kubernetes_label_value():
    assert accelerator_label("NVIDIA L40S") == "nvidia-l40s"
    assert accelerator_label("NVIDIA A100 40GB") == "nvidia-a100-40gb"
    for cloud in ("aws", "gcp"):
        for t in gpu_catalog.instance_types(cloud):
            assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", accelerator_label(t.gpu_model)), t.name


def test_priority_expander_orders_on_demand_before_spot_and_cannot_confuse_pools():
    doc = yaml.safe_load(
        priority_expander_config({"reserved": ["llm-reserved"], "on-demand": ["llm-on-demand", "llm-reserved-on-demand"],
                                  "spot": ["llm-spot"]})
    )
    assert list(doc) == [30, 20, 10, 1]

    def priority(asg: str) -> int:
        return max(p for p, regexes in doc.items() if any(re.search(rx, asg) for rx in regexes))

    uuid = "c6c0bd5c-ab1a-6f43-1dba-d1c8a0bd5b28"
    assert priority(f"eks-llm-reserved-{uuid}") == 30
    assert priority(f"eks-llm-on-demand-{uuid}") == 20
    assert priority(f"eks-llm-spot-{uuid}") == 10
    # a pool named "llm-reserved" has an on-demand group whose ASG starts like llm's reserved one
    assert priority(f"eks-llm-reserved-on-demand-{uuid}") == 20
    assert priority(f"eks-system-{uuid}") == 1


def _args(**kw) -> GpuPoolArgs:
    base = dict(
        cloud="aws", region="us-east-1", pool="llm", instance_type="g6e.12xlarge", max_nodes=4, reserved_nodes=2,
        spot_max_nodes=1, cluster_name="c1", zones=["us-east-1a", "us-east-1b"],
        subnet_ids={"us-east-1a": "subnet-a", "us-east-1b": "subnet-b"}, node_role_arn="arn:aws:iam::1:role/n",
        tags={"owner": "o", "team": "t", "cost-center": "c"},
    )
    return GpuPoolArgs(**{**base, **kw})


def test_validate_pool_args_collects_every_problem_with_its_field():
    assert validate_pool_args(_args()) == []
    bad = _args(reserved_nodes=5, instance_type="g6e.12xlarge", region="eu-west-1", subnet_ids={}, node_role_arn=None)
    paths = sorted({p.path for p in validate_pool_args(bad)})
    assert paths == ["instance_type", "node_role_arn", "reserved_nodes", "subnet_ids"]
    gcp = _args(cloud="gcp", region="us-central1", instance_type="g2-standard-8", zones=["us-central1-a"])
    assert sorted(p.path for p in validate_pool_args(gcp)) == ["gcp_project", "node_service_account"]


# -- the outputs contract (Triton builds on these names) ------------------------------------
def _build(args: GpuPoolArgs) -> dict:
    captured = {}

    def program():
        provider = pulumi.ProviderResource("aws", "p", {"region": args.region}) if args.cloud == "aws" else None
        pool = GpuPool("t-llm", args, pulumi.ResourceOptions(provider=provider) if provider else None)
        captured["pool"] = pool

    rec = engine.run_program(program, "unit", {})
    return {"pool": captured["pool"], "rec": rec}


def test_outputs_contract_for_triton():
    built = _build(_args())
    pool = built["pool"]
    assert pool.pool_name == "llm"
    assert pool.node_selector == {"aiplat.io/pool": "llm"}
    assert pool.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pool.accelerator == "nvidia-l40s"
    assert (pool.gpus_per_node, pool.reserved_nodes, pool.max_nodes, pool.spot_max_nodes) == (4, 2, 4, 1)
    assert (pool.reserved_gpus, pool.max_gpus, pool.spot_max_gpus) == (8, 16, 4)  # spot excluded from max_gpus
    assert sorted(pool.node_group_names) == ["on-demand", "reserved", "spot"]
    types = {r.type for r in built["rec"].resources}
    assert {CR, RG, RG_MEMBER, LT, NG} <= types


def test_bad_pool_registers_nothing():
    with pytest.raises(ConfigError) as err:
        GpuPool("x", _args(reserved_nodes=9))
    assert [p.path for p in err.value.problems] == ["reserved_nodes"]


def test_no_burst_group_when_everything_is_reserved_and_no_reservation_when_none():
    rec = _build(_args(reserved_nodes=4, max_nodes=4, spot_max_nodes=0))["rec"]
    assert [g.inputs["nodeGroupName"] for g in rec.of_type(NG)] == ["llm-reserved"]
    rec = _build(_args(reserved_nodes=0, max_nodes=2, spot_max_nodes=0))["rec"]
    assert [g.inputs["nodeGroupName"] for g in rec.of_type(NG)] == ["llm-on-demand"]
    assert rec.of_type(CR) == [] and rec.of_type(RG) == []


# -- prod (EKS): the must-shows on the recorded graph ---------------------------------------
def _pools_by_component(rec: engine.Recording, stack: str) -> dict[str, tuple]:
    """GpuPool component registration -> (region config, pool config), matched by name."""
    cfg = load_platform_config(stack, stack_file_path(stack))
    wanted = {f"{stack}-{r.name}-{p.name}": (r, p) for r in cfg.regions for p in r.gpu_pools}
    comps = rec.of_type(POOL_TYPE)
    assert sorted(c.name for c in comps) == sorted(wanted)
    return {c.urn: (c, *wanted[c.name]) for c in comps}


def _children(rec: engine.Recording, parent_urn: str, type_: str) -> list[engine.Registration]:
    return [r for r in rec.resources if r.parent == parent_urn and r.type == type_]


def test_prod_pools_reserve_exactly_their_baseline_and_cap_at_max_nodes(record):
    rec = record("prod")
    pools = _pools_by_component(rec, "prod")
    assert len(pools) == 6  # llm + embed in each of three regions
    urns = rec.by_urn()
    for urn, (comp, rc, pc) in pools.items():
        where = comp.name
        spec = gpu_catalog.get_instance_type("aws", pc.instance_type)
        # capacity reservations: targeted, unlimited, per zone, summing to reserved_nodes
        crs = _children(rec, urn, CR)
        assert sum(c.inputs["instanceCount"] for c in crs) == pc.reserved_nodes, where
        assert len({c.inputs["availabilityZone"] for c in crs}) == len(crs)
        for c in crs:
            assert c.inputs["instanceType"] == pc.instance_type
            assert c.inputs["instanceMatchCriteria"] == "targeted"
            assert c.inputs["endDateType"] == "unlimited"
            assert c.inputs["availabilityZone"] in rc.zones
            assert c.inputs["tags"]["aiplat.io/commitment"] == pc.commitment
        groups = {g.inputs["nodeGroupName"].removeprefix(f"{pc.name}-"): g for g in _children(rec, urn, NG)}
        reserved, burst, spot = groups.get("reserved"), groups.get("on-demand"), groups.get("spot")
        # a reserved group holding exactly the reservations, a burst group up to the cap
        assert reserved is not None and burst is not None, where
        rs = reserved.inputs["scalingConfig"]
        assert rs == {"minSize": pc.reserved_nodes, "desiredSize": pc.reserved_nodes, "maxSize": pc.reserved_nodes}
        assert burst.inputs["scalingConfig"]["minSize"] == 0
        assert rs["maxSize"] + burst.inputs["scalingConfig"]["maxSize"] == pc.max_nodes, where
        assert burst.inputs["capacityType"] == "ON_DEMAND" and reserved.inputs["capacityType"] == "ON_DEMAND"
        if pc.spot_max_nodes:
            assert spot.inputs["capacityType"] == "SPOT"
            assert spot.inputs["scalingConfig"]["maxSize"] == pc.spot_max_nodes
        else:
            assert spot is None
        for role, g in groups.items():
            i = g.inputs
            assert i["amiType"] == EKS_GPU_AMI_TYPE == "AL2023_x86_64_NVIDIA"
            assert i["instanceTypes"] == [pc.instance_type]
            assert i["taints"] == [GPU_TAINT]
            labels = i["labels"]
            assert labels["aiplat.io/pool"] == labels[POOL_NODE_LABEL] == pc.name
            assert labels["aiplat.io/accelerator"] == accelerator_label(spec.gpu_model)
            assert labels["aiplat.io/capacity-type"] == role
            tags = i["tags"]
            assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
            assert tags[f"k8s.io/cluster-autoscaler/{i['clusterName']}"] == "owned"
            assert tags["k8s.io/cluster-autoscaler/node-template/label/aiplat.io/pool"] == pc.name
            assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"
            assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == str(spec.gpus)
            assert g.name == f"{comp.name}-{role}"
        # the reserved group's launch template targets the group that holds every reservation
        lt = urns[reserved.property_dependencies["launchTemplate"][0]]
        assert lt.type == LT and lt.parent == urn
        target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
        group = urns[lt.property_dependencies["capacityReservationSpecification"][0]]
        assert group.type == RG and target["capacityReservationResourceGroupArn"].endswith(group.inputs["name"])
        assert [c["type"] for c in group.inputs["configurations"]][0] == "AWS::EC2::CapacityReservationPool"
        members = [m for m in _children(rec, urn, RG_MEMBER) if group.urn in m.property_dependencies["groupArn"]]
        assert sorted(m.property_dependencies["resourceArn"][0] for m in members) == sorted(c.urn for c in crs)
        # burst nodes never consume reservations
        blt = urns[burst.property_dependencies["launchTemplate"][0]]
        assert blt.inputs["capacityReservationSpecification"] == {"capacityReservationPreference": "none"}
        assert blt.inputs["metadataOptions"]["httpTokens"] == "required"


def test_prod_pool_children_are_owned_and_tagged(record):
    rec = record("prod")
    for urn, (comp, _rc, _pc) in _pools_by_component(rec, "prod").items():
        kids = [r for r in rec.resources if r.parent == urn]
        assert kids and all(k.name.startswith(f"{comp.name}-") for k in kids)
        for k in kids:
            if "tags" in k.inputs:
                assert {"owner", "team", "cost-center"} <= set(k.inputs["tags"]), k.name
        # the nodes' instances, volumes and ENIs are tagged through the launch templates
        for lt in [k for k in kids if k.type == LT]:
            kinds = {s["resourceType"]: s["tags"] for s in lt.inputs["tagSpecifications"]}
            assert set(kinds) == {"instance", "volume", "network-interface"}
            assert all({"owner", "team", "cost-center"} <= set(t) for t in kinds.values())


def test_prod_addons_once_per_cluster_with_pinned_charts_and_irsa(record):
    rec = record("prod")
    addons = rec.of_type(ADDONS_TYPE)
    assert sorted(a.name for a in addons) == ["prod-us-east-1-gpu", "prod-us-east-2-gpu", "prod-us-west-2-gpu"]
    for a in addons:
        releases = {r.inputs["name"]: r for r in _children(rec, a.urn, RELEASE)}
        assert sorted(releases) == ["cluster-autoscaler", "dcgm-exporter", "nvidia-device-plugin"]
        for name, r in releases.items():
            assert r.inputs["version"] == CHARTS[name]["version"]
            assert re.fullmatch(r"\d+\.\d+\.\d+", r.inputs["version"])  # pinned, not a range
            assert r.inputs["repositoryOpts"]["repo"] == CHARTS[name]["repo"].rstrip("/")
            assert r.inputs["repositoryOpts"]["repo"].startswith("https://")
            assert r.provider.split("::")[-2].endswith("-k8s")  # the cluster's Kubernetes provider
        for name in ("nvidia-device-plugin", "dcgm-exporter"):
            values = releases[name].inputs["values"]
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
            term = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert term["nodeSelectorTerms"][0]["matchExpressions"] == [
                {"key": "aiplat.io/accelerator", "operator": "Exists"}
            ]
        ca = releases["cluster-autoscaler"].inputs["values"]
        assert ca["extraArgs"]["expander"] == "priority"
        assert ca["autoDiscovery"]["clusterName"] == a.name.replace("prod-", "aiplat-prod-").removesuffix("-gpu")
        role_arn = ca["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        role = next(r for r in _children(rec, a.urn, "aws:iam/role:Role"))
        assert role_arn.endswith(role.name) or role.name in role_arn
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert ":oidc-provider/" in trust["Principal"]["Federated"]
        cond = trust["Condition"]["StringEquals"]
        assert sorted(cond.values()) == ["sts.amazonaws.com", "system:serviceaccount:kube-system:cluster-autoscaler"]
        (cm,) = _children(rec, a.urn, "kubernetes:core/v1:ConfigMap")
        assert cm.inputs["metadata"]["name"] == "cluster-autoscaler-priority-expander"
        tiers = yaml.safe_load(cm.inputs["data"]["priorities"])
        assert tiers[20] == sorted(["^eks-embed-on-demand-[0-9a-f-]+$", "^eks-llm-on-demand-[0-9a-f-]+$"])
        assert tiers[10] == ["^eks-embed-spot-[0-9a-f-]+$"]


def test_check_prod_json_shows_reservations_and_caps(cli, tmp_path):
    """The must-show through the CLI: the --json steps carry the same contract."""
    out = tmp_path / "prod.json"
    result = cli("check", "prod", "--json", str(out))
    # 0 or 1: policy verdicts on other components (models, ...) are not this test's subject
    assert result.returncode in (0, 1), result.stderr
    states = [s["newState"] for s in json.loads(out.read_text())["steps"]]
    cfg = load_platform_config("prod")
    by_parent = defaultdict(list)
    for s in states:
        by_parent[s["parent"]].append(s)
    comps = {s["urn"].rsplit("::", 1)[-1]: s["urn"] for s in states if s["type"] == POOL_TYPE}
    for rc in cfg.regions:
        for pc in rc.gpu_pools:
            kids = by_parent[comps[f"prod-{rc.name}-{pc.name}"]]
            assert sum(k["inputs"]["instanceCount"] for k in kids if k["type"] == CR) == pc.reserved_nodes
            caps = {k["inputs"]["labels"]["aiplat.io/capacity-type"]: k["inputs"]["scalingConfig"]["maxSize"]
                    for k in kids if k["type"] == NG}
            assert caps["reserved"] + caps["on-demand"] == pc.max_nodes
            assert all(k["inputs"]["taints"] == [GPU_TAINT] for k in kids if k["type"] == NG)


# -- gcp-prod (GKE) -----------------------------------------------------------------------------
def test_gcp_reserved_pools_consume_their_zone_reservation_and_burst_is_capped(record):
    rec = record("gcp-prod")
    pools = _pools_by_component(rec, "gcp-prod")
    assert len(pools) == 4
    for urn, (comp, rc, pc) in pools.items():
        spec = gpu_catalog.get_instance_type("gcp", pc.instance_type)
        reservations = {r.inputs["zone"]: r for r in _children(rec, urn, GCP_RES)}
        assert sum(r.inputs["specificReservation"]["count"] for r in reservations.values()) == pc.reserved_nodes
        for r in reservations.values():
            assert r.inputs["specificReservationRequired"] is True
            props = r.inputs["specificReservation"]["instanceProperties"]
            assert props["machineType"] == pc.instance_type
            assert props["guestAccelerators"] == [{"acceleratorType": spec.accelerator, "acceleratorCount": spec.gpus}]
        node_pools = _children(rec, urn, GCP_POOL)
        reserved = [p for p in node_pools if p.inputs["nodeConfig"]["labels"]["aiplat.io/capacity-type"] == "reserved"]
        # one reserved pool per reservation: same zone, same count, consuming exactly it
        assert len(reserved) == len(reservations)
        for p in reserved:
            (zone,) = p.inputs["nodeLocations"]
            res = reservations[zone]
            assert p.inputs["nodeCount"] == res.inputs["specificReservation"]["count"]
            assert p.inputs["nodeConfig"]["reservationAffinity"] == {
                "consumeReservationType": "SPECIFIC_RESERVATION",
                "key": "compute.googleapis.com/reservation-name",
                "values": [res.inputs["name"]],
            }
            assert "autoscaling" not in p.inputs
        burst = [p for p in node_pools if p.inputs["nodeConfig"]["labels"]["aiplat.io/capacity-type"] == "on-demand"]
        assert len(burst) == 1
        auto = burst[0].inputs["autoscaling"]
        assert auto["totalMinNodeCount"] == 0
        assert auto["totalMaxNodeCount"] == pc.max_nodes - pc.reserved_nodes
        assert sum(p.inputs["nodeCount"] for p in reserved) + auto["totalMaxNodeCount"] == pc.max_nodes
        assert burst[0].inputs["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
        spot = [p for p in node_pools if p.inputs["nodeConfig"]["labels"]["aiplat.io/capacity-type"] == "spot"]
        if pc.spot_max_nodes:
            assert spot[0].inputs["nodeConfig"]["spot"] is True
            assert spot[0].inputs["autoscaling"]["totalMaxNodeCount"] == pc.spot_max_nodes
        else:
            assert spot == []
        for p in node_pools:
            nc = p.inputs["nodeConfig"]
            assert nc["guestAccelerators"][0]["type"] == spec.accelerator
            assert nc["guestAccelerators"][0]["count"] == spec.gpus
            assert nc["guestAccelerators"][0]["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("LATEST", "DEFAULT")
            assert nc["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
            assert nc["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
            assert nc["labels"]["aiplat.io/pool"] == pc.name
            assert set(p.inputs["nodeLocations"]) <= set(pc.zones or rc.zones)
            assert len(p.inputs["name"]) <= 40


def test_gcp_addons_run_dcgm_only(record):
    rec = record("gcp-prod")
    for a in rec.of_type(ADDONS_TYPE):
        releases = {r.inputs["name"]: r for r in _children(rec, a.urn, RELEASE)}
        # GKE installs the driver and runs the device plugin; its autoscaler is managed
        assert sorted(releases) == ["dcgm-exporter"]
        assert releases["dcgm-exporter"].inputs["version"] == CHARTS["dcgm-exporter"]["version"]
        # Helm merges this into the chart's securityContext (4.8.1: allowPrivilegeEscalation false);
        # the API server refuses privileged without allowPrivilegeEscalation true.
        assert releases["dcgm-exporter"].inputs["values"]["securityContext"] == {
            "privileged": True, "allowPrivilegeEscalation": True}


# -- aiplat check rejects bad pools with exit 2 and the key path ---------------------------------
def _stack_with_pool(tmp_path, **pool) -> str:
    doc = yaml.safe_load(stack_file_path("dev").read_text())
    region = doc["config"]["aiplat:platform"]["regions"][0]
    region["gpu_pools"] = [{"name": "llm", "instance_type": "g6.xlarge", "max_nodes": 2, **pool}]
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_check_rejects_reserved_above_the_cap(cli, tmp_path):
    path = _stack_with_pool(tmp_path, reserved_nodes=3, max_nodes=2)
    result = cli("check", "dev", "--stack-file", path)
    assert result.returncode == 2, result.stdout
    assert "regions[0].gpu_pools[0].reserved_nodes" in result.stderr
    assert "exceeds max_nodes 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_rejects_a_type_not_offered_in_the_region(cli, tmp_path):
    doc = yaml.safe_load(stack_file_path("prod-eu").read_text())
    regions = doc["config"]["aiplat:platform"]["regions"]
    i = next(i for i, r in enumerate(regions) if r["name"] == "eu-west-1")
    assert not gpu_catalog.get_instance_type("aws", "g6e.12xlarge").offered_in("eu-west-1")
    regions[i]["gpu_pools"][0]["instance_type"] = "g6e.12xlarge"
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("check", "prod-eu", "--stack-file", str(path))
    assert result.returncode == 2
    assert f"regions[{i}].gpu_pools[0].instance_type" in result.stderr
    assert "not offered in eu-west-1" in result.stderr
