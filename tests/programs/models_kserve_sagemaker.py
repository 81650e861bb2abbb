"""Managed and operator-run model endpoints: a KServe InferenceService (a custom resource the
operator turns into a server) and a SageMaker Model loading a tarball from outside the stack,
both without a declaration; the SageMaker endpoint configuration serves a model that is not in
the stack at all."""
import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "raw-isvc", "declares no models"),
    ("model-approval", "raw-sm-model", "declares no model"),
    ("model-approval", "raw-sm-model", "is not a model object published by this stack"),
    ("model-approval", "raw-sm-config", "which is not a SageMaker Model of this stack"),
]}

p = platform()
region = p.regions["us-east-1"]
k8s.apiextensions.CustomResource("raw-isvc", api_version="serving.kserve.io/v1beta1", kind="InferenceService",
                                 metadata={"name": "raw-isvc", "namespace": "default"},
                                 spec={"predictor": {"model": {"modelFormat": {"name": "huggingface"},
                                                               "storageUri": "hf://meta-llama/Llama-3.1-8B"}}},
                                 opts=pulumi.ResourceOptions(provider=region.cluster.kube_provider))
opts = pulumi.ResourceOptions(provider=region.provider)
TGI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4-tgi3.0-gpu-py311"
aws.sagemaker.Model("raw-sm-model", execution_role_arn="arn:aws:iam::123456789012:role/sm",
                    primary_container={"image": TGI, "model_data_url": "s3://someone-elses-bucket/llm/model.tar.gz"},
                    opts=opts)
aws.sagemaker.EndpointConfiguration("raw-sm-config", production_variants=[{
    "variant_name": "all", "model_name": "model-from-the-console", "instance_type": "ml.g5.xlarge",
    "initial_instance_count": 1}], opts=opts)
