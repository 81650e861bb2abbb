"""What the four scanner policies accept from a team's own program: a hardened Deployment whose
image is pinned by digest from an approved registry, and a bucket that logs into the platform's
log bucket in its own region. Nothing of supply-chain, transport-tls, access-logs or
workload-hardening is reported."""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from _scanners import DIGEST, ESP, container, pod
from _platform import platform

EXPECT = {
    "stack": "dev",
    "passes": ["supply-chain", "transport-tls", "access-logs", "workload-hardening"],
}

p = platform()
region = p.regions["us-east-1"]
labels = {"app": "team-proxy"}
k8s.apps.v1.Deployment(
    "team-proxy",
    metadata={"name": "team-proxy", "namespace": "default"},
    spec={"selector": {"matchLabels": labels},
          "template": {"metadata": {"labels": labels},
                       "spec": pod(container("proxy", f"{ESP}@{DIGEST}",
                                             volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}]),
                                   volumes=[{"name": "tmp", "emptyDir": {}}])}},
    opts=pulumi.ResourceOptions(provider=region.cluster.kube_provider),
)
aws_opts = pulumi.ResourceOptions(provider=region.provider)
bucket = aws.s3.BucketV2("team-embeddings", bucket="acme-team-embeddings", opts=aws_opts)
aws.s3.BucketLoggingV2("team-embeddings", bucket=bucket.id, target_bucket=region.logs.bucket,
                       target_prefix="s3/acme-team-embeddings/", opts=aws_opts)
