"""`aiplat models approve --model M --version V --evaluation REPORT`: an aiplat eval report recorded on an
approved version of the catalog, and every way a report can be refused (exit 2, catalog untouched)."""

from __future__ import annotations

import hashlib
import json

import pytest

from aiplat.cli import main
from aiplat.policies.model_approval import load_catalog
from tests.policy_steps import CANARY, STABLE, approved_catalog, digest
from tests.policy_steps import eval_report as report


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "approved.yaml"
    path.write_text("# reviewed by the board\n" + approved_catalog())
    return path


def attach(tmp_path, catalog, doc, model="llm", version="3", name="report.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return main(["models", "approve", "--model", model, "--version", version, "--evaluation", str(path),
                 "--catalog", str(catalog)]), path


def test_report_is_recorded_on_the_entry(tmp_path, catalog, capsys):
    code, path = attach(tmp_path, catalog, report())
    assert code == 0
    assert capsys.readouterr().out.startswith(
        "recorded evaluation of llm version 3 on dataset golden-v3 (sha256:")
    entry = load_catalog(catalog).find("llm", "3")
    (rec,) = entry.evaluations
    assert rec.model_dump(mode="json") == {
        "dataset": "golden-v3", "dataset_digest": digest("golden"), "rows": 200, "passed": True,
        "evaluated": "2026-11-30T10:00:00Z", "server": "10.0.0.7:8000", "model_digest": STABLE["digest"],
        "baseline": "10.0.0.7:8000 llm v2", "thresholds": {"max_abs_error": 0.0001, "min_agreement": 0.98},
        "checks": [
            {"threshold": "max_abs_error", "output": "PROBS", "limit": 0.0001, "measured": 6e-08, "passed": True},
            {"threshold": "min_agreement", "output": "LABEL", "limit": 0.98, "measured": 0.99, "passed": True},
            {"threshold": "failed_requests", "output": None, "limit": 0.0, "measured": 0.0, "passed": True}],
        "metrics": {"PROBS": {"max_abs_error": 6e-08, "mean_abs_error": 1e-08},
                    "LABEL": {"agreeing": 198, "agreement": 0.99},
                    "latency_ms": {"p50": 1.2, "p95": 3.4, "p99": 5.6, "mean": 1.5, "max": 7.0},
                    "requests": {"sent": 13, "failed": 0}},
        "report_digest": "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert load_catalog(catalog).find("llm", "4").evaluations == []
    text = catalog.read_text()
    assert text.startswith("# reviewed by the board\n") and text.count("evaluations:") == 1


def test_a_new_report_on_the_same_dataset_replaces_the_old_one(tmp_path, catalog, capsys):
    assert attach(tmp_path, catalog, report())[0] == 0
    failing = report(passed=False, date="2026-12-01T09:00:00Z")
    failing["checks"][1] = {**failing["checks"][1], "measured": 0.9, "passed": False}
    assert attach(tmp_path, catalog, failing)[0] == 0   # recorded: the policy is the gate
    assert "FAILED (min_agreement on LABEL 0.9 (limit 0.98))" in capsys.readouterr().out
    other = report(dataset={"name": "red-team", "path": "rt.jsonl", "digest": digest("rt"), "rows": 50})
    assert attach(tmp_path, catalog, other)[0] == 0
    evals = load_catalog(catalog).find("llm", "3").evaluations
    assert [(e.dataset, e.passed, e.evaluated.isoformat()) for e in evals] == [
        ("golden-v3", False, "2026-12-01T09:00:00+00:00"), ("red-team", True, "2026-11-30T10:00:00+00:00")]


@pytest.mark.parametrize("doc, model, version, message", [
    (report(), "llm", "4", "the report is of llm version 3, not of llm version 4"),
    (report(model="embedder"), "llm", "3", "the report is of embedder version 3, not of llm version 3"),
    (report(model_digest=digest("retrained")), "llm", "3",
     f"the report evaluated artifact {digest('retrained')}, but llm version 3 is approved as {STABLE['digest']}"),
    (report(version="9"), "llm", "9", "llm version 9 is not in"),
    (report(model_digest=None), "llm", "3", "model_digest: missing; run aiplat eval with --model-digest or --repository"),
    (report(version=""), "llm", "3", "version: missing; run aiplat eval with --version"),
    ({"passed": True}, "llm", "3", "kind: not an aiplat eval report"),
    (report(dataset={"name": "", "digest": "md5:1", "rows": 0}), "llm", "3", "dataset_digest: String should match"),
])
def test_refused_reports_leave_the_catalog_alone(tmp_path, catalog, capsys, doc, model, version, message):
    before = catalog.read_text()
    assert attach(tmp_path, catalog, doc, model, version)[0] == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert catalog.read_text() == before


def test_report_that_is_not_json_and_flag_combinations(tmp_path, catalog, capsys):
    (tmp_path / "r.json").write_text("{oops")
    assert main(["models", "approve", "--model", "llm", "--version", "3", "--evaluation", str(tmp_path / "r.json"),
                 "--catalog", str(catalog)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["models", "approve", "--evaluation", str(tmp_path / "r.json"), "--catalog", str(catalog)]) == 2
    assert "--evaluation needs --model and --version" in capsys.readouterr().err
    assert main(["models", "approve", "--from-sagemaker", "llm", "--model", "llm", "--catalog", str(catalog)]) == 2
    assert "--model and --version go with --evaluation" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:   # one of the two modes is required (argparse)
        main(["models", "approve", "--catalog", str(catalog)])
    assert exit_.value.code == 2
    assert "one of the arguments --from-sagemaker --evaluation is required" in capsys.readouterr().err
    assert main(["models", "approve", "--model", "llm", "--version", "4", "--evaluation",
                 str(tmp_path / "absent.json"), "--catalog", str(catalog)]) == 2
    assert "No such file" in capsys.readouterr().err
    assert load_catalog(catalog).find("llm", "4").digest == CANARY["digest"]
