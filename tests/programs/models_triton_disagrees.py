"""A Triton Deployment whose annotation declares the approved text-embedder, while its args load
another model from another repository: the declaration must agree with what the server loads."""
import json

import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "raw-triton", "loads model 'rogue-llm', which its declaration (text-embedder) does not name"),
    ("model-approval", "raw-triton", "loads from repository 's3://acme-aiplat-dev-us-east-1-embed/rogue-llm/v7'"),
]}

APPROVED = {"name": "text-embedder", "version": "1", "track": "stable",
            "digest": "sha256:b3759ee087a442adba07024ae672f16c70fd7236c98869a11b8194ac620723f3",
            "repository": "s3://acme-aiplat-dev-us-east-1-embed/text-embedder/v1"}

p = platform()
kube = p.regions["us-east-1"].cluster.kube_provider
k8s.apps.v1.Deployment("raw-triton", metadata={
    "name": "raw-triton", "namespace": "default", "annotations": {"aiplat.io/models": json.dumps([APPROVED])}},
    spec={"selector": {"matchLabels": {"app": "raw-triton"}},
          "template": {"metadata": {"labels": {"app": "raw-triton"}}, "spec": {"containers": [{
              "name": "triton", "image": "nvcr.io/nvidia/tritonserver:25.01-py3", "command": ["tritonserver"],
              "args": ["--model-repository=s3://acme-aiplat-dev-us-east-1-embed/rogue-llm/v7",
                       "--model-control-mode=explicit", "--load-model=rogue-llm"]}]}}},
    opts=pulumi.ResourceOptions(provider=kube))
