"""Passing fixture: an EBS volume with a customer key, both protected (staging protects state like prod), and
an internal Service, judged and passed."""
import pulumi_kubernetes as k8s
import pulumi
import pulumi_aws as aws

from _platform import platform

plat = platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "passes": ["security-baseline", "required-tags"]}

kept = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
key = aws.kms.Key("raw-volume-key", enable_key_rotation=True, tags=TAGS, opts=kept)
aws.ebs.Volume("raw-volume", availability_zone="us-east-1a", size=100, encrypted=True, kms_key_id=key.arn,
               tags=TAGS, opts=kept)
kube = plat.regions["us-east-1"].cluster.kube_provider
k8s.core.v1.Service("raw-internal-lb", metadata={"name": "triton-internal", "namespace": "default", "annotations": {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    # TLS both ways and access logs into the platform's log bucket of the region (transport-tls, access-logs)
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert":
        "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "ssl",
    "service.beta.kubernetes.io/aws-load-balancer-attributes":
        "access_logs.s3.enabled=true,access_logs.s3.bucket=aiplat-staging-us-east-1-access-logs"}},
    spec={"type": "LoadBalancer", "selector": {"app": "triton"}, "ports": [{"port": 80, "target_port": 8000}]},
    opts=pulumi.ResourceOptions(provider=kube))
