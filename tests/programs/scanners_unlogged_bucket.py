"""Buckets holding embeddings without access logs: one with none at all, one that logs into the
platform's us-east-1 log bucket from eu-west-1 (its access records leave its region)."""

import pulumi
import pulumi_aws as aws
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("access-logs", "raw-embeddings", "no server access logging"),
        ("access-logs", "raw-embeddings-eu", "leave the region"),
    ],
}

p = platform()
region = p.regions["us-east-1"]
aws.s3.BucketV2("raw-embeddings", bucket="acme-raw-embeddings", opts=pulumi.ResourceOptions(provider=region.provider))
eu = aws.Provider("raw-eu", region="eu-west-1")
eu_bucket = aws.s3.BucketV2("raw-embeddings-eu", bucket="acme-raw-embeddings-eu",
                            opts=pulumi.ResourceOptions(provider=eu))
aws.s3.BucketLoggingV2("raw-embeddings-eu", bucket=eu_bucket.id, target_bucket=region.logs.bucket,
                       target_prefix="s3/acme-raw-embeddings-eu/", opts=pulumi.ResourceOptions(provider=eu))
