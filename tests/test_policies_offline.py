"""The offline runner: the CLI's config handling, and the SDK analyzer delivering props the
way the engine does (camelCase, floats, unknown-checking proxy)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy,
                           StackValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

import aiplat.policies as policies
from aiplat.errors import ConfigError, UsageError
from aiplat.cli.check import cost_table, verdict_table
from aiplat.policies import offline
from tests.policy_steps import approved_catalog, eu_config, good_aws_eu, write_config
from tests._project import policy_config_path

NAMES = ["model-approval", "data-residency", "spend-cap", "security-baseline", "required-tags", "supply-chain",
         "transport-tls", "access-logs", "workload-hardening"]


def test_pack_policies_have_stable_names_descriptions_and_defaults():
    assert [p.name for p in policies.ALL_POLICIES] == NAMES
    for p in policies.ALL_POLICIES:
        assert p.description and "\n" not in p.description
        assert p.config_schema is not None
        # a property is required (no default), has a default, or says why it has none (an optional
        # property that can only make the policy stricter, e.g. model-approval.dataClassification)
        required = set(p.config_schema.required or [])
        assert all("default" in spec or key in required or "No default" in spec.get("description", "")
                   for key, spec in p.config_schema.properties.items()), p.name
    levels = {p.name: p.enforcement_level for p in policies.ALL_POLICIES}
    assert levels["model-approval"] == levels["data-residency"] == levels["spend-cap"] == EnforcementLevel.MANDATORY
    assert isinstance(policies.spend_cap.POLICY, StackValidationPolicy)


def test_main_is_thin_and_only_place_that_builds_the_pack():
    """Read, not imported: constructing PolicyPack starts a gRPC server and blocks."""
    root = Path(policies.__file__).parent
    tree = ast.parse((root / "__main__.py").read_text())
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert calls.count("PolicyPack") == 1
    kwargs = {k.arg: k.value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") ==
              "PolicyPack" for k in n.keywords}
    assert ast.literal_eval(kwargs["name"]) == "aiplat" and kwargs["policies"].id == "ALL_POLICIES"
    for module in root.glob("*.py"):
        if module.name != "__main__.py":
            assert "PolicyPack(" not in module.read_text(), module
    # requirements.txt is resolved by pip itself in tests/test_dependencies.py
    assert "name: python" in (root / "PulumiPolicy.yaml").read_text()


def test_every_stack_has_a_policy_config_in_cli_format(stacks):
    for stack in stacks:
        path = policy_config_path(stack)
        assert path.is_file(), f"missing {path}"
        doc = json.loads(path.read_text())
        assert doc["all"]["enforcementLevel"] in offline.LEVELS
        config = offline.load_config(policy_config_path(stack))
        assert set(config) == set(NAMES)
        for name in ("model-approval", "data-residency", "spend-cap"):
            assert config[name].enforcement_level == "mandatory", (stack, name)


def _probe_pack(*policies_):
    return offline.make_servicer(list(policies_)).GetAnalyzerInfo(None, None)


def _noop(args, report):
    return None


PROBES = [
    StackValidationPolicy("limits", "limits", validate=_noop, enforcement_level=EnforcementLevel.MANDATORY,
                          config_schema=PolicyConfigSchema({
                              "cap": {"type": "number", "exclusiveMinimum": 0},
                              "gpus": {"type": "integer", "minimum": 0, "default": 16},
                              "term": {"type": "string", "enum": ["1y", "3y"], "default": "1y"}},
                              required=["cap"])),
    ResourceValidationPolicy("labels", "labels", validate=_noop,
                             config_schema=PolicyConfigSchema({"keys": {"type": "array", "default": ["owner"]}})),
]


def test_config_defaults_all_and_overrides():
    """The CLI's reconciliation, on probe policies (the pack's own schemas belong to the policies)."""
    info = _probe_pack(*PROBES)
    config = offline.reconcile(info, offline.parse_config({"all": "disabled", "limits": {
        "enforcementLevel": "mandatory", "cap": 100, "gpus": 4}}))
    assert config["limits"] == offline.PolicyConfig("mandatory", {"cap": 100, "gpus": 4, "term": "1y"})
    assert config["labels"] == offline.PolicyConfig("disabled", {"keys": ["owner"]})
    # without "all", each policy keeps its own level (labels: the pack's advisory)
    config = offline.reconcile(info, offline.parse_config({"limits": {"cap": 1}}))
    assert (config["labels"].enforcement_level, config["limits"].enforcement_level) == ("advisory", "mandatory")


def test_an_empty_file_is_an_empty_config(tmp_path):
    (tmp_path / "blank.json").write_text("  \n")
    assert offline.parse_config_file(tmp_path / "blank.json") == {}  # the CLI accepts an empty file


def _prod_with(doc: dict) -> dict:
    """The shipped prod policy config with ``doc`` merged in per policy, so only ``doc`` is wrong."""
    base = json.loads(policy_config_path("prod").read_text())
    for key, value in doc.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


@pytest.mark.parametrize("doc,path,message", [
    ({"spend-cap": {"maxMonthlyUsd": "lots"}}, "spend-cap.maxMonthlyUsd", "'lots' is not of type 'number'"),
    ({"data-residency": {"residencyZone": "mars"}}, "data-residency.residencyZone", "'mars' is not one of"),
    ({"required-tags": {"requiredTags": []}}, "required-tags.requiredTags", "should be non-empty"),
    ({"spend-cap": {"enforcementLevel": "strict"}}, "spend-cap.enforcementLevel", "'strict' is not a valid"),
    ({"all": "blocking"}, "all", "'blocking' is not a valid enforcement level"),
    ({"spend-caps": {"maxGpus": 1}}, "spend-caps", "no policy named 'spend-caps'"),
    ({"spend-cap": 3}, "spend-cap", "must be a string or object"),
    # typos are errors, never the permissive default they were meant to replace
    ({"data-residency": {"residencyzone": "eu"}}, "data-residency.residencyzone",
     "unknown property; did you mean 'residencyZone'?"),
    ({"spend-cap": {"maxMonthlyUSD": 5000}}, "spend-cap.maxMonthlyUSD", "unknown property; did you mean 'maxMonthlyUsd'?"),
    ({"all": {"enforcementLevel": "mandatory", "maxGpus": 4}}, "all.maxGpus", "'all' takes only enforcementLevel"),
])
def test_bad_config_is_one_config_error_naming_the_key(tmp_path, doc, path, message):
    with pytest.raises(ConfigError) as err:
        offline.load_config(write_config(tmp_path, _prod_with(doc)))
    assert [p.path for p in err.value.problems] == [path]
    assert message in err.value.problems[0].message
    assert err.value.exit_code == 2


def test_every_problem_at_once_and_a_required_property_has_no_default():
    info = _probe_pack(*PROBES)
    with pytest.raises(ConfigError) as err:
        offline.reconcile(info, offline.parse_config({"limits": {"gpus": -1, "Term": "1y"}, "labels": {"kyes": []}}))
    assert [(p.path, p.message.split(";")[0].split(" (")[0]) for p in err.value.problems] == [
        ("labels.kyes", "unknown property"),
        ("limits.Term", "unknown property"),
        ("limits.cap", "required property missing"),
        ("limits.gpus", "-1 is less than the minimum of 0"),
    ]
    assert "did you mean 'keys'?" in err.value.problems[0].message
    assert "did you mean 'term'?" in err.value.problems[1].message
    # an empty config: the required property is missing (no default stands in for it)
    with pytest.raises(ConfigError, match="limits.cap: required property missing"):
        offline.reconcile(info, {})


def test_the_cli_lets_unknown_properties_through_so_the_pack_refuses_them(tmp_path):
    """Under the real CLI (strict=False reproduces its reconciliation: no additionalProperties), a
    typo reaches the pack; every policy of ALL_POLICIES refuses it itself, as a violation at its level."""
    doc = offline.parse_config(json.loads(eu_config(tmp_path).read_text()))
    doc["data-residency"]["properties"]["residencyzone"] = "us"  # a typo next to the real key
    doc["required-tags"]["properties"]["requiredtags"] = ["owner"]  # and one next to requiredTags
    servicer = offline.make_servicer()
    info = servicer.GetAnalyzerInfo(None, None)
    with pytest.raises(ConfigError):
        offline.reconcile(info, doc)  # aiplat check: exit 2
    config = offline.reconcile(info, doc, strict=False)  # the CLI: accepted
    steps = good_aws_eu().steps
    verdicts = offline.run_analyzer(lambda m, r: getattr(servicer, m)(r, None), steps, "x", config)
    residency = [v for v in verdicts if v.policy == "data-residency"]
    assert [(v.enforcement_level, v.name) for v in residency] == [("mandatory", "")]  # the stack, judged no further
    assert residency[0].message.startswith("policy config refused (data-residency.residencyzone: unknown property; "
                                           "did you mean 'residencyZone'?")
    assert residency[0].message.endswith("the stack not judged: fix the policy config")
    tags = [v for v in verdicts if v.policy == "required-tags"]
    live = [s["newState"] for s in steps if s.get("op", "create") != "delete"]
    assert sorted(v.name for v in tags) == sorted(s["urn"].split("::")[-1] for s in live)  # every resource
    assert all(v.mandatory and "required-tags.requiredtags: unknown property" in v.message for v in tags)
    # the same config without the typos: no config verdicts
    clean = offline.reconcile(info, offline.parse_config(json.loads(eu_config(tmp_path).read_text())))
    again = offline.run_analyzer(lambda m, r: getattr(servicer, m)(r, None), steps, "x", clean)
    assert not [v for v in again if "policy config refused" in v.message]


def test_the_pack_refuses_a_missing_required_property_and_bad_values_itself():
    from aiplat.policies._config import strict

    judged = []

    def limits(args, report):
        judged.append(dict(args.get_config()))

    probe = strict(StackValidationPolicy("limits", "limits", validate=limits, enforcement_level=EnforcementLevel.MANDATORY,
                                         config_schema=PROBES[0].config_schema))
    assert strict(probe) is probe and probe.inner.name == "limits"
    servicer = offline.make_servicer([probe])
    call = lambda m, r: getattr(servicer, m)(r, None)  # noqa: E731
    steps = good_aws_eu().steps
    for props, text in [({}, "limits.cap: required property missing"),
                        ({"cap": 10, "gpus": 2.5}, "limits.gpus: 2.5 is not of type 'integer'")]:
        verdicts = offline.run_analyzer(call, steps, "x", {"limits": offline.PolicyConfig("mandatory", props)})
        assert [(v.policy, v.enforcement_level) for v in verdicts] == [("limits", "mandatory")]
        assert text in verdicts[0].message
    assert judged == []  # never judged with a config it does not understand
    verdicts = offline.run_analyzer(call, steps, "x", {"limits": offline.PolicyConfig("mandatory", {"cap": 10, "gpus": 2})})
    assert verdicts == [] and judged == [{"cap": 10.0, "gpus": 2.0}]


def test_missing_config_and_bad_json(tmp_path):
    with pytest.raises(UsageError, match="policy config not found"):
        offline.evaluate([], "nosuchstack", tmp_path / "nosuchstack.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        offline.load_config(tmp_path / "bad.json")


def test_malformed_steps_are_a_usage_error(tmp_path):
    cfg = eu_config(tmp_path)
    with pytest.raises(UsageError, match="step 0 .* has no newState"):
        offline.evaluate([{"op": "create", "urn": "u"}], "x", cfg)
    assert offline.evaluate([{"op": "delete", "urn": "u", "oldState": {}}], "x", cfg).verdicts == []


def test_props_arrive_as_the_engine_delivers_them(tmp_path):
    """A probe policy sees camelCase keys, floats, a provider with its inputs, and the proxy."""
    seen = {}

    def probe(args, report):
        if args.resource_type != "aws:eks/nodeGroup:NodeGroup" or args.name != "gpu-burst":
            return
        seen["maxSize"] = args.props["scalingConfig"]["maxSize"]
        seen["region"] = args.provider.props["region"]
        seen["provider_type"] = args.provider.resource_type
        seen["config"] = dict(args.get_config())
        try:
            args.props["clusterName"]
        except UnknownValueError as exc:
            seen["unknown"] = exc.message
        report("probe", None)

    def stack_probe(args, report):
        group = next(r for r in args.resources if r.name == "gpu-reserved")
        seen["stack_deps"] = sorted(d.name for d in group.property_dependencies["launchTemplate"])
        seen["parent"] = group.parent.resource_type

    policies_ = [
        ResourceValidationPolicy("probe", "probe", validate=probe, enforcement_level=EnforcementLevel.MANDATORY,
                                 config_schema=PolicyConfigSchema({"limit": {"type": "integer", "default": 3}})),
        StackValidationPolicy("stack-probe", "stack probe", validate=stack_probe),
    ]
    report = offline.evaluate(good_aws_eu().steps, "x", write_config(tmp_path, {}), policies=policies_)
    assert seen["maxSize"] == 4.0 and isinstance(seen["maxSize"], float)
    assert (seen["region"], seen["provider_type"]) == ("eu-central-1", "pulumi:providers:aws")
    assert seen["config"] == {"limit": 3.0}
    assert seen["unknown"] == "string value at .clusterName can't be known during preview"
    assert seen["stack_deps"] == ["gpu-reserved-lt"] and seen["parent"] == "pulumi:pulumi:Stack"
    assert [(v.policy, v.name, v.type, v.message) for v in report.verdicts] == [
        ("probe", "gpu-burst", "aws:eks/nodeGroup:NodeGroup", "probe")]


def test_policy_reading_an_unknown_becomes_advisory_like_the_engine(tmp_path):
    def strict(args, report):
        if args.resource_type == "aws:ec2/subnet:Subnet":
            args.props["vpcId"]  # unknown during preview: the SDK turns this into an advisory

    pol = [ResourceValidationPolicy("strict", "strict", validate=strict, enforcement_level=EnforcementLevel.MANDATORY)]
    report = offline.evaluate(good_aws_eu().steps, "x", write_config(tmp_path, {}), policies=pol)
    assert [(v.enforcement_level, v.name) for v in report.verdicts] == [("advisory", "private-a")]
    assert "can't run policy 'strict' from policy pack 'aiplat@v0.1.0' during preview" in report.verdicts[0].message
    assert report.exit_code == 0


def test_report_json_and_table(tmp_path):
    (tmp_path / "a.yaml").write_text(approved_catalog(expires="2020-01-01"))
    cfg = eu_config(tmp_path, tmp_path / "a.yaml")
    report = offline.evaluate(good_aws_eu().steps, "fixture", cfg)
    doc = report.to_json()
    assert doc["stack"] == "fixture" and doc["mandatory_violations"] == 1
    assert doc["policies"]["model-approval"] == {"enforcementLevel": "mandatory", "violations": 1}
    assert doc["verdicts"][0]["policy"] == "model-approval" and doc["verdicts"][0]["name"] == "triton"
    assert set(doc["verdicts"][0]) == {"policy", "enforcement_level", "urn", "type", "name", "message"}
    json.dumps(doc)
    from rich.console import Console
    console = Console(record=True, width=200)
    console.print(verdict_table(report))
    assert "model-approval" in console.export_text()


def test_analyzer_info_is_what_the_cli_would_read():
    info = offline.make_servicer().GetAnalyzerInfo(None, None)
    assert info.name == "aiplat" and info.version == offline.pack_version() == "0.1.0"
    assert [p.name for p in info.policies] == NAMES


def test_ci_workflow_previews_every_stack_with_its_policy_config(stacks):
    import yaml

    doc = yaml.safe_load((Path(policies.__file__).parents[1] / ".github/workflows/policy.yml").read_text())
    job = doc["jobs"]["preview"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == sorted(stacks)
    run = "\n".join(step.get("run", "") for step in job["steps"])
    assert '--policy-pack policies' in run and '--policy-pack-config "policies/config/$STACK.json"' in run
    assert 'aiplat check "$STACK"' in run
