"""Fail closed: for every resource, a policy either judges it or says it cannot.

The pack runs in CI on any program that uses the components, so it meets types our
components never create. A policy that skips what it does not recognise is a hole (an
IAM deny-by-default, an admission webhook with ``failurePolicy: Fail``, Infracost's
"unpriced" list are the models). Each policy therefore answers, per resource type:

- ``Coverage.judged()``: the policy reads every input of the type that can carry what it
  checks (from the provider schema, ``aiplat.policies._schema``), or
- ``Coverage.not_applicable(reason)``: the type cannot carry it at all (the schema has no such
  input: an IAM role holds no data, a route table runs no instance), or
- ``Coverage.cannot_judge(reason)``: the type can carry it and the policy cannot read it.

``report_unjudged`` turns "cannot judge" into a violation at the policy's enforcement level,
naming the resource and what could not be read, unless the policy config lists the type in
``allowedTypes`` on purpose. Unknown values at preview are the same: a policy that cannot
decide because a value is unknown says so (``cannot judge ... unknown at preview``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

ALLOWED_TYPES = "allowedTypes"
TYPE_TOKEN = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]*:[A-Za-z0-9_]+$")
ALLOWED_TYPES_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "pattern": TYPE_TOKEN.pattern},
    "uniqueItems": True,
    "default": [],
    "description": "Resource types this policy may pass without judging them (it cannot read what it "
                   "checks in them). Each entry is a deliberate exception. Default: none.",
}


@dataclass(frozen=True)
class Coverage:
    kind: Literal["judged", "not-applicable", "cannot-judge"]
    reason: str = ""

    @classmethod
    def judged(cls) -> "Coverage":
        return cls("judged")

    @classmethod
    def not_applicable(cls, reason: str) -> "Coverage":
        return cls("not-applicable", reason)

    @classmethod
    def cannot_judge(cls, reason: str) -> "Coverage":
        return cls("cannot-judge", reason)

    @property
    def decided(self) -> bool:
        return self.kind != "cannot-judge"


def report_unjudged(policy: str, resource_type: str, name: str, reason: str, allowed: list[str],
                    report: Callable[[str, str | None], None], urn: str | None) -> bool:
    """Report that ``policy`` cannot judge a resource unless its type is allowed; True if reported."""
    if resource_type in allowed:
        return False
    report(f"{resource_type} {name}: cannot judge: {reason}; change the resource so it can be judged, or allow "
           f"the type on purpose in {policy}.{ALLOWED_TYPES}", urn)
    return True


def stops_at(policy: str, cov: Coverage, resource_type: str, name: str, allowed: list[str],
             report: Callable[[str, str | None], None], urn: str | None) -> bool:
    """For a policy about to judge one resource: True when it must stop here, because the type is
    not applicable, or cannot be judged (reported unless allowed)."""
    if cov.kind == "cannot-judge":
        report_unjudged(policy, resource_type, name, cov.reason, allowed, report, urn)
    return cov.kind != "judged"
