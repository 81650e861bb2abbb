"""Customer-managed keys on what used to keep the provider's: CloudWatch log groups, the nodes'
EBS root volumes (launch templates) and GKE node boot disks, read from the recorded graphs of
the shipped stacks. Each key is a key resource of the program whose policy lets the one service
that uses it do so, and it is protected wherever stateful resources are (prod and staging)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import recorded

AWS_STACKS = ("dev", "staging", "prod", "prod-eu")
KEY = "aws:kms/key:Key"
GCP_KEY = "gcp:kms/cryptoKey:CryptoKey"


def _by_urn(rec):
    return {r.urn: r for r in rec.resources}


def _statements(key) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_log_group_has_its_own_key_usable_only_by_cloudwatch_logs_for_that_group(stack):
    rec = recorded(stack)
    by_urn = _by_urn(rec)
    groups = rec.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups
    for group in groups:
        [key_urn] = group.property_dependencies["kmsKeyId"]
        key = by_urn[key_urn]
        assert key.type == KEY and key.inputs["enableKeyRotation"] is True
        assert key.protect is (stack != "dev")
        region = rec.region_of(group)
        stmt = _statements(key)["CloudWatchLogs"]
        assert stmt["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
        assert stmt["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn":
                                                   f"arn:aws:logs:{region}:123456789012:log-group:"
                                                   f"{group.inputs['name']}"}}
        assert "kms:CreateGrant" not in stmt["Action"] and "kms:*" not in stmt["Action"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_root_volumes_use_the_clusters_node_disk_key(stack):
    rec = recorded(stack)
    by_urn = _by_urn(rec)
    templates = rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert templates
    for lt in templates:
        [mapping] = lt.inputs["blockDeviceMappings"]
        assert mapping["ebs"]["encrypted"] == "true" and mapping["ebs"]["kmsKeyId"].startswith("arn:aws:kms:")
        [key_urn] = lt.property_dependencies["blockDeviceMappings"]
        key = by_urn[key_urn]
        assert key.type == KEY and key.name.endswith("-node-disks") and key.protect is (stack != "dev")
        stmts = _statements(key)
        asg = "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        assert stmts["AutoScalingUse"]["Principal"] == {"AWS": asg}
        # Auto Scaling may only create grants for AWS resources (the volumes it attaches)
        assert stmts["AutoScalingGrants"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_node_group_launches_through_a_template_with_that_key(stack):
    rec = recorded(stack)
    by_urn = _by_urn(rec)
    groups = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    assert {g.name.rsplit("-", 1)[-1] for g in groups} >= {"system", "nodes"}  # system and Milvus groups too
    for group in groups:
        [lt_urn] = group.property_dependencies["launchTemplate"]
        lt = by_urn[lt_urn]
        assert lt.type == "aws:ec2/launchTemplate:LaunchTemplate", group.name
        [key_urn] = lt.property_dependencies["blockDeviceMappings"]
        assert by_urn[key_urn].name.endswith("-node-disks"), group.name
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required", group.name


def test_gke_node_boot_disks_use_a_key_the_compute_agent_may_use():
    rec = recorded("gcp-prod")
    by_urn = _by_urn(rec)
    pools = rec.of_type("gcp:container/nodePool:NodePool")
    assert pools
    for pool in pools:
        keys = [by_urn[u] for u in pool.property_dependencies["nodeConfig"] if by_urn[u].type == GCP_KEY]
        assert len(keys) == 1, pool.name
        key = keys[0]
        assert pool.inputs["nodeConfig"]["bootDiskKmsKey"] == key.id  # the key's id, as the mock engine assigns it
        assert key.protect is True
        # the pool waits for the Compute Engine service agent's grant on that key
        agent = [g for g in rec.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
                 if key.urn in g.property_dependencies.get("cryptoKeyId", [])
                 and g.inputs["member"].endswith("@compute-system.iam.gserviceaccount.com")]
        assert len(agent) == 1, pool.name
        assert agent[0].inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert agent[0].urn in pool.dependencies, pool.name


def test_the_shipped_configs_list_no_provider_managed_key_exceptions():
    from tests._project import available_stacks, policy_config_path

    for stack in available_stacks():
        doc = json.loads(policy_config_path(stack).read_text())
        assert doc["security-baseline"].get("providerManagedKeyTypes", []) == [], stack
