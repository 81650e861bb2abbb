"""VectorStore: the chart values (pure) and the exact child contract per configured region."""

from __future__ import annotations

import json

import pytest

from aiplat.errors import ConfigError
from aiplat.vector_store import MILVUS_CHART_VERSION, VectorStore, VectorStoreArgs, helm_values, validate_store_args

from aiplat.testing import engine

from .conftest import run_cli

VS = "aiplat:vector_store:VectorStore"


def _args(**kw) -> VectorStoreArgs:
    base = dict(cloud="aws", region="eu-west-1", kube_provider=None, bucket_name="b-eu-west-1-vectors",
                zones=["eu-west-1a", "eu-west-1b", "eu-west-1c"], oidc_provider_arn="arn", oidc_issuer="iss")
    return VectorStoreArgs(**{**base, **kw})


def test_values_use_the_regions_bucket_through_the_pod_identity_and_turn_auth_on():
    v = helm_values(_args(), "sc", {"eks.amazonaws.com/role-arn": "arn:role"}, "pw")
    assert v["minio"] == {"enabled": False}
    assert v["externalS3"] == {"enabled": True, "host": "s3.amazonaws.com", "port": "443", "useSSL": True,
                               "bucketName": "b-eu-west-1-vectors", "rootPath": "milvus", "useIAM": True,
                               "cloudProvider": "aws", "region": "eu-west-1"}
    assert "accessKey" not in v["externalS3"] and "secretKey" not in v["externalS3"]
    assert v["serviceAccount"] == {"create": True, "name": "milvus", "annotations": {"eks.amazonaws.com/role-arn": "arn:role"}}
    assert json.loads(v["extraConfigFiles"]["user.yaml"]) == {
        "common": {"security": {"authorizationEnabled": True, "defaultRootPassword": "pw"}}}
    assert v["cluster"] == {"enabled": False} and v["pulsarv3"] == {"enabled": False}
    assert v["standalone"]["persistence"]["persistentVolumeClaim"] == {"storageClass": "sc", "size": "50Gi"}
    assert v["standalone"]["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    assert v["etcd"] == {"replicaCount": 1, "persistence": {"storageClass": "sc", "size": "10Gi"},
                         "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}}
    # without a Milvus node pool (a cluster aiplat did not build) nothing is pinned
    assert "nodeSelector" not in v and "tolerations" not in v and "nodeSelector" not in v["etcd"]


def test_cluster_mode_replicates_and_spreads_every_component_over_zones():
    v = helm_values(_args(mode="cluster", storage_gb=200), "sc", {}, "pw")
    assert v["cluster"] == {"enabled": True} and v["etcd"]["replicaCount"] == 3
    for key, label in [("proxy", "proxy"), ("queryNode", "querynode"), ("dataNode", "datanode"),
                       ("indexNode", "indexnode"), ("mixCoordinator", "mixcoord")]:
        assert v[key]["replicas"] >= 2 and v[key]["resources"]["requests"]
        assert v[key]["topologySpreadConstraints"] == [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "milvus", "component": label}}}]
    assert v["pulsarv3"]["bookkeeper"]["volumes"]["ledgers"] == {"storageClassName": "sc", "size": "200Gi"}


def test_validate_args_reports_every_problem():
    bad = _args(cloud="aws", oidc_provider_arn=None, mode="cluster", zones=["eu-west-1a"], storage_gb=5,
                client_namespaces=[], bucket_name="x")
    assert [str(p) for p in validate_store_args(bad)] == [
        "storage_gb: 5 is outside 10..16384",
        "zones: cluster mode spreads replicas over zones: at least 2 are needed",
        "client_namespaces: at least one namespace must be able to reach Milvus",
        "bucket_name: 'x' must be 3..63 characters",
        "oidc_provider_arn: AWS needs the cluster's OIDC provider and issuer (IRSA)",
    ]
    with pytest.raises(ConfigError):
        VectorStore("x", bad)


def _children(rec, comp, type_):
    return [r for r in rec.ordered() if r.parent == comp.urn and r.type == type_]


def _one(rec, comp, type_):
    found = _children(rec, comp, type_)
    assert len(found) == 1, (type_, len(found))
    return found[0]


@pytest.mark.parametrize(("stack", "regions", "mode"), [
    ("prod-eu", ["eu-central-1", "eu-west-1"], "cluster"),
    ("staging", ["us-east-1"], "standalone"),
    ("dev", ["us-east-1"], "standalone"),
])
def test_aws_vector_store_per_configured_region(record, stack, regions, mode):
    rec = record(stack)
    comps = rec.of_type(VS)
    assert [c.name for c in comps] == [f"{stack}-{r}-vectors" for r in regions]
    for comp, region in zip(comps, regions):
        bucket = _one(rec, comp, "aws:s3/bucket:Bucket")
        assert rec.region_of(bucket) == region and bucket.protect
        assert bucket.inputs["bucket"] == f"aiplat-{stack}-{region}-vectors" and bucket.inputs["forceDestroy"] is False
        key = _one(rec, comp, "aws:kms/key:Key")
        assert key.protect and key.inputs["enableKeyRotation"] is True and rec.region_of(key) == region
        assert _one(rec, comp, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {
            "status": "Enabled"}
        sse = _one(rec, comp, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        pab = _one(rec, comp, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(pab.inputs[f] is True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                   "restrictPublicBuckets"))
        rule = _one(rec, comp, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30} and rule["status"] == "Enabled"
        role = _one(rec, comp, "aws:iam/role:Role")
        stmt = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert list(stmt["Condition"]["StringEquals"].values())[0] == "system:serviceaccount:milvus:milvus"
        sc = _one(rec, comp, "kubernetes:storage.k8s.io/v1:StorageClass")
        assert sc.inputs["provisioner"] == "ebs.csi.aws.com" and sc.inputs["reclaimPolicy"] == "Retain"
        assert sc.inputs["parameters"]["encrypted"] == "true"
        assert sc.inputs["parameters"]["kmsKeyId"].startswith(f"arn:aws:kms:{region}:")
        password = _one(rec, comp, "random:index/randomPassword:RandomPassword")
        assert password.inputs == {"length": 32, "special": False}
        secret = _one(rec, comp, "kubernetes:core/v1:Secret")
        assert secret.inputs["stringData"] == "[secret]" and secret.inputs["metadata"]["name"] == "milvus-root"
        release = _one(rec, comp, "kubernetes:helm.sh/v3:Release")
        assert {k: release.inputs[k] for k in ("chart", "version", "name", "namespace")} == {
            "chart": "milvus", "version": MILVUS_CHART_VERSION, "name": "milvus", "namespace": "milvus"}
        # only user.yaml (it holds the root password) is secret; the rest is known at preview
        values = release.inputs["values"]
        # unknown until the password exists (a first preview), and a secret leaf after
        assert values["extraConfigFiles"] == {"user.yaml": engine.UNKNOWN}
        assert values["etcd"]["persistence"]["storageClass"] == sc.inputs["metadata"]["name"]
        assert values["externalS3"]["bucketName"] == bucket.inputs["bucket"] and "secretKey" not in values["externalS3"]
        assert set(values["serviceAccount"]["annotations"]) == {"eks.amazonaws.com/role-arn"}
        assert values["nodeSelector"] == {"aiplat.io/pool": "milvus"}
        assert values["tolerations"] == [
            {"key": "aiplat.io/dedicated", "operator": "Equal", "value": "milvus", "effect": "NoSchedule"}]
        assert release.inputs["repositoryOpts"] == {"repo": "https://zilliztech.github.io/milvus-helm/"}
        assert {bucket.urn, sc.urn, secret.urn} <= set(release.dependencies)
        netpol = _one(rec, comp, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        ingress = netpol.inputs["spec"]["ingress"]
        clients = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in ingress[0]["from"]]
        assert "rag" in clients and ingress[0]["ports"] == [{"protocol": "TCP", "port": 19530}]
        assert netpol.inputs["spec"]["policyTypes"] == ["Ingress"]
        # Everything in the cluster goes through that region's cluster provider.
        assert rec.provider_of(release).name == rec.provider_of(sc).name
    # mode is the environment's default
    from aiplat.project import load_platform_config

    cfg = load_platform_config(stack)
    assert cfg.vector_store.resolved_mode(cfg.environment) == mode


def test_gcp_bucket_stays_in_its_region(record):
    rec = record("gcp-prod")
    (comp,) = rec.of_type(VS)
    bucket = _one(rec, comp, "gcp:storage/bucket:Bucket")
    assert bucket.inputs["location"] == "us-central1" and bucket.protect
    assert bucket.inputs["versioning"] == {"enabled": True} and bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["lifecycleRules"][0]["condition"]["daysSinceNoncurrentTime"] == 30
    sc = _one(rec, comp, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["provisioner"] == "pd.csi.storage.gke.io" and "disk-encryption-kms-key" in sc.inputs["parameters"]
    wi = _one(rec, comp, "gcp:serviceaccount/iAMMember:IAMMember")
    assert wi.inputs["member"] == "serviceAccount:acme-inference-prod.svc.id.goog[milvus/milvus]"


def test_check_prod_eu_keeps_the_vector_store_in_the_eu(record):
    rec = record("prod-eu")
    for comp in rec.of_type(VS):
        for child in [r for r in rec.ordered() if r.parent == comp.urn and r.type.startswith("aws:")]:
            assert rec.region_of(child) in {"eu-central-1", "eu-west-1"}, child.name
    out = run_cli("check", "prod-eu")
    assert out.returncode == 0, out.stdout + out.stderr
