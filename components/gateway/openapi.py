"""The two OpenAPI documents the gateway derives from the resolved routes.

``openapi3`` is the OpenAPI 3.0 description of the client API, the same for both clouds
(exported as ``ApiGateway.openapi``; every operation requires the JWT). ``esp_openapi2`` is
the Cloud Endpoints service configuration ESPv2 loads on GCP: OpenAPI 2.0 with the issuer,
JWKS and audiences as ``x-google-*`` extensions, an ``x-google-backend`` per operation to
the Triton Service of its track (or the split Service of a canaried model), a quota metric
for the configured rate, and one unauthenticated probe operation that rewrites to Triton
readiness for the load balancer's health checkers.
"""

from __future__ import annotations

from typing import Any

from aiplat.gateway.routes import TRITON_READY, Route


def _params(path: str) -> list[str]:
    return [s[1:-1] for s in path.split("/") if s.startswith("{")]


def openapi3(title: str, domain: str, issuer: str, audiences: list[str], routes: list[Route]) -> dict[str, Any]:
    """OpenAPI 3.0 description of the client API (exported; every operation requires the JWT)."""
    paths: dict[str, dict] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": _op_id(r),
            "summary": "Triton readiness of the region" if r.is_health else f"KServe v2 inference ({r.endpoint})",
            "security": [{"jwt": []}],
            "responses": {
                "200": {"description": "OK"},
                "401": {"description": "Missing or invalid JWT"},
                "429": {"description": "Throttled by the gateway (rate/burst)"},
                "503": {"description": "Triton queue full (REJECT) or not ready"},
            },
        }
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in _params(r.path)]
        if params:
            op["parameters"] = params
        if r.method in ("POST", "PUT", "PATCH") and not r.is_health:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}},
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0"},
        "servers": [{"url": f"https://{domain}"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "jwt": {
                    "type": "openIdConnect",
                    "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
                    "x-audiences": list(audiences),
                }
            },
            "schemas": {
                "InferRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {"id": {"type": "string"}, "inputs": {"type": "array", "items": {"type": "object"}}},
                }
            },
        },
    }


def esp_openapi2(
    service: str, issuer: str, jwks_uri: str, audiences: list[str], routes: list[Route],
    backends: dict[tuple[str, str], str], health_backend: str | None, rate_per_minute: int,
) -> dict[str, Any]:
    """The Cloud Endpoints (ESPv2) service config: JWT on every client operation, backends per route.

    ``backends`` maps (endpoint, track) -> ``http://host:port``; the probe-only operation
    ``GET /v2/health/ready`` is the one without security (Cloud Armor blocks it from the
    internet; only the load balancer's health checkers reach it).
    """
    paths: dict[str, dict] = {}
    for r in routes:
        if r.is_health:
            if health_backend is None:
                continue
            backend = {"address": f"{health_backend}{TRITON_READY}", "path_translation": "CONSTANT_ADDRESS"}
        else:
            track = r.forward[0][0] if len(r.forward) == 1 else None
            addr = backends[(r.endpoint, track)] if track else backends[(r.endpoint, "service")]
            backend = {"address": addr, "path_translation": "APPEND_PATH_TO_ADDRESS", "deadline": 60.0}
        op = {
            "operationId": _op_id(r),
            "security": [{"jwt": []}],
            "x-google-backend": backend,
            "x-google-quota": {"metricCosts": {"inference-requests": 1}},
            "responses": {"200": {"description": "OK"}},
        }
        params = [{"name": p, "in": "path", "required": True, "type": "string"} for p in _params(r.path)]
        if params:
            op["parameters"] = params
        paths.setdefault(r.path, {})[r.method.lower()] = op
    if health_backend is not None:
        paths[TRITON_READY] = {
            "get": {
                "operationId": "probeReady",
                "security": [],
                "x-google-backend": {"address": f"{health_backend}{TRITON_READY}", "path_translation": "CONSTANT_ADDRESS"},
                "responses": {"200": {"description": "Triton ready"}},
            }
        }
    return {
        "swagger": "2.0",
        "info": {"title": service, "version": "1.0.0"},
        "host": service,
        "schemes": ["https"],
        "produces": ["application/json"],
        "paths": paths,
        "securityDefinitions": {
            "jwt": {
                "type": "oauth2",
                "flow": "implicit",
                "authorizationUrl": "",
                "x-google-issuer": issuer,
                "x-google-jwks_uri": jwks_uri,
                "x-google-audiences": ",".join(audiences),
            }
        },
        "x-google-management": {
            "metrics": [{"name": "inference-requests", "displayName": "Inference requests", "valueType": "INT64",
                         "metricKind": "DELTA"}],
            "quota": {"limits": [{"name": "inference-per-minute", "metric": "inference-requests",
                                  "unit": "1/min/{project}", "values": {"STANDARD": rate_per_minute}}]},
        },
    }


def _op_id(r: Route) -> str:
    words = [w.strip("{}") for w in r.path.split("/") if w]
    return r.method.lower() + "".join(w[:1].upper() + w[1:].replace("-", "_").replace(".", "_") for w in words)
