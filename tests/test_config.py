"""PlatformConfig: every shipped stack validates; bad input names every key path at once."""

from __future__ import annotations

import copy
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplat.config import PlatformConfig
from aiplat.errors import ConfigError
from aiplat.project import CONFIG_KEY, load_platform_config, platform_section
from tests._project import stack_file_path
from tests._project import run_stack



def dev_raw() -> dict:
    return copy.deepcopy(platform_section(stack_file_path("dev")))


def problems(raw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    return [str(p) for p in exc.value.problems]


def test_every_shipped_stack_validates(stacks):
    assert {"dev", "staging", "prod", "prod-eu", "gcp-prod"} <= set(stacks)
    for stack in stacks:
        cfg = load_platform_config(stack)
        assert cfg.tags.owner and cfg.tags.team and cfg.tags.cost_center


def test_stack_shapes_match_their_purpose():
    prod = load_platform_config("prod")
    assert prod.cloud == "aws" and len(prod.regions) == 3 and all(len(r.zones) == 3 for r in prod.regions)
    assert prod.nat_mode == "per_zone" and prod.log_retention_days == 365
    dev = load_platform_config("dev")
    assert len(dev.regions) == 1 and dev.nat_mode == "single" and dev.log_retention_days == 30
    assert len(load_platform_config("staging").regions) == 2
    eu = load_platform_config("prod-eu")
    assert eu.residency == "eu" and all(r.name.startswith("eu-") for r in eu.regions)
    gcp = load_platform_config("gcp-prod")
    assert gcp.cloud == "gcp" and len(gcp.regions) == 2 and gcp.release_channel == "STABLE"


def test_unknown_region_message_is_exact():
    raw = dev_raw()
    raw["regions"].append({"name": "eu-central-9", "cidr": "10.11.0.0/16", "zones": ["eu-central-9a", "eu-central-9b"]})
    assert "regions[1].name: 'eu-central-9' is not an AWS region" in problems(raw)


def test_several_mistakes_are_reported_together_with_key_paths():
    raw = dev_raw()
    raw["cloud"] = "aws"
    raw["environment"] = "production"
    raw["tags"]["cost_center"] = "CC 4410"
    raw["regions"][0]["zones"] = ["us-east-1a", "us-west-2b"]
    raw["regions"].append({"name": "us-east-2", "cidr": "10.10.128.0/17", "zones": ["us-east-2a", "us-east-2b"]})
    raw["cluster"]["kubernetes_version"] = "1.19"
    raw["cluster"]["endpont_public_access"] = True
    got = problems(raw)
    paths = [p.split(": ", 1)[0] for p in got]
    assert paths == sorted(
        [
            "cluster.endpont_public_access",
            "cluster.kubernetes_version",
            "environment",
            "regions[0].zones[1]",
            "regions[1].cidr",  # rules across fields run although other fields failed
            "serving.endpoints[0].pool",
            "tags.cost_center",
        ]
    ), got
    assert "regions[0].zones[1]: 'us-west-2b' is not a zone of us-east-1" in got
    assert "cluster.endpont_public_access: unknown key (check the spelling; see PlatformConfig)" in got


def test_cross_region_checks_run_when_fields_are_valid():
    raw = dev_raw()
    pools = raw["regions"][0]["gpu_pools"]  # dev's endpoint serves in every region, on its pool
    raw["regions"].append({"name": "us-east-2", "cidr": "10.10.128.0/17", "zones": ["us-east-2a", "us-east-2b"],
                           "gpu_pools": pools})
    raw["regions"].append({"name": "us-east-1", "cidr": "10.12.0.0/16", "zones": ["us-east-1a", "us-east-1b"],
                           "gpu_pools": pools})
    got = problems(raw)
    assert "regions[1].cidr: 10.10.128.0/17 must be between /16 and /20 to hold the derived subnets" not in got
    assert "regions[1].cidr: 10.10.128.0/17 overlaps regions[0].cidr 10.10.0.0/16" in got
    assert "regions[2].name: region 'us-east-1' is listed twice" in got


def test_residency_zone_excludes_regions_outside_it():
    raw = copy.deepcopy(platform_section(stack_file_path("prod-eu")))
    raw["regions"][1] = {"name": "eu-west-2", "cidr": "10.41.0.0/16", "zones": ["eu-west-2a", "eu-west-2b"]}
    assert problems(raw) == ["regions[1].name: 'eu-west-2' is in jurisdiction 'uk', outside residency zone 'eu'"]


def test_gcp_requires_project_and_gcp_zone_names():
    raw = copy.deepcopy(platform_section(stack_file_path("gcp-prod")))
    del raw["gcp_project"]
    raw["regions"][0]["zones"] = ["us-central1a"]
    got = problems(raw)
    assert got == ["gcp_project: required when cloud is gcp", "regions[0].zones[0]: 'us-central1a' is not a zone of us-central1"]


def test_public_endpoint_needs_an_allow_list():
    raw = dev_raw()
    raw["cluster"]["public_access_cidrs"] = []
    assert problems(raw) == ["cluster.public_access_cidrs: required when endpoint_public_access is true"]


def test_not_a_mapping():
    assert problems(["cloud", "aws"]) == ["the platform config must be a mapping, got list"]


@given(st.sampled_from(["10.0.0.0/16", "10.200.0.0/18", "172.16.0.0/20", "192.168.0.0/16"]), st.integers(2, 6))
def test_derived_subnets_are_disjoint_and_inside_the_region(cidr, n_zones):
    raw = dev_raw()
    zones = [f"us-east-1{c}" for c in "abcdef"[:n_zones]]
    raw["regions"] = [{"name": "us-east-1", "cidr": cidr, "zones": zones, "gpu_pools": raw["regions"][0]["gpu_pools"]}]
    region = PlatformConfig.from_raw(raw).regions[0]
    nets = [ipaddress.IPv4Network(c) for c in region.private_subnets() + region.public_subnets()]
    assert len(nets) == 2 * n_zones
    assert all(n.subnet_of(region.network) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[:i])
    gcp = [ipaddress.IPv4Network(c) for c in region.gcp_ranges().values()]
    assert all(n.subnet_of(region.network) for n in gcp)
    assert all(not a.overlaps(b) for i, a in enumerate(gcp) for b in gcp[:i])


# -- mutation fuzzing: a mutated stack yields a valid graph or a ConfigError, nothing else ----
_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12),
    st.sampled_from(["aws", "gcp", "prod", "eu", "us-east-1", "10.0.0.0/16", "1.32", "us-east-1c", "europe-west4"]),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate(raw, path, op, value):
    if not path:
        return value if op == "replace" else raw
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    if op == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return raw


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mutated_configs_yield_a_graph_or_a_config_error(data):
    from aiplat.testing import engine
    from aiplat.project import read_stack_config

    stack = data.draw(st.sampled_from(["dev", "gcp-prod"]))
    config = read_stack_config(stack_file_path(stack))
    raw = copy.deepcopy(config[CONFIG_KEY])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(raw))
        path = data.draw(st.sampled_from(paths))
        op = data.draw(st.sampled_from(["replace", "delete"])) if path else "replace"
        raw = _mutate(raw, path, op, data.draw(_values))
    try:
        PlatformConfig.from_raw(raw)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p.path, str) for p in exc.problems)
        return
    try:
        rec = run_stack(stack, {**config, CONFIG_KEY: raw})
    except ConfigError as exc:
        # what only the program can judge: the model files serving.model_repository names
        # (aiplat.triton.source_problems_of), still with key paths
        assert exc.problems and all(p.path.startswith("serving.") for p in exc.problems), exc.problems
        return
    assert any(r.type in ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster") for r in rec.resources)


def test_kubernetes_versions_come_from_the_catalog_with_their_support_period():
    raw = dev_raw()
    raw["cluster"].pop("kubernetes_version")
    assert PlatformConfig.from_raw(raw).kubernetes_version == "1.35"  # newest in standard support, 2026-12-02
    raw["cluster"]["kubernetes_version"] = "1.33"
    assert problems(raw) == [
        "cluster.kubernetes_version: 1.33 left standard support on EKS on 2026-07-29 and is in paid extended "
        "support; upgrade to 1.35 or set cluster.extended_support: true"]
    raw["cluster"]["extended_support"] = True
    cfg = PlatformConfig.from_raw(raw)
    assert (cfg.kubernetes_version, cfg.cluster.extended_support) == ("1.33", True)
    raw["cluster"]["kubernetes_version"] = "1.31"
    assert problems(raw) == ["cluster.kubernetes_version: 1.31 is past the end of extended support on EKS on "
                             "2026-12-02; use 1.35"]
    raw["cluster"]["kubernetes_version"] = "1.29"
    assert problems(raw) == ["cluster.kubernetes_version: '1.29' is not a known EKS version in the catalog (1.31, 1.32, "
                             "1.33, 1.34, 1.35; in standard support on 2026-12-02: 1.35)"]


def test_an_eks_cluster_upgrades_at_the_end_of_standard_support_unless_it_opted_in(tmp_path):
    from tests._project import stack_config

    config = stack_config("dev")
    [eks] = run_stack("dev", config).of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["upgradePolicy"] == {"supportType": "STANDARD"} and eks.inputs["version"] == "1.35"
    platform = copy.deepcopy(config[CONFIG_KEY])
    platform["cluster"].update(kubernetes_version="1.34", extended_support=True)
    [eks] = run_stack("dev", {**config, CONFIG_KEY: platform}).of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["upgradePolicy"] == {"supportType": "EXTENDED"} and eks.inputs["version"] == "1.34"
