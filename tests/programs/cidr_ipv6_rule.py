"""A separate ingress rule resource open to all of IPv6."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [("security-baseline", "raw-v6-open", "cidrIpv6 ::/0 admits the public Internet")]}

aws.vpc.SecurityGroupIngressRule("raw-v6-open", security_group_id="sg-1", ip_protocol="tcp", from_port=443,
                                 to_port=443, cidr_ipv6="::/0", tags=TAGS, opts=opts)
