"""Passing fixture: an allow-list of private IPv4 and IPv6 ranges only."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "passes": ["security-baseline"]}

aws.ec2.SecurityGroup("raw-private", vpc_id="vpc-1", tags=TAGS, ingress=[{
    "protocol": "tcp", "from_port": 8000, "to_port": 8000, "cidr_blocks": ["10.20.0.0/16", "192.168.0.0/24"],
    "ipv6_cidr_blocks": ["fd00:10::/32"]}], opts=opts)
