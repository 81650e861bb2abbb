"""API gateway and global routing: authenticated, throttled, health-checked entry to Triton.

**AWS, per region** (``ApiGateway``): an API Gateway HTTP API whose every route carries a
JWT authorizer (issuer/audiences from config); a ``$default`` stage with default route
throttling (rate, burst) and JSON access logs to a CloudWatch log group with retention;
a private integration through a VPC link (private subnets) to an *internal ALB* in front
of the Triton pods. The ALB does the model routing: one listener rule per route, and for
an unversioned model route with a canary a *weighted forward* to a stable and a canary
target group, so the split is exactly the configured weight (HTTP API integrations have
no weights of their own; two integrations on one route are impossible). Version routes
(``/v2/models/<m>/versions/<v>/infer``) are pinned to the target group of the Deployment
that serves that version. Target groups (type ``ip``) are filled with Triton pod IPs by
the AWS Load Balancer Controller's ``TargetGroupBinding`` (elbv2.k8s.aws/v1beta1), one per
track Service; **the controller must run in the cluster** (it is not installed here).
The custom domain (``apigatewayv2.DomainName``, the *global* hostname, with an ACM
certificate DNS-validated in the hosted zone) maps to the stage.

``/health``: clients get it on the client API *with* a JWT like every other route. Route 53
health checkers cannot send a token, so each region also has a tiny separate health API
(one route, ``GET /health``, no authorizer, throttled to 10 rps, reachable only on its
execute-api hostname, never via the custom domain) whose integration rewrites the path to
Triton's ``/v2/health/ready`` through the same VPC link and ALB. It answers readiness
(no model data), so it is listed as the one deliberate public route (``publicRoutes`` of
the security-baseline policy).

**AWS, global** (``GlobalRouting``): per region a Route 53 latency record (alias to the
regional custom domain, ``set_identifier`` = region) with an HTTPS health check on the
health API's ``/health``; when Triton is not ready in a region the check fails and Route
53 stops answering with that region.

**GCP**: API Gateway was rejected because its backends must be publicly reachable (it has
no VPC connectivity to private GKE services). Instead one *global external Application
Load Balancer* (EXTERNAL_MANAGED): its anycast IP is the global hostname and it sends each
client to the nearest region whose backends pass the health check, so global routing and
failover come with it. Cloud Armor throttles (excess -> 429) and denies the probe-only
path from the internet. JWTs are validated per region by ESPv2 (the proxy API Gateway is
built on) from a generated Cloud Endpoints OpenAPI 2.0 document (``x-google-issuer``,
``x-google-audiences``, ``x-google-backend`` per operation to the per-track Triton
Services). Versioned routes are exact; on GCP an unversioned route with a canary goes to a
``triton-split`` Service selecting both tracks, so the split follows the ready pods of
each track (ESPv2 cannot weight; the canary's replica cap is sized from the weight) — the
weight is exact per request on AWS only.

**Overload path**: (1) over the stage rate/burst, API Gateway answers 429 before anything
reaches the VPC (GCP: Cloud Armor ``throttle`` -> 429); (2) within the rate, Triton's
dynamic batcher queue is bounded (``serving`` ``QueuePolicy``: ``max_queue_size``,
``timeout_action: REJECT``), so a full queue fails the request at once (HTTP 503,
"Exceeds maximum queue size") instead of letting it wait; (3) the integration timeout
(29 s on AWS) and ALB idle timeout bound anything still slow, answered as 504.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.cluster import short_id
from aiplat.config import HEALTH_PATH, GatewayConfig
from aiplat.gateway.routes import (
    CANARY,
    STABLE,
    TRITON_READY,
    EndpointTarget,
    Route,
    TrackTarget,
    default_routes,
    endpoint_target,
    resolve_routes,
)
from aiplat.gateway import _aws
from aiplat.gateway.openapi import esp_openapi2, openapi3

ESP_IMAGE = "gcr.io/endpoints-release/endpoints-runtime:2.49.0"  # pinned ESPv2
ESP_PORT = 8080
SPLIT_SERVICE = "triton-split"  # GCP: both tracks of an endpoint, for canary-weighted routes
# Google front-end and health-checker source ranges (load balancing docs, "firewall rules").
GOOGLE_LB_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]
# -- the regional component ---------------------------------------------------------------
@dataclass(frozen=True)
class ApiGatewayArgs:
    cloud: Literal["aws", "gcp"]
    region: str
    gateway: GatewayConfig
    endpoints: list[EndpointTarget]
    """The region's Triton endpoints (plain values). Default: none (only /health, answered 503)."""
    kube_provider: k8s.Provider
    production: bool = False
    vpc_id: pulumi.Input[str] | None = None
    """AWS: the region's VPC, its CIDR and private subnets (VPC link, internal ALB)."""
    vpc_cidr: str | None = None
    private_subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    gcp_project: str | None = None
    network: pulumi.Input[str] | None = None
    """GCP: the region's VPC (firewall for the load balancer's proxies and health checkers)."""
    zones: list[str] = field(default_factory=list)
    """GCP: the zones GKE creates the ESP network endpoint groups in."""
    endpoints_service: str | None = None
    """GCP: the Cloud Endpoints service name ESPv2 loads (from ``endpoints_service_name``)."""
    tags: dict[str, str] = field(default_factory=dict)


class ApiGateway(AiplatComponent):
    """The regional gateway.

    Outputs (both clouds): ``routes`` (route keys), ``openapi`` (OpenAPI 3 description).
    AWS: ``api_id``, ``stage_name``, ``custom_domain_target`` and ``custom_domain_zone_id``
    (alias target for latency records), ``health_host`` (probe hostname), ``log_group``.
    GCP: ``neg_name`` (ESP network endpoint group per zone), ``neg_zones``.
    """

    api_id: pulumi.Output[str] | None = None
    stage_name: str | None = None
    custom_domain_target: pulumi.Output[str] | None = None
    custom_domain_zone_id: pulumi.Output[str] | None = None
    health_host: pulumi.Output[str] | None = None
    log_group: pulumi.Output[str] | None = None
    neg_name: str | None = None
    neg_zones: list[str]

    def __init__(self, name: str, args: ApiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:gateway:ApiGateway", name, None, opts)
        self._name, self._in = name, args
        self.neg_zones = []
        g = args.gateway
        self.route_list = resolve_routes(g.routes, args.endpoints)
        self.routes = [r.key for r in self.route_list]
        self.openapi = openapi3(f"aiplat inference {args.region}", g.domain, g.auth.issuer, g.auth.audiences,
                                self.route_list)
        if args.cloud == "aws":
            out = _aws.regional_gateway(self, name, args, self.route_list)
            self.api_id, self.stage_name, self.log_group = out.api_id, out.stage_name, out.log_group
            self.custom_domain_target, self.custom_domain_zone_id = out.custom_domain_target, out.custom_domain_zone_id
            self.health_host = out.health_host
        else:
            self._gcp()
        self.register_outputs(
            {
                "routes": self.routes,
                "api_id": self.api_id,
                "custom_domain_target": self.custom_domain_target,
                "health_host": self.health_host,
                "neg_name": self.neg_name,
            }
        )

    # -- GCP -----------------------------------------------------------------------------
    def _gcp(self) -> None:
        a, n = self._in, self._name
        self.neg_name = short_id(f"{n}-esp", 60)
        self.neg_zones = list(a.zones)
        ns = k8s.core.v1.Namespace(
            f"{n}-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name="aiplat-gateway"), opts=self._k8s()
        )
        gsa = gcp.serviceaccount.Account(
            f"{n}-esp",
            account_id=short_id(f"esp-{a.region}", 30),
            display_name=f"ESPv2 gateway in {a.region}",
            project=a.gcp_project,
            opts=self._opts(),
        )
        member = gsa.email.apply(lambda e: f"serviceAccount:{e}")
        for role in ("roles/servicemanagement.serviceController", "roles/cloudtrace.agent"):
            gcp.projects.IAMMember(
                f"{n}-esp-{role.split('/')[-1]}", project=a.gcp_project, role=role, member=member, opts=self._opts()
            )
        gcp.serviceaccount.IAMMember(
            f"{n}-esp-wi",
            service_account_id=gsa.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{a.gcp_project}.svc.id.goog[aiplat-gateway/esp]",
            opts=self._opts(),
        )
        ksa = k8s.core.v1.ServiceAccount(
            f"{n}-esp-ksa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="esp", namespace=ns.metadata.name, annotations={"iam.gke.io/gcp-service-account": gsa.email}
            ),
            opts=self._k8s(),
        )
        for ep in a.endpoints:
            if ep.track(CANARY) is None:
                continue
            k8s.core.v1.Service(
                f"{n}-{ep.name}-split",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=SPLIT_SERVICE, namespace=ep.namespace,
                                                    labels={"app.kubernetes.io/managed-by": "aiplat"}),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    # both tracks (no aiplat.io/track); only routes of canaried models use it
                    selector={"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": ep.name},
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=ep.http_port, target_port="http")],
                ),
                opts=self._k8s(),
            )
        labels = {"app.kubernetes.io/name": "esp", "app.kubernetes.io/managed-by": "aiplat"}
        k8s.apps.v1.Deployment(
            f"{n}-esp",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="esp", namespace=ns.metadata.name, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=3 if a.production else 1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=ksa.metadata.name,
                        topology_spread_constraints=[k8s.core.v1.TopologySpreadConstraintArgs(
                            max_skew=1, topology_key="topology.kubernetes.io/zone",
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                        )],
                        containers=[k8s.core.v1.ContainerArgs(
                            name="esp",
                            image=ESP_IMAGE,
                            args=[f"--service={a.endpoints_service}", "--rollout_strategy=managed",
                                  f"--listener_port={ESP_PORT}", "--healthz=/healthz",
                                  "--backend_dns_lookup_family=v4only"],
                            ports=[k8s.core.v1.ContainerPortArgs(container_port=ESP_PORT, name="http")],
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=ESP_PORT)
                            ),
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "512Mi"}
                            ),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=False,
                            ),
                        )],
                    ),
                ),
            ),
            opts=self._k8s(),
        )
        k8s.core.v1.Service(
            f"{n}-esp-svc",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="esp",
                namespace=ns.metadata.name,
                labels=labels,
                # standalone zonal NEGs with a fixed name, so the global backend service can list them
                annotations={"cloud.google.com/neg": json.dumps({"exposed_ports": {str(ESP_PORT): {"name": self.neg_name}}})},
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=ESP_PORT, target_port=ESP_PORT)],
            ),
            opts=self._k8s(),
        )
        gcp.compute.Firewall(
            f"{n}-lb-to-esp",
            network=a.network,
            project=a.gcp_project,
            direction="INGRESS",
            source_ranges=GOOGLE_LB_RANGES,
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(ESP_PORT)])],
            description="Google front ends and health checkers to ESPv2 pods",
            opts=self._opts(),
        )


# -- global routing ----------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalRoutingArgs:
    cloud: Literal["aws", "gcp"]
    gateway: GatewayConfig
    gateways: dict[str, ApiGateway]
    """region -> that region's ApiGateway."""
    stack: str
    gcp_project: str | None = None
    endpoint_targets: list[EndpointTarget] = field(default_factory=list)
    """GCP: the endpoints (union over regions) the ESP service config routes to."""
    production: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def endpoints_service_name(stack: str, project: str) -> str:
    """Cloud Endpoints service name: under the project's cloud.goog domain (no domain proof needed)."""
    return f"{short_id(f'aiplat-{stack}', 40)}.endpoints.{project}.cloud.goog"


class GlobalRouting(AiplatComponent):
    """One global hostname per stack over the regional gateways.

    Outputs: ``hostname``; AWS: ``health_check_ids`` (region -> id); GCP: ``address``,
    ``openapi`` (the ESPv2 service config).
    """

    def __init__(self, name: str, args: GlobalRoutingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:gateway:GlobalRouting", name, None, opts)
        self._name, self._in = name, args
        self.hostname = args.gateway.domain
        self.health_check_ids: dict[str, pulumi.Output[str]] = {}
        self.address = None
        self.url_map_name: pulumi.Output[str] | None = None  # GCP: what LB alert policies filter on
        self.esp_openapi: dict[str, Any] | None = None
        if args.cloud == "aws":
            self.health_check_ids = _aws.latency_routing(self, name, args)
        else:
            self._gcp()
        self.register_outputs({"hostname": self.hostname, "health_check_ids": self.health_check_ids,
                               "address": self.address})

    def _gcp(self) -> None:
        a, n, g = self._in, self._name, self._in.gateway
        labels = {k.lower(): v for k, v in a.tags.items()}
        service = endpoints_service_name(a.stack, a.gcp_project)
        routes = resolve_routes(g.routes, a.endpoint_targets)
        backends = {}
        for ep in a.endpoint_targets:
            # cluster DNS names: the same in every region, so one service config serves all ESPs
            host = lambda svc, ns=ep.namespace, port=ep.http_port: f"http://{svc}.{ns}.svc.cluster.local:{port}"  # noqa: E731
            backends[(ep.name, "service")] = host(SPLIT_SERVICE)
            for t in ep.tracks:
                backends[(ep.name, t.track)] = host(t.service)
        first = a.endpoint_targets[0] if a.endpoint_targets else None
        health_backend = backends.get((first.name, STABLE)) if first else None
        self.esp_openapi = esp_openapi2(
            service, g.auth.issuer, g.auth.jwks_uri or f"{g.auth.issuer.rstrip('/')}/.well-known/jwks.json",
            g.auth.audiences, routes, backends, health_backend, math.ceil(g.throttle.rate_per_second * 60),
        )
        gcp.endpoints.Service(
            f"{n}-endpoints",
            service_name=service,
            project=a.gcp_project,
            openapi_config=json.dumps(self.esp_openapi, indent=1),
            opts=self._opts(),
        )
        address = gcp.compute.GlobalAddress(
            f"{n}-ip", project=a.gcp_project, ip_version="IPV4", labels=labels, opts=self._opts()
        )
        self.address = address.address
        cert = gcp.compute.ManagedSslCertificate(
            f"{n}-cert", project=a.gcp_project,
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[g.domain]), opts=self._opts(),
        )
        # Cloud Armor has a fixed window, not a token bucket: allow rate x window + burst per window.
        window = 10
        armor = gcp.compute.SecurityPolicy(
            f"{n}-armor",
            project=a.gcp_project,
            description="aiplat gateway: throttle to the configured rate (429), hide the probe path",
            labels=labels,
            rules=[
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=1000,
                    action="deny(404)",
                    description="the readiness path is for the load balancer's health checkers only",
                    match=gcp.compute.SecurityPolicyRuleMatchArgs(
                        expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(
                            expression=f"request.path.startsWith('{TRITON_READY.rsplit('/', 1)[0]}')"
                        )
                    ),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=2000,
                    action="throttle",
                    description="gateway.throttle",
                    match=gcp.compute.SecurityPolicyRuleMatchArgs(
                        versioned_expr="SRC_IPS_V1",
                        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
                    ),
                    rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                        conform_action="allow",
                        exceed_action="deny(429)",
                        enforce_on_key="ALL",  # the whole API, like the AWS stage limit
                        rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                            count=math.ceil(g.throttle.rate_per_second * window) + g.throttle.burst,
                            interval_sec=window,
                        ),
                    ),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=2147483647,
                    action="allow",
                    description="default",
                    match=gcp.compute.SecurityPolicyRuleMatchArgs(
                        versioned_expr="SRC_IPS_V1",
                        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
                    ),
                ),
            ],
            opts=self._opts(),
        )
        health = gcp.compute.HealthCheck(
            f"{n}-health",
            project=a.gcp_project,
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            # through ESPv2 to Triton readiness: a region with no ready Triton drops out
            http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(
                port=ESP_PORT, request_path=TRITON_READY if health_backend else "/healthz"
            ),
            log_config=gcp.compute.HealthCheckLogConfigArgs(enable=True),
            opts=self._opts(),
        )
        backend = gcp.compute.BackendService(
            f"{n}-backend",
            project=a.gcp_project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTP",
            timeout_sec=60,
            health_checks=health.id,
            security_policy=armor.id,
            log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
            backends=[
                gcp.compute.BackendServiceBackendArgs(
                    group=f"projects/{a.gcp_project}/zones/{zone}/networkEndpointGroups/{gw.neg_name}",
                    balancing_mode="RATE",
                    # past this the LB spills to the next-closest region instead of queueing
                    max_rate_per_endpoint=g.throttle.rate_per_second,
                )
                for gw in a.gateways.values()
                for zone in gw.neg_zones
            ],
            opts=self._opts(depends_on=list(a.gateways.values())),
        )
        url_map = gcp.compute.URLMap(f"{n}-urlmap", project=a.gcp_project, default_service=backend.id,
                                     opts=self._opts())
        self.url_map_name = url_map.name
        proxy = gcp.compute.TargetHttpsProxy(
            f"{n}-https", project=a.gcp_project, url_map=url_map.id, ssl_certificates=[cert.id], opts=self._opts()
        )
        gcp.compute.GlobalForwardingRule(
            f"{n}-https",
            project=a.gcp_project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            ip_address=address.id,
            ip_protocol="TCP",
            port_range="443",
            target=proxy.id,
            labels=labels,
            opts=self._opts(),
        )
        gcp.dns.RecordSet(
            f"{n}-dns",
            project=a.gcp_project,
            managed_zone=g.hosted_zone,
            name=f"{g.domain}.",
            type="A",
            ttl=300,
            rrdatas=[address.address],
            opts=self._opts(),
        )
