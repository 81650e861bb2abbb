"""The stack contract stands alone: aiplat.config imports no component and no cloud SDK.

Tools, policies and users read a stack's contract without loading a Pulumi provider, and
a component can never reach back into the config's validation. Two checks: every import
statement under components/config/ (by AST, so a lazy import inside a function counts
too), and what importing ``aiplat.config`` really loads in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aiplat.config

CONFIG_DIR = Path(aiplat.config.__file__).parent
# What the contract may build on: itself, its errors, the catalog data and the shared refs.
ALLOWED_AIPLAT = ("aiplat.config", "aiplat.errors", "aiplat.catalog", "aiplat.refs")
FORBIDDEN_TOP = ("pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_random", "pulumi_policy",
                 "components", "policies", "serving")


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED_AIPLAT)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a file; ``from aiplat import x`` counts as aiplat.x."""
    package = "aiplat.config"  # every module sits directly in the package
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "aiplat":
                out += [(node.lineno, f"aiplat.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            out.append((node.lineno, "<dynamic import>"))
    return sorted(out)


def violations(path: Path) -> list[str]:
    bad = []
    for line, module in imported_modules(path):
        top = module.split(".")[0]
        if module == "<dynamic import>":
            bad.append(f"{path.name}:{line}: dynamic import (the layout rule cannot be checked)")
        elif top in FORBIDDEN_TOP or top.startswith("pulumi"):
            bad.append(f"{path.name}:{line}: imports {module}")
        elif top == "aiplat" and not _allowed(module):
            bad.append(f"{path.name}:{line}: imports {module} (a component or tool)")
    return bad


MODULES = sorted(CONFIG_DIR.rglob("*.py"))


def test_every_section_has_its_module():
    names = {p.stem for p in MODULES}
    assert {"_base", "tags", "regions", "network", "cluster", "serving", "gateway", "monitoring",
            "vector_store", "platform", "__init__"} <= names, names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_config_modules_import_no_component_and_no_cloud_sdk(path):
    assert violations(path) == []


def test_the_check_catches_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import pulumi_aws as aws\nfrom aiplat import gateway\nfrom aiplat.triton import DEFAULT_IMAGE\n"
                      "from aiplat import catalog\nfrom aiplat.errors import Problem\n"
                      "def f():\n    from aiplat.monitoring import rules\n    import importlib\n"
                      "    importlib.import_module('aiplat.gpu_pool')\n")
    assert violations(sample) == [
        "sample.py:1: imports pulumi_aws",
        "sample.py:2: imports aiplat.gateway (a component or tool)",
        "sample.py:3: imports aiplat.triton (a component or tool)",
        "sample.py:7: imports aiplat.monitoring (a component or tool)",
        "sample.py:9: dynamic import (the layout rule cannot be checked)",
    ]


def test_importing_the_config_loads_no_sdk_and_no_component():
    code = ("import json, sys; import aiplat.config; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pulumi', 'aiplat')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert not [m for m in loaded if m.startswith("pulumi")], loaded
    assert [m for m in loaded if m.startswith("aiplat.") and not _allowed(m)] == [], loaded
