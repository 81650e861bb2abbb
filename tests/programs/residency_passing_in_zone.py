"""Passing fixture: Kubernetes objects on the platform's cluster that point at the platform's own
model bucket (by s3:// URL and by its regional endpoint) and at a us-west-2 endpoint: all in the US
zone of dev, so data-residency passes (and judges them, instead of skipping them)."""
import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "passes": ["data-residency"]}

p = platform()
opts = pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider)
k8s.core.v1.ConfigMap("team-reader-config", metadata={"name": "team-reader-config", "namespace": "default"},
                      data={"models": "s3://acme-aiplat-dev-us-east-1-embed/text-embedder/v1",
                            "mirror": "https://acme-aiplat-dev-us-east-1-embed.s3.us-east-1.amazonaws.com/",
                            "queue": "https://sqs.us-west-2.amazonaws.com/123456789012/team-jobs"}, opts=opts)
