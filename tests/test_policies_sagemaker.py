"""`aiplat models approve --from-sagemaker`: SageMaker Model Registry (moto) -> approved_models.yaml,
and the imported approvals satisfy the model-approval policy."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from aiplat.cli import main
from aiplat.policies.model_approval import load_catalog
from tests.policy_steps import CANARY, STABLE, approved_catalog, digest, eval_report

pytestmark = pytest.mark.peer
REGION = "eu-central-1"


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName="llm")
        yield sm


def package(sm, status, **meta):
    return sm.create_model_package(
        ModelPackageGroupName="llm", ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/triton:24.08",
                                                "ModelDataUrl": "s3://models/llm/"}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties=meta)["ModelPackageArn"]


def test_imports_approved_versions_only(registry, tmp_path, capsys):
    catalog = tmp_path / "approved.yaml"
    catalog.write_text("# header comment kept\n" + approved_catalog())
    arn = package(registry, "Approved", **{"aiplat:digest": digest("llm-5"), "aiplat:version": "5",
                                            "aiplat:classifications": "internal,confidential"})
    package(registry, "Rejected", **{"aiplat:digest": digest("llm-6"), "aiplat:version": "6"})
    package(registry, "PendingManualApproval", **{"aiplat:digest": digest("llm-7")})
    code = main(["models", "approve", "--from-sagemaker", "llm", "--region", REGION, "--catalog", str(catalog),
                 "--valid-days", "90"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"approved llm version 5 {digest('llm-5')} for internal, confidential" in out
    result = load_catalog(catalog)
    assert [(m.name, m.version) for m in result.models] == [("llm", "3"), ("llm", "4"), ("llm", "5")]
    new = result.models[-1]
    assert new.source == arn and new.classifications == ["internal", "confidential"]
    assert new.expires == dt.date.today() + dt.timedelta(days=90)
    assert new.approver == "fake-user-profile-name"  # the registry's CreatedBy profile (moto)
    assert catalog.read_text().startswith("# header comment kept\n")


def test_reimport_replaces_same_version_and_classification_flag_overrides(registry, tmp_path):
    catalog = tmp_path / "approved.yaml"
    catalog.write_text(approved_catalog())
    package(registry, "Approved", **{"aiplat:digest": STABLE["digest"], "aiplat:version": "3"})
    code = main(["models", "approve", "--from-sagemaker", "llm", "--region", REGION, "--catalog", str(catalog),
                 "--classification", "public", "--approver", "ml-review-board"])
    assert code == 0
    models = load_catalog(catalog).models
    v3 = [m for m in models if m.version == "3"]
    assert len(v3) == 1 and v3[0].classifications == ["public"] and v3[0].approver == "ml-review-board"


def test_versions_without_digest_or_classification_are_skipped(registry, tmp_path, capsys):
    catalog = tmp_path / "approved.yaml"
    catalog.write_text(approved_catalog())
    before = catalog.read_text()
    package(registry, "Approved", **{"aiplat:version": "8"})
    package(registry, "Approved", **{"aiplat:digest": digest("x"), "aiplat:version": "9"})
    code = main(["models", "approve", "--from-sagemaker", "llm", "--region", REGION, "--catalog", str(catalog)])
    assert code == 1
    err = capsys.readouterr().err
    assert "no valid aiplat:digest" in err and "classifications missing" in err
    assert catalog.read_text() == before


def test_unknown_group_and_missing_catalog_exit_2(registry, tmp_path, capsys):
    catalog = tmp_path / "approved.yaml"
    catalog.write_text(approved_catalog())
    assert main(["models", "approve", "--from-sagemaker", "nope", "--region", REGION, "--catalog",
                 str(catalog)]) == 2
    assert "SageMaker:" in capsys.readouterr().err
    assert main(["models", "approve", "--from-sagemaker", "llm", "--region", REGION, "--catalog",
                 str(tmp_path / "missing.yaml")]) == 2
    assert "catalog not found" in capsys.readouterr().err


def test_reimport_keeps_evaluations_of_an_unchanged_artifact_only(registry, tmp_path):
    catalog = tmp_path / "approved.yaml"
    catalog.write_text(approved_catalog())
    (tmp_path / "r3.json").write_text(json.dumps(eval_report()))
    (tmp_path / "r4.json").write_text(json.dumps(eval_report(version="4", model_digest=CANARY["digest"])))
    for version in ("3", "4"):
        assert main(["models", "approve", "--model", "llm", "--version", version, "--evaluation",
                     str(tmp_path / f"r{version}.json"), "--catalog", str(catalog)]) == 0
    # v3 re-approved with the same artifact; v4 re-approved with another one
    package(registry, "Approved", **{"aiplat:digest": STABLE["digest"], "aiplat:version": "3",
                                     "aiplat:classifications": "internal"})
    package(registry, "Approved", **{"aiplat:digest": digest("llm-4-retrained"), "aiplat:version": "4",
                                     "aiplat:classifications": "internal"})
    assert main(["models", "approve", "--from-sagemaker", "llm", "--region", REGION, "--catalog", str(catalog)]) == 0
    result = load_catalog(catalog)
    assert [e.dataset for e in result.find("llm", "3").evaluations] == ["golden-v3"]
    assert result.find("llm", "4").evaluations == [] and result.find("llm", "4").digest == digest("llm-4-retrained")
