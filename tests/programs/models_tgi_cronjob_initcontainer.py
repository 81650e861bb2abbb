"""Inference servers hidden where only pod specs are: a CronJob whose TGI container takes its model
from MODEL_ID, and a StatefulSet whose *init* container starts tritonserver from a shell string
in a mirrored image. Neither declares its models."""
import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "raw-tgi-nightly", "runs an inference server but declares no models"),
    ("model-approval", "raw-triton-init", "runs an inference server but declares no models"),
]}

MIRROR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/tritonserver:25.01"

p = platform()
kube = p.regions["us-east-1"].cluster.kube_provider
opts = pulumi.ResourceOptions(provider=kube)
k8s.batch.v1.CronJob("raw-tgi-nightly", metadata={"name": "raw-tgi-nightly", "namespace": "default"}, spec={
    "schedule": "0 3 * * *",
    "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
        "name": "tgi", "image": "ghcr.io/huggingface/text-generation-inference:3.0.1",
        "env": [{"name": "MODEL_ID", "value": "bigscience/bloom-560m"}]}]}}}}}, opts=opts)
k8s.apps.v1.StatefulSet("raw-triton-init", metadata={"name": "raw-triton-init", "namespace": "default"}, spec={
    "serviceName": "raw-triton-init", "selector": {"matchLabels": {"app": "raw-triton-init"}},
    "template": {"metadata": {"labels": {"app": "raw-triton-init"}}, "spec": {
        "initContainers": [{"name": "warm", "image": MIRROR,
                            "command": ["sh", "-c", "tritonserver --model-repository=/models --exit-timeout-secs=5"]}],
        "containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]}}}, opts=opts)
