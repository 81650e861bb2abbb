"""Dependencies as a library declares them: ranges in pyproject.toml, exact pins in constraints.txt.

The pins are the environment these tests run in (``make setup-test`` installs with ``-c
constraints.txt``), every declared range admits its pin, and the policy pack's
requirements.txt is what pip itself resolves to this checkout with the ``[policy]`` extra.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests._env import ROOT, SELF, closure, pyproject_requires

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = {"policy", "cli", "serving", "vectors", "aws", "all", "test"}


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.+!-]+", version), f"constraints.txt: not an exact pin: {line!r}"
            out[canonicalize_name(name)] = version
    return out


def test_the_extras_are_the_ones_documented():
    assert set(PROJECT["optional-dependencies"]) == EXTRAS
    # core: only what a Pulumi program building AiPlatform imports; the tools are extras
    core = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert core == {"pulumi", "pulumi-aws", "pulumi-gcp", "pulumi-kubernetes", "pulumi-random", "pulumi-tls", "protobuf",
                    "pydantic", "pyyaml"}
    for tool in ("rich", "boto3", "tritonclient", "numpy", "pymilvus", "pulumi-policy", "jsonschema"):
        assert tool not in core, tool


def test_every_declared_range_holds_its_pin():
    pinned = pins()
    for line in pyproject_requires():
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == SELF:
            assert set(req.extras) <= EXTRAS, line
            continue
        assert req.specifier, f"{line}: give a range (the exact pin goes in constraints.txt)"
        assert not any(s.operator in ("==", "===") and "*" not in s.version for s in req.specifier), \
            f"{line}: an exact pin belongs in constraints.txt"
        assert name in pinned, f"{req.name} is declared but not pinned in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{line} excludes the pinned {pinned[name]}"


def test_constraints_pin_the_environment_under_test():
    pinned = pins()
    needed = closure(pyproject_requires(), ["test"])  # everything aiplat[test] pulls in, as installed
    unpinned = sorted(name for name in needed if name not in pinned)
    assert unpinned == [], f"installed for aiplat[test] but not pinned in constraints.txt: {unpinned}"
    drift = {name: (version, metadata.version(name)) for name, version in pinned.items()
             if _installed(name) != version}
    assert drift == {}, f"constraints.txt pin vs installed (run make setup-test): {drift}"


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_every_make_install_applies_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    assert "PIP_INSTALL := $(PIP) install -c $(CONSTRAINTS)" in makefile
    installs = [line.strip() for line in makefile.splitlines()
                if line.startswith("\t") and re.search(r"pip\b.*\binstall\b|\$\(PIP_INSTALL\)", line)]
    assert len(installs) >= 4
    for line in installs:
        if line.startswith("$(PIP_INSTALL)"):
            continue
        # the deliberate exceptions: other environments with their own pins
        assert "--target $(PERF_ANALYZER_DIR)" in line or line.startswith("$(STUB_VENV)/bin/python") or \
            line.startswith("$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install -c "
                            "$(CHECKOV_CONSTRAINTS)"), line
    for stamp in ("$(VENV)/.runtime-stamp:", "$(VENV)/.test-stamp:"):
        deps = next(line for line in makefile.splitlines() if line.startswith(stamp))
        assert "pyproject.toml" in deps and "$(CONSTRAINTS)" in deps, deps
    assert "$(PIP_INSTALL) -e '.[all]'" in makefile and "$(PIP_INSTALL) -e '.[test]'" in makefile


def test_the_policy_pack_requirements_install_this_checkout_with_the_policy_extra(tmp_path):
    """What `pulumi install` in policies/ runs (`<venv>/bin/python -m pip install -r requirements.txt`
    from the pack directory), as a dry run with no index: pip must resolve it to this checkout,
    editable, with [policy], and find everything else already installed at the pinned versions."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--dry-run", "--no-index",
         "--no-build-isolation", "--quiet", "--report", str(report), "-r", "requirements.txt"],
        cwd=ROOT / "policies", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [item] = json.loads(report.read_text())["install"]
    assert item["metadata"]["name"] == SELF and item["requested_extras"] == ["policy"]
    assert item["download_info"] == {"url": ROOT.as_uri(), "dir_info": {"editable": True}}
    lines = [line for line in (ROOT / "policies" / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == ["-c ../constraints.txt", "-e ..[policy]"]  # at the tested pins


def third_party_imports() -> dict[str, list[str]]:
    """Top-level third-party modules the package imports (anywhere, lazily too) -> where."""
    from tests.test_layout import ROOT as _root, imported_modules, python_files

    found: dict[str, list[str]] = {}
    for path in python_files("components", "policies", "serving"):
        rel = path.relative_to(_root)
        if "examples" in rel.parts:
            continue  # model code that Triton's Python backend runs, not part of the package
        for _, module in imported_modules(path):
            top = module.split(".")[0]
            if top and top not in sys.stdlib_module_names and top not in ("aiplat", "__future__"):
                found.setdefault(top, []).append(str(rel))
    return found


# Found with importlib.util.find_spec for its files, never imported: the tritonserver binary of
# nvidia-pytriton (installed --no-deps by `make triton`, its pins conflict with ours);
# aiplat.serving.triton_local says how to install it when it is absent.
LOCATED_NOT_IMPORTED = {"pytriton"}


def test_every_imported_module_is_core_or_has_its_extra_named_by_the_cli():
    """Core dependencies may be imported anywhere; an optional one must be in aiplat.cli.EXTRAS,
    whose extra installs it, so a missing extra is a message (exit 2), not a traceback."""
    from aiplat.cli import EXTRAS

    providers = metadata.packages_distributions()
    core = set(closure(pyproject_requires()))
    imports = third_party_imports()
    assert {"pulumi", "pulumi_aws", "pydantic", "yaml", "rich", "tritonclient", "boto3"} <= set(imports)
    for module, where in sorted(imports.items()):
        if module in LOCATED_NOT_IMPORTED:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported in {where[0]}) is not installed"
        if dists & core:
            assert module not in EXTRAS, f"{module} is a core dependency; drop it from aiplat.cli.EXTRAS"
            continue
        assert module in EXTRAS, f"{module} (imported in {sorted(set(where))}) is neither core nor in aiplat.cli.EXTRAS"
        extra = set(closure(pyproject_requires(), [EXTRAS[module]]))
        assert dists & extra, f"aiplat[{EXTRAS[module]}] does not install {module}"
    assert set(EXTRAS) <= set(imports), sorted(set(EXTRAS) - set(imports))
