"""Config strictness: a policy config the policy does not understand is an error, never a default.

A typo in a policy config (``residencyzone``, ``maxMonthlyUSD``) must not fall back to the
permissive default it was meant to replace, and a property without a safe default must be set.
Two places enforce this, with one implementation (``problems``):

- ``aiplat check`` (``policies.offline.reconcile``): a ``ConfigError`` (exit 2) naming
  ``<policy>.<property>``, before anything is evaluated.
- The pack itself, under the real Pulumi CLI, which does not refuse unknown properties: it
  validates each policy's config against ``{"type": "object", "properties", "required"}``
  only (``convertSchema`` in pulumi/pulumi ``pkg/resource/analyzer/config.go``), and the SDK's
  ``PolicyConfigSchema`` has no way to say ``additionalProperties: false``. So every policy
  the pack serves is wrapped by ``strict`` (``policies/__init__.py``): before it judges
  anything it checks the config it was handed and, if that has problems, reports them as
  violations of that policy at the policy's own level and judges nothing with that config.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Mapping

import jsonschema
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from aiplat.errors import Problem

_STRICT = "__aiplat_strict_config__"


def schema_parts(schema: Any) -> tuple[dict[str, dict], list[str]]:
    """(properties, required) of a ``PolicyConfigSchema`` or of its JSON form (``GetAnalyzerInfo``)."""
    if schema is None:
        return {}, []
    if isinstance(schema, Mapping):  # protobuf's JSON: every number a float ("minimum": 0.0)
        return _ints(dict(schema.get("properties") or {})), list(schema.get("required") or [])
    return dict(schema.properties or {}), list(schema.required or [])


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def unknown_problem(policy: str, key: str, declared: list[str]) -> Problem:
    close = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
    if not close:  # case slips (maxMonthlyUSD for maxMonthlyUsd) are the common typo
        close = [d for d in declared if d.lower() == key.lower()]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    takes = ", ".join(sorted(declared)) or "no properties"
    return Problem(f"{policy}.{key}", f"unknown property{hint} ({policy} takes: {takes}); an unknown property "
                                      "is never a default")


def problems(policy: str, schema: Any, config: Mapping[str, Any] | None, *, unknown: bool = True) -> list[Problem]:
    """Every problem of ``config`` (properties only, no ``enforcementLevel``) under ``policy``'s schema.

    ``unknown=False`` is the Pulumi CLI's own check (types, enums, required), without refusing
    unknown properties."""
    props, required = schema_parts(schema)
    config = dict(config or {})
    out = [unknown_problem(policy, k, list(props)) for k in config if k not in props] if unknown else []
    full = {"type": "object", **({"properties": props} if props else {}), **({"required": required} if required else {})}
    for err in sorted(jsonschema.Draft7Validator(full).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        parts = [policy, *(str(p) for p in err.absolute_path)]
        message = err.message
        if err.validator == "required":  # the missing key itself, under the object that lacks it
            missing = err.message.split(chr(39))[1]
            parts.append(missing)
            if not err.absolute_path:
                message = "required property missing; it has no default: set it in the policy config"
        out.append(Problem(".".join(parts), message))
    return out


def strict(policy):
    """``policy`` (a Resource- or StackValidationPolicy), refusing a config it does not understand.

    The wrapped policy validates its config first: each unknown property, each missing
    required property and each invalid value is reported as a violation of the policy (at its
    enforcement level, so mandatory where it is mandatory), and the policy's own validation is
    not run with that config (its verdicts would rest on defaults the author did not mean).
    A resource policy reports it on every resource it is asked about (none is judged); a stack
    policy once for the stack."""
    if getattr(policy, _STRICT, False):
        return policy
    name = policy.name
    checked: dict[str, list[Problem]] = {}  # a config is checked once, not once per resource asked about

    def validate(args, report_violation):
        config = args.get_config()
        key = json.dumps(dict(config or {}), sort_keys=True, default=str)
        if key not in checked:
            checked[key] = problems(name, policy.config_schema, config)
        found = checked[key]
        if found:
            what = "; ".join(f"{p.path}: {p.message}" for p in found)
            subject = f"{args.resource_type} {args.name}" if isinstance(policy, ResourceValidationPolicy) \
                else "the stack"
            report_violation(f"policy config refused ({what}); {subject} not judged: fix the policy config", None)
            return None
        return policy.validate(args, report_violation)

    common = dict(enforcement_level=policy.enforcement_level, config_schema=policy.config_schema,
                  display_name=policy.display_name, severity=policy.severity, framework=policy.framework,
                  tags=policy.tags, remediation_steps=policy.remediation_steps, url=policy.url)
    if isinstance(policy, ResourceValidationPolicy):
        extra = {"remediate": policy.remediate} if policy.has_remediation() else {}
        wrapped = ResourceValidationPolicy(name, policy.description, validate=validate, **extra, **common)
    elif isinstance(policy, StackValidationPolicy):
        wrapped = StackValidationPolicy(name, policy.description, validate=validate, **common)
    else:  # pragma: no cover - the SDK has only these two kinds
        raise TypeError(f"{name}: not a ResourceValidationPolicy or StackValidationPolicy")
    setattr(wrapped, _STRICT, True)
    wrapped.inner = policy
    return wrapped
