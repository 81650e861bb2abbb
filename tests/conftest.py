"""Shared fixtures: recorded stack graphs (run once per session), the CLI in a subprocess, and one
local Triton for the session serving the example models and the test models (tests/models)."""

from __future__ import annotations

import inspect
import importlib
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from aiplat.testing import engine
from aiplat.project import read_stack_config
from tests._project import available_stacks, stack_file_path, ROOT as PROJECT_DIR
from tests._project import run_stack

ROOT = PROJECT_DIR
EXAMPLE_MODELS = ROOT / "serving" / "examples" / "models"
TEST_MODELS = ROOT / "tests" / "models"
# The model repository the shipped stacks publish (serving.model_repository: build/models).
EXAMPLE_REPOSITORY = ROOT / "build" / "models"


def build_example_repository(root: Path = ROOT) -> Path:
    """What `make models` does, in a checkout at ``root``: the stacks' repository, built fresh."""
    import shutil

    from aiplat.serving import repository

    out = root / EXAMPLE_REPOSITORY.relative_to(ROOT)
    shutil.rmtree(out, ignore_errors=True)
    repository.build(EXAMPLE_MODELS, out)
    return out


@pytest.fixture(scope="session", autouse=True)
def example_repository() -> Path:
    """The shipped stacks read their models from build/models: build it before any stack runs, from
    the sources as they are now (so a graph never reflects a stale build)."""
    return build_example_repository()


@lru_cache(maxsize=None)
def recorded(stack: str) -> engine.Recording:
    """The graph of a shipped stack, recorded once per test session."""
    return run_stack(stack, read_stack_config(stack_file_path(stack)))


@pytest.fixture(scope="session")
def record():
    return recorded


@pytest.fixture(scope="session")
def stacks() -> list[str]:
    return available_stacks()


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """`aiplat ...` as a user runs it: a fresh interpreter, the installed entry point's module."""
    return subprocess.run(
        [sys.executable, "-m", "aiplat.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli():
    return run_cli


@lru_cache(maxsize=None)
def input_params(type_token: str) -> frozenset[str]:
    """Input names a resource type accepts, from the provider SDK's own class.

    'aws:ec2/vpc:Vpc' -> pulumi_aws.ec2.Vpc; used to decide which resources are taggable
    without a hand-kept list.
    """
    pkg, rest = type_token.split(":", 1)
    module, cls = rest.split(":")
    module = module.split("/")[0]
    mod = importlib.import_module(f"pulumi_{pkg}" if module == "index" else f"pulumi_{pkg}.{module}")
    klass = getattr(mod, cls)
    return frozenset(inspect.signature(klass._internal_init).parameters)


def by_type(rec: engine.Recording, type_: str) -> list[engine.Registration]:
    return rec.of_type(type_)


def require_triton() -> None:
    from aiplat.serving.triton_local import TritonNotInstalled, find_install

    try:
        find_install()
    except TritonNotInstalled as exc:
        pytest.skip(f"tritonserver not available: {exc}")


@pytest.fixture(scope="session")
def serving_repo(tmp_path_factory) -> Path:
    """A repository built from the example specs and the test models (eval-classifier 1, 2, 3)."""
    from aiplat.serving import repository

    out = tmp_path_factory.mktemp("triton-session") / "repo"
    repository.build(EXAMPLE_MODELS, out)
    repository.build(TEST_MODELS, out)
    return out


@pytest.fixture(scope="session")
def triton(serving_repo):
    """The one tritonserver of the session (tests that need a dead or broken server start their own)."""
    from aiplat.serving.triton_local import TritonServer

    require_triton()
    server = TritonServer(serving_repo, ready_timeout=120)
    server.start()
    yield server
    server.stop()
