"""Which model versions an endpoint serves, where each lives, and what its bucket hands on.

Every model version is its own single-version Triton repository under the endpoint's
bucket (``repository_uri``); ``model_entries`` is the policy-visible list built from config
alone (stable entries, then active canaries), which the ConfigMap and the Deployment
annotations carry and the model-approval policy reads; ``traffic_weights`` groups it per
track for the gateway. ``ModelStore`` is what a cloud module (``_aws``, ``_gcp``) returns:
the bucket, its key, the workload identity, and the resources pods must wait for.
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


def repository_uri(cloud: str, bucket: str, model: str, version: int) -> str:
    """The single-version Triton repository prefix of one model version (``aiplat.triton`` docstring)."""
    return f"{'s3' if cloud == 'aws' else 'gs'}://{bucket}/{model}/v{version}"


def model_entries(cloud: str, bucket: str, models: list[TritonModel]) -> list[dict[str, Any]]:
    """The policy-visible model list: stable entries, then canary entries (weight > 0)."""
    out = []
    for m in models:
        out.append(
            {
                "name": m.name,
                "version": str(m.version),
                "digest": m.digest,
                "track": "stable",
                "weight": 100 - m.canary_weight if m.canary_active else 100,
                "repository": repository_uri(cloud, bucket, m.name, m.version),
            }
        )
    for m in models:
        if m.canary_active:
            out.append(
                {
                    "name": m.name,
                    "version": str(m.canary_version),
                    "digest": m.canary_digest,
                    "track": "canary",
                    "weight": m.canary_weight,
                    "repository": repository_uri(cloud, bucket, m.name, m.canary_version),
                }
            )
    return out


def traffic_weights(entries: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{track: {model: percent}}`` of the entries (the gateway splits by it)."""
    weights: dict[str, dict[str, int]] = {}
    for e in entries:
        weights.setdefault(e["track"], {})[e["name"]] = e["weight"]
    return weights
