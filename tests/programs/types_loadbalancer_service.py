"""A Service of type LoadBalancer in front of Triton: a public path around the authenticated gateway."""
import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

platform()
kube = k8s.Provider("raw-kube", kubeconfig="apiVersion: v1\nkind: Config\n")
EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-triton-lb", "type LoadBalancer without an internal-scheme annotation")]}

k8s.core.v1.Service("raw-triton-lb", metadata={"name": "triton-public", "namespace": "default"},
                    spec={"type": "LoadBalancer", "selector": {"app": "triton"},
                          "ports": [{"port": 80, "target_port": 8000}]},
                    opts=pulumi.ResourceOptions(provider=kube))
