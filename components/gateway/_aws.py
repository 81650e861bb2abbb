"""AWS gateway children: per region an authenticated HTTP API in front of an internal ALB, globally Route 53.

Per region (``regional_gateway``): an API Gateway HTTP API whose every route carries a JWT
authorizer (issuer/audiences from config) and whose ``$default`` stage throttles (rate,
burst) and writes JSON access logs to a CloudWatch log group with retention; a private
integration through a VPC link (private subnets) to an *internal ALB* in front of the
Triton pods: TLS to the ALB's HTTPS listener (the gateway domain's ACM certificate, verified by
the integration's ``tlsConfig``), the ALB's access logs into the region's log bucket. The ALB does the model routing: one listener rule per route, and for an
unversioned model route with a canary a *weighted forward* to a stable and a canary target
group, so the split is exactly the configured weight (HTTP API integrations have no weights
of their own; two integrations on one route are impossible). Version routes are pinned to
the target group of the Deployment that serves that version. Target groups (type ``ip``)
are filled with Triton pod IPs by the AWS Load Balancer Controller's ``TargetGroupBinding``
(elbv2.k8s.aws/v1beta1), one per track Service; each binding waits for the controller's
release (``aiplat.addons``, from ``args.installers``), which installs its CRD. The custom
domain (the *global* hostname, with an ACM certificate DNS-validated in the hosted zone)
maps to the stage, and a separate probe-only health API serves Route 53. Globally
(``latency_routing``): per region a Route 53 latency record (alias to the regional custom
domain, ``set_identifier`` = region) with an HTTPS health check on that probe API; when
Triton is not ready in a region the check fails and Route 53 stops answering with that
region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aiplat.access_logs import ALB_PREFIX
from aiplat.cluster import log_group_key, short_id
from aiplat.config import HEALTH_PATH
from aiplat.errors import ConfigError, Problem
from aiplat.gateway.routes import STABLE, TRITON_READY, Route

if TYPE_CHECKING:
    from aiplat.gateway import ApiGateway, ApiGatewayArgs, GlobalRouting, GlobalRoutingArgs

TGB_API = "elbv2.k8s.aws/v1beta1"
HTTPS_PORT = 443
# TLS 1.3 and 1.2 only (Elastic Load Balancing "Security policies for your Application Load Balancer").
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HEALTH_API_RATE, HEALTH_API_BURST = 10, 20  # Route 53 checkers: ~16 probes per interval
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationErrorMessage": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "subject": "$context.authorizer.claims.sub",
        "responseLength": "$context.responseLength",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class RegionalOutputs:
    """What ``ApiGateway`` exposes on AWS (see its docstring)."""

    api_id: pulumi.Output[str]
    stage_name: str
    custom_domain_target: pulumi.Output[str]
    custom_domain_zone_id: pulumi.Output[str]
    health_host: pulumi.Output[str]
    log_group: pulumi.Output[str]


# -- per region --------------------------------------------------------------------------
def regional_gateway(gw: ApiGateway, n: str, a: ApiGatewayArgs, routes: list[Route]) -> RegionalOutputs:
    """Every AWS child of one regional gateway, in the order the graph has always had them."""
    log_name = f"/aws/apigateway/{n}"
    logs_key = log_group_key(gw, f"{n}-access-logs", a.region, log_name, gw._tags("access-logs-key"),
                             protect=a.production or a.protect)
    logs = aws.cloudwatch.LogGroup(
        f"{n}-access-logs",
        name=log_name,
        retention_in_days=a.gateway.retention_days(a.production),
        kms_key_id=logs_key.arn,
        tags=gw._tags("access-logs"),
        opts=gw._opts(),
    )
    link_sg, alb_sg = _security_groups(gw, n, a)
    cert_arn = _certificate(gw, n, a)
    listener = _internal_alb(gw, n, a, alb_sg, cert_arn)
    tgs = _target_groups(gw, n, a, alb_sg)
    _listener_rules(gw, n, a, listener, tgs, routes)
    link = aws.apigatewayv2.VpcLink(
        f"{n}-vpclink",
        name=f"{n}-vpclink",
        subnet_ids=a.private_subnet_ids,
        security_group_ids=[link_sg.id],
        tags=gw._tags("vpclink"),
        opts=gw._opts(),
    )
    api, stage = _client_api(gw, n, a, routes, link, listener, logs)
    target, zone_id = _custom_domain(gw, n, a, api, stage, cert_arn)
    return RegionalOutputs(
        api_id=api.id,
        stage_name="$default",
        custom_domain_target=target,
        custom_domain_zone_id=zone_id,
        health_host=_health_api(gw, n, a, link, listener, logs),
        log_group=logs.name,
    )


def _pod_ports(a: ApiGatewayArgs) -> list[int]:
    """The pods' TLS ports the ALB reaches (one per endpoint, 8443: the Triton pods' TLS sidecar)."""
    missing = [ep.name for ep in a.endpoints if ep.https_port is None]
    if missing:
        raise ConfigError([Problem(f"endpoints[{m}].https_port", "not set (the Triton pods' TLS sidecar): the AWS "
                                   "gateway reaches the pods over HTTPS only") for m in missing], "ApiGateway")
    return sorted({int(ep.https_port) for ep in a.endpoints})


def _security_groups(gw: ApiGateway, n: str, a: ApiGatewayArgs) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
    """VPC link -> ALB on HTTPS_PORT only, ALB -> the Triton pods' TLS sidecar (8443) only."""
    link_sg = aws.ec2.SecurityGroup(
        f"{n}-vpclink",
        vpc_id=a.vpc_id,
        description="API Gateway VPC link to the internal inference ALB",
        egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=HTTPS_PORT, to_port=HTTPS_PORT,
                                               cidr_blocks=[a.vpc_cidr])],
        tags=gw._tags("vpclink"),
        opts=gw._opts(),
    )
    alb_sg = aws.ec2.SecurityGroup(
        f"{n}-alb",
        vpc_id=a.vpc_id,
        description="Internal inference ALB: only the VPC link in, only the Triton pods' TLS port out",
        ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=HTTPS_PORT, to_port=HTTPS_PORT,
                                                  security_groups=[link_sg.id])],
        egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=p, to_port=p, cidr_blocks=[a.vpc_cidr])
                for p in _pod_ports(a)],
        tags=gw._tags("alb"),
        opts=gw._opts(),
    )
    return link_sg, alb_sg


def _internal_alb(gw: ApiGateway, n: str, a: ApiGatewayArgs, alb_sg: aws.ec2.SecurityGroup,
                  cert_arn: pulumi.Input[str]) -> aws.lb.Listener:
    """The internal ALB (access logs into the region's log bucket) and its HTTPS listener with the
    gateway domain's ACM certificate: the VPC link's private integration verifies that name
    (``tlsConfig.serverNameToVerify``), so API Gateway -> ALB is TLS, not plaintext."""
    alb = aws.lb.LoadBalancer(
        f"{n}-alb",
        name=short_id(f"{n}-alb", 32),
        internal=True,
        load_balancer_type="application",
        subnets=a.private_subnet_ids,
        security_groups=[alb_sg.id],
        drop_invalid_header_fields=True,
        idle_timeout=60,  # > Triton's worst single inference; API Gateway caps at 29 s anyway
        enable_deletion_protection=a.production,
        access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=a.access_logs_bucket, enabled=True, prefix=ALB_PREFIX)
        if a.access_logs_bucket is not None else None,
        tags=gw._tags("alb"),
        # ELB checks that it may write to the bucket when logging is turned on.
        opts=gw._opts(depends_on=list(a.access_logs_ready)),
    )
    return aws.lb.Listener(
        f"{n}-https",
        load_balancer_arn=alb.arn,
        port=HTTPS_PORT,
        protocol="HTTPS",
        certificate_arn=cert_arn,
        ssl_policy=ALB_SSL_POLICY,
        default_actions=[_fixed(404, "no such route")],
        tags=gw._tags("https"),
        # Was the HTTP:80 listener "<n>-http": port, protocol and certificate update in place
        # (ModifyListener), so the alias keeps the listener and the rules on it.
        opts=gw._opts(aliases=[pulumi.Alias(name=f"{n}-http")]),
    )


def _target_groups(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, alb_sg: aws.ec2.SecurityGroup
) -> dict[tuple[str, str], aws.lb.TargetGroup]:
    """One ``ip`` target group per (endpoint, track), each filled by a TargetGroupBinding.

    HTTPS to the pods' TLS sidecar (``aiplat.triton._tls``: nginx on 8443 -> Triton on the pod's
    loopback), health checks HTTPS on the same port through the sidecar to Triton's readiness.
    The sidecar's certificate is self-signed: an ALB does not validate its targets' certificates
    (AWS, "Target groups for your Application Load Balancers", routing configuration,
    docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html)."""
    tgs: dict[tuple[str, str], aws.lb.TargetGroup] = {}
    _pod_ports(a)
    for ep in a.endpoints:
        for t in ep.tracks:
            tg = aws.lb.TargetGroup(
                f"{n}-{ep.name}-{t.track}",
                # "-tls": protocol and port cannot change in place, so the target group is replaced;
                # a new name lets Pulumi create the new one (and move the rules to it) before it
                # deletes the old one (names are unique per account and region).
                name=short_id(f"{n}-{ep.name}-{t.track}-tls", 32),
                target_type="ip",  # pod IPs (VPC CNI), no node hop
                port=ep.https_port,
                protocol="HTTPS",
                vpc_id=a.vpc_id,
                deregistration_delay=30,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    protocol="HTTPS", port="traffic-port",
                    path=TRITON_READY, matcher="200", interval=10, healthy_threshold=2, unhealthy_threshold=2
                ),
                tags=gw._tags(f"{ep.name}-{t.track}"),
                opts=gw._opts(),
            )
            tgs[(ep.name, t.track)] = tg
            k8s.apiextensions.CustomResource(
                f"{n}-{ep.name}-{t.track}-tgb",
                api_version=TGB_API,
                kind="TargetGroupBinding",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{ep.name}-{t.track}-gateway", namespace=ep.namespace,
                    labels={"app.kubernetes.io/managed-by": "aiplat"},
                ),
                spec={
                    "serviceRef": {"name": t.service, "port": ep.https_port},
                    "targetGroupARN": tg.arn,
                    "targetType": "ip",
                    # the controller opens the pods' security group to the ALB on the TLS sidecar's port
                    # only; Triton's own 8000 stays closed to it
                    "networking": {"ingress": [{"from": [{"securityGroup": {"groupID": alb_sg.id}}],
                                                "ports": [{"protocol": "TCP", "port": ep.https_port}]}]},
                },
                # the controller's webhook refuses a changed targetGroupARN: a new target group
                # replaces the binding (same name, so the old one goes first)
                opts=gw._k8s(depends_on=a.installers.crd(TGB_API) if a.installers is not None else [],
                             replace_on_changes=["spec.targetGroupARN"], delete_before_replace=True),
            )
    return tgs


def _listener_rules(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, listener: aws.lb.Listener,
    tgs: dict[tuple[str, str], aws.lb.TargetGroup], routes: list[Route],
) -> None:
    """Readiness first, then one rule per client route, most specific first (priority 1, 2, ...)."""
    # Health: the first endpoint's stable track is the region's readiness signal.
    primary = tgs.get((a.endpoints[0].name, STABLE)) if a.endpoints else None
    rules = [(TRITON_READY, ["GET"], [(primary, 100)] if primary else None)]
    for r in sorted((r for r in routes if not r.is_health), key=_specificity):
        rules.append((r.path, [r.method], [(tgs[(r.endpoint, tr)], w) for tr, w in r.forward]))
    for prio, (path, methods, forward) in enumerate(rules, start=1):
        aws.lb.ListenerRule(
            f"{n}-rule-{prio}",
            listener_arn=listener.arn,
            priority=prio,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[_alb_pattern(path)])
                ),
                aws.lb.ListenerRuleConditionArgs(
                    http_request_method=aws.lb.ListenerRuleConditionHttpRequestMethodArgs(values=methods)
                ),
            ],
            actions=[_forward(forward) if forward else _fixed(503, "no Triton endpoint in this region")],
            tags=gw._tags(f"rule-{prio}"),
            opts=gw._opts(),
        )


def _client_api(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, routes: list[Route], link: aws.apigatewayv2.VpcLink,
    listener: aws.lb.Listener, logs: aws.cloudwatch.LogGroup,
) -> tuple[aws.apigatewayv2.Api, aws.apigatewayv2.Stage]:
    """The client HTTP API: JWT authorizer on every route, throttled and logged ``$default`` stage."""
    g = a.gateway
    api = aws.apigatewayv2.Api(
        f"{n}-api",
        name=f"{n}-api",
        protocol_type="HTTP",
        description="aiplat inference API (JWT on every route)",
        disable_execute_api_endpoint=True,  # clients come through the custom domain only
        tags=gw._tags("api"),
        opts=gw._opts(),
    )
    authorizer = aws.apigatewayv2.Authorizer(
        f"{n}-jwt",
        api_id=api.id,
        name="jwt",
        authorizer_type="JWT",
        identity_sources=["$request.header.Authorization"],
        jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
            issuer=g.auth.issuer, audiences=list(g.auth.audiences)
        ),
        opts=gw._opts(),
    )
    proxy = _integration(gw, f"{n}-triton", api, link, listener, None)
    health = _integration(gw, f"{n}-health", api, link, listener, TRITON_READY)
    for r in routes:
        aws.apigatewayv2.Route(
            f"{n}-{_slug(r.key)}",
            api_id=api.id,
            route_key=r.key,
            authorization_type="JWT",  # every client route, /health included
            authorizer_id=authorizer.id,
            target=(health if r.is_health else proxy).id.apply(lambda i: f"integrations/{i}"),
            opts=gw._opts(),
        )
    stage = aws.apigatewayv2.Stage(
        f"{n}-stage",
        api_id=api.id,
        name="$default",
        auto_deploy=True,
        default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
            throttling_rate_limit=g.throttle.rate_per_second,
            throttling_burst_limit=g.throttle.burst,
            detailed_metrics_enabled=True,
        ),
        access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
            destination_arn=logs.arn, format=ACCESS_LOG_FORMAT
        ),
        tags=gw._tags("stage"),
        opts=gw._opts(),
    )
    return api, stage


def _certificate(gw: ApiGateway, n: str, a: ApiGatewayArgs) -> pulumi.Input[str]:
    """The gateway domain's ACM certificate in this region (created and DNS-validated, or the
    configured one): on the custom domain and on the internal ALB's HTTPS listener."""
    g = a.gateway
    if g.certificate == "create":
        cert = aws.acm.Certificate(
            f"{n}-cert", domain_name=g.domain, validation_method="DNS", tags=gw._tags("cert"),
            opts=gw._opts(),
        )
        dvo = cert.domain_validation_options
        record = aws.route53.Record(
            f"{n}-cert-validation",
            zone_id=g.hosted_zone,
            name=dvo.apply(lambda o: o[0].resource_record_name if o else None),
            type=dvo.apply(lambda o: o[0].resource_record_type if o else "CNAME"),
            records=[dvo.apply(lambda o: o[0].resource_record_value if o else None)],
            ttl=300,
            allow_overwrite=True,  # ACM asks for the same CNAME in every region of the account
            opts=gw._opts(),
        )
        cert_arn = aws.acm.CertificateValidation(
            f"{n}-cert", certificate_arn=cert.arn, validation_record_fqdns=[record.fqdn], opts=gw._opts()
        ).certificate_arn
    else:
        cert_arn = g.certificate[a.region]
    return cert_arn


def _custom_domain(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, api: aws.apigatewayv2.Api, stage: aws.apigatewayv2.Stage,
    cert_arn: pulumi.Input[str],
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """The global hostname on this region's stage; returns its alias target and zone."""
    # Same hostname in every region: Route 53 latency records pick the region.
    g = a.gateway
    domain = aws.apigatewayv2.DomainName(
        f"{n}-domain",
        domain_name=g.domain,
        domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
            certificate_arn=cert_arn, endpoint_type="REGIONAL", security_policy="TLS_1_2"
        ),
        tags=gw._tags("domain"),
        opts=gw._opts(),
    )
    aws.apigatewayv2.ApiMapping(
        f"{n}-mapping", api_id=api.id, domain_name=domain.id, stage=stage.id, opts=gw._opts()
    )
    cfg = domain.domain_name_configuration
    return cfg.apply(lambda c: c.target_domain_name), cfg.apply(lambda c: c.hosted_zone_id)


def _health_api(
    gw: ApiGateway, n: str, a: ApiGatewayArgs, link: aws.apigatewayv2.VpcLink, listener: aws.lb.Listener,
    logs: aws.cloudwatch.LogGroup,
) -> pulumi.Output[str]:
    """The probe-only API; returns its execute-api hostname.

    Clients get ``/health`` on the client API *with* a JWT like every other route. Route 53
    health checkers cannot send a token, so each region also has this tiny separate API (one
    route, ``GET /health``, no authorizer, throttled to 10 rps, reachable only on its
    execute-api hostname, never via the custom domain) whose integration rewrites the path to
    Triton's ``/v2/health/ready`` through the same VPC link and ALB. It answers readiness (no
    model data), so it is the one deliberate public route (``publicRoutes`` of the
    security-baseline policy).
    """
    probe = aws.apigatewayv2.Api(
        f"{n}-health-api",
        name=f"{n}-health",
        protocol_type="HTTP",
        description="Route 53 health probe: Triton readiness only, no data",
        tags=gw._tags("health-api"),
        opts=gw._opts(),
    )
    probe_int = _integration(gw, f"{n}-probe", probe, link, listener, TRITON_READY)
    aws.apigatewayv2.Route(
        f"{n}-probe-health",
        api_id=probe.id,
        route_key=f"GET {HEALTH_PATH}",
        authorization_type="NONE",
        target=probe_int.id.apply(lambda i: f"integrations/{i}"),
        opts=gw._opts(),
    )
    aws.apigatewayv2.Stage(
        f"{n}-health-stage",
        api_id=probe.id,
        name="$default",
        auto_deploy=True,
        default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
            throttling_rate_limit=HEALTH_API_RATE, throttling_burst_limit=HEALTH_API_BURST
        ),
        access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
            destination_arn=logs.arn, format=ACCESS_LOG_FORMAT
        ),
        tags=gw._tags("health-stage"),
        opts=gw._opts(),
    )
    return probe.id.apply(lambda i: f"{i}.execute-api.{a.region}.amazonaws.com")


def _integration(
    gw: ApiGateway, name: str, api: aws.apigatewayv2.Api, link: aws.apigatewayv2.VpcLink,
    listener: aws.lb.Listener, path: str | None,
) -> aws.apigatewayv2.Integration:
    return aws.apigatewayv2.Integration(
        name,
        api_id=api.id,
        integration_type="HTTP_PROXY",
        integration_method="ANY",
        integration_uri=listener.arn,
        connection_type="VPC_LINK",
        connection_id=link.id,
        payload_format_version="1.0",
        timeout_milliseconds=29000,  # the HTTP API maximum; a slow model answers 504, never hangs
        request_parameters={"overwrite:path": path} if path else None,
        # The listener serves the gateway domain's certificate; API Gateway verifies that name.
        tls_config=aws.apigatewayv2.IntegrationTlsConfigArgs(server_name_to_verify=gw._in.gateway.domain),
        opts=gw._opts(),
    )


def _specificity(r: Route) -> tuple:
    # ALB evaluates rules by priority: pinned versions and literal paths before {param} ones.
    return ("{" in r.path, -r.path.count("/"), r.path, r.method)


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in key.lower()).strip("-").replace("--", "-")


def _alb_pattern(path: str) -> str:
    return "/".join("*" if s.startswith("{") else s for s in path.split("/"))


def _fixed(status: int, message: str) -> aws.lb.ListenerDefaultActionArgs:
    return aws.lb.ListenerDefaultActionArgs(
        type="fixed-response",
        fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
            content_type="application/json", status_code=str(status), message_body=json.dumps({"error": message})
        ),
    )


def _forward(forward: list[tuple[aws.lb.TargetGroup, int]]) -> aws.lb.ListenerRuleActionArgs:
    # A weighted forward is the one place the canary split is enforced (exact, per request).
    return aws.lb.ListenerRuleActionArgs(
        type="forward",
        forward=aws.lb.ListenerRuleActionForwardArgs(
            target_groups=[aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=tg.arn, weight=w) for tg, w in forward]
        ),
    )


# -- global ------------------------------------------------------------------------------
def latency_routing(gr: GlobalRouting, n: str, a: GlobalRoutingArgs) -> dict[str, pulumi.Output[str]]:
    """Per region a health check on the probe API and a latency alias record; region -> check id."""
    g = a.gateway
    health_check_ids: dict[str, pulumi.Output[str]] = {}
    for region, gw in a.gateways.items():
        hc = aws.route53.HealthCheck(
            f"{n}-{region}-health",
            type="HTTPS",
            fqdn=gw.health_host,
            port=443,
            resource_path=HEALTH_PATH,
            enable_sni=True,
            failure_threshold=3,  # 3 x 10 s: a dead region drops out in ~30 s
            request_interval=10,
            measure_latency=True,
            reference_name=short_id(f"{a.stack}-{region}", 28),
            tags={"Name": f"{n}-{region}-health", **a.tags},
            opts=gr._opts(),
        )
        health_check_ids[region] = hc.id
        aws.route53.Record(
            f"{n}-{region}-latency",
            zone_id=g.hosted_zone,
            name=g.domain,
            type="A",
            set_identifier=region,
            latency_routing_policies=[aws.route53.RecordLatencyRoutingPolicyArgs(region=region)],
            health_check_id=hc.id,
            aliases=[aws.route53.RecordAliasArgs(
                name=gw.custom_domain_target, zone_id=gw.custom_domain_zone_id, evaluate_target_health=True
            )],
            opts=gr._opts(),
        )
    return health_check_ids
