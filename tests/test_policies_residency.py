"""data-residency through the SDK analyzer: a passing EU stack and ways data leaves the EU."""

from __future__ import annotations

import pytest

from aiplat.policies import offline
from tests.policy_steps import UNKNOWN, approved_catalog, eu_config, good_aws_eu, good_gcp_eu


@pytest.fixture
def config(tmp_path):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    return eu_config(tmp_path, tmp_path / "approved.yaml")


def residency(g, config):
    report = offline.evaluate(g.steps, "fixture", config)
    return report, report.by_policy("data-residency")


def test_eu_stacks_pass(config):
    for g in (good_aws_eu(), good_gcp_eu()):
        report, verdicts = residency(g, config)
        assert verdicts == []
        assert report.exit_code == 0


def test_replication_to_us_bucket_by_arn(config):
    g = good_aws_eu()
    us = g.provider("aws", "us-east-1", region="us-east-1")
    g.add("aws:s3/bucketV2:BucketV2", "models-us", {"bucket": "fixture-models-use1"}, us, protect=True)
    g.inputs("models-replication")["rules"][0]["destination"]["bucket"] = "arn:aws:s3:::fixture-models-use1"
    g.state("models-replication")["propertyDependencies"]["rules"] = []
    report, verdicts = residency(g, config)
    replication = [v for v in verdicts if v.name == "models-replication"]
    assert len(replication) == 1
    v = replication[0]
    assert v.enforcement_level == "mandatory"
    assert v.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    assert "rules[0].destination.bucket (bucket models-us)" in v.message
    assert "'us-east-1' is in jurisdiction 'us', outside residency zone 'eu'" in v.message
    assert report.exit_code == 1
    # the provider and the US bucket itself are named too
    assert {v.name for v in verdicts} == {"models-replication", "models-us", "us-east-1"}


def test_replication_destination_unknown_in_preview_follows_property_dependency(config):
    g = good_aws_eu()
    us = g.provider("aws", "us-east-1", region="us-east-1")
    dest = g.add("aws:s3/bucketV2:BucketV2", "models-us", {}, us, protect=True)
    g.inputs("models-replication")["rules"][0]["destination"]["bucket"] = UNKNOWN
    g.state("models-replication")["propertyDependencies"]["rules"] = [dest]
    _, verdicts = residency(g, config)
    v = next(v for v in verdicts if v.name == "models-replication")
    assert "rules[0].destination.bucket -> aws:s3/bucketV2:BucketV2 models-us (provider region)" in v.message
    assert "'us-east-1'" in v.message


def test_replication_to_bucket_outside_the_stack_cannot_be_verified(config):
    g = good_aws_eu()
    g.inputs("models-replication")["rules"][0]["destination"]["bucket"] = "arn:aws:s3:::someone-elses-bucket"
    g.state("models-replication")["propertyDependencies"]["rules"] = []
    _, verdicts = residency(g, config)
    assert [(v.name, "cannot be placed" in v.message) for v in verdicts] == [("models-replication", True)]


def test_gcp_us_multi_region_in_eu_stack(config):
    g = good_gcp_eu()
    g.inputs("models")["location"] = "US"
    _, verdicts = residency(g, config)
    assert [(v.name, v.type) for v in verdicts] == [("models", "gcp:storage/bucket:Bucket")]
    assert "location = 'US' is in jurisdiction 'us'" in verdicts[0].message


def test_provider_region_outside_zone_names_provider_and_its_resources(config):
    g = good_aws_eu()
    g.inputs("eu-west-1")["region"] = "eu-west-2"  # London: jurisdiction uk, not eu
    _, verdicts = residency(g, config)
    names = {v.name for v in verdicts}
    assert {"eu-west-1", "models-replica"} <= names
    provider = next(v for v in verdicts if v.name == "eu-west-1")
    assert provider.type == "pulumi:providers:aws"
    assert "'eu-west-2' is in jurisdiction 'uk'" in provider.message


@pytest.mark.parametrize("name,key,value,expect", [
    ("access-logs", "kmsKeyId", "arn:aws:kms:us-west-2:123:key/k", "kmsKeyId = 'us-west-2'"),
    ("health", "fqdn", "abc.execute-api.us-east-1.amazonaws.com", "fqdn = 'us-east-1'"),
])
def test_location_inside_values(config, name, key, value, expect):
    g = good_aws_eu()
    g.inputs(name)[key] = value
    _, verdicts = residency(g, config)
    assert [v.name for v in verdicts] == [name]
    assert expect in verdicts[0].message


def test_subnet_in_us_zone_flags_it_and_what_is_placed_in_it(config):
    g = good_aws_eu()
    g.inputs("private-a")["availabilityZone"] = "us-east-1a"
    _, verdicts = residency(g, config)
    # the NAT gateway and the cluster sit in that subnet (their subnet ids are unknown in
    # preview, so the policy follows the property dependency to the subnet)
    assert sorted(v.name for v in verdicts) == ["cluster", "nat-a", "private-a"]
    assert "availabilityZone = 'us-east-1a' is in jurisdiction 'us'" in verdicts[0].message
    nat = next(v for v in verdicts if v.name == "nat-a")
    assert "subnetId -> aws:ec2/subnet:Subnet private-a (availabilityZone)" in nat.message


def test_unknown_location_value_is_not_silently_passed(config):
    g = good_aws_eu()
    g.inputs("private-a")["availabilityZone"] = "mars-north-1a"
    _, verdicts = residency(g, config)
    subnet = [v for v in verdicts if v.name == "private-a"]
    assert len(subnet) == 1 and "'mars-north-1a' is not a known aws location" in subnet[0].message


def test_aws_provider_without_region(config):
    g = good_aws_eu()
    del g.inputs("eu-west-1")["region"]
    _, verdicts = residency(g, config)
    assert ("eu-west-1", True) in [(v.name, "sets no region" in v.message) for v in verdicts]


def test_tag_named_region_is_not_a_place(config):
    g = good_aws_eu()
    g.inputs("vpc")["tags"]["region"] = "emea"
    _, verdicts = residency(g, config)
    assert verdicts == []


def test_global_zone_admits_everything(tmp_path):
    g = good_aws_eu()
    g.inputs("eu-west-1")["region"] = "us-east-1"
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", data_residency={"residencyZone": "global"})
    assert offline.evaluate(g.steps, "fixture", cfg).by_policy("data-residency") == []
