"""required-tags through the SDK analyzer, with taggability read from the SDK classes."""

from __future__ import annotations

import pytest

from aiplat.policies import offline
from aiplat.policies.required_tags import tag_inputs
from tests.policy_steps import TAGS, UNKNOWN, approved_catalog, eu_config, good_aws_eu, good_gcp_eu


def run(g, tmp_path, **tags):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", required_tags=tags)
    report = offline.evaluate(g.steps, "fixture", cfg)
    return report.by_policy("required-tags")


@pytest.mark.parametrize("token,expect", [
    ("aws:s3/bucketV2:BucketV2", ("tags",)),
    ("aws:eks/nodeGroup:NodeGroup", ("tags",)),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", ()),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", ()),
    ("gcp:storage/bucket:Bucket", ("labels",)),
    ("gcp:container/cluster:Cluster", ("resourceLabels",)),
    ("kubernetes:apps/v1:Deployment", ()),
    ("pulumi:providers:aws", ()),
    ("aws:nosuchmodule/thing:Thing", ()),
])
def test_taggability_comes_from_the_sdk_signature(token, expect):
    assert tag_inputs(token) == expect


def test_provider_default_tags_satisfy_every_resource(tmp_path):
    assert run(good_aws_eu(), tmp_path) == []
    assert run(good_gcp_eu(), tmp_path) == []


def test_missing_tags_without_provider_defaults(tmp_path):
    g = good_aws_eu()
    del g.inputs("eu-central-1")["defaultTags"]
    g.inputs("vpc")["tags"] = {**TAGS, "Name": "vpc"}
    g.inputs("models")["tags"] = {"owner": "ml-platform", "team": "  "}
    verdicts = run(g, tmp_path)
    by_name = {v.name: v for v in verdicts}
    assert "vpc" not in by_name and "models-pab" not in by_name  # tagged / not taggable
    assert by_name["models"].message == (
        "aws:s3/bucketV2:BucketV2 models lacks tags team, cost-center; add them to its `tags` (or the provider's "
        "default tags) from the stack's owner/team/cost-center")
    assert by_name["models"].enforcement_level == "mandatory"  # "all": mandatory in the fixture config
    assert by_name["cluster"].type == "aws:eks/cluster:Cluster"


def test_gcp_labels(tmp_path):
    g = good_gcp_eu()
    del g.inputs("europe-west4")["defaultLabels"]
    g.inputs("models")["labels"] = {"owner": "ml-platform", "team": "inference"}
    verdicts = run(g, tmp_path)
    assert {v.name for v in verdicts} == {"models"}  # reservations and node pools take no top-level labels
    assert "lacks labels cost-center; add them to its `labels`" in next(v for v in verdicts if v.name == "models").message


def test_unknown_tags_are_reported(tmp_path):
    g = good_aws_eu()
    g.inputs("vpc")["tags"] = UNKNOWN
    # the provider's default tags carry every required key: whatever the resource adds, they are present
    assert run(g, tmp_path) == []
    del g.inputs("eu-central-1")["defaultTags"]
    verdicts = [(v.name, v.message) for v in run(g, tmp_path) if v.name == "vpc"]
    assert verdicts == [("vpc", "aws:ec2/vpc:Vpc vpc: cannot judge: tags (or the provider's defaults) unknown at "
                                "preview and owner, team, cost-center not set by the provider's default tags; build "
                                "them from config values, set them as provider default tags, or allow the type on "
                                "purpose in required-tags.allowedTypes")]
    # allowing the type on purpose is the only way past "cannot judge"
    assert [v for v in run(g, tmp_path, allowedTypes=["aws:ec2/vpc:Vpc"]) if v.name == "vpc"] == []


def test_configured_keys_and_allowed_types(tmp_path):
    g = good_aws_eu()
    assert {v.name for v in run(g, tmp_path, requiredTags=["owner", "data-owner"])} >= {"vpc", "cluster", "models"}
    vpc = [(v.name, v.message) for v in run(g, tmp_path, requiredTags=["data-owner"]) if v.name == "vpc"]
    assert vpc == [("vpc", "aws:ec2/vpc:Vpc vpc lacks tags data-owner; add them to its `tags` (or the provider's "
                           "default tags) from the stack's owner/team/cost-center")]
    # allowedTypes lets through what cannot be judged, never a taggable resource that lacks a tag
    allowed = run(g, tmp_path, requiredTags=["data-owner"], allowedTypes=["aws:ec2/vpc:Vpc"])
    assert "vpc" in {v.name for v in allowed}
