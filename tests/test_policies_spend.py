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


def test_aws_estimate_reserved_on_demand_fixed():
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("eu-central-1")
    fixed = gpu.fixed_costs("aws")
    control_plane = kubernetes.control_plane_hourly("aws", "standard")  # the fixture runs 1.35
    est = cost.estimate(good_aws_eu().steps)
    lines = {(line.category, line.item): line for line in est.lines}
    reserved = lines[("reserved", "g6e.xlarge")]
    assert (reserved.units, reserved.gpus, reserved.unit_hourly_usd) == (2, 2, price.reserved_1y_hourly)
    assert set(reserved.resources) == {"gpu-reserved-a", "gpu-reserved"}
    burst = lines[("on-demand", "g6e.xlarge")]
    assert (burst.units, burst.unit_hourly_usd) == (4, price.on_demand_hourly)
    assert lines[("fixed", "cluster_control_plane")].monthly_usd == pytest.approx(control_plane * H)
    assert lines[("fixed", "nat_gateway")].units == 1
    expected = (2 * price.reserved_1y_hourly + 4 * price.on_demand_hourly
                + control_plane + fixed["nat_gateway"] + fixed["api_gateway_base"]) * H
    assert est.monthly_usd == pytest.approx(expected, abs=0.02)
    assert est.total_gpus == 6
    assert est.unpriced == []
    # 3y term prices the reserved line at the 3y rate
    assert cost.estimate(good_aws_eu().steps, term="3y").subtotal("reserved") == pytest.approx(
        2 * price.reserved_3y_hourly * H, abs=0.01)


def test_reservation_larger_than_reserved_group_is_paid_in_full():
    g = good_aws_eu()
    g.inputs("gpu-reserved-a")["instanceCount"] = 3  # reserved capacity is billed used or not
    line = next(x for x in cost.estimate(g.steps).lines if x.category == "reserved")
    assert line.units == 3


def test_gcp_estimate_counts_zones_of_regional_pools():
    price = gpu.get_instance_type("gcp", "g2-standard-8").price("europe-west4")
    est = cost.estimate(good_gcp_eu().steps)
    lines = {(line.category, line.item): line for line in est.lines}
    assert lines[("reserved", "g2-standard-8")].units == 2
    # burst pool: maxNodeCount 2 per zone x the cluster's 2 node locations
    assert lines[("on-demand", "g2-standard-8")].units == 4
    assert lines[("on-demand", "g2-standard-8")].unit_hourly_usd == price.on_demand_hourly
    assert est.total_gpus == 6 * gpu.get_instance_type("gcp", "g2-standard-8").gpus


def test_system_nodes_are_priced_and_unknown_types_and_caps_listed_unpriced():
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
    assert any(u.startswith("2x x9z.huge eu-central-1 (on-demand; odd): not in the instance catalog") for u in est.unpriced)
    assert any(u.startswith("gpu-burst:") for u in est.unpriced)


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
    assert doc["lines"][0]["resources"] == ["gpu-reserved-a", "gpu-reserved"]
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
    assert f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd $20,000.00" in msg
    assert "12x g6e.xlarge eu-central-1" in msg and "reserved $" in msg and "fixed $" in msg
    assert report.exit_code == 1


def test_gpu_count_over_max(tmp_path):
    _, verdicts = run(good_aws_eu(), tmp_path, maxMonthlyUsd=1e6, maxGpus=4)
    assert len(verdicts) == 1
    assert verdicts[0].message.startswith("6 GPUs at full scale exceed maxGpus 4 (reserved 2x g6e.xlarge")


def test_spot_group_priced_at_on_demand_upper_bound(tmp_path):
    g = good_aws_eu()
    g.inputs("gpu-burst")["labels"]["aiplat.io/capacity-type"] = "spot"
    lines = {line.category: line for line in cost.estimate(g.steps).lines}
    assert lines["spot"].unit_hourly_usd == gpu.get_instance_type("aws", "g6e.xlarge").price(
        "eu-central-1").on_demand_hourly


@settings(max_examples=40, deadline=None)
@given(reserved=st.integers(0, 8), burst=st.integers(0, 16))
def test_estimate_is_linear_in_the_caps(reserved, burst):
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("eu-central-1")
    g = good_aws_eu()
    g.inputs("gpu-reserved-a")["instanceCount"] = reserved
    g.inputs("gpu-reserved")["scalingConfig"]["maxSize"] = reserved
    g.inputs("gpu-burst")["scalingConfig"]["maxSize"] = burst
    est = cost.estimate(g.steps)
    gpu_part = est.subtotal("reserved") + est.subtotal("on-demand")
    assert gpu_part == pytest.approx((reserved * price.reserved_1y_hourly + burst * price.on_demand_hourly) * H,
                                     abs=0.05)
    assert est.total_gpus == reserved + burst
