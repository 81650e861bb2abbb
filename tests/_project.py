"""This repository as a Pulumi project, the way the CLI finds it (``Pulumi.yaml``)."""

from __future__ import annotations

from pathlib import Path

from aiplat.project import load_project, read_stack_config

ROOT = Path(__file__).resolve().parents[1]
PROJECT = load_project(ROOT / "Pulumi.yaml")


def stack_file_path(stack: str) -> Path:
    return PROJECT.stack_file(stack)


def available_stacks() -> list[str]:
    return PROJECT.stacks()


def policy_config_path(stack: str) -> Path:
    path = PROJECT.policy_config(stack)
    assert path is not None, f"no policies/config/{stack}.json"
    return path


def stack_config(stack: str) -> dict:
    return read_stack_config(stack_file_path(stack))


def run_stack(stack: str, config: dict, **kw):
    """This project's program for a stack under the recording engine."""
    from aiplat.testing import engine

    return engine.run_stack(stack, config, PROJECT.program, project=PROJECT.name, **kw)


# A deployer declaration for hand-written test stacks (the shipped staging stack's): every stack
# says how `pulumi up` reaches its clusters (config ``deployer``); the default private endpoint
# needs a runner network. Documentation/example ids, as in the shipped stacks.
AWS_DEPLOYER = {"cidrs": ["192.0.2.10/32"],
                "network": {"cidr": "10.200.0.0/16", "aws_vpc_id": "vpc-0a1b2c3d4e5f60718", "aws_region": "us-east-1"}}
GCP_DEPLOYER = {"cidrs": ["198.51.100.10/32"],
                "network": {"cidr": "10.200.0.0/16", "gcp_network": "projects/acme-runner/global/networks/runner"}}
