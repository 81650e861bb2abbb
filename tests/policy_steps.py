"""Preview-shaped steps for policy tests, built by hand where no component emits them yet.

Each step has the shape ``pulumi preview --json`` (and ``components.engine``) gives:
``{"op", "urn", "provider", "newState": {"urn", "type", "custom", "parent", "provider",
"inputs", "protect", "dependencies", "propertyDependencies"}}``. ``good_aws_eu`` and
``good_gcp_eu`` are stacks that every policy passes; tests mutate copies of them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

STACK = "fixture"
# the platform labels everything with the stack's class; model-approval reads it from the stack
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4711", "data-classification": "restricted"}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the preview sentinel for an unknown string


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Steps:
    def __init__(self, stack: str = STACK):
        self.stack = stack
        self.steps: list[dict[str, Any]] = []
        self.root = self.add("pulumi:pulumi:Stack", f"aiplat-{stack}", {}, custom=False, parent="")

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::aiplat::{type_}::{name}"

    def provider(self, cloud: str, name: str, **inputs: Any) -> str:
        urn = self.add(f"pulumi:providers:{cloud}", name, inputs)
        return f"{urn}::{hashlib.sha1(name.encode()).hexdigest()[:8]}"

    def add(self, type_: str, name: str, inputs: dict[str, Any], provider: str = "", protect: bool = False,
            deps: dict[str, list[str]] | None = None, custom: bool = True, parent: str | None = None,
            outputs: dict[str, Any] | None = None) -> str:
        urn = self.urn(type_, name)
        deps = deps or {}
        state = {
            "urn": urn, "type": type_, "custom": custom,
            "parent": self.root if parent is None else parent,
            "inputs": copy.deepcopy(inputs), "protect": protect,
            "dependencies": sorted({u for us in deps.values() for u in us}),
            "propertyDependencies": deps,
        }
        if outputs:
            state["outputs"] = outputs
        if provider:
            state["provider"] = provider
        self.steps.append({"op": "create", "urn": urn, "provider": provider, "newState": state})
        return urn

    def state(self, name: str) -> dict[str, Any]:
        return next(s["newState"] for s in self.steps if s["urn"].endswith(f"::{name}"))

    def inputs(self, name: str) -> dict[str, Any]:
        return self.state(name)["inputs"]

    def remove(self, name: str) -> None:
        self.steps = [s for s in self.steps if not s["urn"].endswith(f"::{name}")]


def models_annotation(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


STABLE = {"name": "llm", "version": "3", "digest": digest("llm-3"), "track": "stable"}
CANARY = {"name": "llm", "version": "4", "digest": digest("llm-4"), "track": "canary"}


def approved_catalog(expires: str = "2099-12-31", canary_classes=("internal", "confidential", "restricted")) -> str:
    return f"""source: test approvals
date: 2026-11-22
models:
  - name: llm
    version: "3"
    digest: {STABLE['digest']}
    classifications: [internal, confidential, restricted]
    approver: jane@example.com
    expires: {expires}
  - name: llm
    version: 4
    digest: {CANARY['digest']}
    classifications: [{', '.join(canary_classes)}]
    approver: jane@example.com
    expires: 2099-12-31
"""


def eval_report(**changes) -> dict:
    """An `aiplat eval --json` report of llm version 3 (STABLE), in the shape the command writes
    (tests/test_serving_eval.py attaches real ones)."""
    doc = {
        "kind": "aiplat-eval-report", "passed": True, "date": "2026-11-30T10:00:00Z", "server": "10.0.0.7:8000",
        "model": "llm", "version": "3", "model_digest": STABLE["digest"],
        "dataset": {"name": "golden-v3", "path": "data/golden-v3.jsonl", "digest": digest("golden"), "rows": 200},
        "baseline": {"server": "10.0.0.7:8000", "model": "llm", "version": "2"},
        "thresholds": {"max_abs_error": 0.0001, "min_agreement": 0.98},
        "threshold_sources": {"max_abs_error": "spec", "min_agreement": "flag"}, "agreement_tolerance": 1e-06,
        "checks": [
            {"threshold": "max_abs_error", "output": "PROBS", "limit": 0.0001, "measured": 6e-08, "passed": True,
             "note": "", "worst": []},
            {"threshold": "min_agreement", "output": "LABEL", "limit": 0.98, "measured": 0.99, "passed": True,
             "note": "", "worst": []},
            {"threshold": "failed_requests", "output": None, "limit": 0, "measured": 0, "passed": True, "note": "",
             "worst": []}],
        "outputs": {"PROBS": {"datatype": "FP32", "kind": "float",
                              "expected": {"rows": 200, "max_abs_error": 6e-08, "mean_abs_error": 1e-08}},
                    "LABEL": {"datatype": "INT64", "kind": "label",
                              "baseline": {"rows": 200, "agreeing": 198, "agreement": 0.99}}},
        "latency_ms": {"p50": 1.2, "p95": 3.4, "p99": 5.6, "mean": 1.5, "max": 7.0},
        "requests": {"sent": 13, "failed": 0, "rows": 200, "rows_unanswered": 0, "rows_not_sent": 0, "errors": []},
        "baseline_requests": None, "concurrency": 4, "batch_size": 16, "elapsed_s": 0.4,
    }
    doc.update(changes)
    return doc


def good_aws_eu() -> Steps:
    """An EU AWS stack that meets every policy: private EKS, IRSA, encrypted protected
    buckets replicated inside the EU, a reserved + burst GPU pool, authenticated routes."""
    g = Steps()
    p = g.provider("aws", "eu-central-1", region="eu-central-1", defaultTags={"tags": TAGS})
    p2 = g.provider("aws", "eu-west-1", region="eu-west-1", defaultTags={"tags": TAGS})
    k8s = g.provider("kubernetes", "k8s-eu-central-1", kubeconfig="[secret]")
    vpc = g.add("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"Name": "vpc"}}, p)
    subnet = g.add("aws:ec2/subnet:Subnet", "private-a", {"vpcId": UNKNOWN, "cidrBlock": "10.0.0.0/20",
                                                          "availabilityZone": "eu-central-1a"}, p,
                   deps={"vpcId": [vpc]})
    g.add("aws:ec2/natGateway:NatGateway", "nat-a", {"subnetId": UNKNOWN, "connectivityType": "public"}, p,
          deps={"subnetId": [subnet]})
    key = g.add("aws:kms/key:Key", "secrets", {"description": "EKS secrets", "enableKeyRotation": True,
                                               "deletionWindowInDays": 30}, p, protect=True)
    cluster = g.add("aws:eks/cluster:Cluster", "cluster", {
        "name": "fixture-eu", "roleArn": "arn:aws:iam::123456789012:role/cluster", "version": "1.35",
        "vpcConfig": {"subnetIds": [UNKNOWN], "endpointPrivateAccess": True, "endpointPublicAccess": False},
        "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:eu-central-1:123456789012:key/abc"},
                             "resources": ["secrets"]},
        "enabledClusterLogTypes": ["api", "audit"],
    }, p, deps={"vpcConfig": [subnet], "encryptionConfig": [key]})
    # the Kubernetes provider's kubeconfig comes from the cluster (data-residency places its objects there)
    g.state("k8s-eu-central-1").update(dependencies=[cluster], propertyDependencies={"kubeconfig": [cluster]})
    g.add("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "oidc", {
        "url": "https://oidc.eks.eu-central-1.amazonaws.com/id/ABC", "clientIdLists": ["sts.amazonaws.com"],
        "thumbprintLists": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]}, p, deps={"url": [cluster]})
    # GPU pool: 2 reserved g6e.xlarge (capacity reservation + reserved node group), burst to 6.
    g.add("aws:ec2/capacityReservation:CapacityReservation", "gpu-reserved-a", {
        "instanceType": "g6e.xlarge", "instancePlatform": "Linux/UNIX", "availabilityZone": "eu-central-1a",
        "instanceCount": 2, "instanceMatchCriteria": "targeted"}, p)
    lt = g.add("aws:ec2/launchTemplate:LaunchTemplate", "gpu-reserved-lt", {
        "instanceType": "g6e.xlarge",
        "capacityReservationSpecification": {"capacityReservationTarget": {"capacityReservationId": UNKNOWN}},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 200,
                                                                      "kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/nodes"}}],
    }, p)
    g.add("aws:eks/nodeGroup:NodeGroup", "gpu-reserved", {
        "clusterName": UNKNOWN, "amiType": "AL2023_x86_64_NVIDIA", "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 2, "desiredSize": 2, "maxSize": 2},
        "launchTemplate": {"id": UNKNOWN, "version": UNKNOWN},
        "labels": {"aiplat.io/capacity-type": "reserved", "aiplat.io/pool": "gpu"},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    }, p, deps={"clusterName": [cluster], "launchTemplate": [lt]})
    burst_lt = g.add("aws:ec2/launchTemplate:LaunchTemplate", "gpu-burst-lt", {
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
            "encrypted": "true", "volumeSize": 200, "kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/nodes"}}],
    }, p)
    g.add("aws:eks/nodeGroup:NodeGroup", "gpu-burst", {
        "clusterName": UNKNOWN, "amiType": "AL2023_x86_64_NVIDIA", "capacityType": "ON_DEMAND",
        "instanceTypes": ["g6e.xlarge"], "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 4},
        "launchTemplate": {"id": UNKNOWN, "version": UNKNOWN},
        "labels": {"aiplat.io/capacity-type": "on-demand", "aiplat.io/pool": "gpu"},
    }, p, deps={"clusterName": [cluster], "launchTemplate": [burst_lt]})
    # Model bucket, replicated to a second EU region.
    bucket = g.add("aws:s3/bucketV2:BucketV2", "models", {"bucket": "fixture-models-euc1"}, p, protect=True)
    replica = g.add("aws:s3/bucketV2:BucketV2", "models-replica", {"bucket": "fixture-models-euw1"}, p2,
                    protect=True)
    for name, b, prov in (("models", bucket, p), ("models-replica", replica, p2)):
        g.add("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
              f"{name}-sse", {"bucket": UNKNOWN, "rules": [{"applyServerSideEncryptionByDefault": {
                  "sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}, "bucketKeyEnabled": True}]}, prov,
              deps={"bucket": [b], "rules": [key]})
        g.add("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-pab", {
            "bucket": UNKNOWN, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}, prov, deps={"bucket": [b]})
    # Access logs of both buckets into a log bucket in each one's region (access-logs). The fixture's
    # log buckets use the KMS key like the others; real ones need SSE-S3 (aiplat.access_logs).
    for name, b, prov, region in (("models", bucket, p, "euc1"), ("models-replica", replica, p2, "euw1")):
        logs = g.add("aws:s3/bucketV2:BucketV2", f"{name}-logs", {"bucket": f"fixture-logs-{region}",
                                                                  "tags": {"aiplat-log-target": "true"}}, prov,
                     protect=True)
        g.add("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
              f"{name}-logs-sse", {"bucket": UNKNOWN, "rules": [{"applyServerSideEncryptionByDefault": {
                  "sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}}]}, prov, deps={"bucket": [logs], "rules": [key]})
        g.add("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-logs-pab", {
            "bucket": UNKNOWN, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}, prov, deps={"bucket": [logs]})
        g.add("aws:s3/bucketLoggingV2:BucketLoggingV2", f"{name}-logging", {
            "bucket": UNKNOWN, "targetBucket": UNKNOWN, "targetPrefix": "s3/"}, prov,
            deps={"bucket": [b], "targetBucket": [logs]})
    g.add("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "models-replication", {
        "bucket": UNKNOWN, "role": "arn:aws:iam::123456789012:role/replication",
        "rules": [{"id": "all", "status": "Enabled",
                   "destination": {"bucket": "arn:aws:s3:::fixture-models-euw1", "storageClass": "STANDARD"}}],
    }, p, deps={"bucket": [bucket], "rules": [replica]})
    # Gateway and health check.
    api = g.add("aws:apigatewayv2/api:Api", "api", {"protocolType": "HTTP", "name": "fixture"}, p)
    g.add("aws:apigatewayv2/route:Route", "infer", {"apiId": UNKNOWN, "routeKey": "POST /v2/models/{model}/infer",
                                                     "authorizationType": "JWT", "authorizerId": UNKNOWN}, p,
          deps={"apiId": [api]})
    g.add("aws:cloudwatch/logGroup:LogGroup", "access-logs", {"retentionInDays": 30,
                                                              "kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/logs"}, p)
    g.add("aws:route53/healthCheck:HealthCheck", "health", {
        "type": "HTTPS", "fqdn": "abc123.execute-api.eu-central-1.amazonaws.com", "resourcePath": "/health",
        "port": 443}, p)
    # Triton serving: stable + canary, declared per the model-approval contract.
    g.add("kubernetes:apps/v1:Deployment", "triton", {
        "metadata": {"name": "triton", "annotations": {"aiplat.io/models": models_annotation(STABLE)}},
        "spec": {"replicas": 2}}, k8s)
    g.add("kubernetes:apps/v1:Deployment", "triton-canary", {
        "metadata": {"name": "triton-canary", "annotations": {"aiplat.io/models": models_annotation(CANARY)}},
        "spec": {"replicas": 1}}, k8s)
    return g


def good_gcp_eu() -> Steps:
    g = Steps()
    p = g.provider("gcp", "europe-west4", project="fixture-project", region="europe-west4",
                   defaultLabels=TAGS)
    for name, extra in (("models", {"logging": {"logBucket": "fixture-logs"}}),
                        ("logs", {"labels": {**TAGS, "aiplat-log-target": "true"}})):
        g.add("gcp:storage/bucket:Bucket", name, {
            "name": f"fixture-{name}", "location": "EU", "uniformBucketLevelAccess": True,
            "publicAccessPrevention": "enforced", "versioning": {"enabled": True},
            "encryption": {"defaultKmsKeyName": "projects/fixture-project/locations/eu/keyRings/r/cryptoKeys/k"},
            **extra,
        }, p, protect=True)
    cluster = g.add("gcp:container/cluster:Cluster", "gke", {
        "name": "fixture-gke", "location": "europe-west4", "minMasterVersion": "1.35", "nodeLocations": ["europe-west4-a", "europe-west4-b"],
        "workloadIdentityConfig": {"workloadPool": "fixture-project.svc.id.goog"},
        "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True,
                                 "masterIpv4CidrBlock": "172.16.0.0/28"},
        "resourceLabels": TAGS, "removeDefaultNodePool": True, "initialNodeCount": 1,
        "databaseEncryption": {"state": "ENCRYPTED",
                               "keyName": "projects/fixture-project/locations/europe-west4/keyRings/r/cryptoKeys/gke"},
    }, p)
    g.add("gcp:compute/reservation:Reservation", "gpu-reserved-a", {
        "zone": "europe-west4-a", "specificReservationRequired": True,
        "specificReservation": {"count": 2, "instanceProperties": {
            "machineType": "g2-standard-8", "guestAccelerators": [{"acceleratorType": "nvidia-l4",
                                                                   "acceleratorCount": 1}]}},
    }, p)
    g.add("gcp:container/nodePool:NodePool", "gpu-reserved", {
        "cluster": UNKNOWN, "location": "europe-west4", "nodeLocations": ["europe-west4-a"],
        "autoscaling": {"minNodeCount": 2, "maxNodeCount": 2},
        "nodeConfig": {"machineType": "g2-standard-8", "labels": {"aiplat.io/capacity-type": "reserved"},
                       "bootDiskKmsKey": "projects/fixture-project/locations/europe-west4/keyRings/r/cryptoKeys/disks",
                       "reservationAffinity": {"consumeReservationType": "SPECIFIC_RESERVATION"},
                       "resourceLabels": TAGS},
    }, p, deps={"cluster": [cluster]})
    g.add("gcp:container/nodePool:NodePool", "gpu-burst", {
        "cluster": UNKNOWN, "location": "europe-west4",
        "autoscaling": {"minNodeCount": 0, "maxNodeCount": 2},
        "nodeConfig": {"machineType": "g2-standard-8", "labels": {"aiplat.io/capacity-type": "on-demand"},
                       "bootDiskKmsKey": "projects/fixture-project/locations/europe-west4/keyRings/r/cryptoKeys/disks"},
    }, p, deps={"cluster": [cluster]})
    return g


def write_config(tmp_path, doc: dict[str, Any], name: str = "policy.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def eu_config(tmp_path, catalog_path=None, **overrides) -> Any:
    """The fixture stacks' policy config (prod, EU, restricted), plus overrides per policy."""
    doc = {
        "all": "mandatory",
        "data-residency": {"residencyZone": "eu"},
        "model-approval": {"dataClassification": "restricted",
                           **({"catalogPath": str(catalog_path)} if catalog_path else {})},
        "spend-cap": {"maxMonthlyUsd": 20000, "maxGpus": 8},
        "security-baseline": {"environment": "prod"},
        "required-tags": {"requiredTags": ["owner", "team", "cost-center"]},
    }
    for key, value in overrides.items():
        key = key.replace("_", "-")
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return write_config(tmp_path, doc)
