"""Stack files -> PlatformConfig.

A stack file is Pulumi's own ``stacks/Pulumi.<stack>.yaml``; the platform lives under
the config key ``aiplat:platform``. ``aiplat check`` and the Pulumi program read the
same key, so what is checked offline is what ``pulumi up`` deploys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiplat.errors import ConfigError, Problem, UsageError

PROJECT_DIR = Path(__file__).resolve().parents[1]
CONFIG_KEY = "aiplat:platform"


def stack_file_path(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / "stacks" / f"Pulumi.{stack}.yaml"


def available_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (project_dir / "stacks").glob("Pulumi.*.yaml"))


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


def resolve_stack_file(stack: str, stack_file: str | Path | None = None) -> Path:
    if stack_file is not None:
        return Path(stack_file)
    path = stack_file_path(stack)
    if not path.is_file():
        known = ", ".join(available_stacks()) or "none"
        raise UsageError(f"unknown stack {stack!r}: no {path} (stacks: {known})")
    return path


def load_platform_config(stack: str, stack_file: str | Path | None = None):
    """Validated PlatformConfig for a stack; ConfigError names every bad key path."""
    from aiplat.config import PlatformConfig

    path = resolve_stack_file(stack, stack_file)
    try:
        return PlatformConfig.from_raw(platform_section(path))
    except ConfigError as exc:
        raise exc.with_source(str(path)) from None
