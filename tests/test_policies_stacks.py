"""The pack over REAL recorded stack graphs (components.engine runs each stack's program):
every shipped stack checks clean with its policy config, and mutations of a real graph are
caught with the policy, the resource and the reason."""

from __future__ import annotations

import copy
import json

import pytest

from aiplat.policies import cost, offline
from tests.conftest import EXAMPLE_MODELS, recorded

PROD_REGIONS = ("us-east-1", "us-west-2", "us-east-2")
from tests._project import run_stack, policy_config_path


def steps_of(stack: str) -> list[dict]:
    return copy.deepcopy(recorded(stack).steps())


def find(steps, type_, index=0):
    return [s["newState"] for s in steps if s["newState"]["type"] == type_][index]


def config_with(tmp_path, stack, **changes):
    doc = json.loads(policy_config_path(stack).read_text())
    for policy, props in changes.items():
        doc[policy.replace("_", "-")] = {**doc.get(policy.replace("_", "-"), {}), **props}
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(doc))
    return path


def test_every_shipped_stack_checks_clean(stacks):
    for stack in stacks:
        report = offline.evaluate(recorded(stack).steps(), stack, policy_config_path(stack))
        assert report.mandatory_violations == [], (stack, report.mandatory_violations[:3])
        assert report.exit_code == 0


def test_policy_config_agrees_with_the_stack_config(stacks):
    """Residency, classification and environment are stack facts; the policy config must not drift."""
    from aiplat.project import load_platform_config

    for stack in stacks:
        platform = load_platform_config(stack)
        config = offline.load_config(policy_config_path(stack))
        assert config["data-residency"].properties["residencyZone"] == platform.residency, stack
        assert config["model-approval"].properties["dataClassification"] == platform.data_classification, stack
        assert config["security-baseline"].properties["environment"] == platform.environment, stack
        # the budget alerts fire at fractions of the spend cap (issue 7): one number
        assert config["spend-cap"].properties["maxMonthlyUsd"] == platform.monitoring.monthly_budget_usd, stack


def test_prod_eu_bucket_replicating_to_us_east_1(tmp_path):
    steps = steps_of("prod-eu")
    provider = find(steps, "pulumi:providers:aws")
    stack_urn = find(steps, "pulumi:pulumi:Stack")["urn"]
    prefix = stack_urn.rsplit("::", 2)[0]

    def add(type_, name, inputs, provider_ref, deps=None):
        urn = f"{prefix}::{type_}::{name}"
        steps.append({"op": "create", "urn": urn, "provider": provider_ref, "newState": {
            "urn": urn, "type": type_, "custom": True, "parent": stack_urn, "provider": provider_ref,
            "inputs": inputs, "protect": True, "dependencies": [], "propertyDependencies": deps or {}}})
        return urn

    eu_ref = f"{provider['urn']}::id"
    us_ref = f"{add('pulumi:providers:aws', 'us-east-1', {'region': 'us-east-1'}, '')}::id"
    add("aws:s3/bucketV2:BucketV2", "dr-copy", {"bucket": "prod-eu-models-dr"}, us_ref)
    add("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "models-replication", {
        "bucket": "prod-eu-models", "role": "arn:aws:iam::123456789012:role/replication",
        "rules": [{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::prod-eu-models-dr"}}]}, eu_ref)
    report = offline.evaluate(steps, "prod-eu", policy_config_path("prod-eu"))
    v = next(v for v in report.by_policy("data-residency") if v.name == "models-replication")
    assert v.enforcement_level == "mandatory"
    assert v.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    assert "rules[0].destination.bucket (bucket dr-copy) = 'us-east-1' is in jurisdiction 'us', outside residency " \
           "zone 'eu'" in v.message
    assert report.exit_code == 1


def test_prod_eu_provider_moved_to_us(tmp_path):
    steps = steps_of("prod-eu")
    provider = find(steps, "pulumi:providers:aws", 1)
    provider["inputs"]["region"] = "us-east-1"
    verdicts = offline.evaluate(steps, "prod-eu", policy_config_path("prod-eu")).by_policy("data-residency")
    names = {v.name for v in verdicts}
    assert provider["urn"].rsplit("::", 1)[-1] in names
    clusters = [v for v in verdicts if v.type == "aws:eks/cluster:Cluster"]
    assert len(clusters) == 1 and "'us-east-1' is in jurisdiction 'us'" in clusters[0].message


def test_gcp_eu_multi_region_in_a_us_stack(tmp_path):
    steps = steps_of("gcp-prod")
    ring = find(steps, "gcp:kms/keyRing:KeyRing")
    ring["inputs"]["location"] = "EU"
    verdicts = offline.evaluate(steps, "gcp-prod", policy_config_path("gcp-prod")).by_policy("data-residency")
    assert [(v.type, "location = 'EU' is in jurisdiction 'eu', outside residency zone 'us'" in v.message)
            for v in verdicts if v.urn == ring["urn"]] == [("gcp:kms/keyRing:KeyRing", True)]


def test_prod_budget_below_full_scale_cost(tmp_path):
    steps = recorded("prod").steps()
    # the policy prices the commitments prod's config declares; so does the estimate compared with
    est = cost.estimate(steps, cost.commitments_of_config(policy_config_path("prod")))
    assert est.monthly_usd > 0 and est.subtotal("reserved") > 0
    report = offline.evaluate(steps, "prod", config_with(tmp_path, "prod", spend_cap={
        "maxMonthlyUsd": round(est.monthly_usd - 1, 2)}))
    [v] = report.by_policy("spend-cap")
    assert v.enforcement_level == "mandatory" and v.urn == ""
    assert f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd" in v.message
    assert "fixed $" in v.message
    assert report.exit_code == 1


def test_prod_cluster_endpoint_opened_to_the_internet(tmp_path):
    steps = steps_of("prod")
    cluster = find(steps, "aws:eks/cluster:Cluster")
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = True
    cluster["inputs"]["vpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    report = offline.evaluate(steps, "prod", policy_config_path("prod"))
    [v] = report.by_policy("security-baseline")
    assert v.urn == cluster["urn"] and v.message == (
        f"aws:eks/cluster:Cluster {v.name}: vpcConfig.publicAccessCidrs 0.0.0.0/0 admits the public Internet "
        "(11.0.0.0/8) in production; allow private ranges or list the trusted source in trustedCidrs")
    assert report.exit_code == 1


def test_prod_static_access_key(tmp_path):
    steps = steps_of("prod")
    role = find(steps, "aws:iam/role:Role")
    key = copy.deepcopy(next(s for s in steps if s["newState"]["urn"] == role["urn"]))
    key["urn"] = key["newState"]["urn"] = role["urn"].replace("aws:iam/role:Role", "aws:iam/accessKey:AccessKey")
    key["newState"]["type"] = "aws:iam/accessKey:AccessKey"
    key["newState"]["inputs"] = {"user": "ci"}
    steps.append(key)
    [v] = offline.evaluate(steps, "prod", policy_config_path("prod")).by_policy("security-baseline")
    assert v.type == "aws:iam/accessKey:AccessKey" and "static IAM access key" in v.message


def test_model_approval_from_mutated_stack_config(tmp_path):
    """Mutate the real stack config, re-run the program under the engine, check the verdicts."""
    from aiplat.testing import engine
    from aiplat.project import read_stack_config
    from tests._project import stack_file_path

    def run(stack, mutate, config_path=None):
        cfg = copy.deepcopy(read_stack_config(stack_file_path(stack)))
        mutate(cfg["aiplat:platform"])
        steps = run_stack(stack, cfg).steps()
        return offline.evaluate(steps, stack, config_path or policy_config_path(stack))

    def endpoint(platform, name):
        return next(e for e in platform["serving"]["endpoints"] if e["name"] == name)

    # prod: the stable text-embedder published from changed files, their digest stated (so the
    # program publishes them) but approved by nobody
    from aiplat.serving.repository import build, digest_version

    changed = tmp_path / "changed"
    build(EXAMPLE_MODELS, changed)
    (changed / "text-embedder" / "1" / "model.py").write_text("# not the approved artifact\n")
    unapproved = digest_version(changed, "text-embedder", 1)

    def tamper(p):
        p["serving"]["model_repository"] = str(changed)
        endpoint(p, "embed")["models"][0]["digest"] = unapproved
    report = run("prod", tamper)
    verdicts = report.by_policy("model-approval")
    assert verdicts and all(f"model text-embedder version 1: digest {unapproved[:19]}" in v.message
                            for v in verdicts)
    assert {v.type for v in verdicts} == {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap",
                                          "aws:s3/bucketObjectv2:BucketObjectv2"}
    # every object of the version is refused, in each of the three regions: config.pbtxt and model.py
    objects = sorted(v.name for v in verdicts if v.type.startswith("aws:s3/"))
    assert objects == sorted(f"prod-{r}-embed-text-embedder/v1/text-embedder/{f}" for r in PROD_REGIONS
                             for f in ("config.pbtxt", "1/model.py"))
    assert all("published model text-embedder version 1" in v.message for v in verdicts if v.type.startswith("aws:"))
    assert report.exit_code == 1

    # prod-eu (restricted data): a canary of version 2, approved for confidential data only
    def canary(p):
        endpoint(p, "embed")["max_replicas"] = 2  # room in the 3-GPU pool for the canary replica
        endpoint(p, "embed")["models"][0]["canary"] = {
            "version": 2, "digest": "sha256:952e57ff62d3bb6fbecd73f4dfd511b0b400721a1b3bba6d6439d084f87dde1c",
            "weight": 10}
    report = run("prod-eu", canary)
    verdicts = report.by_policy("model-approval")
    assert verdicts and all("model text-embedder version 2 is approved for public, internal, confidential "
                            "data, not for this stack's 'restricted'" in v.message for v in verdicts)
    # the canary's Deployment and the ConfigMap declare it; its published objects are refused too
    label = {v.type: v.message.split(": ", 1)[1].split(" model ")[0] for v in verdicts}
    assert label == {"kubernetes:apps/v1:Deployment": "canary", "kubernetes:core/v1:ConfigMap": "canary",
                     "aws:s3/bucketObjectv2:BucketObjectv2": "published"}

    # dev with an expired approval of its model (catalog copy, same entries)
    expired = tmp_path / "expired.yaml"
    expired.write_text((offline.POLICIES_DIR / "approved_models.yaml").read_text().replace(
        "expires: 2027-11-20", "expires: 2025-01-31"))
    report = run("dev", lambda p: None, config_with(tmp_path, "dev", model_approval={"catalogPath": str(expired)}))
    verdicts = report.by_policy("model-approval")
    assert verdicts and all("approval by ml-governance@aiplat.example expired on 2025-01-31" in v.message
                            for v in verdicts)
    assert report.exit_code == 1


def test_burst_cap_that_breaks_the_prod_budget(tmp_path):
    from aiplat.testing import engine
    from aiplat.project import read_stack_config
    from tests._project import stack_file_path

    cfg = copy.deepcopy(read_stack_config(stack_file_path("prod")))
    for region in cfg["aiplat:platform"]["regions"]:
        for pool in region["gpu_pools"]:
            if pool["name"] == "llm":
                pool["max_nodes"] = 8  # burst from 2 to 6 on-demand g6e.12xlarge per region
    steps = run_stack("prod", cfg).steps()
    est = cost.estimate(steps, cost.commitments_of_config(policy_config_path("prod")))
    report = offline.evaluate(steps, "prod", policy_config_path("prod"))
    messages = [v.message for v in report.by_policy("spend-cap")]
    assert any(m.startswith(f"estimated ${est.monthly_usd:,.2f}/month at full scale exceeds maxMonthlyUsd "
                            "$120,000.00") for m in messages)
    assert any("6x g6e.12xlarge us-east-1" in m for m in messages)
    assert report.exit_code == 1


def test_prod_gpus_beyond_max_gpus(tmp_path):
    steps = recorded("prod").steps()
    gpus = cost.estimate(steps).total_gpus
    report = offline.evaluate(steps, "prod", config_with(tmp_path, "prod", spend_cap={"maxGpus": gpus - 1}))
    [v] = report.by_policy("spend-cap")
    assert v.urn == "" and v.message.startswith(f"{gpus} GPUs at full scale exceed maxGpus {gpus - 1}")
    assert report.exit_code == 1


def test_prod_model_bucket_public_access_block_loosened():
    steps = steps_of("prod")
    pab = next(s["newState"] for s in steps if s["newState"]["type"] == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
               and "triton" in s["newState"]["urn"])
    pab["inputs"]["restrictPublicBuckets"] = False
    report = offline.evaluate(steps, "prod", policy_config_path("prod"))
    [v] = report.by_policy("security-baseline")
    assert v.urn == pab["urn"] and "set restrictPublicBuckets=true" in v.message
    assert report.exit_code == 1


@pytest.mark.parametrize(("stack", "type_", "drop", "missing"), [
    ("prod", "aws:ec2/subnet:Subnet", ["cost-center"], "cost-center"),
    ("prod", "aws:eks/cluster:Cluster", ["owner", "team", "cost-center"], "owner, team, cost-center"),
    ("prod-eu", "aws:s3/bucket:Bucket", ["owner", "team"], "owner, team"),
])
def test_real_resources_missing_chargeback_tags(stack, type_, drop, missing):
    steps = steps_of(stack)
    state = find(steps, type_)
    for key in drop:
        del state["inputs"]["tags"][key]
    report = offline.evaluate(steps, stack, policy_config_path(stack))
    [v] = report.by_policy("required-tags")
    assert (v.urn, v.enforcement_level) == (state["urn"], "mandatory")
    assert v.message.startswith(f"{type_} {state['urn'].rsplit('::', 1)[-1]} lacks tags {missing}; add them")
    assert report.exit_code == 1
