"""Hostile programs: raw resources next to the platform, run through `aiplat check --program`.

Every ``tests/programs/<class>_<case>.py`` declares what the pack must say about it in a literal
``EXPECT`` dict (see tests/programs/README.md). The program runs the way a user's check runs it:
the project's stack config (optionally patched into a temporary stack file), the recording
engine, the pack in the SDK's analyzer with the stack's policy config (or the program's own),
then the verdicts of the ``--json`` document are compared with the expectation.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from aiplat.cli import main as aiplat_main
from tests._project import ROOT, stack_file_path

PROGRAMS = ROOT / "tests" / "programs"
CLASSES = ("models", "classification", "residency", "spend", "cidr", "types", "config", "scanners", "holes")
EXPECT_KEYS = {"stack", "refused", "passes", "policy_config", "platform_patch", "exit", "errors"}


def _expectation(path: Path) -> dict:
    """The module's ``EXPECT = {...}``, read without running the program."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPECT" for t in node.targets):
            expect = ast.literal_eval(node.value)
            unknown = set(expect) - EXPECT_KEYS
            assert not unknown, f"{path.name}: unknown EXPECT keys {sorted(unknown)}"
            return expect
    raise AssertionError(f"{path.name}: no EXPECT")


def _programs() -> list[Path]:
    return sorted(p for p in PROGRAMS.glob("*.py") if not p.name.startswith("_"))


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def run_program(path: Path, tmp_path: Path) -> tuple[int, dict | None, str]:
    """`aiplat check` over one program: (exit code, --json document or None, stderr)."""
    expect = _expectation(path)
    stack = expect["stack"]
    args = ["check", stack, "--program", str(path), "--json", str(tmp_path / "out.json")]
    if "platform_patch" in expect:
        doc = yaml.safe_load(stack_file_path(stack).read_text())
        doc["config"]["aiplat:platform"] = _merge(doc["config"]["aiplat:platform"], expect["platform_patch"])
        variant = tmp_path / f"Pulumi.{stack}.yaml"
        variant.write_text(yaml.safe_dump(doc, sort_keys=False))
        args += ["--stack-file", str(variant)]
    if "policy_config" in expect:
        (tmp_path / "policy.json").write_text(json.dumps(expect["policy_config"]))
        args += ["--policy-config", str(tmp_path / "policy.json")]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = aiplat_main(args)
    result = tmp_path / "out.json"
    return code, json.loads(result.read_text()) if result.is_file() else None, err.getvalue()


@pytest.mark.parametrize("path", _programs(), ids=lambda p: p.stem)
def test_program_gets_the_expected_verdicts(path: Path, tmp_path: Path) -> None:
    expect = _expectation(path)
    code, doc, err = run_program(path, tmp_path)
    if "errors" in expect:  # a stack variant the config refuses: exit 2, every key path named, nothing run
        assert code == expect.get("exit", 2), err
        assert doc is None
        for key_path in expect["errors"]:
            assert key_path in err, f"{key_path!r} not named in:\n{err}"
        return
    assert doc is not None, err
    verdicts = doc["policies"]["verdicts"]
    mandatory = [v for v in verdicts if v["enforcement_level"] == "mandatory"]
    for policy, name, text in expect.get("refused", []):
        hits = [v for v in mandatory if v["policy"] == policy and v["name"] == name and text in v["message"]]
        assert hits, (f"{path.name}: no mandatory {policy} violation on {name} containing {text!r}; "
                      f"got {[(v['policy'], v['name'], v['message']) for v in verdicts]}")
    for policy in expect.get("passes", []):
        assert not [v for v in verdicts if v["policy"] == policy], \
            f"{path.name}: {policy} reported {[(v['name'], v['message']) for v in verdicts if v['policy'] == policy]}"
    assert code == expect.get("exit", 1 if expect.get("refused") else 0), \
        f"exit {code}; mandatory: {[(v['policy'], v['name'], v['message']) for v in mandatory]}"


def test_every_class_has_refused_programs_and_a_passing_fixture() -> None:
    refused, passing = Counter(), Counter()
    for path in _programs():
        prefix = path.stem.split("_")[0]
        assert prefix in CLASSES, f"{path.name}: class prefix {prefix!r} is not one of {CLASSES}"
        expect = _expectation(path)
        if expect.get("refused") or expect.get("errors"):
            refused[prefix] += 1
        if expect.get("passes"):
            passing[prefix] += 1
    missing = [c for c in CLASSES if refused[c] < 3 or passing[c] < 1]
    assert not missing, f"classes without 3 refused programs and a passing fixture: " \
                        f"{[(c, refused[c], passing[c]) for c in missing]}"
