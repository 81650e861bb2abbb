"""A capacity reservation labelled as a 3-year commitment and a GPU instance: nothing in the graph buys a
commitment, so the reservation runs at the on-demand price (\$55.04/h, not the 3y rate), and the dev cap of $3,000 is exceeded by the on-demand p5."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "refused": [("spend-cap", "", "1x p5.48xlarge us-east-1 @ $55.04/h")]}

aws.ec2.CapacityReservation("raw-reservation", instance_type="p5.48xlarge", instance_platform="Linux/UNIX",
                            availability_zone="us-east-1a", instance_count=1,
                            tags={**TAGS, "aiplat.io/commitment": "3y"}, opts=opts)
