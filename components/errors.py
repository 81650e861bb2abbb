"""Errors that reach a user as a message and an exit code, never as a traceback.

``ConfigError`` carries every problem found in one pass, each with its key path, so a
user fixes a stack file in one round trip. ``UsageError`` is for bad command lines and
missing files. Both map to exit code 2 in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One offending key path and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class AiplatError(Exception):
    """Base class of the errors the CLI turns into exit code 2."""

    exit_code = 2


class UsageError(AiplatError):
    """Bad command line, missing file, unknown stack."""


class ConfigError(AiplatError):
    """A stack (or spec) file with one or more problems, each with its key path."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = sorted(set(problems))
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        n = len(self.problems)
        head = f"invalid configuration{where} ({n} problem{'s' if n != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def with_source(self, source: str) -> "ConfigError":
        return ConfigError(self.problems, source)


def format_path(loc: tuple[str | int, ...]) -> str:
    """('regions', 1, 'name') -> 'regions[1].name' (pydantic locations to key paths)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
