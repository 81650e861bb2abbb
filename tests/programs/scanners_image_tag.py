"""A proxy Deployment next to the platform, hardened, from an approved registry, but pulled by a
mutable tag: supply-chain refuses it (the tag can point at other bytes tomorrow)."""

import pulumi_kubernetes as k8s
from _scanners import ESP, container, pod
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("supply-chain", "raw-proxy", "pulled by a mutable tag"),
    ],
}

p = platform()
labels = {"app": "raw-proxy"}
k8s.apps.v1.Deployment(
    "raw-proxy",
    metadata={"name": "raw-proxy", "namespace": "default"},
    spec={"selector": {"matchLabels": labels},
          "template": {"metadata": {"labels": labels}, "spec": pod(container("proxy", f"{ESP}:2.50.0"))}},
    opts=__import__("pulumi").ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider),
)
