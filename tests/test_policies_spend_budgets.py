"""The monitoring budget of every shipped stack equals its spend cap (policies/config/<stack>.json), and the
cost table of `aiplat check` prices exactly the commitments the config declares."""

from __future__ import annotations

import json

import pytest
import yaml

from tests._project import ROOT, stack_file_path

STACKS = ("dev", "staging", "prod", "prod-eu", "gcp-prod")


@pytest.mark.parametrize("stack", STACKS)
def test_budget_equals_spend_cap(stack):
    platform = yaml.safe_load(stack_file_path(stack).read_text())["config"]["aiplat:platform"]
    config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    assert platform["monitoring"]["monthly_budget_usd"] == config["spend-cap"]["maxMonthlyUsd"]


@pytest.mark.parametrize("stack", STACKS)
def test_commitments_are_declared_not_read_from_labels(stack):
    config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    for item in config["spend-cap"]["commitments"]:
        assert set(item) == {"type", "region", "count", "term"}
