"""Against the real tritonserver (CPU, Python backend) from the nvidia-pytriton wheel.

One server for the session (``triton`` in conftest.py) serves the repository built from the
specs (so the generated config.pbtxt is what Triton loads); tests that need a dead or broken
server start their own, short-lived ones on the example repository.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aiplat.cli import main
from aiplat.serving import repository
from aiplat.serving.loadtest import loadtest
from aiplat.serving.modelspec import load_spec, parse_pbtxt
from aiplat.serving.triton_local import TritonServer, TritonStartError
from tests.conftest import require_triton

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "serving" / "examples" / "models"
AIPLAT = [sys.executable, "-m", "aiplat.cli"]

pytestmark = pytest.mark.peer


@pytest.fixture(scope="session")
def example_repo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("triton") / "repo"
    repository.build(EXAMPLES, out)
    return out


@pytest.fixture(scope="session")
def client(triton):
    import tritonclient.http as httpclient

    c = httpclient.InferenceServerClient(triton.http_url, connection_timeout=10, network_timeout=10)
    yield c
    c.close()


def test_generated_config_is_what_triton_loaded(triton, client, example_repo):
    spec = load_spec(EXAMPLES / "text-embedder" / "spec.yaml")
    assert parse_pbtxt((example_repo / "text-embedder" / "config.pbtxt").read_text()) == spec.to_config()
    served = client.get_model_config("text-embedder")
    assert served["backend"] == "python" and served["max_batch_size"] == 8
    assert served["version_policy"] == {"specific": {"versions": [1, 2]}}
    assert served["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert served["dynamic_batching"]["default_queue_policy"]["max_queue_size"] == 64
    assert served["dynamic_batching"]["default_queue_policy"]["timeout_action"] == "REJECT"
    assert [(g["kind"], g["count"]) for g in served["instance_group"]] == [("KIND_CPU", 1)]


def test_two_versions_served_under_specific_policy(client):
    import tritonclient.http as httpclient

    index = {(m["name"], m["version"]): m["state"] for m in client.get_model_repository_index()}
    assert index[("text-embedder", "1")] == "READY" and index[("text-embedder", "2")] == "READY"
    assert client.get_model_metadata("text-embedder")["versions"] == ["1", "2"]

    text = b"hello"
    inp = httpclient.InferInput("TEXT", [1, 1], "BYTES")
    inp.set_data_from_numpy(np.array([[text]], dtype=np.object_))
    v1 = client.infer("text-embedder", [inp], model_version="1").as_numpy("EMBEDDING")
    v2 = client.infer("text-embedder", [inp], model_version="2").as_numpy("EMBEDDING")
    assert v1.shape == v2.shape == (1, 16)

    # The two versions' documented algorithms, computed here: which version answered is
    # visible in the numbers, not only in the metadata.
    e1 = np.zeros(16, np.float32)
    for byte in text:
        e1[byte % 16] += 1
    padded = b"^" + text + b"$"
    e2 = np.zeros(16, np.float32)
    for a, b in zip(padded, padded[1:]):
        e2[(a * 31 + b) % 16] += 1
    np.testing.assert_allclose(v1[0], e1 / np.linalg.norm(e1), rtol=1e-6)
    np.testing.assert_allclose(v2[0], e2 / np.linalg.norm(e2), rtol=1e-6)


@pytest.mark.parametrize("model, version", [("text-embedder", "1"), ("text-embedder", "2"),
                                            ("linear-classifier", "")])
def test_smoke_passes(triton, model, version, capsys):
    argv = ["smoke", triton.http_url, "--model", model, "--batch-size", "3", "--json", "-"]
    if version:
        argv += ["--version", version]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    assert [c["check"] for c in result["checks"]] == ["live", "ready", "metadata", "infer", "output-shapes"]


def test_smoke_fails_with_exit_1_for_a_version_not_served(triton, capsys):
    assert main(["smoke", triton.http_url, "--model", "text-embedder", "--version", "3"]) == 1
    out = capsys.readouterr().out
    assert "FAIL ready: model 'text-embedder' version 3 not ready" in out


def test_loadtest_passes_and_writes_json(triton, tmp_path, capsys):
    path = tmp_path / "load.json"
    assert main(["loadtest", f"http://{triton.http_url}", "--model", "linear-classifier",
                 "--concurrency", "4", "--duration", "2", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["ok"] is True and result["errors"] == 0 and result["requests"] > 0
    assert result["concurrency"] == 4 and result["aborted"] == ""
    lat = result["latency_ms"]
    assert set(lat) == {"p50", "p95", "p99", "mean", "max"}
    assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert "latency ms: p50" in capsys.readouterr().out


def test_loadtest_on_string_model_version(triton):
    res = loadtest(triton.http_url, "text-embedder", version="2", concurrency=2, duration=1,
                   batch_size=4)
    assert res.ok and res.batch_size == 4 and res.errors == 0


def test_broken_model_config_gives_clear_error(tmp_path, capsys):
    require_triton()
    repo = tmp_path / "repo"
    repository.build(EXAMPLES, repo)
    cfg = repo / "linear-classifier" / "config.pbtxt"
    # Valid syntax, valid fields: only Triton can tell that this backend does not exist.
    cfg.write_text(cfg.read_text().replace('backend: "python"', 'backend: "no_such_backend"'))
    with pytest.raises(TritonStartError) as exc:
        TritonServer(repo, ready_timeout=60).start()
    message = str(exc.value)
    assert message.startswith("tritonserver exited with code")
    assert "linear-classifier" in message and "no_such_backend" in message

    # A mistake our validator knows about never reaches Triton: exit 2, path and reason.
    cfg.write_text(cfg.read_text().replace("dims: 4", "dims: -4"))
    assert main(["serve", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "linear-classifier/config.pbtxt:input[0].dims[0]: -4 is not a valid dim" in err
    assert "Traceback" not in err


def test_loadtest_against_stopped_server_exits_nonzero_within_deadline(example_repo):
    require_triton()
    server = TritonServer(example_repo, ready_timeout=120).start()
    url = server.http_url
    server.stop()
    # The subprocess timeout is the deadline: a hang fails the test instead of the suite.
    proc = subprocess.run(AIPLAT + ["loadtest", url, "--model", "linear-classifier",
                                    "--concurrency", "4", "--duration", "3", "--timeout", "2"],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 1
    assert "loadtest FAILED: preflight failed: ConnectionRefusedError" in proc.stdout


def test_loadtest_counts_errors_when_server_crashes_mid_run(example_repo):
    require_triton()
    server = TritonServer(example_repo, ready_timeout=120).start()
    box = {}
    worker = threading.Thread(target=lambda: box.update(res=loadtest(
        server.http_url, "linear-classifier", concurrency=2, duration=4, timeout=2)))
    try:
        worker.start()
        time.sleep(1.5)
        # A crash, not a graceful stop (SIGTERM drains: Triton keeps serving open
        # connections until its exit timeout).
        os.killpg(server.proc.pid, signal.SIGKILL)
    finally:
        server.stop()
    worker.join(30)
    assert not worker.is_alive()
    res = box["res"]
    assert res.requests > 0 and res.errors > 0 and not res.ok
    assert res.error_samples


def test_serve_cli_runs_until_interrupted(example_repo):
    require_triton()
    from aiplat.serving.triton_local import free_port

    port = free_port()
    proc = subprocess.Popen(AIPLAT + ["serve", str(example_repo), "--http-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()  # bounded by --ready-timeout inside serve
        assert line.startswith(f"triton ready: http 127.0.0.1:{port}")
        assert main(["smoke", f"127.0.0.1:{port}", "--model", "linear-classifier"]) == 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_load_request_is_what_tritonclient_sends_and_triton_answers_it(triton):
    """The load generator's bytes are tritonclient's own request; a response is checked as it should be."""
    import tritonclient.http as httpclient

    from aiplat.serving.loadtest import InferRequest, _Connection
    from aiplat.serving.smoke import ModelIO

    client = httpclient.InferenceServerClient(triton.http_url)
    io = ModelIO.fetch(client, "linear-classifier")
    request = InferRequest.build(f"http://{triton.http_url}", "linear-classifier", "", io, 3)
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        io.build_inputs(3), outputs=io.requested_outputs())
    assert request.payload.endswith(b"\r\n\r\n" + body)
    assert f"Inference-Header-Content-Length: {json_size}".encode() in request.payload
    conn = _Connection(request.host, request.port, 5)
    try:
        for _ in range(3):  # keep-alive: the same connection answers again
            status, header_len, answer = conn.exchange(request.payload)
            assert request.check(status, header_len, answer) is None
        wrong = InferRequest(request.host, request.port, request.payload, ("PROBS", "NOPE"), 3)
        assert wrong.check(*conn.exchange(request.payload)) == "output NOPE missing from the response"
        bad_batch = InferRequest(request.host, request.port, request.payload, ("PROBS",), 4)
        assert bad_batch.check(*conn.exchange(request.payload)) == "output PROBS: batch dim [3], expected 4"
        missing = request.payload.replace(b"/v2/models/linear-classifier/infer", b"/v2/models/no-such-model/infer")
        status, header_len, answer = conn.exchange(missing)
        assert status == 404 and request.check(status, header_len, answer).startswith("HTTP 404: ")
    finally:
        conn.close()
