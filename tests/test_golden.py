"""Golden graphs: `aiplat check <stack> --json` of every shipped stack, stored and compared.

A refactor that keeps these byte-identical cannot have changed a deployed stack. A change
to them is deliberate: run `make golden` and review the diff of `tests/golden/` in the
commit. The document is built by the same function `aiplat check --json` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplat.cli.check import golden_document
from tests._project import PROJECT

GOLDEN = Path(__file__).parent / "golden"
SHIPPED = ("dev", "staging", "prod", "prod-eu", "gcp-prod")


def test_every_shipped_stack_has_a_golden_file(stacks):
    assert sorted(stacks) == sorted(SHIPPED)
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(SHIPPED)


def _first_differences(old: dict, new: dict, limit: int = 5) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if key != "steps" and old.get(key) != new.get(key):
            out.append(f"{key} differs")
    before = {s["urn"]: s for s in old.get("steps", [])}
    after = {s["urn"]: s for s in new.get("steps", [])}
    out += [f"removed {u}" for u in sorted(set(before) - set(after))]
    out += [f"added {u}" for u in sorted(set(after) - set(before))]
    out += [f"changed {u}" for u in sorted(set(before) & set(after)) if before[u] != after[u]]
    if not out and [s["urn"] for s in old.get("steps", [])] != [s["urn"] for s in new.get("steps", [])]:
        out.append("same steps in another order")
    return out[:limit]


@pytest.mark.parametrize("stack", SHIPPED)
def test_check_json_matches_the_golden_graph(stack, record):
    text = json.dumps(golden_document(PROJECT, stack, record(stack)), indent=2) + "\n"
    stored = (GOLDEN / f"{stack}.json").read_text()
    if text != stored:
        diffs = _first_differences(json.loads(stored), json.loads(text)) or ["formatting only"]
        pytest.fail(f"{stack}: graph differs from tests/golden/{stack}.json (run `make golden` if deliberate):\n  "
                    + "\n  ".join(diffs))
