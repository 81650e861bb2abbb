"""A fresh GCP project: the APIs each resource needs are enabled before it, the service agents the
grants name exist before the grants; AWS budgets' tag keys are activated; the deploy rule
``gcp-api-enabled`` catches a graph that does not do so."""

from __future__ import annotations

import copy

import pulumi_gcp
import pytest

from aiplat.catalog import gcp_apis as catalog
from aiplat.project import read_stack_config
from aiplat.tools.deploy import RULE_MODULES, Context, analyze
from aiplat.tools.deploy import gcp_apis as rule
from aiplat.tools.deploy._graph import Graph
from tests._project import run_stack, stack_file_path

from .conftest import recorded

PROJECT = "acme-inference-prod"
NUMBER = "378533855340"  # the recording engine's project number for PROJECT
GKE_AGENT = f"service-{NUMBER}@container-engine-robot.iam.gserviceaccount.com"
GCS_AGENT = f"service-{NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
PD_AGENT = f"service-{NUMBER}@compute-system.iam.gserviceaccount.com"
APIS_URN = "urn:pulumi:gcp-prod::aiplat::aiplat:platform:AiPlatform$aiplat:project_apis:ProjectApis"
APIS = f"{APIS_URN}::gcp-prod-apis"  # the ProjectApis component
AWS_STACKS = ["dev", "staging", "prod", "prod-eu"]
CE_TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"


def service_urn(short: str) -> str:
    return f"{APIS_URN}$gcp:projects/service:Service::gcp-prod-apis-{short}"


def graph(stack: str = "gcp-prod") -> Graph:
    return Graph.of(recorded(stack).steps())


def only(g: Graph, type_: str, name: str):
    (found,) = [n for n in g.of_type(type_) if n.name == name]
    return found


# -- the catalog ----------------------------------------------------------------------------------
def test_the_catalog_names_each_types_apis_and_the_defaults_of_a_new_project():
    assert catalog.catalog_date().isoformat() == "2026-12-02"
    assert catalog.apis_for("gcp:container/cluster:Cluster") == ("container.googleapis.com",)
    assert catalog.apis_for("gcp:container/nodePool:NodePool") == ("container.googleapis.com",)
    assert catalog.apis_for("gcp:compute/network:Network") == ("compute.googleapis.com",)
    assert catalog.apis_for("gcp:kms/cryptoKey:CryptoKey") == ("cloudkms.googleapis.com",)
    assert catalog.apis_for("gcp:endpoints/service:Service") == (
        "servicemanagement.googleapis.com", "servicecontrol.googleapis.com", "endpoints.googleapis.com")
    assert catalog.api_for("gcp:endpoints/service:Service") == "servicemanagement.googleapis.com"
    assert catalog.apis_for("gcp:billing/budget:Budget") == ("billingbudgets.googleapis.com",)
    assert catalog.apis_for("gcp:dns/recordSet:RecordSet") == ("dns.googleapis.com",)
    assert catalog.apis_for("gcp:serviceaccount/account:Account") == ("iam.googleapis.com",)
    assert catalog.apis_for("gcp:projects/iAMMember:IAMMember") == ("cloudresourcemanager.googleapis.com",)
    # Service Usage is how APIs get enabled: needed, never enabled by the program
    assert catalog.apis_for(catalog.SERVICE_TYPE) == ("serviceusage.googleapis.com",)
    assert catalog.to_enable(catalog.SERVICE_TYPE) == ()
    assert catalog.api("serviceusage.googleapis.com").bootstrap is True
    # unknown: no guess
    assert catalog.apis_for("gcp:workbench/instance:Instance") is None
    assert catalog.api_for("gcp:workbench/instance:Instance") is None
    assert catalog.apis_for("gcp:billing/subAccount:SubAccount") is None  # billing is per type, not module
    defaults = sorted(n for n, a in catalog._data().apis.items() if a.enabled_by_default)
    assert defaults == ["logging.googleapis.com", "monitoring.googleapis.com", "servicemanagement.googleapis.com",
                        "serviceusage.googleapis.com", "storage.googleapis.com"]


def test_the_catalog_reads_service_agents_from_grant_members():
    email, gke = catalog.agent_of(f"serviceAccount:{GKE_AGENT}")
    assert (email, gke.api, gke.created_by, gke.role) == (
        GKE_AGENT, "container.googleapis.com", "identity", "roles/container.serviceAgent")
    assert catalog.agent_of(f"serviceAccount:{PD_AGENT}")[1].created_by == "enable"
    assert catalog.agent_of(f"serviceAccount:{GCS_AGENT}")[1].created_by == "lookup"
    assert catalog.agent_of("serviceAccount:esp@acme-inference-prod.iam.gserviceaccount.com") is None
    assert catalog.agent_email(NUMBER, "container.googleapis.com") == GKE_AGENT


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-eu", "gcp-prod"])
def test_every_gcp_type_of_the_shipped_stacks_is_in_the_catalog(stack):
    types = sorted({n.type for n in graph(stack).nodes if n.type.startswith("gcp:")})
    assert [t for t in types if catalog.apis_for(t) is None] == []
    assert (stack == "gcp-prod") == bool(types)


# -- the GCP graph ----------------------------------------------------------------------------------
def test_gcp_prod_enables_each_api_before_its_first_user():
    g = graph()
    services = list(g.of_type(catalog.SERVICE_TYPE))
    by_api = {s.inputs["service"]: s for s in services}
    assert len(by_api) == len(services)  # one Service per API
    for s in services:
        assert s.inputs == {"project": PROJECT, "service": s.inputs["service"], "disableOnDestroy": False}
        assert s.parent == APIS
        assert s.name == f"gcp-prod-apis-{s.inputs['service'].removesuffix('.googleapis.com')}"
    needed: set[str] = set()
    users = [n for n in g.nodes if n.type.startswith("gcp:") and n.type != catalog.SERVICE_TYPE]
    assert len(users) > 90
    for n in users:
        for api in catalog.to_enable(n.type):
            needed.add(api)
            assert g.waits_for(n, by_api[api]), f"{n.urn} does not wait for {api}"
    # derived from the resources: exactly the APIs they need, nothing by hand
    assert sorted(by_api) == sorted(needed) == [
        "billingbudgets.googleapis.com", "cloudkms.googleapis.com", "cloudresourcemanager.googleapis.com",
        "compute.googleapis.com", "container.googleapis.com", "dns.googleapis.com", "endpoints.googleapis.com",
        "iam.googleapis.com", "monitoring.googleapis.com", "servicecontrol.googleapis.com",
        "servicemanagement.googleapis.com", "storage.googleapis.com"]


@pytest.mark.parametrize("type_,name,apis", [
    ("gcp:container/cluster:Cluster", "gcp-prod-us-central1-gke", ["container"]),
    ("gcp:container/nodePool:NodePool", "gcp-prod-us-east4-system", ["container"]),
    ("gcp:compute/network:Network", "gcp-prod-us-central1-vpc", ["compute"]),
    ("gcp:compute/globalForwardingRule:GlobalForwardingRule", "gcp-prod-routing-https", ["compute"]),
    ("gcp:kms/keyRing:KeyRing", "gcp-prod-us-east4-keys", ["cloudkms"]),
    ("gcp:endpoints/service:Service", "gcp-prod-routing-endpoints", ["endpoints", "servicecontrol", "servicemanagement"]),
    ("gcp:billing/budget:Budget", "gcp-prod-mon-budget", ["billingbudgets"]),
    ("gcp:dns/recordSet:RecordSet", "gcp-prod-routing-dns", ["dns"]),
    ("gcp:serviceaccount/account:Account", "gcp-prod-us-central1-nodes", ["iam"]),
    ("gcp:storage/bucket:Bucket", "gcp-prod-us-central1-embed-models", ["storage"]),
    ("gcp:monitoring/alertPolicy:AlertPolicy", "gcp-prod-mon-lb-5xx", ["monitoring"]),
    ("gcp:projects/iAMMember:IAMMember", "gcp-prod-us-central1-nodes-logging.logWriter", ["cloudresourcemanager"]),
])
def test_a_resource_depends_directly_on_the_services_of_its_apis(type_, name, apis):
    g = graph()
    node = only(g, type_, name)
    enabled = sorted(u.rsplit("-apis-", 1)[1] for u in node.dependencies if u.startswith(f"{APIS_URN}$gcp:projects/service"))
    assert enabled == apis
    assert [f"{a}.googleapis.com" for a in sorted(apis)] == sorted(catalog.to_enable(type_))


def test_the_kubernetes_engine_agent_exists_with_its_role_before_the_grants_naming_it():
    g = graph()
    (identity,) = g.of_type(catalog.IDENTITY_TYPE)
    assert identity.name == "gcp-prod-apis-container-agent" and identity.parent == APIS
    assert identity.inputs == {"project": PROJECT, "service": "container.googleapis.com"}
    assert identity.dependencies == (service_urn("container"),)
    role = only(g, "gcp:projects/iAMMember:IAMMember", "gcp-prod-apis-container-agent-role")
    assert role.inputs == {"project": PROJECT, "role": "roles/container.serviceAgent",
                           "member": f"serviceAccount:{GKE_AGENT}"}
    assert sorted(role.dependencies) == sorted([identity.urn, service_urn("cloudresourcemanager")])
    grants = [n for n in g.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if n.name.endswith("-secrets-gke")]
    assert sorted(n.name for n in grants) == ["gcp-prod-us-central1-secrets-gke", "gcp-prod-us-east4-secrets-gke"]
    for grant in grants:
        assert grant.inputs["member"] == f"serviceAccount:{GKE_AGENT}"
        assert {identity.urn, role.urn, service_urn("container"), service_urn("cloudkms")} <= set(grant.dependencies)
        cluster = only(g, "gcp:container/cluster:Cluster", grant.name.replace("-secrets-gke", "-gke"))
        assert g.waits_for(cluster, grant) and g.waits_for(cluster, role)


def test_the_storage_and_compute_agents_are_created_before_their_grants():
    g = graph()
    grants = list(g.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"))
    gcs = [n for n in grants if n.name.endswith("-gcs")]
    pd = [n for n in grants if n.name.endswith("-pd")]
    assert sorted(n.name for n in gcs) == [  # the model, vector and access-log buckets' keys
        "gcp-prod-us-central1-access-logs-gcs", "gcp-prod-us-central1-embed-models-gcs",
        "gcp-prod-us-central1-vectors-vectors-gcs", "gcp-prod-us-east4-access-logs-gcs",
        "gcp-prod-us-east4-embed-models-gcs"]
    assert [n.name for n in pd] == ["gcp-prod-us-central1-vectors-vectors-pd"]
    for n in gcs:  # the member is the storage API's lookup (which creates the agent), after the API
        assert n.inputs["member"] == f"serviceAccount:{GCS_AGENT}"
        assert service_urn("storage") in n.dependencies
    assert pd[0].inputs["member"] == f"serviceAccount:{PD_AGENT}"
    assert service_urn("compute") in pd[0].dependencies  # enabling compute creates its agent
    # no ServiceIdentity for agents it cannot create (not the APIs' primary agents)
    assert [n.inputs["service"] for n in g.of_type(catalog.IDENTITY_TYPE)] == ["container.googleapis.com"]


def test_the_budget_is_accounted_to_the_project_that_enables_its_api():
    g = graph()
    budget = only(g, "gcp:billing/budget:Budget", "gcp-prod-mon-budget")
    provider = g.provider_of(budget)
    assert provider.name == "gcp-prod-mon-billing" and provider.type == "pulumi:providers:gcp"
    assert {k: provider.inputs[k] for k in ("project", "billingProject", "userProjectOverride")} == {
        "project": PROJECT, "billingProject": PROJECT, "userProjectOverride": "true"}
    assert service_urn("billingbudgets") in budget.dependencies


# -- AWS: cost allocation tags ----------------------------------------------------------------------
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_stacks_activate_the_tag_the_budget_filters_on(stack):
    rec = recorded(stack)
    (budget,) = rec.of_type("aws:budgets/budget:Budget")
    tags = rec.of_type(CE_TAG)
    assert [t.inputs for t in tags] == [{"tagKey": "cost-center", "status": "Active"}]
    (tag,) = tags
    assert tag.name == f"{stack}-mon-cost-tag-cost-center"
    assert tag.provider == budget.provider  # account-level: the budget's one provider, once per stack
    assert tag.urn in budget.dependencies
    cfg = read_stack_config(stack_file_path(stack))["aiplat:platform"]
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": [f"user:cost-center${cfg['tags']['cost_center']}"]}]


def test_gcp_stacks_activate_no_aws_tags():
    assert recorded("gcp-prod").of_type(CE_TAG) == []


def test_the_activation_can_be_left_to_the_management_account():
    config = read_stack_config(stack_file_path("dev"))
    config["aiplat:platform"]["monitoring"] = {**config["aiplat:platform"].get("monitoring", {}),
                                               "activate_cost_allocation_tags": False}
    rec = run_stack("dev", config)
    (budget,) = rec.of_type("aws:budgets/budget:Budget")
    assert rec.of_type(CE_TAG) == []
    assert not any(":costexplorer/" in d for d in budget.dependencies)


# -- the deploy rule ----------------------------------------------------------------------------------
def findings(steps, stack="gcp-prod"):
    return [(f.resource.rsplit("::", 1)[1], f.message, f.change, f.severity)
            for f in rule.check(Graph.of(steps), Context(stack, {}))]


def steps_without(*urns: str) -> list[dict]:
    return [copy.deepcopy(s) for s in recorded("gcp-prod").steps() if s["newState"]["urn"] not in urns]


def drop_dependencies(steps: list[dict], name: str, *dropped: str) -> list[dict]:
    (state,) = [s["newState"] for s in steps if s["newState"]["urn"].endswith(f"::{name}")]
    assert set(dropped) <= set(state["dependencies"])
    state["dependencies"] = [d for d in state["dependencies"] if d not in dropped]
    return steps


def test_the_rule_is_registered_and_silent_on_every_shipped_stack(stacks):
    assert rule.RULE == "gcp-api-enabled" and "gcp_apis" in RULE_MODULES
    for stack in stacks:
        report = analyze(recorded(stack).steps(), Context(stack, read_stack_config(stack_file_path(stack))))
        assert [f for f in report.findings if f.rule == rule.RULE] == [], stack


def test_a_resource_that_does_not_wait_for_its_api_is_a_blocker():
    steps = drop_dependencies(steps_without(), "gcp-prod-routing-dns", service_urn("dns"))
    assert findings(steps) == [(
        "gcp-prod-routing-dns",
        "gcp:dns/recordSet:RecordSet does not wait for gcp-prod-apis-dns, which enables dns.googleapis.com in "
        "project acme-inference-prod: on a fresh project it is created before its API is on and fails",
        "make gcp-prod-routing-dns depend on gcp-prod-apis-dns (ResourceOptions.depends_on)",
        "blocker")]


def test_a_graph_that_never_enables_an_api_is_a_blocker_for_each_of_its_users():
    steps = steps_without(service_urn("billingbudgets"))
    assert findings(steps) == [(
        "gcp-prod-mon-budget",
        "gcp:billing/budget:Budget needs billingbudgets.googleapis.com enabled in project acme-inference-prod, "
        "and the graph never enables it (no gcp:projects/service:Service for it)",
        "add a gcp.projects.Service for billingbudgets.googleapis.com in project acme-inference-prod and make "
        "gcp-prod-mon-budget depend on it",
        "blocker")]
    container = findings(steps_without(service_urn("container")))
    users = sorted({name for name, *_ in container})
    g = graph()
    assert users == sorted([*(n.name for n in g.nodes if n.type.startswith("gcp:container/")),
                            "gcp-prod-apis-container-agent"])  # the ServiceIdentity needs its API on
    assert len(users) == 14  # 2 clusters, 11 node pools (GPU tiers and the Milvus pool), the agent
    assert ("gcp-prod-us-east4-gke",
            "gcp:container/cluster:Cluster needs container.googleapis.com enabled in project acme-inference-prod, "
            "and the graph never enables it (no gcp:projects/service:Service for it)",
            "add a gcp.projects.Service for container.googleapis.com in project acme-inference-prod and make "
            "gcp-prod-us-east4-gke depend on it", "blocker") in container
    assert ("gcp-prod-apis-container-agent",
            "gcp:projects/serviceIdentity:ServiceIdentity needs container.googleapis.com enabled in project "
            "acme-inference-prod, and the graph never enables it (no gcp:projects/service:Service for it)",
            "add a gcp.projects.Service for container.googleapis.com in project acme-inference-prod and make "
            "gcp-prod-apis-container-agent depend on it", "blocker") in container


def test_a_grant_that_does_not_wait_for_its_service_identity_is_a_blocker():
    identity = f"{APIS_URN}$gcp:projects/serviceIdentity:ServiceIdentity::gcp-prod-apis-container-agent"
    role = f"{APIS_URN}$gcp:projects/iAMMember:IAMMember::gcp-prod-apis-container-agent-role"
    steps = drop_dependencies(steps_without(), "gcp-prod-us-central1-secrets-gke", identity, role)
    assert findings(steps) == [(
        "gcp-prod-us-central1-secrets-gke",
        f"the grant to {GKE_AGENT} (Kubernetes Engine Service Agent) does not wait for gcp-prod-apis-container-agent, "
        "which creates that agent",
        "make gcp-prod-us-central1-secrets-gke depend on gcp-prod-apis-container-agent (ResourceOptions.depends_on)",
        "blocker")]
    missing = findings(steps_without(identity))
    assert sorted(name for name, *_ in missing) == [
        "gcp-prod-apis-container-agent-role", "gcp-prod-us-central1-secrets-gke", "gcp-prod-us-east4-secrets-gke"]
    assert missing[0][1:] == (
        f"the grant to {GKE_AGENT} (Kubernetes Engine Service Agent) names an agent that does not exist until a "
        "gcp:projects/serviceIdentity:ServiceIdentity for container.googleapis.com creates it, and the graph has "
        "none in project acme-inference-prod",
        f"add a gcp.projects.ServiceIdentity for container.googleapis.com in project acme-inference-prod and make "
        f"{missing[0][0]} depend on it",
        "blocker")


def test_a_grant_to_an_agent_its_api_creates_needs_that_api():
    found = findings(steps_without(service_urn("compute")))
    assert ("gcp-prod-us-central1-vectors-vectors-pd",
            f"the grant to {PD_AGENT} (Compute Engine Service Agent) needs compute.googleapis.com enabled in project "
            "acme-inference-prod, and the graph never enables it (no gcp:projects/service:Service for it)",
            "add a gcp.projects.Service for compute.googleapis.com in project acme-inference-prod and make "
            "gcp-prod-us-central1-vectors-vectors-pd depend on it", "blocker") in found
    # the GCS grants' agent comes from the storage lookup: they are held to the storage API
    gcs = [f for f in findings(steps_without(service_urn("storage"))) if f[0].endswith("-gcs")]
    assert sorted(f[0] for f in gcs) == [
        "gcp-prod-us-central1-access-logs-gcs", "gcp-prod-us-central1-embed-models-gcs",
        "gcp-prod-us-central1-vectors-vectors-gcs", "gcp-prod-us-east4-access-logs-gcs",
        "gcp-prod-us-east4-embed-models-gcs"]
    assert gcs[0][1] == (f"the grant to {GCS_AGENT} (Cloud Storage Service Agent) needs storage.googleapis.com "
                         "enabled in project acme-inference-prod, and the graph never enables it (no "
                         "gcp:projects/service:Service for it)")


def test_a_gcp_type_the_catalog_does_not_know_cannot_be_judged():
    assert hasattr(pulumi_gcp.workbench, "Instance")  # a real pulumi_gcp type, not in the catalog
    steps = steps_without()
    (state,) = [s["newState"] for s in steps if s["newState"]["urn"].endswith("::gcp-prod-routing-dns")]
    state["type"] = "gcp:workbench/instance:Instance"
    assert findings(steps) == [(
        "gcp-prod-routing-dns",
        "cannot judge gcp:workbench/instance:Instance: the API catalog (components/catalog/gcp_apis.yaml) does not "
        "say which service API it needs enabled",
        "add gcp:workbench/instance:Instance (or its module) with the API it needs to components/catalog/gcp_apis.yaml",
        "blocker")]


def test_a_resource_whose_project_the_graph_does_not_say_cannot_be_judged():
    steps = steps_without()
    (state,) = [s["newState"] for s in steps if s["newState"]["urn"].endswith("::gcp-prod-routing-dns")]
    del state["inputs"]["project"]
    state["provider"] = ""
    assert findings(steps) == [(
        "gcp-prod-routing-dns",
        "cannot judge gcp:dns/recordSet:RecordSet: neither the resource nor its provider names a project, so the "
        "project whose APIs it needs is unknown",
        "set project on the resource or on its gcp provider",
        "blocker")]


# -- ProjectApis on its own -------------------------------------------------------------------------
def _own_program():
    import pulumi
    import pulumi_gcp as gcp

    from aiplat import ProjectApis, ProjectApisArgs

    provider = gcp.Provider("p", project="team-a-project", region="europe-west4")
    apis = ProjectApis("apis", ProjectApisArgs(project="team-a-project"), pulumi.ResourceOptions(provider=provider))
    opts = pulumi.ResourceOptions(provider=provider, transformations=[apis.transformation])
    gcp.secretmanager.Secret("mine", secret_id="s", replication={"auto": {}}, opts=opts)
    gcp.pubsub.Topic("theirs", project="team-b-project", opts=opts)  # another project: not ours to enable
    gcp.workbench.Instance("unknown", location="europe-west4-a", opts=opts)  # not in the catalog: left alone
    apis.finish()


def test_project_apis_enables_what_its_project_uses_and_the_rule_reports_the_rest():
    from aiplat.testing import engine

    rec = engine.run_program(_own_program, "own", {})
    g = Graph.of(rec.steps())
    assert [(s.name, s.inputs["service"]) for s in g.of_type(catalog.SERVICE_TYPE)] == [
        ("apis-secretmanager", "secretmanager.googleapis.com")]
    by_name = {n.name: n for n in g.nodes}
    assert by_name["mine"].dependencies == (by_name["apis-secretmanager"].urn,)
    assert by_name["theirs"].dependencies == () and by_name["unknown"].dependencies == ()
    assert sorted(findings(rec.steps(), "own")) == [
        ("theirs",
         "gcp:pubsub/topic:Topic needs pubsub.googleapis.com enabled in project team-b-project, and the graph never "
         "enables it (no gcp:projects/service:Service for it)",
         "add a gcp.projects.Service for pubsub.googleapis.com in project team-b-project and make theirs depend on it",
         "blocker"),
        ("unknown",
         "cannot judge gcp:workbench/instance:Instance: the API catalog (components/catalog/gcp_apis.yaml) does not "
         "say which service API it needs enabled",
         "add gcp:workbench/instance:Instance (or its module) with the API it needs to components/catalog/gcp_apis.yaml",
         "blocker"),
    ]
