"""spend-cap and the shared cost estimate: full-scale arithmetic against the catalog, and
the policy's verdicts through the SDK analyzer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from aiplat.catalog import gpu, instances, kubernetes
from aiplat.cli.check import cost_table, verdict_table
from aiplat.policies import cost, offline
from tests.policy_steps import approved_catalog, eu_config, good_aws_eu, good_gcp_eu

H = cost.HOURS_PER_MONTH


def run(g, tmp_path, **spend):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", spend_cap=spend)
    report = offline.evaluate(g.steps, "fixture", cfg)
    return report, report.by_policy("spend-cap")


def test_aws_estimate_prices_everything_on_demand_unless_a_commitment_is_declared():
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("eu-central-1")
    fixed = gpu.fixed_costs("aws")
    control_plane = kubernetes.control_plane_hourly("aws", "standard")  # the fixture runs 1.35
    est = cost.estimate(good_aws_eu().steps)
    lines = {(line.category, line.item): line for line in est.lines}
    # The "reserved" label and the capacity reservation buy no discount: a reservation is paid at on-demand.
    assert ("reserved", "g6e.xlarge") not in lines
    gpus = lines[("on-demand", "g6e.xlarge")]
    assert (gpus.units, gpus.gpus, gpus.unit_hourly_usd) == (6, 6, price.on_demand_hourly)
    assert set(gpus.resources) == {"gpu-reserved-a", "gpu-reserved", "gpu-burst"}
    assert lines[("fixed", "cluster_control_plane")].monthly_usd == pytest.approx(control_plane * H)
    assert lines[("fixed", "nat_gateway")].units == 1
    expected = (6 * price.on_demand_hourly + control_plane + fixed["nat_gateway"] + fixed["api_gateway_base"]) * H
    assert est.monthly_usd == pytest.approx(expected, abs=0.02)
    assert est.total_gpus == 6
    assert est.unpriced == []
    # A commitment the stack declares it holds prices that many units at the term's rate, the rest on demand.
    for term, hourly in (("1y", price.reserved_1y_hourly), ("3y", price.reserved_3y_hourly)):
        est = cost.estimate(good_aws_eu().steps, [cost.Commitment("g6e.xlarge", "eu-central-1", 2, term)])
        lines = {(line.category, line.item): line for line in est.lines}
        assert (lines[("reserved", "g6e.xlarge")].units, lines[("reserved", "g6e.xlarge")].unit_hourly_usd) == (2, hourly)
        assert lines[("on-demand", "g6e.xlarge")].units == 4
        assert est.subtotal("reserved") == pytest.approx(2 * hourly * H, abs=0.01)
        assert est.total_gpus == 6


def test_a_commitment_is_paid_whether_used_or_not():
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("eu-central-1")
    est = cost.estimate(good_aws_eu().steps, [cost.Commitment("g6e.xlarge", "eu-central-1", 8, "3y")])
    reserved = [line for line in est.lines if line.category == "reserved"]
    assert [(x.units, x.gpus) for x in reserved] == [(8, 6)]  # 8 paid, 6 used
    assert not [line for line in est.lines if line.category == "on-demand"]
    assert est.subtotal("reserved") == pytest.approx(8 * price.reserved_3y_hourly * H, abs=0.01)
    # held in a region where nothing runs: still paid, on its own line
    est = cost.estimate(good_aws_eu().steps, [cost.Commitment("g6e.xlarge", "us-east-1", 1, "1y")])
    line = next(x for x in est.lines if x.category == "reserved")
    assert (line.region, line.units, line.gpus, line.resources) == ("us-east-1", 1, 0, ("commitment 1x 1y",))
    # a commitment the catalog cannot price is not free either
    est = cost.estimate(good_aws_eu().steps, [cost.Commitment("g6e.xlarge", "eu-west-1", 1, "1y")])
    assert est.unpriced == ["commitment g6e.xlarge eu-west-1: g6e.xlarge in eu-west-1 is not in the instance catalog"]


def test_reservation_larger_than_reserved_group_is_paid_in_full():
    g = good_aws_eu()
    g.inputs("gpu-reserved-a")["instanceCount"] = 3  # reserved capacity is billed used or not
    line = next(x for x in cost.estimate(g.steps).lines if x.item == "g6e.xlarge")
    assert (line.category, line.units) == ("on-demand", 3 + 4)


def test_gcp_estimate_counts_zones_of_regional_pools_and_ignores_the_commitment_field():
    price = gpu.get_instance_type("gcp", "g2-standard-8").price("europe-west4")
    est = cost.estimate(good_gcp_eu().steps)
    assert est.unpriced == []
    line = next(x for x in est.lines if x.item == "g2-standard-8")
    # reservation 2 (its pool runs inside it) + burst maxNodeCount 2 per zone x the cluster's 2 node locations
    assert (line.category, line.units, line.unit_hourly_usd) == ("on-demand", 2 + 4, price.on_demand_hourly)
    g = good_gcp_eu()
    g.inputs("gke")["nodeLocations"] = ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    assert next(x for x in cost.estimate(g.steps).lines if x.item == "g2-standard-8").units == 2 + 6
    # the reservation's commitment field names a plan; nothing in the graph buys it
    g = good_gcp_eu()
    g.inputs("gpu-reserved-a")["commitment"] = "projects/fixture-project/regions/europe-west4/commitments/c"
    assert cost.estimate(g.steps).lines == est.lines
    assert est.total_gpus == 6 * gpu.get_instance_type("gcp", "g2-standard-8").gpus


def test_system_nodes_are_priced_and_unknown_types_and_sizes_are_refused(tmp_path):
    g = good_aws_eu()
    p = g.state("vpc")["provider"]
    g.add("aws:eks/nodeGroup:NodeGroup", "system", {"instanceTypes": ["m6i.large"],
                                                    "scalingConfig": {"maxSize": 3, "minSize": 2}}, p)
    g.add("aws:eks/nodeGroup:NodeGroup", "odd", {"instanceTypes": ["x9z.huge"],
                                                 "scalingConfig": {"maxSize": 2, "minSize": 0}}, p)
    g.inputs("gpu-burst")["scalingConfig"]["maxSize"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    est = cost.estimate(g.steps)
    system = next(line for line in est.lines if line.item == "m6i.large")
    price = instances.get("aws", "m6i.large").price("eu-central-1").on_demand_hourly
    assert (system.category, system.units, system.gpus, system.unit_hourly_usd) == ("on-demand", 3, 0, price)
    assert est.unpriced == [
        "gpu-burst: scalingConfig.maxSize unknown at preview",
        "odd: x9z.huge is not in the instance catalog (components/catalog/gpu_instances.yaml, machines.yaml)"]
    report, verdicts = run(g, tmp_path, maxMonthlyUsd=1e6, maxGpus=64)
    tail = "; a resource that cannot be priced at its largest size is refused (spend-cap fails closed)"
    assert [(v.enforcement_level, v.name, v.message) for v in verdicts] == [
        ("mandatory", "gpu-burst",
         "aws:eks/nodeGroup:NodeGroup gpu-burst: cannot price: scalingConfig.maxSize unknown at preview" + tail),
        ("mandatory", "odd", "aws:eks/nodeGroup:NodeGroup odd: cannot price: x9z.huge is not in the instance "
                             "catalog (components/catalog/gpu_instances.yaml, machines.yaml)" + tail)]
    assert report.exit_code == 1


def test_control_planes_are_priced_by_their_kubernetes_support_period():
    g = good_aws_eu()
    g.inputs("cluster")["version"] = "1.33"  # extended support on the catalog's date
    line = next(line for line in cost.estimate(g.steps).lines if line.item.startswith("cluster_control_plane"))
    assert (line.item, line.unit_hourly_usd) == ("cluster_control_plane (extended support)", 0.60)
    g.inputs("cluster")["version"] = "1.29"
    est = cost.estimate(g.steps)
    assert not any(line.item.startswith("cluster_control_plane") for line in est.lines)
    assert "cluster: control plane: Kubernetes version '1.29' is not in the catalog" in " ".join(est.unpriced)


def test_estimate_json_and_table():
    est = cost.estimate(good_aws_eu().steps)
    doc = est.to_json()
    assert doc["monthly_usd"] == est.monthly_usd and doc["total_gpus"] == 6
    assert set(doc["by_category"]) == {"reserved", "on-demand", "spot", "fixed"}
    assert doc["lines"][0]["resources"] == ["gpu-reserved-a", "gpu-reserved", "gpu-burst"]
    assert doc["unpriced"] == []
    from rich.console import Console
    console = Console(record=True, width=140)
    console.print(cost_table(est))
    assert "g6e.xlarge" in console.export_text()


def test_under_cap_passes(tmp_path):
    report, verdicts = run(good_aws_eu(), tmp_path, maxMonthlyUsd=20000, maxGpus=8)
    assert verdicts == []


def test_burst_cap_that_breaks_the_budget(tmp_path):
    g = good_aws_eu()
    g.inputs("gpu-burst")["scalingConfig"]["maxSize"] = 12
    est = cost.estimate(g.steps)
    report, verdicts = run(g, tmp_path, maxMonthlyUsd=20000, maxGpus=64)
    assert [(v.policy, v.enforcement_level, v.urn) for v in verdicts] == [("spend-cap", "mandatory", "")]
    msg = verdicts[0].message
    assert msg.startswith(f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd $20,000.00 "
                          f"by ${est.monthly_usd - 20000:,.2f}: on-demand ")
    assert "(14x g6e.xlarge eu-central-1 @ $2.2518/h = $23,013.40)" in msg and "| fixed $105.85" in msg
    # a declared commitment lowers the estimate below the cap
    commit = [{"type": "g6e.xlarge", "region": "eu-central-1", "count": 14, "term": "3y"}]
    assert run(g, tmp_path, maxMonthlyUsd=20000, maxGpus=64, commitments=commit)[1] == []
    assert report.exit_code == 1


def test_gpu_count_over_max(tmp_path):
    _, verdicts = run(good_aws_eu(), tmp_path, maxMonthlyUsd=1e6, maxGpus=4)
    assert [v.message for v in verdicts] == [
        "6 GPUs at full scale exceed maxGpus 4 (on-demand 6x g6e.xlarge eu-central-1 = 6 GPUs); lower the pools' "
        "max_nodes or raise maxGpus."]


def test_spot_group_priced_at_on_demand_upper_bound(tmp_path):
    g = good_aws_eu()
    g.inputs("gpu-burst")["capacityType"] = "SPOT"
    lines = {line.category: line for line in cost.estimate(g.steps).lines}
    assert (lines["spot"].units, lines["spot"].unit_hourly_usd) == (4, gpu.get_instance_type(
        "aws", "g6e.xlarge").price("eu-central-1").on_demand_hourly)
    # a label says nothing about what is bought
    g = good_aws_eu()
    g.inputs("gpu-burst")["labels"]["aiplat.io/capacity-type"] = "spot"
    assert "spot" not in {line.category for line in cost.estimate(g.steps).lines}


@settings(max_examples=40, deadline=None)
@given(reserved=st.integers(0, 8), burst=st.integers(0, 16), committed=st.integers(0, 12))
def test_estimate_is_linear_in_the_caps(reserved, burst, committed):
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("eu-central-1")
    g = good_aws_eu()
    g.inputs("gpu-reserved-a")["instanceCount"] = reserved
    g.inputs("gpu-reserved")["scalingConfig"]["maxSize"] = reserved
    g.inputs("gpu-burst")["scalingConfig"]["maxSize"] = burst
    est = cost.estimate(g.steps)
    assert est.subtotal("reserved") == 0
    assert est.subtotal("on-demand") == pytest.approx((reserved + burst) * price.on_demand_hourly * H, abs=0.05)
    assert est.total_gpus == reserved + burst
    commitments = [cost.Commitment("g6e.xlarge", "eu-central-1", committed, "1y")] if committed else []
    est = cost.estimate(g.steps, commitments)
    running = reserved + burst
    gpu_part = est.subtotal("reserved") + est.subtotal("on-demand")
    assert gpu_part == pytest.approx((committed * price.reserved_1y_hourly
                                      + max(0, running - committed) * price.on_demand_hourly) * H, abs=0.05)
    assert est.total_gpus == running
