"""A raw EKS cluster whose public endpoint lists a CIDR that, with its mask, is most of the Internet."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-eks", "vpcConfig.publicAccessCidrs 11.0.0.0/8 admits the public Internet")]}

aws.eks.Cluster("raw-eks", role_arn="arn:aws:iam::123456789012:role/eks", tags=TAGS, version="1.35", vpc_config={
    "subnet_ids": ["subnet-1"], "endpoint_public_access": True, "public_access_cidrs": ["11.0.0.0/8"]}, opts=opts)
