"""A node agent DaemonSet written without any hardening: root, privileged, on the host network,
no limits. workload-hardening judges every pod spec of the program, not only ours."""

import pulumi
import pulumi_kubernetes as k8s
from _scanners import DIGEST, ESP
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("workload-hardening", "raw-node-agent", "privileged container"),
        ("workload-hardening", "raw-node-agent", "runAsNonRoot=true"),
        ("workload-hardening", "raw-node-agent", "shares the node's namespaces"),
        ("workload-hardening", "raw-node-agent", "resources.limits.memory"),
    ],
}

p = platform()
labels = {"app": "raw-node-agent"}
k8s.apps.v1.DaemonSet(
    "raw-node-agent",
    metadata={"name": "node-agent", "namespace": "kube-system"},
    spec={"selector": {"matchLabels": labels},
          "template": {"metadata": {"labels": labels},
                       "spec": {"hostNetwork": True,
                                "containers": [{"name": "agent", "image": f"{ESP}@{DIGEST}",
                                                "securityContext": {"privileged": True}}]}}},
    opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider),
)
