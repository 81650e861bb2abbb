"""transport-tls: in a stack that holds confidential data or above, every hop is encrypted.

The class comes from the stack itself (``aiplat.policies._classification``): the highest
``data-classification`` any resource or provider declares. A stack that declares none cannot
be judged (a violation), as soon as it has anything that carries requests. Below ``confidential`` nothing is required. At ``confidential`` and
``restricted`` every hop that carries a request is read, with the semantics of the service:

- AWS Application/Network Load Balancer listeners: ``HTTPS`` or ``TLS`` (an ``HTTP`` listener
  only when its default action redirects to HTTPS and no rule forwards from it); target groups
  (load balancer -> target): ``HTTPS`` or ``TLS``;
- API Gateway HTTP API integrations: a private integration (``VPC_LINK``) states
  ``tlsConfig.serverNameToVerify`` and points at a TLS listener; no ``http://`` URI (REST API
  integrations too); custom domains with security policy ``TLS_1_2``; SNS subscriptions not
  ``http``; CloudFront viewers ``https-only``/``redirect-to-https`` and origins not ``http-only``;
- GCP backend services (load balancer -> backend): ``HTTPS``, ``HTTP2`` or ``SSL``; no
  ``TargetHttpProxy``; Cloud Endpoints (ESPv2) backends (``x-google-backend.address``) with
  ``https://`` or ``grpcs://``;
- Kubernetes Services of type LoadBalancer (AWS Load Balancer Controller v3.5.0 annotations:
  ``aws-load-balancer-ssl-cert``, ``-ssl-ports`` absent or covering every port,
  ``-backend-protocol: ssl``) and Ingresses (``spec.tls`` or
  ``alb.ingress.kubernetes.io/certificate-arn``, and ``backend-protocol: HTTPS``).

A hop that cannot be encrypted on purpose is named in ``plaintextHops`` (type, resource-name
pattern, reason). Any other type with a protocol or URI input (from the provider schema), a
Helm release and unknown custom kinds are "cannot judge".
"""

from __future__ import annotations

import fnmatch
from typing import Any

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat.policies import _kinds
from aiplat.policies._classification import stack_classification
from aiplat.policies._graph import StackGraph
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged
from aiplat.policies._props import UNKNOWN, elements, get
from aiplat.policies._schema import schema

NAME = "transport-tls"
REQUIRED_FROM = "confidential"
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
LISTENER_RULES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
V2_INTEGRATION = "aws:apigatewayv2/integration:Integration"
REST_INTEGRATION = "aws:apigateway/integration:Integration"
DOMAINS = ("aws:apigatewayv2/domainName:DomainName", "aws:apigateway/domainName:DomainName")
SNS_SUB = "aws:sns/topicSubscription:TopicSubscription"
CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
GCP_BACKENDS = ("gcp:compute/backendService:BackendService", "gcp:compute/regionBackendService:RegionBackendService")
GCP_HTTP_PROXIES = ("gcp:compute/targetHttpProxy:TargetHttpProxy",
                    "gcp:compute/regionTargetHttpProxy:RegionTargetHttpProxy")
ENDPOINTS = "gcp:endpoints/service:Service"
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_INGRESSES = ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:networking.k8s.io/v1beta1:Ingress",
                 "kubernetes:extensions/v1beta1:Ingress")
CLASSIC_ELB = "aws:elb/loadBalancer:LoadBalancer"
JUDGED = (*LISTENERS, *TARGET_GROUPS, *LISTENER_RULES, CLASSIC_ELB, V2_INTEGRATION, REST_INTEGRATION, *DOMAINS, SNS_SUB, CLOUDFRONT,
          *GCP_BACKENDS, *GCP_HTTP_PROXIES, ENDPOINTS, K8S_SERVICE, *K8S_INGRESSES)
# Types with a protocol/URI input that need no check, and why.
DECIDED = {
    "aws:apigatewayv2/api:Api": "API Gateway serves its endpoints over HTTPS only (protocolType is HTTP or "
                                "WEBSOCKET, the application protocol)",
    "aws:apigateway/restApi:RestApi": "API Gateway serves its endpoints over HTTPS only",
    "aws:lb/loadBalancer:LoadBalancer": "its listeners and target groups carry the protocols (judged there)",
    "aws:alb/loadBalancer:LoadBalancer": "its listeners and target groups carry the protocols (judged there)",
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": "an HTTPS frontend",
    "gcp:compute/targetSslProxy:TargetSslProxy": "a TLS frontend",
    "aws:ec2/networkAclRule:NetworkAclRule": "an L4 filter rule: it admits traffic, it carries none",
    "aws:apigatewayv2/authorizer:Authorizer": "its authorizerUri is a Lambda function API Gateway invokes through "
                                              "the AWS API (JWT authorizers have none)",
    "aws:eks/cluster:Cluster": "the Kubernetes API server serves TLS only",
    "gcp:container/cluster:Cluster": "the control plane's endpoints (IP and DNS) serve TLS only",
}
# Protocol-named inputs that say nothing about encryption: L4 protocols of filters and forwarding
# rules (TLS is the target proxy's or listener's), IPv6 metadata, cache keys, PROXY protocol.
NOT_HOP = frozenset({"ipProtocol", "httpProtocolIpv6", "includeProtocol", "proxyProtocolV2", "protocolVersion"})
FILTER_LISTS = frozenset({"ingress", "egress", "allows", "denies", "grants"})
HOP_INPUTS = frozenset({"protocol", "protocolType", "integrationUri", "uri", "backendUri", "endpointUrl", "serviceUrl",
                        "endpoint"})
TLS_LISTENER = {"HTTPS", "TLS"}
TLS_BACKEND_GCP = {"HTTPS", "HTTP2", "SSL"}
SVC = "service.beta.kubernetes.io/aws-load-balancer-"
ING = "alb.ingress.kubernetes.io/"


def coverage(resource_type: str) -> Coverage:
    if (why := _kinds.trivial(resource_type)) is not None:
        return Coverage.not_applicable(why)
    if resource_type in JUDGED:
        return Coverage.judged()
    if resource_type in DECIDED:
        return Coverage.not_applicable(DECIDED[resource_type])
    if resource_type in _kinds.HELM_TYPES:
        return Coverage.judged()  # by its pin and whether its values expose a load balancer
    if resource_type in _kinds.KNOWN_CUSTOM:
        return Coverage.not_applicable(f"{_kinds.KNOWN_CUSTOM[resource_type]}: opens no connection")
    s = schema(resource_type)
    if s is None:
        return Coverage.cannot_judge("no provider schema is known for the type: it may carry traffic")
    if resource_type.startswith("kubernetes:"):
        return Coverage.not_applicable("a Kubernetes object that exposes no listener (Services and Ingresses are "
                                       "judged)")
    hops = sorted({".".join(p) for p in s.paths if len(p) <= 3 and _hop_input(p)})
    if hops:
        return Coverage.cannot_judge(f"it has {', '.join(hops[:3])} inputs this policy does not read")
    return Coverage.not_applicable("the provider schema has no protocol or endpoint input")


def _hop_input(path: tuple[str, ...]) -> bool:
    name = path[-1]
    if name in NOT_HOP or path[0] in FILTER_LISTS or any("grant" in step.lower() for step in path):
        return False  # ACL grantees (grants[].uri) name groups, not endpoints
    return name in HOP_INPUTS or "protocol" in name.lower() or name.lower().endswith("uri")


class _Checks:
    def __init__(self, graph: StackGraph, config, report):
        self.g = graph
        self.allowed = list(config.get(ALLOWED_TYPES, []))
        self.hops = list(config.get("plaintextHops", []))
        self._report = report

    def excepted(self, r: PolicyResource) -> bool:
        return any(h["type"] == r.resource_type and fnmatch.fnmatchcase(r.name, h["resource"]) for h in self.hops)

    def report(self, r: PolicyResource, message: str) -> None:
        if not self.excepted(r):
            self._report(f"{r.resource_type} {r.name}: {message}", r.urn)

    def unknown(self, r: PolicyResource, what: str) -> None:
        report_unjudged(NAME, r.resource_type, r.name, f"{what} is unknown at preview", self.allowed, self._report,
                        r.urn)

    def aws_lb(self) -> None:
        rules = self.g.of_type(*LISTENER_RULES)
        for lst in self.g.of_type(*LISTENERS):
            proto = get(lst.props, "protocol")
            if proto is UNKNOWN:
                self.unknown(lst, "protocol")
            elif proto not in TLS_LISTENER:
                redirect = all(get(a, "type") == "redirect" and get(a, "redirect", "protocol") == "HTTPS"
                               for a in elements(get(lst.props, "defaultActions", default=[]))) and \
                    get(lst.props, "defaultActions")
                forwards = [r for r in rules if self.g.references(r, "listenerArn", lst)]
                if not redirect or forwards:
                    self.report(lst, f"protocol {proto or 'HTTP (default)'} carries the requests in plaintext; use "
                                     "HTTPS with a certificateArn (ACM) and an sslPolicy")
        for r in rules:
            for a in elements(get(r.props, "actions", default=[])):
                if get(a, "type") == "redirect" and get(a, "redirect", "protocol") == "HTTP":
                    self.report(r, "redirects to HTTP: the request leaves TLS; redirect to HTTPS")
        for elb in self.g.of_type(CLASSIC_ELB):
            for i, lst in enumerate(elements(get(elb.props, "listeners", default=[]))):
                front, back = get(lst, "lbProtocol"), get(lst, "instanceProtocol")
                if UNKNOWN in (front, back):
                    self.unknown(elb, f"listeners[{i}] protocols")
                elif str(front).upper() not in ("HTTPS", "SSL") or str(back).upper() not in ("HTTPS", "SSL"):
                    self.report(elb, f"listeners[{i}] is {front} -> {back}: use HTTPS/SSL on both sides")
        for tg in self.g.of_type(*TARGET_GROUPS):
            if get(tg.props, "targetType") == "lambda":
                continue
            proto = get(tg.props, "protocol")
            if proto is UNKNOWN:
                self.unknown(tg, "protocol")
            elif proto not in TLS_LISTENER:
                self.report(tg, f"protocol {proto or 'none'}: the load balancer reaches its targets in plaintext; use "
                                "HTTPS (or TLS) and serve TLS on the targets")

    def api_gateway(self) -> None:
        for i in self.g.of_type(V2_INTEGRATION):
            uri = get(i.props, "integrationUri")
            if isinstance(uri, str) and uri.lower().startswith("http://"):
                self.report(i, f"integrationUri {uri!r} is plaintext; use https://")
            if get(i.props, "connectionType") == "VPC_LINK":
                if get(i.props, "tlsConfig", "serverNameToVerify") is None:
                    self.report(i, "private integration without tlsConfig.serverNameToVerify: API Gateway -> load "
                                   "balancer runs in plaintext; point it at an HTTPS listener and set "
                                   "tlsConfig.serverNameToVerify to the listener certificate's name")
        for i in self.g.of_type(REST_INTEGRATION):
            uri = get(i.props, "uri")
            if isinstance(uri, str) and uri.lower().startswith("http://"):
                self.report(i, f"uri {uri!r} is plaintext; use https://")
        for d in self.g.of_type(*DOMAINS):
            policy = get(d.props, "domainNameConfiguration", "securityPolicy", default=get(d.props, "securityPolicy"))
            if policy not in ("TLS_1_2", None) and not str(policy).startswith("SecurityPolicy_TLS13"):
                self.report(d, f"security policy {policy!r} admits TLS below 1.2; use TLS_1_2")
        for s in self.g.of_type(SNS_SUB):
            if get(s.props, "protocol") == "http":
                self.report(s, "an http subscription delivers messages in plaintext; use https")
        for cf in self.g.of_type(CLOUDFRONT):
            behaviours = [get(cf.props, "defaultCacheBehavior")] + list(
                elements(get(cf.props, "orderedCacheBehaviors", default=[])))
            for b in behaviours:
                if b is not None and get(b, "viewerProtocolPolicy") == "allow-all":
                    self.report(cf, "viewerProtocolPolicy allow-all serves viewers over HTTP; use redirect-to-https")
                    break
            for o in elements(get(cf.props, "origins", default=[])):
                if get(o, "customOriginConfig", "originProtocolPolicy") in ("http-only", "match-viewer"):
                    self.report(cf, f"origin {get(o, 'originId')!r} is reached over HTTP; use https-only")

    def gcp(self) -> None:
        for be in self.g.of_type(*GCP_BACKENDS):
            proto = get(be.props, "protocol", default="HTTP")
            if proto is UNKNOWN:
                self.unknown(be, "protocol")
            elif proto not in TLS_BACKEND_GCP:
                self.report(be, f"protocol {proto}: the load balancer reaches its backends without TLS; use HTTPS "
                                "(or HTTP2) and serve TLS on the backends")
        for p in self.g.of_type(*GCP_HTTP_PROXIES):
            self.report(p, "an HTTP frontend serves clients in plaintext; use a TargetHttpsProxy")
        for svc in self.g.of_type(ENDPOINTS):
            text = get(svc.props, "openapiConfig")
            if text is UNKNOWN:
                self.unknown(svc, "openapiConfig")
                continue
            if not isinstance(text, str):
                continue
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError:
                report_unjudged(NAME, svc.resource_type, svc.name, "openapiConfig is not JSON/YAML", self.allowed,
                                self._report, svc.urn)
                continue
            plain = sorted({a for a in _backend_addresses(doc) if not a.startswith(("https://", "grpcs://"))})
            if plain:
                self.report(svc, f"ESP reaches {len(plain)} backend(s) without TLS (x-google-backend address "
                                 f"{plain[0]!r}); use https:// backends that serve TLS")

    def kubernetes(self) -> None:
        for svc in self.g.of_type(K8S_SERVICE):
            if get(svc.props, "spec", "type") != "LoadBalancer":
                continue
            ann = get(svc.props, "metadata", "annotations", default={})
            if ann is UNKNOWN:
                self.unknown(svc, "metadata.annotations")
                continue
            ports = {str(get(p, k)) for p in elements(get(svc.props, "spec", "ports", default=[]))
                     for k in ("name", "port") if get(p, k) is not None}
            ssl_ports = {p.strip() for p in str(get(ann, SVC + "ssl-ports", default="")).split(",") if p.strip()}
            if not get(ann, SVC + "ssl-cert"):
                self.report(svc, f"LoadBalancer Service without {SVC}ssl-cert: clients reach it in plaintext")
            elif ssl_ports and not all(
                    any(str(get(p, k)) in ssl_ports for k in ("name", "port"))
                    for p in elements(get(svc.props, "spec", "ports", default=[]))):
                self.report(svc, f"{SVC}ssl-ports leaves ports of {sorted(ports)} without TLS")
            if get(ann, SVC + "backend-protocol") != "ssl":
                self.report(svc, f"the load balancer reaches the pods in plaintext; set {SVC}backend-protocol: ssl")
        for ing in self.g.of_type(*K8S_INGRESSES):
            ann = get(ing.props, "metadata", "annotations", default={})
            if ann is UNKNOWN:
                self.unknown(ing, "metadata.annotations")
                continue
            if not get(ing.props, "spec", "tls") and not get(ann, ING + "certificate-arn"):
                self.report(ing, f"no spec.tls and no {ING}certificate-arn: clients reach it in plaintext")
            if get(ann, ING + "backend-protocol") != "HTTPS":
                self.report(ing, f"the load balancer reaches the pods in plaintext; set {ING}backend-protocol: HTTPS")


def _backend_addresses(doc: Any) -> list[str]:
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "x-google-backend" and isinstance(v, dict) and isinstance(v.get("address"), str):
                out.append(v["address"])
            else:
                out.extend(_backend_addresses(v))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(_backend_addresses(v))
    return out


def validate(args, report_violation) -> None:
    config = args.get_config()
    hops = [r for r in args.resources if _kinds.trivial(r.resource_type) is None
            and coverage(r.resource_type).kind != "not-applicable"]
    if not hops:
        return  # nothing in the stack carries a request: no class needed to judge it
    cls = stack_classification(args.resources)
    if cls.level is None:
        report_violation("cannot judge: the stack declares no data-classification tag or label, so whether its hops "
                         "need TLS is unknown; label the stack's resources (platform.data_classification)", None)
        return
    if not cls.at_least(REQUIRED_FROM):
        return
    checks = _Checks(StackGraph(args.resources), config, report_violation)
    _kinds.report_undecided(NAME, coverage, args.resources, checks.allowed, report_violation)
    for check in (checks.aws_lb, checks.api_gateway, checks.gcp, checks.kubernetes):
        check()


POLICY = StackValidationPolicy(
    name=NAME,
    description="In a stack classified confidential or above, every hop that carries requests uses TLS.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "plaintextHops": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "minLength": 1, "description": "the hop's resource type"},
                        "resource": {"type": "string", "minLength": 1,
                                     "description": "resource name (shell-style pattern)"},
                        "reason": {"type": "string", "minLength": 10},
                    },
                    "required": ["type", "resource", "reason"],
                    "additionalProperties": False,
                },
                "default": [],
                "description": "Hops that stay in plaintext on purpose, each with the reason. Default none.",
            },
            ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA,
        },
    ),
)
