"""API gateway and global routing: authenticated, throttled, health-checked entry to Triton.

Two components with stable type tokens: ``ApiGateway`` (``aiplat:gateway:ApiGateway``), one
per region in front of that region's Triton endpoints, and ``GlobalRouting``
(``aiplat:gateway:GlobalRouting``), one per stack, which puts the configured domain over
them and drops a region whose Triton is not ready. The classes only declare their args and
outputs; the work is in free functions behind them: ``routes`` (the route model both clouds
share: default routes per model, pinned version routes, canary splits), ``openapi`` (the
OpenAPI 3 client description and the Cloud Endpoints OpenAPI 2 document), ``_aws`` (HTTP
API with a JWT authorizer over a VPC link and an internal ALB; Route 53 latency records
with health checks) and ``_gcp`` (ESPv2 per region behind one global external Application
Load Balancer with Cloud Armor). **Overload path**: (1) over the configured rate/burst the
gateway answers 429 before anything reaches the VPC (API Gateway stage throttling; GCP:
Cloud Armor ``throttle``); (2) within the rate, Triton's dynamic batcher queue is bounded
(``serving`` ``QueuePolicy``: ``max_queue_size``, ``timeout_action: REJECT``), so a full
queue fails the request at once (HTTP 503, "Exceeds maximum queue size") instead of letting
it wait; (3) the integration timeout (29 s on AWS) and ALB idle timeout bound anything
still slow, answered as 504.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from aiplat._base import AiplatComponent
from aiplat.config import GatewayConfig
from aiplat.gateway import _aws, _gcp
from aiplat.gateway._gcp import endpoints_service_name
from aiplat.gateway.openapi import esp_openapi2, openapi3
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

if TYPE_CHECKING:
    from aiplat.addons import Installers

__all__ = [
    "ApiGateway",
    "ApiGatewayArgs",
    "GlobalRouting",
    "GlobalRoutingArgs",
    "EndpointTarget",
    "TrackTarget",
    "Route",
    "endpoint_target",
    "endpoints_service_name",
    "default_routes",
    "resolve_routes",
    "openapi3",
    "esp_openapi2",
    "STABLE",
    "CANARY",
    "TRITON_READY",
]


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
    protect: bool = False
    """Protect its KMS keys from deletion (the platform sets it in prod and staging; ``production``
    implies it). Default false."""
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
    access_logs_bucket: pulumi.Input[str] | None = None
    """The region's log bucket (``aiplat.access_logs``): the internal ALB's access logs go there (AWS). Default none: no access logs (the
    access-logs policy refuses that)."""
    access_logs_ready: list[pulumi.Resource] = field(default_factory=list)
    """What logging into it waits for (the log bucket's policy and settings)."""
    installers: Installers | None = None
    """AWS: the cluster's add-ons; the TargetGroupBindings wait for the AWS Load Balancer
    Controller release that installs their CRD. Default none: the controller already runs."""
    tags: dict[str, str] = field(default_factory=dict)


class ApiGateway(AiplatComponent):
    """The regional gateway.

    Outputs (both clouds): ``routes`` (route keys), ``route_list`` (the resolved ``Route``
    values), ``openapi`` (OpenAPI 3 description).
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
            gcp_out = _gcp.regional_gateway(self, name, args)
            self.neg_name, self.neg_zones = gcp_out.neg_name, gcp_out.neg_zones
        self.register_outputs(
            {
                "routes": self.routes,
                "api_id": self.api_id,
                "custom_domain_target": self.custom_domain_target,
                "health_host": self.health_host,
                "neg_name": self.neg_name,
            }
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


class GlobalRouting(AiplatComponent):
    """One global hostname per stack over the regional gateways.

    Outputs: ``hostname``; AWS: ``health_check_ids`` (region -> id); GCP: ``address``,
    ``url_map_name`` (what load-balancer alert policies filter on), ``esp_openapi`` (the
    ESPv2 service config).
    """

    def __init__(self, name: str, args: GlobalRoutingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:gateway:GlobalRouting", name, None, opts)
        self._name, self._in = name, args
        self.hostname = args.gateway.domain
        self.health_check_ids: dict[str, pulumi.Output[str]] = {}
        self.address: pulumi.Output[str] | None = None
        self.url_map_name: pulumi.Output[str] | None = None
        self.esp_openapi: dict[str, Any] | None = None
        if args.cloud == "aws":
            self.health_check_ids = _aws.latency_routing(self, name, args)
        else:
            out = _gcp.global_load_balancer(self, name, args)
            self.address, self.url_map_name, self.esp_openapi = out.address, out.url_map_name, out.esp_openapi
        self.register_outputs({"hostname": self.hostname, "health_check_ids": self.health_check_ids,
                               "address": self.address})
