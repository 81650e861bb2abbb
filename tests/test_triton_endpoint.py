"""TritonEndpoint: pure helpers, the exact child contract per region (AWS and GCP), every
Kubernetes object of `aiplat check prod --json` through kubernetes-validate --strict, bad
serving config -> exit 2 with key paths, and the example program on an existing cluster."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aiplat.testing import engine
from aiplat.config import PlatformConfig
from aiplat.errors import ConfigError
from aiplat.project import load_platform_config, read_stack_config
from tests._project import stack_file_path
from aiplat.triton import (
    CONFIGMAP_KEYS,
    TritonEndpointArgs,
    TritonModel,
    bucket_name,
    canary_max_replicas,
    model_entries,
    pod_resources,
    queue_time_query,
    repository_uri,
    triton_args,
    validate_args,
)
from tests.conftest import EXAMPLE_REPOSITORY, ROOT
from tests._project import run_stack

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
EXAMPLE = ROOT / "examples" / "triton-on-existing-cluster"
T = "aiplat:triton:TritonEndpoint"
DEPLOY, SVC, PDB = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget"
SCALER, MONITOR = "kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
SA, CM, NS = "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Namespace"


# -- pure helpers ---------------------------------------------------------------------
def test_canary_replicas_carry_the_largest_share_at_full_scale():
    assert canary_max_replicas(3, []) == 0
    assert canary_max_replicas(3, [0]) == 0
    assert canary_max_replicas(3, [10]) == 1
    assert canary_max_replicas(10, [10, 35]) == 4
    assert canary_max_replicas(4, [100]) == 4


def test_bucket_names_are_deterministic_and_fit_63_characters():
    long = bucket_name("acme-aiplat-production-long", "ap-southeast-2", "a-very-long-endpoint-name-indeed")
    assert len(long) <= 63 and long == bucket_name("acme-aiplat-production-long", "ap-southeast-2",
                                                    "a-very-long-endpoint-name-indeed")
    assert bucket_name("acme", "us-east-1", "embed") == "acme-us-east-1-embed"


def test_each_version_has_its_own_repository_and_triton_loads_exactly_the_listed_models():
    models = [TritonModel("emb", 1, D1, canary_version=2, canary_digest=D2, canary_weight=10), TritonModel("cls", 3, D1)]
    entries = model_entries("aws", "b", models)
    assert entries == [
        {"name": "emb", "version": "1", "digest": D1, "track": "stable", "weight": 90, "repository": "s3://b/emb/v1"},
        {"name": "cls", "version": "3", "digest": D1, "track": "stable", "weight": 100, "repository": "s3://b/cls/v3"},
        {"name": "emb", "version": "2", "digest": D2, "track": "canary", "weight": 10, "repository": "s3://b/emb/v2"},
    ]
    stable = triton_args([e for e in entries if e["track"] == "stable"])
    assert [a for a in stable if a.startswith("--model-repository=")] == [
        "--model-repository=s3://b/emb/v1", "--model-repository=s3://b/cls/v3"]
    assert [a for a in stable if a.startswith("--load-model=")] == ["--load-model=emb", "--load-model=cls"]
    assert {"--model-control-mode=explicit", "--strict-readiness=true"} <= set(stable)
    assert repository_uri("gcp", "b", "emb", 2) == "gs://b/emb/v2"
    # weight 0 = rolled back: the canary is neither deployed nor declared
    off = model_entries("aws", "b", [TritonModel("emb", 1, D1, canary_version=2, canary_digest=D2, canary_weight=0)])
    assert [(e["track"], e["weight"]) for e in off] == [("stable", 100)]


def test_queue_time_query_is_per_request_in_ms_for_one_track():
    q = queue_time_query("triton-embed", "canary", ["b", "a"])
    assert q.startswith("sum(rate(nv_inference_queue_duration_us{")
    assert 'aiplat_io_track="canary"' in q and 'model=~"a|b"' in q and 'namespace="triton-embed"' in q
    assert "/ clamp_min(sum(rate(nv_inference_request_success{" in q and q.endswith("/ 1000")


def test_pod_resources_take_the_replicas_share_of_the_node():
    assert pod_resources(4, 16, 1, 1) == ("3", "12Gi")  # g6.xlarge
    assert pod_resources(48, 384, 4, 2) == ("18", "144Gi")  # half a g6e.12xlarge


def _args(**kw) -> TritonEndpointArgs:
    base = dict(cloud="aws", region="us-east-1", endpoint="e", models=[TritonModel("m", 1, D1)], kube_provider=None,
                bucket_name="b", pool_name="p", node_selector={}, tolerations=[], gpus_per_node=1, max_gpus=4,
                oidc_provider_arn="arn", oidc_issuer="issuer",
                # an existing prefix: nothing to read here (the local source is tests/test_triton_models.py's)
                model_repository="s3://src/releases", accept_unverified_digests=True)
    return TritonEndpointArgs(**{**base, **kw})


def test_validate_args_reports_every_problem_with_its_arg_path():
    problems = validate_args(_args(
        models=[TritonModel("m", 1, "sha256:x", canary_version=1, canary_digest=D2, canary_weight=10),
                TritonModel("m", 2, D1)],
        min_replicas=3, max_replicas=2, gpus_per_replica=2, oidc_issuer=None,
    ))
    paths = {p.path for p in problems}
    assert {"models[0].digest", "models[0].canary_version", "models[1].name", "max_replicas", "gpus_per_replica",
            "oidc_provider_arn"} <= paths
    over = validate_args(_args(max_replicas=4, models=[TritonModel("m", 1, D1, 2, D2, 25)]))
    assert [(p.path, p.message) for p in over] == [
        ("max_replicas", "(4 + 1 canary) replicas x 1 GPU = 5 GPUs exceed pool 'p' (4 GPUs)")]
    assert validate_args(_args()) == []


# -- graph: AWS (prod) ----------------------------------------------------------------------
def _children(rec, component, type_):
    return [r for r in rec.of_type(type_) if r.parent == component.urn]


def _one(rec, component, type_, name_suffix=""):
    found = [r for r in _children(rec, component, type_) if r.name.endswith(name_suffix)]
    assert len(found) == 1, (type_, name_suffix, [r.name for r in found])
    return found[0]


def test_prod_has_an_endpoint_per_region_per_configured_endpoint(record):
    cfg = load_platform_config("prod")
    rec = record("prod")
    got = sorted(r.name for r in rec.of_type(T))
    want = sorted(f"prod-{r}-{ep.name}" for ep in cfg.serving.endpoints
                  for r in ep.resolved_regions([x.name for x in cfg.regions]))
    assert got == want and len(want) == 5
    root = rec.of_type("aiplat:platform:AiPlatform")[0]
    assert all(r.parent == root.urn for r in rec.of_type(T))


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "us-east-2"])
def test_prod_embed_endpoint_contract_per_region(record, region):
    rec = record("prod")
    cfg = load_platform_config("prod")
    ep_cfg = next(e for e in cfg.serving.endpoints if e.name == "embed")
    comp = next(r for r in rec.of_type(T) if r.name == f"prod-{region}-embed")
    kids = [r for r in rec.resources if r.parent == comp.urn]
    assert {r.name.split("prod-" + region + "-embed")[-1] for r in kids} >= {
        "-ns", "-sa", "-models", "-stable", "-canary", "-stable-svc", "-canary-svc", "-stable-pdb",
        "-canary-pdb", "-stable-scaler", "-canary-scaler", "-monitor", "-triton", "-triton-read"}

    # bucket: versioned, SSE-KMS with our key, all four public-access flags, protected
    bucket = _one(rec, comp, "aws:s3/bucket:Bucket")
    assert bucket.protect and bucket.inputs["bucket"] == f"acme-aiplat-prod-{region}-embed"
    assert bucket.inputs["forceDestroy"] is False
    deps = lambda r: {u for us in r.property_dependencies.values() for u in us}  # noqa: E731
    versioning = _one(rec, comp, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled" and bucket.urn in deps(versioning)
    sse = _one(rec, comp, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    key = _one(rec, comp, "aws:kms/key:Key")
    assert rule["sseAlgorithm"] == "aws:kms" and key.urn in sse.property_dependencies["rules"] and key.protect
    assert rule["kmsMasterKeyId"].startswith(f"arn:aws:kms:{region}:")
    assert key.inputs["enableKeyRotation"] is True
    pab = _one(rec, comp, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(pab.inputs[f] is True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                               "restrictPublicBuckets"))
    assert bucket.urn in deps(sse) and bucket.urn in deps(pab)

    # IRSA: the SA's role trusts exactly this cluster's OIDC provider for exactly this SA
    ns = "triton-embed"
    sa = _one(rec, comp, SA)
    role = _one(rec, comp, "aws:iam/role:Role")
    arn = sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert arn.startswith(f"arn:aws:iam::{engine.ACCOUNT_ID}:role/{role.name}-")
    assert role.urn in sa.property_dependencies["metadata"]
    oidc = next(r for r in rec.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
                if r.name == f"prod-{region}-oidc")
    issuer = oidc.inputs["url"].removeprefix("https://")
    stmt = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert stmt == [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{engine.ACCOUNT_ID}:oidc-provider/{issuer}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{ns}:triton",
                                       f"{issuer}:aud": "sts.amazonaws.com"}}}]
    policy = json.loads(_one(rec, comp, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"}
    assert not rec.of_type("aws:iam/accessKey:AccessKey")

    # Deployments: stable and canary (weight 10), pinned image, GPUs, pool placement, probes
    stable, canary = _one(rec, comp, DEPLOY, "-stable"), _one(rec, comp, DEPLOY, "-canary")
    for dep, track, version in ((stable, "stable", 1), (canary, "canary", 2)):
        spec = dep.inputs["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        assert dep.inputs["metadata"]["namespace"] == ns and "replicas" not in spec
        assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", c["image"])
        assert f"--model-repository=s3://acme-aiplat-prod-{region}-embed/text-embedder/v{version}" in c["args"]
        assert "--load-model=text-embedder" in c["args"] and "--model-control-mode=explicit" in c["args"]
        assert "--strict-readiness=true" in c["args"]
        # the latency summaries the p99/p95 alerts and panels read (the monitoring integration
        # test runs Triton with exactly these args)
        assert c["args"][-1] == "--metrics-config=summary_latencies=true"
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1" == c["resources"]["requests"]["nvidia.com/gpu"]
        assert c["startupProbe"]["httpGet"]["path"] == c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert {p["containerPort"] for p in c["ports"]} == {8000, 8001, 8002}
        assert c["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["allowPrivilegeEscalation"] is False
        # the TLS sidecar the ALB reaches (8443 -> Triton on the pod's loopback), hardened, with the
        # certificate Secret and the nginx ConfigMap mounted read-only
        assert [k["name"] for k in pod["containers"]] == ["triton", "tls-proxy"]
        proxy = pod["containers"][1]
        assert proxy["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
        assert proxy["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 10101, "runAsGroup": 10101, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}
        assert proxy["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"cpu": "1", "memory": "128Mi"}}
        vols = {v["name"]: v for v in pod["volumes"]}
        assert vols["tls-cert"]["secret"]["secretName"] == "embed-tls"
        assert vols["tls-proxy-conf"]["configMap"]["name"] == "embed-tls-proxy"
        assert pod["nodeSelector"] == {"aiplat.io/pool": "embed"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
        assert pod["serviceAccountName"] == "triton"
        assert dep.inputs["metadata"]["labels"]["aiplat.io/track"] == track
        served = json.loads(dep.inputs["metadata"]["annotations"]["aiplat.io/models"])
        assert [(e["name"], e["version"], e["track"]) for e in served] == [("text-embedder", str(version), track)]
        assert json.loads(dep.inputs["metadata"]["annotations"]["aiplat.io/traffic-weight"]) == {
            "text-embedder": 90 if track == "stable" else 10}

    # Services per track, PDBs, ScaledObjects with the configured bounds and the queue-time trigger
    svcs = {s.inputs["metadata"]["name"]: s for s in _children(rec, comp, SVC)}
    assert set(svcs) == {"triton", "triton-canary"}
    for s in svcs.values():
        assert [(p["name"], p["port"]) for p in s.inputs["spec"]["ports"]] == [("http", 8000), ("grpc", 8001),
                                                                             ("metrics", 8002), ("https", 8443)]
    assert svcs["triton"].inputs["spec"]["selector"]["aiplat.io/track"] == "stable"
    assert {p.inputs["spec"]["maxUnavailable"] for p in _children(rec, comp, PDB)} == {1}
    scalers = {s.inputs["spec"]["scaleTargetRef"]["name"]: s.inputs["spec"] for s in _children(rec, comp, SCALER)}
    assert (scalers["triton-stable"]["minReplicaCount"], scalers["triton-stable"]["maxReplicaCount"]) == (
        ep_cfg.min_replicas, ep_cfg.max_replicas)
    assert (scalers["triton-canary"]["minReplicaCount"], scalers["triton-canary"]["maxReplicaCount"]) == (1, 1)
    trig = scalers["triton-stable"]["triggers"][0]
    assert trig["type"] == "prometheus" and trig["metadata"]["threshold"] == "20"
    assert "nv_inference_queue_duration_us" in trig["metadata"]["query"]
    assert _one(rec, comp, MONITOR).inputs["spec"]["endpoints"][0]["port"] == "metrics"

    # the models ConfigMap: the whole list, both keys, built from config
    cm = _one(rec, comp, CM, "-models")
    assert cm.inputs["metadata"]["name"] == "embed-models"
    # the TLS sidecar's nginx config (TLS 1.2+ on 8443 -> Triton on the loopback) and the certificate
    # Secret the program generates (pulumi-tls, self-signed: the ALB does not validate targets)
    conf = _one(rec, comp, CM, "-tls-proxy").inputs["data"]["nginx.conf"]
    assert "listen 8443 ssl;" in conf and "server 127.0.0.1:8000" in conf and "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    secret = _one(rec, comp, "kubernetes:core/v1:Secret", "-tls")
    assert (secret.inputs["type"], secret.inputs["metadata"]["name"]) == ("kubernetes.io/tls", "embed-tls")
    cert = _one(rec, comp, "tls:index/selfSignedCert:SelfSignedCert")
    assert cert.inputs["allowedUses"] == ["digital_signature", "key_encipherment", "server_auth"]
    assert _one(rec, comp, "tls:index/privateKey:PrivateKey").inputs["algorithm"] == "RSA"
    configs = {v: "sha256:" + hashlib.sha256(
        (EXAMPLE_REPOSITORY / "text-embedder" / "configs" / f"v{v}.pbtxt").read_bytes()).hexdigest() for v in (1, 2)}
    for key in CONFIGMAP_KEYS:
        assert json.loads(cm.inputs["data"][key]) == [
            {"name": "text-embedder", "version": "1", "digest": ep_cfg.models[0].digest, "track": "stable",
             "weight": 90, "repository": f"s3://acme-aiplat-prod-{region}-embed/text-embedder/v1",
             "config": configs[1]},
            {"name": "text-embedder", "version": "2", "digest": ep_cfg.models[0].canary.digest, "track": "canary",
             "weight": 10, "repository": f"s3://acme-aiplat-prod-{region}-embed/text-embedder/v2",
             "config": configs[2]},
        ]
    # kubernetes objects go through the cluster's provider, cloud resources through the region's
    k8s_provider = next(r for r in rec.resources if r.name == f"prod-{region}-k8s")
    assert all(r.provider.startswith(k8s_provider.urn) for r in kids if r.type.startswith("kubernetes:"))
    assert all(rec.region_of(r) == region for r in kids if r.type.startswith("aws:"))


def test_no_canary_deployment_without_an_active_canary(record):
    rec = record("prod")
    comp = next(r for r in rec.of_type(T) if r.name == "prod-us-east-1-classify")
    assert [d.inputs["metadata"]["name"] for d in _children(rec, comp, DEPLOY)] == ["triton-stable"]
    assert [s.inputs["metadata"]["name"] for s in _children(rec, comp, SCALER)] == ["triton-stable"]
    # rollback: weight 0 removes the canary track in every region
    cfg = read_stack_config(stack_file_path("prod"))
    cfg["aiplat:platform"]["serving"]["endpoints"][0]["models"][0]["canary"]["weight"] = 0
    rolled = run_stack("prod", cfg)
    names = {d.inputs["metadata"]["name"] for d in rolled.of_type(DEPLOY) if d.name.startswith("prod-us-east-1-embed")}
    assert names == {"triton-stable"}
    cm = next(r for r in rolled.of_type(CM) if r.name == "prod-us-east-1-embed-models")
    assert [e["track"] for e in json.loads(cm.inputs["data"]["models.json"])] == ["stable"]


# -- graph: GCP ------------------------------------------------------------------------------
def test_gcp_endpoint_uses_a_private_cmek_bucket_and_workload_identity(record):
    rec = record("gcp-prod")
    cfg = load_platform_config("gcp-prod")
    for region in ("us-central1", "us-east4"):
        comp = next(r for r in rec.of_type(T) if r.name == f"gcp-prod-{region}-embed")
        bucket = _one(rec, comp, "gcp:storage/bucket:Bucket")
        b = bucket.inputs
        assert bucket.protect and b["location"] == region and b["uniformBucketLevelAccess"] is True
        assert b["publicAccessPrevention"] == "enforced" and b["versioning"] == {"enabled": True}
        key = _one(rec, comp, "gcp:kms/cryptoKey:CryptoKey")
        assert key.protect and key.urn in bucket.property_dependencies["encryption"]
        gsa = _one(rec, comp, "gcp:serviceaccount/account:Account")
        email = f"{gsa.inputs['accountId']}@{cfg.gcp_project}.iam.gserviceaccount.com"
        reader = _one(rec, comp, "gcp:storage/bucketIAMMember:BucketIAMMember")
        assert reader.inputs["role"] == "roles/storage.objectViewer" and reader.inputs["member"] == f"serviceAccount:{email}"
        wi = _one(rec, comp, "gcp:serviceaccount/iAMMember:IAMMember")
        assert wi.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert wi.inputs["member"] == f"serviceAccount:{cfg.gcp_project}.svc.id.goog[triton-embed/triton]"
        sa = _one(rec, comp, SA)
        assert sa.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": email}
        dep = _one(rec, comp, DEPLOY, "-stable")
        assert f"--model-repository=gs://{b['name']}/text-embedder/v1" in dep.inputs["spec"]["template"]["spec"][
            "containers"][0]["args"]


# -- every Kubernetes object of `aiplat check prod --json` against the real schemas -----------
# Custom resources: kubernetes-validate ships only the core API's OpenAPI schemas and says
# "Couldn't find schema" for CRDs. These kinds are checked here by their known shape instead.
CRD_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
                                           "cooldownPeriod", "advanced", "triggers", "fallback", "idleReplicaCount"},
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {"selector", "namespaceSelector", "endpoints", "podTargetLabels",
                                                     "jobLabel", "targetLabels", "sampleLimit"},
    ("monitoring.coreos.com/v1", "PrometheusRule"): {"groups"},
    ("monitoring.coreos.com/v1", "PodMonitor"): {"selector", "namespaceSelector", "podMetricsEndpoints", "jobLabel",
                                                 "podTargetLabels", "sampleLimit"},
    ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"): {"serviceRef", "targetGroupARN", "targetType", "networking",
                                                      "nodeSelector", "ipAddressType", "vpcID"},
}


def test_every_kubernetes_object_in_check_prod_validates_strictly(cli, tmp_path):
    tool = shutil.which("kubernetes-validate") or str(Path(__file__).resolve().parents[1] / ".venv/bin/kubernetes-validate")
    if not Path(tool).exists():
        pytest.skip("kubernetes-validate is not installed")
    out = tmp_path / "prod.json"
    result = cli("check", "prod", "--json", str(out))
    assert result.returncode in (0, 1), result.stderr  # 1 = policy findings; the graph is complete either way
    version = load_platform_config("prod").cluster.kubernetes_version + ".0"
    files = {}
    for step in json.loads(out.read_text())["steps"]:
        state = step["newState"]
        if not state["type"].startswith("kubernetes:") or not state["custom"]:
            continue
        obj = state["inputs"]
        if "apiVersion" not in obj or "kind" not in obj:
            # Pulumi-level resources (helm.sh/v3 Release, yaml ConfigFile) are not API objects;
            # what they render is not in the preview.
            assert state["type"].startswith(("kubernetes:helm.sh/", "kubernetes:yaml")), state["type"]
            continue
        assert state["type"] == f"kubernetes:{obj['apiVersion'] if '/' in obj['apiVersion'] else 'core/' + obj['apiVersion']}:{obj['kind']}"
        # The SDK lifts secretness to the top-level property, so a Secret's stringData shows
        # as "[secret]" in a preview, as here. It cannot be schema-checked; nothing else may be.
        redacted = [k for k, v in obj.items() if v == engine.SECRET]
        assert all(obj["kind"] == "Secret" and k in ("data", "stringData") for k in redacted), (obj["kind"], redacted)
        obj = {k: v for k, v in obj.items() if k not in redacted}
        name = state["urn"].rsplit("::", 1)[-1]
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(obj))
        files[str(path)] = (obj["apiVersion"], obj["kind"])
    kinds = {k for k in files.values()}
    assert {("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"),
            ("v1", "ServiceAccount"), ("v1", "ConfigMap"), ("keda.sh/v1alpha1", "ScaledObject")} <= kinds
    run = subprocess.run([tool, "-k", version, "--strict", *files], capture_output=True, text=True, timeout=600)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [l for l in lines if l.startswith("ERROR")]
    assert not errors, "\n".join(errors)
    assert run.returncode == 0
    no_schema = {l.split()[1] for l in lines if l.startswith("WARN") and "Couldn't find schema" in l}
    for f in no_schema:
        api, kind = files[f]
        assert (api, kind) in CRD_KINDS, f"{kind} ({api}) has no schema and is not a known custom resource"
        spec = yaml.safe_load(Path(f).read_text())["spec"]
        assert set(spec) <= CRD_KINDS[(api, kind)], (f, set(spec) - CRD_KINDS[(api, kind)])
    validated = [f for f in files if f not in no_schema]
    # Whatever kubernetes-validate had a schema for is a built-in kind (core or *.k8s.io group).
    builtin = {"", "apps", "policy", "batch", "autoscaling", "storage.k8s.io", "networking.k8s.io",
               "rbac.authorization.k8s.io"}
    assert {files[f][0].rpartition("/")[0] for f in validated} <= builtin
    assert len(validated) >= 5 * 6  # 5 endpoints x (ns, sa, cm, deployment, service, pdb) at least


# -- bad serving config: exit 2 with the key path -----------------------------------------------
def _bad_stack(tmp_path, mutate) -> Path:
    doc = yaml.safe_load(stack_file_path("prod").read_text())
    mutate(doc["config"]["aiplat:platform"])
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_pool_missing_in_a_region_exits_2_with_the_key_path(cli, tmp_path):
    def mutate(p):
        p["regions"][2]["gpu_pools"] = [g for g in p["regions"][2]["gpu_pools"] if g["name"] != "embed"]
    result = cli("check", "prod", "--stack-file", str(_bad_stack(tmp_path, mutate)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "serving.endpoints[0].pool: no GPU pool 'embed' in region us-east-2 (pools there: llm)" in result.stderr


def test_max_replicas_beyond_pool_capacity_exits_2_with_the_key_path(cli, tmp_path):
    def mutate(p):
        p["serving"]["endpoints"][0]["max_replicas"] = 4  # + 1 canary = 5 L4 GPUs > 4
        p["serving"]["endpoints"][1]["gpus_per_replica"] = 8  # a g6e.12xlarge has 4
    result = cli("check", "prod", "--stack-file", str(_bad_stack(tmp_path, mutate)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("serving.endpoints[0].max_replicas: (4 + 1 canary) replicas x 1 GPU = 5 GPUs exceed pool 'embed' in "
            "us-east-1: max_nodes 4 x 1 GPU = 4") in result.stderr
    assert "serving.endpoints[1].gpus_per_replica: 8 GPUs do not fit one g6e.12xlarge node (4 GPUs)" in result.stderr


def test_serving_config_shape_errors_have_paths():
    raw = read_stack_config(stack_file_path("prod"))["aiplat:platform"]
    ep = raw["serving"]["endpoints"][0]
    ep.update(name="Embed", image="nvcr.io/nvidia/tritonserver:latest", regions=["eu-west-1"])
    ep["models"][0]["digest"] = "sha256:abc"
    ep["models"][0]["canary"]["weight"] = 101
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    paths = {p.path for p in exc.value.problems}
    assert {"serving.endpoints[0].name", "serving.endpoints[0].image", "serving.endpoints[0].models[0].digest",
            "serving.endpoints[0].models[0].canary.weight"} <= paths


# -- the example program ------------------------------------------------------------------------
def test_example_deploys_an_endpoint_on_an_existing_cluster():
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())["name"]
    config = yaml.safe_load((EXAMPLE / "Pulumi.example.yaml").read_text())["config"]
    config[f"{project}:kubeconfig"] = json.dumps({"apiVersion": "v1", "kind": "Config"})
    # as Pulumi runs it: in its own directory, where its relative modelRepository resolves
    rec = engine.run_stack("example", config, EXAMPLE / "__main__.py", project=project)
    comp = rec.of_type(T)
    assert [c.name for c in comp] == ["embed"]
    kube = next(r for r in rec.resources if r.type == "pulumi:providers:kubernetes")
    assert kube.inputs["kubeconfig"] == engine.SECRET  # the kubeconfig stays a secret
    deps = {d.inputs["metadata"]["name"] for d in rec.of_type(DEPLOY)}
    assert deps == {"triton-stable", "triton-canary"}
    bucket = rec.of_type("aws:s3/bucket:Bucket")[0]
    assert bucket.protect and bucket.inputs["bucket"] == "acme-ml-us-east-1-embed-models"
    role = rec.of_type("aws:iam/role:Role")[0]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"]["Federated"] == config[f"{project}:oidcProviderArn"]
    assert trust["Condition"]["StringEquals"][f"{config[project + ':oidcIssuer']}:sub"] == \
        "system:serviceaccount:triton-embed:triton"
    assert all(r.parent == comp[0].urn for r in rec.resources if r.custom and not r.is_provider)
    for r in rec.resources:
        if r.type in ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:iam/role:Role"):
            assert {"owner", "team", "cost-center"} <= set(r.inputs["tags"])
