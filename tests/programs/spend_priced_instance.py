"""Passing fixture: a catalogued general-purpose instance next to the platform is priced and under the cap."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "passes": ["spend-cap"]}

aws.ec2.Instance("raw-bastion", ami="ami-0123456789abcdef0", instance_type="m6i.large", tags=TAGS, opts=opts)
