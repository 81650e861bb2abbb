"""GCP gateway children: ESPv2 per region behind one global external Application Load Balancer.

API Gateway was rejected because its backends must be publicly reachable (it has no VPC
connectivity to private GKE services). Instead one *global external Application Load
Balancer* (EXTERNAL_MANAGED, ``global_load_balancer``): its anycast IP is the global
hostname (Cloud DNS A record, Google-managed certificate) and it sends each client to the
nearest region whose backends pass the health check, so global routing and failover come
with it. Cloud Armor throttles (excess -> 429) and denies the probe-only path from the
internet. JWTs are validated per region (``regional_gateway``) by ESPv2 pods (the proxy API
Gateway is built on, with their own Google service account through Workload Identity),
exposed as standalone zonal NEGs the global backend service lists, and configured by the
generated Cloud Endpoints OpenAPI 2.0 document (``openapi.esp_openapi2``) whose backends
are the per-track Triton Services. Versioned routes are exact; an unversioned route with a
canary goes to a ``triton-split`` Service selecting both tracks, so the split follows the
ready pods of each track (ESPv2 cannot weight; the canary's replica cap is sized from the
weight): the weight is exact per request on AWS only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiplat.cluster import short_id
from aiplat.gateway.openapi import esp_openapi2
from aiplat.gateway.routes import CANARY, STABLE, TRITON_READY, EndpointTarget, resolve_routes

if TYPE_CHECKING:
    from aiplat.gateway import ApiGateway, ApiGatewayArgs, GlobalRouting, GlobalRoutingArgs

ESP_IMAGE = "gcr.io/endpoints-release/endpoints-runtime:2.49.0"  # pinned ESPv2
# The image's USER is the *name* `envoy`, which the kubelet cannot check against runAsNonRoot
# (CreateContainerConfigError), so the pod states the numbers. Read at esp-v2 v2.49.0:
# docker/Dockerfile-proxy.tmpl runs `addgroup -S envoy && adduser -S envoy -G envoy` on
# docker/Dockerfile-envoy's alpine:3.18 base, whose system range 100-999 has uid 100 free
# and gid 100 taken (`users`): busybox gives envoy uid 100, gid 101. Derived from the
# Dockerfiles, not observed on the pulled image (no registry access here).
ESP_UID, ESP_GID = 100, 101
ESP_PORT = 8080
SPLIT_SERVICE = "triton-split"  # GCP: both tracks of an endpoint, for canary-weighted routes
# Google front-end and health-checker source ranges (load balancing docs, "firewall rules").
GOOGLE_LB_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]


def endpoints_service_name(stack: str, project: str) -> str:
    """Cloud Endpoints service name: under the project's cloud.goog domain (no domain proof needed)."""
    return f"{short_id(f'aiplat-{stack}', 40)}.endpoints.{project}.cloud.goog"


@dataclass(frozen=True)
class RegionalOutputs:
    """What ``ApiGateway`` exposes on GCP (see its docstring)."""

    neg_name: str
    neg_zones: list[str]


@dataclass(frozen=True)
class GlobalOutputs:
    """What ``GlobalRouting`` exposes on GCP (see its docstring)."""

    address: pulumi.Output[str]
    url_map_name: pulumi.Output[str]
    esp_openapi: dict[str, Any]


# -- per region --------------------------------------------------------------------------
def regional_gateway(gw: ApiGateway, n: str, a: ApiGatewayArgs) -> RegionalOutputs:
    """Every GCP child of one regional gateway, in the order the graph has always had them."""
    neg_name = short_id(f"{n}-esp", 60)
    ns = k8s.core.v1.Namespace(
        f"{n}-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name="aiplat-gateway"), opts=gw._k8s()
    )
    ksa = _esp_identity(gw, n, a, ns)
    _split_services(gw, n, a)
    _esp(gw, n, a, ns, ksa, neg_name)
    gcp.compute.Firewall(
        f"{n}-lb-to-esp",
        network=a.network,
        project=a.gcp_project,
        direction="INGRESS",
        source_ranges=GOOGLE_LB_RANGES,
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(ESP_PORT)])],
        description="Google front ends and health checkers to ESPv2 pods",
        opts=gw._opts(),
    )
    return RegionalOutputs(neg_name=neg_name, neg_zones=list(a.zones))


def _esp_identity(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, ns: k8s.core.v1.Namespace
) -> k8s.core.v1.ServiceAccount:
    """ESPv2's Google service account (service control, trace) bound to its Kubernetes one."""
    gsa = gcp.serviceaccount.Account(
        f"{n}-esp",
        account_id=short_id(f"esp-{a.region}", 30),
        display_name=f"ESPv2 gateway in {a.region}",
        project=a.gcp_project,
        opts=gw._opts(),
    )
    member = gsa.email.apply(lambda e: f"serviceAccount:{e}")
    for role in ("roles/servicemanagement.serviceController", "roles/cloudtrace.agent"):
        gcp.projects.IAMMember(
            f"{n}-esp-{role.split('/')[-1]}", project=a.gcp_project, role=role, member=member, opts=gw._opts()
        )
    gcp.serviceaccount.IAMMember(
        f"{n}-esp-wi",
        service_account_id=gsa.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{a.gcp_project}.svc.id.goog[aiplat-gateway/esp]",
        opts=gw._opts(),
    )
    return k8s.core.v1.ServiceAccount(
        f"{n}-esp-ksa",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="esp", namespace=ns.metadata.name, annotations={"iam.gke.io/gcp-service-account": gsa.email}
        ),
        opts=gw._k8s(),
    )


def _split_services(gw: ApiGateway, n: str, a: ApiGatewayArgs) -> None:
    """Per endpoint with a canary track: a Service over both tracks for its canaried models."""
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
            opts=gw._k8s(),
        )


def _esp(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, ns: k8s.core.v1.Namespace, ksa: k8s.core.v1.ServiceAccount,
    neg_name: str,
) -> None:
    """The ESPv2 Deployment (spread over zones) and its Service, exposed as named zonal NEGs."""
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
                    # ESP calls Google APIs with the Workload Identity credentials of the metadata
                    # server, never the Kubernetes API.
                    automount_service_account_token=False,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
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
                        # --healthz answers from Envoy itself: a failing probe means a stuck proxy.
                        liveness_probe=k8s.core.v1.ProbeArgs(
                            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=ESP_PORT),
                            period_seconds=10, failure_threshold=6,
                        ),
                        resources=k8s.core.v1.ResourceRequirementsArgs(
                            requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "512Mi"}
                        ),
                        security_context=k8s.core.v1.SecurityContextArgs(
                            run_as_non_root=True, run_as_user=ESP_UID, run_as_group=ESP_GID,
                            allow_privilege_escalation=False,
                            # ESPv2's start script writes the generated Envoy bootstrap into the
                            # image's filesystem; a named exception of workload-hardening.
                            read_only_root_filesystem=False,
                            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                    )],
                ),
            ),
        ),
        opts=gw._k8s(),
    )
    k8s.core.v1.Service(
        f"{n}-esp-svc",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="esp",
            namespace=ns.metadata.name,
            labels=labels,
            # standalone zonal NEGs with a fixed name, so the global backend service can list them
            annotations={"cloud.google.com/neg": json.dumps({"exposed_ports": {str(ESP_PORT): {"name": neg_name}}})},
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP", selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=ESP_PORT, target_port=ESP_PORT)],
        ),
        opts=gw._k8s(),
    )


# -- global ------------------------------------------------------------------------------
def esp_backends(targets: list[EndpointTarget]) -> tuple[dict[tuple[str, str], str], str | None]:
    """(endpoint, track or "service") -> Triton base URL, and the readiness backend (first stable)."""
    backends = {}
    for ep in targets:
        # cluster DNS names: the same in every region, so one service config serves all ESPs
        host = lambda svc, ns=ep.namespace, port=ep.http_port: f"http://{svc}.{ns}.svc.cluster.local:{port}"  # noqa: E731
        backends[(ep.name, "service")] = host(SPLIT_SERVICE)
        for t in ep.tracks:
            backends[(ep.name, t.track)] = host(t.service)
    first = targets[0] if targets else None
    return backends, backends.get((first.name, STABLE)) if first else None


def global_load_balancer(gr: GlobalRouting, n: str, a: GlobalRoutingArgs) -> GlobalOutputs:
    """The ESP service config and the global external ALB over every region's ESP NEGs."""
    g = a.gateway
    labels = {k.lower(): v for k, v in a.tags.items()}
    service = endpoints_service_name(a.stack, a.gcp_project)
    backends, health_backend = esp_backends(a.endpoint_targets)
    esp_openapi = esp_openapi2(
        service, g.auth.issuer, g.auth.jwks_uri or f"{g.auth.issuer.rstrip('/')}/.well-known/jwks.json",
        g.auth.audiences, resolve_routes(g.routes, a.endpoint_targets), backends, health_backend,
        math.ceil(g.throttle.rate_per_second * 60),
    )
    gcp.endpoints.Service(
        f"{n}-endpoints",
        service_name=service,
        project=a.gcp_project,
        openapi_config=json.dumps(esp_openapi, indent=1),
        opts=gr._opts(),
    )
    address = gcp.compute.GlobalAddress(
        f"{n}-ip", project=a.gcp_project, ip_version="IPV4", labels=labels, opts=gr._opts()
    )
    cert = gcp.compute.ManagedSslCertificate(
        f"{n}-cert", project=a.gcp_project,
        managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[g.domain]), opts=gr._opts(),
    )
    armor = _cloud_armor(gr, n, a, labels)
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
        opts=gr._opts(),
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
        opts=gr._opts(depends_on=list(a.gateways.values())),
    )
    url_map = gcp.compute.URLMap(f"{n}-urlmap", project=a.gcp_project, default_service=backend.id,
                                 opts=gr._opts())
    proxy = gcp.compute.TargetHttpsProxy(
        f"{n}-https", project=a.gcp_project, url_map=url_map.id, ssl_certificates=[cert.id], opts=gr._opts()
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
        opts=gr._opts(),
    )
    gcp.dns.RecordSet(
        f"{n}-dns",
        project=a.gcp_project,
        managed_zone=g.hosted_zone,
        name=f"{g.domain}.",
        type="A",
        ttl=300,
        rrdatas=[address.address],
        opts=gr._opts(),
    )
    return GlobalOutputs(address=address.address, url_map_name=url_map.name, esp_openapi=esp_openapi)


def _cloud_armor(gr: GlobalRouting, n: str, a: GlobalRoutingArgs, labels: dict[str, str]) -> gcp.compute.SecurityPolicy:
    """Deny the readiness path from the internet (404), throttle the whole API (429), allow the rest."""
    g = a.gateway
    # Cloud Armor has a fixed window, not a token bucket: allow rate x window + burst per window.
    window = 10
    return gcp.compute.SecurityPolicy(
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
        opts=gr._opts(),
    )
