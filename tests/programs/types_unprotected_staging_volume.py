"""Staging enforces like prod: a customer-keyed EBS volume registered without protect is refused, as in prod
(dev is rebuilt on purpose and is not checked for protect)."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-cache-volume", "stateful but not protected; register it with protect=True")]}

key = aws.kms.Key("raw-cache-key", enable_key_rotation=True, tags=TAGS,
                  opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)))
aws.ebs.Volume("raw-cache-volume", availability_zone="us-east-1a", size=100, encrypted=True, kms_key_id=key.arn,
               tags=TAGS, opts=opts)
