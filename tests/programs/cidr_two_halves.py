"""Two /1 blocks are the whole IPv4 Internet: set membership of "0.0.0.0/0" misses them, semantics do not."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-halves", "ingress[0].cidrBlocks 0.0.0.0/1 admits the public Internet"),
    ("security-baseline", "raw-halves", "ingress[0].cidrBlocks 128.0.0.0/1 admits the public Internet")]}

aws.ec2.SecurityGroup("raw-halves", vpc_id="vpc-1", tags=TAGS, ingress=[{
    "protocol": "tcp", "from_port": 8000, "to_port": 8000, "cidr_blocks": ["0.0.0.0/1", "128.0.0.0/1"]}], opts=opts)
