"""What the supply-chain, transport, audit and workload policies share: kinds of types.

Each of those policies decides per resource type (``coverage``) from the provider schema
(``aiplat.policies._schema``) and what it knows of a few types the schema cannot describe:

- Kubernetes custom resources have no SDK class, so no schema: the policies know the few
  kinds the platform uses (KEDA scalers, prometheus-operator monitors and rules, the AWS
  Load Balancer Controller's TargetGroupBinding) and what they can carry; any other custom
  kind is "cannot judge" (it might run a pod, open a listener, hold data).
- A Helm release renders its objects inside the Kubernetes provider: none of them (their
  images, pod settings, Services) is in the graph. The policies judge a release by its pin
  and its values: the chart, its repository and version must be in the installers catalog
  (``components/catalog/installers.yaml``: charts whose sources were read at that version),
  else it is refused as "cannot judge"; each policy then reads the values that change what it
  checks (an image override, a privileged pod, a LoadBalancer Service). What a known chart
  renders from its own defaults is not read: that is the review behind the catalog entry.
- Component resources (``aiplat:*`` and any other non-provider package with no schema whose
  resources are not custom) and ``pulumi:pulumi:Stack`` hold no inputs of their own.
"""

from __future__ import annotations

from typing import Any, Iterator

from aiplat.policies._props import UNKNOWN, elements, get

HELM_TYPES = ("kubernetes:helm.sh/v3:Release",)


def helm_pin_problem(props: Any) -> str | None:
    """Why a Helm release's chart is not one the installers catalog knows at that version, or None."""
    from aiplat.catalog import installers

    chart, version, repo = get(props, "chart"), get(props, "version"), get(props, "repositoryOpts", "repo")
    if UNKNOWN in (chart, version, repo):
        return "its chart, version or repository is unknown at preview"
    if not all(isinstance(v, str) and v for v in (chart, version, repo)):
        return "it names no chart repository and version (a local or unpinned chart)"
    entry = installers.chart(chart, repo)
    if entry is None or not entry.knows(version):
        return (f"chart {chart} {version} from {repo} is not in the installers catalog "
                f"(components/catalog/installers.yaml): nothing it renders was reviewed")
    return None


def helm_exposure(props: Any) -> str | None:
    """Where a release's values make the chart expose a load balancer (a LoadBalancer Service or an
    enabled Ingress) the graph does not show, or None."""
    from aiplat.policies._props import path_str

    for path, value in helm_values(props):
        keys = [k.lower() for k in path if isinstance(k, str)]
        if value is UNKNOWN and (not keys or keys[-1] in ("type", "enabled")):
            return f"values {path_str(path)} are unknown at preview: whether the chart exposes a load balancer is unknown"
        if value == "LoadBalancer" or (value is True and keys[-1:] == ["enabled"] and "ingress" in keys):
            return f"values {path_str(path)}={value!r} makes the chart expose a load balancer the graph does not show"
    return None


def release_problem(props: Any) -> str | None:
    """For the transport and access-log policies: an unknown chart, or a load balancer from values."""
    return helm_pin_problem(props) or helm_exposure(props)


def helm_values(props: Any) -> Iterator[tuple[tuple, Any]]:
    """Every leaf of a release's values as (path, value); UNKNOWN leaves included."""
    from aiplat.policies._props import walk

    values = get(props, "values", default={})
    if values is UNKNOWN:
        yield (), UNKNOWN
        return
    yield from walk(values)
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
    if resource_type in ("kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v4:Chart"):
        return "a Chart component renders its objects as child resources of the program, each judged itself"
    if resource_type.startswith("random:"):
        return "a random value generator (pulumi_random) holds no data, listener or workload"
    if resource_type.startswith("tls:"):
        return ("a key or certificate generated in the program (pulumi_tls): it holds no data, listener or workload "
                "itself (the Secret that carries it is judged)")
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


def report_undecided(policy: str, coverage, resources, allowed: list[str], report) -> None:
    """For a stack policy: report every resource whose type it cannot judge, and every Helm release
    whose pin or values it cannot read (``release_problem``), unless the type is allowed."""
    from aiplat.policies._judge import report_unjudged

    for r in resources:
        cov = coverage(r.resource_type)
        if cov.kind == "cannot-judge":
            report_unjudged(policy, r.resource_type, r.name, cov.reason, allowed, report, r.urn)
        elif r.resource_type in HELM_TYPES and (problem := release_problem(r.props)):
            report_unjudged(policy, r.resource_type, r.name, problem, allowed, report, r.urn)
