"""Reachability by design (issue 12 item 2): the stack says how `pulumi up` reaches every cluster API.

Config: ``deployer`` (aiplat.config.deployer) against ``cluster.endpoint_public_access`` /
``public_access_cidrs``. Graph: the peering, routes, 443 ingress and authorized network a private
cluster gets, and the Kubernetes provider's dependency on them. Deploy rule ``cluster-reachable``
(aiplat.tools.deploy.reach): silent on the shipped stacks, exact blockers on real stacks made
unreachable.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from aiplat.tools.deploy import RULE_MODULES, Context, analyze
from aiplat.policies import offline
from tests._project import policy_config_path, run_stack, stack_config, stack_file_path
from tests.conftest import recorded
from tests.test_config_errors import config_error_lines, raw_of, write_stack

RUNNER_VPC = "vpc-0a1b2c3d4e5f60718"
RUNNER_CIDR = "10.200.0.0/16"
RUNNER_RTB = "rtb-0a1b2c3d4e5f60718"
RUNNER_GCP = "projects/aiplat-runner/global/networks/runner"
PEERING = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"
ACCEPTER = "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GCP_PEERING = "gcp:compute/networkPeering:NetworkPeering"
K8S = "pulumi:providers:kubernetes"
PRIVATE_ONLY = ("cluster.endpoint_public_access: false (private endpoint only) and no deployer.network: nothing the "
                "program creates lets the deployer reach the API; declare deployer.network (a runner network the "
                "program peers with each cluster) or set endpoint_public_access: true with public_access_cidrs "
                "including deployer.cidrs")


def named(rec, type_: str, name: str):
    [r] = [r for r in rec.of_type(type_) if r.name == name]
    return r


# -- config: every problem with its key path, through the CLI (exit 2) ------------------------------
def check_lines(cli, tmp_path, stack: str, raw: dict) -> list[str]:
    path = write_stack(tmp_path / f"Pulumi.{stack}.yaml", stack, raw)
    lines = config_error_lines(cli("check", stack, "--stack-file", str(path)))
    assert lines[0].startswith(f"aiplat check: invalid configuration in {path} (")
    return lines[1:]


def test_a_private_only_cluster_without_a_runner_network_names_both_keys(cli, tmp_path):
    raw = raw_of("staging")
    del raw["deployer"]["network"]
    assert check_lines(cli, tmp_path, "staging", raw) == [
        f"  {PRIVATE_ONLY}",
        "  deployer.network: required when cluster.endpoint_public_access is false (private endpoint only): the "
        "runner network the deployer reaches the API from",
    ]


def test_a_private_only_cluster_without_any_deployer_is_refused(cli, tmp_path):
    raw = raw_of("gcp-prod")
    raw["cluster"]["endpoint_public_access"] = False
    del raw["deployer"]
    lines = check_lines(cli, tmp_path, "gcp-prod", raw)
    assert [line.split(":")[0].strip() for line in lines] == ["cluster.endpoint_public_access", "deployer.network"]


def test_a_public_endpoint_must_admit_every_deployer_cidr(cli, tmp_path):
    raw = raw_of("dev")  # public_access_cidrs: [203.0.113.0/24]
    raw["deployer"]["cidrs"] = ["203.0.113.10/32", "198.51.100.7/32"]
    assert check_lines(cli, tmp_path, "dev", raw) == [
        "  cluster.public_access_cidrs: does not include deployer.cidrs[1] 198.51.100.7/32: the deployer could not "
        "reach the public API endpoint; add it (or a range holding it)",
    ]


def test_a_public_endpoint_needs_the_deployer_addresses(cli, tmp_path):
    raw = raw_of("dev")
    del raw["deployer"]
    assert check_lines(cli, tmp_path, "dev", raw) == [
        "  deployer.cidrs: required when cluster.endpoint_public_access is true: the runner's egress addresses the "
        "endpoint's allow-list must admit",
    ]


def test_the_runner_network_must_not_overlap_a_region(cli, tmp_path):
    raw = raw_of("prod")  # regions: 10.30/16, 10.31/16, 10.32/16
    raw["deployer"]["network"]["cidr"] = "10.31.128.0/17"
    assert check_lines(cli, tmp_path, "prod", raw) == [
        "  deployer.network.cidr: 10.31.128.0/17 overlaps regions[1].cidr 10.31.0.0/16: peered networks need "
        "disjoint ranges",
    ]


def test_deployer_field_problems_all_at_once(cli, tmp_path):
    raw = raw_of("gcp-prod")
    raw["deployer"] = {"cidrs": ["198.51.100.10/32", "not-a-cidr", "0.0.0.0/0"],
                       "network": {"cidr": "8.8.8.0/24", "aws_vpc_id": RUNNER_VPC}}
    assert check_lines(cli, tmp_path, "gcp-prod", raw) == [
        "  deployer.cidrs[1]: 'not-a-cidr' is not an IPv4 network: Expected 4 octets in 'not-a-cidr'",
        "  deployer.cidrs[2]: 0.0.0.0/0 is every address, not the runner's egress addresses",
        "  deployer.network.aws_vpc_id: only valid when cloud is aws",
        "  deployer.network.cidr: 8.8.8.0/24 is not a private (RFC 1918) range: VPC peering routes private ranges",
        "  deployer.network.gcp_network: required on gcp: the program peers each cluster network with the runner "
        "network",
    ]
    raw = raw_of("staging")
    raw["deployer"]["network"] = {"cidr": RUNNER_CIDR, "aws_vpc_id": "vpc-12", "gcp_network": RUNNER_GCP,
                                  "aws_account_id": "210987654321", "aws_route_table_ids": [RUNNER_RTB]}
    assert check_lines(cli, tmp_path, "staging", raw) == [
        "  deployer.network.aws_region: required on aws: the program peers each cluster network with the runner "
        "network",
        "  deployer.network.aws_route_table_ids: only for a runner VPC in the stack's account (aws_account_id is "
        "set): another account adds its routes itself",
        "  deployer.network.aws_vpc_id: 'vpc-12' is not a VPC id (vpc- and 8 or 17 hex digits)",
        "  deployer.network.gcp_network: only valid when cloud is gcp",
    ]


# -- graph: what makes the private path real -------------------------------------------------------
def test_aws_private_clusters_are_peered_routed_and_opened_to_the_runner():
    rec = recorded("staging")  # us-east-1 (the runner's region) and us-west-2; runner in the stack's account
    for region in ("us-east-1", "us-west-2"):
        n = f"staging-{region}"
        vpc = named(rec, "aws:ec2/vpc:Vpc", f"{n}-vpc")
        peering = named(rec, PEERING, f"{n}-deployer")
        assert {k: v for k, v in peering.inputs.items() if k != "tags"} == (
            {"vpcId": vpc.id, "peerVpcId": RUNNER_VPC, "autoAccept": True} if region == "us-east-1" else
            {"vpcId": vpc.id, "peerVpcId": RUNNER_VPC, "peerRegion": "us-east-1"})
        accepters = [a for a in rec.of_type(ACCEPTER) if a.name == f"{n}-deployer-accepter"]
        if region == "us-east-1":
            assert accepters == []  # auto_accept: one account, one region
        else:
            [acc] = accepters
            assert {k: v for k, v in acc.inputs.items() if k != "tags"} == {
                "vpcPeeringConnectionId": peering.id, "autoAccept": True, "region": "us-east-1"}
            assert peering.urn in acc.dependencies
        tables = [t for t in rec.of_type("aws:ec2/routeTable:RouteTable") if t.name.startswith(f"{n}-private-")]
        assert len(tables) == len(stack_config("staging")["aiplat:platform"]["regions"][0 if region == "us-east-1" else 1]["zones"])
        for t in tables:
            assert t.inputs["routes"][1:] == [{"cidrBlock": RUNNER_CIDR, "vpcPeeringConnectionId": peering.id}]
            assert peering.urn in t.dependencies and all(a.urn in t.dependencies for a in accepters)
        back = named(rec, "aws:ec2/route:Route", f"{n}-deployer-{RUNNER_RTB}")  # the runner's way back
        assert back.inputs == {"routeTableId": RUNNER_RTB, "destinationCidrBlock": vpc.inputs["cidrBlock"],
                               "vpcPeeringConnectionId": peering.id, "region": "us-east-1"}
        assert vpc.inputs["cidrBlock"] == ("10.20.0.0/16" if region == "us-east-1" else "10.21.0.0/16")
        assert peering.urn in back.dependencies and all(a.urn in back.dependencies for a in accepters)
        eks = named(rec, "aws:eks/cluster:Cluster", f"{n}-eks")
        assert "securityGroupIds" not in eks.inputs["vpcConfig"]  # the control plane has the cluster SG only
        rule = named(rec, INGRESS, f"{n}-deployer-https")
        assert {k: v for k, v in rule.inputs.items() if k not in ("tags", "securityGroupId", "description")} == {
            "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": RUNNER_CIDR}
        assert rule.property_dependencies["securityGroupId"] == [eks.urn]  # vpcConfig.clusterSecurityGroupId
        provider = named(rec, K8S, f"{n}-k8s")
        path = {peering.urn, rule.urn, back.urn, *(t.urn for t in tables), *(a.urn for a in accepters)}
        assert path <= set(provider.dependencies)


def test_every_kubernetes_object_waits_for_the_path():
    from aiplat.tools.deploy._graph import Graph

    graph = Graph.of(recorded("prod").steps())
    checked = 0
    for node in graph.nodes:
        provider = graph.provider_of(node)
        if provider is None or provider.type != K8S:
            continue
        region = provider.name.removeprefix("prod-").removesuffix("-k8s")
        peering = graph.by_urn[next(n.urn for n in graph.of_type(PEERING) if n.name == f"prod-{region}-deployer")]
        assert graph.waits_for(node, peering), node.urn
        checked += 1
    assert checked > 50


def test_a_public_stack_gets_no_peering():
    for stack in ("dev", "gcp-prod"):
        rec = recorded(stack)
        assert [r.type for r in rec.resources if r.type in (PEERING, ACCEPTER, INGRESS, GCP_PEERING)] == [], stack
    [eks] = recorded("dev").of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]


def private_gcp_prod() -> dict:
    config = stack_config("gcp-prod")
    platform = config["aiplat:platform"]
    platform["cluster"]["endpoint_public_access"] = False
    del platform["cluster"]["public_access_cidrs"]
    platform["deployer"]["network"] = {"cidr": RUNNER_CIDR, "gcp_network": RUNNER_GCP}
    return config


def test_gcp_private_clusters_are_peered_and_authorize_the_runner():
    rec = run_stack("gcp-prod", private_gcp_prod())
    for region in ("us-central1", "us-east4"):
        n = f"gcp-prod-{region}"
        net = named(rec, "gcp:compute/network:Network", f"{n}-vpc")
        peering = named(rec, GCP_PEERING, f"{n}-deployer")
        assert {k: v for k, v in peering.inputs.items() if k != "name"} == {"network": net.id, "peerNetwork": RUNNER_GCP}
        gke = named(rec, "gcp:container/cluster:Cluster", f"{n}-gke")
        assert gke.inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
        assert gke.inputs["masterAuthorizedNetworksConfig"] == {
            "cidrBlocks": [{"cidrBlock": RUNNER_CIDR, "displayName": "deployer-network"}]}
        assert peering.urn in named(rec, K8S, f"{n}-k8s").dependencies


# -- the deploy rule ----------------------------------------------------------------------------------
def findings(stack: str, steps: list, config: dict) -> list:
    return [f for f in analyze(steps, Context(stack, config)).findings if f.rule == "cluster-reachable"]


def test_the_rule_is_registered_and_silent_on_the_shipped_stacks(stacks):
    assert "reach" in RULE_MODULES
    for stack in stacks:
        assert findings(stack, recorded(stack).steps(), stack_config(stack)) == [], stack


K8S_URN = "urn:pulumi:{s}::aiplat::aiplat:platform:AiPlatform$aiplat:cluster:Cluster$pulumi:providers:kubernetes::{s}-{r}-k8s"


def test_a_public_endpoint_that_does_not_admit_the_deployer_blocks():
    config = stack_config("dev")
    config["aiplat:platform"]["deployer"]["cidrs"] = ["198.51.100.7/32"]  # the runner moved; the allow-list did not
    [f] = findings("dev", recorded("dev").steps(), config)
    assert (f.severity, f.resource) == ("blocker", K8S_URN.format(s="dev", r="us-east-1"))
    assert f.message == ("the deployer cannot reach the API of EKS cluster aiplat-dev-us-east-1 (Kubernetes provider "
                         "dev-us-east-1-k8s): its public endpoint admits 203.0.113.0/24 (vpcConfig.publicAccessCidrs), "
                         "not deployer.cidrs 198.51.100.7/32; no deployer.network (cidr and aws_vpc_id) is declared "
                         "to reach the private endpoint from")
    assert f.change == ("declare deployer.network (the runner VPC) so the program peers it with the cluster VPC, or "
                        "list deployer.cidrs in cluster.public_access_cidrs")


def aws_path_change(cidr: str = RUNNER_CIDR) -> str:
    return (f"create the path from the runner network {cidr}: a VPC peering from the cluster VPC to {RUNNER_VPC} "
            f"(accepted), a route to {cidr} over it in the route tables of the cluster's subnets, and an ingress rule "
            f"for TCP 443 from {cidr} on the cluster security group (vpcConfig.clusterSecurityGroupId)")


def test_a_private_cluster_peered_with_another_network_blocks():
    # The stack was deployed with one runner network; the deployer now declares another.
    config = stack_config("prod-eu")
    config["aiplat:platform"]["deployer"]["network"].update(cidr="10.201.0.0/16", aws_vpc_id="vpc-0fedcba9876543210")
    got = findings("prod-eu", recorded("prod-eu").steps(), config)
    assert [(f.severity, f.resource) for f in got] == [
        ("blocker", K8S_URN.format(s="prod-eu", r="eu-central-1")), ("blocker", K8S_URN.format(s="prod-eu", r="eu-west-1"))]
    f = got[0]
    assert f.message == ("the deployer cannot reach the API of EKS cluster aiplat-prod-eu-eu-central-1 (Kubernetes "
                         "provider prod-eu-eu-central-1-k8s): its endpoint is private only (vpcConfig."
                         "endpointPublicAccess false); no VPC peering connection from its VPC to the runner VPC "
                         "vpc-0fedcba9876543210 (deployer.network.aws_vpc_id) is in the graph")
    assert f.change == aws_path_change("10.201.0.0/16").replace(RUNNER_VPC, "vpc-0fedcba9876543210")


def without(steps: list, *suffixes: str) -> list:
    return [s for s in steps if not s["urn"].endswith(suffixes)]


def test_a_missing_443_rule_route_or_acceptance_blocks():
    steps = without(copy.deepcopy(recorded("staging").steps()), "::staging-us-west-2-deployer-https",
                    "::staging-us-west-2-deployer-accepter", f"::staging-us-west-2-deployer-{RUNNER_RTB}")
    for s in steps:  # us-west-2's first zone loses its route to the runner
        if s["urn"].endswith("aws:ec2/routeTable:RouteTable::staging-us-west-2-private-us-west-2a"):
            s["newState"]["inputs"]["routes"] = s["newState"]["inputs"]["routes"][:1]
    [f] = findings("staging", steps, stack_config("staging"))
    assert f.resource == K8S_URN.format(s="staging", r="us-west-2")
    assert f.message == (
        "the deployer cannot reach the API of EKS cluster aiplat-staging-us-west-2 (Kubernetes provider "
        "staging-us-west-2-k8s): its endpoint is private only (vpcConfig.endpointPublicAccess false); the VPC "
        f"peering to {RUNNER_VPC} is never accepted (no autoAccept, which needs one account and region, and no "
        "VpcPeeringConnectionAccepter with autoAccept); no route to 10.200.0.0/16 over that peering in the route "
        "tables of subnets staging-us-west-2-private-us-west-2a; no route back to its VPC 10.21.0.0/16 over that "
        f"peering in the runner route table {RUNNER_RTB} (deployer.network.aws_route_table_ids); no ingress rule for TCP 443 from 10.200.0.0/16 on "
        "its cluster security group (vpcConfig.clusterSecurityGroupId) or a group in vpcConfig.securityGroupIds")
    assert f.change == aws_path_change()


def test_a_provider_that_does_not_wait_for_the_path_blocks():
    steps = copy.deepcopy(recorded("staging").steps())
    [p] = [s for s in steps if s["urn"] == K8S_URN.format(s="staging", r="us-east-1")]
    # the peering and routes are waited for through the route tables; the 443 rule only directly
    p["newState"]["dependencies"] = [d for d in p["newState"]["dependencies"] if not d.endswith("-deployer-https")]
    [f] = findings("staging", steps, stack_config("staging"))
    assert f.message == ("the deployer's path to EKS cluster aiplat-staging-us-east-1 exists, but Kubernetes provider "
                         "staging-us-east-1-k8s does not wait for staging-us-east-1-deployer-https: the first up sends "
                         "Kubernetes objects before the path is there")
    assert f.change == "add staging-us-east-1-deployer-https to the provider's dependsOn"


def test_a_gke_control_plane_behind_peering_is_not_reachable_from_a_peered_runner():
    config = private_gcp_prod()
    got = findings("gcp-prod", run_stack("gcp-prod", config).steps(), config)
    assert [(f.severity, f.resource) for f in got] == [
        ("blocker", K8S_URN.format(s="gcp-prod", r="us-central1")), ("blocker", K8S_URN.format(s="gcp-prod", r="us-east4"))]
    assert got[0].message == (
        "the deployer cannot reach the API of GKE cluster aiplat-gcp-prod-us-central1 (Kubernetes provider "
        "gcp-prod-us-central1-k8s): its endpoint is private only (privateClusterConfig.enablePrivateEndpoint true); "
        "its control plane sits behind VPC peering (privateClusterConfig.masterIpv4CidrBlock 10.50.32.0/28) and "
        "peering is not transitive: a network peered with the cluster's network never reaches it")


def test_a_gke_public_endpoint_that_does_not_admit_the_deployer_blocks():
    config = stack_config("gcp-prod")
    config["aiplat:platform"]["deployer"]["cidrs"] = ["192.0.2.44/32"]
    got = findings("gcp-prod", recorded("gcp-prod").steps(), config)
    assert len(got) == 2 and got[1].message == (
        "the deployer cannot reach the API of GKE cluster aiplat-gcp-prod-us-east4 (Kubernetes provider "
        "gcp-prod-us-east4-k8s): its public endpoint admits only 198.51.100.0/28 (masterAuthorizedNetworksConfig."
        "cidrBlocks), not deployer.cidrs 192.0.2.44/32")
    assert got[1].change == "add deployer.cidrs to the master authorized networks (cluster.public_access_cidrs)"


def test_no_declared_deployer_blocks_and_an_untied_provider_warns():
    steps = copy.deepcopy(recorded("dev").steps())
    config = stack_config("dev")
    del config["aiplat:platform"]["deployer"]
    [f] = findings("dev", steps, config)
    assert f.message == ("no deployer is declared (aiplat:platform.deployer): nothing says how `up` reaches the API "
                         "of EKS cluster aiplat-dev-us-east-1 (Kubernetes provider dev-us-east-1-k8s)")
    # a provider with a kubeconfig from outside the graph (a cluster nobody here creates)
    [p] = [s for s in steps if s["urn"] == K8S_URN.format(s="dev", r="us-east-1")]
    p["newState"]["dependencies"] = []
    kubeconfig = json.loads(p["newState"]["inputs"]["kubeconfig"])
    kubeconfig["clusters"][0]["name"] = "legacy"
    kubeconfig["users"][0]["user"]["exec"]["args"][3] = "legacy"
    p["newState"]["inputs"]["kubeconfig"] = yaml.safe_dump(kubeconfig)
    [f] = findings("dev", steps, stack_config("dev"))
    assert f.severity == "warning" and f.message == (
        "Kubernetes provider dev-us-east-1-k8s is tied to no EKS or GKE cluster of this graph (no cluster among its "
        "dependencies; its kubeconfig names legacy): an external kubeconfig, so cannot judge whether the deployer "
        "reaches it")
    # ... and one whose kubeconfig names a graph cluster is tied by name, without dependencies
    p["newState"]["inputs"]["kubeconfig"] = p["newState"]["inputs"]["kubeconfig"].replace("legacy", "aiplat-dev-us-east-1")
    assert findings("dev", steps, stack_config("dev")) == []


# -- the prod security baseline keeps refusing an open endpoint (gcp-prod ships public) -----------------
def test_gcp_prod_with_its_authorized_networks_opened_to_the_world_fails_with_exit_1(cli, tmp_path):
    doc = yaml.safe_load(stack_file_path("gcp-prod").read_text())
    doc["config"]["aiplat:platform"]["cluster"]["public_access_cidrs"] = ["0.0.0.0/0"]  # admits deployer.cidrs
    path = tmp_path / "Pulumi.gcp-prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "gcp-prod.json"
    result = cli("check", "gcp-prod", "--stack-file", str(path), "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = [v for v in json.loads(out.read_text())["policies"]["verdicts"]
                if v["policy"] == "security-baseline" and v["type"] == "gcp:container/cluster:Cluster"]
    assert sorted(v["name"] for v in verdicts) == ["gcp-prod-us-central1-gke", "gcp-prod-us-east4-gke"]
    assert [(v["enforcement_level"], v["message"]) for v in sorted(verdicts, key=lambda v: v["name"])] == [
        ("mandatory", f"gcp:container/cluster:Cluster gcp-prod-{region}-gke: masterAuthorizedNetworksConfig.cidrBlocks "
                      "0.0.0.0/0 "
                      "admits the public Internet (11.0.0.0/8) in production; allow private ranges or list the "
                      "trusted source in trustedCidrs") for region in ("us-central1", "us-east4")]


@pytest.mark.parametrize("cidrs, refused", [
    (["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/1", "128.0.0.0/1"]),  # together every address; each admits the Internet
    (["0.0.0.0/0 "], ["0.0.0.0/0 "]),  # read with the whitespace trimmed, named as written
    # any entry that admits an Internet address not listed in trustedCidrs is refused, half of IPv4 included
    (["10.0.0.0/8", "0.0.0.0/1", "192.0.2.10/32"], ["0.0.0.0/1"]),
    (["192.0.2.10/32"], []),  # a documentation range (RFC 5737) is not the Internet
])
def test_the_prod_baseline_refuses_allow_lists_that_reach_the_internet(cidrs, refused):
    for stack, type_ in (("prod", "aws:eks/cluster:Cluster"), ("gcp-prod", "gcp:container/cluster:Cluster")):
        steps = copy.deepcopy(recorded(stack).steps())
        clusters = [s["newState"] for s in steps if s["newState"]["type"] == type_]
        for c in clusters:
            if type_.startswith("aws:"):
                c["inputs"]["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=cidrs)
            else:
                c["inputs"]["masterAuthorizedNetworksConfig"] = {"cidrBlocks": [{"cidrBlock": x} for x in cidrs]}
        report = offline.evaluate(steps, stack, policy_config_path(stack))
        where = "vpcConfig.publicAccessCidrs" if type_.startswith("aws:") else "masterAuthorizedNetworksConfig.cidrBlocks"
        flagged = sorted((v.urn, v.message.split(": ", 1)[1].split(" admits the public Internet")[0])
                         for v in report.by_policy("security-baseline") if v.type == type_)
        assert flagged == sorted((c["urn"], f"{where} {entry}") for c in clusters for entry in refused), (stack, cidrs)
        assert all(v.enforcement_level == "mandatory" for v in report.by_policy("security-baseline"))
