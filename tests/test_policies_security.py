"""security-baseline through the SDK analyzer: the fixture stacks pass; each weakness is
named with the resource and the input to change."""

from __future__ import annotations

import base64

import pytest

from aiplat.policies import offline
from tests.policy_steps import UNKNOWN, approved_catalog, eu_config, good_aws_eu, good_gcp_eu


def run(g, tmp_path, **security):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", security_baseline=security)
    report = offline.evaluate(g.steps, "fixture", cfg)
    return [(v.name, v.message) for v in report.by_policy("security-baseline")]


def names(found):
    return sorted(n for n, _ in found)


def test_fixtures_pass(tmp_path):
    assert run(good_aws_eu(), tmp_path) == []
    assert run(good_gcp_eu(), tmp_path) == []


def test_node_disks_and_log_groups_need_a_customer_key(tmp_path):
    g = good_aws_eu()
    del g.inputs("gpu-reserved-lt")["blockDeviceMappings"][0]["ebs"]["kmsKeyId"]
    g.inputs("access-logs")["kmsKeyId"] = "arn:aws:kms:eu-central-1:123456789012:alias/aws/logs"
    found = run(g, tmp_path)
    assert names(found) == ["access-logs", "gpu-reserved-lt"]
    assert dict(found)["access-logs"] == (
        "aws:cloudwatch/logGroup:LogGroup access-logs: not encrypted with a customer-managed key (kmsKeyId names "
        "an AWS-managed key (arn:aws:kms:eu-central-1:123456789012:alias/aws/logs), not a customer-managed one); "
        "set kmsKeyId to a KMS key of the program (or list the type in providerManagedKeyTypes on purpose)")
    assert dict(found)["gpu-reserved-lt"].startswith(
        "aws:ec2/launchTemplate:LaunchTemplate gpu-reserved-lt: not encrypted with a customer-managed key")
    # a node group without a launch template has its root volumes under the account's default EBS key
    h = good_aws_eu()
    h.state("gpu-burst")["inputs"].pop("launchTemplate")
    assert run(h, tmp_path) == [("gpu-burst", "aws:eks/nodeGroup:NodeGroup gpu-burst: root volumes not encrypted with a "
                                              "customer-managed key (no launchTemplate: EKS uses the account's default "
                                              "EBS key); set launchTemplate to a launch template whose "
                                              "blockDeviceMappings[].ebs.kmsKeyId is a KMS key of the program (or list "
                                              "the type in providerManagedKeyTypes on purpose)")]
    # a named exception lets the type keep the provider's key
    assert run(g, tmp_path, providerManagedKeyTypes=["aws:cloudwatch/logGroup:LogGroup",
                                                     "aws:ec2/launchTemplate:LaunchTemplate"]) == []
    g = good_gcp_eu()
    del g.inputs("gpu-burst")["nodeConfig"]["bootDiskKmsKey"]
    assert run(g, tmp_path) == [("gpu-burst", "gcp:container/nodePool:NodePool gpu-burst: not encrypted with a "
                                              "customer-managed key (no key input is set); set nodeConfig.bootDiskKmsKey "
                                              "to a KMS key of the program (or list the type in providerManagedKeyTypes "
                                              "on purpose)")]


def test_bucket_without_encryption_or_with_s3_managed_keys(tmp_path):
    g = good_aws_eu()
    g.remove("models-sse")
    found = run(g, tmp_path)
    assert names(found) == ["models"]
    assert "no server-side encryption configuration" in found[0][1]
    g = good_aws_eu()
    g.inputs("models-sse")["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"
    found = run(g, tmp_path)
    assert names(found) == ["models"] and "encrypted with 'AES256'; use sseAlgorithm aws:kms" in found[0][1]
    assert run(g, tmp_path, requireCustomerManagedKeys=False) == []


def test_sse_s3_only_on_a_log_bucket_that_receives_logs_and_holds_nothing(tmp_path):
    """S3 server access logs and ELB access logs are delivered only to SSE-S3 buckets: a log bucket
    of the program may use AES256; the tag alone launders nothing."""
    g = good_aws_eu()
    g.inputs("models-logs-sse")["rules"][0]["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}
    assert run(g, tmp_path) == []
    # the same bucket with an object in it is a data bucket: customer key again
    g.add("aws:s3/bucketObjectv2:BucketObjectv2", "smuggled", {"bucket": UNKNOWN, "key": "data.csv"},
          g.state("models-logs")["provider"], deps={"bucket": [g.state("models-logs")["urn"]]})
    found = run(g, tmp_path)
    assert found == [("models-logs", "aws:s3/bucket" "V2:BucketV2 models-logs: encrypted with 'AES256'; use sseAlgorithm "
                                     "aws:kms with a customer-managed KMS key of the program (requireCustomerManagedKeys)")]
    # a tagged bucket nothing logs into, with AES256: refused too
    g = good_aws_eu()
    g.inputs("models-logs-sse")["rules"][0]["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}
    g.remove("models-logging")
    assert names(run(g, tmp_path)) == ["models-logs"]


def test_public_buckets(tmp_path):
    g = good_aws_eu()
    g.inputs("models-pab")["restrictPublicBuckets"] = False
    p = g.state("models")["provider"]
    g.add("aws:s3/bucketAclV2:BucketAclV2", "models-acl", {"bucket": UNKNOWN, "acl": "public-read"}, p,
          deps={"bucket": [g.state("models")["urn"]]})
    found = run(g, tmp_path)
    assert names(found) == ["models-acl", "models-pab"]
    assert "set restrictPublicBuckets=true" in dict(found)["models-pab"]
    g = good_aws_eu()
    g.remove("models-replica-pab")
    found = run(g, tmp_path)
    assert names(found) == ["models-replica"] and "no BucketPublicAccessBlock" in found[0][1]


def test_gcs_public_access_and_all_users_binding(tmp_path):
    g = good_gcp_eu()
    g.inputs("models")["publicAccessPrevention"] = "inherited"
    p = g.state("models")["provider"]
    g.add("gcp:storage/bucketIAMMember:BucketIAMMember", "public-read", {
        "bucket": "fixture-models", "role": "roles/storage.objectViewer", "member": "allUsers"}, p)
    found = run(g, tmp_path)
    assert names(found) == ["models", "public-read"]
    assert "publicAccessPrevention='enforced'" in dict(found)["models"]


def test_route_without_authorizer(tmp_path):
    g = good_aws_eu()
    p = g.state("api")["provider"]
    g.add("aws:apigatewayv2/route:Route", "health", {"apiId": UNKNOWN, "routeKey": "GET /health"}, p,
          deps={"apiId": [g.state("api")["urn"]]})
    refused = [("health", "aws:apigatewayv2/route:Route health: route 'GET /health' of API 'fixture' has no "
                          "authorizer; set authorizationType JWT with an authorizerId (or list {api, route} in "
                          "publicRoutes on purpose)")]
    assert run(g, tmp_path) == refused
    assert run(g, tmp_path, publicRoutes=[{"api": "fixture", "route": "GET /health"}]) == []
    # a public route names its API: the same route key on another API does not open this one
    assert run(g, tmp_path, publicRoutes=[{"api": "other", "route": "GET /health"}]) == refused


def test_gcp_openapi_operation_without_security(tmp_path):
    g = good_gcp_eu()
    doc = "openapi: '3.0.0'\npaths:\n  /v2/models/{m}/infer:\n    post: {operationId: infer}\n"
    g.add("gcp:apigateway/apiConfig:ApiConfig", "cfg", {"api": "a", "openapiDocuments": [{"document": {
        "path": "spec.yaml", "contents": base64.b64encode(doc.encode()).decode()}}]}, g.state("models")["provider"])
    found = run(g, tmp_path)
    assert found == [("cfg", "gcp:apigateway/apiConfig:ApiConfig cfg: POST /v2/models/{m}/infer in spec.yaml of "
                              "API 'cfg' has no security requirement; add a JWT securityDefinition to it (or list "
                              "{api, route} in publicRoutes)")]
    assert run(g, tmp_path, publicRoutes=[{"api": "cfg", "route": "POST /v2/models/{m}/infer"}]) == []
    assert run(g, tmp_path, publicRoutes=[{"api": "api", "route": "POST /v2/models/{m}/infer"}]) == found


def test_open_cluster_endpoint_only_matters_in_production(tmp_path):
    g = good_aws_eu()
    g.inputs("cluster")["vpcConfig"]["endpointPublicAccess"] = True
    g.inputs("cluster")["vpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    def refused(cidr, example):
        return [("cluster", f"aws:eks/cluster:Cluster cluster: vpcConfig.publicAccessCidrs {cidr} admits the public "
                            f"Internet ({example}) in production; allow private ranges or list the trusted source "
                            "in trustedCidrs")]
    assert run(g, tmp_path) == refused("0.0.0.0/0", "11.0.0.0/8")
    assert run(g, tmp_path, environment="dev") == []
    # two halves reach the Internet as surely as 0.0.0.0/0 (CIDR semantics, not string matching)
    g.inputs("cluster")["vpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/1", "128.0.0.0/1"]
    assert run(g, tmp_path) == refused("0.0.0.0/1", "11.0.0.0/8") + refused("128.0.0.0/1", "172.0.0.0/12")
    # a public range is refused unless it is listed as trusted; documentation ranges are not the Internet
    g.inputs("cluster")["vpcConfig"]["publicAccessCidrs"] = ["81.2.69.0/24"]
    assert run(g, tmp_path) == refused("81.2.69.0/24", "81.2.69.0/24")
    assert run(g, tmp_path, trustedCidrs=["81.2.69.0/24"]) == []
    g.inputs("cluster")["vpcConfig"]["publicAccessCidrs"] = ["203.0.113.0/24"]
    assert run(g, tmp_path) == []
    # public access with no CIDR list means the AWS default, 0.0.0.0/0
    del g.inputs("cluster")["vpcConfig"]["publicAccessCidrs"]
    assert run(g, tmp_path) == refused("0.0.0.0/0", "11.0.0.0/8")


def test_gke_public_control_plane_in_production(tmp_path):
    g = good_gcp_eu()
    g.inputs("gke")["privateClusterConfig"]["enablePrivateEndpoint"] = False
    found = run(g, tmp_path)
    # no authorized networks on a public endpoint means anyone (GKE's default, 0.0.0.0/0)
    assert found == [("gke", "gcp:container/cluster:Cluster gke: masterAuthorizedNetworksConfig 0.0.0.0/0 admits the "
                             "public Internet (11.0.0.0/8) in production; allow private ranges or list the trusted "
                             "source in trustedCidrs")]
    g.inputs("gke")["masterAuthorizedNetworksConfig"] = {"cidrBlocks": [{"cidrBlock": "10.8.0.0/16"}]}
    assert run(g, tmp_path) == []


def test_static_keys_and_missing_workload_identity(tmp_path):
    g = good_aws_eu()
    p = g.state("vpc")["provider"]
    g.add("aws:iam/accessKey:AccessKey", "ci-key", {"user": "ci"}, p)
    g.remove("oidc")
    found = run(g, tmp_path)
    assert names(found) == ["ci-key", "cluster"]
    assert "static IAM access key; use IRSA" in dict(found)["ci-key"]
    assert "no workload identity" in dict(found)["cluster"]
    g = good_gcp_eu()
    g.add("gcp:serviceaccount/key:Key", "sa-key", {"serviceAccountId": "sa"}, g.state("models")["provider"])
    del g.inputs("gke")["workloadIdentityConfig"]
    assert names(run(g, tmp_path)) == ["gke", "sa-key"]


def test_unprotected_and_force_destroy_state(tmp_path):
    g = good_aws_eu()
    g.state("secrets")["protect"] = False
    g.inputs("models")["forceDestroy"] = True
    found = run(g, tmp_path)
    assert sorted(found) == [
        ("models", "aws:s3/bucketV2:BucketV2 models: forceDestroy=true deletes its data with the resource; remove it"),
        ("secrets", "aws:kms/key:Key secrets: stateful but not protected; register it with protect=True"),
    ]
    # staging enforces like prod; dev is rebuilt on purpose (only forceDestroy is still refused there)
    assert sorted(run(g, tmp_path, environment="staging")) == sorted(found)
    assert run(g, tmp_path, environment="dev") == [sorted(found)[0]]


@pytest.mark.parametrize("mutate,expect", [
    (lambda g: g.inputs("gpu-reserved-lt")["blockDeviceMappings"][0]["ebs"].update(encrypted="false"),
     "blockDeviceMappings[0].ebs.encrypted is not true"),
    (lambda g: g.inputs("cluster").pop("encryptionConfig"), "no envelope encryption of Kubernetes secrets"),
])
def test_unencrypted_disks_and_secrets(tmp_path, mutate, expect):
    g = good_aws_eu()
    mutate(g)
    found = run(g, tmp_path)
    assert len(found) == 1 and expect in found[0][1]
