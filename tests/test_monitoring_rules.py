"""SLO config and alert rules: pure-function contracts, the CLI, and the real promtool.

promtool (Debian's prometheus package, installed by `make test`) checks the rules of
every stack in stacks/ and runs the unit suite tests/promtool/alerts_test.yml, which
states for each alert the series that must fire it and the healthy series that must not.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aiplat import cli
from aiplat.config import SEVERITIES, MonitoringConfig, PlatformConfig, SloConfig, duration_seconds
from aiplat.errors import ConfigError
from tests._project import AWS_DEPLOYER
from aiplat.monitoring import (
    PoolCap,
    platform_rule_groups,
    rule_groups,
    rules_yaml,
)
from tests._project import available_stacks

HERE = Path(__file__).parent
SUITE_DIR = HERE / "promtool"
REPO = HERE.parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install -y prometheus; `make test` does)"
)

EXPECTED_ALERTS = {
    "aiplat-immediate": {
        "TritonDeploymentUnavailable", "TritonTargetDown", "TritonP99LatencyHigh",
        "TritonErrorRatioHigh", "TritonQueueFull", "GpuMemoryExhausted", "GpuXidError", "TritonModelNotLoaded",
    },
    "aiplat-warning": {
        "TritonP95LatencyNearSla", "TritonQueueTimeHigh", "GpuUtilizationHigh",
        "TritonLatencySummaryMissing", "GpuPoolAtNodeCap",
    },
    "aiplat-info": {"TritonModelVersionChanged", "RequestRateNearLimit"},
}
TIER_SEVERITY = {"aiplat-immediate": "critical", "aiplat-warning": "warning", "aiplat-info": "info"}

BASE_PLATFORM = {
    "cloud": "aws",
    "environment": "dev",
    "tags": {"owner": "ml-platform", "team": "inference", "cost_center": "cc-1"},
    "data_classification": "internal",
    "residency": "us",
    "regions": [{"name": "us-east-1", "cidr": "10.10.0.0/16", "zones": ["us-east-1a", "us-east-1b"]}],
    "deployer": AWS_DEPLOYER,
}


def suite_fixture() -> dict:
    return yaml.safe_load((SUITE_DIR / "monitoring.yaml").read_text())


def suite_groups(monitoring: MonitoringConfig | None = None) -> list[dict]:
    fx = suite_fixture()
    return rule_groups(
        monitoring or MonitoringConfig.model_validate(fx["monitoring"]),
        stack=fx["stack"], models=fx["models"], pools=[PoolCap(**p) for p in fx["pools"]],
        queue_sizes=fx["queue_sizes"],
    )


def write_stack(tmp_path: Path, platform: dict) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(yaml.safe_dump({"config": {"aiplat:platform": platform}}))
    return path


# -- config ------------------------------------------------------------------------------


def test_platform_without_monitoring_section_gets_documented_defaults():
    cfg = PlatformConfig.from_raw(BASE_PLATFORM)
    assert cfg.monitoring == MonitoringConfig()
    slo = cfg.monitoring.slo
    assert (slo.p99_latency_ms, slo.latency_for, slo.p95_warning_fraction) == (500.0, "5m", 0.8)
    assert (slo.error_ratio, slo.queue_time_warning_ms, slo.gpu_util_warning) == (0.01, 100.0, 0.8)
    assert slo.gpu_memory_exhaustion == 0.95 and slo.rate_limit_rps is None
    assert cfg.monitoring.budget_thresholds == [0.8, 1.0]
    assert cfg.monitoring.channels.email == [] and cfg.monitoring.channels.slack == []


def test_bad_monitoring_config_reports_every_key_path_once():
    raw = {
        **BASE_PLATFORM,
        "monitoring": {
            "slo": {"p99_latency_ms": 0, "latency_for": "5 minutes", "error_ratio": 1.5, "colour": "red"},
            "channels": {
                "email": [{"address": "oncall-at-example.com"}],
                "slack": [{"name": "ops", "webhook_secret": "https://hooks.slack.com/services/T0/B0/x"}],
                "pagerduty": [{"name": "pd", "routing_key_secret": "pdKey", "severities": ["page"]}],
            },
            "budget_thresholds": [1.0, 0.8],
        },
    }
    with pytest.raises(ConfigError) as err:
        PlatformConfig.from_raw(raw)
    paths = [p.path for p in err.value.problems]
    assert paths == sorted([
        "monitoring.slo.p99_latency_ms",
        "monitoring.slo.latency_for",
        "monitoring.slo.error_ratio",
        "monitoring.slo.colour",
        "monitoring.channels.email[0].address",
        "monitoring.channels.slack[0].webhook_secret",
        "monitoring.channels.pagerduty[0].severities[0]",
        "monitoring.budget_thresholds",
        "monitoring.smtp",  # an email channel and no relay to send it through
    ])
    by_path = {p.path: p.message for p in err.value.problems}
    assert "plaintext URL" in by_path["monitoring.channels.slack[0].webhook_secret"]
    assert "hooks.slack.com" not in str(err.value)  # a leaked secret must not be echoed back
    assert by_path["monitoring.slo.latency_for"] == "'5 minutes' is not a Prometheus duration (e.g. 30s, 5m, 1h)"
    assert by_path["monitoring.slo.colour"].startswith("unknown key")


def test_secret_references_and_channel_defaults():
    ch = MonitoringConfig.model_validate({"smtp": {"smarthost": "smtp.example.com:587", "sender": "am@example.com"},
                                          "channels": {
        "email": [{"address": "oncall@example.com"}],
        "slack": [{"name": "ops", "webhook_secret": "aiplat:slackOpsWebhook"},
                  {"name": "feed", "webhook_secret": "slackFeed", "severities": ["info"]}],
        "pagerduty": [{"name": "pd", "routing_key_secret": "pagerdutyRoutingKey"}],
    }}).channels
    assert ch.email[0].severities == ["critical", "warning"]
    assert ch.slack[0].severities == ["critical", "warning"]
    assert ch.pagerduty[0].severities == ["critical"]


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from(["ms", "s", "m", "h", "d", "w"])), min_size=1, max_size=4))
def test_duration_seconds_sums_prometheus_units(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    assert duration_seconds(text) == pytest.approx(sum(n * unit[u] for n, u in parts))


# -- rules (pure) --------------------------------------------------------------------------


def test_three_tiers_with_exact_alerts_severities_and_annotations():
    groups = suite_groups()
    assert [g["name"] for g in groups] == list(EXPECTED_ALERTS)
    for g in groups:
        assert {r["alert"] for r in g["rules"]} == EXPECTED_ALERTS[g["name"]]
        for r in g["rules"]:
            assert r["labels"]["severity"] == TIER_SEVERITY[g["name"]]
            assert r["labels"]["stack"] == "test"
            assert set(r["annotations"]) == {"summary", "description", "runbook_url"}
            assert "threshold:" in r["annotations"]["description"]
            assert r["annotations"]["runbook_url"] == f"https://runbooks.example.com/aiplat#{r['alert'].lower()}"


@given(
    sla=st.floats(0.001, 60_000, allow_nan=False),
    frac=st.floats(0.05, 1.0),
    ratio=st.floats(0.0001, 0.5),
)
def test_thresholds_reach_expressions_and_descriptions(sla, frac, ratio):
    m = MonitoringConfig(slo=SloConfig(p99_latency_ms=sla, p95_warning_fraction=frac, error_ratio=ratio))
    rules = {r["alert"]: r for g in rule_groups(m, stack="s") for r in g["rules"]}
    p99, p95, err = rules["TritonP99LatencyHigh"], rules["TritonP95LatencyNearSla"], rules["TritonErrorRatioHigh"]
    assert p99["expr"].endswith(f"> {sla:g}") and f"threshold: {sla:g} ms" in p99["annotations"]["description"]
    assert p95["expr"].endswith(f"> {sla * frac:g}")
    assert err["expr"].endswith(f"> {ratio:g}")
    # what the expression compares against is the number the config holds
    assert float(p99["expr"].rsplit("> ", 1)[1]) == pytest.approx(sla, rel=1e-5)


def test_optional_rules_follow_their_inputs():
    names = lambda groups: {r["alert"] for g in groups for r in g["rules"]}  # noqa: E731
    bare = names(rule_groups(MonitoringConfig(), stack="s"))
    assert "TritonModelNotLoaded" not in bare and "GpuPoolAtNodeCap" not in bare
    assert "RequestRateNearLimit" not in bare and "TritonQueueFull" not in bare


def test_queue_full_alerts_compare_each_served_models_queue_size_per_region():
    from aiplat.project import load_platform_config
    from aiplat.monitoring import queue_sizes, region_rule_groups

    cfg = load_platform_config("prod")
    full = lambda region: {  # noqa: E731
        r["labels"]["model"]: r["expr"] for g in region_rule_groups(cfg, "prod", region) for r in g["rules"]
        if r["alert"] == "TritonQueueFull"}
    # classify (linear-classifier, max_queue_size 128 in the stack) serves us-east-1 and us-west-2 only
    assert queue_sizes(cfg, ["us-east-1"]) == {"linear-classifier": 128, "text-embedder": 64}
    assert full("us-east-1") == {
        "linear-classifier": 'max by (namespace, model, version) '
                             '(nv_inference_pending_request_count{model="linear-classifier"}) >= 115.2',
        "text-embedder": 'max by (namespace, model, version) '
                         '(nv_inference_pending_request_count{model="text-embedder"}) >= 57.6'}
    assert set(full("us-east-2")) == {"text-embedder"}
    assert {r["for"] for g in region_rule_groups(cfg, "prod", "us-east-1") for r in g["rules"]
            if r["alert"] == "TritonQueueFull"} == {cfg.monitoring.slo.error_for}


def test_pool_caps_come_from_the_stack_including_the_spot_tier(tmp_path):
    platform = {**BASE_PLATFORM, "regions": [{
        **BASE_PLATFORM["regions"][0],
        "gpu_pools": [
            {"name": "l40s", "instance_type": "g6e.2xlarge", "reserved_nodes": 2, "max_nodes": 6, "spot_max_nodes": 4},
            {"name": "small", "instance_type": "g6e.2xlarge", "max_nodes": 2},
        ],
    }]}
    cfg = PlatformConfig.from_raw(platform)
    caps = [r for g in platform_rule_groups(cfg, "t") for r in g["rules"] if r["alert"] == "GpuPoolAtNodeCap"]
    assert [(r["labels"]["pool"], r["labels"]["region"], r["expr"].rsplit(">= ", 1)[1]) for r in caps] == [
        ("l40s", "us-east-1", "10"), ("small", "us-east-1", "2")]
    assert caps[0]["expr"] == (
        'count(kube_node_labels{label_aiplat_io_pool="l40s", '
        'label_topology_kubernetes_io_region="us-east-1"}) >= 10')


def test_rules_yaml_round_trips_to_the_same_groups():
    groups = suite_groups()
    assert yaml.safe_load(rules_yaml(groups)) == {"groups": groups}


# -- CLI -----------------------------------------------------------------------------------


def test_cli_writes_the_same_groups_as_the_function(tmp_path):
    out = tmp_path / "rules.yml"
    assert cli.main(["rules", "dev", "--out", str(out)]) == 0
    from aiplat.project import load_platform_config

    assert yaml.safe_load(out.read_text()) == {"groups": platform_rule_groups(load_platform_config("dev"), "dev")}


def test_cli_bad_config_exits_2_naming_every_path(tmp_path, capsys):
    stack = write_stack(tmp_path, {**BASE_PLATFORM, "monitoring": {
        "slo": {"gpu_util_warning": 80}, "channels": {"slack": [{"name": "x", "webhook_secret": "http://h/x"}]}}})
    assert cli.main(["rules", "t", "--stack-file", str(stack), "--out", str(tmp_path / "r.yml")]) == 2
    err = capsys.readouterr().err
    assert "monitoring.slo.gpu_util_warning" in err and "monitoring.channels.slack[0].webhook_secret" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.yml").exists()


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main(["rules", "no-such-stack", "--out", str(tmp_path / "r.yml")]) == 2
    assert "unknown stack 'no-such-stack'" in capsys.readouterr().err
    assert cli.main(["rules", "dev", "--out", str(tmp_path / "missing" / "r.yml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["rules", "dev"])
    assert exit_.value.code == 2


# -- promtool --------------------------------------------------------------------------------


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


@needs_promtool
@pytest.mark.peer
@pytest.mark.parametrize("stack", available_stacks())
def test_promtool_checks_the_rules_of_every_stack(stack, tmp_path):
    out = tmp_path / f"{stack}.rules.yml"
    assert cli.main(["rules", stack, "--out", str(out)]) == 0
    result = run_promtool("check", "rules", str(out))
    n = sum(len(g["rules"]) for g in yaml.safe_load(out.read_text())["groups"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {n} rules found" in result.stdout


def _run_suite(tmp_path: Path, groups: list[dict]) -> subprocess.CompletedProcess:
    shutil.copy(SUITE_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    (tmp_path / "rules.yml").write_text(rules_yaml(groups))
    return run_promtool("test", "rules", str(tmp_path / "alerts_test.yml"))


@needs_promtool
@pytest.mark.peer
def test_promtool_suite_every_alert_fires_on_breach_and_not_on_healthy_series(tmp_path):
    suite = yaml.safe_load((SUITE_DIR / "alerts_test.yml").read_text())
    tested = {t["alertname"] for case in suite["tests"] for t in case["alert_rule_test"]}
    assert tested == set().union(*EXPECTED_ALERTS.values())  # no alert goes untested
    result = _run_suite(tmp_path, suite_groups())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
@pytest.mark.peer
def test_promtool_suite_catches_a_looser_sla(tmp_path):
    # The suite is an oracle, not a mirror: rules built from a different SLA must fail it.
    fx = suite_fixture()["monitoring"]
    fx["slo"]["p99_latency_ms"] = 350
    result = _run_suite(tmp_path, suite_groups(MonitoringConfig.model_validate(fx)))
    assert result.returncode == 1
    assert "TritonP99LatencyHigh" in result.stdout + result.stderr


def test_every_alert_has_a_runbook_section():
    text = (REPO / "docs" / "runbooks.md").read_text()
    headings = {line[3:].strip().lower() for line in text.splitlines() if line.startswith("## ")}
    # GitHub anchors are the lowercased heading, which is what runbook_url appends.
    missing = {a for a in set().union(*EXPECTED_ALERTS.values()) if a.lower() not in headings}
    assert missing == set()


def test_severities_are_the_documented_three():
    assert SEVERITIES == ("critical", "warning", "info")
