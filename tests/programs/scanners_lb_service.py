"""A LoadBalancer Service straight in front of the Triton pods, labelled confidential: the AWS Load
Balancer Controller would build a plaintext NLB without access logs from it. transport-tls and
access-logs read the controller's annotations (v3.5.0) and refuse it."""

import pulumi
import pulumi_kubernetes as k8s
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("transport-tls", "raw-triton-lb", "aws-load-balancer-ssl-cert"),
        ("transport-tls", "raw-triton-lb", "backend-protocol: ssl"),
        ("access-logs", "raw-triton-lb", "writes no access logs"),
    ],
}

p = platform()
k8s.core.v1.Service(
    "raw-triton-lb",
    metadata={"name": "triton-public", "namespace": "triton-embed",
              "labels": {"aiplat.io/data-classification": "confidential"},
              "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}},
    spec={"type": "LoadBalancer", "selector": {"app.kubernetes.io/name": "triton"},
          "ports": [{"name": "http", "port": 8000, "targetPort": 8000}]},
    opts=pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider),
)
