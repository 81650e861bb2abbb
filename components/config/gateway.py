"""``gateway``: regional API gateways behind one global hostname, their routes, auth and throttle.

Routes name serving endpoints (``serving.endpoints[].name``); those cross references are
checked by ``PlatformConfig``, which sees both sections.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterator, Literal

from pydantic import Field, ValidationInfo, field_validator

from aiplat.config._base import _ctx, _Model, _retention, if_known, known, one_message, raise_problems, rule
from aiplat.errors import Problem

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
HEALTH_PATH = "/health"
# Route paths: literal segments or one {param} per segment, the form both API Gateway
# route keys and OpenAPI paths accept.
ROUTE_PATH = re.compile(r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z][A-Za-z0-9_]*\}))+$")
HOSTNAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


class GatewayAuthConfig(_Model):
    """JWT validation at the edge: tokens must be signed by ``issuer`` for one of ``audiences``."""

    issuer: str = Field(description="OIDC issuer URL (https); its /.well-known/openid-configuration gives the keys.")
    audiences: list[str] = Field(min_length=1, description="Accepted `aud` values; at least one.")
    jwks_uri: str | None = Field(
        None, description="GCP (ESPv2) key set URL. Default: <issuer>/.well-known/jwks.json."
    )

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", v):
            raise ValueError(f"{v!r} must be an https:// URL")
        return v


class ThrottleConfig(_Model):
    """Stage throttling per region (AWS) / per client IP (GCP Cloud Armor); excess gets 429."""

    rate_per_second: float = Field(100, gt=0, description="Steady-state requests per second. Default 100.")
    burst: int = Field(200, gt=0, description="Token-bucket burst above the rate. Default 200.")


class GatewayRouteConfig(_Model):
    """One route of the regional gateways. ``endpoint`` names a ``serving.endpoints[].name``."""

    path: str = Field(description="Path, e.g. /v2/models/resnet/infer; {param} segments allowed.")
    methods: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]] | None = Field(
        None, min_length=1, description="Default [POST] ([GET] for /health)."
    )
    endpoint: str | None = Field(None, description="Target Triton endpoint. Required except for /health.")
    model: str | None = Field(None, description="Model the route serves: its canary weight applies. Default none.")
    version: str | None = Field(None, description="Pin to the Deployment serving this model version. Default none.")
    auth: Literal["jwt", "none"] = Field(
        "jwt", description="Default jwt. `none` is only allowed on /health (and is still served with JWT to clients)."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not ROUTE_PATH.match(v):
            raise ValueError(f"{v!r} is not a route path (/segment/{{param}}/..., no trailing slash)")
        return v

    @property
    def http_methods(self) -> list[str]:
        return list(self.methods or (["GET"] if self.path == HEALTH_PATH else ["POST"]))

    @rule
    def _auth(self, ctx):
        # The unauthenticated exception exists only for the health path the DNS/LB probes call.
        if self.auth == "none" and self.path != HEALTH_PATH:
            yield Problem("auth", f"`none` is only allowed on {HEALTH_PATH}; {self.path} needs jwt")

    @rule
    def _endpoint(self, ctx):
        if self.path != HEALTH_PATH and not self.endpoint:
            yield Problem("endpoint", "required (the serving endpoint this route goes to)")

    @rule
    def _pin(self, ctx):
        if self.version is not None and not self.model:
            yield Problem("version", "needs `model` (a version pins one model's Deployment)")


class GatewayConfig(_Model):
    """Regional API gateways behind one global hostname (latency routing with health checks)."""

    domain: str = Field(description="The one global hostname clients use, e.g. infer.example.com.")
    hosted_zone: str = Field(
        description="AWS: Route 53 hosted zone id (Z...); GCP: Cloud DNS managed zone name. Holds `domain`."
    )
    certificate: Annotated[Literal["create"] | dict[str, str],
                           one_message("must be `create` or a map of region -> ACM certificate ARN")] = Field(
        "create",
        description="`create` (ACM / Google-managed, DNS-validated in hosted_zone) or, on AWS, an ACM certificate "
        "ARN per region ({region: arn}). Default create.",
    )
    auth: GatewayAuthConfig
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)
    routes: list[GatewayRouteConfig] | None = Field(
        None,
        description="Default: per configured model POST /v2/models/<model>/infer (canary-weighted) and "
        "/v2/models/<model>/versions/<version>/infer per served version, plus GET /health.",
    )
    log_retention_days: int | None = Field(None, description="Access logs. Default: 365 in prod, 30 elsewhere.")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not HOSTNAME.match(v):
            raise ValueError(f"{v!r} is not a fully qualified lowercase hostname")
        return v

    @field_validator("hosted_zone")
    @classmethod
    def _zone(cls, v: str, info: ValidationInfo) -> str:
        cloud = _ctx(info, "cloud")
        if cloud == "aws" and not re.match(r"^Z[A-Z0-9]{1,31}$", v):
            raise ValueError(f"{v!r} is not a Route 53 hosted zone id (Z followed by capitals and digits)")
        if cloud == "gcp" and not re.match(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", v):
            raise ValueError(f"{v!r} is not a Cloud DNS managed zone name")
        return v

    @field_validator("certificate")
    @classmethod
    def _certificate(cls, v: Any, info: ValidationInfo) -> Any:
        if v == "create":
            return v
        if _ctx(info, "cloud") == "gcp":
            raise ValueError("GCP uses a Google-managed certificate: set `create`")
        problems = []
        for region, arn in v.items():
            m = ACM_ARN.match(arn)
            if not m:
                problems.append(((region,), f"{arn!r} is not an ACM certificate ARN"))
            elif m.group(1) != region:
                problems.append(((region,), f"the certificate is in {m.group(1)}; API Gateway needs one in {region}"))
        raise_problems("certificate", problems)
        return v

    _retention = field_validator("log_retention_days")(_retention)

    @rule
    def _routes(self, ctx):
        seen = set()
        for i, r in known(self.routes or [], "path", "methods"):
            for m in r.http_methods:
                if (m, r.path) in seen:
                    yield Problem(f"routes[{i}].path", f"{m} {r.path} is defined twice")
                seen.add((m, r.path))

    def certificate_problems(self, regions: list[str]) -> Iterator[Problem]:
        """One ACM certificate per stack region, none for another region (paths relative to ``gateway``)."""
        if isinstance(self.certificate, dict):
            for region in regions:
                if region not in self.certificate:
                    yield Problem(f"certificate.{region}", "required (one ACM certificate per stack region)")
            for region in self.certificate:
                if region not in regions:
                    yield Problem(f"certificate.{region}", "not a region of this stack")

    def route_problems(self, served: dict[str, dict[str, list[str]]]) -> Iterator[Problem]:
        """Routes against the serving endpoints: ``served`` is endpoint -> model -> versions a Deployment serves.

        A route names an endpoint that exists, a model that endpoint serves, and a version
        one of its Deployments (stable, or a canary with weight > 0) serves."""
        for i, r in enumerate(self.routes or []):
            with if_known():
                if not r.endpoint:
                    continue
                models = served.get(r.endpoint)
                if models is None:
                    yield Problem(f"routes[{i}].endpoint", f"no serving endpoint named {r.endpoint!r}")
                elif r.model and r.model not in models:
                    yield Problem(f"routes[{i}].model", f"endpoint {r.endpoint} serves no model {r.model!r} "
                                                        f"(it serves {', '.join(sorted(models))})")
                elif r.model and r.version is not None and r.version not in models[r.model]:
                    yield Problem(f"routes[{i}].version", f"no Deployment of {r.endpoint} serves {r.model} v{r.version} "
                                                          f"(served: {', '.join('v' + v for v in models[r.model])})")

    def retention_days(self, production: bool) -> int:
        return self.log_retention_days or (365 if production else 30)

