"""A team's vLLM Deployment next to the dev platform, serving a Hugging Face model it never declares.
model-approval used to read only the aiplat.io/models annotation, so a server without one was never judged."""
import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("model-approval", "raw-vllm", "runs an inference server but declares no models"),
]}

p = platform()
kube = p.regions["us-east-1"].cluster.kube_provider
k8s.apps.v1.Deployment("raw-vllm", metadata={"name": "raw-vllm", "namespace": "default"}, spec={
    "selector": {"matchLabels": {"app": "raw-vllm"}},
    "template": {"metadata": {"labels": {"app": "raw-vllm"}}, "spec": {"containers": [{
        "name": "vllm", "image": "docker.io/vllm/vllm-openai:v0.8.4",
        "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"]}]}}},
    opts=pulumi.ResourceOptions(provider=kube))
