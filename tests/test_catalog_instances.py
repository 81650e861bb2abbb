"""The one instance catalog (GPU + general-purpose types) and the Kubernetes version catalog."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, strategies as st

from aiplat.catalog import gpu, instances, kubernetes
from aiplat.catalog.instances import _gke_reserved_memory_mib, _reserved_cpu_millicores
from aiplat.errors import ConfigError


def test_general_and_gpu_types_resolve_through_one_lookup():
    system = instances.get("aws", "m6i.large")
    assert (system.vcpus, system.memory_gib, system.max_pods, system.gpus) == (2, 8, 29, 0)
    assert system.price("us-east-1").on_demand_hourly == 0.096
    l40s = instances.get("aws", "g6e.xlarge")
    assert l40s.gpus == gpu.get_instance_type("aws", "g6e.xlarge").gpus == 1
    assert l40s.price("us-east-1") == gpu.get_instance_type("aws", "g6e.xlarge").price("us-east-1")
    assert instances.get("gcp", "e2-standard-4").offered_in("us-central1")
    assert instances.get("aws", "m6i.lage") is None and instances.get("gcp", "m6i.large") is None


def test_every_general_type_is_priced_where_the_shipped_stacks_run():
    used = {"aws": ["us-east-1", "us-east-2", "us-west-2", "eu-central-1", "eu-west-1"],
            "gcp": ["us-central1", "us-east4"]}
    for cloud, regions in used.items():
        for t in (t for t in instances.machine_types(cloud) if not t.gpus):
            for region in regions:
                assert t.offered_in(region), (t.name, region)
                p = t.price(region)
                assert p.reserved_3y_hourly < p.reserved_1y_hourly < p.on_demand_hourly


def test_allocatable_matches_the_clouds_documented_reservations():
    # EKS: 2 vCPUs keep 60m + 10m; 29 pods keep 11*29+255 MiB, eviction 100 MiB, 7.5 % VM overhead.
    m6i = instances.get("aws", "m6i.large").allocatable()
    assert m6i.cpu_millicores == 1930
    assert m6i.memory_mib == int(8192 * 0.925 - (11 * 29 + 255) - 100)
    assert m6i.pods == 29
    # GKE: 16 GiB keep 25 % of 4 + 20 % of 4 + 10 % of 8 GiB, eviction 100 MiB.
    e2 = instances.get("gcp", "e2-standard-4").allocatable()
    assert e2.cpu_millicores == 4000 - (60 + 10 + 10)
    assert e2.memory_mib == int(16384 - (1024 + 819.2 + 819.2) - 100)


@given(st.integers(min_value=1, max_value=448))
def test_cpu_reservation_is_the_tiered_formula(vcpus):
    expected = 60 + (10 if vcpus > 1 else 0) + 5 * min(max(vcpus - 2, 0), 2) + 2.5 * max(vcpus - 4, 0)
    assert _reserved_cpu_millicores(vcpus) == pytest.approx(expected)
    assert 0 < _reserved_cpu_millicores(vcpus) < vcpus * 1000


@given(st.integers(min_value=1, max_value=4096))
def test_gke_memory_reservation_grows_slower_than_memory(gib):
    mib = gib * 1024
    assert 0 < _gke_reserved_memory_mib(mib) < mib * 0.25 + 1
    assert _gke_reserved_memory_mib(mib + 1024) >= _gke_reserved_memory_mib(mib)


def test_a_gpu_type_in_the_general_catalog_is_refused(tmp_path):
    bad = tmp_path / "machines.yaml"
    bad.write_text(
        'source: test\ndate: "2026-12-02"\nprices: USD\ngcp: {}\n'
        "aws:\n  g5.xlarge: {vcpus: 4, memory_gib: 16, max_pods: 58, regions: {us-east-1: "
        "{on_demand: 1.0, reserved_1y: 0.6, reserved_3y: 0.4}}}\n"
        "  m6i.large: {vcpus: 2, memory_gib: 8, max_pods: 29, regions: {mars-1: "
        "{on_demand: 0.1, reserved_1y: 0.2, reserved_3y: 0.05}}}\n")
    with pytest.raises(ConfigError) as err:
        instances.load_machines(bad)
    text = str(err.value)
    assert "aws.m6i.large.regions.mars-1" in text and "reserved_1y 0.2 must be below on_demand 0.1" in text
    bad.write_text(bad.read_text().replace("reserved_1y: 0.2", "reserved_1y: 0.08").replace("mars-1", "us-east-1"))
    with pytest.raises(ConfigError, match="aws.g5.xlarge: is a GPU type; it belongs in gpu_instances.yaml"):
        instances.load_machines(bad)


def test_kubernetes_support_periods():
    day = dt.date(2026, 12, 2)
    assert kubernetes.catalog_date() == day
    assert kubernetes.support("aws", "1.35", day) == "standard"
    assert kubernetes.support("aws", "1.34", day) == "extended"  # standard support ended on this day
    assert kubernetes.support("aws", "1.34", dt.date(2026, 12, 1)) == "standard"
    assert kubernetes.support("aws", "1.31", day) == "ended"
    assert kubernetes.support("aws", "1.35", dt.date(2026, 1, 1)) == "unreleased"
    assert kubernetes.support("aws", "1.29", day) is None
    assert kubernetes.in_standard_support("aws", day) == ["1.35"]
    assert kubernetes.in_standard_support("gcp", day) == ["1.35"]
    assert kubernetes.control_plane_hourly("aws", "standard") == 0.10
    assert kubernetes.control_plane_hourly("aws", "extended") == 0.60
    for cloud in ("aws", "gcp"):
        for v in kubernetes.versions(cloud).values():
            assert v.released < v.standard_support_end
            assert v.extended_support_end is None or v.standard_support_end < v.extended_support_end
