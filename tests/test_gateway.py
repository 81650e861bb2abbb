"""Gateway and global routing: the exact graph contract (mock engine), the generated OpenAPI
documents (openapi-spec-validator), route resolution with canary weights, and config errors
through `aiplat check` (exit 2 with the key path)."""

from __future__ import annotations

import json

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from aiplat.config import GatewayConfig
from aiplat.gateway import (
    CANARY,
    STABLE,
    EndpointTarget,
    TrackTarget,
    esp_openapi2,
    openapi3,
    resolve_routes,
)
from tests._project import stack_file_path
from tests.conftest import input_params, recorded

PROD_REGIONS = ["us-east-1", "us-west-2", "us-east-2"]
REQUIRED_TAGS = ("owner", "team", "cost-center")


def _under(rec, component_type: str):
    """Registrations below components of a type, keyed by that component's name."""
    urns = rec.by_urn()
    out: dict[str, list] = {}
    for reg in rec.resources:
        node = reg.parent
        while node in urns:
            if urns[node].type == component_type:
                out.setdefault(urns[node].name, []).append(reg)
                break
            node = urns[node].parent
    return out


def _types(regs, type_):
    return [r for r in regs if r.type == type_]


@pytest.fixture(scope="module")
def prod():
    return recorded("prod")


@pytest.fixture(scope="module")
def prod_config():
    return yaml.safe_load(stack_file_path("prod").read_text())["config"]["aiplat:platform"]


def test_prod_has_a_full_gateway_per_region(prod, prod_config):
    gateways = _under(prod, "aiplat:gateway:ApiGateway")
    assert sorted(gateways) == sorted(f"prod-{r}-gw" for r in PROD_REGIONS)
    gw = prod_config["gateway"]
    for name, regs in gateways.items():
        apis = {a.urn: a for a in _types(regs, "aws:apigatewayv2/api:Api")}
        client = [a for a in apis.values() if not a.name.endswith("-health-api")]
        assert len(client) == 1 and client[0].inputs["protocolType"] == "HTTP"
        assert client[0].inputs["disableExecuteApiEndpoint"] is True
        (auth,) = _types(regs, "aws:apigatewayv2/authorizer:Authorizer")
        assert auth.inputs["authorizerType"] == "JWT"
        assert auth.inputs["jwtConfiguration"] == {"issuer": gw["auth"]["issuer"], "audiences": gw["auth"]["audiences"]}
        stages = {s.name: s.inputs for s in _types(regs, "aws:apigatewayv2/stage:Stage")}
        throttle = stages[f"{name}-stage"]["defaultRouteSettings"]
        assert throttle["throttlingRateLimit"] == gw["throttle"]["rate_per_second"]
        assert throttle["throttlingBurstLimit"] == gw["throttle"]["burst"]
        log = stages[f"{name}-stage"]["accessLogSettings"]
        assert {"requestId", "status", "latency", "integrationErrorMessage"} <= set(json.loads(log["format"]))
        (group,) = _types(regs, "aws:cloudwatch/logGroup:LogGroup")
        assert group.inputs["retentionInDays"] == gw["log_retention_days"]
        (link,) = _types(regs, "aws:apigatewayv2/vpcLink:VpcLink")
        assert len(link.inputs["subnetIds"]) == 3
        (alb,) = _types(regs, "aws:lb/loadBalancer:LoadBalancer")
        assert alb.inputs["internal"] is True and alb.inputs["loadBalancerType"] == "application"
        for integ in _types(regs, "aws:apigatewayv2/integration:Integration"):
            assert integ.inputs["connectionType"] == "VPC_LINK" and integ.inputs["integrationType"] == "HTTP_PROXY"
        (domain,) = _types(regs, "aws:apigatewayv2/domainName:DomainName")
        assert domain.inputs["domainName"] == gw["domain"]
        assert len(_types(regs, "aws:apigatewayv2/apiMapping:ApiMapping")) == 1
        assert _types(regs, "aws:acm/certificateValidation:CertificateValidation")


def test_every_client_route_has_the_jwt_authorizer(prod):
    for name, regs in _under(prod, "aiplat:gateway:ApiGateway").items():
        routes = [r for r in _types(regs, "aws:apigatewayv2/route:Route") if not r.name.endswith("-probe-health")]
        keys = {r.inputs["routeKey"] for r in routes}
        assert "GET /health" in keys and "POST /v2/models/text-embedder/infer" in keys, keys
        for r in routes:
            assert r.inputs["authorizationType"] == "JWT", r.inputs["routeKey"]
            assert r.inputs.get("authorizerId"), r.inputs["routeKey"]
        # the one unauthenticated route lives on the separate probe API, nothing else
        probe = [r for r in _types(regs, "aws:apigatewayv2/route:Route") if r.name.endswith("-probe-health")]
        assert [p.inputs["routeKey"] for p in probe] == ["GET /health"]


def test_canary_weight_is_a_weighted_alb_forward(prod, prod_config):
    weights = {
        m["name"]: m["canary"]["weight"]
        for ep in prod_config["serving"]["endpoints"] for m in ep["models"] if m.get("canary", {}).get("weight")
    }
    assert weights, "prod configures a canary"
    rules = _types(prod.resources, "aws:lb/listenerRule:ListenerRule")
    for model, weight in weights.items():
        path = f"/v2/models/{model}/infer"
        hits = [r for r in rules if r.inputs["conditions"][0]["pathPattern"]["values"] == [path]]
        assert len(hits) == len(PROD_REGIONS)
        for r in hits:
            tgs = r.inputs["actions"][0]["forward"]["targetGroups"]
            assert sorted(t["weight"] for t in tgs) == sorted([100 - weight, weight])


def test_one_latency_record_and_health_check_per_region(prod, prod_config):
    routing = _under(prod, "aiplat:gateway:GlobalRouting")
    (regs,) = routing.values()
    records = [r for r in _types(regs, "aws:route53/record:Record")]
    checks = _types(regs, "aws:route53/healthCheck:HealthCheck")
    assert sorted(r.inputs["setIdentifier"] for r in records) == sorted(PROD_REGIONS)
    for r in records:
        assert r.inputs["latencyRoutingPolicies"] == [{"region": r.inputs["setIdentifier"]}]
        assert r.inputs["name"] == prod_config["gateway"]["domain"]
        assert r.inputs["healthCheckId"]
        assert r.inputs["aliases"][0]["evaluateTargetHealth"] is True
    assert len(checks) == len(PROD_REGIONS)
    for c in checks:
        i = c.inputs
        assert (i["type"], i["resourcePath"], i["port"]) == ("HTTPS", "/health", 443)
        assert i["failureThreshold"] == 3 and i["requestInterval"] == 10
        assert i["fqdn"].endswith(".amazonaws.com")  # the probe API's execute-api host


def test_every_taggable_gateway_resource_carries_the_chargeback_tags(prod):
    regs = [r for group in ("aiplat:gateway:ApiGateway", "aiplat:gateway:GlobalRouting")
            for rs in _under(prod, group).values() for r in rs]
    taggable = [r for r in regs if r.type.startswith("aws:") and "tags" in input_params(r.type)]
    assert len(taggable) > 20
    for r in taggable:
        assert all(r.inputs.get("tags", {}).get(t) for t in REQUIRED_TAGS), (r.type, r.name)


def test_gcp_stack_has_load_balancer_rate_limit_and_health_checks():
    rec = recorded("gcp-prod")
    regs = [r for rs in _under(rec, "aiplat:gateway:GlobalRouting").values() for r in rs]
    cfg = yaml.safe_load(stack_file_path("gcp-prod").read_text())["config"]["aiplat:platform"]["gateway"]
    (armor,) = _types(regs, "gcp:compute/securityPolicy:SecurityPolicy")
    (throttle,) = [r for r in armor.inputs["rules"] if r["action"] == "throttle"]
    assert throttle["rateLimitOptions"]["exceedAction"] == "deny(429)"
    assert throttle["rateLimitOptions"]["rateLimitThreshold"]["count"] > 0
    (hc,) = _types(regs, "gcp:compute/healthCheck:HealthCheck")
    assert hc.inputs["httpHealthCheck"]["requestPath"] == "/v2/health/ready"
    (backend,) = _types(regs, "gcp:compute/backendService:BackendService")
    assert backend.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend.inputs["securityPolicy"] and backend.inputs["healthChecks"]
    zones = {b["group"].split("/zones/")[1].split("/")[0] for b in backend.inputs["backends"]}
    assert {z[:-2] for z in zones} == {"us-central1", "us-east4"}  # both regions behind one backend
    assert _types(regs, "gcp:compute/globalForwardingRule:GlobalForwardingRule")
    (dns,) = _types(regs, "gcp:dns/recordSet:RecordSet")
    assert dns.inputs["name"] == cfg["domain"] + "." and dns.inputs["managedZone"] == cfg["hosted_zone"]
    # JWT in every region: an ESPv2 Deployment per regional gateway
    for name, rs in _under(rec, "aiplat:gateway:ApiGateway").items():
        (esp,) = _types(rs, "kubernetes:apps/v1:Deployment")
        # runAsNonRoot needs a numeric user: the image's USER is the name `envoy` (uid 100, gid 101)
        assert esp.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 100, "runAsGroup": 101,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}, name
        assert esp.inputs["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    (svc,) = _types(regs, "gcp:endpoints/service:Service")
    doc = json.loads(svc.inputs["openapiConfig"])
    OpenAPIV2SpecValidator(doc).validate()
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            assert op["security"] or path == "/v2/health/ready", (verb, path)


def _targets() -> list[EndpointTarget]:
    return [
        EndpointTarget(
            name="llm", namespace="triton-llm", service_name="triton",
            tracks=[TrackTarget(STABLE, "triton", {"chat": "3", "embed": "1"}),
                    TrackTarget(CANARY, "triton-canary", {"chat": "4"})],
            canary_weights={"chat": 15},
        )
    ]


def _gateway(**over) -> GatewayConfig:
    raw = {"domain": "infer.example.com", "hosted_zone": "Z123EXAMPLE",
           "auth": {"issuer": "https://auth.example.com/", "audiences": ["inference"]}, **over}
    return GatewayConfig.model_validate(raw, context={"cloud": "aws"})


def test_default_routes_split_by_canary_weight_and_pin_versions():
    routes = {r.key: r.forward for r in resolve_routes(None, _targets())}
    assert routes["POST /v2/models/chat/infer"] == ((STABLE, 85), (CANARY, 15))
    assert routes["POST /v2/models/chat/versions/3/infer"] == ((STABLE, 100),)
    assert routes["POST /v2/models/chat/versions/4/infer"] == ((CANARY, 100),)
    assert routes["POST /v2/models/embed/infer"] == ((STABLE, 100),)
    assert routes["GET /health"] == ()


def test_a_version_nobody_serves_is_an_error():
    g = _gateway(routes=[{"path": "/v2/models/chat/versions/9/infer", "endpoint": "llm", "model": "chat",
                          "version": "9"}])
    with pytest.raises(ValueError, match="gateway.routes\\[0\\].version"):
        resolve_routes(g.routes, _targets())


def test_generated_openapi_documents_validate():
    routes = resolve_routes(None, _targets())
    doc3 = openapi3("aiplat", "infer.example.com", "https://auth.example.com/", ["inference"], routes)
    validate(doc3)
    assert all(op["security"] == [{"jwt": []}] for ops in doc3["paths"].values() for op in ops.values())
    backends = {("llm", "service"): "http://triton-split.triton-llm.svc.cluster.local:8000",
                ("llm", STABLE): "http://triton.triton-llm.svc.cluster.local:8000",
                ("llm", CANARY): "http://triton-canary.triton-llm.svc.cluster.local:8000"}
    doc2 = esp_openapi2("svc.endpoints.p.cloud.goog", "https://auth.example.com/", "https://auth.example.com/jwks",
                        ["inference"], routes, backends, backends[("llm", STABLE)], 6000)
    OpenAPIV2SpecValidator(doc2).validate()
    pinned = doc2["paths"]["/v2/models/chat/versions/4/infer"]["post"]["x-google-backend"]["address"]
    assert pinned == backends[("llm", CANARY)]


# -- config errors through the CLI ------------------------------------------------------------
def _stack_file(tmp_path, mutate) -> str:
    doc = yaml.safe_load(stack_file_path("prod").read_text())
    mutate(doc["config"]["aiplat:platform"]["gateway"])
    path = tmp_path / "Pulumi.gwtest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_route_without_auth_fails_check_with_key_path(tmp_path, cli):
    def mutate(gw):
        gw["routes"] = [{"path": "/health", "auth": "none"},
                        {"path": "/v2/models/text-embedder/infer", "endpoint": "embed", "auth": "none"}]
    res = cli("check", "gwtest", "--stack-file", _stack_file(tmp_path, mutate))
    assert res.returncode == 2, res.stderr
    assert "gateway.routes[1].auth" in res.stdout + res.stderr
    assert "gateway.routes[0]" not in res.stdout + res.stderr  # /health may be unauthenticated


def test_zero_throttle_fails_check_with_key_path(tmp_path, cli):
    def mutate(gw):
        gw["throttle"]["rate_per_second"] = 0
    res = cli("check", "gwtest", "--stack-file", _stack_file(tmp_path, mutate))
    assert res.returncode == 2, res.stderr
    assert "gateway.throttle.rate_per_second" in res.stdout + res.stderr


def test_api_gateway_reaches_the_alb_over_tls_and_the_alb_logs_in_region(prod, prod_config):
    """transport-tls / access-logs in the component: the VPC link's private integrations verify
    the gateway domain on an HTTPS:443 listener carrying that domain's ACM certificate; the ALB
    writes access logs into its region's log bucket (tagged aiplat-log-target)."""
    domain = prod_config["gateway"]["domain"]
    logs = {r.name: r for r in _types(prod.resources, "aws:s3/bucket:Bucket")
            if r.inputs.get("tags", {}).get("aiplat-log-target") == "true"}
    assert sorted(logs) == sorted(f"prod-{r}-access-logs" for r in PROD_REGIONS)
    for name, regs in _under(prod, "aiplat:gateway:ApiGateway").items():
        (listener,) = _types(regs, "aws:lb/listener:Listener")
        assert (listener.inputs["protocol"], listener.inputs["port"]) == ("HTTPS", 443), name
        assert listener.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        assert "certificateArn" in listener.inputs or "certificateArn" in listener.property_dependencies, name
        for integration in _types(regs, "aws:apigatewayv2/integration:Integration"):
            assert integration.inputs["tlsConfig"] == {"serverNameToVerify": domain}
        groups = {sg.name: sg.inputs for sg in _types(regs, "aws:ec2/securityGroup:SecurityGroup")}
        assert groups[f"{name}-vpclink"]["egress"][0]["fromPort"] == 443
        assert groups[f"{name}-alb"]["ingress"][0]["fromPort"] == 443
        (alb,) = _types(regs, "aws:lb/loadBalancer:LoadBalancer")
        assert alb.inputs["accessLogs"]["enabled"] is True and alb.inputs["accessLogs"]["prefix"] == "alb"
        region = name.removeprefix("prod-").removesuffix("-gw")
        assert logs[f"prod-{region}-access-logs"].urn in alb.property_dependencies.get("accessLogs", [])
