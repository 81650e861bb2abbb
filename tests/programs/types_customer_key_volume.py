"""Passing fixture: an EBS volume with a customer key, both protected (staging protects state like prod), and
an internal Service, judged and passed."""
import pulumi_kubernetes as k8s
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "passes": ["security-baseline", "required-tags"]}

kept = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
key = aws.kms.Key("raw-volume-key", enable_key_rotation=True, tags=TAGS, opts=kept)
aws.ebs.Volume("raw-volume", availability_zone="us-east-1a", size=100, encrypted=True, kms_key_id=key.arn,
               tags=TAGS, opts=kept)
kube = k8s.Provider("raw-kube", kubeconfig="apiVersion: v1\nkind: Config\n")
k8s.core.v1.Service("raw-internal-lb", metadata={"name": "triton-internal", "namespace": "default", "annotations": {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
    spec={"type": "LoadBalancer", "selector": {"app": "triton"}, "ports": [{"port": 80, "target_port": 8000}]},
    opts=pulumi.ResourceOptions(provider=kube))
