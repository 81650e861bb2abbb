"""``aiplat eval`` against the real tritonserver (the session server of conftest.py).

eval-classifier (tests/models) is served in three versions: 1 the baseline, 2 faithful
(float64 arithmetic), 3 regressed (PROBS + 0.02, LABEL shifted when FEATURES[3] > 0.9,
a failed request when FEATURES[0] < 0). The datasets' expected values are computed here
from v1's documented algorithm, so every measured value below is known in advance.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from aiplat.cli import main
from aiplat.serving.repository import digest_version
from aiplat.serving.triton_local import free_port
from tests.conftest import ROOT, TEST_MODELS, require_triton

pytestmark = pytest.mark.peer
AIPLAT = [sys.executable, "-m", "aiplat.cli"]
MODEL = "eval-classifier"
ROWS = 200
W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.2, 0.2, 0.2]], dtype=np.float32)
B = np.array([0.1, 0.0, -0.1], dtype=np.float32)


def v1(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = x @ W + B
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return p, p.argmax(axis=1)


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    return np.random.default_rng(14).random((ROWS, 4), dtype=np.float32)


def write(path, lines) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


@pytest.fixture(scope="module")
def golden(tmp_path_factory, features) -> str:
    probs, labels = v1(features)
    return write(tmp_path_factory.mktemp("eval") / "golden.jsonl", [
        {"inputs": {"FEATURES": x.tolist()}, "expected": {"PROBS": p.tolist(), "LABEL": [int(k)]}}
        for x, p, k in zip(features, probs, labels)])


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory, features) -> str:
    return write(tmp_path_factory.mktemp("eval") / "unlabeled.jsonl",
                 [{"inputs": {"FEATURES": x.tolist()}} for x in features])


def shifted_lines(features) -> list[int]:
    """Dataset lines (1-based) on which v3's label is wrong."""
    return [i + 1 for i in np.flatnonzero(features[:, 3] > 0.9)]


def run_eval(capsys, *argv) -> tuple[int, dict, str]:
    code = main(["eval", *argv, "--json", "-"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def checks(doc) -> dict:
    return {(c["threshold"], c["output"]): c for c in doc["checks"]}


def test_faithful_version_passes_against_expected(triton, golden, capsys):
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "2", "--dataset", golden,
                              "--spec", str(TEST_MODELS))
    assert code == 0, err
    assert doc["passed"] is True and doc["version"] == "2"
    assert doc["dataset"]["rows"] == ROWS and doc["dataset"]["name"] == "golden"
    with open(golden, "rb") as fh:
        assert doc["dataset"]["digest"] == "sha256:" + hashlib.sha256(fh.read()).hexdigest()
    assert doc["thresholds"] == {"max_abs_error": 0.0001, "min_accuracy": 0.99, "min_cosine": 0.999}
    assert doc["threshold_sources"] == dict.fromkeys(doc["thresholds"], "spec")
    assert list(checks(doc)) == [("max_abs_error", "PROBS"), ("min_cosine", "PROBS"), ("min_accuracy", "LABEL"),
                                 ("failed_requests", None)]
    assert all(c["passed"] for c in doc["checks"])
    assert 0 < doc["outputs"]["PROBS"]["expected"]["max_abs_error"] < 1e-6   # float64 vs float32 rounding
    assert doc["outputs"]["LABEL"]["expected"] == {"rows": ROWS, "correct": ROWS, "accuracy": 1.0}
    # rows stacked up to max_batch_size 16: 200 rows in 13 requests
    assert doc["batch_size"] == 16 and doc["requests"]["sent"] == 13 and doc["requests"]["failed"] == 0
    lat = doc["latency_ms"]
    assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert "eval PASSED: eval-classifier v2 on golden" in err


def test_regressed_version_fails_on_float_bias_and_wrong_labels(triton, golden, features, capsys):
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "3", "--dataset", golden,
                              "--spec", str(TEST_MODELS))
    assert code == 1 and doc["passed"] is False
    by = checks(doc)
    wrong = shifted_lines(features)
    assert 0 < len(wrong) < ROWS
    bias = by[("max_abs_error", "PROBS")]
    assert not bias["passed"] and bias["measured"] == pytest.approx(0.02, abs=1e-6)
    assert all(ex["abs_error"] == pytest.approx(0.02, abs=1e-6) for ex in bias["worst"])
    acc = by[("min_accuracy", "LABEL")]
    assert not acc["passed"] and acc["measured"] == pytest.approx(1 - len(wrong) / ROWS)
    assert [ex["line"] for ex in acc["worst"]] == wrong[:5]
    _, labels = v1(features)
    first = acc["worst"][0]
    assert first["expected"] == [int(labels[first["line"] - 1])]
    assert first["got"] == [(int(labels[first["line"] - 1]) + 1) % 3]
    # the bias barely turns the probability vectors: cosine still passes
    assert by[("min_cosine", "PROBS")]["passed"]
    # the table names the failed thresholds, the measured values and the worst lines
    assert "min_accuracy on LABEL: worst examples" in err
    assert f"line {wrong[0]}: expected [{int(labels[wrong[0] - 1])}]" in err
    assert "eval FAILED (2 of 4 checks): eval-classifier v3 on golden" in err


def test_against_the_baseline_version(triton, unlabeled, features, capsys):
    # faithful: agrees with v1 on every row (floats within the default tolerance 1e-6)
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "2", "--dataset", unlabeled,
                              "--baseline-version", "1", "--min-agreement", "1")
    assert code == 0, err
    assert doc["baseline"] == {"server": triton.http_url, "model": MODEL, "version": "1"}
    assert doc["outputs"]["LABEL"]["baseline"] == {"rows": ROWS, "agreeing": ROWS, "agreement": 1.0}
    assert doc["outputs"]["PROBS"]["baseline"]["max_abs_diff"] < 1e-6
    assert list(checks(doc)) == [("min_agreement", "PROBS"), ("min_agreement", "LABEL"), ("failed_requests", None),
                                 ("baseline_failed_requests", None)]

    # regressed, baseline named by URL: every PROBS row is off by the bias, LABEL on the shifted rows
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "3", "--dataset", unlabeled,
                              "--baseline-url", f"http://{triton.http_url}", "--baseline-version", "1",
                              "--min-agreement", "0.5")
    assert code == 1
    by = checks(doc)
    wrong = shifted_lines(features)
    assert by[("min_agreement", "PROBS")]["measured"] == 0.0 and not by[("min_agreement", "PROBS")]["passed"]
    assert by[("min_agreement", "PROBS")]["worst"][0]["abs_diff"] == pytest.approx(0.02, abs=1e-6)
    label = by[("min_agreement", "LABEL")]
    assert label["measured"] == pytest.approx(1 - len(wrong) / ROWS) and label["passed"]
    assert doc["outputs"]["PROBS"]["baseline"]["max_abs_diff"] == pytest.approx(0.02, abs=1e-6)
    assert "min_agreement on PROBS: worst examples" in err


def test_flags_override_the_spec(triton, golden, capsys):
    code, doc, _ = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "3", "--dataset", golden,
                            "--spec", str(TEST_MODELS / MODEL / "spec.yaml"), "--max-abs-error", "0.03",
                            "--min-accuracy", "0.5")
    assert code == 0
    assert doc["thresholds"] == {"max_abs_error": 0.03, "min_accuracy": 0.5, "min_cosine": 0.999}
    assert doc["threshold_sources"] == {"max_abs_error": "flag", "min_accuracy": "flag", "min_cosine": "spec"}


def test_failed_requests_fail_the_evaluation_with_their_lines(triton, tmp_path, features, capsys):
    x = features[:40].copy()
    x[20, 0] = -1.0        # v3 fails the request holding line 21 (rows 17..32: the second batch of 16)
    probs, labels = v1(x)
    path = write(tmp_path / "negative.jsonl", [
        {"inputs": {"FEATURES": r.tolist()}, "expected": {"LABEL": [int(k)]}} for r, k in zip(x, labels)])
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "3", "--dataset", path,
                              "--min-accuracy", "0")
    assert code == 1
    failed = checks(doc)[("failed_requests", None)]
    assert failed["measured"] == 1 and not failed["passed"]
    assert failed["worst"][0]["lines"] == list(range(17, 33))
    assert "v3 cannot handle a negative FEATURES[0]" in failed["worst"][0]["error"]
    assert doc["outputs"]["LABEL"]["expected"]["rows"] == 40 - 16   # rows without an answer are not judged
    # v1 handles the same rows
    assert main(["eval", triton.http_url, "--model", MODEL, "--version", "1", "--dataset", path,
                 "--min-accuracy", "1"]) == 0


def test_thresholds_that_cannot_be_measured_fail_and_p99_names_the_slowest_requests(triton, golden, capsys):
    code, doc, err = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "1", "--dataset", golden,
                              "--min-agreement", "0.9", "--max-p99-ms", "0.001", "--max-abs-error", "1e-6")
    assert code == 1
    by = checks(doc)
    assert not by[("min_agreement", None)]["passed"] and by[("min_agreement", None)]["measured"] is None
    assert "not measured: no baseline answers" in by[("min_agreement", None)]["note"]
    p99 = by[("max_p99_ms", None)]
    assert not p99["passed"] and p99["measured"] == doc["latency_ms"]["p99"]
    assert len(p99["worst"]) == 5 and all(len(ex["lines"]) <= 16 for ex in p99["worst"])
    assert by[("max_abs_error", "PROBS")]["passed"]
    assert "min_agreement: not measured: no baseline answers" in err


def test_text_model_string_inputs_and_cosine(triton, tmp_path, capsys):
    """text-embedder (examples): BYTES input, 16-float output; v1's algorithm as expected values."""
    texts = [f"example {i} {'x' * (i % 7)}" for i in range(30)]

    def embed_v1(text: bytes) -> list[float]:
        e = np.zeros(16, np.float32)
        for byte in text:
            e[byte % 16] += 1
        return (e / np.linalg.norm(e)).tolist()

    path = write(tmp_path / "texts.jsonl", [{"inputs": {"TEXT": [t]}, "expected": {"EMBEDDING": embed_v1(t.encode())}}
                                            for t in texts])
    code, doc, err = run_eval(capsys, triton.http_url, "--model", "text-embedder", "--version", "1",
                              "--dataset", path, "--min-cosine", "0.99999", "--max-abs-error", "1e-6")
    assert code == 0, err
    assert doc["batch_size"] == 8 and doc["requests"]["sent"] == 4
    assert doc["outputs"]["EMBEDDING"]["expected"]["cosine_min"] == pytest.approx(1.0, abs=1e-6)
    code, doc, _ = run_eval(capsys, triton.http_url, "--model", "text-embedder", "--version", "2",
                            "--dataset", path, "--min-cosine", "0.99999")
    assert code == 1
    cos = checks(doc)[("min_cosine", "EMBEDDING")]
    assert cos["measured"] < 0.99 and cos["worst"][0]["cosine"] == doc["outputs"]["EMBEDDING"]["expected"]["cosine_min"]


def test_bad_dataset_exits_2_listing_every_bad_line(triton, tmp_path, capsys):
    good = {"inputs": {"FEATURES": [0.1, 0.2, 0.3, 0.4]}, "expected": {"LABEL": [0]}}
    lines = [
        json.dumps(good),
        "not json",
        json.dumps({"inputs": {"FEATURE": [0.1, 0.2, 0.3, 0.4]}, "expected": {"LABEL": [0]}}),
        json.dumps({"inputs": {}, "expected": {"LABEL": [0]}}),
        json.dumps({"inputs": {"FEATURES": [0.1, 0.2, 0.3]}, "expected": {"LABEL": [0]}}),
        json.dumps({"inputs": {"FEATURES": ["a", 0.2, 0.3, 0.4]}, "expected": {"LABEL": [0]}}),
        json.dumps({"inputs": {"FEATURES": [0.1, 0.2, 0.3, 0.4]}, "expected": {"LABLE": [0]}}),
        "",
        json.dumps({"inputs": {"FEATURES": [0.1, 0.2, 0.3, 0.4]}, "expected": {"LABEL": [0.5]}}),
        json.dumps({"inputs": {"FEATURES": [0.1, 0.2, 0.3, 0.4]}}),
        json.dumps(good),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code = main(["eval", triton.http_url, "--model", MODEL, "--dataset", str(path), "--min-accuracy", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        f"aiplat eval: bad dataset {path} (9 problems on 8 lines):",
        "  line 2: not JSON: Expecting value: line 1 column 1 (char 0)",
        "  line 3: inputs.FEATURE: no such input (the model's inputs: FEATURES)",
        "  line 3: inputs: missing input 'FEATURES'",
        "  line 4: inputs: missing input 'FEATURES'",
        "  line 5: inputs.FEATURES: shape [3], the model's is [4]",
        "  line 6: inputs.FEATURES: FP32 takes numbers, found a string",
        "  line 7: expected.LABLE: no such output (the model's outputs: PROBS, LABEL)",
        "  line 9: expected.LABEL: INT64 takes integers, found a number 0.5",
        '  line 10: no expected outputs: give "expected" or compare with a baseline (--baseline-version / '
        "--baseline-url)",
    ]


def test_unreachable_and_hung_servers_exit_2_within_the_deadline(golden):
    require_triton()
    port = free_port()  # nothing listens here
    # The subprocess timeout is the deadline: a hang fails the test instead of the suite.
    proc = subprocess.run(AIPLAT + ["eval", f"127.0.0.1:{port}", "--model", MODEL, "--dataset", golden,
                                    "--min-accuracy", "1", "--timeout", "2"],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 2
    assert f"cannot reach Triton at 127.0.0.1:{port}: ConnectionRefusedError" in proc.stderr
    # A server that accepts connections and never answers: the network timeout ends it.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"127.0.0.1:{hung.getsockname()[1]}"
        proc = subprocess.run(AIPLAT + ["eval", url, "--model", MODEL, "--dataset", golden, "--min-accuracy", "1",
                                        "--timeout", "1"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 2
    assert f"cannot reach Triton at {url}: TimeoutError" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_errors_exit_2(triton, golden, capsys):
    base = ["eval", triton.http_url, "--model", MODEL, "--dataset", golden]
    assert main(base) == 2
    assert "no thresholds to gate on" in capsys.readouterr().err
    assert main(base + ["--min-accuracy", "1.5"]) == 2
    assert "--min-accuracy: Input should be less than or equal to 1" in capsys.readouterr().err
    assert main(base + ["--version", "9", "--min-accuracy", "1"]) == 2
    assert "eval-classifier v9 at" in capsys.readouterr().err
    assert main(base + ["--spec", str(TEST_MODELS.parent / "models" / "nope.yaml")]) == 2
    assert main(base + ["--min-accuracy", "1", "--version", "1", "--baseline-version", "1"]) == 2
    assert "the baseline is the evaluated version itself" in capsys.readouterr().err
    assert main(base + ["--min-accuracy", "1", "--batch-size", "17"]) == 2
    assert "exceeds the model's max_batch_size 16" in capsys.readouterr().err


def test_report_carries_the_evaluated_artifact_digest(triton, serving_repo, golden, capsys):
    code, doc, _ = run_eval(capsys, triton.http_url, "--model", MODEL, "--version", "2", "--dataset", golden,
                            "--min-accuracy", "1", "--repository", str(serving_repo))
    assert code == 0
    assert doc["model_digest"] == digest_version(serving_repo, MODEL, 2)


def test_real_reports_in_the_catalog_gate_the_policy(triton, serving_repo, golden, tmp_path, capsys):
    """aiplat eval (real Triton) -> aiplat models approve --evaluation -> model-approval through the analyzer."""
    from aiplat.policies import offline
    from tests.policy_steps import eu_config, good_aws_eu, models_annotation

    digests = {v: digest_version(serving_repo, MODEL, v) for v in (1, 2, 3)}
    catalog = tmp_path / "approved.yaml"
    catalog.write_text("source: test approvals\ndate: 2026-12-01\nmodels:\n" + "".join(
        f"  - {{name: {MODEL}, version: '{v}', digest: '{d}', classifications: [internal, confidential, "
        f"restricted], approver: jane@example.com, expires: 2099-12-31}}\n" for v, d in digests.items()))
    for version, expect in (("2", 0), ("3", 1)):
        report = tmp_path / f"v{version}.json"
        assert main(["eval", triton.http_url, "--model", MODEL, "--version", version, "--dataset", golden,
                     "--dataset-name", "golden-v3", "--spec", str(TEST_MODELS), "--repository", str(serving_repo),
                     "--json", str(report)]) == expect
        assert main(["models", "approve", "--model", MODEL, "--version", version, "--evaluation", str(report),
                     "--catalog", str(catalog)]) == 0
    capsys.readouterr()
    # a report of v2 is no evidence for v3
    assert main(["models", "approve", "--model", MODEL, "--version", "3", "--evaluation", str(tmp_path / "v2.json"),
                 "--catalog", str(catalog)]) == 2

    def verdicts(stable: str, canary: str) -> list:
        g = good_aws_eu()
        for name, version, track in (("triton", stable, "stable"), ("triton-canary", canary, "canary")):
            g.inputs(name)["metadata"]["annotations"]["aiplat.io/models"] = models_annotation(
                {"name": MODEL, "version": version, "digest": digests[int(version)], "track": track})
        cfg = eu_config(tmp_path, catalog, model_approval={
            "dataClassification": "restricted", "requireEvaluation": {"confidential": {"dataset": "golden-v3"}}})
        return offline.evaluate(g.steps, "fixture", cfg).by_policy("model-approval")

    assert verdicts("2", "2") == []
    (failing,) = verdicts("2", "3")
    assert failing.name == "triton-canary"
    assert (f"canary model {MODEL} version 3 failed its evaluation on dataset 'golden-v3' (" in failing.message
            and "max_abs_error on PROBS 0.02 (limit 0.0001); min_accuracy on LABEL" in failing.message)
    (missing,) = verdicts("1", "2")
    assert missing.name == "triton"
    assert f"stable model {MODEL} version 1 has no evaluation on dataset 'golden-v3'" in missing.message


def test_the_example_dataset_passes_the_example_spec(triton, capsys):
    examples = ROOT / "serving" / "examples"
    code, doc, err = run_eval(capsys, triton.http_url, "--model", "linear-classifier",
                              "--dataset", str(examples / "datasets" / "linear-classifier.jsonl"),
                              "--spec", str(examples / "models"))
    assert code == 0, err
    assert doc["dataset"]["rows"] == 64 and doc["version"] == "1"
    assert doc["thresholds"] == {"max_abs_error": 1e-05, "min_accuracy": 1.0, "min_cosine": 0.9999}
