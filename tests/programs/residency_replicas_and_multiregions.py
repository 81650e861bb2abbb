"""Locations that live outside `region`: a DynamoDB table replicated to eu-west-1 (replicas[].regionName),
a Firestore database in the eur3 multi-region (locationId), a Pub/Sub topic whose messages may persist
in europe-west3 (allowedPersistenceRegions) and a KMS key ring in `global`, all next to the US-only dev
platform. data-residency used to read a fixed list of keys and assumed the provider's region."""
import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("data-residency", "team-sessions", "replicas[0].regionName = 'eu-west-1' is in jurisdiction 'eu'"),
    ("data-residency", "team-firestore", "locationId = 'eur3' is in jurisdiction 'eu'"),
    ("data-residency", "team-events",
     "messageStoragePolicy.allowedPersistenceRegions[0] = 'europe-west3' is in jurisdiction 'eu'"),
    ("data-residency", "team-keys", "location = 'global' is in jurisdiction 'global'"),
]}

p = platform()
aws.dynamodb.Table("team-sessions", hash_key="id", attributes=[{"name": "id", "type": "S"}],
                   billing_mode="PAY_PER_REQUEST", stream_enabled=True, stream_view_type="NEW_AND_OLD_IMAGES",
                   replicas=[{"region_name": "eu-west-1"}],
                   opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].provider))
g = gcp.Provider("team-gcp", project="acme-team", region="us-central1")
opts = pulumi.ResourceOptions(provider=g)
gcp.firestore.Database("team-firestore", location_id="eur3", type="FIRESTORE_NATIVE", opts=opts)
gcp.pubsub.Topic("team-events", message_storage_policy={"allowed_persistence_regions": ["europe-west3"]}, opts=opts)
gcp.kms.KeyRing("team-keys", location="global", opts=opts)
