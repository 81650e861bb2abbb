"""The strict base of every config model and the pydantic-error -> Problem conversion.

Every section model forbids unknown keys (a typo is an error, never a silently ignored
key) and is frozen. A validator that finds several problems raises ``_Nested`` with
paths relative to the model it validates; ``problems_of`` turns pydantic's errors into
``Problem``s with full key paths (``regions[1].gpu_pools[0].max_nodes``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

from aiplat.errors import Problem, format_path

CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP"}
# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# GCP label values and Kubernetes-friendly identifiers: one rule for both clouds, so the
# same tags work as AWS tags and as GCP labels.
LABEL_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")


def _dns_label(v: str) -> str:
    if not DNS_LABEL.match(v):
        raise ValueError(f"{v!r} is not a DNS label (lowercase, digits, '-', max 32)")
    return v


# Names that become Kubernetes/cloud resource names (pools, endpoints).
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ctx(info: ValidationInfo, key: str, default: Any = None) -> Any:
    return (info.context or {}).get(key, default)


def _retention(v: int | None) -> int | None:
    if v is not None and v not in LOG_RETENTION_DAYS:
        raise ValueError(f"{v} is not a CloudWatch retention value (e.g. 30, 90, 365)")
    return v


class _Nested(ValueError):
    """Several problems found by one model validator, each with a path relative to it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def problems_of(exc: ValidationError, prefix: tuple = ()) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Nested):
            for item in ctx_error.problems:
                sub, _, msg = item.partition(": ")
                base = format_path(loc)
                out.append(Problem(f"{base}.{sub}" if base else sub, msg))
            continue
        out.append(Problem(format_path(loc), _message(err)))
    return out


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
