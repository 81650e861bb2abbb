"""The canary verdict as pure functions (thresholds, ladder, checks, changes, region) and the CLI's
exits that need no Prometheus. The live metrics are in tests/test_canary_integration.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplat.errors import UsageError
from aiplat.config import SloConfig
from aiplat.project import load_platform_config
from aiplat.serving.triton_local import free_port
from aiplat.tools.canary import (
    LADDER,
    CanaryTarget,
    Thresholds,
    TrackStats,
    canary_targets,
    change_for,
    check_window,
    judge,
    next_weight,
    queries,
    resolve_region,
)
from tests._project import stack_file_path

SLO = SloConfig(p99_latency_ms=300, error_ratio=0.01, queue_time_warning_ms=50)
TH = Thresholds.from_slo(SLO)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def target(weight: int = 10) -> CanaryTarget:
    return CanaryTarget("embed", "text-embedder", "serving.endpoints[0].models[0]", 1, D1, 2, D2, weight)


def track(version: int, requests: float = 1000, failed: float = 0, p99: float | None = 20.0, queue_ms: float = 1.0,
          summaries: bool = True, reason: str = "BACKEND") -> TrackStats:
    ok = requests - failed
    return TrackStats(version, True, ok, {reason: failed} if failed else {}, request_us=ok * 10_000,
                      queue_us=ok * queue_ms * 1000, p99_ms=p99, summaries=summaries)


def results(v) -> dict[str, str]:
    return {c.name: c.result for c in v.checks}


# -- thresholds -------------------------------------------------------------------------
def test_thresholds_come_from_the_slo():
    assert (TH.max_error_ratio, TH.max_p99_ms, TH.max_p99_ratio, TH.p99_slack_ms, TH.max_queue_ms,
            TH.min_requests, TH.ladder) == (0.01, 300, 1.2, 15, 50, 300, LADDER)
    assert TH.sources == {
        "max_error_ratio": "monitoring.slo.error_ratio", "max_p99_ms": "monitoring.slo.p99_latency_ms",
        "max_p99_ratio": "default", "p99_slack_ms": "5% of monitoring.slo.p99_latency_ms",
        "max_queue_ms": "monitoring.slo.queue_time_warning_ms", "ladder": "default",
        "min_requests": "ceil(3 / max_error_ratio)"}
    # the minimum sample follows the error budget: 3 / 0.005 = 600
    assert Thresholds.from_slo(SloConfig(error_ratio=0.005)).min_requests == 600
    assert Thresholds.from_slo(SLO, max_error_ratio=0.05).min_requests == 60


def test_flags_override_and_are_named():
    th = Thresholds.from_slo(SLO, max_p99_ms=100, min_requests=10, ladder=[10, 50])
    assert (th.max_p99_ms, th.min_requests, th.ladder) == (100, 10, (10, 50))
    assert th.sources["max_p99_ms"] == "--max-p99-ms flag" and th.sources["min_requests"] == "--min-requests flag"
    with pytest.raises(UsageError) as err:
        Thresholds.from_slo(SLO, max_error_ratio=1.5, max_p99_ratio=0.5, min_requests=0, ladder=[50, 10],
                            max_queue_ms=-1, p99_slack_ms=float("nan"))
    text = str(err.value)
    for flag in ("--max-error-ratio", "--max-p99-ratio", "--min-requests", "--ladder", "--max-queue-ms",
                 "--p99-slack-ms"):
        assert flag in text, flag


@pytest.mark.parametrize("window", ["10m", "1h30m", "90s", "1s"])
def test_windows(window):
    assert check_window(window) == window


@pytest.mark.parametrize("window", ["10", "10x", "0s", "500ms", "", "-5m"])
def test_bad_windows(window):
    with pytest.raises(UsageError, match="--window"):
        check_window(window)


# -- the ladder -------------------------------------------------------------------------
def test_the_ladder():
    assert [next_weight(w) for w in (1, 5, 10, 25, 50, 100)] == [5, 10, 25, 50, 100, None]
    assert [next_weight(w) for w in (3, 7, 30, 99)] == [5, 10, 50, 100]  # off-ladder weights join it


@given(st.lists(st.integers(1, 100), min_size=1, unique=True).map(sorted), st.integers(1, 100))
def test_next_weight_is_the_smallest_step_above(ladder, weight):
    step = next_weight(weight, tuple(ladder))
    above = [w for w in ladder if w > weight]
    assert step == (min(above) if above else None)


# -- verdicts -----------------------------------------------------------------------------
def test_a_healthy_canary_climbs_one_step():
    v = judge(target(10), track(1), track(2, p99=22.0), TH, "10m")
    assert v.verdict == "promote" and set(results(v).values()) == {"pass"}
    assert v.change.as_dict() == {
        "action": "step", "edits": [{"path": "serving.endpoints[0].models[0].canary.weight", "from": 10, "to": 25}],
        "delete": [], "summary": "serving.endpoints[0].models[0].canary.weight: 10 -> 25"}


def test_at_the_top_the_version_is_promoted():
    v = judge(target(100), track(1, requests=0), track(2), TH, "10m")
    assert v.verdict == "promote"
    assert results(v)["p99_vs_stable"] == "skip"  # stable takes no traffic at 100 %
    p = "serving.endpoints[0].models[0]"
    assert v.change.as_dict()["edits"] == [{"path": f"{p}.version", "from": 1, "to": 2},
                                           {"path": f"{p}.digest", "from": D1, "to": D2}]
    assert v.change.delete == (f"{p}.canary",)


def test_errors_roll_back_with_the_numbers():
    v = judge(target(), track(1), track(2, failed=30, reason="REJECTED"), TH, "10m")
    assert v.verdict == "roll_back" and results(v)["error_ratio"] == "roll_back"
    assert v.reasons == ["error ratio 3.00% of canary v2 (30 of 1000 failed (30 REJECTED)) exceeds 1.00% "
                         "(stable: 0.00%)"]
    assert v.change.as_dict()["edits"] == [{"path": "serving.endpoints[0].models[0].canary.weight", "from": 10,
                                            "to": 0}]


def test_few_requests_hold_unless_the_failures_already_exceed_a_full_samples_budget():
    # 300 requests are the minimum; 1 % of them (3) may fail
    few = judge(target(), track(1), track(2, requests=50, failed=2), TH, "10m")
    assert few.verdict == "hold"
    assert results(few) == {"traffic": "hold", "error_ratio": "hold", "p99": "skip", "p99_vs_stable": "skip",
                            "queue_time": "skip"}
    many = judge(target(), track(1), track(2, requests=50, failed=4), TH, "10m")
    assert many.verdict == "roll_back" and results(many)["traffic"] == "hold"


def test_no_traffic_is_hold_never_promote():
    v = judge(target(), track(1, requests=0, p99=None), track(2, requests=0, p99=None), TH, "10m")
    assert v.verdict == "hold" and v.change is None
    assert v.reasons == ["too little traffic to judge: canary v2 served 0 requests over 10m, fewer than 300; "
                         "stable v1 served 0 requests over 10m, fewer than 300: no baseline"]


def test_a_canary_that_is_not_scraped_holds():
    missing = TrackStats(2)
    v = judge(target(), track(1), missing, TH, "10m")
    assert v.verdict == "hold"
    assert v.reasons == ["too little traffic to judge: no metrics of canary v2 in namespace triton-embed over 10m "
                         "(not running or not scraped)"]


def test_p99_above_the_sla_rolls_back():
    v = judge(target(), track(1), track(2, p99=301.0), TH, "10m")
    assert v.verdict == "roll_back" and results(v)["p99"] == "roll_back"
    assert v.reasons[0] == "p99 301.0 ms of canary v2 exceeds the 300.0 ms SLA (stable: 20.0 ms)"


@pytest.mark.parametrize("stable_p99, canary_p99, result", [
    (20.0, 35.0, "pass"),       # +15 ms: within the slack (5 % of 300 ms)
    (20.0, 35.1, "roll_back"),  # beyond both 1.2x (24) and +15 ms (35)
    (200.0, 240.0, "pass"),     # 1.2x exactly
    (200.0, 241.0, "roll_back"),
])
def test_p99_against_stable(stable_p99, canary_p99, result):
    v = judge(target(), track(1, p99=stable_p99), track(2, p99=canary_p99), TH, "10m")
    assert results(v)["p99_vs_stable"] == result


def test_without_latency_summaries_p99_cannot_be_judged():
    v = judge(target(), track(1, p99=None, summaries=False), track(2, p99=None, summaries=False), TH, "10m")
    assert v.verdict == "hold"
    assert v.reasons == ["cannot judge p99: Triton exports no latency summaries for canary v2 "
                         "(run it with --metrics-config=summary_latencies=true)"]
    # summaries on the canary only: it cannot be compared with stable
    v = judge(target(), track(1, p99=None, summaries=False), track(2), TH, "10m")
    assert v.verdict == "hold" and results(v)["p99_vs_stable"] == "hold"


def test_queueing_holds_it_does_not_roll_back():
    v = judge(target(), track(1), track(2, queue_ms=80.0), TH, "10m")
    assert v.verdict == "hold" and results(v)["queue_time"] == "hold"
    assert "the canary track is saturated" in v.reasons[0]


def test_hold_asks_no_change_and_roll_back_wins_over_hold():
    assert change_for(target(), "hold") is None
    v = judge(target(), track(1), track(2, failed=100, queue_ms=80.0), TH, "10m")
    assert v.verdict == "roll_back" and {"hold", "roll_back"} <= set(results(v).values())


# -- the stack and the Prometheus it is judged from -------------------------------------
def test_targets_and_regions_from_a_shipped_stack():
    cfg = load_platform_config("prod", stack_file_path("prod"))
    active, inactive = canary_targets(cfg)
    assert [(t.endpoint, t.model, t.path, t.stable_version, t.canary_version, t.weight) for t in active] == [
        ("embed", "text-embedder", "serving.endpoints[0].models[0]", 1, 2, 10)]
    assert inactive == [] and active[0].namespace == "triton-embed"
    assert resolve_region(cfg, "prod", None, {"stack": "prod", "region": "us-west-2"}) == "us-west-2"
    assert resolve_region(cfg, "prod", "us-east-2", {}) == "us-east-2"
    with pytest.raises(UsageError, match="name the one whose Prometheus --prometheus is with --region"):
        resolve_region(cfg, "prod", None, {})
    with pytest.raises(UsageError, match="watches stack 'staging'"):
        resolve_region(cfg, "prod", None, {"stack": "staging", "region": "us-east-1"})
    with pytest.raises(UsageError, match="watches region 'us-west-2' .* not --region us-east-1"):
        resolve_region(cfg, "prod", "us-east-1", {"region": "us-west-2"})


def test_queries_scope_by_namespace_and_take_the_metric_names_from_monitoring():
    q = queries(["triton-b", "triton-a"], "10m")
    assert q["successes"] == ('sum by (namespace, model, version) '
                              '(increase(nv_inference_request_success{namespace=~"triton-a|triton-b"}[10m]))')
    assert q["failures"].startswith("sum by (namespace, model, version, reason) (increase(nv_inference_request_failure")
    assert q["p99_us"] == ('max by (namespace, model, version) (max_over_time(nv_inference_request_summary_us'
                           '{namespace=~"triton-a|triton-b",quantile="0.99"}[10m]))')


# -- the CLI without Prometheus -----------------------------------------------------------
def test_a_stack_without_canaries_exits_0_without_asking(cli):
    res = cli("canary", "analyze", "dev", "--prometheus", f"http://127.0.0.1:{free_port()}", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["models"], doc["exit_code"]) == ([], 0)
    assert doc["message"] == "no canary with weight > 0 in stack dev: nothing to analyze"


def test_unreachable_prometheus_and_bad_options_exit_2(cli):
    url = f"http://127.0.0.1:{free_port()}"
    res = cli("canary", "analyze", "prod", "--prometheus", url, "--region", "us-east-1")
    assert res.returncode == 2 and f"cannot reach Prometheus at {url}" in res.stderr
    res = cli("canary", "analyze", "prod", "--prometheus", url, "--window", "10x", "--max-p99-ratio", "0.5",
              "--timeout", "0")
    assert res.returncode == 2
    for what in ("--window: '10x'", "--max-p99-ratio: 0.5", "--timeout: 0"):
        assert what in res.stderr
    res = cli("canary", "analyze", "nope", "--prometheus", url)
    assert res.returncode == 2 and "unknown stack 'nope'" in res.stderr
    res = cli("canary", "analyze", "prod", "--prometheus", url, "--region", "eu-west-9")
    assert res.returncode == 2 and "--region: stack prod has no region 'eu-west-9'" in res.stderr
    assert "Traceback" not in res.stderr
