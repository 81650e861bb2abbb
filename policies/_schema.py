"""What a resource type can carry, read from the provider SDKs' own classes.

A policy that fails closed must know, for every type a program uses, which inputs could
hold what it judges (a location, an instance type, a CIDR, an encryption setting, a public
exposure), not only the inputs our components happen to set. The pulumi_aws, pulumi_gcp and
pulumi_kubernetes packages are generated from the providers' schemas: each resource class
takes an ``*Args`` input type whose properties carry their wire names
(``@pulumi.getter(name="vpcConfig")``) and whose annotations name nested ``*Args`` types.
``schema(type_token)`` walks that tree once per type (cached) and returns every property
path by wire name, e.g. ``("vpcConfig", "publicAccessCidrs")``; ``None`` means no SDK
class is known for the token (a custom resource, a provider we do not ship): a policy has
to treat such a type as one it cannot judge unless it understands it explicitly.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

PACKAGES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "kubernetes": "pulumi_kubernetes", "random": "pulumi_random",
            "tls": "pulumi_tls"}
_MAX_DEPTH = 8  # Kubernetes' JSONSchemaProps and a few AWS types refer to themselves


@dataclass(frozen=True)
class Schema:
    """The input properties of one resource type, as paths of wire (camelCase) names."""

    type: str
    paths: frozenset[tuple[str, ...]]

    def names(self) -> frozenset[str]:
        """Every property name at any depth."""
        return frozenset(p[-1] for p in self.paths)

    def matching(self, predicate) -> list[tuple[str, ...]]:
        """Paths whose last name satisfies ``predicate(name)``, sorted."""
        return sorted(p for p in self.paths if predicate(p[-1]))


def resource_class(type_token: str) -> type | None:
    """'aws:ec2/vpc:Vpc' -> pulumi_aws.ec2.Vpc; 'kubernetes:apps/v1:Deployment' ->
    pulumi_kubernetes.apps.v1.Deployment; 'pulumi:providers:aws' -> pulumi_aws.Provider;
    None when no SDK class matches."""
    parts = type_token.split(":")
    if len(parts) == 3 and parts[:2] == ["pulumi", "providers"] and parts[2] in PACKAGES:
        return getattr(importlib.import_module(PACKAGES[parts[2]]), "Provider", None)
    if len(parts) != 3 or parts[0] not in PACKAGES:
        return None
    pkg, module, name = PACKAGES[parts[0]], parts[1], parts[2]
    if parts[0] == "kubernetes":
        group, _, version = module.rpartition("/")
        group = group.split(".")[0] if group not in ("", "core") else "core"
        candidates = [f"{pkg}.{group}.{version}"]
    else:
        mod = module.split("/")[0]
        # A module named like a Python keyword gets a trailing underscore in the SDK
        # (aws:lambda/... -> pulumi_aws.lambda_).
        candidates = [pkg] if mod == "index" else [f"{pkg}.{mod}", f"{pkg}.{mod}_"]
    for candidate in candidates:
        try:
            cls = getattr(importlib.import_module(candidate), name, None)
        except ImportError:
            continue
        if inspect.isclass(cls) and getattr(cls, "_internal_init", None) is not None:
            return cls
    return None


@lru_cache(maxsize=None)
def schema(type_token: str) -> Schema | None:
    cls = resource_class(type_token)
    if cls is None:
        return None
    module = importlib.import_module(cls.__module__)
    args_cls = getattr(module, f"{cls.__name__}Args", None)
    paths: set[tuple[str, ...]] = set()
    if args_cls is not None:
        _walk(args_cls, module, (), paths, 0)
    else:  # a few classes take their inputs directly
        for pname, param in inspect.signature(cls._internal_init).parameters.items():
            if pname not in ("self", "__self__", "resource_name", "opts", "__props__"):
                paths.add((_camel(pname),))
    return Schema(type_token, frozenset(paths))


def _walk(args_cls: type, module: Any, prefix: tuple[str, ...], out: set, depth: int) -> None:
    for attr, member in vars(args_cls).items():
        if not isinstance(member, property) or member.fget is None:
            continue
        wire = getattr(member.fget, "_pulumi_name", None) or _camel(attr)
        path = prefix + (wire,)
        out.add(path)
        if depth >= _MAX_DEPTH:
            continue
        for nested in _args_types(member.fget.__annotations__.get("return"), sys_module(member.fget, module)):
            if nested is not args_cls or depth == 0:
                _walk(nested, sys_module(nested, module), path, out, depth + 1)


def sys_module(obj: Any, fallback: Any) -> Any:
    name = getattr(obj, "__module__", None)
    try:
        return importlib.import_module(name) if name else fallback
    except ImportError:
        return fallback


def _args_types(annotation: Any, module: Any) -> Iterator[type]:
    """The ``*Args`` input types an annotation refers to (forward references resolved)."""
    seen: set[int] = set()
    stack = [annotation]
    while stack:
        a = stack.pop()
        if a is None or id(a) in seen:
            continue
        seen.add(id(a))
        if isinstance(a, str):
            a = typing.ForwardRef(a)
        if isinstance(a, typing.ForwardRef):
            text = a.__forward_arg__
            if not text.endswith("Args"):
                continue
            try:
                a = eval(text, vars(module))  # noqa: S307 - a name inside the provider SDK
            except Exception:  # noqa: BLE001 - an unresolvable name carries no schema
                continue
        if inspect.isclass(a):
            if a.__name__.endswith("Args") and hasattr(a, "_pulumi_input_type") or \
                    getattr(a, "__name__", "").endswith("Args") and any(
                        isinstance(v, property) for v in vars(a).values()):
                yield a
            continue
        stack.extend(typing.get_args(a))


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
