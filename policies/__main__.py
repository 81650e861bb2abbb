"""The policy pack as the Pulumi CLI runs it: `pulumi preview --policy-pack policies`.

Only this module constructs ``PolicyPack`` (it serves the analyzer over gRPC and blocks);
everything else imports ``aiplat.policies.ALL_POLICIES``. The pack's virtualenv has
``aiplat`` installed (``requirements.txt``), so nothing here edits ``sys.path``.
"""

from pulumi_policy import PolicyPack

from aiplat.policies import ALL_POLICIES, PACK_ENFORCEMENT_LEVEL

PolicyPack(
    name="aiplat",
    policies=ALL_POLICIES,
    enforcement_level=PACK_ENFORCEMENT_LEVEL,
    description="aiplat guardrails: approved models, data residency, spend caps, security baseline, tags",
)
