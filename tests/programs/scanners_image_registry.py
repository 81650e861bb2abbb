"""Images from anywhere: a CronJob whose image is digest-pinned but from a registry nobody approved,
and a Helm release of a chart the installers catalog never reviewed. supply-chain refuses both."""

import pulumi
import pulumi_kubernetes as k8s
from _scanners import DIGEST, container, pod
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("supply-chain", "raw-reindex", "not from an approved registry"),
        ("supply-chain", "raw-redis", "not in the installers catalog"),
        ("workload-hardening", "raw-redis", "not in the installers catalog"),
    ],
}

p = platform()
kube = pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider)
k8s.batch.v1.CronJob(
    "raw-reindex",
    metadata={"name": "raw-reindex", "namespace": "default"},
    spec={"schedule": "0 3 * * *",
          "jobTemplate": {"spec": {"template": {"spec": pod(
              container("reindex", f"docker.io/someone/reindexer@{DIGEST}"), restartPolicy="Never")}}}},
    opts=kube,
)
k8s.helm.v3.Release(
    "raw-redis",
    name="cache",
    namespace="default",
    chart="redis",
    version="20.0.0",
    repository_opts={"repo": "https://charts.bitnami.com/bitnami"},
    opts=kube,
)
