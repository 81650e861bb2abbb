"""supply-chain: every container image is pinned by digest and comes from an approved registry.

Model files are pinned by digest (model-approval); the server that loads them must be too: a
tag (``:25.01-py3``) is mutable, so the bytes a node pulls tomorrow need not be the bytes
reviewed today. Judged on every input of any resource type that names an image, read from the
provider schema (properties named ``image``, ``imageUri``, ``containerImage`` at any depth:
Kubernetes pod templates, SageMaker models, Cloud Run services ...), not a list of our types:

- the image's repository is under an approved prefix of the registries catalog
  (``components/catalog/registries.yaml``, with its source and date);
- the reference ends in ``@sha256:<64 hex>``, unless the policy config names that exact
  reference in ``unpinnedImages`` with the reason (a deliberate, reviewable exception);
- an image unknown at preview, an image inside a JSON string (ECS container definitions,
  Batch job properties), a Helm release's rendered images and custom kinds the pack does
  not know are "cannot judge" (a violation unless the type is in ``allowedTypes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

from aiplat.catalog import registries
from aiplat.policies import _kinds
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged, stops_at
from aiplat.policies._props import UNKNOWN, _is_seq, get, path_str
from aiplat.policies._schema import schema

NAME = "supply-chain"
IMAGE_NAMES = frozenset({"image", "imageUri", "containerImage"})
JSON_IMAGES = _kinds.JSON_CONTAINERS


def image_paths(resource_type: str) -> list[tuple[str, ...]]:
    s = schema(resource_type)
    return s.matching(lambda n: n in IMAGE_NAMES) if s is not None else []


def coverage(resource_type: str) -> Coverage:
    if (why := _kinds.trivial(resource_type)) is not None:
        return Coverage.not_applicable(why)
    if resource_type in _kinds.HELM_TYPES:
        return Coverage.judged()  # by its pin and its image values (validate_release)
    if resource_type in _kinds.KNOWN_CUSTOM:
        return Coverage.not_applicable(f"{_kinds.KNOWN_CUSTOM[resource_type]}: names no image")
    if resource_type in JSON_IMAGES:
        return Coverage.cannot_judge(f"its images are inside the JSON string {JSON_IMAGES[resource_type]}")
    s = schema(resource_type)
    if s is None:
        return Coverage.cannot_judge("no provider schema is known for the type, so its image inputs are unknown")
    if image_paths(resource_type):
        return Coverage.judged()
    return Coverage.not_applicable("the provider schema has no image input")


def values_at(props: Any, path: tuple[str, ...], prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every value at a schema path, lists expanded at any step; UNKNOWN where unknown."""
    if not path:
        yield prefix, props
        return
    value = get(props, path[0])
    if value is None:
        return
    if value is UNKNOWN:
        yield prefix + (path[0],), UNKNOWN
        return
    if _is_seq(value):
        for i in range(len(value)):
            item = get(value, i)
            if item is UNKNOWN:
                yield prefix + (path[0], i), UNKNOWN
            elif item is not None:
                yield from values_at(item, path[1:], prefix + (path[0], i))
    else:
        yield from values_at(value, path[1:], prefix + (path[0],))


def image_problem(image: str, exceptions: dict[str, str]) -> str | None:
    if registries.approved(image) is None:
        return (f"image {image!r} is not from an approved registry ({registries.normalize(image)} is under no "
                f"prefix of components/catalog/registries.yaml)")
    if not registries.pinned(image) and image not in exceptions:
        return (f"image {image!r} is pulled by a mutable tag; pin it by digest (<image>@sha256:<digest>) or name "
                f"it in {NAME}.unpinnedImages with the reason")
    return None


def validate(args, report_violation) -> None:
    config = args.get_config()
    allowed = list(config.get(ALLOWED_TYPES, []))
    if stops_at(NAME, coverage(args.resource_type), args.resource_type, args.name, allowed, report_violation, None):
        return
    exceptions = {e["image"]: e["reason"] for e in config.get("unpinnedImages", [])}
    if args.resource_type in _kinds.HELM_TYPES:
        validate_release(args, exceptions, allowed, report_violation)
        return
    for path in image_paths(args.resource_type):
        for where, image in values_at(args.props, path):
            if isinstance(image, Mapping):  # a Kubernetes image volume: {reference, pullPolicy}
                where, image = where + ("reference",), get(image, "reference", default=UNKNOWN)
            if image is UNKNOWN or not isinstance(image, str):
                if report_unjudged(NAME, args.resource_type, args.name,
                                   f"{path_str(where)} is unknown at preview", allowed, report_violation, None):
                    return
                continue
            problem = image_problem(image, exceptions)
            if problem:
                report_violation(f"{args.resource_type} {args.name}: {path_str(where)}: {problem}", None)


def _image_value(path: tuple) -> bool:
    keys = [k for k in path if isinstance(k, str)]
    return any("image" in k.lower() for k in keys) or (bool(keys) and keys[-1] in ("repository", "registry", "digest"))


def validate_release(args, exceptions: dict[str, str], allowed: list[str], report_violation) -> None:
    """A Helm release: a chart the installers catalog knows at that version, and no image override in its
    values unless named in ``unpinnedImages`` as ``helm:<chart>:<values path>=<value>``."""
    problem = _kinds.helm_pin_problem(args.props)
    if problem:
        report_unjudged(NAME, args.resource_type, args.name, problem, allowed, report_violation, None)
        return
    chart = get(args.props, "chart")
    for path, value in _kinds.helm_values(args.props):
        if not path or _image_value(path):
            if value is UNKNOWN:
                report_unjudged(NAME, args.resource_type, args.name, f"values {path_str(path) or ''} are unknown at "
                                "preview", allowed, report_violation, None)
                continue
        else:
            continue
        key = f"helm:{chart}:{path_str(path)}={value}"
        if key not in exceptions:
            report_violation(f"{args.resource_type} {args.name}: values {path_str(path)}={value!r} overrides an image "
                             f"the chart renders, which cannot be checked for digest or registry; set it by digest "
                             f"from an approved registry and name it in {NAME}.unpinnedImages as {key!r} with the "
                             "reason", None)


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Container images come from an approved registry and are pinned by digest.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "unpinnedImages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "minLength": 1},
                        "reason": {"type": "string", "minLength": 10},
                    },
                    "required": ["image", "reason"],
                    "additionalProperties": False,
                },
                "default": [],
                "description": "Exact image references allowed without a digest, each with the reason "
                               "(the registry must still be approved). Default none.",
            },
            ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA,
        },
    ),
)
