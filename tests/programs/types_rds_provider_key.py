"""An RDS instance and a DynamoDB table without customer-managed keys: read from the schema, not a list."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-db", "not encrypted with a customer-managed key"),
    ("security-baseline", "raw-table", "not encrypted with a customer-managed key")]}

aws.rds.Instance("raw-db", engine="postgres", instance_class="db.r6g.large", allocated_storage=100,
                 username="app", manage_master_user_password=True, storage_encrypted=True, tags=TAGS, opts=opts)
aws.dynamodb.Table("raw-table", hash_key="id", billing_mode="PAY_PER_REQUEST",
                   attributes=[{"name": "id", "type": "S"}], tags=TAGS, opts=opts)
