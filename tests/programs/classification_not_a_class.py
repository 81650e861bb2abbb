"""A classification the pack cannot read is not a class to ignore: a team's bucket labelled
data-classification=secret (no such class) could hide a stricter one. model-approval names the
resource that carries it."""
import pulumi
import pulumi_aws as aws

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "team-secrets", "data-classification='secret' is not one of public, internal, "
                                       "confidential, restricted"),
]}

p = platform()
aws.s3.BucketV2("team-secrets", bucket="acme-team-secrets-use1",
                tags={"owner": "sec", "team": "security", "cost-center": "cc-9000", "data-classification": "secret"},
                opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].provider))
