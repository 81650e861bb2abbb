"""supply-chain, transport-tls and access-logs through the SDK analyzer (offline.evaluate): each
refusal names the policy's resource and the reason; the fixtures pass; what cannot be read is a
"cannot judge" violation unless the type is allowed on purpose."""

from __future__ import annotations

import json

import pytest

from aiplat.catalog import registries
from aiplat.errors import ConfigError
from aiplat.policies import audit, offline, supply_chain, transport
from aiplat.policies._judge import Coverage
from tests.policy_steps import UNKNOWN, Steps, write_config

DIGEST = "sha256:" + "ab" * 32
TRITON = "nvcr.io/nvidia/tritonserver"
HARDENED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def run(g: Steps, tmp_path, policy, **config) -> list[tuple[str, str]]:
    path = write_config(tmp_path, {"all": "mandatory", policy.name: config})
    report = offline.evaluate(g.steps, g.stack, path, policies=[policy])
    assert all(v.mandatory for v in report.verdicts)
    return sorted((v.name, v.message) for v in report.by_policy(policy.name))


def deployment(g: Steps, name: str, image, k8s: str, **spec) -> str:
    return g.add("kubernetes:apps/v1:Deployment", name, {
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image, "securityContext": HARDENED}],
                                       **spec}}}}, k8s)


# -- registries catalog ------------------------------------------------------------------------
def test_catalog_has_source_date_and_validates(tmp_path):
    doc = registries.load_registries()
    assert doc.source and doc.date.year >= 2026
    assert {r.prefix for r in doc.registries} >= {TRITON}
    bad = tmp_path / "registries.yaml"
    bad.write_text("source: x\ndate: 2026-12-02\nregistries:\n  - prefix: 'NOT A PREFIX'\n    publisher: x\n"
                   "    why: x\n    extra: 1\n")
    with pytest.raises(ConfigError) as err:
        registries.load_registries(bad)
    assert "registries[0].prefix" in str(err.value) and "registries[0].extra" in str(err.value)


@pytest.mark.parametrize("image,repo", [
    ("nginx", "docker.io/library/nginx"), ("nginx:1.27", "docker.io/library/nginx"),
    ("someone/app@" + DIGEST, "docker.io/someone/app"), (f"{TRITON}:25.01-py3", TRITON),
    ("localhost:5000/a/b:1", "localhost:5000/a/b"),
])
def test_normalize(image, repo):
    assert registries.normalize(image) == repo


def test_prefix_is_a_path_not_a_string_prefix():
    assert registries.approved(f"{TRITON}:25.01-py3") is not None
    assert registries.approved("nvcr.io/nvidia/tritonserver-evil@" + DIGEST) is None
    assert registries.approved("nvcr.io/nvidia/tritonserver/../../evil:1") is not None  # under the prefix


# -- supply-chain ------------------------------------------------------------------------------
def test_images_by_digest_from_approved_registries(tmp_path):
    g = Steps()
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    deployment(g, "pinned", f"{TRITON}@{DIGEST}", k8s)
    deployment(g, "tagged", f"{TRITON}:25.01-py3", k8s)
    deployment(g, "elsewhere", f"docker.io/vllm/vllm-openai@{DIGEST}", k8s)
    g.add("kubernetes:batch/v1:CronJob", "cron", {"metadata": {"name": "cron"}, "spec": {"jobTemplate": {"spec": {
        "template": {"spec": {"initContainers": [{"name": "i", "image": "busybox"}], "containers": []}}}}}}, k8s)
    found = run(g, tmp_path, supply_chain.POLICY)
    assert [n for n, _ in found] == ["cron", "elsewhere", "tagged"]
    assert found[0][1] == ("kubernetes:batch/v1:CronJob cron: spec.jobTemplate.spec.template.spec.initContainers[0]"
                           ".image: image 'busybox' is not from an approved registry (docker.io/library/busybox is "
                           "under no prefix of components/catalog/registries.yaml)")
    assert "vllm-openai" in found[1][1] and "not from an approved registry" in found[1][1]
    assert found[2][1] == ("kubernetes:apps/v1:Deployment tagged: spec.template.spec.containers[0].image: image "
                           "'nvcr.io/nvidia/tritonserver:25.01-py3' is pulled by a mutable tag; pin it by digest "
                           "(<image>@sha256:<digest>) or name it in supply-chain.unpinnedImages with the reason")
    exception = [{"image": f"{TRITON}:25.01-py3", "reason": "digest not recorded yet"}]
    assert [n for n, _ in run(g, tmp_path, supply_chain.POLICY, unpinnedImages=exception)] == ["cron", "elsewhere"]


def test_any_type_with_an_image_input_is_judged(tmp_path):
    g = Steps()
    aws = g.provider("aws", "us-east-1", region="us-east-1")
    g.add("aws:sagemaker/model:Model", "sm", {"executionRoleArn": "arn:aws:iam::1:role/r",
                                              "primaryContainer": {"image": "123.dkr.ecr.us-east-1.amazonaws.com/m:1"}},
          aws)
    g.add("aws:ecs/taskDefinition:TaskDefinition", "task", {"family": "t", "containerDefinitions": "[]"}, aws)
    found = run(g, tmp_path, supply_chain.POLICY)
    assert found[0] == ("sm", "aws:sagemaker/model:Model sm: primaryContainer.image: image "
                              "'123.dkr.ecr.us-east-1.amazonaws.com/m:1' is not from an approved registry "
                              "(123.dkr.ecr.us-east-1.amazonaws.com/m is under no prefix of "
                              "components/catalog/registries.yaml)")
    assert found[1] == ("task", "aws:ecs/taskDefinition:TaskDefinition task: cannot judge: its images are inside "
                                "the JSON string containerDefinitions; change the resource so it can be judged, or "
                                "allow the type on purpose in supply-chain.allowedTypes")
    allowed = run(g, tmp_path, supply_chain.POLICY, allowedTypes=["aws:ecs/taskDefinition:TaskDefinition"])
    assert [n for n, _ in allowed] == ["sm"]


def test_unknown_image_and_unknown_custom_kind_cannot_be_judged(tmp_path):
    g = Steps()
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    deployment(g, "computed", UNKNOWN, k8s)
    g.add("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc", {"spec": {}}, k8s)
    found = run(g, tmp_path, supply_chain.POLICY)
    assert found == [
        ("computed", "kubernetes:apps/v1:Deployment computed: cannot judge: spec.template.spec.containers[0].image is "
                     "unknown at preview; change the resource so it can be judged, or allow the type on purpose in "
                     "supply-chain.allowedTypes"),
        ("isvc", "kubernetes:serving.kserve.io/v1beta1:InferenceService isvc: cannot judge: no provider schema is "
                 "known for the type, so its image inputs are unknown; change the resource so it can be judged, or "
                 "allow the type on purpose in supply-chain.allowedTypes"),
    ]


def release(g: Steps, name: str, k8s: str, chart="keda", version="2.20.2", repo="https://kedacore.github.io/charts",
            values=None) -> str:
    return g.add("kubernetes:helm.sh/v3:Release", name, {"name": name, "namespace": "ns", "chart": chart,
                                                          "version": version, "repositoryOpts": {"repo": repo},
                                                          "values": values or {}}, k8s)


def test_helm_release_by_its_pin_and_image_values(tmp_path):
    g = Steps()
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    release(g, "known", k8s)
    release(g, "unreviewed-version", k8s, version="2.99.0")
    release(g, "override", k8s, values={"image": {"keda": {"repository": "evil/keda", "tag": "latest"}}})
    found = run(g, tmp_path, supply_chain.POLICY)
    assert [n for n, _ in found] == ["override", "override", "unreviewed-version"]
    assert "values image.keda.repository='evil/keda' overrides an image the chart renders" in found[0][1]
    assert found[2][1].endswith("cannot judge: chart keda 2.99.0 from https://kedacore.github.io/charts is not in "
                                "the installers catalog (components/catalog/installers.yaml): nothing it renders was "
                                "reviewed; change the resource so it can be judged, or allow the type on purpose in "
                                "supply-chain.allowedTypes")


# -- transport-tls -----------------------------------------------------------------------------
def alb_stack(classification: str | None, listener="HTTPS", target="HTTPS", tls_name="api.example.com") -> Steps:
    g = Steps()
    tags = {"data-classification": classification} if classification else {}
    p = g.provider("aws", "us-east-1", region="us-east-1", defaultTags={"tags": tags})
    lb = g.add("aws:lb/loadBalancer:LoadBalancer", "alb", {"internal": True}, p)
    tg = g.add("aws:lb/targetGroup:TargetGroup", "tg", {"protocol": target, "port": 8443, "targetType": "ip"}, p)
    lst = g.add("aws:lb/listener:Listener", "listener", {"protocol": listener, "port": 443,
                                                         "loadBalancerArn": UNKNOWN}, p, deps={"loadBalancerArn": [lb]})
    g.add("aws:lb/listenerRule:ListenerRule", "rule", {"listenerArn": UNKNOWN, "priority": 1,
                                                       "actions": [{"type": "forward", "targetGroupArn": UNKNOWN}]},
          p, deps={"listenerArn": [lst], "actions": [tg]})
    g.add("aws:apigatewayv2/integration:Integration", "integration", {
        "apiId": "a", "integrationType": "HTTP_PROXY", "connectionType": "VPC_LINK", "integrationUri": UNKNOWN,
        **({"tlsConfig": {"serverNameToVerify": tls_name}} if tls_name else {})}, p, deps={"integrationUri": [lst]})
    return g


def test_tls_on_every_hop_of_a_confidential_stack(tmp_path):
    assert run(alb_stack("confidential"), tmp_path, transport.POLICY) == []
    found = run(alb_stack("restricted", listener="HTTP", target="HTTP", tls_name=None), tmp_path, transport.POLICY)
    assert found == [
        ("integration", "aws:apigatewayv2/integration:Integration integration: private integration without "
                        "tlsConfig.serverNameToVerify: API Gateway -> load balancer runs in plaintext; point it at an "
                        "HTTPS listener and set tlsConfig.serverNameToVerify to the listener certificate's name"),
        ("listener", "aws:lb/listener:Listener listener: protocol HTTP carries the requests in plaintext; use HTTPS "
                     "with a certificateArn (ACM) and an sslPolicy"),
        ("tg", "aws:lb/targetGroup:TargetGroup tg: protocol HTTP: the load balancer reaches its targets in plaintext; "
               "use HTTPS (or TLS) and serve TLS on the targets"),
    ]
    hop = [{"type": "aws:lb/targetGroup:TargetGroup", "resource": "t*", "reason": "the targets cannot serve TLS"}]
    found = run(alb_stack("restricted", target="HTTP"), tmp_path, transport.POLICY, plaintextHops=hop)
    assert found == []


def test_the_class_comes_from_the_stack(tmp_path):
    plain = alb_stack("internal", listener="HTTP", target="HTTP", tls_name=None)
    assert run(plain, tmp_path, transport.POLICY) == []  # below confidential: nothing required
    found = run(alb_stack(None), tmp_path, transport.POLICY)
    assert len(found) == 1 and found[0][1].startswith("cannot judge: the stack declares no data-classification")
    # One confidential resource makes the stack confidential.
    plain.add("aws:s3/bucketV2:BucketV2", "secret", {"bucket": "b", "tags": {"data-classification": "confidential"}})
    assert [n for n, _ in run(plain, tmp_path, transport.POLICY)] == ["integration", "listener", "tg"]


def test_http_listener_that_only_redirects_passes(tmp_path):
    g = alb_stack("confidential")
    g.add("aws:lb/listener:Listener", "redirect", {"protocol": "HTTP", "port": 80, "defaultActions": [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]})
    assert run(g, tmp_path, transport.POLICY) == []


def test_gcp_esp_and_kubernetes_hops(tmp_path):
    g = Steps()
    p = g.provider("gcp", "us-central1", project="p", region="us-central1",
                   defaultLabels={"data-classification": "confidential"})
    k8s = g.provider("kubernetes", "k8s", kubeconfig="x")
    g.add("gcp:compute/backendService:BackendService", "backend", {"protocol": "HTTP"}, p)
    g.add("gcp:compute/targetHttpProxy:TargetHttpProxy", "http-proxy", {"urlMap": "m"}, p)
    spec = {"swagger": "2.0", "paths": {"/x": {"post": {"x-google-backend": {"address": "http://triton:8000"}}}}}
    g.add("gcp:endpoints/service:Service", "endpoints", {"serviceName": "s", "openapiConfig": json.dumps(spec)}, p)
    g.add("kubernetes:core/v1:Service", "lb", {"metadata": {"name": "lb", "annotations": {}},
                                              "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}, k8s)
    g.add("kubernetes:networking.k8s.io/v1:Ingress", "ing", {"metadata": {"name": "ing"}, "spec": {}}, k8s)
    found = run(g, tmp_path, transport.POLICY)
    assert [n for n, _ in found] == ["backend", "endpoints", "http-proxy", "ing", "ing", "lb", "lb"]
    assert "ESP reaches 1 backend(s) without TLS (x-google-backend address 'http://triton:8000')" in found[1][1]


def test_transport_coverage_from_the_schema():
    assert transport.coverage("aws:lb/listener:Listener").kind == "judged"
    assert transport.coverage("aws:ec2/securityGroup:SecurityGroup").kind == "not-applicable"
    # a type with a top-level protocol input the policy does not read: cannot judge
    assert transport.coverage("aws:elb/loadBalancer:LoadBalancer").kind == "judged"
    assert transport.coverage("gcp:compute/forwardingRule:ForwardingRule").kind == "not-applicable"  # L4 only
    assert transport.coverage("aws:transfer/server:Server") == Coverage.cannot_judge(
        "it has protocolDetails, protocols inputs this policy does not read")


# -- access-logs -------------------------------------------------------------------------------
def logged_stack(log_region="us-east-1", tag=True) -> Steps:
    g = Steps()
    p = g.provider("aws", "us-east-1", region="us-east-1")
    lp = p if log_region == "us-east-1" else g.provider("aws", log_region, region=log_region)
    logs = g.add("aws:s3/bucket:Bucket", "logs", {"bucket": "acme-logs",
                                                  "tags": {"aiplat-log-target": "true"} if tag else {}}, lp)
    models = g.add("aws:s3/bucket:Bucket", "models", {"bucket": "acme-models"}, p)
    g.add("aws:s3/bucketLogging:BucketLogging", "models-logging", {"bucket": UNKNOWN, "targetBucket": UNKNOWN,
                                                                   "targetPrefix": "s3/"}, p,
          deps={"bucket": [models], "targetBucket": [logs]})
    g.add("aws:lb/loadBalancer:LoadBalancer", "alb", {"accessLogs": {"enabled": True, "bucket": UNKNOWN}}, p,
          deps={"accessLogs": [logs]})
    return g


def test_buckets_and_load_balancers_log_in_region(tmp_path):
    assert run(logged_stack(), tmp_path, audit.POLICY) == []
    found = run(logged_stack("eu-west-1"), tmp_path, audit.POLICY)
    assert found == [
        ("alb", "aws:lb/loadBalancer:LoadBalancer alb: access logs leave the region: logs is in eu-west-1, the source "
                "in us-east-1; log into a bucket in the same region"),
        ("models", "aws:s3/bucket:Bucket models: server access logs leave the region: logs is in eu-west-1, the source "
                   "in us-east-1; log into a bucket in the same region"),
    ]
    found = run(logged_stack(tag=False), tmp_path, audit.POLICY)
    assert [n for n, _ in found] == ["logs", "logs", "logs"]
    assert "no server access logging" in found[0][1] or "no server access logging" in found[2][1]


def test_unlogged_bucket_lb_and_a_fake_log_target(tmp_path):
    g = logged_stack()
    p = g.provider("aws", "us-east-1", region="us-east-1")
    g.add("aws:s3/bucketV2:BucketV2", "vectors", {"bucket": "acme-vectors"}, p)
    g.add("aws:lb/loadBalancer:LoadBalancer", "nlb", {"loadBalancerType": "network"}, p)
    fake = g.add("aws:s3/bucketV2:BucketV2", "fake", {"bucket": "acme-fake", "tags": {"aiplat-log-target": "true"}}, p)
    g.add("aws:s3/bucketObjectv2:BucketObjectv2", "weights", {"bucket": UNKNOWN, "key": "m.onnx"}, p,
          deps={"bucket": [fake]})
    found = run(g, tmp_path, audit.POLICY)
    assert found == [
        ("fake", "aws:s3/bucketV2:BucketV2 fake: tagged aiplat-log-target=true but holds weights: a log bucket holds "
                 "logs only"),
        ("fake", "aws:s3/bucketV2:BucketV2 fake: tagged aiplat-log-target=true but nothing in the program logs into "
                 "it; remove the tag and give it access logs"),
        ("nlb", "aws:lb/loadBalancer:LoadBalancer nlb: no access logs; set accessLogs {enabled: true, bucket: <a log "
                "bucket of this program in the same region>}"),
        ("vectors", "aws:s3/bucketV2:BucketV2 vectors: no server access logging; add an aws.s3.BucketLogging with a "
                    "targetBucket of this program in the same region"),
    ]


def test_gcs_and_backend_services(tmp_path):
    g = Steps()
    p = g.provider("gcp", "us-central1", project="p", region="us-central1")
    g.add("gcp:storage/bucket:Bucket", "logs", {"name": "logs", "location": "US-CENTRAL1",
                                                "labels": {"aiplat-log-target": "true"}}, p)
    g.add("gcp:storage/bucket:Bucket", "models", {"name": "models", "location": "us-central1",
                                                  "logging": {"logBucket": "logs"}}, p)
    g.add("gcp:storage/bucket:Bucket", "models-eu", {"name": "models-eu", "location": "EU",
                                                     "logging": {"logBucket": "logs"}}, p)
    g.add("gcp:compute/backendService:BackendService", "backend", {"protocol": "HTTPS"}, p)
    found = run(g, tmp_path, audit.POLICY)
    assert found == [
        ("backend", "gcp:compute/backendService:BackendService backend: no request logs; set logConfig.enable=true"),
        ("models-eu", "gcp:storage/bucket:Bucket models-eu: usage logs leave the region: logs is in us-central1, the "
                      "source in eu; log into a bucket in the same region"),
    ]


# -- the shipped stacks ------------------------------------------------------------------------
MINE = (supply_chain.POLICY, transport.POLICY, audit.POLICY)
STACKS = ("dev", "staging", "prod", "prod-eu", "gcp-prod")


def _stack_report(stack: str, tmp_path, drop_exceptions: bool = False):
    from aiplat.policies import workload
    from tests._project import policy_config_path
    from tests.conftest import recorded

    full = json.loads(policy_config_path(stack).read_text())
    doc = {k: v for k, v in full.items() if k in ("all", "supply-chain", "transport-tls", "access-logs",
                                                  "workload-hardening")}
    if drop_exceptions:
        doc["supply-chain"]["unpinnedImages"] = []
        doc["transport-tls"]["plaintextHops"] = []
        doc["workload-hardening"]["exceptions"] = []
    path = write_config(tmp_path, doc, f"{stack}.json")
    return doc, offline.evaluate(recorded(stack).steps(), stack, path, policies=[*MINE, workload.POLICY])


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_passes_and_every_named_exception_is_needed(stack, tmp_path):
    import fnmatch

    doc, report = _stack_report(stack, tmp_path)
    assert report.verdicts == []
    _, bare = _stack_report(stack, tmp_path, drop_exceptions=True)
    messages = [v.message for v in bare.verdicts]
    for e in doc["supply-chain"]["unpinnedImages"]:
        image = e["image"].split("=", 1)[-1] if e["image"].startswith("helm:") else e["image"]
        assert any(repr(image) in m for m in messages), f"{stack}: unpinnedImages {e['image']!r} matches nothing"
    for h in doc["transport-tls"]["plaintextHops"]:
        assert any(v.type == h["type"] and fnmatch.fnmatchcase(v.name, h["resource"]) for v in bare.verdicts), \
            f"{stack}: plaintextHops {h} matches nothing"
    for e in doc["workload-hardening"]["exceptions"]:
        assert any(v.policy == "workload-hardening" and f"({e['workload'].split('/')[0].rstrip('*')}" in v.message
                   for v in bare.verdicts), f"{stack}: workload exception {e['workload']} matches nothing"
    assert all(v.mandatory for v in bare.verdicts)


def test_cloudfront_and_unknown_load_balancer_kinds(tmp_path):
    g = logged_stack()
    p = g.provider("aws", "us-east-1", region="us-east-1")
    g.add("aws:cloudfront/distribution:Distribution", "cdn", {"enabled": True}, p)
    g.add("aws:lightsail/lb:Lb", "lightsail", {"name": "l", "healthCheckPath": "/", "instancePort": 80}, p)
    found = run(g, tmp_path, audit.POLICY)
    assert found == [
        ("cdn", "aws:cloudfront/distribution:Distribution cdn: no standard logs; set loggingConfig.bucket (the "
                "distribution is global: any log bucket of the program)"),
        ("lightsail", "aws:lightsail/lb:Lb lightsail: cannot judge: it holds objects or balances traffic, and its "
                      "access-log settings are not read by this policy; change the resource so it can be judged, or "
                      "allow the type on purpose in access-logs.allowedTypes"),
    ]


# -- ALB -> Triton over TLS (the pods' TLS sidecar) -----------------------------------------------
AWS_STACKS = ("dev", "staging", "prod", "prod-eu")
TG = "aws:lb/targetGroup:TargetGroup"


@pytest.mark.parametrize("stack", ("staging", "prod", "prod-eu"))  # the AWS stacks classified confidential
def test_alb_reaches_triton_over_https_without_a_plaintext_exception(stack, tmp_path):
    """Every gateway target group is HTTPS to the TLS sidecar's port, health checks HTTPS there;
    transport-tls passes with no plaintextHops, and refuses the same stack with one HTTP target group."""
    import copy

    from aiplat.triton._tls import HTTPS_PORT
    from tests._project import policy_config_path
    from tests.conftest import recorded

    rec = recorded(stack)
    tgs = rec.of_type(TG)
    assert tgs
    for tg in tgs:
        assert (tg.inputs["protocol"], tg.inputs["port"]) == ("HTTPS", HTTPS_PORT), tg.name
        assert (tg.inputs["healthCheck"]["protocol"], tg.inputs["healthCheck"]["port"]) == ("HTTPS", "traffic-port")
    doc = json.loads(policy_config_path(stack).read_text())
    assert doc["transport-tls"]["plaintextHops"] == []
    path = write_config(tmp_path, {"all": doc["all"], "transport-tls": doc["transport-tls"]}, f"{stack}.json")
    assert offline.evaluate(rec.steps(), stack, path, policies=[transport.POLICY]).verdicts == []
    steps = copy.deepcopy(rec.steps())
    bad = next(s for s in steps if s["newState"]["type"] == TG)
    bad["newState"]["inputs"]["protocol"] = "HTTP"
    name = bad["urn"].rsplit("::", 1)[-1]
    verdicts = offline.evaluate(steps, stack, path, policies=[transport.POLICY]).verdicts
    assert [(v.policy, v.name, v.message) for v in verdicts] == [
        ("transport-tls", name, f"{TG} {name}: protocol HTTP: the load balancer reaches its targets in "
                                "plaintext; use HTTPS (or TLS) and serve TLS on the targets")]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_triton_pods_serve_tls_on_the_port_the_alb_reaches(stack):
    """The TLS sidecar, the Service port and the TargetGroupBinding agree on one port, and the
    ALB's security group opens only that port to the pods."""
    from aiplat.triton._tls import HTTPS_PORT, TLS_PROXY_IMAGE
    from tests.conftest import recorded

    rec = recorded(stack)
    for d in rec.of_type("kubernetes:apps/v1:Deployment"):
        if not d.inputs["metadata"]["name"].startswith("triton-"):
            continue
        spec = d.inputs["spec"]["template"]["spec"]
        proxy = next(c for c in spec["containers"] if c["name"] == "tls-proxy")
        assert proxy["image"] == TLS_PROXY_IMAGE
        assert proxy["ports"] == [{"name": "https", "containerPort": HTTPS_PORT, "protocol": "TCP"}]
        assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
        assert proxy["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for svc in rec.of_type("kubernetes:core/v1:Service"):
        if svc.inputs["metadata"]["name"] in ("triton", "triton-canary"):
            assert {"name": "https", "port": HTTPS_PORT, "targetPort": "https", "protocol": "TCP"} in \
                svc.inputs["spec"]["ports"]
    tgbs = [r for r in rec.of_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")]
    assert tgbs
    for b in tgbs:
        assert b.inputs["spec"]["serviceRef"]["port"] == HTTPS_PORT
        assert b.inputs["spec"]["networking"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": HTTPS_PORT}]
    for sg in rec.of_type("aws:ec2/securityGroup:SecurityGroup"):
        if sg.name.endswith("-alb"):
            assert [(e["fromPort"], e["toPort"]) for e in sg.inputs["egress"]] == [(HTTPS_PORT, HTTPS_PORT)]
