"""Provider schemas as the policies read them: every input path of a type, from the SDK classes."""

from __future__ import annotations

from aiplat.policies._judge import ALLOWED_TYPES_SCHEMA, TYPE_TOKEN, Coverage, report_unjudged
from aiplat.policies._schema import resource_class, schema


def test_paths_come_from_the_sdk_args_types_by_wire_name():
    eks = schema("aws:eks/cluster:Cluster")
    assert ("vpcConfig", "publicAccessCidrs") in eks.paths
    assert ("encryptionConfig", "provider", "keyArn") in eks.paths
    assert ("region",) in eks.paths  # pulumi-aws 7: every resource can name its own region
    deployment = schema("kubernetes:apps/v1:Deployment")
    assert ("spec", "template", "spec", "containers", "image") in deployment.paths
    assert ("spec", "template", "spec", "containers", "securityContext", "allowPrivilegeEscalation") in deployment.paths
    assert ("location",) in schema("gcp:storage/bucket:Bucket").paths
    assert ("locationId",) in schema("gcp:firestore/database:Database").paths
    assert ("region",) in schema("pulumi:providers:aws").paths


def test_types_without_an_sdk_class_have_no_schema():
    assert schema("kubernetes:keda.sh/v1alpha1:ScaledObject") is None  # a custom resource
    assert schema("acme:index:Thing") is None
    assert resource_class("aws:s3/nope:Nope") is None
    assert resource_class("kubernetes:storage.k8s.io/v1:StorageClass").__name__ == "StorageClass"


def test_cannot_judge_is_a_violation_unless_the_type_is_allowed():
    seen = []
    report = lambda message, urn: seen.append((message, urn))  # noqa: E731
    assert report_unjudged("p", "acme:index:Thing", "t", "no schema", [], report, "urn:t")
    assert seen == [("acme:index:Thing t: cannot judge: no schema; change the resource so it can be judged, "
                     "or allow the type on purpose in p.allowedTypes", "urn:t")]
    assert not report_unjudged("p", "acme:index:Thing", "t", "no schema", ["acme:index:Thing"], report, "urn:t")
    assert len(seen) == 1
    assert not Coverage.cannot_judge("x").decided and Coverage.judged().decided
    assert TYPE_TOKEN.match("kubernetes:keda.sh/v1alpha1:ScaledObject") and not TYPE_TOKEN.match("ScaledObject")
    assert ALLOWED_TYPES_SCHEMA["default"] == []
