"""An auto-scaling group whose launch template picks types by attributes: no price at its largest size."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "refused": [("spend-cap", "raw-asg", "instanceRequirements")]}

lt = aws.ec2.LaunchTemplate("raw-asg-lt", image_id="ami-0123456789abcdef0", tags=TAGS, instance_requirements={
    "vcpu_count": {"min": 4}, "memory_mib": {"min": 16384}, "accelerator_count": {"min": 1}}, opts=opts)
aws.autoscaling.Group("raw-asg", max_size=8, min_size=0, availability_zones=["us-east-1a"],
                      launch_template={"id": lt.id, "version": "$Latest"}, opts=opts)
