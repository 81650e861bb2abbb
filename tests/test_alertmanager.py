"""The Alertmanager configuration every shipped stack deploys, judged by the real amtool and Alertmanager.

The configuration is taken from each stack's recorded graph (the kube-prometheus-stack
release's ``alertmanager.config``, the same in every cluster of a stack; it sets every key
of the chart's default, so Helm's merge changes nothing). ``amtool check-config`` accepts
it; ``amtool config routes test`` resolves, for each severity, exactly the receivers the
stack's channels list (and ``null`` for the chart's Watchdog and InfoInhibitor); a real
Alertmanager process, fed alerts over its API, shows which inhibitions hold: a critical
mutes only its own warning twin for the same model version, never an unrelated warning
without those labels (the old ``equal: [stack, model, pool]`` rule did, and the same
Alertmanager shows it), and the chart's InfoInhibitor still mutes info alerts.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests._peers import ALERTMANAGER, AM_SKIP_REASON, AMTOOL, Alertmanager, amtool, wait_for
from tests._project import available_stacks

pytestmark = [pytest.mark.peer, pytest.mark.skipif(AMTOOL is None or ALERTMANAGER is None, reason=AM_SKIP_REASON)]

HELM = "kubernetes:helm.sh/v3:Release"

# Who hears of each severity, per stack: what the stack files' channels say, written out.
EXPECTED_RECEIVERS = {
    "dev": {
        "critical": ["email-ml-platform-dev@example.com"],
        "warning": ["email-ml-platform-dev@example.com"],
        "info": ["email-ml-platform-dev@example.com"],
    },
    "staging": {
        "critical": ["email-ml-platform@example.com", "slack-inference-staging"],
        "warning": ["email-ml-platform@example.com", "slack-inference-staging"],
        "info": ["slack-inference-staging"],
    },
    "prod": {
        "critical": ["email-ml-platform@example.com", "slack-inference-alerts", "pagerduty-inference-oncall"],
        "warning": ["email-ml-platform@example.com", "slack-inference-alerts"],
        "info": ["slack-inference-alerts"],
    },
    "prod-eu": {
        "critical": ["email-ml-platform-eu@example.com", "slack-inference-alerts-eu", "pagerduty-inference-oncall-eu"],
        "warning": ["email-ml-platform-eu@example.com", "slack-inference-alerts-eu"],
        "info": ["slack-inference-alerts-eu"],
    },
    "gcp-prod": {
        "critical": ["email-ml-platform@example.com", "pagerduty-inference-oncall-gcp"],
        "warning": ["email-ml-platform@example.com"],
        "info": ["email-ml-platform@example.com"],
    },
}


def rendered_config(rec) -> dict:
    """The Alertmanager configuration of the stack's clusters (one document: they must agree)."""
    configs = [r.inputs["values"]["alertmanager"]["config"] for r in rec.of_type(HELM)
               if r.inputs["chart"] == "kube-prometheus-stack"]
    assert configs and all(c == configs[0] for c in configs)
    return configs[0]


@pytest.fixture(scope="module")
def config_files(record, tmp_path_factory):
    work = tmp_path_factory.mktemp("alertmanager-configs")
    out = {}
    for stack in available_stacks():
        out[stack] = work / f"{stack}.yml"
        out[stack].write_text(yaml.safe_dump(rendered_config(record(stack))))
    return out


def test_every_shipped_stack_is_covered():
    assert sorted(EXPECTED_RECEIVERS) == sorted(available_stacks())


@pytest.mark.parametrize("stack", sorted(EXPECTED_RECEIVERS))
def test_amtool_accepts_the_rendered_config(config_files, stack):
    config = yaml.safe_load(config_files[stack].read_text())
    result = amtool("check-config", str(config_files[stack]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert f" - {len(config['inhibit_rules'])} inhibit rules" in result.stdout
    assert f" - {len(config['receivers'])} receivers" in result.stdout
    # email goes out through the relay, with the password as a file from the receivers Secret
    glob = config["global"]
    assert glob["smtp_smarthost"].endswith(":587") and "smtp_auth_password" not in glob
    assert glob["smtp_auth_password_file"] == "/etc/alertmanager/secrets/aiplat-alert-receivers/smtpPassword"


def routes_to(config_file, **labels) -> list[str]:
    result = amtool("config", "routes", "test", f"--config.file={config_file}",
                    *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


@pytest.mark.parametrize("stack", sorted(EXPECTED_RECEIVERS))
def test_each_severity_reaches_the_receivers_its_channels_list(config_files, stack):
    f = config_files[stack]
    for severity, receivers in EXPECTED_RECEIVERS[stack].items():
        got = routes_to(f, alertname="TritonP99LatencyHigh", severity=severity, stack=stack, model="m")
        assert sorted(got) == sorted(receivers), severity
        # amtool's own check of the expectation
        verify = amtool("config", "routes", "test", f"--config.file={f}", f"--verify.receivers={','.join(got)}",
                        f"severity={severity}")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    # the chart's heartbeat and info-muting helper notify nobody, whatever their severity
    assert routes_to(f, alertname="Watchdog", severity="none") == ["null"]
    assert routes_to(f, alertname="InfoInhibitor", severity="none") == ["null"]
    assert routes_to(f, alertname="Watchdog", severity="critical") == ["null"]


# -- inhibition, in a real Alertmanager ------------------------------------------------------
def _alert(name: str, severity: str, **labels: str) -> dict[str, str]:
    return {"alertname": name, "severity": severity, "stack": "prod", **labels}


SOURCES = [
    _alert("TritonP99LatencyHigh", "critical", model="m1", version="1"),
    _alert("TritonQueueFull", "critical", model="m1", version="1", namespace="triton-a"),
    # criticals without model/pool labels: must mute nothing but their own lower severities
    _alert("GpuXidError", "critical", gpu="0", Hostname="node-1"),
    _alert("TritonDeploymentUnavailable", "critical", namespace="triton-b", deployment="triton-stable"),
    _alert("KubePodCrashLooping", "critical", namespace="ns-1"),
    _alert("InfoInhibitor", "none", namespace="triton-a"),
]
# target -> must it be inhibited?
TARGETS = [
    (_alert("TritonP95LatencyNearSla", "warning", model="m1", version="1"), True),
    (_alert("TritonP95LatencyNearSla", "warning", model="m1", version="2"), False),  # another version
    (_alert("TritonP95LatencyNearSla", "warning", model="m2", version="1"), False),  # another model
    (_alert("TritonQueueTimeHigh", "warning", model="m1", version="1"), True),
    (_alert("GpuUtilizationHigh", "warning", gpu="1", Hostname="node-2"), False),
    (_alert("TritonLatencySummaryMissing", "warning", model="m3"), False),
    (_alert("GpuPoolAtNodeCap", "warning", pool="llm", region="us-east-1"), False),
    (_alert("KubePodCrashLooping", "warning", namespace="ns-1"), True),   # chart: same alert, lower severity
    (_alert("KubePodCrashLooping", "warning", namespace="ns-2"), False),
    (_alert("TritonModelVersionChanged", "info", namespace="triton-a", model="m1", version="2"), True),  # InfoInhibitor
    (_alert("TritonModelVersionChanged", "info", namespace="triton-c", model="m4", version="2"), False),
    (_alert("InfoInhibitor", "none", namespace="triton-a"), True),  # the helper never stands on its own
]


def inhibited(workdir, config: dict) -> dict[str, bool]:
    """Post SOURCES and TARGETS to an Alertmanager running ``config``; label set (JSON) -> inhibited?"""
    workdir.mkdir()
    am = Alertmanager(workdir, config).start()
    try:
        am.post(SOURCES + [t for t, _ in TARGETS])
        wanted = {key(t) for t in SOURCES + [t for t, _ in TARGETS]}

        def all_in():
            got = {key(a["labels"]): bool(a["status"]["inhibitedBy"]) for a in am.alerts()}
            return got if wanted <= set(got) else None

        return wait_for("every posted alert in the API", all_in, timeout=30)
    finally:
        am.stop()


def key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def test_a_critical_mutes_only_its_own_twin_and_the_chart_inhibitions_hold(config_files, tmp_path):
    config = yaml.safe_load(config_files["prod"].read_text())
    state = inhibited(tmp_path / "ours", config)
    assert {key(t): state[key(t)] for t, _ in TARGETS} == {key(t): expected for t, expected in TARGETS}
    # the criticals themselves stand
    assert [state[key(s)] for s in SOURCES[:5]] == [False] * 5


def test_the_old_rule_muted_unrelated_warnings(config_files, tmp_path):
    # The same Alertmanager with the rule this stack shipped before: a critical lacking model and
    # pool muted every warning lacking them too (Alertmanager compares missing labels as equal).
    config = yaml.safe_load(config_files["prod"].read_text())
    config["inhibit_rules"] = [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                                "equal": ["stack", "model", "pool"]}]
    state = inhibited(tmp_path / "old", config)
    assert state[key(_alert("GpuUtilizationHigh", "warning", gpu="1", Hostname="node-2"))] is True
