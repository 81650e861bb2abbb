"""checkov, the field's own Kubernetes scanner, over every Kubernetes object of every shipped stack.

The objects are the recorded graph's (tests/golden/<stack>.json, which test_golden keeps equal to
what the program builds), written as manifests: the inputs of each ``kubernetes:<group>/<version>:<Kind>``
resource under its apiVersion and kind. Helm releases are not manifests here (their charts render
inside the provider); the policies judge them by pin and values. checkov runs from its own venv
(``make checkov-tool``; ``make test`` depends on it, so this never skips in CI). Every failed check
must be listed with its reason in tests/checkov_exceptions.yaml, and every entry there must still
match a failure.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from functools import lru_cache

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tests._project import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
EXCEPTIONS = ROOT / "tests" / "checkov_exceptions.yaml"
STACKS = sorted(p.stem for p in (ROOT / "tests" / "golden").glob("*.json"))


class _Exception(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str = Field(pattern=r"^CKV2?_K8S_\d+$")
    resources: list[str] = Field(min_length=1)
    reason: str = Field(min_length=40)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exceptions: list[_Exception]


def manifests(stack: str) -> list[dict]:
    doc = json.loads((ROOT / "tests" / "golden" / f"{stack}.json").read_text())
    out = []
    for step in doc["steps"]:
        state = step["newState"]
        kind_token = state["type"]
        if not kind_token.startswith("kubernetes:") or kind_token.startswith("kubernetes:helm.sh/") \
                or not state.get("custom", True):
            continue
        _, group_version, kind = kind_token.split(":")
        api = group_version.removeprefix("core/")
        out.append({"apiVersion": api, "kind": kind, **state["inputs"]})
    return out


@lru_cache(maxsize=1)
def _scan(directory: str) -> dict:
    assert CHECKOV.is_file(), f"{CHECKOV} missing: run `make checkov-tool` (make test does)"
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    proc = subprocess.run([str(CHECKOV), "-d", directory, "--framework", "kubernetes", "-o", "json", "--quiet",
                           "--skip-download"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return json.loads(proc.stdout)


def scan(tmp_path_factory) -> dict:
    directory = tmp_path_factory.getbasetemp() / "checkov-manifests"
    if not directory.exists():
        directory.mkdir()
        for stack in STACKS:
            (directory / f"{stack}.yaml").write_text(yaml.safe_dump_all(manifests(stack), sort_keys=False))
    return _scan(str(directory))


def test_every_stack_has_kubernetes_objects_and_checkov_reads_them_all(tmp_path_factory):
    assert STACKS == ["dev", "gcp-prod", "prod", "prod-eu", "staging"]
    for stack in STACKS:
        kinds = {m["kind"] for m in manifests(stack)}
        assert {"Deployment", "Service", "Namespace", "NetworkPolicy"} <= kinds, (stack, kinds)
    result = scan(tmp_path_factory)
    assert result["summary"]["parsing_errors"] == 0
    assert result["summary"]["passed"] > 0 and result["summary"]["resource_count"] > 0


def test_no_failed_check_that_is_not_fixed_or_listed_with_its_reason(tmp_path_factory):
    listed = _File.model_validate(yaml.safe_load(EXCEPTIONS.read_text())).exceptions
    failed = {(f["check_id"], f["resource"], f["file_path"].lstrip("/")) for f in
              scan(tmp_path_factory)["results"]["failed_checks"]}

    def covers(e: _Exception, check: str, resource: str) -> bool:
        return e.check == check and any(fnmatch.fnmatchcase(resource, pattern) for pattern in e.resources)

    unexplained = sorted(f for f in failed if not any(covers(e, f[0], f[1]) for e in listed))
    assert unexplained == [], f"checkov findings neither fixed nor in {EXCEPTIONS.name}: {unexplained}"
    stale = [(e.check, p) for e in listed for p in e.resources
             if not any(e.check == c and fnmatch.fnmatchcase(r, p) for c, r, _ in failed)]
    assert stale == [], f"entries of {EXCEPTIONS.name} that match no finding any more (remove them): {stale}"


def test_the_exceptions_never_hide_the_issue_findings_that_were_fixed(tmp_path_factory):
    """What checkov saw and the pack did not (issue 13): ESP without seccomp / with capabilities, service
    account tokens mounted, no liveness probe. Fixed in the components, so never listed."""
    listed = {e.check for e in _File.model_validate(yaml.safe_load(EXCEPTIONS.read_text())).exceptions}
    assert not listed & {"CKV_K8S_28", "CKV_K8S_29", "CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_38", "CKV_K8S_8"}
    failed = {f["check_id"] for f in scan(tmp_path_factory)["results"]["failed_checks"]}
    assert not failed & {"CKV_K8S_28", "CKV_K8S_29", "CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_38", "CKV_K8S_8"}
