"""Capacity planner: exact optimality (against brute force), CSV contract, CLI contract."""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplat import cli
from aiplat.tools import capacity
from aiplat.catalog import gpu
from aiplat.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "capacity" / "demand-2026.csv"


def brute_force(demand, r, o):
    """(smallest R with minimal cost, that cost), trying every R from 0 to peak + 1."""
    r, o = Fraction(str(r)), Fraction(str(o))
    best = None
    for R in range(0, max(demand) + 2):
        cost = R * len(demand) * r + sum(max(0, d - R) for d in demand) * o
        if best is None or cost < best[1]:
            best = (R, cost)
    return best


# Prices as the catalog writes them: up to 4 decimals. Reserved may exceed on-demand here
# (the catalog forbids it, the planner must still be right: reserve nothing).
price = st.integers(min_value=1, max_value=200_000).map(lambda n: Fraction(n, 10_000))


@settings(max_examples=400, deadline=None)
@given(demand=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=80), r=price, o=price)
def test_optimal_matches_brute_force(demand, r, o):
    R, cost = brute_force(demand, float(r), float(o))
    assert capacity.optimal_reserved_nodes(demand, r, o) == R
    assert capacity.total_cost(demand, R, r, o) == cost
    p = capacity.plan(demand, r, o)
    assert p.reserved_nodes == R
    assert p.total_cost_usd == round(float(cost), 2)


@settings(max_examples=200, deadline=None)
@given(
    demand=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=60),
    od=st.integers(min_value=2, max_value=5000),
    pct=st.integers(min_value=1, max_value=99),
)
def test_plan_identities(demand, od, pct):
    o = Fraction(od, 100)
    r = o * pct / 100
    p = capacity.plan(demand, r, o)
    H, R = len(demand), p.reserved_nodes
    assert p.hours == H and p.peak_nodes == max(demand)
    assert p.reserved_node_hours == R * H
    assert p.idle_reserved_node_hours == sum(max(0, R - d) for d in demand)
    assert p.on_demand_node_hours == sum(max(0, d - R) for d in demand)
    assert p.on_demand_peak_nodes == max(demand) - R
    # Optimal is never worse than either alternative (both are feasible choices of R).
    assert p.total_cost_usd <= p.on_demand_only_cost_usd
    assert p.total_cost_usd <= p.peak_reserved_cost_usd
    assert p.break_even_utilisation == round(pct / 100, 4)


def test_worked_example_exact_values():
    p = capacity.plan([0, 1, 2, 3, 3, 3, 5, 8], 0.6, 1.0)
    # k = floor(8 * 0.6 / 1.0) = 4 hours may lie above R; 5th largest demand is 3.
    assert p.to_dict() == {
        "hours": 8, "peak_nodes": 8, "mean_nodes": 3.125, "reserved_nodes": 3,
        "reserved_hourly_usd": 0.6, "on_demand_hourly_usd": 1.0, "break_even_utilisation": 0.6,
        "reserved_cost_usd": 14.4, "on_demand_burst_cost_usd": 7.0, "total_cost_usd": 21.4,
        "on_demand_only_cost_usd": 25.0, "peak_reserved_cost_usd": 38.4,
        "savings_vs_on_demand_usd": 3.6, "savings_vs_on_demand_pct": 14.4,
        "savings_vs_peak_usd": 17.0, "savings_vs_peak_pct": 44.27,
        "reserved_node_hours": 24, "idle_reserved_node_hours": 6, "reserved_utilisation": 0.75,
        "on_demand_node_hours": 7, "on_demand_peak_nodes": 5,
    }


def test_tie_goes_to_fewer_reserved_nodes():
    # cost(0) = 1 * 1.0 = 1.0; cost(1) = 1 * 2 * 0.5 = 1.0: same cost, less commitment.
    assert capacity.optimal_reserved_nodes([1, 0], 0.5, 1.0) == 0
    assert capacity.optimal_reserved_nodes([1, 1], 0.5, 1.0) == 1


def test_reserved_not_cheaper_reserves_nothing():
    assert capacity.optimal_reserved_nodes([5, 5, 5], 1.0, 1.0) == 0
    assert capacity.plan([5, 5, 5], 1.0, 1.0).total_cost_usd == 15.0


def test_flat_demand_reserves_all_of_it():
    p = capacity.plan([4] * 24, 0.63, 1.0)
    assert (p.reserved_nodes, p.idle_reserved_node_hours, p.on_demand_node_hours) == (4, 0, 0)


def test_rejects_nonpositive_prices():
    with pytest.raises(ValueError, match="prices must be positive"):
        capacity.plan([1], 0, 1)


# ---- CSV --------------------------------------------------------------------------------


def rows(*nodes, start_hour=0):
    return "".join(f"2026-03-01T{start_hour + i:02d}:00:00Z,{n}\n" for i, n in enumerate(nodes))


def test_parse_good_csv():
    d = capacity.parse_demand_csv("\ufefftimestamp,nodes\n" + rows(1, 2, 0) + "\n\n")
    assert d.nodes == (1, 2, 0)
    assert d.hours == 3
    assert d.timestamps[0].isoformat() == "2026-03-01T00:00:00+00:00"


def test_parse_crosses_midnight_and_naive_times():
    d = capacity.parse_demand_csv("timestamp,nodes\n2026-03-01T23:00,1\n2026-03-02T00:00,2\n")
    assert d.nodes == (1, 2)


def test_every_bad_line_reported_once():
    text = (
        "timestamp,nodes\n"
        "2026-03-01T00:00:00Z,1\n"       # 2 ok
        "2026-03-01T01:00:00Z,x\n"       # 3 not a number
        "2026-03-01T02:00:00Z,-2\n"      # 4 negative
        "2026-03-01T03:00:00Z,1.5\n"     # 5 not whole
        "2026-03-01T04:00:00Z,1,7\n"     # 6 extra field
        "yesterday,1\n"                  # 7 bad timestamp
        "2026-03-01T06:00:00Z,1\n"       # 8 (no reference after a bad timestamp: not a gap)
        "2026-03-01T09:00:00Z,1\n"       # 9 gap of 2 hours
        "2026-03-01T09:00:00Z,1\n"       # 10 duplicate
        "2026-03-01T08:00:00Z,1\n"       # 11 out of order
        "2026-03-01T08:30:00Z,1\n"       # 12 half hour
        "2026-03-01T09:30:00,1\n"        # 13 naive among aware
        "2026-03-01T10:30:00Z,1_0\n"     # 14 underscore
    )
    with pytest.raises(ConfigError) as info:
        capacity.parse_demand_csv(text, "d.csv")
    assert [str(p) for p in info.value.problems] == [
        "line  3: nodes 'x' is not a whole number",
        "line  4: nodes '-2' is negative",
        "line  5: nodes '1.5' is not a whole number",
        "line  6: expected 2 fields 'timestamp,nodes', got 3: '2026-03-01T04:00:00Z,1,7'",
        "line  7: timestamp 'yesterday' is not ISO 8601 (e.g. 2026-01-01T00:00:00Z)",
        "line  9: timestamp 2026-03-01T09:00:00Z: 2 missing hours after line 8 (fill them, 0 if idle)",
        "line 10: timestamp 2026-03-01T09:00:00Z: duplicate of line 9",
        "line 11: timestamp 2026-03-01T08:00:00Z: earlier than line 10 (2026-03-01T09:00:00+00:00); "
        "rows must be in time order",
        "line 12: timestamp 2026-03-01T08:30:00Z: not a whole hour after line 11 (2026-03-01T08:00:00+00:00)",
        "line 13: timestamp 2026-03-01T09:30:00: mixes time-zone-aware and naive times",
        "line 14: nodes '1_0' is not a whole number",
    ]
    assert info.value.source == "d.csv"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ["line 1: empty file: expected header 'timestamp,nodes' and hourly rows"]),
        ("timestamp,nodes\n", ["line 1: no data rows after the header"]),
        ("time,count\n" + rows(1), ["line 1: header must be 'timestamp,nodes', got 'time,count'"]),
        (rows(1, 2), ["line 1: header must be 'timestamp,nodes', got '2026-03-01T00:00:00Z,1'"]),
    ],
)
def test_header_and_empty_files(text, expected):
    with pytest.raises(ConfigError) as info:
        capacity.parse_demand_csv(text)
    assert [str(p) for p in info.value.problems] == expected


# ---- CLI --------------------------------------------------------------------------------


@pytest.fixture
def aiplat(monkeypatch, capsys):
    """Run the real dispatcher with only this subcommand (others' modules may be mid-work)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["aiplat.cli.capacity"])

    def run(*argv):
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_registered_in_cli():
    assert "aiplat.cli.capacity" in cli.COMMAND_MODULES


def test_cli_json_stdout_matches_catalog_and_planner(aiplat, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,nodes\n" + rows(2, 5, 3, 3, 0, 9))
    code, out, err = aiplat("capacity", "--demand", str(csv), "--instance-type", "g6.xlarge",
                            "--region", "eu-central-1", "--term", "3y", "--json", "-")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    price = gpu.get_instance_type("aws", "g6.xlarge").price("eu-central-1")
    expected = capacity.plan([2, 5, 3, 3, 0, 9], price.reserved_3y_hourly, price.on_demand_hourly).to_dict()
    assert {k: doc[k] for k in expected} == expected
    assert doc["reserved_nodes"] == brute_force([2, 5, 3, 3, 0, 9], price.reserved_3y_hourly, price.on_demand_hourly)[0]
    assert (doc["cloud"], doc["instance_type"], doc["region"], doc["term"]) == ("aws", "g6.xlarge", "eu-central-1", "3y")
    assert doc["reserved_hourly_usd"] == price.reserved_3y_hourly
    assert doc["on_demand_hourly_usd"] == price.on_demand_hourly
    assert (doc["start"], doc["end"]) == ("2026-03-01T00:00:00+00:00", "2026-03-01T05:00:00+00:00")


def test_cli_infers_gcp_and_writes_json_file_and_table(aiplat, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,nodes\n" + rows(1, 1, 1, 2))
    out_json = tmp_path / "plan.json"
    code, out, err = aiplat("capacity", "--demand", str(csv), "--instance-type", "a3-highgpu-8g",
                            "--region", "europe-west4", "--json", str(out_json))
    assert (code, err) == (0, "")
    doc = json.loads(out_json.read_text())
    assert (doc["cloud"], doc["term"], doc["reserved_nodes"], doc["reserved_gpus"]) == ("gcp", "1y", 1, 8)
    assert "Capacity plan: a3-highgpu-8g (8x NVIDIA H100 80GB) in europe-west4, 1y commitment" in out
    assert f"${doc['total_cost_usd']:,.2f}" in out
    assert "Break-even utilisation" in out and "63.0%" in out


def test_cli_unknown_type_exit_2_with_suggestion(aiplat, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,nodes\n" + rows(1))
    code, out, err = aiplat("capacity", "--demand", str(csv), "--instance-type", "g5.4xlage", "--region", "us-east-1")
    assert code == 2 and out == ""
    assert err == (
        "aiplat capacity: --instance-type/--region: 'g5.4xlage' is not a known AWS GPU instance type; "
        "did you mean g5.4xlarge?\n"
    )


def test_cli_type_not_in_region_exit_2(aiplat, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,nodes\n" + rows(1))
    code, _, err = aiplat("capacity", "--demand", str(csv), "--instance-type", "p5.48xlarge",
                          "--region", "eu-west-1")
    assert code == 2
    assert err.startswith("aiplat capacity: --instance-type/--region: 'p5.48xlarge' is not offered in eu-west-1")


def test_cli_bad_csv_exit_2_lists_lines_no_traceback(aiplat, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,nodes\n2026-03-01T00:00:00Z,-1\n2026-03-01T01:00:00Z,two\n")
    code, out, err = aiplat("capacity", "--demand", str(csv), "--instance-type", "g5.xlarge", "--region", "us-east-1")
    assert code == 2 and out == ""
    assert err == (
        f"aiplat capacity: invalid configuration in {csv} (2 problems):\n"
        "  line 2: nodes '-1' is negative\n"
        "  line 3: nodes 'two' is not a whole number\n"
    )


def test_cli_missing_file_exit_2(aiplat, tmp_path):
    code, _, err = aiplat("capacity", "--demand", str(tmp_path / "nope.csv"),
                          "--instance-type", "g5.xlarge", "--region", "us-east-1")
    assert code == 2
    assert err == f"aiplat capacity: demand file not found: {tmp_path / 'nope.csv'}\n"


def test_cli_bad_term_is_usage_error(aiplat, tmp_path):
    with pytest.raises(SystemExit) as info:
        aiplat("capacity", "--demand", "x.csv", "--instance-type", "g5.xlarge", "--region", "us-east-1",
               "--term", "5y")
    assert info.value.code == 2


# ---- shipped example --------------------------------------------------------------------


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_demand", EXAMPLE.with_name("make_demand.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_is_what_the_committed_generator_makes():
    gen = _load_generator()
    lines = ["timestamp,nodes"] + [f"{ts.strftime('%Y-%m-%dT%H:%M:%SZ')},{n}" for ts, n in gen.demand()]
    assert EXAMPLE.read_text() == "\n".join(lines) + "\n"
    d = capacity.read_demand_csv(EXAMPLE)
    assert d.hours == 8760


def test_example_plan_is_brute_force_optimal_and_readme_quotes_it(aiplat):
    d = capacity.read_demand_csv(EXAMPLE)
    price = gpu.get_instance_type("aws", "g6e.xlarge").price("us-east-1")
    R, cost = brute_force(list(d.nodes), price.reserved_1y_hourly, price.on_demand_hourly)
    code, out, _ = aiplat("capacity", "--demand", str(EXAMPLE), "--instance-type", "g6e.xlarge",
                          "--region", "us-east-1", "--json", "-")
    doc = json.loads(out)
    assert code == 0 and doc["reserved_nodes"] == R and doc["total_cost_usd"] == round(float(cost), 2)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Capacity planning", 1)[1].split("\n## ", 1)[0]
    for key in ("reserved_nodes", "total_cost_usd", "on_demand_only_cost_usd", "peak_reserved_cost_usd"):
        assert f'"{key}": {doc[key]}' in section, key
