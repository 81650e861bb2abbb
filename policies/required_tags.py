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


def _provider_defaults(args, cloud: str) -> dict:
    if args.provider is None:
        return {}
    value = get(args.provider.props, *PROVIDER_DEFAULTS[cloud], default={})
    return dict(items(value)) if value is not UNKNOWN else {}


def validate(args, report_violation) -> None:
    keys = tag_inputs(args.resource_type)
    if not keys:
        return
    config = args.get_config()
    if args.resource_type in config.get("exemptTypes", []):
        return
    required = list(config.get("requiredTags", DEFAULT_TAGS))
    cloud = cloud_of(args.resource_type)
    present = _provider_defaults(args, cloud)
    for key in keys:
        value = get(args.props, key, default={})
        if value is UNKNOWN:
            # The tags are computed: they will only be known at `up`. Say so instead of guessing.
            report_violation(f"{keys[0]} of {args.name} are unknown during preview; build them from config "
                             f"values so {', '.join(required)} can be checked", None)
            return
        present.update(dict(items(value)))
    missing = [t for t in required if not isinstance(present.get(t), str) or not present.get(t).strip()]
    if missing:
        what = "tags" if cloud == "aws" else "labels"
        report_violation(f"{args.resource_type} {args.name} lacks {what} {', '.join(missing)}; add them to its "
                         f"`{keys[0]}` (or the provider's default {what}) from the stack's owner/team/cost-center",
                         None)


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Taggable resources carry owner, team and cost-center tags/labels for chargeback.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "requiredTags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "default": DEFAULT_TAGS,
                "description": "Tag (AWS) / label (GCP) keys every taggable resource must carry. "
                               "Default owner, team, cost-center.",
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
