"""Which model versions an endpoint serves, where each lives, and what its bucket hands on.

Every model version is its own single-version Triton repository under the endpoint's
bucket (``repository_uri``), or under an existing object-store prefix when the models are
not published (``store_prefix``); ``model_entries`` is the policy-visible list built from
config and the published files alone, all known at preview (stable entries, then active
canaries), which the ConfigMap and the Deployment annotations carry and the
model-approval policy reads; ``traffic_weights`` groups it per track for the gateway.
``ModelStore`` is what a cloud module (``_aws``, ``_gcp``) returns: the bucket, its key,
the workload identity, what pods must wait for and what an object write must wait for.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pulumi

from aiplat.triton.args import TritonModel


class ModelStore(NamedTuple):
    """A region's model bucket with its key and the read-only workload identity."""

    bucket: pulumi.Output[str]
    """Bucket name."""
    kms_key: pulumi.Output[str]
    """AWS KMS key ARN / Cloud KMS key id."""
    identity: pulumi.Output[str]
    """IAM role ARN (IRSA) / Google service account email (Workload Identity)."""
    ready: list[pulumi.Resource]
    """What must exist before a pod pulls models (bucket, its settings, the grants)."""
    settings: list[pulumi.Resource]
    """What must exist before an object is written (the bucket's encryption, access and versioning)."""


def repository_uri(cloud: str, bucket: str, model: str, version: int, store_prefix: str | None = None) -> str:
    """The single-version Triton repository prefix of one model version (``aiplat.triton`` docstring):
    in the endpoint's bucket, or under ``store_prefix`` (an existing ``s3://``/``gs://`` prefix)."""
    base = store_prefix if store_prefix is not None else f"{'s3' if cloud == 'aws' else 'gs'}://{bucket}"
    return f"{base}/{model}/v{version}"


def model_entries(cloud: str, bucket: str, models: list[TritonModel], *, store_prefix: str | None = None,
                  configs: dict[tuple[str, int], str] | None = None) -> list[dict[str, Any]]:
    """The policy-visible model list: stable entries, then canary entries (weight > 0).

    ``configs`` maps a published (model, version) to the ``sha256:`` of the ``config.pbtxt``
    published with it; such an entry carries it as ``config`` (absent when nothing is published)."""
    configs = configs or {}

    def entry(name: str, version: int, digest: str, track: str, weight: int) -> dict[str, Any]:
        out = {"name": name, "version": str(version), "digest": digest, "track": track, "weight": weight,
               "repository": repository_uri(cloud, bucket, name, version, store_prefix)}
        if (name, version) in configs:
            out["config"] = configs[(name, version)]
        return out

    out = [entry(m.name, m.version, m.digest, "stable", 100 - m.canary_weight if m.canary_active else 100)
           for m in models]
    out += [entry(m.name, m.canary_version, m.canary_digest, "canary", m.canary_weight)
            for m in models if m.canary_active]
    return out


def traffic_weights(entries: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{track: {model: percent}}`` of the entries (the gateway splits by it)."""
    weights: dict[str, dict[str, int]] = {}
    for e in entries:
        weights.setdefault(e["track"], {})[e["name"]] = e["weight"]
    return weights
