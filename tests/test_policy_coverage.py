"""Fail closed, as a walk: every resource type of every shipped stack, through every policy.

Each module of ``aiplat.policies.POLICY_MODULES`` must decide each type the stacks use
(``coverage(type).decided``: judged, or not applicable with a reason) or the stack's policy
config must list the type in that policy's ``allowedTypes`` on purpose. The graphs are recorded
from the components as they are now (not read from the golden files), so adding a type to a
component without deciding it in every policy fails here, naming the policy, the type and what
is missing.
"""

from __future__ import annotations

import json
import types
from typing import Iterable

import aiplat.policies as policies
from aiplat.policies._judge import ALLOWED_TYPES, Coverage
from tests._project import policy_config_path

# The ops whose resource exists after the step (what the analyzer is asked about).
_LIVE_OPS = {"create", "same", "update", "replace", "create-replacement", "import", "import-replacement", "read",
             "refresh"}


def stack_types(steps: list[dict]) -> set[str]:
    return {s["newState"]["type"] for s in steps if s.get("op", "create") in _LIVE_OPS and s.get("newState")}


def allowed_types(stack: str) -> dict[str, set[str]]:
    """policy name -> the types the stack's policy config allows without judging."""
    doc = json.loads(policy_config_path(stack).read_text())
    return {name: set(entry.get(ALLOWED_TYPES) or []) for name, entry in doc.items() if isinstance(entry, dict)}


def undecided(types_by_stack: dict[str, set[str]], modules: Iterable, allowed: dict[str, dict[str, set[str]]]) -> list[str]:
    """One line per (policy, type) that some stack uses and the policy neither decides nor has allowed there."""
    out = []
    for module in modules:
        name = getattr(module, "NAME", getattr(module, "__name__", "?"))
        coverage = getattr(module, "coverage", None)
        if not callable(coverage):
            out.append(f"{name}: no coverage(resource_type) -> Coverage (module {module.__name__})")
            continue
        for rtype in sorted(set().union(*types_by_stack.values())):
            users = sorted(s for s, ts in types_by_stack.items() if rtype in ts)
            try:
                verdict = coverage(rtype)
            except Exception as exc:  # a crash is not a decision
                out.append(f"{name}: {rtype}: coverage() raised {type(exc).__name__}: {exc}")
                continue
            if not isinstance(verdict, Coverage):
                out.append(f"{name}: {rtype}: coverage() returned {verdict!r}, not a Coverage")
                continue
            if verdict.decided:
                continue
            missing = [s for s in users if rtype not in allowed.get(s, {}).get(name, set())]
            if missing:
                out.append(f"{name}: {rtype}: cannot judge ({verdict.reason}) and not in {name}.{ALLOWED_TYPES} of "
                           f"{', '.join(f'policies/config/{s}.json' for s in missing)}")
    return out


def test_every_policy_decides_every_type_the_shipped_stacks_use(record, stacks):
    types_by_stack = {stack: stack_types(record(stack).steps()) for stack in stacks}
    assert all(types_by_stack.values())
    allowed = {stack: allowed_types(stack) for stack in stacks}
    problems = undecided(types_by_stack, policies.POLICY_MODULES, allowed)
    assert not problems, f"{len(problems)} undecided (policy: type: what is missing):\n" + "\n".join(problems)


def test_the_walk_fails_for_a_new_type_nobody_decided():
    """The walk itself: a type one policy cannot judge is reported unless every stack using it allows it."""

    def coverage(rtype: str) -> Coverage:
        if rtype == "acme:index:NewThing":
            return Coverage.cannot_judge("no schema for acme")
        return Coverage.not_applicable("holds nothing this policy checks")

    probe = types.SimpleNamespace(NAME="probe", __name__="probe", coverage=coverage)
    silent = types.SimpleNamespace(NAME="silent", __name__="silent")
    used = {"dev": {"aws:s3/bucket:Bucket", "acme:index:NewThing"}, "prod": {"acme:index:NewThing"}}
    assert undecided(used, [probe], {}) == [
        "probe: acme:index:NewThing: cannot judge (no schema for acme) and not in probe.allowedTypes of "
        "policies/config/dev.json, policies/config/prod.json"]
    assert undecided(used, [probe], {"dev": {"probe": {"acme:index:NewThing"}}}) == [
        "probe: acme:index:NewThing: cannot judge (no schema for acme) and not in probe.allowedTypes of "
        "policies/config/prod.json"]
    allowed_everywhere = {s: {"probe": {"acme:index:NewThing"}} for s in used}
    assert undecided(used, [probe], allowed_everywhere) == []
    assert undecided(used, [silent], {}) == ["silent: no coverage(resource_type) -> Coverage (module silent)"]
