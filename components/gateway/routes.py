"""The route model both clouds share: plain values in, resolved routes out.

The gateway never reads a ``TritonEndpoint`` object while it builds: ``endpoint_target``
turns one into an ``EndpointTarget`` (its tracks, the Service of each, the model versions
each serves and the canary weights), and ``resolve_routes`` turns the configured routes
(or, without any, the defaults: per model the unversioned infer route and one pinned route
per served version, plus ``GET /health``) into per-method ``Route`` values with their
split over the tracks. A pinned version goes 100 % to the track that serves it; an
unversioned route of a canaried model is split by the canary weight. AWS enforces the
split in ALB weighted forwards, GCP follows it through a Service over both tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aiplat.config import HEALTH_PATH, GatewayRouteConfig

TRITON_READY = "/v2/health/ready"
STABLE, CANARY = "stable", "canary"


# -- plain-value contract with the Triton endpoints ----------------------------------------
@dataclass(frozen=True)
class TrackTarget:
    """One Deployment of an endpoint (stable or canary) and the model versions it serves."""

    track: Literal["stable", "canary"]
    service: str
    """The ClusterIP Service that selects exactly this track's pods (TritonEndpoint.track_services)."""
    versions: dict[str, str]
    """model name -> version this track serves."""


@dataclass(frozen=True)
class EndpointTarget:
    """A Triton endpoint the gateway routes to; works without a TritonEndpoint object."""

    name: str
    namespace: str
    service_name: str
    """The endpoint's default (stable) Service."""
    tracks: list[TrackTarget]
    http_port: int = 8000
    https_port: int | None = None
    """The pods' TLS port (TritonEndpoint.https_port: the TLS sidecar on AWS). The AWS gateway's
    target groups need it; None where the pods serve no TLS."""
    canary_weights: dict[str, int] = field(default_factory=dict)
    """model -> percent of its unversioned traffic to the canary track (0-100). Default none."""

    def track(self, name: str) -> TrackTarget | None:
        return next((t for t in self.tracks if t.track == name), None)

    @property
    def models(self) -> list[str]:
        out: list[str] = []
        for t in self.tracks:
            out += [m for m in t.versions if m not in out]
        return out


def endpoint_target(name: str, endpoint: Any) -> EndpointTarget:
    """Plain routing values from a ``TritonEndpoint`` (its outputs are known at preview)."""
    tracks = []
    for track, service in endpoint.track_services.items():
        versions = {e["name"]: str(e["version"]) for e in endpoint.models if e["track"] == track}
        tracks.append(TrackTarget(track, service, versions))
    return EndpointTarget(
        name=name,
        namespace=endpoint.namespace,
        service_name=endpoint.service_name,
        tracks=tracks,
        http_port=endpoint.http_port,
        https_port=getattr(endpoint, "https_port", None),
        canary_weights=dict(endpoint.traffic_weights.get(CANARY, {})),
    )


@dataclass(frozen=True)
class Route:
    """A resolved route: method + path, its target endpoint and how traffic splits over tracks."""

    method: str
    path: str
    endpoint: str | None
    forward: tuple[tuple[str, int], ...]  # (track, weight percent); empty for /health
    auth: str = "jwt"

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_health(self) -> bool:
        return self.path == HEALTH_PATH


def default_routes(endpoints: list[EndpointTarget]) -> list[GatewayRouteConfig]:
    """Per model: the unversioned infer route and one per served version; plus GET /health."""
    routes = [GatewayRouteConfig(path=HEALTH_PATH, methods=["GET"], auth="none")]
    for ep in endpoints:
        for model in ep.models:
            routes.append(GatewayRouteConfig(path=f"/v2/models/{model}/infer", endpoint=ep.name, model=model))
            versions = sorted({t.versions[model] for t in ep.tracks if model in t.versions})
            for v in versions:
                routes.append(
                    GatewayRouteConfig(
                        path=f"/v2/models/{model}/versions/{v}/infer", endpoint=ep.name, model=model, version=v
                    )
                )
    return routes


def resolve_routes(routes: list[GatewayRouteConfig] | None, endpoints: list[EndpointTarget]) -> list[Route]:
    """Routes from config (or the defaults) -> per-method routes with their track split.

    Endpoints missing in a region (a serving endpoint not deployed there) drop their routes
    in that region. A version no track serves is a configuration error.
    """
    by_name = {e.name: e for e in endpoints}
    out: list[Route] = []
    for i, r in enumerate(routes if routes is not None else default_routes(endpoints)):
        if r.path == HEALTH_PATH:
            out += [Route(m, r.path, None, (), r.auth) for m in r.http_methods]
            continue
        ep = by_name.get(r.endpoint or "")
        if ep is None:
            continue
        out += [Route(m, r.path, ep.name, _split(ep, r, i), r.auth) for m in r.http_methods]
    if not any(x.is_health for x in out):
        # Global routing always probes /health; clients get it too (with a JWT).
        out.insert(0, Route("GET", HEALTH_PATH, None, ()))
    return out


def _split(ep: EndpointTarget, r: GatewayRouteConfig, i: int) -> tuple[tuple[str, int], ...]:
    if r.version is not None:
        track = next((t.track for t in ep.tracks if t.versions.get(r.model or "") == r.version), None)
        if track is None:
            raise ValueError(f"gateway.routes[{i}].version: no Deployment of {ep.name} serves {r.model} v{r.version}")
        return ((track, 100),)
    weight = ep.canary_weights.get(r.model or "", 0)
    canary = ep.track(CANARY)
    if r.model and weight > 0 and canary is not None and r.model in canary.versions:
        return ((STABLE, 100 - weight), (CANARY, weight)) if weight < 100 else ((CANARY, 100),)
    return ((STABLE, 100),)
