"""A SageMaker real-time endpoint next to the platform: it runs instances the catalog does not price
(ml.* hosting types), so the stack's spend cannot be bounded and the endpoint is refused."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "internal"}

EXPECT = {"stack": "dev", "refused": [
    ("spend-cap", "raw-sm-endpoint", "ml.g5.12xlarge is not in the instance catalog")]}

config = aws.sagemaker.EndpointConfiguration("raw-sm-config", tags=TAGS, production_variants=[{
    "variant_name": "main", "model_name": "llm", "instance_type": "ml.g5.12xlarge", "initial_instance_count": 2}],
    opts=opts)
aws.sagemaker.Endpoint("raw-sm-endpoint", endpoint_config_name=config.name, tags=TAGS, opts=opts)
