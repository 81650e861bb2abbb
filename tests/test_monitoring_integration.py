"""Real Triton (CPU) + real Prometheus evaluating our generated rules.

Triton (the tritonserver of the nvidia-pytriton wheel, via ``serving.triton_local``)
serves the example models with ``TRITON_METRICS_ARGS`` (latency summaries on);
Prometheus (Debian package) scrapes its metrics port every second and evaluates the
rules ``rule_groups`` builds from a config with a deliberately tiny p99 SLA (10 µs, which
no Python-backend request can meet). Idle, nothing fires: Triton exports the quantiles as
NaN when its window holds no request. Under load the p99 alert goes pending, then firing,
for the loaded model only. Every wait is bounded; both processes are stopped at teardown.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aiplat.config import MonitoringConfig
from aiplat.monitoring import TRITON_METRICS_ARGS, rule_groups, rules_yaml
from aiplat.serving.loadtest import loadtest
from aiplat.serving.repository import build
from aiplat.serving.triton_local import TritonServer
from tests._peers import PROMETHEUS, SKIP_REASON, TRITON_MISSING, Prometheus, wait_for

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "serving" / "examples" / "models"
LOADED_MODEL = "linear-classifier"

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON),
    pytest.mark.skipif(bool(TRITON_MISSING), reason=f"tritonserver not installed: {TRITON_MISSING}"),
]

# The stack config under test: a 10 µs p99 SLA that must hold for 2 s, the rest defaults.
MONITORING = {"slo": {"p99_latency_ms": 0.01, "latency_for": "2s", "rate_window": "10s"}}
STACK = "it"


def _rfc3339(ts: str) -> datetime:
    # Prometheus prints nanoseconds; datetime takes microseconds.
    head, _, frac = ts.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}").replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("monitoring-it")
    models = build(EXAMPLES, work / "repo")
    rules_file = work / "rules.yml"
    rules_file.write_text(rules_yaml(rule_groups(MonitoringConfig.model_validate(MONITORING), stack=STACK, models=models)))
    triton = TritonServer(work / "repo", extra_args=list(TRITON_METRICS_ARGS))
    prom = None
    try:
        triton.start()
        prom = Prometheus(work, {
            # 1 s scrapes and evaluations keep the test short; production uses the chart's.
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_file)],
            "scrape_configs": [{"job_name": "triton",
                                "static_configs": [{"targets": [f"127.0.0.1:{triton.metrics_port}"]}]}],
        }).start()
        yield triton, prom, models
    finally:
        if prom is not None:
            prom.stop()
        triton.stop()


def test_idle_triton_fires_nothing_then_load_fires_the_p99_alert(stack):
    triton, prom, models = stack
    assert LOADED_MODEL in models

    # Idle: wait until Prometheus holds several scrapes of the real p99 series (NaN: an
    # empty Triton window) and has evaluated the rules after that; then nothing fires.
    series = f'nv_inference_request_summary_us{{quantile="0.99",model="{LOADED_MODEL}"}}'
    wait_for(f"5 scrapes of {series}", lambda: [
        r for r in prom.api("query", query=f"count_over_time({series}[1m]) >= 5")["result"]], timeout=60)
    scraped_at = datetime.now(timezone.utc)
    wait_for("a rule evaluation after the scrapes", lambda: (
        _rfc3339(prom.rule("TritonP99LatencyHigh")["lastEvaluation"]) > scraped_at), timeout=30)
    idle_rule = prom.rule("TritonP99LatencyHigh")
    assert (idle_rule["health"], idle_rule["state"]) == ("ok", "inactive"), idle_rule
    values = prom.api("query", query=series)["result"]
    assert [v["value"][1] for v in values] == ["NaN"]  # the metric is there, with no traffic
    assert prom.alerts() == []  # a healthy idle stack: not a single alert of any tier

    # Load: a bounded closed-loop run; the p99 alert must go pending, then firing.
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(run=loadtest(triton.http_url, LOADED_MODEL, concurrency=2, duration=20)),
        daemon=True)
    worker.start()
    try:
        def p99_alerts(state: str):
            return [a for a in prom.alerts() if a["labels"]["alertname"] == "TritonP99LatencyHigh"
                    and a["state"] == state]

        pending = wait_for("TritonP99LatencyHigh pending", lambda: p99_alerts("pending") or p99_alerts("firing"),
                           timeout=60)
        firing = wait_for("TritonP99LatencyHigh firing", lambda: p99_alerts("firing"), timeout=60)
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive(), "load test outlived its deadline"
    run = result["run"]
    assert run.ok, run.as_dict()

    assert pending and [a["labels"] for a in firing] == [{
        "alertname": "TritonP99LatencyHigh", "severity": "critical", "stack": STACK,
        "model": LOADED_MODEL, "version": "1"}]  # only the loaded model, not the idle ones
    alert = firing[0]
    assert float(alert["value"]) > 0.01  # p99 in ms, above the 10 µs SLA
    assert alert["annotations"]["description"].endswith("ms (threshold: 0.01 ms for 2s), worst replica.")
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks.md#tritonp99latencyhigh")
