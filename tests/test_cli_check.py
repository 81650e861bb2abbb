"""`aiplat check` as a user runs it: exit codes, inventory, the --json document."""

from __future__ import annotations

import json

import yaml

from tests._project import stack_file_path


def test_check_dev_prints_the_inventory(cli):
    result = cli("check", "dev")
    assert result.returncode == 0, result.stderr
    for token in ("aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:eks/cluster:Cluster", "us-east-1"):
        assert token in result.stdout


def test_check_prod_json_has_preview_shaped_steps(cli, tmp_path):
    out = tmp_path / "out.json"
    result = cli("check", "prod", "--json", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["stack"] == "prod"
    steps = doc["steps"]
    assert doc["changeSummary"] == {"create": len(steps)}
    assert {s["op"] for s in steps} == {"create"}
    for s in steps:
        state = s["newState"]
        assert {"urn", "type", "inputs", "parent", "custom", "protect", "dependencies"} <= set(state)
        assert s["urn"] == state["urn"] and state["urn"].startswith("urn:pulumi:prod::aiplat::")
    clusters = [s for s in steps if s["newState"]["type"] == "aws:eks/cluster:Cluster"]
    assert len(clusters) >= 3
    assert all(s["newState"]["provider"].startswith("urn:pulumi:prod::aiplat::") for s in clusters)


def test_check_gcp_stack(cli):
    result = cli("check", "gcp-prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("gcp:container/cluster:Cluster") == 2


def test_a_stack_file_with_several_mistakes_exits_2_naming_each_key_path(cli, tmp_path):
    doc = yaml.safe_load(stack_file_path("dev").read_text())
    platform = doc["config"]["aiplat:platform"]
    platform["residency"] = "mars"
    platform["regions"][0]["name"] = "us-east-9"
    platform["regions"][0]["cidr"] = "8.8.0.0/16"
    platform["tags"].pop("team")
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = cli("check", "bad", "--stack-file", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"invalid configuration in {bad} (4 problems):" in result.stderr
    for line in (
        "regions[0].cidr: 8.8.0.0/16 is not a private (RFC 1918) range",
        "regions[0].name: 'us-east-9' is not an AWS region",
        "residency: 'mars' is not one of 'eu', 'us', 'uk', 'ch' or 'global'",
        "tags.team: required",
    ):
        assert line in result.stderr


def test_unknown_stack_and_bad_usage_exit_2(cli):
    result = cli("check", "nope")
    assert result.returncode == 2 and "unknown stack 'nope'" in result.stderr and "Traceback" not in result.stderr
    assert cli("check").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_unwritable_json_path_is_a_usage_error(cli, tmp_path):
    result = cli("check", "dev", "--json", str(tmp_path / "missing-dir" / "out.json"))
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_json_carries_cost_and_policy_verdicts(cli, tmp_path):
    out = tmp_path / "dev.json"
    result = cli("check", "dev", "--json", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["policies"]["mandatory_violations"] == 0
    assert set(doc["policies"]["policies"]) == {
        "model-approval", "data-residency", "spend-cap", "security-baseline", "required-tags", "supply-chain",
        "transport-tls", "access-logs", "workload-hardening",
    }
    assert doc["cost"]["monthly_usd"] > 0
    assert "PASS policies: 0 mandatory violation(s)" in result.stdout


def test_a_prod_endpoint_open_to_the_world_fails_with_exit_1(cli, tmp_path):
    doc = yaml.safe_load(stack_file_path("prod").read_text())
    doc["config"]["aiplat:platform"]["cluster"].update(endpoint_public_access=True, public_access_cidrs=["0.0.0.0/0"])
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "prod.json"
    result = cli("check", "prod", "--stack-file", str(path), "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = json.loads(out.read_text())["policies"]["verdicts"]
    open_endpoints = [v for v in verdicts if v["policy"] == "security-baseline" and v["type"] == "aws:eks/cluster:Cluster"]
    assert sorted(v["name"] for v in open_endpoints) == [
        "prod-us-east-1-eks", "prod-us-east-2-eks", "prod-us-west-2-eks"
    ]
    assert all("0.0.0.0/0" in v["message"] and v["enforcement_level"] == "mandatory" for v in open_endpoints)
    assert "FAIL policies:" in result.stdout
