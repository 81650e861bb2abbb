"""required-tags: owner, team and cost-center on every taggable resource (chargeback).

Which resources are taggable is decided by the provider SDK itself, not a hand list: a
type is taggable when its pulumi_aws / pulumi_gcp Python class takes a ``tags`` (AWS) or
``labels`` / ``resource_labels`` (GCP) argument. Tags set once on the provider
(``defaultTags.tags`` on AWS, ``defaultLabels`` on GCP) count, because the provider
merges them into every resource it creates.
"""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

from aiplat.policies import _judge, _schema
from aiplat.policies._props import UNKNOWN, cloud_of, get, is_provider, items

NAME = "required-tags"
DEFAULT_TAGS = ["owner", "team", "cost-center"]
# Python argument -> the camelCase input the engine shows.
TAG_ARGUMENTS = {"aws": {"tags": "tags"}, "gcp": {"labels": "labels", "resource_labels": "resourceLabels"}}
PROVIDER_DEFAULTS = {"aws": ("defaultTags", "tags"), "gcp": ("defaultLabels",)}


@lru_cache(maxsize=None)
def tag_inputs(resource_type: str) -> tuple[str, ...]:
    """The tag/label inputs a resource type accepts, from its SDK class signature; () if none."""
    cloud = cloud_of(resource_type)
    if cloud is None or is_provider(resource_type):
        return ()
    try:
        _pkg, module, cls_name = resource_type.split(":")
    except ValueError:
        return ()
    mod_name = module.split("/")[0]
    package = f"pulumi_{cloud}"
    try:
        mod = importlib.import_module(package if mod_name == "index" else f"{package}.{mod_name}")
    except ImportError:
        return ()
    cls = getattr(mod, cls_name, None)
    init = getattr(cls, "_internal_init", None)
    if init is None:
        return ()
    params = inspect.signature(init).parameters
    if cloud == "gcp" and "user_labels" in params:
        # Cloud Monitoring (channels, alert policies): `labels` configures the resource (e.g. a
        # channel's email_address); `user_labels` are its labels.
        return ("userLabels",)
    return tuple(camel for arg, camel in TAG_ARGUMENTS[cloud].items() if arg in params)


def coverage(resource_type: str) -> _judge.Coverage:
    """Taggable (the SDK class takes tags/labels) -> judged; AWS/GCP types without -> not applicable;
    other providers' types: not applicable when they cannot carry cloud tags (Kubernetes objects,
    random values, components), cannot judge when no schema is known."""
    if tag_inputs(resource_type):
        return _judge.Coverage.judged()
    parts = resource_type.split(":")
    if resource_type.startswith("pulumi:") or (len(parts) == 3 and "/" not in parts[1] and
                                                parts[0] not in _schema.PACKAGES):
        return _judge.Coverage.not_applicable("a component or provider: nothing is billed to it")
    if parts[0] in ("kubernetes", "random", "tls"):
        return _judge.Coverage.not_applicable("not a cloud resource: no cloud bill to charge back (the cluster's "
                                              "nodes carry the tags)")
    if cloud_of(resource_type) and _schema.resource_class(resource_type) is not None:
        return _judge.Coverage.not_applicable("the provider schema has no tags/labels input for the type")
    return _judge.Coverage.cannot_judge("no provider schema is known for the type, so whether it takes tags "
                                        "cannot be read")


def _provider_defaults(args, cloud: str):
    """The provider's default tags/labels; UNKNOWN when they are unknown at preview."""
    if args.provider is None:
        return {}
    value = get(args.provider.props, *PROVIDER_DEFAULTS[cloud], default={})
    return dict(items(value)) if value is not UNKNOWN else UNKNOWN


def validate(args, report_violation) -> None:
    config = args.get_config()
    allowed = list(config.get(_judge.ALLOWED_TYPES, []))
    cov = coverage(args.resource_type)
    if cov.kind == "cannot-judge":
        _judge.report_unjudged(NAME, args.resource_type, args.name, cov.reason, allowed,
                               lambda m, u: report_violation(m, u), None)
        return
    keys = tag_inputs(args.resource_type)
    if not keys:
        return
    required = list(config["requiredTags"])
    cloud = cloud_of(args.resource_type)
    defaults = _provider_defaults(args, cloud)
    present = {} if defaults is UNKNOWN else dict(defaults)
    unknown = defaults is UNKNOWN
    for key in keys:
        value = get(args.props, key, default={})
        if value is UNKNOWN:
            unknown = True
            continue
        for k, v in items(value):
            present[k] = v
    missing = [t for t in required if not isinstance(present.get(t), str) or not present.get(t).strip()]
    unknown_values = [t for t in missing if present.get(t) is UNKNOWN]
    if missing and (unknown or unknown_values):
        # Unknown at preview, and the provider's default tags do not supply them: cannot judge.
        if args.resource_type in allowed:
            return
        report_violation(f"{args.resource_type} {args.name}: cannot judge: {keys[0]} (or the provider's defaults) "
                         f"unknown at preview and {', '.join(missing)} not set by the provider's default tags; build "
                         f"them from config values, set them as provider default tags, or allow the type on purpose "
                         f"in {NAME}.{_judge.ALLOWED_TYPES}", None)
        return
    if missing:
        what = "tags" if cloud == "aws" else "labels"
        report_violation(f"{args.resource_type} {args.name} lacks {what} {', '.join(missing)}; add them to its "
                         f"`{keys[0]}` (or the provider's default {what}) from the stack's owner/team/cost-center",
                         None)


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Every taggable resource (from the provider schema) carries owner, team and cost-center "
                "tags/labels for chargeback; unknown tags not covered by provider defaults are refused.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "requiredTags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": "Tag (AWS) / label (GCP) keys every taggable resource must carry. Required.",
            },
            _judge.ALLOWED_TYPES: _judge.ALLOWED_TYPES_SCHEMA,
        },
        required=["requiredTags"],
    ),
)
