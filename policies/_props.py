"""Reading resource properties the way a policy receives them from the engine.

The analyzer hands policies its props through ``unknown_checking_proxy``: reading a value
that is unknown during preview raises ``UnknownValueError``, and one uncaught raise makes
the SDK skip the whole policy with an advisory "can't run during preview". Policies that
must still decide (residency, spend) read through these helpers, which turn an unknown
into the ``UNKNOWN`` marker so the caller can fall back to the resource's dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Iterator

from pulumi_policy.proxy import UnknownValueError


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()
_MISSING = object()


def get(props: Any, *path: str | int, default: Any = None) -> Any:
    """props[path[0]][path[1]]...; ``default`` when absent, ``UNKNOWN`` when unknown in preview."""
    cur = props
    for key in path:
        try:
            if isinstance(key, int):
                if not _is_seq(cur) or key >= len(cur):
                    return default
            elif not isinstance(cur, Mapping) or key not in cur:
                return default
            cur = cur[key]
        except UnknownValueError:
            return UNKNOWN
        if cur is None:
            return default
    return cur


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def items(value: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of a mapping, by key; unknown values come back as ``UNKNOWN``.

    By key, not in the mapping's order: props arrive as protobuf Struct maps, whose order
    does not survive the wire (the engine's, or gRPC's), and verdicts found while walking
    would otherwise come in a different order in process and under ``pulumi preview``.
    """
    if not isinstance(value, Mapping):
        return
    for key in sorted(value):
        try:
            yield key, value[key]
        except UnknownValueError:
            yield key, UNKNOWN


def elements(value: Any) -> Iterator[Any]:
    """Elements of a list; unknown elements come back as ``UNKNOWN``."""
    if not _is_seq(value):
        return
    for i in range(len(value)):
        try:
            yield value[i]
        except UnknownValueError:
            yield UNKNOWN


def walk(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every leaf as (path, value), depth first; unknown leaves as ``UNKNOWN``."""
    if isinstance(value, Mapping):
        for key, child in items(value):
            yield from walk(child, path + (key,))
    elif _is_seq(value):
        for i, child in enumerate(elements(value)):
            yield from walk(child, path + (i,))
    else:
        yield path, value


def plain(value: Any) -> Any:
    """A plain copy (dicts/lists) with unknowns replaced by ``UNKNOWN``; for whole-value reads."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in items(value)}
    if _is_seq(value):
        return [plain(v) for v in elements(value)]
    return value


def cloud_of(resource_type: str) -> str | None:
    """'aws:s3/bucketV2:BucketV2' -> 'aws'; 'pulumi:providers:gcp' -> 'gcp'; else None."""
    if resource_type.startswith("pulumi:providers:"):
        pkg = resource_type.split(":")[2]
    else:
        pkg = resource_type.split(":", 1)[0]
    return pkg if pkg in ("aws", "gcp") else None


def is_provider(resource_type: str) -> bool:
    return resource_type.startswith("pulumi:providers:")


def path_str(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def truthy(value: Any) -> bool:
    """Booleans as providers accept them: True, 'true' (launch templates use strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


# AWS ARNs carry the region in the 4th field (empty for global services such as S3 and IAM).
ARN_RE = re.compile(r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>[0-9]*):(?P<rest>.+)$")
# Regional AWS endpoints: execute-api.eu-west-1.amazonaws.com, x.elb.us-east-1.amazonaws.com,
# name-123.eu-central-1.elb.amazonaws.com, s3.eu-west-1.amazonaws.com ...
AWS_HOST_RE = re.compile(r"(?:^|\.)(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:[a-z0-9-]+\.)*amazonaws\.com\.?$")
# GCP resource paths: projects/p/locations/europe-west4/..., .../regions/us-central1/..., zones/..-a
GCP_PATH_RE = re.compile(r"(?:^|/)(?:locations|regions|zones)/(?P<loc>[a-zA-Z0-9-]+)(?:/|$)")
