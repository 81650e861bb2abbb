"""Real Triton (CPU) + real Prometheus: ``aiplat canary analyze`` judging canaries on live metrics.

Two tritonservers stand for two endpoints, each serving a stable v1 and a canary v2 of its
models; one Prometheus scrapes both every second, labelling each target as the endpoint's
ServiceMonitor does (``namespace: triton-<endpoint>``) under the external labels the
Monitoring component sets (``stack``, ``region``). Triton runs with the metric flags of the
Deployment (``aiplat.triton.triton_args``):

* endpoint ``live``: with the latency summaries (``TRITON_METRICS_ARGS``, which the Deployment passes), serving
  ``faithful`` (v2 = v1), ``slow`` (v2 sleeps 300 ms per batch), ``failing`` (v2 raises on a quarter
  of the inputs), ``timeout`` (v2 sleeps 100 ms per request; the queue's 50 ms timeout
  rejects what waits) and ``idle`` (no traffic);
* endpoint ``bare``: without the summaries (a Triton started without them), serving
  ``faithful`` again, so the namespace is what keeps the two apart.

The stack is ``dev`` with these endpoints and an SLO for a shared 2-core test machine: p99
4000 ms, so that the p99 regression slack (5 % of it, 200 ms) absorbs scheduler stalls of
CPU-starved Python backends, and an error ratio of 5 % (min 60 requests per track). The test sends traffic with tritonclient,
waits until Prometheus holds every request, and asserts the exact verdicts and changes.
"""

from __future__ import annotations

import collections
import json
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from aiplat.refs import TRITON_METRICS_ARGS
from aiplat.serving.repository import build, digest_version
from aiplat.serving.triton_local import TritonServer, free_port
from aiplat.triton import triton_args
from tests._peers import PROMETHEUS, SKIP_REASON, TRITON_MISSING, Prometheus, wait_for
from tests._project import stack_config

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON),
    pytest.mark.skipif(bool(TRITON_MISSING), reason=f"tritonserver not installed: {TRITON_MISSING}"),
]

STACK, REGION = "it", "us-east-1"
SLO = {"p99_latency_ms": 4000, "error_ratio": 0.05}
WINDOW = "3m"  # the whole module, traffic to the last CLI run, fits in it

# What v2 does differently from v1 (v1 answers Y = 2X at once): once per execute() call, or
# per request. The sleeping models batch (max_batch_size 8), so one sleep serves every
# request in flight and the test stays short; the timeout model takes one request at a time.
BEHAVIOUR = {
    "same": ("", ""),
    "sleep": ("time.sleep(0.3)", ""),
    "pause": ("time.sleep(0.1)", ""),
    "raise": ("", "if float(x.reshape(-1)[0]) < 0:\n    raise ValueError('v2 cannot take negative inputs')"),
}


@dataclass(frozen=True)
class Model:
    v2: str = "same"
    weight: int = 10
    max_batch_size: int = 1
    queue_timeout_us: int = 0  # 0: requests wait in the queue as long as it takes


ENDPOINTS = {
    "live": {
        "faithful": Model("same", 10),
        "slow": Model("sleep", 5, max_batch_size=8),
        "failing": Model("raise", 25),
        "timeout": Model("pause", 50, queue_timeout_us=50_000),
        "idle": Model("same", 1),
    },
    "bare": {"faithful": Model("same", 10)},
}
# requests per version; a quarter of them carry a negative input
TRAFFIC = {("live", "faithful"): 300, ("live", "slow"): 80, ("live", "failing"): 80, ("live", "timeout"): 80,
           ("bare", "faithful"): 100}

# requests in flight: the slow canary takes its 8 as one batch
CONCURRENCY = {"faithful": 8, "slow": 16}


def model_py(behaviour: str) -> str:
    once, per_request = BEHAVIOUR[behaviour]
    return textwrap.dedent('''\
        import time

        import numpy as np
        import triton_python_backend_utils as pb_utils


        class TritonPythonModel:
            def execute(self, requests):
        {once}
                responses = []
                for request in requests:
                    x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
        {per_request}
                    responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", (2 * x).astype(np.float32))]))
                return responses
        ''').format(once=textwrap.indent(once or "pass", " " * 8),
                     per_request=textwrap.indent(per_request or "pass", " " * 12))


def write_models(src: Path, models: dict[str, Model]) -> None:
    for name, spec in models.items():
        d = src / name
        for version, behaviour in ((1, "same"), (2, spec.v2)):
            (d / str(version)).mkdir(parents=True)
            (d / str(version) / "model.py").write_text(model_py(behaviour))
        queue = {"max_queue_size": 64, "timeout_action": "REJECT", "default_timeout_microseconds": spec.queue_timeout_us}
        (d / "spec.yaml").write_text(yaml.safe_dump({
            "name": name, "backend": "python", "max_batch_size": spec.max_batch_size,
            "inputs": [{"name": "X", "data_type": "TYPE_FP32", "dims": [1]}],
            "outputs": [{"name": "Y", "data_type": "TYPE_FP32", "dims": [1]}],
            # a dynamic batcher for its bounded queue (and batches for the sleeping models)
            "dynamic_batching": {"max_queue_delay_microseconds": 0, "queue_policy": queue},
            "instance_groups": [{"kind": "KIND_CPU", "count": 1}],
            "version_policy": {"kind": "specific", "versions": [1, 2]},
        }))


def deployment_metric_flags() -> list[str]:
    """The metric flags the Triton Deployment passes, from the component's own code (ports excluded:
    the local server picks free ones)."""
    return [a for a in triton_args([]) if a.startswith(("--allow-metrics", "--allow-gpu-metrics", "--metrics-"))
            and not a.startswith(("--metrics-port", "--metrics-address"))]


def stack_file(path: Path, repos: dict[str, Path], weights: dict[tuple[str, str], int] | None = None) -> Path:
    """dev's stack with our endpoints; ``weights`` overrides canary weights (None: drop the canary)."""
    config = stack_config("dev")
    platform = config["aiplat:platform"]
    platform.pop("gateway", None)  # default routes are per model name; two endpoints share one here
    platform.pop("vector_store", None)
    platform["regions"][0]["gpu_pools"][0]["max_nodes"] = 4  # (1 + 1 canary) replicas per endpoint
    platform["monitoring"]["slo"] = SLO
    endpoints = []
    for ep, models in ENDPOINTS.items():
        served = []
        for name, spec in models.items():
            w = (weights or {}).get((ep, name), spec.weight)
            m = {"name": name, "version": 1, "digest": digest_version(repos[ep], name, 1)}
            if w is not None:
                m["canary"] = {"version": 2, "digest": digest_version(repos[ep], name, 2), "weight": w}
            served.append(m)
        endpoints.append({"name": ep, "pool": "llm", "min_replicas": 1, "max_replicas": 1, "models": served})
    platform["serving"]["endpoints"] = endpoints
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def send(url: str, model: str, n: int, concurrency: int = 4) -> collections.Counter:
    """n requests to v1 and n to v2, interleaved (both tracks see the same machine load); a quarter
    of each carry a negative input. One client, ``concurrency`` requests in flight."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url, concurrency=concurrency, network_timeout=30)
    outcome: collections.Counter = collections.Counter()
    in_flight: collections.deque = collections.deque()

    def settle(version: str, request) -> None:
        try:
            request.get_result()
            outcome[(version, "ok")] += 1
        except Exception:  # noqa: BLE001 - the server counts it; so do we
            outcome[(version, "failed")] += 1

    try:
        for i in range(n):
            for version in ("1", "2"):
                x = httpclient.InferInput("X", [1, 1], "FP32")
                x.set_data_from_numpy(np.array([[-1.0 if i % 4 == 3 else 1.0]], dtype=np.float32))
                in_flight.append((version, client.async_infer(model, [x], model_version=version)))
                if len(in_flight) >= concurrency:
                    settle(*in_flight.popleft())
        while in_flight:
            settle(*in_flight.popleft())
    finally:
        client.close()
    return outcome


def requests_in_prometheus(prom: Prometheus, namespace: str) -> float:
    rows = prom.query(f'sum(nv_inference_request_success{{namespace="{namespace}"}}) '
                      f'+ sum(nv_inference_request_failure{{namespace="{namespace}"}})')
    return float(rows[0]["value"][1]) if rows else -1.0


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Both servers and Prometheus, the traffic sent and scraped: (prometheus, repos, client outcomes, servers)."""
    work = tmp_path_factory.mktemp("canary-it")
    flags = deployment_metric_flags()
    server_flags = {
        "live": flags + [f for f in TRITON_METRICS_ARGS if f not in flags],
        "bare": [f for f in flags if f not in TRITON_METRICS_ARGS],
    }
    repos, servers, prom = {}, {}, None
    try:
        for ep, models in ENDPOINTS.items():
            write_models(work / f"src-{ep}", models)
            build(work / f"src-{ep}", work / f"repo-{ep}")
            repos[ep] = work / f"repo-{ep}"
            servers[ep] = TritonServer(repos[ep], extra_args=server_flags[ep])
        with ThreadPoolExecutor(len(servers)) as pool:  # both start at once
            list(pool.map(TritonServer.start, servers.values()))
        prom = Prometheus(work, {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "external_labels": {"stack": STACK, "region": REGION}},
            "scrape_configs": [{
                "job_name": "triton",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{servers[ep].metrics_port}"], "labels": {"namespace": f"triton-{ep}"}}
                    for ep in ENDPOINTS],
            }],
        }).start()
        # a baseline of idle samples first, so that increase() over the window counts every request
        for ep in ENDPOINTS:
            wait_for(f"3 scrapes of triton-{ep}", lambda ep=ep: prom.query(
                f'count_over_time(nv_inference_request_success{{namespace="triton-{ep}"}}[1m]) >= 3'), timeout=60)
        outcomes = {key: send(servers[key[0]].http_url, key[1], n, concurrency=CONCURRENCY.get(key[1], 4))
                    for key, n in TRAFFIC.items()}
        for ep in ENDPOINTS:
            sent = sum(2 * n for (e, _), n in TRAFFIC.items() if e == ep)
            # every request the clients sent is in a Triton counter, and Prometheus has scraped it
            wait_for(f"all {sent} requests of triton-{ep} in Prometheus",
                     lambda ep=ep, sent=sent: requests_in_prometheus(prom, f"triton-{ep}") == sent, timeout=30)
        yield prom, repos, outcomes, servers
    finally:
        if prom is not None:
            prom.stop()
        for server in servers.values():
            server.stop()


def analyze(cli, path: Path, prom_url: str, *extra: str, stack: str = STACK):
    res = cli("canary", "analyze", stack, "--stack-file", str(path), "--prometheus", prom_url,
              "--window", WINDOW, "--json", *extra, timeout=120)
    doc = json.loads(res.stdout) if res.stdout.strip() else None
    return res, doc


def by_model(doc: dict) -> dict[tuple[str, str], dict]:
    return {(m["endpoint"], m["model"]): m for m in doc["models"]}


def checks(m: dict) -> dict[str, str]:
    return {c["check"]: c["result"] for c in m["checks"]}


def test_roll_back_hold_and_promote_on_live_metrics(live, cli, tmp_path):
    prom, repos, outcomes, _ = live
    # the traffic did what each version was built to do
    assert outcomes[("live", "failing")] == {("1", "ok"): 80, ("2", "ok"): 60, ("2", "failed"): 20}
    assert outcomes[("live", "timeout")][("2", "failed")] > 0

    res, doc = analyze(cli, stack_file(tmp_path / "Pulumi.it.yaml", repos), prom.url)
    assert res.returncode == 1, res.stderr  # something must roll back
    assert (doc["stack"], doc["region"], doc["window"]) == (STACK, REGION, WINDOW)
    th = doc["thresholds"]
    assert (th["max_error_ratio"], th["max_p99_ms"], th["min_requests"], th["p99_slack_ms"]) == (0.05, 4000, 60, 200)
    assert th["sources"]["max_error_ratio"] == "monitoring.slo.error_ratio"
    models = by_model(doc)
    assert {k: m["verdict"] for k, m in models.items()} == {
        ("live", "faithful"): "promote", ("live", "slow"): "roll_back", ("live", "failing"): "roll_back",
        ("live", "timeout"): "roll_back", ("live", "idle"): "hold", ("bare", "faithful"): "hold"}, res.stderr
    assert doc["summary"] == {"promote": 1, "hold": 2, "roll_back": 3}

    # a faithful canary with enough traffic: every check passes, the next ladder step 10 -> 25
    good = models[("live", "faithful")]
    assert checks(good) == {"traffic": "pass", "error_ratio": "pass", "p99": "pass", "p99_vs_stable": "pass",
                            "queue_time": "pass"}
    assert good["change"]["edits"] == [{"path": "serving.endpoints[0].models[0].canary.weight", "from": 10, "to": 25}]
    assert good["change"]["action"] == "step" and good["change"]["delete"] == []
    assert good["canary"]["requests"] == pytest.approx(300, rel=0.05) == good["stable"]["requests"]
    assert good["canary"]["latency_summaries"] and good["canary"]["error_ratio"] == 0.0

    # slowed: p99 far above stable's, though within the SLA -> weight 0
    slow = models[("live", "slow")]
    assert {k: v for k, v in checks(slow).items() if k != "queue_time"} == {  # it may queue too, or not
        "traffic": "pass", "error_ratio": "pass", "p99": "pass", "p99_vs_stable": "roll_back"}
    assert slow["canary"]["p99_ms"] >= 300  # at least its sleep
    assert slow["reasons"][0].startswith(f"p99 {slow['canary']['p99_ms']:.1f} ms of canary v2 is ")
    assert slow["change"]["edits"] == [{"path": "serving.endpoints[0].models[1].canary.weight", "from": 5, "to": 0}]

    # failing: a quarter of the canary's requests raise in the backend
    failing = models[("live", "failing")]
    assert checks(failing)["error_ratio"] == "roll_back"
    assert failing["canary"]["failures_by_reason"] == {"BACKEND": pytest.approx(20, rel=0.05), "CANCELED": 0,
                                                       "OTHER": 0, "REJECTED": 0}
    assert failing["canary"]["error_ratio"] == pytest.approx(0.25, abs=0.01)
    assert failing["stable"]["error_ratio"] == 0.0
    assert failing["reasons"][0].startswith("error ratio 25.00% of canary v2 (")
    assert failing["reasons"][0].endswith(" BACKEND)) exceeds 5.00% (stable: 0.00%)")
    assert failing["change"]["edits"][0]["to"] == 0

    # queue timeouts are failures too (reason REJECTED), and count toward the error ratio
    timeout = models[("live", "timeout")]
    rejected = timeout["canary"]["failures_by_reason"]["REJECTED"]
    # counts are Prometheus increase() estimates, extrapolated to the window's edges: a few % high
    assert rejected == pytest.approx(outcomes[("live", "timeout")][("2", "failed")], rel=0.05)
    assert checks(timeout)["error_ratio"] == "roll_back"
    assert timeout["change"]["edits"] == [{"path": "serving.endpoints[0].models[3].canary.weight", "from": 50, "to": 0}]

    # no traffic: hold, never promote
    idle = models[("live", "idle")]
    assert checks(idle) == {"traffic": "hold", "error_ratio": "skip", "p99": "skip", "p99_vs_stable": "skip",
                            "queue_time": "skip"}
    assert idle["canary"]["metrics_present"] and idle["canary"]["requests"] == 0
    assert idle["reasons"] == ["too little traffic to judge: canary v2 served 0 requests over 3m, fewer than 60; "
                               "stable v1 served 0 requests over 3m, fewer than 60: no baseline"]
    assert idle["change"] is None

    # the same model without latency summaries: cannot judge p99 -> hold, not promote
    bare = models[("bare", "faithful")]
    assert checks(bare) == {"traffic": "pass", "error_ratio": "pass", "p99": "hold", "p99_vs_stable": "skip",
                            "queue_time": "pass"}
    assert bare["canary"]["latency_summaries"] is False
    assert bare["reasons"] == ["cannot judge p99: Triton exports no latency summaries for canary v2 "
                               "(run it with --metrics-config=summary_latencies=true)"]
    assert bare["canary"]["requests"] == pytest.approx(100, rel=0.05)  # its own namespace's traffic only

    # the terminal shows the verdicts and the changes
    assert "roll back live/slow:" in res.stderr
    assert "next: serving.endpoints[0].models[0].canary.weight: 10 -> 25" in res.stderr


def test_top_of_the_ladder_promotes_the_version(live, cli, tmp_path):
    prom, repos, _, _ = live
    only = {("live", "faithful"): 100, ("live", "slow"): None, ("live", "failing"): None,
            ("live", "timeout"): None, ("live", "idle"): 0, ("bare", "faithful"): None}
    res, doc = analyze(cli, stack_file(tmp_path / "Pulumi.it.yaml", repos, only), prom.url)
    assert res.returncode == 0, res.stderr
    [model] = doc["models"]
    assert model["verdict"] == "promote"
    assert checks(model)["p99_vs_stable"] == "skip"  # at 100 % stable takes no traffic by design
    path = "serving.endpoints[0].models[0]"
    assert model["change"] == {
        "action": "promote",
        "edits": [{"path": f"{path}.version", "from": 1, "to": 2},
                  {"path": f"{path}.digest", "from": digest_version(repos["live"], "faithful", 1),
                   "to": digest_version(repos["live"], "faithful", 2)}],
        "delete": [f"{path}.canary"],
        "summary": model["change"]["summary"],
    }
    assert [r["model"] for r in doc["rolled_back"]] == ["idle"]  # weight 0: listed, not analyzed


def test_holds_alone_exit_zero(live, cli, tmp_path):
    prom, repos, _, _ = live
    only = {("live", "faithful"): None, ("live", "slow"): None, ("live", "failing"): None,
            ("live", "timeout"): None}
    res, doc = analyze(cli, stack_file(tmp_path / "Pulumi.it.yaml", repos, only), prom.url)
    assert res.returncode == 0, res.stderr
    assert [(m["endpoint"], m["model"], m["verdict"]) for m in doc["models"]] == [
        ("live", "idle", "hold"), ("bare", "faithful", "hold")]


def test_bad_input_and_failing_prometheus_exit_2(live, cli, tmp_path):
    prom, repos, _, servers = live
    path = stack_file(tmp_path / "Pulumi.it.yaml", repos)
    # a Prometheus that watches another stack
    res, doc = analyze(cli, path, prom.url, stack="other")
    assert (res.returncode, doc) == (2, None)
    assert "--prometheus watches stack 'it' (external label stack), not 'other'" in res.stderr
    # nothing listening
    res, _ = analyze(cli, path, f"http://127.0.0.1:{free_port()}")
    assert res.returncode == 2 and "cannot reach Prometheus at http://127.0.0.1:" in res.stderr
    # not Prometheus: Triton's HTTP port answers the API paths with errors
    res, _ = analyze(cli, path, f"http://{servers['live'].http_url}")
    assert res.returncode == 2, res.stderr
    assert f"Prometheus at http://{servers['live'].http_url} answered HTTP 404 (error): Not Found" in res.stderr
    # a window Prometheus could not use is refused before asking
    res, _ = analyze(cli, path, prom.url, "--window", "0s")
    assert res.returncode == 2 and "--window: '0s'" in res.stderr
    assert "Traceback" not in res.stderr
