"""The foundation's graph per stack: exact resource types, key inputs, ownership and tags."""

from __future__ import annotations

import json

from aiplat import catalog
from aiplat.testing import engine
from aiplat.project import read_stack_config
from tests._project import stack_file_path

from .conftest import by_type, input_params
from tests._project import run_stack

REQUIRED_TAGS = {"owner", "team", "cost-center"}


def one(rec, type_):
    found = by_type(rec, type_)
    assert len(found) == 1, f"expected one {type_}, got {len(found)}"
    return found[0]


def test_dev_network_and_cluster(record):
    rec = record("dev")
    vpc = one(rec, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.10.0.0/16" and vpc.inputs["enableDnsHostnames"] is True
    subnets = by_type(rec, "aws:ec2/subnet:Subnet")
    assert sorted((s.inputs["availabilityZone"], s.inputs["cidrBlock"]) for s in subnets) == [
        ("us-east-1a", "10.10.0.0/19"),
        ("us-east-1a", "10.10.224.0/22"),
        ("us-east-1b", "10.10.228.0/22"),
        ("us-east-1b", "10.10.32.0/19"),
    ]
    assert len(by_type(rec, "aws:ec2/natGateway:NatGateway")) == 1  # dev: one NAT
    eks = one(rec, "aws:eks/cluster:Cluster")
    # the cluster's secrets key (Triton's model buckets have their own keys)
    key = next(k for k in by_type(rec, "aws:kms/key:Key") if k.name == "dev-us-east-1-secrets")
    assert eks.inputs["name"] == "aiplat-dev-us-east-1" and eks.inputs["version"] == "1.35"
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    private_ids = [s.id for s in subnets if "private" in s.name]
    assert sorted(eks.inputs["vpcConfig"]["subnetIds"]) == sorted(private_ids)
    assert eks.inputs["encryptionConfig"] == {
        "provider": {"keyArn": f"arn:aws:kms:us-east-1:{engine.ACCOUNT_ID}:key/{key.id and _key_id(rec)}"},
        "resources": ["secrets"],
    }
    assert eks.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert key.inputs["enableKeyRotation"] is True
    # the control-plane log group (the gateway's access-log group is tested in test_gateway.py)
    (logs,) = [g for g in by_type(rec, "aws:cloudwatch/logGroup:LogGroup") if "/aws/eks/" in g.inputs.get("name", "")]
    assert logs.inputs["name"] == "/aws/eks/aiplat-dev-us-east-1/cluster" and logs.inputs["retentionInDays"] == 30
    assert logs.urn in eks.dependencies  # the group exists before EKS would create its own
    oidc = one(rec, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    # the cluster's system group (GPU pools add their own node groups)
    (system,) = [g for g in by_type(rec, "aws:eks/nodeGroup:NodeGroup") if g.inputs["labels"]["aiplat.io/pool"] == "system"]
    assert system.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 3}
    assert system.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    addons = {a.inputs["addonName"]: a for a in by_type(rec, "aws:eks/addon:Addon")
              if a.parent.endswith("aiplat:cluster:Cluster::dev-us-east-1")}
    # the cluster's own add-ons; the EBS CSI driver comes with ClusterAddons (tests/test_addons.py)
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    k8s = one(rec, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(k8s.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "aiplat-dev-us-east-1"]


def _key_id(rec):
    key = next(k for k in by_type(rec, "aws:kms/key:Key") if k.name == "dev-us-east-1-secrets")
    return key.outputs.get("keyId") or _kms_key_id_from_arn(rec)


def _kms_key_id_from_arn(rec):
    eks = one(rec, "aws:eks/cluster:Cluster")
    return eks.inputs["encryptionConfig"]["provider"]["keyArn"].rsplit("/", 1)[-1]


def test_prod_has_three_private_regional_clusters_and_a_nat_per_zone(record):
    rec = record("prod")
    clusters = by_type(rec, "aws:eks/cluster:Cluster")
    assert sorted(rec.region_of(c) for c in clusters) == ["us-east-1", "us-east-2", "us-west-2"]
    for c in clusters:
        assert c.inputs["vpcConfig"]["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in c.inputs["vpcConfig"]
        assert c.inputs["deletionProtection"] is True
    assert len(by_type(rec, "aws:ec2/natGateway:NatGateway")) == 9
    private_rts = [r for r in by_type(rec, "aws:ec2/routeTable:RouteTable") if "private" in r.name]
    nat_ids = {n.id for n in by_type(rec, "aws:ec2/natGateway:NatGateway")}
    assert len(private_rts) == 9 and {r.inputs["routes"][0]["natGatewayId"] for r in private_rts} == nat_ids
    assert all(k.protect for k in by_type(rec, "aws:kms/key:Key"))
    assert {g.inputs["retentionInDays"] for g in by_type(rec, "aws:cloudwatch/logGroup:LogGroup") if "/aws/eks/" in g.inputs.get("name", "")} == {365}


def test_every_resource_but_the_root_has_a_parent_in_the_graph(record, stacks):
    for stack in stacks:
        rec = record(stack)
        urns = rec.by_urn()
        roots = [r for r in rec.resources if not r.parent]
        assert [r.type for r in roots] == ["pulumi:pulumi:Stack"], stack
        assert all(r.parent in urns for r in rec.resources if r.parent), stack
        platform = [r for r in rec.resources if r.type == "aiplat:platform:AiPlatform"]
        assert len(platform) == 1 and platform[0].parent == roots[0].urn


def test_every_taggable_aws_resource_carries_chargeback_tags(record, stacks):
    checked = 0
    for stack in stacks:
        for reg in record(stack).resources:
            if reg.type.startswith("aws:") and "tags" in input_params(reg.type):
                assert REQUIRED_TAGS <= set(reg.inputs.get("tags", {})), f"{stack}: {reg.type} {reg.name}"
                checked += 1
    assert checked > 100


def test_every_labelable_gcp_resource_carries_chargeback_labels(record):
    rec = record("gcp-prod")
    for reg in rec.resources:
        if not reg.type.startswith("gcp:"):
            continue
        params = input_params(reg.type)
        if "user_labels" in params:  # Cloud Monitoring: `labels` configures it, `user_labels` label it
            assert REQUIRED_TAGS <= set(reg.inputs.get("userLabels", {})), f"{reg.type} {reg.name}"
            continue
        for key in ("labels", "resource_labels"):
            if key in params:
                camel = "resourceLabels" if key == "resource_labels" else "labels"
                assert REQUIRED_TAGS <= set(reg.inputs.get(camel, {})), f"{reg.type} {reg.name}"


def test_gcp_stack_has_a_private_gke_cluster_per_region(record):
    rec = record("gcp-prod")
    clusters = by_type(rec, "gcp:container/cluster:Cluster")
    assert sorted(c.inputs["location"] for c in clusters) == ["us-central1", "us-east4"]
    for c in clusters:
        assert c.inputs["privateClusterConfig"]["enablePrivateNodes"] is True
        # gcp-prod's deployer reaches the public endpoint, limited to its addresses (stack file `deployer`)
        assert c.inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
        assert c.inputs["masterAuthorizedNetworksConfig"] == {
            "cidrBlocks": [{"cidrBlock": "198.51.100.0/28", "displayName": "allow-0"}]}
        assert c.inputs["workloadIdentityConfig"] == {"workloadPool": "acme-inference-prod.svc.id.goog"}
        assert c.inputs["releaseChannel"] == {"channel": "STABLE"}
        assert c.inputs["removeDefaultNodePool"] is True
        assert c.inputs["databaseEncryption"]["state"] == "ENCRYPTED"
        assert c.inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    subnets = by_type(rec, "gcp:compute/subnetwork:Subnetwork")
    assert {len(s.inputs["secondaryIpRanges"]) for s in subnets} == {2}
    pools = [p for p in by_type(rec, "gcp:container/nodePool:NodePool") if p.name.endswith("-system")]
    assert len(pools) == 2
    assert all(p.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"} for p in pools)
    assert len(by_type(rec, "pulumi:providers:kubernetes")) == 2


def test_prod_eu_keeps_every_provider_in_the_eu(record):
    rec = record("prod-eu")
    regions = {p.inputs["region"] for p in by_type(rec, "pulumi:providers:aws")}
    assert regions == {"eu-central-1", "eu-west-1"}
    assert all(catalog.in_residency_zone("eu", "aws", r) for r in regions)


def test_same_config_same_graph():
    config = read_stack_config(stack_file_path("staging"))
    first = json.dumps(run_stack("staging", config).steps(), sort_keys=True)
    second = json.dumps(run_stack("staging", config).steps(), sort_keys=True)
    assert first == second
