"""A node group whose second instance type is not in the catalog: every listed type is priced."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "refused": [("spend-cap", "raw-mixed-nodes", "x9z.huge is not in the instance catalog")]}

aws.eks.NodeGroup("raw-mixed-nodes", cluster_name="aiplat-dev-us-east-1", node_role_arn="arn:aws:iam::123456789012:role/n",
                  subnet_ids=["subnet-1"], instance_types=["m6i.large", "x9z.huge"],
                  scaling_config={"min_size": 0, "max_size": 2, "desired_size": 0}, tags=TAGS, opts=opts)
