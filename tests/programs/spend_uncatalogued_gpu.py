"""An EC2 instance of a GPU type the catalog does not list: unpriced means refused, not free."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "refused": [("spend-cap", "raw-gpu-box", "p6-b200.48xlarge is not in the instance catalog")]}

aws.ec2.Instance("raw-gpu-box", ami="ami-0123456789abcdef0", instance_type="p6-b200.48xlarge", tags=TAGS, opts=opts)
