"""model-approval through the SDK analyzer: approved stable + canary pass; every way to
serve an unapproved model is named with the resource and the reason."""

from __future__ import annotations

import json

import pytest
import yaml

from aiplat.errors import ConfigError
from aiplat.policies import offline
from aiplat.policies.model_approval import load_catalog
from tests.policy_steps import CANARY, STABLE, approved_catalog, digest, eu_config, good_aws_eu, models_annotation


def label(g, classification):
    """Declare the stack's class the way the platform does: its providers' default tags."""
    for step in g.steps:
        inputs = step["newState"]["inputs"]
        for tags in (inputs.get("defaultTags", {}).get("tags"), inputs.get("defaultLabels")):
            if isinstance(tags, dict):
                tags["data-classification"] = classification
    return g


def run(g, tmp_path, catalog_text=None, classification="restricted"):
    label(g, classification)
    (tmp_path / "approved.yaml").write_text(catalog_text or approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", model_approval={"dataClassification": classification})
    report = offline.evaluate(g.steps, "fixture", cfg)
    return report, report.by_policy("model-approval")


def annotate(g, name, *entries):
    g.inputs(name)["metadata"]["annotations"]["aiplat.io/models"] = models_annotation(*entries)


def test_approved_stable_and_canary_pass(tmp_path):
    report, verdicts = run(good_aws_eu(), tmp_path)
    assert verdicts == []
    assert report.exit_code == 0


def test_unapproved_digest(tmp_path):
    g = good_aws_eu()
    annotate(g, "triton", {**STABLE, "digest": digest("tampered")})
    report, verdicts = run(g, tmp_path)
    assert [(v.name, v.type, v.enforcement_level) for v in verdicts] == [
        ("triton", "kubernetes:apps/v1:Deployment", "mandatory")]
    assert "stable model llm version 3: digest sha256:" in verdicts[0].message
    assert "does not match the approved" in verdicts[0].message
    assert report.exit_code == 1


def test_expired_approval(tmp_path):
    _, verdicts = run(good_aws_eu(), tmp_path, approved_catalog(expires="2024-01-31"))
    assert [v.name for v in verdicts] == ["triton"]
    assert "approval by jane@example.com expired on 2024-01-31; renew the approval" in verdicts[0].message


def test_canary_not_approved_for_classification(tmp_path):
    _, verdicts = run(good_aws_eu(), tmp_path, approved_catalog(canary_classes=("public", "internal")))
    assert [v.name for v in verdicts] == ["triton-canary"]
    assert ("canary model llm version 4 is approved for public, internal data, not for this stack's "
            "'restricted'") in verdicts[0].message
    # the same approval is fine for an internal stack
    _, verdicts = run(good_aws_eu(), tmp_path, approved_catalog(canary_classes=("public", "internal")),
                      classification="internal")
    assert verdicts == []


def test_version_not_in_catalog(tmp_path):
    g = good_aws_eu()
    annotate(g, "triton-canary", {**CANARY, "version": "5"})
    _, verdicts = run(g, tmp_path)
    assert [v.name for v in verdicts] == ["triton-canary"]
    assert "canary model llm version 5 is not in the approved catalog (approved versions: 3, 4)" in verdicts[0].message


def test_configmap_contract_and_pod_template_annotation(tmp_path):
    g = good_aws_eu()
    k8s = g.state("triton")["provider"]
    g.add("kubernetes:core/v1:ConfigMap", "triton-models", {
        "metadata": {"name": "triton-models"},
        "data": {"aiplat-models.json": json.dumps([{**STABLE, "digest": digest("other")}])}}, k8s)
    g.inputs("triton-canary")["spec"]["template"] = {"metadata": {"annotations": {
        "aiplat.io/models": models_annotation({"name": "embedder", "version": 1, "digest": digest("e")})}}}
    _, verdicts = run(g, tmp_path)
    assert sorted(v.name for v in verdicts) == ["triton-canary", "triton-models"]
    assert "stable model embedder version 1 is not in the approved catalog;" in \
        next(v for v in verdicts if v.name == "triton-canary").message


@pytest.mark.parametrize("value,expect", [
    ("not json", "must be a JSON array"),
    (json.dumps({"name": "llm"}), "must be a JSON array"),
    (json.dumps([{"name": "llm", "version": "3"}]), "digest None is not 'sha256:<64 hex>'"),
    ("04da6b54-80e4-46f7-96ec-b56ff0331ba9", "unknown during preview"),
])
def test_unreadable_model_lists_are_violations(tmp_path, value, expect):
    g = good_aws_eu()
    g.inputs("triton")["metadata"]["annotations"]["aiplat.io/models"] = value
    _, verdicts = run(g, tmp_path)
    assert [v.name for v in verdicts] == ["triton"]
    assert expect in verdicts[0].message


def test_broken_catalog_is_reported_not_crashed(tmp_path):
    _, verdicts = run(good_aws_eu(), tmp_path, "source: x\ndate: 2026-01-01\nmodels:\n  - name: llm\n")
    assert {v.name for v in verdicts} == {"triton", "triton-canary"}
    assert "models[0].version: Field required" in verdicts[0].message


def test_catalog_validation_names_key_paths(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(approved_catalog().replace("classifications: [internal", "classifications: [secret")
                    + "  - name: llm\n    version: 3\n    digest: sha256:00\n    classifications: [public]\n"
                      "    approver: x\n    expires: 2030-01-01\n")
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    paths = [p.path for p in err.value.problems]
    assert "models[0].classifications[0]" in paths and "models[2].digest" in paths


def test_shipped_catalog_loads():
    catalog = load_catalog()
    assert catalog.source and catalog.date


# ---- requireEvaluation: approved versions must carry a passing evaluation on a named dataset ----

GOLDEN = digest("golden-v3.jsonl")


def record(model_digest, *, dataset="golden-v3", passed=True, evaluated="2026-11-30T10:00:00Z",
           dataset_digest=GOLDEN) -> dict:
    """An evaluations[] entry as `aiplat models approve --evaluation` writes it."""
    checks = [{"threshold": "max_abs_error", "output": "PROBS", "limit": 0.0001, "measured": 6e-08, "passed": True},
              {"threshold": "min_accuracy", "output": "LABEL", "limit": 0.99,
               "measured": 1.0 if passed else 0.9, "passed": passed},
              {"threshold": "failed_requests", "limit": 0, "measured": 0, "passed": True}]
    return {"dataset": dataset, "dataset_digest": dataset_digest, "rows": 200, "passed": passed,
            "evaluated": evaluated, "server": "10.0.0.7:8000", "model_digest": model_digest,
            "thresholds": {"max_abs_error": 0.0001, "min_accuracy": 0.99}, "checks": checks,
            "metrics": {"LABEL": {"accuracy": 1.0 if passed else 0.9}}, "report_digest": digest("report")}


def catalog_with(stable=(), canary=()) -> str:
    doc = yaml.safe_load(approved_catalog())
    for entry, records in zip(doc["models"], (stable, canary)):
        if records:
            entry["evaluations"] = list(records)
    return yaml.safe_dump(doc, sort_keys=False)


def run_required(g, tmp_path, catalog_text, require, classification="restricted"):
    label(g, classification)
    (tmp_path / "approved.yaml").write_text(catalog_text)
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml",
                    model_approval={"dataClassification": classification, "requireEvaluation": require})
    report = offline.evaluate(g.steps, "fixture", cfg)
    return report, report.by_policy("model-approval")


def test_required_evaluation_missing_is_a_violation_naming_the_dataset(tmp_path):
    catalog = catalog_with(stable=[record(STABLE["digest"])])
    # a confidential requirement holds for a restricted stack too (stricter data never needs less)
    report, verdicts = run_required(good_aws_eu(), tmp_path, catalog, {"confidential": {"dataset": "golden-v3"}})
    assert [(v.name, v.enforcement_level) for v in verdicts] == [("triton-canary", "mandatory")]
    assert verdicts[0].message == (
        "kubernetes:apps/v1:Deployment triton-canary: canary model llm version 4 has no evaluation on dataset "
        "'golden-v3' (required for confidential data by requireEvaluation); run `aiplat eval ... --dataset-name "
        "golden-v3 --json REPORT.json` and attach it: `aiplat models approve --model llm --version 4 "
        "--evaluation REPORT.json`")
    assert report.exit_code == 1
    # ... and not for a less strict one
    _, verdicts = run_required(good_aws_eu(), tmp_path, catalog, {"confidential": {"dataset": "golden-v3"}},
                               classification="internal")
    assert verdicts == []


def test_passing_evaluations_satisfy_the_requirement(tmp_path):
    catalog = catalog_with(stable=[record(STABLE["digest"]), record(STABLE["digest"], dataset="red-team")],
                           canary=[record(CANARY["digest"]), record(CANARY["digest"], dataset="red-team")])
    require = {"internal": {"dataset": "golden-v3", "datasetDigest": GOLDEN},
               "restricted": {"dataset": "red-team", "maxAgeDays": 100000}}
    report, verdicts = run_required(good_aws_eu(), tmp_path, catalog, require)
    assert verdicts == [] and report.exit_code == 0
    # restricted needs both datasets; drop red-team from the canary
    catalog = catalog_with(stable=[record(STABLE["digest"]), record(STABLE["digest"], dataset="red-team")],
                           canary=[record(CANARY["digest"])])
    _, verdicts = run_required(good_aws_eu(), tmp_path, catalog, require)
    assert [v.name for v in verdicts] == ["triton-canary"]
    assert "has no evaluation on dataset 'red-team' (required for restricted data" in verdicts[0].message


def test_failing_evaluation_is_a_violation_with_the_failed_thresholds(tmp_path):
    catalog = catalog_with(stable=[record(STABLE["digest"], passed=False)], canary=[record(CANARY["digest"])])
    _, verdicts = run_required(good_aws_eu(), tmp_path, catalog, {"restricted": {"dataset": "golden-v3"}})
    assert [v.name for v in verdicts] == ["triton"]
    assert verdicts[0].message == (
        "kubernetes:apps/v1:Deployment triton: stable model llm version 3 failed its evaluation on dataset "
        "'golden-v3' (2026-11-30: min_accuracy on LABEL 0.9 (limit 0.99); required for restricted data by "
        "requireEvaluation); serve a version that passes")


@pytest.mark.parametrize("change, require, expect", [
    ({"model_digest": digest("llm-3-retrained")}, {}, "was of artifact sha256:"),
    ({"dataset_digest": digest("golden-v2.jsonl")}, {"datasetDigest": GOLDEN},
     "used content sha256:"),
    ({"evaluated": "2020-01-01T00:00:00Z"}, {"maxAgeDays": 30}, "is from 2020-01-01, older than maxAgeDays 30"),
])
def test_evaluation_of_another_artifact_dataset_or_age_does_not_count(tmp_path, change, require, expect):
    catalog = catalog_with(stable=[{**record(STABLE["digest"]), **change}], canary=[record(CANARY["digest"])])
    _, verdicts = run_required(good_aws_eu(), tmp_path, catalog, {"restricted": {"dataset": "golden-v3", **require}})
    assert [v.name for v in verdicts] == ["triton"]
    assert f"stable model llm version 3: its evaluation on dataset 'golden-v3'" in verdicts[0].message
    assert expect in verdicts[0].message


@pytest.mark.parametrize("require, path, message", [
    ({"confidential": {"dataset": "golden", "minAccuracy": 0.9}}, "model-approval.requireEvaluation.confidential",
     "Additional properties are not allowed ('minAccuracy' was unexpected)"),
    ({"secret": {"dataset": "golden"}}, "model-approval.requireEvaluation",
     "Additional properties are not allowed ('secret' was unexpected)"),
    ({"restricted": {"dataset": ""}}, "model-approval.requireEvaluation.restricted.dataset", "should be non-empty"),
    ({"restricted": {"dataset": "g", "datasetDigest": "sha256:00"}},
     "model-approval.requireEvaluation.restricted.datasetDigest", "does not match"),
    ({"restricted": {"dataset": "g", "maxAgeDays": 0}}, "model-approval.requireEvaluation.restricted.maxAgeDays",
     "less than the minimum of 1"),
])
def test_require_evaluation_schema_is_strict(tmp_path, require, path, message):
    cfg = eu_config(tmp_path, model_approval={"requireEvaluation": require})
    with pytest.raises(ConfigError) as err:
        offline.load_config(cfg)
    assert [p.path for p in err.value.problems] == [path]
    assert message in err.value.problems[0].message


def test_a_misspelt_requirement_key_names_both_problems(tmp_path):
    cfg = eu_config(tmp_path, model_approval={"requireEvaluation": {"confidential": {"datset": "golden"}}})
    with pytest.raises(ConfigError) as err:
        offline.load_config(cfg)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("model-approval.requireEvaluation.confidential",
         "Additional properties are not allowed ('datset' was unexpected)"),
        ("model-approval.requireEvaluation.confidential.dataset", "'dataset' is a required property")]


def test_catalog_rejects_inconsistent_or_duplicate_evaluations(tmp_path):
    lying = {**record(STABLE["digest"], passed=False), "passed": True}
    path = tmp_path / "c.yaml"
    path.write_text(catalog_with(stable=[lying], canary=[record(CANARY["digest"]), record(CANARY["digest"])]))
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert {p.path: p.message for p in err.value.problems} == {
        "models[0].evaluations[0]": "Value error, passed is True but the checks say False",
        "models[1].evaluations": "Value error, more than one evaluation on dataset(s) ['golden-v3']",
    }


# -- published objects declare the model version their bytes belong to ----------------------------
def add_object(g, name, metadata):
    g.add("aws:s3/bucketObjectv2:BucketObjectv2", name, {
        "bucket": "fixture-models-euc1", "key": f"llm/v3/llm/{name}", "metadata": metadata,
        "source": {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", "path": name,
                   "hash": "0" * 64}}, g.state("models")["provider"])


def meta(entry, **changes):
    out = {"sha256": "0" * 64, "aiplat-model": entry["name"], "aiplat-version": entry["version"],
           "aiplat-digest": entry["digest"]}
    return {k: v for k, v in {**out, **changes}.items() if v is not None}


def test_published_objects_are_judged_like_declared_models(tmp_path):
    g = good_aws_eu()
    add_object(g, "approved", meta(STABLE))
    add_object(g, "not-a-model", {"sha256": "0" * 64})  # declares no model version: not this policy's
    add_object(g, "tampered", meta(STABLE, **{"aiplat-digest": digest("tampered")}))
    add_object(g, "unlisted", meta(CANARY, **{"aiplat-version": "9"}))
    add_object(g, "partial", meta(STABLE, **{"aiplat-digest": None}))
    add_object(g, "unknown", meta(STABLE, **{"aiplat-digest": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}))
    _, verdicts = run(g, tmp_path)
    got = {v.name: v.message.split(": ", 1)[1] for v in verdicts}
    assert set(got) == {"tampered", "unlisted", "partial", "unknown"}
    assert got["tampered"].startswith(f"published model llm version 3: digest {digest('tampered')[:19]}… does not "
                                      "match the approved")
    assert got["unlisted"].startswith("published model llm version 9 is not in the approved catalog (approved "
                                      "versions: 3, 4)")
    assert got["partial"] == ("metadata declares a model version without aiplat-digest; declare aiplat-model, "
                              "aiplat-version, aiplat-digest together")
    assert got["unknown"] == ("metadata aiplat-digest is unknown during preview; cannot judge the model version "
                              "these bytes belong to")
