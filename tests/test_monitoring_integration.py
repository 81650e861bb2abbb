"""Monitoring as deployed: a real Triton run with its Deployment's own args, a real Prometheus scraping it
through prometheus-operator's relabeling and evaluating the PrometheusRule and dashboards the stack deploys.

The stack is ``dev``'s with one endpoint, ``it``, serving the example ``linear-classifier`` and a
test model ``overflow`` (0.1 s per batch of up to 4, a queue of 8: easy to overload), and an SLO
for the test (a 10 µs p99 SLA no request can meet, 2-3 s ``for:``, 10 s rate windows). It is
recorded with the project's program under the recording engine, and everything comes from that
graph: the Triton Deployment's container args, its Services and ServiceMonitor (turned into the
scrape job prometheus-operator v0.83.0 generates, ``tests._operator``), the PrometheusRule, the
dashboards' ConfigMaps, the KEDA trigger's query and Prometheus's external labels. Only what
cannot be the cluster's is replaced, and the test asserts it is only that: each
``--model-repository`` (a bucket prefix) by a local single-version repository of that model
version built from the same sources, the three ports by free local ones, the ServiceMonitor's
15 s interval by 1 s (and rule evaluation every 1 s) to keep the test short.

Idle, nothing fires. Under a closed-loop load on ``linear-classifier`` the p99 alert goes pending,
then firing, for that model only, and every dashboard query that needs only Triton metrics has
data. Under overload of ``overflow`` Triton refuses most requests with 503 "Exceeds maximum
queue size" while none of its failure counters moves (the error ratio reads 0), and
``TritonQueueFull`` fires with the queue-fill panel at or above 90 %. Every wait is bounded;
both processes are stopped at teardown.
"""

from __future__ import annotations

import collections
import json
import math
import re
import shutil
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

from aiplat.serving.loadtest import loadtest
from aiplat.serving.repository import build, digest_version
from aiplat.serving.triton_local import LOCAL_RUN_FLAGS, TritonServer, free_port
from tests._operator import discovered, scrape_config
from tests._peers import PROMETHEUS, SKIP_REASON, TRITON_MISSING, Prometheus, wait_for
from tests._project import run_stack, stack_config

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON),
    pytest.mark.skipif(bool(TRITON_MISSING), reason=f"tritonserver not installed: {TRITON_MISSING}"),
]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "serving" / "examples" / "models"
STACK, REGION, ENDPOINT = "it", "us-east-1", "it"
NAMESPACE = f"triton-{ENDPOINT}"
LOADED, OVERFLOW = "linear-classifier", "overflow"
OVERFLOW_QUEUE = 8
SLO = {"p99_latency_ms": 0.01, "latency_for": "2s", "error_for": "3s", "rate_window": "10s"}
PORT_FLAGS = ("--http-port", "--grpc-port", "--metrics-port")

DEPLOY, SVC = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
RULE, CONFIGMAP = "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "kubernetes:core/v1:ConfigMap"
SCALER, HELM = "kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:helm.sh/v3:Release"


# -- the stack and its graph ------------------------------------------------------------------
def write_overflow_model(src: Path) -> None:
    d = src / OVERFLOW
    (d / "1").mkdir(parents=True)
    (d / "1" / "model.py").write_text(textwrap.dedent('''\
        import time

        import numpy as np
        import triton_python_backend_utils as pb_utils


        class TritonPythonModel:
            def execute(self, requests):
                time.sleep(0.1)  # one slow batch: the model serves at most 40 requests/s
                return [pb_utils.InferenceResponse([pb_utils.Tensor(
                    "Y", (2 * pb_utils.get_input_tensor_by_name(r, "X").as_numpy()).astype(np.float32))])
                    for r in requests]
        '''))
    (d / "spec.yaml").write_text(yaml.safe_dump({
        "name": OVERFLOW, "backend": "python", "max_batch_size": 4,
        "inputs": [{"name": "X", "data_type": "TYPE_FP32", "dims": [1]}],
        "outputs": [{"name": "Y", "data_type": "TYPE_FP32", "dims": [1]}],
        "dynamic_batching": {"max_queue_delay_microseconds": 0,
                             "queue_policy": {"max_queue_size": OVERFLOW_QUEUE, "timeout_action": "REJECT"}},
        "instance_groups": [{"kind": "KIND_CPU", "count": 1}],
        "version_policy": {"kind": "latest", "num_versions": 1},
    }))


def single_version_repository(sources: Path, model: str, version: int, out: Path) -> Path:
    """The repository the Deployment's prefix holds for one model version (aiplat.triton docstring):
    ``<model>/config.pbtxt`` with a specific policy on that version, and ``<model>/<version>/``."""
    src = out.parent / f".src-{model}-v{version}" / model
    shutil.copytree(sources / model / str(version), src / str(version))
    spec = yaml.safe_load((sources / model / "spec.yaml").read_text())
    spec["version_policy"] = {"kind": "specific", "versions": [version]}
    (src / "spec.yaml").write_text(yaml.safe_dump(spec))
    build(src.parent, out)
    return out


def stack_with_test_endpoint(repos: dict[tuple[str, int], Path], model_repository: Path) -> dict:
    """dev's stack file with the test endpoint and SLO, publishing from ``model_repository``."""
    config = stack_config("dev")
    platform = config["aiplat:platform"]
    platform["serving"]["model_repository"] = str(model_repository)
    for section in ("gateway", "vector_store"):  # not what this test is about; quicker to record
        platform.pop(section, None)
    platform["monitoring"]["slo"] = SLO
    platform["serving"]["endpoints"] = [{
        "name": ENDPOINT, "pool": platform["regions"][0]["gpu_pools"][0]["name"],
        "min_replicas": 1, "max_replicas": 1,
        "models": [{"name": m, "version": v, "digest": digest_version(repos[(m, v)], m, v),
                    "max_queue_size": 128 if m == LOADED else OVERFLOW_QUEUE}
                   for (m, v) in repos],
    }]
    return config


def one(rec, type_: str, name: str) -> dict:
    (r,) = [r for r in rec.of_type(type_) if r.inputs["metadata"]["name"] == name
            and r.inputs["metadata"].get("namespace") in (NAMESPACE, "monitoring")]
    return r.inputs


def local_args(args: list[str], repos: dict[str, Path], ports: dict[str, int]) -> list[str]:
    """The Deployment's args with the bucket prefixes and ports replaced by local ones, nothing else."""
    out = []
    for a in args:
        flag, _, value = a.partition("=")
        if flag == "--model-repository":
            out.append(f"{flag}={repos[value]}")
        elif flag in PORT_FLAGS:
            out.append(f"{flag}={ports[flag]}")
        else:
            out.append(a)
    return out


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """(triton, prometheus, recorded pieces) for the test stack, both processes running."""
    work = tmp_path_factory.mktemp("monitoring-it")
    sources = work / "sources"
    shutil.copytree(EXAMPLES / LOADED, sources / LOADED)
    write_overflow_model(sources)
    built = {(m, 1): single_version_repository(sources, m, 1, work / "built" / f"{m}-v1") for m in (LOADED, OVERFLOW)}
    # the repository the program publishes from: both test models as `aiplat models build` lays them out
    build(sources, work / "built" / "all")
    rec = run_stack(STACK, stack_with_test_endpoint(built, work / "built" / "all"))

    deployment = one(rec, DEPLOY, "triton-stable")
    pod_spec = deployment["spec"]["template"]["spec"]
    # Triton, and on AWS the TLS sidecar the ALB reaches it through (aiplat.triton._tls)
    assert [c["name"] for c in pod_spec["containers"]] == ["triton", "tls-proxy"]
    container = pod_spec["containers"][0]
    assert container["command"] == ["tritonserver"]
    dep_args = container["args"]
    by_prefix = {}
    for a in dep_args:
        if a.startswith("--model-repository="):
            m = re.fullmatch(r"--model-repository=s3://[a-z0-9.-]+/(?P<model>[^/]+)/v(?P<version>\d+)", a)
            by_prefix[a.split("=", 1)[1]] = built[(m["model"], int(m["version"]))]
    ports = {f: free_port() for f in PORT_FLAGS}
    args = local_args(dep_args, by_prefix, ports)
    changed = [(d.partition("=")[0], loc.partition("=")[0]) for d, loc in zip(dep_args, args) if d != loc]
    assert len(args) == len(dep_args) and sorted(f for f, _ in changed) == sorted(
        ["--model-repository"] * 2 + list(PORT_FLAGS)), changed

    # container port number -> local address, through the flag that binds it
    flag_of = {8000: "--http-port", 8001: "--grpc-port", 8002: "--metrics-port"}
    assert {p["containerPort"]: f"--{p['name']}-port" for p in container["ports"]} == flag_of
    address = {n: f"127.0.0.1:{ports[f]}" for n, f in flag_of.items()}
    # The TLS sidecar does not run here: its port gets an address nothing serves, so a scrape job that
    # kept it (the ServiceMonitor's relabeling must not) would show a target down.
    sidecar = pod_spec["containers"][1]
    address.update({p["containerPort"]: f"127.0.0.1:{free_port()}" for p in sidecar.get("ports", [])})
    services = [r.inputs for r in rec.of_type(SVC) if r.inputs["metadata"]["namespace"] == NAMESPACE]
    pod = {"name": "triton-stable-6c9f8d7b5d-q2x7p", "namespace": NAMESPACE,
           "labels": deployment["spec"]["template"]["metadata"]["labels"], "containers": pod_spec["containers"]}
    release = next(r.inputs for r in rec.of_type(HELM) if r.inputs["chart"] == "kube-prometheus-stack")
    prom_spec = release["values"]["prometheus"]["prometheusSpec"]
    job = scrape_config(one(rec, MONITOR, "triton"), 0, prom_spec, discovered(services, pod, address))
    assert job["scrape_interval"] == "15s"
    job["scrape_interval"] = "1s"  # the one deliberate change: 1 s scrapes keep the test short

    rules_file = work / "rules.yml"
    rules_file.write_text(yaml.safe_dump(one(rec, RULE, "aiplat-slo")["spec"]))
    boards = {kind: json.loads(one(rec, CONFIGMAP, f"aiplat-dashboard-{kind}")["data"][f"aiplat-{kind}.json"])
              for kind in ("operations", "engineering", "finance")}
    keda = one(rec, SCALER, "triton-stable")["spec"]["triggers"][0]["metadata"]["query"]

    triton = TritonServer.with_args(args)
    prom = None
    try:
        triton.start()
        assert triton.command(Path("B"))[1:] == ["--backend-directory=B", *(
            f"--{f}=127.0.0.1" for f in ("http-address", "grpc-address", "metrics-address")),
            "--exit-timeout-secs=5", *args]
        assert [f for f in LOCAL_RUN_FLAGS if any(a.startswith(f"--{f}") for a in dep_args)] == []
        prom = Prometheus(work, {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "external_labels": prom_spec["externalLabels"]},
            "rule_files": [str(rules_file)],
            "scrape_configs": [job],
        }).start()
        yield {"triton": triton, "prom": prom, "boards": boards, "keda": keda, "pod": pod["name"],
               "metrics": address[8002]}
    finally:
        if prom is not None:
            prom.stop()
        triton.stop()


# -- helpers ----------------------------------------------------------------------------------
def _rfc3339(ts: str) -> datetime:
    # Prometheus prints nanoseconds; datetime takes microseconds.
    head, _, frac = ts.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}").replace(tzinfo=timezone.utc)


def alerts_named(prom: Prometheus, name: str, state: str | None = None) -> list[dict]:
    return [a for a in prom.alerts() if a["labels"]["alertname"] == name and state in (None, a["state"])]


def finite(rows: list[dict]) -> list[float]:
    return [float(r["value"][1]) for r in rows if not math.isnan(float(r["value"][1]))]


# PromQL words that are not metric names (functions are recognised by the "(" after them).
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads: identifiers outside strings, matchers and ranges, not functions."""
    bare = re.sub(r'"(\\.|[^"\\])*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()", bare)
    return {n for n in names if n not in _KEYWORDS}


def triton_only_targets(boards: dict) -> list[tuple[str, str, dict]]:
    """(board, panel title, target) of every dashboard query that needs only what Triton's scrape gives."""
    return [(kind, p["title"], t) for kind, b in boards.items() for p in b["panels"] for t in p["targets"]
            if all(n.startswith("nv_") or n == "up" for n in metric_names(t["expr"]))]


def grafana_expr(expr: str, models: list[str]) -> str:
    """The query Grafana sends with the model variable at "All": a regex of every value, its regex
    characters escaped with a doubled backslash as inside a PromQL string."""
    escape = lambda m: re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\\\1", m)  # noqa: E731
    return expr.replace("$model", "(" + "|".join(escape(m) for m in sorted(models)) + ")")


class Overload:
    """``workers`` closed-loop clients on one model; refusals are counted and retried after a pause."""

    def __init__(self, url: str, model: str, workers: int):
        self.url, self.model, self.workers = url, model, workers
        self.outcome: collections.Counter = collections.Counter()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _run(self) -> None:
        import tritonclient.http as httpclient

        client = httpclient.InferenceServerClient(self.url, connection_timeout=10, network_timeout=30)
        x = httpclient.InferInput("X", [1, 1], "FP32")
        x.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
        try:
            while not self.stop.is_set():
                try:
                    client.infer(self.model, [x])
                    kind = "ok"
                except Exception as exc:  # noqa: BLE001 - what the server answered is the point
                    kind = "queue full" if "Exceeds maximum queue size" in str(exc) else f"other: {exc}"
                with self._lock:
                    self.outcome[kind] += 1
                if kind != "ok":
                    time.sleep(0.05)  # a refused client retries, but does not spin
        finally:
            client.close()

    def __enter__(self) -> "Overload":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "an overload client outlived its deadline"


# -- the test ------------------------------------------------------------------------------------
EXPECTED_TRITON_PANELS = [
    ("operations", "Metrics targets up"), ("operations", "Metrics targets up"), ("operations", "Models loaded"),
    *[("operations", "Request latency p50 / p95 / p99 (worst replica)")] * 3,
    ("operations", "Throughput (requests/s)"), ("operations", "Error ratio"),
    ("operations", "Failures by reason (requests/s)"),
    ("operations", "Queue fill (busiest replica, share of max_queue_size)"),
    ("engineering", "Queue vs compute time per request"), ("engineering", "Queue vs compute time per request"),
    ("engineering", "Inferences per execution (mean batch size)"), ("engineering", "Executions/s"),
    ("engineering", "Queue time p99 (worst replica)"),
]


def test_monitoring_as_deployed_sees_the_sla_breach_and_the_overload(deployed):
    triton, prom = deployed["triton"], deployed["prom"]

    # Scraped as the operator's job does: only the metrics port of the Service, with its labels.
    up = wait_for("the Triton target up", lambda: [r for r in prom.query("up") if r["value"][1] == "1"], timeout=60)
    assert [r["metric"] for r in up] == [{
        "__name__": "up", "job": "triton", "instance": deployed["metrics"], "namespace": NAMESPACE,
        "service": "triton", "pod": deployed["pod"], "container": "triton", "endpoint": "metrics",
        "aiplat_io_track": "stable"}]
    targets = prom.api("targets", state="any")
    assert len(targets["activeTargets"]) == 1  # the metrics port; dropped: http, grpc, the sidecar's https
    assert sorted(t["discoveredLabels"]["__meta_kubernetes_endpoint_port_name"] for t in targets["droppedTargets"]) \
        == ["grpc", "http", "https"]

    # Idle: several scrapes of the real p99 series (NaN: an empty Triton window) and a rule
    # evaluation after them; then nothing fires, of any tier.
    series = f'nv_inference_request_summary_us{{quantile="0.99",model="{LOADED}"}}'
    wait_for(f"5 scrapes of {series}", lambda: prom.query(f"count_over_time({series}[1m]) >= 5"), timeout=60)
    scraped_at = datetime.now(timezone.utc)
    wait_for("a rule evaluation after the scrapes", lambda: (
        _rfc3339(prom.rule("TritonP99LatencyHigh")["lastEvaluation"]) > scraped_at), timeout=30)
    idle_rule = prom.rule("TritonP99LatencyHigh")
    assert (idle_rule["health"], idle_rule["state"]) == ("ok", "inactive"), idle_rule
    assert [v["value"][1] for v in prom.query(series)] == ["NaN"]  # exported (summaries on), no traffic
    assert prom.alerts() == []

    # SLA breach: a bounded closed-loop run; the p99 alert goes pending, then firing, for that model.
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(run=loadtest(triton.http_url, LOADED, concurrency=2, duration=20)), daemon=True)
    worker.start()
    try:
        pending = wait_for("TritonP99LatencyHigh pending", lambda: alerts_named(prom, "TritonP99LatencyHigh"),
                           timeout=60)
        firing = wait_for("TritonP99LatencyHigh firing",
                          lambda: alerts_named(prom, "TritonP99LatencyHigh", "firing"), timeout=60)
        # every dashboard query that needs only Triton metrics has data, as Grafana asks it
        now = time.time()
        models = prom.api("label/model/values", **{"match[]": "nv_inference_request_success"})
        assert sorted(models) == [LOADED, OVERFLOW]
        panels = triton_only_targets(deployed["boards"])
        assert [(kind, title) for kind, title, _ in panels] == EXPECTED_TRITON_PANELS
        empty = [(kind, title, t["expr"]) for kind, title, t in panels
                 if not finite(prom.query(grafana_expr(t["expr"], models), time=now))]
        assert empty == []
        # KEDA's trigger reads the namespace and track labels the relabeling adds
        assert finite(prom.query(deployed["keda"], time=now))
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive(), "load test outlived its deadline"
    assert result["run"].ok, result["run"].as_dict()
    assert pending and [a["labels"] for a in firing] == [{
        "alertname": "TritonP99LatencyHigh", "severity": "critical", "stack": STACK,
        "model": LOADED, "version": "1"}]
    alert = firing[0]
    assert float(alert["value"]) > 0.01  # p99 in ms, above the 10 µs SLA
    assert alert["annotations"]["description"].endswith("ms (threshold: 0.01 ms for 2s), worst replica.")
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks.md#tritonp99latencyhigh")

    # Overload: 32 clients against a model serving 40 requests/s with a queue of 8.
    fill = next(t for kind, title, t in triton_only_targets(deployed["boards"]) if title.startswith("Queue fill"))
    with Overload(triton.http_url, OVERFLOW, workers=32) as load:
        full = wait_for("TritonQueueFull firing", lambda: alerts_named(prom, "TritonQueueFull", "firing"),
                        timeout=90)
        filled = {r["metric"]["model"]: float(r["value"][1])
                  for r in prom.query(grafana_expr(fill["expr"], [LOADED, OVERFLOW]))}
    assert [a["labels"] for a in full] == [{
        "alertname": "TritonQueueFull", "severity": "critical", "stack": STACK, "namespace": NAMESPACE,
        "model": OVERFLOW, "version": "1"}]
    assert float(full[0]["value"]) >= 0.9 * OVERFLOW_QUEUE
    assert f"of max_queue_size {OVERFLOW_QUEUE} for 3s" in full[0]["annotations"]["description"]
    assert filled[OVERFLOW] >= 0.9 and filled[LOADED] < 0.9
    # what the clients saw: most refused at once with 503 "Exceeds maximum queue size" ...
    assert set(load.outcome) == {"ok", "queue full"}, load.outcome
    assert load.outcome["queue full"] > load.outcome["ok"] > 0
    # ... and what Triton counted: every success, not one of those refusals
    wait_for("the last scrape", lambda: finite(prom.query(
        f'sum(nv_inference_request_success{{model="{OVERFLOW}"}}) >= {load.outcome["ok"]}')), timeout=30)
    assert finite(prom.query(f'sum(nv_inference_request_failure{{model="{OVERFLOW}"}})')) == [0.0]
    assert alerts_named(prom, "TritonErrorRatioHigh") == []
