"""Bad stack files: every problem at once, each with its key path, exit 2, never a traceback.

Three layers: the rules that read several fields run although an unrelated field failed
(a table of pairs, one per rule); the two cases of issue 11 through the CLI as a user runs
it; and a Hypothesis test that mutates the shipped stacks (deleted keys, wrong types,
swapped values, unknown keys, out-of-range numbers, duplicated list items, wrong regions,
zones and instance types) and drives ``aiplat check`` in-process with each.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aiplat import cli as aiplat_cli
from aiplat.config import PlatformConfig
from aiplat.errors import ConfigError
from aiplat.project import CONFIG_KEY, platform_section
from tests._project import available_stacks, stack_file_path
from tests.test_config import _paths


def raw_of(stack: str) -> dict:
    return copy.deepcopy(platform_section(stack_file_path(stack)))


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    return [str(p) for p in exc.value.problems]


def write_stack(path: Path, stack: str, platform: object) -> Path:
    doc = yaml.safe_load(stack_file_path(stack).read_text())
    doc["config"][CONFIG_KEY] = platform
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# -- each rule runs although an unrelated field failed -------------------------------------
def _set(raw: dict, path: str, value) -> None:
    """Set ``a.b[0].c`` in raw (creating nothing: the path must exist up to its parent)."""
    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    node = raw
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


DIGEST = "sha256:" + "a" * 64
# (stack, {path: value} making a rule fail, {path: value} making an unrelated field fail,
#  the rule's problem). The field problem is asserted too: both, in one error.
RULES_NEXT_TO_FIELD_ERRORS = [
    ("dev", {"regions[0].gpu_pools[0].reserved_nodes": 9}, {"regions[0].gpu_pools[0].commitment": "5y"},
     "regions[0].gpu_pools[0].reserved_nodes: reserved_nodes 9 exceeds max_nodes"),
    ("dev", {"regions[0].gpu_pools[0].zones": ["us-east-1a", "us-east-1a"]}, {"regions[0].gpu_pools[0].max_nodes": 0},
     "regions[0].gpu_pools[0].zones: must be unique"),
    ("dev", {"regions[0].zones": ["us-east-1a", "us-east-2a"]}, {"regions[0].cidr": "8.8.0.0/16"},
     "regions[0].zones[1]: 'us-east-2a' is not a zone of us-east-1"),
    ("staging", {"regions[1].name": "us-east-1"}, {"regions[0].cidr": "8.8.0.0/16"},
     "regions[1].name: region 'us-east-1' is listed twice"),
    ("staging", {"regions[1].cidr": "10.20.0.0/17"}, {"regions[1].zones": "us-west-2a"},
     "regions[1].cidr: 10.20.0.0/17 overlaps regions[0].cidr 10.20.0.0/16"),
    ("dev", {"cluster.endpoint_public_access": True, "cluster.public_access_cidrs": []},
     {"cluster.kubernetes_version": "1.19"},
     "cluster.public_access_cidrs: required when endpoint_public_access is true"),
    ("dev", {"cluster.system_nodes": {"min_nodes": 5, "max_nodes": 2}}, {"cluster.log_retention_days": 31},
     "cluster.system_nodes: min_nodes 5 exceeds max_nodes 2"),
    ("dev", {"serving.endpoints[0].min_replicas": 3, "serving.endpoints[0].max_replicas": 2},
     {"serving.endpoints[0].image": "nvcr.io/nvidia/tritonserver:latest"},
     "serving.endpoints[0].max_replicas: 2 is below min_replicas 3"),
    ("dev", {"serving.endpoints[0].pool": "nope"}, {"tags.owner": "Not A Label"},
     "serving.endpoints[0].pool: no GPU pool 'nope' in region us-east-1 (pools there: llm)"),
    ("dev", {"serving.endpoints[0].models[0].canary": {"version": 1, "digest": DIGEST, "weight": 5}},
     {"serving.endpoints[0].models[0].digest": "sha256:short"},
     "serving.endpoints[0].models[0].canary.version: 1 is already the stable version"),
    ("dev", {"gateway.routes": [{"path": "/v2/x", "endpoint": "embed", "auth": "none"}]},
     {"gateway.domain": "Not A Host"},
     "gateway.routes[0].auth: `none` is only allowed on /health; /v2/x needs jwt"),
    ("dev", {"gateway.routes": [{"path": "/v2/x", "endpoint": "embed"}, {"path": "/v2/x", "endpoint": "embed"}]},
     {"gateway.throttle": {"rate_per_second": -1}},
     "gateway.routes[1].path: POST /v2/x is defined twice"),
    ("dev", {"gateway.routes": [{"path": "/v2/x", "endpoint": "ghost"}]}, {"serving.endpoints[0].min_replicas": 0},
     "gateway.routes[0].endpoint: no serving endpoint named 'ghost'"),
    ("gcp-prod", {"monitoring.gcp_billing_account": None}, {"monitoring.slo.latency_for": "5 minutes"},
     "monitoring.gcp_billing_account: required on gcp when monthly_budget_usd is set (the billing budget lives on it)"),
    ("dev", {"vector_store.collections": [{"name": "docs", "dimension": 8}, {"name": "docs", "dimension": 8}]},
     {"vector_store.storage_gb": 1},
     "vector_store.collections[1].name: duplicate collection name 'docs' (first at collections[0])"),
    ("dev", {"vector_store.regions": ["eu-west-1"]}, {"regions[0].gpu_pools[0].max_nodes": "many"},
     "vector_store.regions[0]: 'eu-west-1' is not a region of this stack (us-east-1); "
     "Milvus runs only next to a stack cluster"),
]


@pytest.mark.parametrize("stack, rule_edit, field_edit, expected", RULES_NEXT_TO_FIELD_ERRORS,
                         ids=[e[3].split(":")[0] for e in RULES_NEXT_TO_FIELD_ERRORS])
def test_a_rule_across_fields_runs_although_an_unrelated_field_failed(stack, rule_edit, field_edit, expected):
    raw = raw_of(stack)
    for path, value in rule_edit.items():
        _set(raw, path, value)
    alone = problems(raw)
    assert [p for p in alone if p.startswith(expected)], alone  # the rule finds it on its own
    for path, value in field_edit.items():
        _set(raw, path, value)
    got = problems(raw)
    assert [p for p in got if p.startswith(expected)], got  # ... and next to the field problem
    field_paths = {p.split(": ", 1)[0] for p in got} - {p.split(": ", 1)[0] for p in alone}
    assert any(fp.startswith(tuple(field_edit)) for fp in field_paths), got


# -- issue 11, through the CLI as a user runs it -------------------------------------------
def config_error_lines(result) -> list[str]:
    """stderr of a run that must have failed on the stack file alone: exit 2, no output, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


def test_a_field_error_does_not_hide_a_duplicate_region(cli, tmp_path):
    raw = raw_of("staging")  # us-east-1, us-west-2
    raw["regions"][0]["name"] = "eu-central-9"
    raw["regions"].append({**copy.deepcopy(raw["regions"][1]), "cidr": "10.99.0.0/16"})
    path = write_stack(tmp_path / "Pulumi.two-errors.yaml", "staging", raw)
    assert config_error_lines(cli("check", "staging", "--stack-file", str(path))) == [
        f"aiplat check: invalid configuration in {path} (3 problems):",
        "  regions[0].name: 'eu-central-9' is not an AWS region",
        "  regions[1].name: region 'us-west-2' is listed twice",
        "  regions[2].name: region 'us-west-2' is listed twice",
    ]


def test_a_route_pinned_to_a_version_nobody_serves_is_a_config_error(cli, tmp_path):
    raw = raw_of("dev")
    endpoint = raw["serving"]["endpoints"][0]
    model = endpoint["models"][0]
    assert "canary" not in model  # so v1 alone is served
    raw["gateway"]["routes"] = [
        {"path": "/health", "auth": "none"},
        {"path": f"/v2/models/{model['name']}/versions/7/infer", "endpoint": endpoint["name"],
         "model": model["name"], "version": "7"},
    ]
    path = write_stack(tmp_path / "Pulumi.pinned.yaml", "dev", raw)
    assert config_error_lines(cli("check", "dev", "--stack-file", str(path))) == [
        f"aiplat check: invalid configuration in {path} (1 problem):",
        f"  gateway.routes[1].version: no Deployment of {endpoint['name']} serves {model['name']} v7 "
        f"(served: v{model['version']})",
    ]


# -- mutated stacks through `aiplat check` ---------------------------------------------------
STACKS = sorted(available_stacks())
# Values of every shape a stack file can hold, and ones that are near a valid value.
_CATALOG_NEAR_MISSES = [
    "eu-central-9", "us-east-1", "europe-west4", "us-east-1z", "us-east-1c", "europe-west4-b", "g5.4xlage",
    "g6e.12xlarge", "p5.48xlarge", "g2-standard-8", "a3-highgpu-8g", "m6i.large", "10.0.0.0/8", "8.8.0.0/16",
    "10.10.0.0/16", "1.32", "1.19", "aws", "gcp", "prod", "eu", "us", "none", "jwt", "create", "sha256:" + "0" * 64,
]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 100_000), st.floats(-1, 1e6, allow_nan=False),
    st.sampled_from(_CATALOG_NEAR_MISSES), st.text(alphabet="abcXYZ09-_ :./", max_size=10),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                    st.dictionaries(st.sampled_from(["name", "colour", "max_nodes", "zones"]), _SCALARS, max_size=2))
_OUT_OF_RANGE = st.sampled_from([-1, 0, 10**9, 2.5, -0.5, 101, 65537, 2**31])
_UNKNOWN_KEYS = st.sampled_from(["colour", "replicas", "zone", "instance-type", "maxNodes", "regions_"])


def _get(raw, path):
    for k in path:
        raw = raw[k]
    return raw


@st.composite
def mutated_platform(draw):
    stack = draw(st.sampled_from(STACKS))
    raw = raw_of(stack)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p]  # the root itself stays a mapping
        path = draw(st.sampled_from(paths))
        parent, key = _get(raw, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "retype", "swap", "unknown", "number", "duplicate", "catalog"]))
        if op == "delete":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(_VALUES)
        elif op == "swap":
            other = draw(st.sampled_from([p for p in paths if p[:len(path)] != path and path[:len(p)] != p]
                                         or [path]))
            other_parent = _get(raw, other[:-1])
            parent[key], other_parent[other[-1]] = copy.deepcopy(other_parent[other[-1]]), copy.deepcopy(parent[key])
        elif op == "unknown":
            target = parent if isinstance(parent, dict) else _get(raw, ())
            target[draw(_UNKNOWN_KEYS)] = draw(_SCALARS)
        elif op == "number":
            parent[key] = draw(_OUT_OF_RANGE)
        elif op == "duplicate":
            node = parent[key]
            if isinstance(node, list) and node:
                node.append(copy.deepcopy(node[draw(st.integers(0, len(node) - 1))]))
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(node))
        else:
            parent[key] = draw(st.sampled_from(_CATALOG_NEAR_MISSES))
    return stack, raw


# `  <key path>: <message>`: keys and [indices] joined by dots, as ConfigError prints them.
PROBLEM_LINE = re.compile(r"^  [A-Za-z_][\w:-]*(\[\d+\])*(\.[\w:./-]+(\[\d+\])*)*: \S")


def run_check(stack: str, path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = aiplat_cli.main(["check", stack, "--stack-file", str(path)])
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_platform(), skip_program=st.integers(0, 5))
def test_mutated_stacks_exit_2_with_key_paths_or_check_clean(case, skip_program, tmp_path_factory):
    stack, raw = case
    path = write_stack(tmp_path_factory.mktemp("mutated") / f"Pulumi.{stack}.yaml", stack, raw)
    try:
        PlatformConfig.from_raw(raw)
        valid = True
    except ConfigError:
        valid = False
    event("valid" if valid else "invalid")
    if valid and skip_program:  # the program takes seconds: one in six valid mutations runs it
        return
    rc, out, err = run_check(stack, path)  # any exception other than SystemExit fails the test
    if not valid:
        assert rc == 2, err
        assert out == ""
        head, *lines = err.splitlines()
        assert head.startswith(f"aiplat check: invalid configuration in {path} (") and lines, err
        assert all(PROBLEM_LINE.match(line) for line in lines), err
    else:
        event("program run")
        assert rc in (0, 1), err  # a clean check or a policy finding, never a crash
        assert "Traceback" not in err
