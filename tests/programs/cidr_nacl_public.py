"""A network ACL rule allowing a public range in, next to the private platform."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [("security-baseline", "raw-nacl-in", "cidrBlock 8.8.0.0/16 admits the public Internet")]}

aws.ec2.NetworkAclRule("raw-nacl-in", network_acl_id="acl-1", rule_number=100, egress=False, protocol="tcp",
                       rule_action="allow", cidr_block="8.8.0.0/16", from_port=443, to_port=443, opts=opts)
