"""workload-hardening: every pod the program creates runs hardened, whoever wrote it.

The Triton and ESP pods are hardened because our code builds them so; this policy makes it a
rule for every Kubernetes object that carries a pod spec (read from the provider schema: any
kind with ``containers`` under its pod template: Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob, Pod, ...). Per pod: no ``hostNetwork`` / ``hostPID`` / ``hostIPC``; per container
(init and ephemeral containers included), with the pod-level ``securityContext`` as the default:

- ``runAsNonRoot: true`` and no ``runAsUser: 0``;
- ``allowPrivilegeEscalation: false`` and not ``privileged``;
- ``capabilities.drop`` contains ``ALL``;
- ``seccompProfile.type`` ``RuntimeDefault`` or ``Localhost``;
- ``resources.limits.memory`` and ``resources.requests.cpu`` set (a CPU *limit* is not required:
  it only throttles an otherwise idle node);
- ``readOnlyRootFilesystem: true``.

A deliberate exception names the workload (``<namespace>/<name>``, shell-style pattern), the
container (pattern), the checks it waives and the reason, in the policy config's
``exceptions``. A pod spec whose values are unknown at preview, a Helm release's rendered pods
and custom kinds the pack does not know are "cannot judge".
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

from aiplat.policies import _kinds
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged, stops_at
from aiplat.policies._props import UNKNOWN, elements, get, path_str
from aiplat.policies._schema import schema

NAME = "workload-hardening"
CHECKS = ("runAsNonRoot", "allowPrivilegeEscalation", "privileged", "capabilities", "seccompProfile",
          "resources", "readOnlyRootFilesystem", "hostNamespaces")


def coverage(resource_type: str) -> Coverage:
    if (why := _kinds.trivial(resource_type)) is not None:
        return Coverage.not_applicable(why)
    if resource_type in _kinds.HELM_TYPES:
        return Coverage.judged()  # by its pin and its pod-setting values (validate_release)
    if resource_type in _kinds.KNOWN_CUSTOM:
        return Coverage.not_applicable(f"{_kinds.KNOWN_CUSTOM[resource_type]}: runs no pod")
    if resource_type in _kinds.JSON_CONTAINERS:
        return Coverage.cannot_judge(f"its containers are inside the JSON string "
                                     f"{_kinds.JSON_CONTAINERS[resource_type]}")
    s = schema(resource_type)
    if s is None:
        return Coverage.cannot_judge("no provider schema is known for the type, so whether it runs pods is unknown")
    if resource_type.startswith("kubernetes:"):
        if pod_spec_paths(resource_type):
            return Coverage.judged()
        return Coverage.not_applicable("the provider schema has no pod spec")
    if any(any("container" in step.lower() for step in p) for p in s.paths if p[-1] in ("image", "imageUri")):
        return Coverage.cannot_judge("it runs containers, and this policy reads Kubernetes pod specs only")
    return Coverage.not_applicable("the provider schema has no container or pod input")


def pod_spec_paths(resource_type: str) -> list[tuple[str, ...]]:
    """Where a Kubernetes kind carries its pod spec: the parents of its ``containers`` inputs."""
    s = schema(resource_type)
    if s is None:
        return []
    return sorted({p[:-1] for p in s.paths if p[-1] == "containers" and "securityContext" in
                   {q[len(p)] for q in s.paths if q[:len(p)] == p and len(q) > len(p)}}, key=len)


def _exceptions(config: dict, workload: str, container: str) -> dict[str, str]:
    out = {}
    for e in config.get("exceptions", []):
        if fnmatch.fnmatchcase(workload, e["workload"]) and fnmatch.fnmatchcase(container, e.get("container", "*")):
            for check in e["checks"]:
                out.setdefault(check, e["reason"])
    return out


def _sc(pod_sc: Any, c_sc: Any, key: str, *rest: str) -> Any:
    """A container's effective securityContext value: its own, else the pod's (where the pod has it)."""
    own = get(c_sc, key, *rest)
    if own is not None:
        return own
    return get(pod_sc, key, *rest)


def container_problems(spec: Any, c: Any) -> dict[str, str]:
    pod_sc = get(spec, "securityContext", default={})
    c_sc = get(c, "securityContext", default={})
    out: dict[str, str] = {}
    non_root, user = _sc(pod_sc, c_sc, "runAsNonRoot"), _sc(pod_sc, c_sc, "runAsUser")
    if non_root is UNKNOWN or user is UNKNOWN:
        out["runAsNonRoot"] = "cannot judge: runAsNonRoot/runAsUser is unknown at preview"
    elif non_root is not True or user == 0:
        out["runAsNonRoot"] = "set securityContext.runAsNonRoot=true (and a non-zero runAsUser)"
    if get(c_sc, "allowPrivilegeEscalation") is not False:
        out["allowPrivilegeEscalation"] = "set securityContext.allowPrivilegeEscalation=false"
    if get(c_sc, "privileged") not in (None, False):
        out["privileged"] = "privileged container; remove securityContext.privileged"
    drops = get(c_sc, "capabilities", "drop", default=[])
    if drops is UNKNOWN or "ALL" not in list(elements(drops)):
        out["capabilities"] = "drop every capability: securityContext.capabilities.drop=['ALL']"
    seccomp = _sc(pod_sc, c_sc, "seccompProfile", "type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out["seccompProfile"] = "set securityContext.seccompProfile.type=RuntimeDefault (pod or container)"
    memory, cpu = get(c, "resources", "limits", "memory"), get(c, "resources", "requests", "cpu")
    if memory is None or cpu is None or UNKNOWN in (memory, cpu):
        out["resources"] = "set resources.limits.memory and resources.requests.cpu"
    if get(c_sc, "readOnlyRootFilesystem") is not True:
        out["readOnlyRootFilesystem"] = "set securityContext.readOnlyRootFilesystem=true (mount emptyDirs where " \
                                        "the image writes)"
    return out


def validate(args, report_violation) -> None:
    config = args.get_config()
    allowed = list(config.get(ALLOWED_TYPES, []))
    if stops_at(NAME, coverage(args.resource_type), args.resource_type, args.name, allowed, report_violation, None):
        return
    if args.resource_type in _kinds.HELM_TYPES:
        validate_release(args, config, allowed, report_violation)
        return
    found = [(p, get(args.props, *p)) for p in pod_spec_paths(args.resource_type)]
    found = [(p, v) for p, v in found if v is not None]
    if not found:
        return  # a kind whose schema allows a pod spec, and this object sets none
    path, spec = found[0]
    if spec is UNKNOWN:
        report_unjudged(NAME, args.resource_type, args.name, f"{path_str(path)} is unknown at preview", allowed,
                        report_violation, None)
        return
    meta = get(args.props, "metadata", default={})
    workload = f"{get(meta, 'namespace', default='default')}/{get(meta, 'name', default=args.name)}"
    head = f"{args.resource_type} {args.name} ({workload})"
    pod_waived = _exceptions(config, workload, "*")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if get(spec, key) not in (None, False) and "hostNamespaces" not in pod_waived:
            report_violation(f"{head}: {path_str(path + (key,))} shares the node's namespaces; remove it", None)
    for lst, i, c in _kinds.containers(spec):
        where = path_str(path + (lst,) + ((i,) if i >= 0 else ()))
        if c is UNKNOWN:
            report_unjudged(NAME, args.resource_type, args.name, f"{where} is unknown at preview", allowed,
                            report_violation, None)
            continue
        cname = get(c, "name", default=str(i))
        waived = _exceptions(config, workload, cname if isinstance(cname, str) else str(i))
        for check, message in container_problems(spec, c).items():
            if check not in waived:
                report_violation(f"{head}: container {cname!r} ({where}): {message}", None)


# Values that weaken a chart's pods, whatever the chart: key -> (weakening value, check).
WEAKENING = {"privileged": (True, "privileged"), "allowPrivilegeEscalation": (True, "allowPrivilegeEscalation"),
             "hostNetwork": (True, "hostNamespaces"), "hostPID": (True, "hostNamespaces"),
             "hostIPC": (True, "hostNamespaces"), "runAsNonRoot": (False, "runAsNonRoot"),
             "runAsUser": (0, "runAsNonRoot"), "readOnlyRootFilesystem": (False, "readOnlyRootFilesystem")}


def validate_release(args, config: dict, allowed: list[str], report_violation) -> None:
    """A Helm release: a chart the installers catalog knows at that version, and no value that weakens
    its pods unless ``exceptions`` names ``<namespace>/<release>`` and the check."""
    problem = _kinds.helm_pin_problem(args.props)
    if problem:
        report_unjudged(NAME, args.resource_type, args.name, problem, allowed, report_violation, None)
        return
    workload = f"{get(args.props, 'namespace', default='default')}/{get(args.props, 'name', default=args.name)}"
    waived = _exceptions(config, workload, "*")
    for path, value in _kinds.helm_values(args.props):
        key = path[-1] if path else None
        if value is UNKNOWN and (not path or key in WEAKENING):
            report_unjudged(NAME, args.resource_type, args.name, f"values {path_str(path)} are unknown at preview",
                            allowed, report_violation, None)
            continue
        weak = WEAKENING.get(key)
        if weak and value == weak[0] and type(value) is type(weak[0]) and weak[1] not in waived:
            report_violation(f"{args.resource_type} {args.name} ({workload}): values {path_str(path)}={value!r} "
                             f"weakens the chart's pods ({weak[1]}); remove it or name the exception", None)


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Every pod runs as non-root, without privilege escalation, with all capabilities dropped, "
                "seccomp, resource limits and a read-only root filesystem, except named exceptions.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "exceptions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "workload": {"type": "string", "minLength": 1,
                                     "description": "<namespace>/<name> of the object (shell-style pattern)"},
                        "container": {"type": "string", "minLength": 1, "default": "*"},
                        "checks": {"type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"type": "string", "enum": list(CHECKS)}},
                        "reason": {"type": "string", "minLength": 10},
                    },
                    "required": ["workload", "checks", "reason"],
                    "additionalProperties": False,
                },
                "default": [],
                "description": "Deliberate exceptions: which checks a workload's container skips, and why. "
                               "Default none.",
            },
            ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA,
        },
    ),
)
