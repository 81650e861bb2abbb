"""aiplat as a user gets it: the built wheel, installed in fresh virtualenvs outside the repo.

The wheel is built from a plain copy of this checkout (its tracked and new files, no .venv)
with the pinned build backend, and installed with ``pip --no-deps`` into virtualenvs that
see exactly the dependencies the wheel declares for the extras in question, taken from the
project's environment (``tests/_env.py``: a symlink view holding only those distributions;
never this repo's editable install). Every run asserts where ``aiplat`` was imported from.

Then, as a user would: aiplat next to the user's own ``components`` package with only the
core dependencies; the installed ``aiplat check`` in a copy of this repo (root and a
subdirectory), in a user project of its own, and with ``--program``; and the policy pack
started the way the Pulumi CLI starts a Python pack, answering over gRPC.
"""

from __future__ import annotations

import email.parser
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tomllib
import zipfile
from functools import cached_property
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from aiplat.cli.check import golden_document
from aiplat.policies import offline
from tests._env import ROOT, clean_env, closure, make_venv, pip_into, pyproject_requires, site_view
from tests._project import PROJECT, policy_config_path, stack_file_path
from tests.conftest import build_example_repository, recorded

pytestmark = pytest.mark.slow

USER_PROJECT = "acme-infra"
USER_TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410"}


def plain_copy(dest: Path) -> Path:
    """This checkout as a fresh clone would have it: tracked and new (not ignored) files only."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True) if shutil.which("git") else None
    if listed is None or listed.returncode != 0:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".venv*", ".git", "__pycache__", "*.egg-info", "build", ".triton", ".hypothesis", ".pytest_cache"))
        return dest
    for rel in filter(None, listed.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


class Installed:
    """The wheel and the virtualenvs it is installed in, built once for this module."""

    def __init__(self, work: Path):
        self.work = work
        self.home = work / "home"
        self.home.mkdir()
        self.checkout = plain_copy(work / "checkout")
        build_example_repository(self.checkout)  # `make models`, as on a fresh clone before `aiplat check`
        self._venvs: dict[tuple[str, ...], Path] = {}

    @cached_property
    def wheel(self) -> Path:
        src = plain_copy(self.work / "src")  # built in its own copy: the build leaves build/ behind
        out = self.work / "dist"
        result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps",
                                 "--no-build-isolation", "--no-index", "-q", "-w", str(out), str(src)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        [wheel] = out.glob("aiplat-*.whl")
        return wheel

    @cached_property
    def requires(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as zf:
            [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
            meta = email.parser.Parser().parsestr(zf.read(name).decode())
        return meta.get_all("Requires-Dist") or []

    def venv(self, *extras: str) -> Path:
        """A fresh virtualenv with the wheel and the dependencies of ``aiplat[extras]``; its python."""
        if extras not in self._venvs:
            name = "-".join(extras) or "core"
            view = site_view(self.work / f"deps-{name}", closure(self.requires, extras).values())
            python = make_venv(self.work / f"venv-{name}", view)
            result = pip_into(python, "install", "--no-deps", "--no-index", "-q", str(self.wheel))
            assert result.returncode == 0, result.stderr
            # the view holds what the wheel declares, at versions that satisfy it
            check = pip_into(python, "check")
            assert check.returncode == 0, check.stdout + check.stderr
            self._venvs[extras] = python
        return self._venvs[extras]

    def run(self, python: Path, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], cwd=cwd, env=clean_env(python.parent.parent, self.home),
                              capture_output=True, text=True, timeout=timeout)

    def aiplat(self, python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        """The installed console script, as a user types ``aiplat ...``."""
        return subprocess.run(["aiplat", *args], cwd=cwd, env=clean_env(python.parent.parent, self.home),
                              capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    try:
        setuptools = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        pytest.skip("setuptools (the build backend) is not installed: make setup-test")
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert any(Requirement(r).name == "setuptools" and Requirement(r).specifier.contains(setuptools)
               for r in backend), f"setuptools {setuptools} is not the pinned build backend {backend}"
    return Installed(tmp_path_factory.mktemp("installed"))


WHERE = ("import json, sys, importlib.metadata as m, importlib.util as u, aiplat; "
         "print(json.dumps({'aiplat': aiplat.__file__, 'pack': u.find_spec('aiplat.policies').origin, "
         "'dist': str(m.distribution('aiplat').locate_file('')), "
         "'editable': [k for k in sys.modules if 'editable' in k]}))")


def assert_imports_from(installed: Installed, python: Path) -> None:
    where = installed.run(python, "-c", WHERE, cwd=installed.home)
    assert where.returncode == 0, where.stderr
    doc = json.loads(where.stdout)
    venv = python.parent.parent
    for key in ("aiplat", "pack", "dist"):
        assert Path(doc[key]).is_relative_to(venv), (key, doc[key])
    assert doc["editable"] == []


# -- the wheel ----------------------------------------------------------------------------------
def test_wheel_holds_only_the_aiplat_package_with_its_data(installed):
    with zipfile.ZipFile(installed.wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert {n.split("/")[0] for n in names} == {"aiplat", installed.wheel.name.split("-py3")[0] + ".dist-info"}
    folders = {"components": "aiplat", "policies": "aiplat/policies", "serving": "aiplat/serving"}
    expected = set()
    for folder, prefix in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            for module in init.parent.glob("*.py"):
                expected.add(f"{prefix}/{module.relative_to(ROOT / folder).as_posix()}")
    assert {n for n in names if n.endswith(".py")} == expected
    data = {f"aiplat/catalog/{p.name}" for p in (ROOT / "components" / "catalog").glob("*.yaml")}
    data |= {f"aiplat/policies/{p.relative_to(ROOT / 'policies').as_posix()}"
             for pattern in ("*.yaml", "config/*.json", "requirements.txt") for p in (ROOT / "policies").glob(pattern)}
    assert "aiplat/policies/PulumiPolicy.yaml" in data and "aiplat/catalog/gpu_instances.yaml" in data
    assert data <= names, sorted(data - names)
    assert "aiplat = aiplat.cli:main" in entry_points
    # the wheel declares what pyproject.toml says
    assert {str(Requirement(r)) for r in installed.requires} == {str(Requirement(r)) for r in pyproject_requires()}


# -- (a) next to a user package named components, with only the core dependencies ---------------
def step_named(steps: list[dict], type_: str, name: str) -> dict:
    [step] = [s for s in steps if s["newState"]["type"] == type_ and s["urn"].endswith(f"::{name}")]
    return step


STACK_URN = f"urn:pulumi:dev::{USER_PROJECT}::pulumi:pulumi:Stack::{USER_PROJECT}-dev"


def write_user_project(root: Path) -> Path:
    """A Pulumi project of a user's own: its name, a stackConfigDir, its own components package."""
    (root / "components").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": USER_PROJECT, "description": "ACME inference, built on aiplat",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}},
        "stackConfigDir": "deploy/stacks"}))
    stacks = root / "deploy" / "stacks"
    stacks.mkdir(parents=True)
    shutil.copy(stack_file_path("dev"), stacks / "Pulumi.dev.yaml")
    # its own policy config, where aiplat check looks for one: policies/config/<stack>.json
    (root / "policies" / "config").mkdir(parents=True)
    shutil.copy(policy_config_path("dev"), root / "policies" / "config" / "dev.json")
    build_example_repository(root)  # its model repository, where the dev stack's serving.model_repository says
    (root / "components" / "__init__.py").write_text('"""ACME\'s own components."""\n')
    (root / "components" / "platform.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\n\n"
        f"TAGS = {USER_TAGS!r}\n\n\n"
        "def artifact_bucket(name):\n"
        "    return aws.s3.Bucket(name, tags=TAGS, opts=pulumi.ResourceOptions(protect=True))\n")
    (root / "__main__.py").write_text(
        "import pulumi\n\n"
        "from aiplat import AiPlatform, PlatformConfig\n"
        "from components.platform import artifact_bucket\n\n"
        "config = PlatformConfig.from_raw(pulumi.Config('aiplat').require_object('platform'))\n"
        "platform = AiPlatform('acme', config)\n"
        "pulumi.export('artifacts', artifact_bucket('acme-artifacts').bucket)\n")
    (root / "scratch.py").write_text(
        "import pulumi\n\n"
        "from aiplat import PlatformConfig\n"
        "from components.platform import artifact_bucket\n\n"
        "config = PlatformConfig.from_raw(pulumi.Config('aiplat').require_object('platform'))\n"
        "artifact_bucket(f'{config.environment}-scratch')\n")
    return root


@pytest.fixture(scope="module")
def user_project(installed) -> Path:
    return write_user_project(installed.work / "acme")


RECORD = """
import json, sys
import aiplat, components, components.platform
from aiplat.project import find_project, read_stack_config
from aiplat.testing import run_stack

project = find_project()
rec = run_stack("dev", read_stack_config(project.stack_file("dev")), project.program, project=project.name)
tools = ("rich", "boto3", "tritonclient", "numpy", "pymilvus", "pulumi_policy", "jsonschema", "aiplat.cli")
print(json.dumps({"aiplat": aiplat.__file__, "components": components.platform.__file__,
                  "tools_loaded": sorted(m for m in sys.modules if m.startswith(tools)),
                  "steps": rec.steps()}))
"""


@pytest.fixture(scope="module")
def core_record(installed, user_project) -> dict:
    """The user's program recorded with aiplat.testing in the core-only install."""
    result = installed.run(installed.venv(), "-c", RECORD, cwd=user_project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_core_install_runs_a_user_program_next_to_its_own_components_package(installed, user_project, core_record):
    python = installed.venv()
    assert_imports_from(installed, python)
    # a plain component user's environment: no CLI, policy, serving or AWS tools in it at all
    for tool in ("rich", "pulumi_policy", "jsonschema", "boto3", "tritonclient", "numpy", "pymilvus", "pytest"):
        probe = installed.run(python, "-c", f"import {tool}", cwd=installed.home)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, tool
    doc = core_record
    assert Path(doc["aiplat"]).is_relative_to(python.parent.parent)
    assert Path(doc["components"]) == user_project / "components" / "platform.py"
    assert doc["tools_loaded"] == []
    # the user's own bucket and the platform, both top-level resources of the user's stack
    for type_, name in (("aws:s3/bucket:Bucket", "acme-artifacts"), ("aiplat:platform:AiPlatform", "acme")):
        step = step_named(doc["steps"], type_, name)
        assert step["urn"].startswith(f"urn:pulumi:dev::{USER_PROJECT}::") and step["newState"]["parent"] == STACK_URN


# -- (b) the installed aiplat check in a copy of this repo ---------------------------------------
def test_installed_check_in_a_copy_of_this_repo_from_its_root_and_a_subdirectory(installed):
    python = installed.venv("cli")
    assert_imports_from(installed, python)
    expected = golden_document(PROJECT, "dev", recorded("dev"))
    for cwd in (installed.checkout, installed.checkout / "stacks"):
        out = installed.work / f"check-{cwd.name}.json"
        result = installed.aiplat(python, "check", "dev", "--json", str(out), cwd=cwd)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert json.loads(out.read_text()) == expected, cwd


def test_installed_cli_names_the_extra_a_command_needs(installed):
    """[cli] has no Triton client, Milvus client or AWS SDK: those commands say what to install."""
    python = installed.venv("cli")
    checkout = installed.checkout
    for args, module, extra in ((("models", "digest", "serving/examples/models"), "tritonclient", "serving"),
                                (("vectors", "apply", "dev", "--uri", str(installed.work / "v.db")), "pymilvus",
                                 "vectors"),
                                (("preflight", "dev"), "boto3", "aws")):
        result = installed.aiplat(python, *args, cwd=checkout)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr == (f"aiplat {args[0]}: needs {module}, which is not installed: "
                                 f"pip install 'aiplat[{extra}]'\n")


# -- (c) and (d) a user's own project ------------------------------------------------------------
def test_installed_check_in_a_user_project_sees_the_users_own_resource(installed, user_project, core_record):
    python = installed.venv("cli")
    out = installed.work / "acme-check.json"
    result = installed.aiplat(python, "check", "dev", "--json", str(out), cwd=user_project / "deploy")
    # the pack judges the user's own bucket like ours: it writes no access logs (mandatory everywhere)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads(out.read_text())
    assert {(v["policy"], v["name"]) for v in doc["policies"]["verdicts"]
            if v["enforcement_level"] == "mandatory"} == {("access-logs", "acme-artifacts")}
    bucket = step_named(doc["steps"], "aws:s3/bucket:Bucket", "acme-artifacts")
    assert bucket["urn"].startswith(f"urn:pulumi:dev::{USER_PROJECT}::") and bucket["newState"]["parent"] == STACK_URN
    assert bucket["newState"]["inputs"]["tags"] == USER_TAGS
    assert all(s["urn"].startswith(f"urn:pulumi:dev::{USER_PROJECT}::") for s in doc["steps"])
    assert doc["policies"]["config"] == "policies/config/dev.json"  # the user project's, found from deploy/
    # the same graph the core-only install recorded with aiplat.testing
    assert doc["steps"] == core_record["steps"]


def test_installed_check_program_option_runs_another_file_with_the_same_stack(installed, user_project):
    python = installed.venv("cli")
    out = installed.work / "acme-scratch.json"
    result = installed.aiplat(python, "check", "dev", "--program", "scratch.py", "--json", str(out),
                              cwd=user_project)
    assert result.returncode == 1, result.stdout + result.stderr  # its unlogged bucket (access-logs)
    assert {(v["policy"], v["name"]) for v in json.loads(out.read_text())["policies"]["verdicts"]
            if v["enforcement_level"] == "mandatory"} == {("access-logs", "dev-scratch")}
    custom = [s for s in json.loads(out.read_text())["steps"]
              if s["newState"]["custom"] and not s["newState"]["type"].startswith("pulumi:providers:")]
    # environment: dev comes from deploy/stacks/Pulumi.dev.yaml, the program from --program
    assert [s["urn"] for s in custom] == [step_named(custom, "aws:s3/bucket:Bucket", "dev-scratch")["urn"]]
    assert custom[0]["urn"].startswith(f"urn:pulumi:dev::{USER_PROJECT}::")


# -- the policy pack, started as the Pulumi CLI starts a Python pack -----------------------------
# pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go, RunPlugin, for kind "analyzer"
# (read at v3.259.0-14-g1b59498, 2026-08-21): the toolchain's python runs
#     <virtualenv>/bin/python -u -m pulumi.policy <engine address> <policy pack directory>
# with the working directory set to the pack directory (sdk/go/common/resource/plugin/
# analyzer_plugin.go NewPolicyAnalyzer passes the engine address as the only argument).
# pulumi.policy's __main__ then runs the directory's __main__.py, whose PolicyPack prints its
# gRPC port on stdout and serves. No engine runs here: nothing in the pack dials the address.
ENGINE_ADDRESS = "127.0.0.1:1"

STRICT = {  # a config under which the prod graph has findings, per resource and for the stack
    "all": "mandatory",
    "spend-cap": {"maxGpus": 8, "maxMonthlyUsd": 1000},
    "required-tags": {"requiredTags": ["owner", "team", "cost-center", "pager"]},
    "data-residency": {"residencyZone": "eu"},
    "security-baseline": {"environment": "prod"},  # required (issue 13)
}


def start_pack(python: Path, pack: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([str(python), "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, str(pack)], cwd=pack,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=120):
        stop(proc)
        pytest.fail("the policy pack printed no port within 120 s")
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        stop(proc)
        pytest.fail(f"the policy pack did not print a port: {line!r}\n{proc.stderr.read().decode()}")
    return proc, int(line)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_policy_pack_started_as_the_cli_starts_it_gives_the_offline_verdicts(installed, tmp_path):
    import grpc
    from google.protobuf import empty_pb2, json_format
    from pulumi.runtime.proto import analyzer_pb2_grpc

    python = installed.venv("policy")  # what policies/requirements.txt installs: aiplat[policy]
    assert_imports_from(installed, python)
    pack = installed.checkout / "policies"
    steps = recorded("prod").steps()
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(STRICT))

    proc, port = start_pack(python, pack, clean_env(python.parent.parent, installed.home))
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)

        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
        local_info = offline.make_servicer().GetAnalyzerInfo(None, None)
        assert info.name == "aiplat"
        assert [json_format.MessageToDict(p) for p in info.policies] == \
            [json_format.MessageToDict(p) for p in local_info.policies]

        answered: dict[str, set[str]] = {}  # method -> policies that reported through it

        def call(method, request):
            response = getattr(stub, method)(request, timeout=300)
            answered.setdefault(method, set()).update(d.policyName for d in getattr(response, "diagnostics", []))
            return response

        findings = {}
        for config_path in (policy_config_path("prod"), strict):
            config = offline.reconcile(info, offline.parse_config_file(config_path), str(config_path))
            remote = offline.run_analyzer(call, steps, "prod", config, project=PROJECT.name)
            local = offline.evaluate(steps, "prod", config_path, project=PROJECT.name).verdicts
            as_rows = lambda verdicts: [(v.policy, v.urn, v.message, v.enforcement_level) for v in verdicts]
            assert as_rows(remote) == as_rows(local), config_path
            findings[config_path.name] = remote
        channel.close()
        assert proc.poll() is None, proc.stderr.read().decode()  # served every request, still up
    finally:
        stop(proc)

    assert findings["prod.json"] == []  # the shipped prod stack passes its own policy config
    assert set(answered) == {"Configure", "ConfigureStack", "Analyze", "AnalyzeStack"}
    # under the strict config, findings came back through both kinds of request
    # (model-approval is a stack policy now: it reads the stack's classification from every resource)
    assert {"required-tags"} <= answered["Analyze"]
    assert {"data-residency", "spend-cap"} <= answered["AnalyzeStack"]
    assert {v.enforcement_level for v in findings["strict.json"]} == {"mandatory"}
