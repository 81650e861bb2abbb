"""The GPU catalog: the shipped data is complete and consistent; the loader's API contract."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from aiplat.catalog import gpu, regions
from aiplat.errors import ConfigError

AWS_FAMILIES = {"g5", "g6", "g6e", "p4d", "p5"}
GCP_SERIES = {"g2", "a2", "a3"}
AWS_REGIONS = {"us-east-1", "us-east-2", "us-west-2", "eu-central-1", "eu-west-1", "eu-north-1", "ap-northeast-1"}
GCP_REGIONS = {"us-central1", "us-east4", "europe-west4", "europe-west1", "asia-northeast1"}


def all_types():
    return gpu.instance_types("aws") + gpu.instance_types("gcp")


def test_data_files_carry_source_and_date():
    for path in (gpu.GPU_FILE, gpu.FIXED_COSTS_FILE):
        doc = yaml.safe_load(path.read_text())
        assert doc["date"] == "2026-11-22"
        assert doc["source"].strip()
    assert "list prices" in yaml.safe_load(gpu.GPU_FILE.read_text())["prices"]


def test_families_and_regions_covered():
    aws = gpu.instance_types("aws")
    gcp = gpu.instance_types("gcp")
    assert {t.family for t in aws} == AWS_FAMILIES
    assert {t.family for t in gcp} == GCP_SERIES
    assert set().union(*(t.regions for t in aws)) == AWS_REGIONS
    assert set().union(*(t.regions for t in gcp)) == GCP_REGIONS
    for name in ("g5.xlarge", "g5.48xlarge", "g6.xlarge", "g6e.xlarge", "p4d.24xlarge", "p5.48xlarge"):
        assert gpu.get_instance_type("aws", name) is not None, name
    for name in ("g2-standard-4", "a2-highgpu-1g", "a2-ultragpu-8g", "a3-highgpu-8g"):
        assert gpu.get_instance_type("gcp", name) is not None, name


@pytest.mark.parametrize("t", all_types(), ids=lambda t: f"{t.cloud}:{t.name}")
def test_every_type_priced_in_every_listed_region(t):
    assert t.regions, "a type must be offered somewhere"
    for region in t.regions:
        assert region in regions(t.cloud), f"{region} is not a known {t.cloud} region"
        assert t.offered_in(region)
        p = t.price(region)
        assert 0 < p.reserved_3y_hourly < p.reserved_1y_hourly < p.on_demand_hourly
        assert p.reserved_hourly("1y") == p.reserved_1y_hourly
        assert p.reserved_hourly("3y") == p.reserved_3y_hourly


@pytest.mark.parametrize("t", all_types(), ids=lambda t: f"{t.cloud}:{t.name}")
def test_type_fields_are_consistent_with_cloud(t):
    assert t.gpus >= 1 and t.vcpus >= 1 and t.memory_gib >= 1 and t.gpu_memory_gib >= 1
    if t.cloud == "gcp":
        assert t.accelerator in {"nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"}
        assert t.name.startswith(t.family + "-")
    else:
        assert t.accelerator is None
        assert t.name.startswith(t.family + ".")


def test_exact_record_g5_xlarge():
    t = gpu.get_instance_type("aws", "g5.xlarge")
    assert (t.cloud, t.family, t.gpu_model, t.gpus, t.gpu_memory_gib, t.vcpus, t.memory_gib) == (
        "aws", "g5", "NVIDIA A10G", 1, 24, 4, 16,
    )
    assert t.price("us-east-1") == gpu.RegionPrice(
        on_demand_hourly=1.006, reserved_1y_hourly=0.6338, reserved_3y_hourly=0.4326
    )
    a3 = gpu.get_instance_type("gcp", "a3-highgpu-8g")
    assert (a3.accelerator, a3.gpus, a3.gpu_memory_gib, a3.total_gpu_memory_gib) == ("nvidia-h100-80gb", 8, 80, 640)


def test_availability_is_realistic():
    p5 = gpu.get_instance_type("aws", "p5.48xlarge")
    assert not p5.offered_in("eu-central-1") and not p5.offered_in("eu-west-1")
    assert p5.offered_in("us-east-1")
    assert not gpu.get_instance_type("gcp", "a2-highgpu-8g").offered_in("us-east4")
    with pytest.raises(KeyError, match="p5.48xlarge is not offered in eu-central-1"):
        p5.price("eu-central-1")


def test_models_are_frozen():
    t = gpu.get_instance_type("aws", "g6.xlarge")
    with pytest.raises(Exception):
        t.gpus = 2


def test_reserved_hourly_rejects_unknown_term():
    with pytest.raises(ValueError, match="term must be '1y' or '3y'"):
        gpu.get_instance_type("aws", "g6.xlarge").price("us-east-1").reserved_hourly("5y")


def test_unknown_lookups():
    assert gpu.get_instance_type("aws", "g5.4xlage") is None
    assert gpu.get_instance_type("aws", "g2-standard-4") is None  # a GCP name on AWS
    with pytest.raises(ValueError, match="cloud must be one of aws, gcp"):
        gpu.instance_types("azure")


def test_suggest_misspelling_prefers_region_offerings():
    assert gpu.suggest("aws", "g5.4xlage", "us-east-1") == ["g5.4xlarge"]
    assert gpu.suggest("gcp", "g2-standard-5", "europe-west1") == ["g2-standard-4", "g2-standard-8"]
    assert gpu.suggest("aws", "h100", "us-east-1") == []


def test_suggest_real_type_missing_in_region_gives_nearest_hardware_there():
    assert gpu.suggest("gcp", "a2-highgpu-1g", "us-east4") == ["a2-ultragpu-1g", "a2-ultragpu-2g", "a2-ultragpu-4g"]
    got = gpu.suggest("aws", "p5.48xlarge", "eu-central-1")
    assert got == ["g6e.48xlarge", "p4d.24xlarge", "g5.48xlarge"]
    assert all(gpu.get_instance_type("aws", n).offered_in("eu-central-1") for n in got)


def test_offering_problem_messages():
    assert gpu.offering_problem("aws", "g5.xlarge", "us-east-1") is None
    assert gpu.offering_problem("aws", "g5.4xlage", "us-east-1") == (
        "'g5.4xlage' is not a known AWS GPU instance type; did you mean g5.4xlarge?"
    )
    assert gpu.offering_problem("aws", "p5.48xlarg", "eu-central-1") == (
        "'p5.48xlarg' is not a known AWS GPU instance type; did you mean p5.48xlarge (not offered in eu-central-1)?"
    )
    assert gpu.offering_problem("aws", "p5.48xlarge", "eu-central-1") == (
        "'p5.48xlarge' is not offered in eu-central-1 (offered in: ap-northeast-1, eu-north-1, us-east-1, "
        "us-east-2, us-west-2); similar types offered there: g6e.48xlarge, p4d.24xlarge, g5.48xlarge"
    )
    assert gpu.offering_problem("aws", "h100", "us-east-1") == (
        "'h100' is not a known AWS GPU instance type; GPU families offered in us-east-1: g5, g6, g6e, p4d, p5"
    )


def test_fixed_costs():
    assert gpu.fixed_costs("aws") == {"nat_gateway": 0.045, "load_balancer": 0.0225, "api_gateway_base": 0.0}
    assert set(gpu.fixed_costs("gcp")) == set(gpu.FIXED_COST_KEYS)
    gpu.fixed_costs("aws")["nat_gateway"] = 99  # callers get a copy
    assert gpu.fixed_costs("aws")["nat_gateway"] == 0.045


BAD_CATALOG = textwrap.dedent(
    """
    source: test
    date: "2026-11-22"
    prices: list prices
    gpu_memory: GiB per GPU
    aws:
      g5.xlarge:
        gpu_model: NVIDIA A10G
        gpus: 1
        gpu_memory_gib: 24
        vcpus: 4
        memory_gib: 16
        accelerator: nvidia-a10g
        regions:
          us-east-1: {on_demand: 1.0, reserved_1y: 1.2, reserved_3y: 0.4}
          mars-1: {on_demand: 1.0, reserved_1y: 0.6, reserved_3y: 0.4}
      G5_XL:
        gpu_model: x
        gpus: 1
        gpu_memory_gib: 24
        vcpus: 4
        memory_gib: 16
        regions: {us-east-1: {on_demand: 1.0, reserved_1y: 0.6, reserved_3y: 0.4}}
    gcp:
      g2-standard-4:
        gpu_model: NVIDIA L4
        gpus: 0
        gpu_memory_gib: 24
        vcpus: 4
        memory_gib: 16
        regions: {us-central1: {on_demand: 0.7, reserved_1y: 0.4, reserved_3y: 0.5}}
    """
)


def test_loader_reports_every_schema_problem_with_key_paths(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(BAD_CATALOG)
    with pytest.raises(ConfigError) as info:
        gpu.load_gpu_catalog(path)
    paths = [p.path for p in info.value.problems]
    assert paths == [
        "aws.g5.xlarge.regions.us-east-1",
        "gcp.g2-standard-4.gpus",
        "gcp.g2-standard-4.regions.us-central1",
    ]
    assert "reserved_1y 1.2 must be below on_demand 1.0" in str(info.value)
    assert "reserved_3y 0.5 must be below reserved_1y 0.4" in str(info.value)
    assert str(path) in str(info.value)


def test_loader_reports_every_semantic_problem(tmp_path):
    path = tmp_path / "gpu.yaml"
    fixed = BAD_CATALOG.replace("reserved_1y: 1.2", "reserved_1y: 0.6").replace("gpus: 0", "gpus: 1")
    fixed = fixed.replace("reserved_1y: 0.4, reserved_3y: 0.5", "reserved_1y: 0.5, reserved_3y: 0.4")
    path.write_text(fixed)
    with pytest.raises(ConfigError) as info:
        gpu.load_gpu_catalog(path)
    assert [str(p) for p in info.value.problems] == [
        "aws.G5_XL: not a valid AWS GPU type name",
        "aws.g5.xlarge.accelerator: only GCP machine types name an accelerator",
        "aws.g5.xlarge.regions.mars-1: unknown AWS region",
        "gcp.g2-standard-4.accelerator: required on GCP (e.g. nvidia-l4)",
    ]


def test_fixed_costs_loader_requires_every_key(tmp_path):
    path = tmp_path / "fixed.yaml"
    path.write_text(
        'source: s\ndate: "2026-11-22"\nunit: USD per hour\n'
        "aws: {nat_gateway: 0.045, load_balancer: -1, api_gateway_base: 0, egress: 1}\n"
        "gcp: {nat_gateway: 0.044, load_balancer: 0.025}\n"
    )
    with pytest.raises(ConfigError) as info:
        gpu.load_fixed_costs(path)
    assert [str(p) for p in info.value.problems] == [
        "aws.egress: unknown key (expected nat_gateway, load_balancer, api_gateway_base)",
        "aws.load_balancer: must be >= 0",
        "gcp.api_gateway_base: missing",
    ]


@pytest.mark.peer
@pytest.mark.parametrize("region", sorted(AWS_REGIONS))
def test_aws_regions_agree_with_ec2_offerings(region):
    """The catalog lists a type in a region iff EC2 offers it there, per moto's recorded
    DescribeInstanceTypeOfferings data (a snapshot of the real API)."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    names = [t.name for t in gpu.instance_types("aws")]
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name=region)
        pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": names}]
        )
        offered = {o["InstanceType"] for page in pages for o in page["InstanceTypeOfferings"]}
    assert offered == {t.name for t in gpu.instance_types("aws") if t.offered_in(region)}
