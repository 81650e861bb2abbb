"""data-residency reads every location-bearing input the provider schema has, maps multi-regions and
``global`` to jurisdictions, places Kubernetes objects and what they point at, and refuses what it
cannot place. Through the SDK analyzer (``offline.evaluate``) over preview-shaped steps."""

from __future__ import annotations

import pytest

from aiplat.errors import ConfigError
from aiplat.policies import data_residency, offline
from aiplat.policies._schema import schema
from tests.policy_steps import approved_catalog, eu_config, good_aws_eu, good_gcp_eu, write_config


@pytest.fixture
def config(tmp_path):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    return eu_config(tmp_path, tmp_path / "approved.yaml")


def residency(g, config):
    return [(v.name, v.message) for v in offline.evaluate(g.steps, "fixture", config).by_policy("data-residency")]


def only(verdicts, name):
    return [m for n, m in verdicts if n == name]


@pytest.mark.parametrize("type_, path", [
    ("aws:dynamodb/table:Table", ("replicas", "regionName")),
    ("aws:secretsmanager/secret:Secret", ("replicas", "region")),
    ("gcp:firestore/database:Database", ("locationId",)),
    ("gcp:pubsub/topic:Topic", ("messageStoragePolicy", "allowedPersistenceRegions")),
    ("gcp:secretmanager/secret:Secret", ("replication", "userManaged", "replicas", "location")),
    ("gcp:container/cluster:Cluster", ("nodeLocations",)),
    ("gcp:redis/instance:Instance", ("alternativeLocationId",)),
    ("aws:ec2/subnet:Subnet", ("availabilityZone",)),
])
def test_location_bearing_inputs_come_from_the_provider_schema(type_, path):
    s = schema(type_)
    assert path in s.paths
    assert data_residency.is_location_key(path[-1])


@pytest.mark.parametrize("name", ["allocationId", "timeZone", "managedZone", "hostedZoneId", "zoneId",
                                  "locationPolicy", "availabilityZoneId", "regionCodes"])
def test_names_that_are_not_places(name):
    assert not data_residency.is_location_key(name)


def test_replicas_and_multi_regions_and_global(config):
    g = good_gcp_eu()
    p = g.state("models")["provider"]
    g.add("gcp:firestore/database:Database", "fs-us", {"locationId": "nam5", "type": "FIRESTORE_NATIVE"}, p)
    g.add("gcp:firestore/database:Database", "fs-eu", {"locationId": "eur3", "type": "FIRESTORE_NATIVE"}, p)
    g.add("gcp:spanner/instance:Instance", "spanner-world", {"config": "nam-eur-asia1",
                                                             "displayName": "x"}, p)
    g.add("gcp:kms/keyRing:KeyRing", "ring-global", {"location": "global"}, p)
    g.add("gcp:pubsub/topic:Topic", "topic", {"messageStoragePolicy": {
        "allowedPersistenceRegions": ["europe-west4", "us-central1"]}}, p)
    g.add("gcp:secretmanager/secret:Secret", "secret", {"secretId": "s", "replication": {"userManaged": {
        "replicas": [{"location": "europe-west1"}, {"location": "asia-east1"}]}}}, p)
    verdicts = residency(g, config)
    assert only(verdicts, "fs-eu") == []
    assert any("config = 'nam-eur-asia1' is in jurisdiction 'global'" in m for m in only(verdicts, "spanner-world"))
    assert only(verdicts, "fs-us") == ["gcp:firestore/database:Database fs-us: locationId = 'nam5' is in jurisdiction "
                                       "'us', outside residency zone 'eu'; move it to a region in the zone "
                                       "(europe-west1, europe-west3, europe-west4, europe-west8, europe-west9, "
                                       "europe-west10, ...)"]
    assert any("location = 'global' is in jurisdiction 'global', outside residency zone 'eu'" in m
               for m in only(verdicts, "ring-global"))
    assert any("messageStoragePolicy.allowedPersistenceRegions[1] = 'us-central1' is in jurisdiction 'us'" in m
               for m in only(verdicts, "topic"))
    assert any("replication.userManaged.replicas[1].location = 'asia-east1' is in jurisdiction 'tw'" in m
               for m in only(verdicts, "secret"))


def test_aws_replica_regions(config):
    g = good_aws_eu()
    p = g.state("models")["provider"]
    g.add("aws:dynamodb/table:Table", "sessions", {"hashKey": "id", "replicas": [{"regionName": "eu-west-1"},
                                                                                 {"regionName": "us-east-2"}]}, p)
    [message] = only(residency(g, config), "sessions")
    assert "replicas[1].regionName = 'us-east-2' is in jurisdiction 'us'" in message


def test_a_value_that_is_no_known_place_is_refused(config):
    g = good_aws_eu()
    g.add("aws:dynamodb/table:Table", "sessions", {"replicas": [{"regionName": "mars-north-1"}]},
          g.state("models")["provider"])
    [message] = only(residency(g, config), "sessions")
    assert "cannot judge: replicas[0].regionName = 'mars-north-1' is not a known aws location" in message


def test_providers_with_only_a_zone_and_without_region(config):
    g = good_gcp_eu()
    zonal = g.provider("gcp", "zonal", project="p", zone="us-east1-b")
    none = g.provider("gcp", "regionless", project="p")
    g.add("gcp:pubsub/topic:Topic", "zonal-topic", {}, zonal)
    g.add("gcp:pubsub/topic:Topic", "regionless-topic", {}, none)
    g.add("gcp:billing/budget:Budget", "budget", {"billingAccount": "0-0-0", "amount": {}}, none)
    verdicts = residency(g, config)
    assert only(verdicts, "zonal-topic") == [
        "gcp:pubsub/topic:Topic zonal-topic: provider zone = 'us-east1-b' is in jurisdiction 'us', outside residency "
        "zone 'eu'; move it to a region in the zone (europe-west1, europe-west3, europe-west4, europe-west8, "
        "europe-west9, europe-west10, ...)"]
    assert only(verdicts, "regionless-topic") == [
        "gcp:pubsub/topic:Topic regionless-topic: cannot judge where it is: its provider regionless sets no region or "
        "zone"]
    assert only(verdicts, "budget") == []  # not applicable: on the billing account, holds no data
    assert data_residency.coverage("gcp:billing/budget:Budget").kind == "not-applicable"


def test_a_resource_on_the_default_provider_cannot_be_placed(config):
    g = good_aws_eu()
    g.add("aws:s3/bucketV2:BucketV2", "stray", {"bucket": "stray"})  # no provider: the default one
    [message] = only(residency(g, config), "stray")
    assert message.startswith("aws:s3/bucketV2:BucketV2 stray: cannot judge where it is: it is on the default "
                              "provider")


def test_the_default_provider_is_read_like_any_other(config):
    g = good_gcp_eu()
    default = g.provider("gcp", "default", project="p")  # the engine's, from stack config without gcp:region
    g.add("gcp:pubsub/topic:Topic", "topic", {}, default)
    assert only(residency(g, config), "topic") == [
        "gcp:pubsub/topic:Topic topic: cannot judge where it is: its default provider (no explicit provider: stack "
        "config gcp:region) sets no region or zone"]
    g = good_gcp_eu()
    g.add("gcp:pubsub/topic:Topic", "topic", {}, g.provider("gcp", "default", project="p", region="europe-west1"))
    assert only(residency(g, config), "topic") == []


def test_kubernetes_objects_are_placed_at_their_cluster_and_their_references_followed(config):
    g = good_aws_eu()
    k8s = g.state("triton")["provider"]
    g.add("kubernetes:core/v1:ConfigMap", "in-zone", {"data": {
        "a": "s3://fixture-models-euc1/llm", "b": "https://x.s3.eu-west-1.amazonaws.com/y"}}, k8s)
    g.add("kubernetes:core/v1:ConfigMap", "abroad", {"data": {
        "sink.yaml": "url: https://exports.s3.us-west-2.amazonaws.com/daily\n"}}, k8s)
    g.add("kubernetes:batch/v1:Job", "uploader", {"spec": {"template": {"spec": {"containers": [{
        "name": "u", "image": "busybox", "env": [{"name": "T", "value": "gs://not-in-this-stack/x"}]}]}}}}, k8s)
    g.add("kubernetes:apps/v1:Deployment", "vertex-client", {"spec": {"template": {"spec": {"containers": [{
        "name": "c", "image": "busybox",
        "args": ["--endpoint=https://us-central1-aiplatform.googleapis.com/v1/projects/p"]}]}}}}, k8s)
    verdicts = residency(g, config)
    assert only(verdicts, "in-zone") == []
    assert only(verdicts, "abroad") == [
        "kubernetes:core/v1:ConfigMap abroad: data.sink.yaml (exports.s3.us-west-2.amazonaws.com) = 'us-west-2' is in "
        "jurisdiction 'us', outside residency zone 'eu'; move it to a region in the zone (eu-central-1, eu-west-1, "
        "eu-west-3, eu-north-1, eu-south-1, eu-south-2, ...)"]
    assert only(verdicts, "uploader") == [
        "kubernetes:batch/v1:Job uploader: cannot judge: spec.template.spec.containers[0].env[0].value (bucket "
        "'not-in-this-stack') cannot be placed (unknown during preview, or a bucket outside this stack); point it at "
        "a resource of this stack in zone 'eu'"]
    assert any("(us-central1-aiplatform.googleapis.com) = 'us-central1' is in jurisdiction 'us'" in m
               for m in only(verdicts, "vertex-client"))


def test_a_cluster_nobody_can_place_is_refused_unless_allowed(tmp_path, config):
    g = good_aws_eu()
    far = g.provider("kubernetes", "far", kubeconfig='{"clusters": [{"cluster": {"server": "https://10.0.0.1"}}]}')
    g.add("kubernetes:core/v1:ConfigMap", "far-config", {"data": {"a": "b"}}, far)
    verdicts = residency(g, config)
    assert only(verdicts, "far-config") == [
        "kubernetes:core/v1:ConfigMap far-config: cannot judge where it is: its Kubernetes provider far names no "
        "cluster this policy can place (no regional endpoint in the kubeconfig, no cluster of this stack behind it)"]
    assert only(verdicts, "far") and "point its kubeconfig at a cluster of this stack" in only(verdicts, "far")[0]
    allowed = eu_config(tmp_path, tmp_path / "approved.yaml", data_residency={
        "allowedTypes": ["kubernetes:core/v1:ConfigMap", "pulumi:providers:kubernetes"]})
    assert only(residency(g, allowed), "far-config") == only(residency(g, allowed), "far") == []


def test_a_type_without_schema_cannot_be_judged():
    assert data_residency.coverage("acme:index:Thing").kind == "cannot-judge"
    assert data_residency.coverage("aws:notathing/x:X").kind == "cannot-judge"
    assert data_residency.coverage("kubernetes:example.com/v1:Anything").kind == "judged"


def test_the_zone_is_required_and_global_must_be_chosen(tmp_path):
    with pytest.raises(ConfigError) as err:
        offline.load_config(write_config(tmp_path, {"all": "mandatory"}))
    # (other policies may require keys of their own: only this one is asserted)
    assert ("data-residency.residencyZone", "required property missing; it has no default: set it in the policy "
                                            "config") in \
        [(p.path, p.message) for p in err.value.problems]
    config = offline.load_config(eu_config(tmp_path, data_residency={"residencyZone": "global"}))
    assert config["data-residency"].properties["residencyZone"] == "global"


def test_regions_catalog_maps_multi_locations():
    assert data_residency.jurisdiction("gcp", "eur3") == "eu"
    assert data_residency.jurisdiction("gcp", "EU") == "eu"
    assert data_residency.jurisdiction("gcp", "nam-eur-asia1") == "global"
    assert data_residency.jurisdiction("aws", "global") == "global"
    assert data_residency.jurisdiction("any", "us-east4") == "us"
    assert data_residency.jurisdiction("gcp", "us-east4-c") == "us"


def test_every_multi_location_maps_to_a_jurisdiction_a_zone_knows_or_global():
    from aiplat import catalog

    known = {v["jurisdiction"] for c in catalog.CLOUDS for v in catalog.regions(c).values()} | {"global", "asia"}
    ml = data_residency.multi_locations()
    for cloud in ("aws", "gcp"):
        for loc, place in getattr(ml, cloud).items():
            assert loc == loc.lower() and place.jurisdiction in known, (cloud, loc)


def test_the_recording_engine_records_default_providers_from_stack_config():
    import pulumi_aws as aws

    from aiplat.testing import engine

    rec = engine.run_program(lambda: aws.s3.BucketV2("b"), "t", {"aws:region": "eu-west-1"})
    [provider] = rec.of_type("pulumi:providers:aws")
    [bucket] = rec.of_type("aws:s3/bucketV2:BucketV2")
    assert provider.name == "default" and provider.inputs == {"region": "eu-west-1"}
    assert bucket.provider == f"{provider.urn}::{provider.id}"
