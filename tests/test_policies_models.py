"""model-approval through the SDK analyzer: approved stable + canary pass; every way to
serve an unapproved model is named with the resource and the reason."""

from __future__ import annotations

import json

import pytest

from aiplat.errors import ConfigError
from aiplat.policies import offline
from aiplat.policies.model_approval import load_catalog
from tests.policy_steps import CANARY, STABLE, approved_catalog, digest, eu_config, good_aws_eu, models_annotation


def run(g, tmp_path, catalog_text=None, classification="restricted"):
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
