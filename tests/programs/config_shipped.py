"""The passing fixture: dev with its own, correctly spelled policy config, plus a raw bucket
next to the platform in the stack's region (a security group without rules, tagged). Strict config
checking refuses nothing here."""

import pulumi_aws as aws

from _platform import platform

EXPECT = {
    "stack": "dev",
    "passes": ["data-residency", "spend-cap", "model-approval"],
}

platform()
aws.ec2.SecurityGroup("config-fixture-sg", description="a team's own group, no rules yet",
                      tags={"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410",
                            "data-classification": "internal"})
