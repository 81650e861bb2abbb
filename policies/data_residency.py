"""data-residency: every regional resource lies in the stack's residency zone.

A stack policy, because where a resource's data goes is often only visible through
another resource: an S3 replication rule names its destination bucket by an ARN that
carries no region (or is unknown during preview), a Route 53 health check targets a
gateway hostname that is an output of the gateway. Where a value is unknown or
regionless, the policy follows the property's dependencies to the resources it points
at and checks their regions instead.

Where a resource is, in order:
- location-like inputs anywhere in its props (``location``, ``region``, ``zone``,
  ``availabilityZone(s)``, ``nodeLocations``, ...; GCP multi-regions such as ``EU``/``US``),
- regions inside values: ARNs (``arn:aws:kms:eu-west-1:...``), AWS endpoint hostnames
  (``*.execute-api.us-east-1.amazonaws.com``), GCP paths (``.../locations/europe-west4/...``),
  S3 bucket ARNs resolved to the bucket resource in the graph,
- otherwise its provider's ``region``.
Provider resources themselves are checked too. Jurisdictions and zones come from
``components/catalog/regions.yaml``.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy

from aiplat import catalog
from aiplat.policies._graph import StackGraph
from aiplat.policies._props import (ARN_RE, AWS_HOST_RE, GCP_PATH_RE, UNKNOWN, cloud_of, get, is_provider,
                             path_str, walk)

NAME = "data-residency"

# Keys whose value is a place. Matched on the last key of a property path.
LOCATION_KEYS = {
    "location", "locations", "region", "regions", "zone", "zones", "availabilityZone",
    "availabilityZones", "nodeLocations", "sourceRegion", "destinationRegion", "replicaRegion",
    "storageLocations", "defaultLocation",
}
# Free-form maps: a tag called "region" is a label, not a place.
SKIP_SUBTREES = {"tags", "tagsAll", "labels", "resourceLabels", "annotations", "defaultTags", "defaultLabels",
                 "metadata"}
# Location values that mean "not regional".
NON_REGIONAL = {"global", ""}
S3_BUCKET_TYPES = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket")


def _zone_regions(zone: str, cloud: str) -> list[str]:
    allowed = catalog.residency_zones().get(zone, [])
    return [r for r, v in catalog.regions(cloud).items() if "*" in allowed or v["jurisdiction"] in allowed]


class _Residency:
    def __init__(self, graph: StackGraph, zone: str, exempt: set[str]):
        self.graph = graph
        self.zone = zone
        self.exempt = exempt

    # -- where a resource is -------------------------------------------------------------
    def own_claims(self, r: PolicyResource, follow_buckets: bool = True) -> tuple[list, list]:
        """Claims from r's own props, and the top-level keys whose place could not be read."""
        cloud = cloud_of(r.resource_type)
        claims, unresolved = [], []
        for path, value in walk(r.props):
            if not path or any(isinstance(p, str) and p in SKIP_SUBTREES for p in path):
                continue
            keys = [p for p in path if isinstance(p, str)]
            last = keys[-1] if keys else ""
            where = path_str(path)
            if value is UNKNOWN:
                # Only an unknown *place* must be resolved; other unknowns (ids, ARNs of
                # dependencies) are placed through the dependencies when there are any.
                unresolved.append((path[0], where, last in LOCATION_KEYS))
                continue
            if not isinstance(value, str):
                continue
            if last in LOCATION_KEYS and value.strip().lower() not in NON_REGIONAL:
                claims.append((where, cloud, value.strip()))
                continue
            m = ARN_RE.match(value)
            if m:
                if m.group("region"):
                    claims.append((where, "aws", m.group("region")))
                elif m.group("service") == "s3" and follow_buckets:
                    bucket_name = m.group("rest").split("/", 1)[0]
                    target = self._bucket_by_name(bucket_name)
                    if target is None:
                        unresolved.append((path[0], where, True))
                    else:
                        for _, c, loc in self.location_of(target, follow_buckets=False):
                            claims.append((f"{where} (bucket {target.name})", c, loc))
                continue
            m = AWS_HOST_RE.search(value.split("://")[-1].split("/")[0])
            if m:
                claims.append((where, "aws", m.group("region")))
                continue
            if cloud == "gcp":
                m = GCP_PATH_RE.search(value)
                if m and m.group("loc").lower() not in NON_REGIONAL:
                    claims.append((where, "gcp", m.group("loc")))
        return claims, unresolved

    def _bucket_by_name(self, name: str) -> PolicyResource | None:
        for b in self.graph.of_type(*S3_BUCKET_TYPES):
            physical = b.props["bucket"] if _known_str(b.props, "bucket") else None
            if name in (physical, b.name):
                return b
        return None

    def location_of(self, r: PolicyResource, follow_buckets: bool = True) -> list:
        """Where r is: its own location claims, else its provider's region."""
        claims, _ = self.own_claims(r, follow_buckets)
        if claims:
            return claims
        region = self.graph.provider_region(r)
        if isinstance(region, str) and region:
            return [("provider region", cloud_of(r.resource_type) or "aws", region)]
        return []

    # -- the check -----------------------------------------------------------------------
    def check(self, r: PolicyResource, report) -> None:
        cloud = cloud_of(r.resource_type)
        if cloud is None or r.resource_type in self.exempt:
            return
        if is_provider(r.resource_type):
            region = self.graph.provider_region(r)
            if region is UNKNOWN:
                report(f"provider {r.name}: region is unknown during preview; set it from stack config "
                       f"so residency can be verified", r.urn)
            elif isinstance(region, str) and region:
                self._judge(r, [("region", cloud, region)], report)
            elif cloud == "aws":
                report(f"provider {r.name} sets no region; set `region` to one of "
                       f"{', '.join(_zone_regions(self.zone, 'aws')[:6])}", r.urn)
            return

        claims, unresolved = self.own_claims(r)
        # Where the resource itself is: AWS resources live in their provider's region unless
        # they set `region` themselves (pulumi-aws 7); GCP ones where their location-like
        # inputs say, else the provider's region. ARNs and other references are extra claims.
        own_keys = {where.split(".")[-1].split("[")[0] for where, _, _ in claims}
        placed = "region" in own_keys if cloud == "aws" else bool(own_keys & LOCATION_KEYS)
        if not placed:
            region = self.graph.provider_region(r)
            if isinstance(region, str) and region:
                claims.append(("provider region", cloud, region))
            elif region is UNKNOWN:
                report(f"{r.resource_type} {r.name}: its provider's region is unknown during preview; "
                       f"residency cannot be verified", r.urn)
        # Values we could not place: follow the property's dependencies to what they point at.
        for key, where, must_place in unresolved:
            deps = [d for d in self.graph.property_deps(r, key) if cloud_of(d.resource_type)]
            if not deps:
                if must_place:
                    report(f"{r.resource_type} {r.name}: {where} cannot be placed (unknown or a bucket outside "
                           f"this stack); point it at a resource of this stack in zone {self.zone!r}", r.urn)
                continue
            for d in deps:
                for dwhere, dcloud, loc in self.location_of(d):
                    claims.append((f"{where} -> {d.resource_type} {d.name} ({dwhere})", dcloud, loc))
        self._judge(r, claims, report)

    def _judge(self, r: PolicyResource, claims: list, report) -> None:
        done = set()
        for where, cloud, loc in claims:
            if (where, loc) in done:
                continue
            done.add((where, loc))
            j = catalog.jurisdiction(cloud, loc)
            if j is None:
                report(f"{r.resource_type} {r.name}: {where} = {loc!r} is not a known {cloud} location "
                       f"(components/catalog/regions.yaml); use a region of zone {self.zone!r}", r.urn)
            elif not catalog.in_residency_zone(self.zone, cloud, loc):
                allowed = ", ".join(_zone_regions(self.zone, cloud)[:6])
                report(f"{r.resource_type} {r.name}: {where} = {loc!r} is in jurisdiction {j!r}, outside "
                       f"residency zone {self.zone!r}; move it to a region in the zone ({allowed}, ...)", r.urn)


def _known_str(props: Any, key: str) -> bool:
    return isinstance(get(props, key), str)


def validate(args, report_violation) -> None:
    config = args.get_config()
    zone = config.get("residencyZone", "global")
    if zone not in catalog.residency_zones():
        report_violation(f"residencyZone {zone!r} is not a zone in components/catalog/regions.yaml "
                         f"({', '.join(catalog.residency_zones())})", None)
        return
    checker = _Residency(StackGraph(args.resources), zone, set(config.get("exemptTypes", [])))
    for r in checker.graph.resources:
        checker.check(r, report_violation)


POLICY = StackValidationPolicy(
    name=NAME,
    description="Every regional resource, replication target and provider lies in the stack's residency zone.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "residencyZone": {
                "type": "string",
                "enum": sorted(catalog.residency_zones()),
                "default": "global",
                "description": "Residency zone of the stack (components/catalog/regions.yaml). Default global.",
            },
            "exemptTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Resource type tokens not checked. Default none.",
            },
        },
    ),
)
