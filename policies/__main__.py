"""The policy pack as the Pulumi CLI runs it: `pulumi preview --policy-pack policies`.

Only this module constructs ``PolicyPack`` (it serves the analyzer over gRPC and blocks);
everything else imports ``policies.ALL_POLICIES``.
"""

import sys
from pathlib import Path

# The CLI runs this file from policies/ with policies/'s own virtualenv; make the repo root
# importable so the pack shares components.catalog (regions, GPU prices) with the program.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack  # noqa: E402

from policies import ALL_POLICIES, PACK_ENFORCEMENT_LEVEL  # noqa: E402

PolicyPack(
    name="aiplat",
    policies=ALL_POLICIES,
    enforcement_level=PACK_ENFORCEMENT_LEVEL,
    description="aiplat guardrails: approved models, data residency, spend caps, security baseline, tags",
)
