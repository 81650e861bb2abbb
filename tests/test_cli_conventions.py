"""CLI conventions shared by every subcommand: ``--json [PATH|-]`` and plain-text help.

``--json`` with no value prints the JSON document on stdout, as ``pulumi preview --json``
does, and the human summary (if any) goes to stderr; ``--json -`` is the same; ``--json
PATH`` writes the file. Every subcommand that has ``--json`` is checked at parse level
(generically, so a new one is covered); those that need no server also end to end.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from aiplat.cli import build_parser
from tests._project import ROOT


def parsers(parser: argparse.ArgumentParser | None = None, path: tuple[str, ...] = ()):
    """(command path, parser) for the top level and every (nested) subcommand."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def json_commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return [(path, p) for path, p in parsers() if any("--json" in a.option_strings for a in p._actions)]


def minimal_args(parser: argparse.ArgumentParser) -> list[str]:
    """Values for the required arguments of a leaf command, so parsing gets to --json."""
    args: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
            continue
        value = str(action.choices[0]) if action.choices else ("1" if action.type is int else "x")
        if not action.option_strings and action.nargs not in ("?", "*"):
            args.append(value)
        elif action.option_strings and action.required:
            args += [action.option_strings[0], value]
    return args


def test_the_commands_with_json_are_known():
    assert {" ".join(path) for path, _ in json_commands()} >= {
        "check", "capacity", "preflight", "vectors apply", "models digest", "smoke", "loadtest"}


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in json_commands()])
def test_json_option_parses_alone_with_dash_and_with_a_path(path):
    parser = build_parser()
    command = path.split()
    sub = dict((" ".join(p), q) for p, q in parsers(parser))[path]
    base = [*command, *minimal_args(sub)]
    assert parser.parse_args(base).json_path is None
    assert parser.parse_args([*base, "--json"]).json_path == "-"
    assert parser.parse_args([*base, "--json", "-"]).json_path == "-"
    assert parser.parse_args([*base, "--json", "out/doc.json"]).json_path == "out/doc.json"
    assert callable(parser.parse_args(base).func)


def test_check_json_alone_prints_exactly_the_document_and_the_table_on_stderr(cli):
    result = cli("check", "dev", "--json")
    assert result.returncode == 0, result.stderr
    # byte for byte what `--json PATH` writes (tests/golden/dev.json is that file)
    assert result.stdout == (ROOT / "tests" / "golden" / "dev.json").read_text()
    assert json.loads(result.stdout)["stack"] == "dev"
    assert "aiplat check dev: resources by region and component" in result.stderr
    assert "PASS policies: 0 mandatory violation(s)" in result.stderr


def test_capacity_json_alone_prints_only_the_plan(cli, tmp_path):
    args = ["capacity", "--demand", str(ROOT / "examples" / "capacity" / "demand-2026.csv"),
            "--instance-type", "g6e.xlarge", "--region", "us-east-1"]
    alone = cli(*args, "--json")
    written = tmp_path / "plan.json"
    to_file = cli(*args, "--json", str(written))
    assert alone.returncode == 0 and to_file.returncode == 0, alone.stderr + to_file.stderr
    assert alone.stdout == written.read_text()
    assert json.loads(alone.stdout)["reserved_nodes"] == 4
    assert "Capacity plan" in to_file.stdout  # with a path the table still prints


def test_models_digest_json_alone_prints_only_the_digests(cli, tmp_path):
    repo = tmp_path / "repo"
    built = cli("models", "build", str(ROOT / "serving" / "examples" / "models"), str(repo))
    assert built.returncode == 0, built.stderr
    alone = cli("models", "digest", str(repo), "--json")
    written = tmp_path / "digests.json"
    to_file = cli("models", "digest", str(repo), "--json", str(written))
    assert alone.returncode == 0 and to_file.returncode == 0, alone.stderr + to_file.stderr
    assert alone.stdout == written.read_text()
    digests = json.loads(alone.stdout)
    assert set(digests) == {"linear-classifier", "text-embedder"}
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", d) for versions in digests.values() for d in versions.values())
    # the human lines went to stderr, the same lines --json PATH prints on stdout
    assert alone.stderr == to_file.stdout


# -- help reads as plain text --------------------------------------------------------------------
MARKUP = re.compile(r"``|\*\*|`[^`]+`|:(class|func|meth|mod|ref):|^\s*#+ ", re.MULTILINE)


@pytest.mark.parametrize("path", [" ".join(p) or "(top level)" for p, _ in parsers()])
def test_help_has_no_markup(path):
    helps = {(" ".join(p) or "(top level)"): q.format_help() for p, q in parsers()}
    text = helps[path]
    assert text.startswith("usage: aiplat")
    assert not MARKUP.search(text), MARKUP.search(text).group(0)


def test_aiplat_help_as_a_user_runs_it(cli):
    result = cli("--help")
    assert result.returncode == 0 and result.stderr == ""
    assert not MARKUP.search(result.stdout)
    for command in ("check", "capacity", "preflight", "rules", "vectors", "models", "serve", "smoke", "loadtest"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
