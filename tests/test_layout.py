"""The layout by role, read from the source: one import namespace, dependencies pointing one way.

Read with ``ast``, never imported, so a lazy import inside a function or a module named in a
string (``importlib.import_module("...")``, ``python -m ...``) counts as much as a top-level
``import``. The folders components/, policies/, serving/ import as ``aiplat``,
``aiplat.policies``, ``aiplat.serving`` (pyproject ``package-dir``); their folder names are
never import names.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from pathlib import Path

import aiplat

ROOT = Path(__file__).resolve().parents[1]
# Folder -> import name, as pyproject's package-dir maps them.
PACKAGE_ROOTS = {"components": "aiplat", "policies": "aiplat.policies", "serving": "aiplat.serving"}
OLD_NAMES = frozenset(PACKAGE_ROOTS)
# Not library: the commands, the logic behind them, the recording engine.
NOT_LIBRARY = ("cli", "tools", "testing")
LIBRARY_MAY_NOT_IMPORT = ("argparse", "rich", "aiplat.cli", "aiplat.tools", "aiplat.testing", "aiplat.policies")
_SKIP_DIRS = {".git", "__pycache__", "build", "node_modules", ".triton", ".hypothesis", ".pytest_cache"}
# Calls whose first string argument is a module name.
_MODULE_CALLS = {"import_module", "__import__", "find_spec", "importorskip", "run_module"}


def python_files(*roots: str) -> list[Path]:
    out = []
    for root in roots:
        path = ROOT / root
        if path.is_file():
            out.append(path)
            continue
        for f in sorted(path.rglob("*.py")):
            rel = f.relative_to(ROOT).parts
            if not any(p in _SKIP_DIRS or p.startswith(".venv") or p.endswith(".egg-info") for p in rel):
                out.append(f)
    return out


def all_python_files() -> list[Path]:
    roots = [p.name for p in ROOT.iterdir()
             if (p.is_dir() and p.name not in _SKIP_DIRS and not p.name.startswith(".")
                 and not p.name.endswith(".egg-info")) or p.suffix == ".py"]
    return python_files(*sorted(roots))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports or names as a module: (line, dotted name)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, _resolve_relative(path, node)))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _MODULE_CALLS and node.args and _is_str(node.args[0]):
                found.append((node.lineno, node.args[0].value))
        if isinstance(node, (ast.List, ast.Tuple)):
            # ["python", "-m", "components.cli", ...]
            for a, b in zip(node.elts, node.elts[1:]):
                if _is_str(a) and a.value == "-m" and _is_str(b):
                    found.append((b.lineno, b.value))
        if _is_str(node):
            # "python -m components.cli check dev" in a shell string
            found += [(node.lineno, m) for m in re.findall(r"(?:^|\s)-m\s+([A-Za-z_][\w.]*)", node.value)]
    return found


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _resolve_relative(path: Path, node: ast.ImportFrom) -> str:
    """A relative import as its absolute aiplat name (the folder names mapped)."""
    parts = list(path.relative_to(ROOT).parts[:-1])  # the package holding the module
    parts = parts[: len(parts) - (node.level - 1)]
    if parts and parts[0] in PACKAGE_ROOTS:
        parts = PACKAGE_ROOTS[parts[0]].split(".") + parts[1:]
    return ".".join(parts + ([node.module] if node.module else []))


def names(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def library_modules() -> list[Path]:
    return [p for p in python_files("components")
            if p.relative_to(ROOT / "components").parts[0] not in NOT_LIBRARY]


# -- (a) one import namespace ----------------------------------------------------------------
def test_no_module_in_the_repo_imports_the_folder_names():
    files = all_python_files()
    assert {ROOT / "__main__.py", ROOT / "components" / "__init__.py", ROOT / "tests" / "conftest.py"} <= set(files)
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in files for line, mod in imported_modules(p)
           if mod.split(".")[0] in OLD_NAMES]
    assert bad == [], "import aiplat / aiplat.policies / aiplat.serving instead:\n" + "\n".join(bad)


def test_the_scan_sees_every_way_of_naming_a_module(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import components.config\n"
        "from policies import offline\n"
        "def f():\n"
        "    import serving.smoke\n"
        "    importlib.import_module('components.cli')\n"
        "    subprocess.run([sys.executable, '-m', 'components.cli', 'check'])\n"
        f"    os.system('python -m {'policies'}.offline')\n"  # (split so this file passes its own scan)
        "    return 'serving.endpoints[0].pool'  # a config key path, not a module\n"
    )
    found = [m for _, m in imported_modules(sample) if m.split(".")[0] in OLD_NAMES]
    assert sorted(found) == ["components.cli", "components.cli", "components.config", "policies",
                             "policies.offline", "policies.offline", "serving.smoke"]
    assert _resolve_relative(ROOT / "components" / "cli" / "check.py",
                             ast.parse("from ..errors import UsageError").body[0]) == "aiplat.errors"


def test_non_python_tools_do_not_run_the_folder_names_as_modules():
    for path in (ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "pyproject.toml",
                 ROOT / "policies" / "PulumiPolicy.yaml", ROOT / "Pulumi.yaml"):
        text = path.read_text()
        assert not re.search(r"-m\s+(components|policies|serving)\b", text), path
        assert not re.search(r"\b(import|from)\s+(components|policies|serving)\b", text), path


# -- (b) the library depends on nothing above it ---------------------------------------------
def test_the_library_imports_no_cli_tools_engine_or_pack():
    modules = library_modules()
    rel = {str(p.relative_to(ROOT)) for p in modules}
    assert {"components/__init__.py", "components/platform.py", "components/project.py"} <= rel
    assert not any(r.startswith(("components/cli/", "components/tools/", "components/testing/")) for r in rel)
    bad = []
    for path in modules:
        for line, mod in imported_modules(path):
            if any(names(mod, banned) for banned in LIBRARY_MAY_NOT_IMPORT):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
        # module names kept as data, e.g. a lazy-import table: "aiplat.cli.check"
        for node in ast.walk(ast.parse(path.read_text())):
            if _is_str(node) and re.fullmatch(r"aiplat\.(cli|tools|testing|policies)(\.\w+)*", node.value):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert bad == [], "the library (components/ outside cli/, tools/, testing/) may not import:\n" + "\n".join(bad)


# -- (c) rich belongs to the CLI --------------------------------------------------------------
def test_only_the_cli_imports_rich():
    files = python_files("components", "policies", "serving")
    users = {p.relative_to(ROOT).as_posix() for p in files for _, mod in imported_modules(p) if names(mod, "rich")}
    assert "components/cli/check.py" in users  # the scan does see rich where it is used
    assert sorted(u for u in users if not u.startswith("components/cli/")) == []


# -- (d) the public API -----------------------------------------------------------------------
COMPONENTS = ["Network", "Cluster", "GpuPool", "TritonEndpoint", "VectorStore", "ApiGateway", "Monitoring"]


def test_public_api_names_the_components_and_their_args_and_every_name_resolves():
    expected = {"AiPlatform", "PlatformConfig", *COMPONENTS, *(f"{c}Args" for c in COMPONENTS)}
    assert expected <= set(aiplat.__all__), sorted(expected - set(aiplat.__all__))
    assert len(aiplat.__all__) == len(set(aiplat.__all__))
    for name in aiplat.__all__:
        value = getattr(aiplat, name)
        if name != "__version__":
            assert value.__name__ == name and value.__module__.startswith("aiplat."), name
    for component in COMPONENTS + ["AiPlatform"]:
        cls = getattr(aiplat, component)
        assert issubclass(cls, importlib.import_module("pulumi").ComponentResource), component
    namespace: dict = {}
    exec("from aiplat import *", namespace)
    assert expected <= set(namespace)


# -- packaging: every subpackage is listed ----------------------------------------------------
def test_every_package_directory_is_listed_in_pyproject():
    """setuptools installs only the packages listed; a new subpackage left out would be missing
    from the wheel (and from editable installs) without any other test noticing."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {folder: name for name, folder in config["package-dir"].items()} == PACKAGE_ROOTS
    on_disk = set()
    for folder, name in PACKAGE_ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" not in rel.parts:
                on_disk.add(".".join([name, *rel.parts]))
    # a folder of modules without __init__.py would be skipped by setuptools silently
    for folder in PACKAGE_ROOTS:
        for module in (ROOT / folder).rglob("*.py"):
            parent = module.parent
            if "examples" in parent.relative_to(ROOT).parts:
                continue  # model code Triton loads from a repository, not importable modules
            assert (parent / "__init__.py").is_file(), f"{module.relative_to(ROOT)}: its folder has no __init__.py"
    assert set(config["packages"]) == on_disk, {"missing from pyproject": sorted(on_disk - set(config["packages"])),
                                                "listed but absent": sorted(set(config["packages"]) - on_disk)}
