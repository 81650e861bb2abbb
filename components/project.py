"""The Pulumi project a command works on, found the way Pulumi finds it.

``find_project()`` walks from the current directory upward to the first ``Pulumi.yaml``
(or ``Pulumi.yml``), as the Pulumi CLI and ``pulumi.automation.LocalWorkspace`` do, and
reads its ``name``, ``main`` and ``stackConfigDir`` with Pulumi's defaults: the program is
``<main>/__main__.py`` when ``main`` is a directory (default: the project directory), the
file itself when it is a file; stack files are ``<stackConfigDir>/Pulumi.<stack>.yaml``
(default: the project directory). Nothing here depends on where aiplat is installed, so
the installed ``aiplat check STACK`` checks whatever project it is run in.

A stack file is Pulumi's own; the platform lives under the config key ``aiplat:platform``,
which ``pulumi.Config("aiplat").require_object("platform")`` reads in the program, so what
is checked offline is what ``pulumi up`` deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aiplat.errors import ConfigError, Problem, UsageError

CONFIG_KEY = "aiplat:platform"
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
POLICY_CONFIG_DIR = Path("policies") / "config"


@dataclass(frozen=True)
class Project:
    """A Pulumi project on disk: where it is, what it runs, where its stacks are."""

    root: Path
    name: str
    program: Path
    stack_config_dir: Path
    runtime: str = "python"

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))

    def policy_config(self, stack: str) -> Path | None:
        """The project's ``policies/config/<stack>.json``, when it has one."""
        path = self.root / POLICY_CONFIG_DIR / f"{stack}.json"
        return path if path.is_file() else None

    def relative(self, path: Path) -> str:
        """A path as reports show it: relative to the project when inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)


def find_project(start: str | Path | None = None) -> Project:
    """The project holding ``start`` (default: the current directory), or a UsageError."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for filename in PROJECT_FILES:
            if (directory / filename).is_file():
                return load_project(directory / filename)
    raise UsageError(f"no Pulumi project here: no Pulumi.yaml in {here} or any directory above it")


def load_project(path: str | Path) -> Project:
    """Read a ``Pulumi.yaml``; every problem in it at once, with its key."""
    path = Path(path).resolve()
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"not valid YAML: {exc}")], str(path)) from None
    if not isinstance(doc, dict):
        raise ConfigError([Problem("", "must be a mapping (name, runtime, ...)")], str(path))
    root, problems = path.parent, []
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem("name", "required: the project name"))
    runtime = doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        problems.append(Problem("runtime", f"{runtime_name!r}: aiplat runs Python programs (runtime: python)"))
    program = _program(root, doc.get("main"), problems)
    config_dir = doc.get("stackConfigDir")
    if config_dir is not None and not isinstance(config_dir, str):
        problems.append(Problem("stackConfigDir", "must be a path relative to the project"))
        config_dir = None
    if problems:
        raise ConfigError(problems, str(path))
    return Project(root, name, program, (root / config_dir).resolve() if config_dir else root)


def _program(root: Path, main: Any, problems: list[Problem]) -> Path:
    if main is not None and not isinstance(main, str):
        problems.append(Problem("main", "must be a path relative to the project"))
        return root / "__main__.py"
    target = (root / main).resolve() if main else root
    return target / "__main__.py" if target.is_dir() or not main else target


# -- stack files ----------------------------------------------------------------------
def resolve_stack_file(stack: str, stack_file: str | Path | None = None, project: Project | None = None) -> Path:
    """``--stack-file`` when given, else the project's ``Pulumi.<stack>.yaml``."""
    if stack_file is not None:
        path = Path(stack_file)
        if not path.is_file():
            raise UsageError(f"stack file not found: {path}")
        return path
    project = project or find_project()
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise UsageError(f"unknown stack {stack!r}: no {path} (stacks: {known})")
    return path


def read_stack_config(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a Pulumi stack file (namespaced keys -> values)."""
    if not path.is_file():
        raise UsageError(f"stack file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"not valid YAML: {exc}")], str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise ConfigError([Problem("config", "must be a mapping of config keys")], str(path))
    return doc.get("config") or {}


def platform_section(path: Path) -> Any:
    config = read_stack_config(path)
    if CONFIG_KEY not in config:
        raise ConfigError([Problem(CONFIG_KEY, "missing: the stack's platform config")], str(path))
    return config[CONFIG_KEY]


def load_platform_config(stack: str, stack_file: str | Path | None = None, project: Project | None = None):
    """Validated PlatformConfig for a stack; ConfigError names every bad key path."""
    from aiplat.config import PlatformConfig

    path = resolve_stack_file(stack, stack_file, project)
    try:
        return PlatformConfig.from_raw(platform_section(path))
    except ConfigError as exc:
        raise exc.with_source(str(path)) from None
