"""Every ScaledObject, ServiceMonitor, PodMonitor and PrometheusRule of every shipped stack,
validated against the upstream CRD schemas, unknown fields refused.

The models are cloudcoil's, generated from the KEDA (2.16) and prometheus-operator (0.80) CRDs:
they reject wrong types, missing required fields, enum and pattern violations, but drop an
unknown field silently. So each object is also dumped back (only the fields it set) and must
come out exactly as it went in: a typo (``minReplicas``, ``intervall``) is a dropped field, and
a dropped field is a failure naming its path. The CRDs we install are newer (KEDA 2.20,
operator 0.83); every field we set exists in both.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

keda = pytest.importorskip("cloudcoil.models.keda.v1alpha1", reason="cloudcoil-models-keda is not installed")
prom = pytest.importorskip("cloudcoil.models.prometheus_operator.v1",
                           reason="cloudcoil-models-prometheus-operator is not installed")

STACKS = ("dev", "staging", "prod", "prod-eu", "gcp-prod")
MODELS = {
    "kubernetes:keda.sh/v1alpha1:ScaledObject": keda.ScaledObject,
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": prom.ServiceMonitor,
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": prom.PodMonitor,
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": prom.PrometheusRule,
}


def dropped_or_changed(sent: Any, back: Any, path: str = "") -> list[str]:
    """Paths where the model's dump differs from the input (unknown fields are dropped ones)."""
    if isinstance(sent, dict) and isinstance(back, dict):
        out = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            out += [f"{where} (unknown field, dropped)"] if key not in back else dropped_or_changed(value, back[key], where)
        out += [f"{path}.{k} (added by the model)" for k in back.keys() - sent.keys()]
        return out
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        return [p for i, (a, b) in enumerate(zip(sent, back)) for p in dropped_or_changed(a, b, f"{path}[{i}]")]
    return [] if sent == back else [f"{path}: {sent!r} came back as {back!r}"]


def validate_strictly(type_: str, obj: dict[str, Any]) -> list[str]:
    """Raises on schema violations; returns the fields the schema does not know (must be [])."""
    model = MODELS[type_].model_validate(obj)
    return dropped_or_changed(obj, model.model_dump(by_alias=True, exclude_unset=True, mode="json"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_of_the_stack_matches_its_crd_schema(record, stack):
    rec = record(stack)
    seen = {t: 0 for t in MODELS}
    for r in rec.resources:
        if r.type not in MODELS:
            continue
        obj = r.inputs
        assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}, r.name
        assert validate_strictly(r.type, obj) == [], r.name
        seen[r.type] += 1
    # the stack has each kind (every stack serves, monitors GPUs and has SLO rules)
    assert all(seen.values()), seen


def _first(stack: str, type_: str, record) -> dict[str, Any]:
    return copy.deepcopy(next(r.inputs for r in record(stack).resources if r.type == type_))


def test_the_check_refuses_unknown_fields_at_any_depth(record):
    so = _first("dev", "kubernetes:keda.sh/v1alpha1:ScaledObject", record)
    so["spec"]["minReplicas"] = 2  # KEDA's field is minReplicaCount
    assert validate_strictly("kubernetes:keda.sh/v1alpha1:ScaledObject", so) == ["spec.minReplicas (unknown field, dropped)"]
    sm = _first("dev", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", record)
    sm["spec"]["endpoints"][0]["intervall"] = "15s"
    assert validate_strictly("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", sm) == [
        "spec.endpoints[0].intervall (unknown field, dropped)"]
    rule = _first("prod", "kubernetes:monitoring.coreos.com/v1:PrometheusRule", record)
    rule["spec"]["groups"][0]["rules"][0]["annotation"] = {"summary": "typo of annotations"}
    assert validate_strictly("kubernetes:monitoring.coreos.com/v1:PrometheusRule", rule) == [
        "spec.groups[0].rules[0].annotation (unknown field, dropped)"]


def test_the_schema_refuses_wrong_types_and_values(record):
    so = _first("dev", "kubernetes:keda.sh/v1alpha1:ScaledObject", record)
    so["spec"]["minReplicaCount"] = "two"
    with pytest.raises(ValidationError, match="minReplicaCount"):
        validate_strictly("kubernetes:keda.sh/v1alpha1:ScaledObject", so)
    pm = _first("dev", "kubernetes:monitoring.coreos.com/v1:PodMonitor", record)
    del pm["spec"]["selector"]  # required by the CRD
    with pytest.raises(ValidationError, match="selector"):
        validate_strictly("kubernetes:monitoring.coreos.com/v1:PodMonitor", pm)
