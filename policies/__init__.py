"""The aiplat CrossGuard policy pack: policies by domain, importable without serving them.

``ALL_POLICIES`` is what ``policies/__main__.py`` hands to ``PolicyPack`` (which starts a
gRPC server and blocks, so only ``__main__`` constructs it) and what the offline runner
(``policies.offline``) evaluates for ``aiplat check``: the same objects in both places.
"""

from pulumi_policy import EnforcementLevel

from aiplat.policies import (
    audit,
    data_residency,
    model_approval,
    required_tags,
    security_baseline,
    spend_cap,
    supply_chain,
    transport,
    workload,
)
from aiplat.policies._config import strict

# Policies that do not set their own level inherit this one (the SDK's default too).
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.ADVISORY

ALL_POLICIES = [
    model_approval.POLICY,
    data_residency.POLICY,
    spend_cap.POLICY,
    security_baseline.POLICY,
    required_tags.POLICY,
    supply_chain.POLICY,
    transport.POLICY,
    audit.POLICY,
    workload.POLICY,
]

# Every policy the pack serves refuses a config it does not understand (unknown or missing
# required properties are violations of that policy): the Pulumi CLI does not refuse unknown
# properties, so the pack must (aiplat.policies._config). The modules' own POLICY objects stay
# as they are; these wrappers are what PolicyPack and the offline runner run.
ALL_POLICIES = [strict(p) for p in ALL_POLICIES]

# The module of each policy, in the same order: each exposes ``NAME``, ``POLICY`` and
# ``coverage(resource_type) -> aiplat.policies._judge.Coverage`` (the fail-closed contract;
# tests/test_policy_coverage.py walks every type the shipped stacks use through it).
POLICY_MODULES = [model_approval, data_residency, spend_cap, security_baseline, required_tags, supply_chain, transport,
                  audit, workload]

__all__ = ["ALL_POLICIES", "PACK_ENFORCEMENT_LEVEL", "POLICY_MODULES"]
