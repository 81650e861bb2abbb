"""A bucket whose policy allows Principal "*" (and whose SSE is aws:kms without a customer key)."""
import json
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-share-policy", 'allows Principal "*" without a restricting condition'),
    ("security-baseline", "raw-share", "aws:kms without a customer-managed key")]}

bucket = aws.s3.BucketV2("raw-share", tags=TAGS, opts=opts)
aws.s3.BucketServerSideEncryptionConfigurationV2("raw-share-sse", bucket=bucket.id, rules=[{
    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}], opts=opts)
aws.s3.BucketPublicAccessBlock("raw-share-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                               ignore_public_acls=True, restrict_public_buckets=True, opts=opts)
aws.s3.BucketPolicy("raw-share-policy", bucket=bucket.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::raw-share/*"}]}), opts=opts)
