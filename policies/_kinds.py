"""What the supply-chain, transport, audit and workload policies share: kinds of types.

Each of those policies decides per resource type (``coverage``) from the provider schema
(``aiplat.policies._schema``) and what it knows of a few types the schema cannot describe:

- Kubernetes custom resources have no SDK class, so no schema: the policies know the few
  kinds the platform uses (KEDA scalers, prometheus-operator monitors and rules, the AWS
  Load Balancer Controller's TargetGroupBinding) and what they can carry; any other custom
  kind is "cannot judge" (it might run a pod, open a listener, hold data).
- A Helm release renders its objects inside the Kubernetes provider: none of them (their
  images, pod settings, Services) is in the graph. Every policy that judges pods, images or
  listeners says "cannot judge" for it; a stack that installs pinned charts allows the type
  on purpose (``allowedTypes``), the chart pins being reviewed in the installers catalog.
- Component resources (``aiplat:*`` and any other non-provider package with no schema whose
  resources are not custom) and ``pulumi:pulumi:Stack`` hold no inputs of their own.
"""

from __future__ import annotations

from typing import Any, Iterator

from aiplat.policies._props import UNKNOWN, elements, get

HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
HELM_REASON = ("a Helm release renders its objects (images, pods, Services) inside the provider; none of them "
               "is in the graph")
# Custom kinds the policies know: group/version:Kind -> what it is.
KNOWN_CUSTOM = {
    "kubernetes:keda.sh/v1alpha1:ScaledObject": "a KEDA scaler (scales a workload; runs nothing itself)",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": "a scrape target list for Prometheus",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": "a scrape target list for Prometheus",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": "Prometheus alerting/recording rules",
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding": "binds an ALB target group to a Service (the target "
                                                           "group's own protocol is judged on the aws type)",
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Types whose containers live inside a JSON string input the schema cannot see into.
JSON_CONTAINERS = {
    "aws:ecs/taskDefinition:TaskDefinition": "containerDefinitions",
    "aws:batch/jobDefinition:JobDefinition": "containerProperties",
}


def trivial(resource_type: str) -> str | None:
    """Why a type has nothing any of these policies reads, or None."""
    if resource_type == "pulumi:pulumi:Stack":
        return "the stack itself holds no inputs"
    if resource_type.startswith("pulumi:providers:"):
        return "a provider configures API access, it runs or stores nothing"
    if resource_type.startswith("aiplat:"):
        return "an aiplat component resource: its children are judged one by one"
    if resource_type.startswith("random:"):
        return "a random value generator (pulumi_random) holds no data, listener or workload"
    return None


def containers(spec: Any) -> Iterator[tuple[str, int, Any]]:
    """(list name, index, container) of every container of a pod spec; UNKNOWN lists yield one UNKNOWN."""
    for key in CONTAINER_LISTS:
        value = get(spec, key)
        if value is UNKNOWN:
            yield key, -1, UNKNOWN
            continue
        for i, c in enumerate(elements(value or [])):
            yield key, i, c
