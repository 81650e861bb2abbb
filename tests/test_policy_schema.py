"""Provider schemas as the policies read them: every input path of a type, from the SDK classes."""

from __future__ import annotations

from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, TYPE_TOKEN, Coverage, report_unjudged
from aiplat.policies._schema import resource_class, schema


def test_paths_come_from_the_sdk_args_types_by_wire_name():
    eks = schema("aws:eks/cluster:Cluster")
    assert ("vpcConfig", "publicAccessCidrs") in eks.paths
    assert ("encryptionConfig", "provider", "keyArn") in eks.paths
    assert ("region",) in eks.paths  # pulumi-aws 7: every resource can name its own region
    deployment = schema("kubernetes:apps/v1:Deployment")
    assert ("spec", "template", "spec", "containers", "image") in deployment.paths
    assert ("spec", "template", "spec", "containers", "securityContext", "allowPrivilegeEscalation") in deployment.paths
    assert ("location",) in schema("gcp:storage/bucket:Bucket").paths
    assert ("locationId",) in schema("gcp:firestore/database:Database").paths
    assert ("region",) in schema("pulumi:providers:aws").paths


def test_types_without_an_sdk_class_have_no_schema():
    assert schema("kubernetes:keda.sh/v1alpha1:ScaledObject") is None  # a custom resource
    assert schema("acme:index:Thing") is None
    assert resource_class("aws:s3/nope:Nope") is None
    assert resource_class("kubernetes:storage.k8s.io/v1:StorageClass").__name__ == "StorageClass"


def test_cannot_judge_is_a_violation_unless_the_type_is_allowed():
    seen = []
    report = lambda message, urn: seen.append((message, urn))  # noqa: E731
    assert report_unjudged("p", "acme:index:Thing", "t", "no schema", [], report, "urn:t")
    assert seen == [("acme:index:Thing t: cannot judge: no schema; change the resource so it can be judged, "
                     "or allow the type on purpose in p.allowedTypes", "urn:t")]
    assert not report_unjudged("p", "acme:index:Thing", "t", "no schema", ["acme:index:Thing"], report, "urn:t")
    assert len(seen) == 1
    assert not Coverage.cannot_judge("x").decided and Coverage.judged().decided
    assert TYPE_TOKEN.match("kubernetes:keda.sh/v1alpha1:ScaledObject") and not TYPE_TOKEN.match("ScaledObject")
    assert ALLOWED_TYPES_SCHEMA["default"] == []


# ---- config strictness over the whole pack ---------------------------------------------------

import pytest  # noqa: E402

import aiplat.policies as policies  # noqa: E402
from aiplat.policies._config import problems as config_problems  # noqa: E402

# Properties whose default would be permissive: an empty config must not judge "no residency at
# all" (data-residency used to default to zone ``global``). Each must be required, without default.
MUST_BE_REQUIRED = [("data-residency", "residencyZone")]


def test_every_policy_the_pack_serves_refuses_a_config_it_does_not_understand():
    assert len(policies.ALL_POLICIES) == len(policies.POLICY_MODULES)
    for served, module in zip(policies.ALL_POLICIES, policies.POLICY_MODULES):
        assert served.inner is module.POLICY and served.name == module.NAME  # the strict wrapper of each
        seen = []
        served.validate(_Args({"noSuchProperty": 1}, served), lambda m, u: seen.append(m))
        assert seen and f"{served.name}.noSuchProperty: unknown property" in seen[0], served.name


@pytest.mark.parametrize("policy", policies.ALL_POLICIES, ids=lambda p: p.name)
def test_required_properties_have_no_default_and_every_schema_allows_types(policy):
    props = policy.config_schema.properties
    required = policy.config_schema.required or []
    assert not [k for k in required if "default" in props.get(k, {})], f"{policy.name}: a required property has a default"
    assert not [k for k in required if k not in props], f"{policy.name}: required but not declared"
    assert props.get(ALLOWED_TYPES) == ALLOWED_TYPES_SCHEMA, f"{policy.name}: no {ALLOWED_TYPES} (ALLOWED_TYPES_SCHEMA)"


@pytest.mark.parametrize("policy,key", MUST_BE_REQUIRED)
def test_properties_without_a_safe_default_are_required(policy, key):
    served = next(p for p in policies.ALL_POLICIES if p.name == policy)
    assert key in (served.config_schema.required or []) and "default" not in served.config_schema.properties[key]
    assert (f"{policy}.{key}", "required property missing; it has no default: set it in the policy config") in \
        [(p.path, p.message) for p in config_problems(policy, served.config_schema, {})]


class _Args:
    """What the SDK hands a policy's validate, reduced to what the strict wrapper reads first."""

    def __init__(self, config, policy):
        self.config, self.resource_type, self.name = config, "acme:index:Thing", "t"

    def get_config(self):
        return self.config
