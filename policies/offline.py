"""Evaluate the aiplat policy pack over a recorded graph, the way the Pulumi engine does.

No Pulumi CLI is involved, but everything after the CLI is the real thing: the policies
run inside the SDK's own analyzer servicer (``pulumi_policy.policy._PolicyAnalyzerServicer``),
which is what ``PolicyPack`` serves over gRPC. We call it in-process:

1. ``GetAnalyzerInfo``: the policies' names, enforcement levels and config schemas.
2. The CLI's config handling, reproduced (``pulumi/sdk/go/common/resource/analyzer``):
   parse the ``--policy-pack-config`` file (a value is an enforcement level string or an
   object with ``enforcementLevel`` and properties), start from each policy's level and
   schema defaults, apply ``all`` (enforcement level only) then per-policy entries, and
   validate each policy's properties with JSON Schema. Stricter than the CLI: a key naming
   no policy, a property no policy declares, properties under ``all`` are errors (the CLI
   ignores them, which hides typos; the pack refuses them itself under the CLI, see
   ``aiplat.policies._config``).
3. ``Configure`` with that config, ``ConfigureStack``, ``Analyze`` for every resource in
   registration order (inputs; provider inputs attached), ``AnalyzeStack`` once (outputs
   when the step has them, else inputs; parent, dependencies, property dependencies).

Step 3 (``run_analyzer``) talks to the analyzer through one ``call(method, request)``, so the
same requests reach the in-process servicer here and a pack process over gRPC in the tests.

Props therefore reach the policies as the engine delivers them: protobuf Structs, so
camelCase keys and numbers as floats, wrapped in the unknown-checking proxy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi_policy.policy import _PolicyAnalyzerServicer

from aiplat.errors import ConfigError, Problem, UsageError
from aiplat.policies._config import problems as config_problems

POLICIES_DIR = Path(__file__).resolve().parent
PACK_NAME = "aiplat"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_NAMES = {pb.ADVISORY: "advisory", pb.MANDATORY: "mandatory", pb.REMEDIATE: "remediate",
                pb.DISABLED: "disabled"}
_LEVEL_PB = {v: k for k, v in _LEVEL_NAMES.items()}
# Steps whose resource exists after the operation; deletes carry only oldState.
_LIVE_OPS = {"create", "same", "update", "replace", "create-replacement", "import", "import-replacement", "read",
             "refresh"}


def pack_version() -> str:
    """The version the CLI would use: PulumiPolicy.yaml's, as for any Python pack."""
    doc = yaml.safe_load((POLICIES_DIR / "PulumiPolicy.yaml").read_text()) or {}
    return str(doc.get("version", "0.0.1"))


def make_servicer(policies: list | None = None) -> _PolicyAnalyzerServicer:
    """The SDK analyzer over our policies, built exactly as ``PolicyPack`` builds it."""
    from aiplat.policies import ALL_POLICIES, PACK_ENFORCEMENT_LEVEL

    return _PolicyAnalyzerServicer(PACK_NAME, pack_version(), list(policies or ALL_POLICIES),
                                   PACK_ENFORCEMENT_LEVEL)


# ---- config: what the CLI does with --policy-pack-config ------------------------------------


@dataclass(frozen=True)
class PolicyConfig:
    enforcement_level: str
    properties: dict[str, Any]


def parse_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Parse a ``--policy-pack-config`` JSON file: {key: {"enforcementLevel"?, "properties"}}."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"policy config not found: {path}")
    text = path.read_text()
    if not text.strip():
        return {}  # the CLI accepts an empty file
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem("", f"not valid JSON: {exc}")], str(path)) from None
    return parse_config(doc, str(path))


def parse_config(doc: Any, source: str | None = None) -> dict[str, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ConfigError([Problem("", "must be a JSON object of policy names")], source)
    out, problems = {}, []
    for key, value in doc.items():
        level, props = None, {}
        if isinstance(value, str):
            level = value
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            if level is not None and not isinstance(level, str):
                problems.append(Problem(f"{key}.enforcementLevel", f"{level!r} is not a valid enforcement level; "
                                        "must be a string"))
                continue
        else:
            problems.append(Problem(key, f"{value!r} is not a valid value; must be a string or object"))
            continue
        if level is not None and level not in LEVELS:
            where = key if isinstance(value, str) else f"{key}.enforcementLevel"
            problems.append(Problem(where, f"{level!r} is not a valid enforcement level ({', '.join(LEVELS)})"))
            continue
        if level is None and not props:
            continue  # the CLI drops empty entries
        out[key] = {"enforcementLevel": level, "properties": props}
    if problems:
        raise ConfigError(problems, source)
    return out


def reconcile(info: pb.AnalyzerInfo, given: dict[str, dict[str, Any]],
              source: str | None = None, strict: bool = True) -> dict[str, PolicyConfig]:
    """Defaults from the pack's ``GetAnalyzerInfo``, then ``all``, then per-policy config;
    validated by JSON Schema.

    ``strict`` (what ``aiplat check`` runs) also refuses what the CLI lets through: a key naming
    no policy, a property a policy's schema does not declare (``residencyzone``), properties
    under ``all`` (the CLI reads only its level). ``strict=False`` is the CLI's reconciliation
    exactly; the pack's own wrapper (``aiplat.policies._config.strict``) refuses the rest there."""
    schemas, result = {}, {}
    for p in info.policies:
        schema = json_format.MessageToDict(p.configSchema, preserving_proto_field_name=True)
        props_schema = schema.get("properties", {})
        defaults = {k: v["default"] for k, v in props_schema.items() if "default" in v}
        schemas[p.name] = schema
        result[p.name] = PolicyConfig(_LEVEL_NAMES[p.enforcementLevel], defaults)

    problems = []
    if strict:
        problems += [Problem(k, f"no policy named {k!r} in pack {PACK_NAME!r} (policies: {', '.join(sorted(result))})")
                     for k in given if k != "all" and k not in result]
        problems += [Problem(f"all.{k}", "'all' takes only enforcementLevel (the CLI ignores anything else); "
                                         "set properties under the policy's own name")
                     for k in (given.get("all") or {}).get("properties", {})]
    all_level = (given.get("all") or {}).get("enforcementLevel")
    if all_level:
        result = {k: PolicyConfig(all_level, v.properties) for k, v in result.items()}
    for name, entry in given.items():
        if name == "all" or name not in result:
            continue
        level = entry["enforcementLevel"] or result[name].enforcement_level
        result[name] = PolicyConfig(level, {**result[name].properties, **entry["properties"]})

    for name, cfg in result.items():
        problems += config_problems(name, schemas[name], cfg.properties, unknown=strict)
    if problems:
        raise ConfigError(problems, source)
    return result


def configure_request(config: dict[str, PolicyConfig]) -> pb.ConfigureAnalyzerRequest:
    request = pb.ConfigureAnalyzerRequest()
    for name, cfg in config.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = _LEVEL_PB[cfg.enforcement_level]
        entry.properties.update(cfg.properties)
    return request


def load_config(config_path: str | Path, servicer: _PolicyAnalyzerServicer | None = None) -> dict[str, PolicyConfig]:
    """A ``--policy-pack-config`` file reconciled with the pack's defaults and schemas."""
    info = (servicer or make_servicer()).GetAnalyzerInfo(None, None)
    return reconcile(info, parse_config_file(config_path), str(config_path))


# ---- the graph as analyzer requests ----------------------------------------------------------


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _name_of(urn: str) -> str:
    return urn.split("::")[-1]


def _live_states(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(steps, list):
        raise UsageError("recorded graph: steps must be a list")
    states = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise UsageError(f"recorded graph: step {i} is not an object")
        if step.get("op", "create") not in _LIVE_OPS:
            continue
        state = step.get("newState")
        if not isinstance(state, dict) or not state.get("urn") or not state.get("type"):
            raise UsageError(f"recorded graph: step {i} ({step.get('urn', '?')}) has no newState with urn and type")
        states.append(state)
    return states


class _Requests:
    """Builds the analyzer's request messages from preview-shaped states."""

    def __init__(self, states: list[dict[str, Any]]):
        self.states = states
        self.by_urn = {s["urn"]: s for s in states}

    def provider(self, state: dict[str, Any]) -> pb.AnalyzerProviderResource | None:
        ref = state.get("provider") or ""
        prov = self.by_urn.get(ref.rsplit("::", 1)[0]) if ref else None
        if prov is None:
            return None
        return pb.AnalyzerProviderResource(type=prov["type"], properties=_struct(prov.get("inputs") or {}),
                                           urn=prov["urn"], name=_name_of(prov["urn"]))

    def options(self, state: dict[str, Any]) -> pb.AnalyzerResourceOptions:
        return pb.AnalyzerResourceOptions(protect=bool(state.get("protect")), parent=state.get("parent") or "")

    def analyze(self, state: dict[str, Any]) -> pb.AnalyzeRequest:
        req = pb.AnalyzeRequest(type=state["type"], properties=_struct(state.get("inputs") or {}),
                                urn=state["urn"], name=_name_of(state["urn"]), options=self.options(state))
        prov = self.provider(state)
        if prov is not None:
            req.provider.CopyFrom(prov)
        return req

    def analyze_stack(self) -> pb.AnalyzeStackRequest:
        req = pb.AnalyzeStackRequest()
        for state in self.states:
            # AnalyzeStack sees a resource's outputs; at preview they are the inputs plus
            # whatever the provider already knows.
            props = {**(state.get("inputs") or {}), **(state.get("outputs") or {})}
            r = req.resources.add(type=state["type"], properties=_struct(props), urn=state["urn"],
                                  name=_name_of(state["urn"]), options=self.options(state),
                                  parent=state.get("parent") or "", dependencies=state.get("dependencies") or [])
            for key, urns in (state.get("propertyDependencies") or {}).items():
                r.propertyDependencies[key].urns.extend(urns)
            prov = self.provider(state)
            if prov is not None:
                r.provider.CopyFrom(prov)
        return req


# ---- verdicts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    policy: str
    enforcement_level: str
    urn: str
    type: str
    name: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement_level == "mandatory"


@dataclass
class PolicyReport:
    stack: str
    config_path: str
    verdicts: list[Verdict]
    config: dict[str, PolicyConfig] = field(default_factory=dict)

    @property
    def mandatory_violations(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.mandatory]

    @property
    def advisories(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.mandatory]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory_violations else 0

    def by_policy(self, name: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.policy == name]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "config": self.config_path,
            "policies": {name: {"enforcementLevel": c.enforcement_level,
                                "violations": len(self.by_policy(name))} for name, c in self.config.items()},
            "mandatory_violations": len(self.mandatory_violations),
            "advisories": len(self.advisories),
            "verdicts": [asdict(v) for v in self.verdicts],
        }


def _verdicts(response: pb.AnalyzeResponse, requests: _Requests, default_urn: str = "") -> list[Verdict]:
    out = []
    for d in response.diagnostics:
        message = d.message
        # The SDK prefixes the policy description; keep what the policy said.
        if d.description and message.startswith(d.description):
            message = message[len(d.description):].lstrip("\n") or d.description
        urn = d.urn or default_urn
        state = requests.by_urn.get(urn, {})
        out.append(Verdict(d.policyName, _LEVEL_NAMES[d.enforcementLevel], urn, state.get("type", ""),
                           _name_of(urn) if urn else "", message))
    return out


def evaluate(steps: list[dict[str, Any]], stack: str, config_path: str | Path | None = None,
             policies: list | None = None, project: str = PACK_NAME) -> PolicyReport:
    """Run the pack over a recorded graph with a policy config file.

    ``config_path`` is a ``--policy-pack-config`` file; ``None`` runs the pack with its own
    defaults, as ``pulumi preview --policy-pack`` without a config does. A bad config
    raises ``ConfigError`` naming ``<policy>.<property>``; a missing file ``UsageError``
    (exit 2). Which file belongs to a stack is the project's business
    (``aiplat.project.Project.policy_config``), not this function's.
    """
    servicer = make_servicer(policies)
    given = parse_config_file(config_path) if config_path is not None else {}
    config = reconcile(servicer.GetAnalyzerInfo(None, None), given, str(config_path) if config_path is not None else None)
    verdicts = run_analyzer(lambda method, request: getattr(servicer, method)(request, None), steps, stack, config,
                            project)
    return PolicyReport(stack, str(config_path) if config_path is not None else "", verdicts, config)


# (method name, request) -> response: the servicer in process, or a pack's gRPC stub.
AnalyzerCall = Callable[[str, Any], Any]


def run_analyzer(call: AnalyzerCall, steps: list[dict[str, Any]], stack: str, config: dict[str, PolicyConfig],
                 project: str = PACK_NAME) -> list[Verdict]:
    """What the engine asks an analyzer during a preview, in its order, and the verdicts it got.

    ``Configure`` with ``config`` (from ``reconcile``), ``ConfigureStack``, ``Analyze`` for every
    resource that exists after its step, then ``AnalyzeStack`` once.
    """
    call("Configure", configure_request(config))
    call("ConfigureStack", pb.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True))
    requests = _Requests(_live_states(steps))
    verdicts: list[Verdict] = []
    for state in requests.states:
        verdicts += _verdicts(call("Analyze", requests.analyze(state)), requests, state["urn"])
    verdicts += _verdicts(call("AnalyzeStack", requests.analyze_stack()), requests)
    return verdicts
