"""The strict base of every config model, its rules, and validation that reports every problem.

Two kinds of checks, so that one mistake never hides another:

* **Field checks** read one value (and the stack's cloud / residency zone, passed as the
  validation context): types, ranges, patterns, catalog look-ups. They are pydantic
  field validators and run for every field, whatever else failed.
* **Rules** read several fields of a model, or several sections (``reserved_nodes`` vs
  ``max_nodes``, duplicate regions, overlapping CIDRs, the pool an endpoint names, the
  version a route pins). pydantic runs a model validator only when *every* field of the
  model validated, so rules are not pydantic validators: they are methods marked
  ``@rule`` that ``validate_all`` runs on whatever did validate. Where a field failed, the
  rule sees a ``Partial`` in place of the model, and reading the failed field raises
  ``Unknown``; the rule (or the one item of it that needed that field) is skipped, since
  the field's own problem is already reported. Rules yield ``Problem``s with paths
  relative to their model. A rule that finds something *present* (a duplicate, an
  overlap) judges the items that validated (``known``); one that finds something
  *absent* ("no pool named X") reads the whole list, so it is skipped rather than wrong
  when an item of it failed.

Models built directly (``GatewayConfig.model_validate(...)``) run their own rules too, as
a model validator, once their fields are valid.
"""

from __future__ import annotations

import inspect
import re
import types
from contextlib import suppress
from functools import cache
from typing import Annotated, Any, Iterable, Iterator, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError, ValidationInfo, WrapValidator
from pydantic import model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from aiplat.errors import ConfigError, Problem, format_path

CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP"}
# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# GCP label values and Kubernetes-friendly identifiers: one rule for both clouds, so the
# same tags work as AWS tags and as GCP labels.
LABEL_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
# Context key: validate_all runs the rules itself (on partial models too), not pydantic.
_DEFER = "aiplat.rules-deferred"


def _dns_label(v: str) -> str:
    if not DNS_LABEL.match(v):
        raise ValueError(f"{v!r} is not a DNS label (lowercase, digits, '-', max 32)")
    return v


# Names that become Kubernetes/cloud resource names (pools, endpoints).
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


def _retention(v: int | None) -> int | None:
    if v is not None and v not in LOG_RETENTION_DAYS:
        raise ValueError(f"{v} is not a CloudWatch retention value (e.g. 30, 90, 365)")
    return v


def not_empty(hint: str):
    """A field check for an optional list whose absence means "all": an empty list is an error, not
    "all" (nor "none"), since a stack file that says ``[]`` means something and it is not clear what."""

    def check(v: list | None) -> list | None:
        if v is not None and len(v) == 0:
            raise ValueError(f"an empty list is not 'all'; {hint}")
        return v

    return check


def one_message(message: str) -> WrapValidator:
    """For a union field: one problem saying what the field takes, not one per member of the union
    (pydantic would report ``certificate.literal['create']`` and ``certificate.dict[str,str]``)."""

    def validate(v: Any, handler) -> Any:
        try:
            return handler(v)
        except ValidationError:
            raise ValueError(message) from None

    return WrapValidator(validate)


def _ctx(info: ValidationInfo, key: str, default: Any = None) -> Any:
    return (info.context or {}).get(key, default)


# -- rules ------------------------------------------------------------------------------
class Unknown(Exception):
    """A rule read a value that did not validate; its own problem is already reported."""


class _Unset:
    """A list item or field that did not validate: any use of it raises ``Unknown``."""

    def __getattr__(self, name: str) -> Any:
        raise Unknown(name)

    def _unknown(self, *args: Any) -> Any:
        raise Unknown("<invalid>")

    __contains__ = __iter__ = __len__ = __getitem__ = __bool__ = _unknown

    def __repr__(self) -> str:
        return "<invalid>"


UNSET = _Unset()


def rule(fn):
    """Mark a model method ``(self, ctx) -> Iterable[Problem]`` as a rule (paths relative to the model)."""
    fn.__aiplat_rule__ = True
    return fn


def known(items: Any, *fields: str) -> Iterator[tuple[int, Any]]:
    """(index, item) of the items that validated and whose ``fields`` all validated."""
    for i, item in enumerate(items):
        try:
            for f in fields:
                getattr(item, f)
        except Unknown:
            continue
        yield i, item


def repeated(items: Any, field: str) -> Iterator[tuple[int, Any]]:
    """(index, value) of each item whose ``field`` another item has too (among those that validated)."""
    values = [(i, getattr(item, field)) for i, item in known(items, field)]
    seen = [v for _, v in values]
    return ((i, v) for i, v in values if seen.count(v) > 1)


def if_known() -> suppress:
    """``with if_known():`` around one item of a rule: skip just that item when it reads a failed value."""
    return suppress(Unknown)


class Partial:
    """The fields of a model that validated while others did not; read like the model.

    A field that failed reads as ``Unknown``; properties and methods of the model class
    work on it (and raise ``Unknown`` when they touch a failed field)."""

    __slots__ = ("_cls", "_values")

    def __init__(self, cls: type[BaseModel], values: dict[str, Any]):
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            value = values[name]
            if value is UNSET:
                raise Unknown(name)
            return value
        cls = object.__getattribute__(self, "_cls")
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, property):
            return attr.fget(self)
        if inspect.isfunction(attr):
            return types.MethodType(attr, self)
        return getattr(cls, name)

    def __repr__(self) -> str:
        return f"Partial[{self._cls.__name__}]"


@cache
def _rules_of(cls: type) -> tuple:
    seen, out = set(), []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if getattr(value, "__aiplat_rule__", False) and name not in seen:
                seen.add(name)
                out.append(name)
    return tuple(getattr(cls, n) for n in out)


def _join(base: str, sub: str) -> str:
    if not base or not sub:
        return base or sub
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def own_rule_problems(cls: type, node: Any, ctx: dict) -> list[Problem]:
    """Problems the rules of ``cls`` find on ``node`` (a model or a Partial), relative paths."""
    out: list[Problem] = []
    for fn in _rules_of(cls):
        try:
            for p in fn(node, ctx) or ():
                out.append(p)
        except Unknown:
            pass  # the rule needs a value that failed validation (reported already)
    return out


def rule_problems(node: Any, ctx: dict, path: str = "") -> list[Problem]:
    """Every rule of ``node`` and of the models inside it, with full key paths."""
    if isinstance(node, Partial):
        cls, values = node._cls, node._values
    elif isinstance(node, _Model):
        cls, values = type(node), {n: getattr(node, n) for n in type(node).model_fields}
    else:
        return []
    out = [Problem(_join(path, p.path), p.message) for p in own_rule_problems(cls, node, ctx)]
    for name, value in values.items():
        here = _join(path, name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                out += rule_problems(item, ctx, f"{here}[{i}]")
        else:
            out += rule_problems(value, ctx, here)
    return out


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _run_own_rules(self, info: ValidationInfo):
        # Direct construction: this model's fields are valid, its children ran their own rules.
        if (info.context or {}).get(_DEFER):
            return self
        raise_problems(type(self).__name__, own_rule_problems(type(self), self, info.context or {}))
        return self


# -- validation that reports everything ---------------------------------------------------
@cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


def _field_adapter(cls: type[BaseModel], name: str) -> TypeAdapter:
    f = cls.model_fields[name]
    return _adapter(Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)


def _model_class(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _sub(errors: list[tuple], key: Any) -> list[tuple]:
    return [loc[1:] for loc in errors if loc[:1] == (key,)]


def _partial(cls: type[BaseModel], raw: Any, errors: list[tuple], ctx: dict) -> Any:
    """What validated of ``raw`` as a ``cls`` (``errors``: failed locations relative to it)."""
    if not errors:
        try:
            return cls.model_validate(raw, context=ctx)
        except ValidationError:  # pragma: no cover - it validated within the whole document
            return UNSET
    if not isinstance(raw, dict) or () in errors:
        return UNSET
    values: dict[str, Any] = {}
    for name, f in cls.model_fields.items():
        sub = _sub(errors, name)
        if name not in raw:
            values[name] = UNSET if sub else f.get_default(call_default_factory=True)
        elif not sub:
            try:
                values[name] = _field_adapter(cls, name).validate_python(raw[name], context=ctx)
            except ValidationError:  # pragma: no cover - it validated within the whole document
                values[name] = UNSET
        elif () in sub:
            values[name] = UNSET
        else:
            values[name] = _partial_value(_unwrap_optional(f.annotation), raw[name], sub, ctx)
    return Partial(cls, values)


def _partial_value(annotation: Any, raw: Any, errors: list[tuple], ctx: dict) -> Any:
    model = _model_class(annotation)
    if model is not None:
        return _partial(model, raw, errors, ctx)
    args = get_args(annotation)
    item_model = _model_class(args[0]) if get_origin(annotation) is list and args else None
    if item_model is not None and isinstance(raw, list):
        return [_partial(item_model, item, _sub(errors, i), ctx) for i, item in enumerate(raw)]
    return UNSET  # a scalar, a list of scalars or a union: all or nothing


def validate_all(cls: type[BaseModel], raw: Any, context: dict) -> Any:
    """Validate ``raw`` as ``cls``: every field problem and every rule problem in one ``ConfigError``."""
    ctx = {**context, _DEFER: True}
    try:
        node, errors = cls.model_validate(raw, context=ctx), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        node = _partial(cls, raw, [tuple(e["loc"]) for e in errors], ctx)
    problems = _problems(errors) + rule_problems(node, ctx)
    if problems:
        raise ConfigError(problems)
    return node


# -- problems <-> pydantic errors -----------------------------------------------------------
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _loc(path: str) -> tuple:
    """'collections[1].index.params.M' -> ('collections', 1, 'index', 'params', 'M')."""
    return tuple(int(i) if i else key for i, key in _PATH_PART.findall(path))


def raise_problems(title: str, problems: list[Problem | tuple[tuple, str]]) -> None:
    """Raise several problems from one validator, each at its own location relative to the value:
    a ``Problem`` (its path) or ``(loc, message)`` where a key is user text (a map's keys).

    pydantic merges a ValidationError raised inside a validator with the outer location,
    so each keeps its full key path (``collections[0].index.params.M``)."""
    if problems:
        pairs = [(_loc(p.path), p.message) if isinstance(p, Problem) else p for p in problems]
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=None)
            for loc, message in pairs
        ])


def _problems(errors: Iterable[dict], prefix: tuple = ()) -> list[Problem]:
    return [Problem(format_path(prefix + tuple(err["loc"])), _message(err)) for err in errors]


def problems_of(exc: ValidationError, prefix: tuple = ()) -> list[Problem]:
    """pydantic's errors as ``Problem``s with key paths (``regions[1].gpu_pools[0].max_nodes``)."""
    return _problems(exc.errors(include_url=False), prefix)


def _message(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see PlatformConfig)"
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        return f"{err['input']!r} is not one of {msg.split('Input should be ', 1)[-1]}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg
