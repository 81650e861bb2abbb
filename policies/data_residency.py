"""data-residency: every resource, and everything it points at, lies in the stack's residency zone.

A stack policy, because where a resource's data goes is often only visible through
another resource: an S3 replication rule names its destination bucket by an ARN that
carries no region (or is unknown during preview), a Kubernetes Deployment reads its models
from an ``s3://`` prefix, a provider's cluster is named by its kubeconfig. Where a value is
unknown or regionless, the policy follows the property's dependencies to the resources it
points at and checks their locations instead.

Where a resource is, in order:
- every location-bearing input, by its name in the provider schema (``region``, ``location(s)``,
  ``locationId``, ``regionName``, ``zone(s)``, ``availabilityZone(s)``, ``nodeLocations``,
  replica and replication regions, ``allowedPersistenceRegions`` ...: any input whose name ends
  in region(s), location(s), locationId, regionName or zone(s), nested ones included); the
  value is a region, a zone, a multi-region (``EU``, ``eur3``, ``nam5``, ``US``, ``ASIA`` ...) or
  ``global``, each mapped to a jurisdiction by ``components/catalog/regions.yaml``,
- places inside values: ARNs (``arn:aws:kms:eu-west-1:...``), AWS endpoint hostnames
  (``*.execute-api.us-east-1.amazonaws.com``, ``bucket.s3.eu-west-1.amazonaws.com``), GCP paths
  (``.../locations/europe-west4/...``), regional Google endpoints (``europe-west4-aiplatform.
  googleapis.com``, ``us-docker.pkg.dev``), and buckets named by ``s3://``, ``gs://``,
  ``storage.googleapis.com/<bucket>`` or an S3 ARN, resolved to the bucket of this stack,
- otherwise (and for AWS always, unless the resource sets ``region``) its provider's region, or
  the region of the provider's zone; a Kubernetes object lies where its provider's cluster
  lies (the kubeconfig's endpoint, else the cluster resource the kubeconfig comes from).

A location it cannot read (unknown at preview, a value that is no known place, a bucket
outside the stack, a provider without region, a resource on the default provider whose
region the graph does not carry) is a violation: residency is never assumed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat import catalog
from aiplat.errors import ConfigError, Problem, format_path
from aiplat.policies._graph import StackGraph
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged
from aiplat.policies._props import (ARN_RE, AWS_HOST_RE, GCP_PATH_RE, UNKNOWN, cloud_of, get, is_provider,
                                    path_str, walk)
from aiplat.policies._schema import schema

NAME = "data-residency"

# An input is location-bearing when the last word of its (camelCase) name is one of these, or its
# last two words one of _PLACE_PAIRS ...
_PLACE_WORDS = {"region", "regions", "location", "locations", "zone", "zones"}
_PLACE_PAIRS = {("location", "id"), ("location", "ids"), ("region", "name"), ("region", "names"),
                ("zone", "name"), ("zone", "names")}
# ... unless the word before says it is not a place: time zones, DNS zones, Dataplex zones.
_NOT_PLACES = {"time", "dns", "managed", "hosted", "private", "dataplex", "first", "oracle", "public"}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Free-form maps: a tag called "region" is a label, not a place.
SKIP_SUBTREES = {"tags", "tagsAll", "labels", "resourceLabels", "annotations", "defaultTags", "defaultLabels",
                 "userLabels"}
S3_BUCKET_TYPES = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket")
GCS_BUCKET_TYPES = ("gcp:storage/bucket:Bucket",)
# Regionless by nature and holding no data: decided here with the reason, not assumed.
NOT_APPLICABLE = {
    "gcp:billing/budget:Budget": "a budget belongs to the billing account, which has no location, and holds "
                                 "spend thresholds and notification channels, no data",
}
_NO_DATA_PACKAGES = {"random", "tls", "aiplat"}
# Object storage and regional endpoints inside any string value (ConfigMap data, env, args ...).
_S3_URL = re.compile(r"\bs3a?://(?P<bucket>[a-z0-9][a-z0-9.-]{1,62})")
_GS_URL = re.compile(r"\bgs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,221})")
_GCS_HOST = re.compile(r"\bstorage(?:\.cloud)?\.googleapis\.com/(?P<bucket>[a-z0-9][a-z0-9._-]{1,221})")
_HOST = re.compile(r"(?:https?://|\b)(?P<host>[A-Za-z0-9.-]+\.(?:amazonaws\.com|googleapis\.com|pkg\.dev))\b")
# Multi-region configurations named by value, whatever the input is called (Spanner's `config`):
# "eur3", "nam-eur-asia1", "regional-europe-west1", "projects/p/instanceConfigs/nam6".
_CONFIG_LOCATION = re.compile(r"^(?:projects/[^/]+/instanceConfigs/)?(?:regional-)?(?P<loc>[a-z]+(?:-[a-z]+)*\d+)$")
_GOOGLE_REGIONAL = re.compile(r"^(?P<loc>[a-z]+(?:-[a-z]+\d+)?)-(?:[a-z]+\.googleapis\.com|docker\.pkg\.dev|"
                              r"[a-z]+\.pkg\.dev)$")


_TOP_LEVEL = re.compile(r"^[A-Za-z0-9_]+(\[\d+\])?$")


def is_location_key(name: str) -> bool:
    words = [w.lower() for w in _WORD.findall(name)]
    if not words:
        return False
    if words[-1] in _PLACE_WORDS:
        before = words[-2] if len(words) > 1 else ""
    elif len(words) > 1 and (words[-2], words[-1]) in _PLACE_PAIRS:
        before = words[-3] if len(words) > 2 else ""
    else:
        return False
    return before not in _NOT_PLACES


class _Place(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: str = Field(min_length=1)


class _MultiLocations(BaseModel):
    """``multi_locations`` of regions.yaml: lower-case location -> jurisdiction, per cloud."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aws: dict[str, _Place]
    gcp: dict[str, _Place]


@lru_cache(maxsize=1)
def multi_locations() -> _MultiLocations:
    raw = catalog.load_yaml("regions.yaml").get("multi_locations")
    try:
        return _MultiLocations.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([Problem(format_path(("multi_locations", *e["loc"])), e["msg"]) for e in exc.errors()],
                          str(catalog.CATALOG_DIR / "regions.yaml")) from None


def jurisdiction(cloud: str, location: str) -> str | None:
    """A region, zone, multi-region or ``global`` -> its jurisdiction (components/catalog/regions.yaml).
    ``cloud`` "any" (a Kubernetes object's value) tries each cloud."""
    if cloud == "any":
        return next((j for c in catalog.CLOUDS if (j := jurisdiction(c, location)) is not None), None)
    j = catalog.jurisdiction(cloud, location)
    if j is None:
        entry = getattr(multi_locations(), cloud, {}).get(location.lower())
        j = entry.jurisdiction if entry else None
    return j


def in_zone(zone: str, cloud: str, location: str) -> bool:  # noqa: D103
    allowed = catalog.residency_zones()[zone]
    return "*" in allowed or jurisdiction(cloud, location) in allowed


def _zone_regions(zone: str, cloud: str) -> list[str]:
    if cloud == "any":
        return [r for c in catalog.CLOUDS for r in _zone_regions(zone, c)]
    allowed = catalog.residency_zones().get(zone, [])
    return [r for r, v in catalog.regions(cloud).items() if "*" in allowed or v["jurisdiction"] in allowed]


def coverage(resource_type: str) -> Coverage:
    """Does data-residency judge ``resource_type``? From the provider schema and the policy's rules."""
    if resource_type in NOT_APPLICABLE:
        return Coverage.not_applicable(NOT_APPLICABLE[resource_type])
    if resource_type == "pulumi:pulumi:Stack":
        return Coverage.not_applicable("the stack itself holds no data")
    pkg = resource_type.split(":")[2] if is_provider(resource_type) else resource_type.split(":", 1)[0]
    if pkg in _NO_DATA_PACKAGES:
        return Coverage.not_applicable("generates values or groups other resources; holds no data anywhere")
    if pkg == "kubernetes":
        return Coverage.judged()  # placed at its cluster; every string it holds is read for storage and endpoints
    if pkg in ("aws", "gcp"):
        if is_provider(resource_type) or schema(resource_type) is not None:
            return Coverage.judged()  # every location-bearing input by schema name, else the provider's region
        return Coverage.cannot_judge("no provider schema for this type, so its location-bearing inputs are unknown")
    return Coverage.cannot_judge(f"resources of provider {pkg!r} are not placed by data-residency")


class _Residency:
    def __init__(self, graph: StackGraph, zone: str, allowed: set[str]):
        self.graph = graph
        self.zone = zone
        self.allowed = allowed

    # -- where a resource is -------------------------------------------------------------
    def own_claims(self, r: PolicyResource, follow: bool = True) -> tuple[list, list]:
        """Claims (where, cloud, location) from r's own props, and the values that could not be placed
        (top-level key, where, must_place)."""
        cloud = cloud_of(r.resource_type) or "any"
        claims, unresolved = [], []
        for path, value in walk(r.props):
            if not path or any(isinstance(p, str) and p in SKIP_SUBTREES for p in path):
                continue
            if r.resource_type.startswith("kubernetes:") and path[0] == "metadata":
                continue
            keys = [p for p in path if isinstance(p, str)]
            last = keys[-1] if keys else ""
            where = path_str(path)
            if value is UNKNOWN:
                unresolved.append((path[0], where, is_location_key(last)))
                continue
            if not isinstance(value, str):
                continue
            text = value.strip()
            if is_location_key(last) and text and not self._reference(text):
                claims.append((where, cloud, text))
                continue
            self._claims_in_value(where, text, cloud, follow, claims, unresolved, path[0])
        return claims, unresolved

    @staticmethod
    def _reference(text: str) -> bool:
        return "/" in text or text.startswith("arn:") or "://" in text

    def _claims_in_value(self, where, text, cloud, follow, claims, unresolved, key) -> None:
        m = ARN_RE.match(text)
        if m:
            if m.group("region"):
                claims.append((where, "aws", m.group("region")))
            elif m.group("service") == "s3":
                self._bucket_claims(where, m.group("rest").split("/", 1)[0], S3_BUCKET_TYPES, follow, claims,
                                    unresolved, key)
            return
        for rx, types in ((_S3_URL, S3_BUCKET_TYPES), (_GS_URL, GCS_BUCKET_TYPES), (_GCS_HOST, GCS_BUCKET_TYPES)):
            for bm in rx.finditer(text):
                self._bucket_claims(where, bm.group("bucket"), types, follow, claims, unresolved, key)
        for hm in _HOST.finditer(text):
            host = hm.group("host").lower()
            at = where if host == text.lower().rstrip(".") else f"{where} ({host})"
            am = AWS_HOST_RE.search(host)
            if am:
                claims.append((at, "aws", am.group("region")))
                continue
            gm = _GOOGLE_REGIONAL.match(host)
            if gm and jurisdiction("gcp", gm.group("loc")) is not None:
                claims.append((at, "gcp", gm.group("loc")))
        if cloud == "gcp" and "/" in text:
            pm = GCP_PATH_RE.search(text)
            if pm:
                claims.append((where, "gcp", pm.group("loc")))
        if cloud == "gcp":
            cm = _CONFIG_LOCATION.match(text)
            if cm and (text.startswith(("regional-", "projects/")) or
                       cm.group("loc") in multi_locations().gcp):
                claims.append((where, "gcp", cm.group("loc")))

    def _bucket_claims(self, where, name, types, follow, claims, unresolved, key) -> None:
        target = self._bucket_by_name(name, types)
        if target is None:
            unresolved.append((key, f"{where} (bucket {name!r})", True))
            return
        if not follow:
            return
        for _, c, loc in self.location_of(target, follow=False):
            claims.append((f"{where} (bucket {target.name})", c, loc))

    def _bucket_by_name(self, name: str, types) -> PolicyResource | None:
        for b in self.graph.of_type(*types):
            physical = {get(b.props, "bucket"), get(b.props, "name"), get(b.props, "id"), b.name}
            if name in physical:
                return b
        return None

    def provider_location(self, r: PolicyResource) -> tuple[list, str | None]:
        """(claims, why not) for where r's provider puts it."""
        provider = r if is_provider(r.resource_type) else r.provider
        if provider is None:
            return [], ("it is on the default provider, and the graph does not carry that provider's region; "
                        "give it an explicit provider with a region, or set its own region/location")
        cloud = cloud_of(provider.resource_type)
        if provider.resource_type == "pulumi:providers:kubernetes":
            return self._cluster_location(provider)
        region, zone = get(provider.props, "region"), get(provider.props, "zone")
        if region is UNKNOWN or (region is None and zone is UNKNOWN):
            return [], f"its provider {provider.name}'s region is unknown during preview"
        if isinstance(region, str) and region:
            return [("provider region", cloud, region)], None
        if isinstance(zone, str) and zone:
            return [("provider zone", cloud, zone)], None
        default = provider.name == "default" or provider.name.startswith("default_")
        what = (f"its default provider (no explicit provider: stack config {cloud}:region)" if default
                else f"its provider {provider.name}")
        return [], f"{what} sets no region{' or zone' if cloud == 'gcp' else ''}"

    def _cluster_location(self, provider) -> tuple[list, str | None]:
        state = self.graph.by_urn.get(provider.urn, provider)
        claims, _ = self.own_claims(state, follow=False)
        claims = [(f"cluster endpoint: {w}", c, loc) for w, c, loc in claims]
        if not claims:
            deps = list(getattr(state, "property_dependencies", {}).get("kubeconfig", [])) or \
                list(getattr(state, "dependencies", []))
            for d in deps:
                d = self.graph.by_urn.get(d.urn, d)
                if cloud_of(d.resource_type) is None:
                    continue
                for w, c, loc in self.location_of(d):
                    claims.append((f"cluster {d.name} ({w})", c, loc))
        if claims:
            return claims, None
        return [], (f"its Kubernetes provider {provider.name} names no cluster this policy can place (no regional "
                    "endpoint in the kubeconfig, no cluster of this stack behind it)")

    def location_of(self, r: PolicyResource, follow: bool = True) -> list:
        """Where r is: its own location claims, else its provider's."""
        claims, _ = self.own_claims(r, follow)
        if claims:
            return claims
        return self.provider_location(r)[0]

    # -- the check -----------------------------------------------------------------------
    def check(self, r: PolicyResource, report) -> None:
        cov = coverage(r.resource_type)
        if cov.kind == "not-applicable":
            return
        if r.resource_type in self.allowed:
            return
        if cov.kind == "cannot-judge":
            report_unjudged(NAME, r.resource_type, r.name, cov.reason, sorted(self.allowed), report, r.urn)
            return
        cloud = cloud_of(r.resource_type)
        label = f"provider {r.name}" if is_provider(r.resource_type) else f"{r.resource_type} {r.name}"
        claims, unresolved = self.own_claims(r)
        if is_provider(r.resource_type):
            placed, why = self.provider_location(r)
            # a GCP provider without region places nothing by itself; what relies on it is refused
            if why and not (cloud == "gcp" and "sets no region" in why):
                fix = ("point its kubeconfig at a cluster of this stack" if cloud is None else
                       f"set its region to one of {', '.join(_zone_regions(self.zone, cloud)[:6])}")
                report(f"{label}: cannot judge: {why}; {fix}", r.urn)
            self._judge(r, label, placed + [c for c in claims if c[0] not in ("region", "zone")], report)
            return
        # AWS resources live in their provider's region unless they set `region` themselves; the
        # others where their top-level location-bearing inputs say, else where their provider is.
        if cloud == "aws":
            placed_here = any(w == "region" for w, _, _ in claims)
        elif cloud == "gcp":
            placed_here = any(_TOP_LEVEL.match(w) and is_location_key(w.split("[")[0]) for w, _, _ in claims)
        else:
            placed_here = False
        if not placed_here:
            pclaims, why = self.provider_location(r)
            if why:
                report(f"{label}: cannot judge where it is: {why}", r.urn)
            claims += pclaims
        for key, where, must_place in unresolved:
            deps = [self.graph.by_urn.get(d.urn, d) for d in self.graph.property_deps(r, key)]
            deps = [d for d in deps if cloud_of(d.resource_type)]
            if not deps:
                if must_place:
                    report(f"{label}: cannot judge: {where} cannot be placed (unknown during preview, or a bucket "
                           f"outside this stack); point it at a resource of this stack in zone {self.zone!r}", r.urn)
                continue
            for d in deps:
                for dwhere, dcloud, loc in self.location_of(d):
                    claims.append((f"{where} -> {d.resource_type} {d.name} ({dwhere})", dcloud, loc))
        self._judge(r, label, claims, report)

    def _judge(self, r: PolicyResource, label: str, claims: list, report) -> None:
        done = set()
        for where, cloud, loc in claims:
            if (where, loc) in done:
                continue
            done.add((where, loc))
            j = jurisdiction(cloud, loc)
            if j is None:
                report(f"{label}: cannot judge: {where} = {loc!r} is not a known {cloud} location "
                       f"(components/catalog/regions.yaml); use a region of zone {self.zone!r}", r.urn)
            elif not in_zone(self.zone, cloud, loc):
                allowed = ", ".join(_zone_regions(self.zone, cloud)[:6])
                report(f"{label}: {where} = {loc!r} is in jurisdiction {j!r}, outside residency zone "
                       f"{self.zone!r}; move it to a region in the zone ({allowed}, ...)", r.urn)


def validate(args, report_violation) -> None:
    config = args.get_config()
    zone = config.get("residencyZone")
    if zone not in catalog.residency_zones():
        report_violation(f"cannot judge: residencyZone {zone!r} is not a zone in components/catalog/regions.yaml "
                         f"({', '.join(catalog.residency_zones())})", None)
        return
    allowed = set(config.get(ALLOWED_TYPES) or []) | set(config.get("exemptTypes") or [])
    checker = _Residency(StackGraph(args.resources), zone, allowed)
    for r in checker.graph.resources:
        checker.check(r, report_violation)


POLICY = StackValidationPolicy(
    name=NAME,
    description="Every resource, replication target, provider and referenced bucket or endpoint lies in the "
                "stack's residency zone; a location that cannot be read is refused.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "residencyZone": {
                "type": "string",
                "enum": sorted(catalog.residency_zones()),
                "description": "Residency zone of the stack (components/catalog/regions.yaml). Required, no "
                               "default: `global` admits every jurisdiction and must be chosen on purpose.",
            },
            ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA,
            "exemptTypes": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "default": [],
                "description": "Deprecated alias of allowedTypes (kept for existing configs). Default none.",
            },
        },
        required=["residencyZone"],
    ),
)
