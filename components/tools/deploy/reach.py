"""``cluster-reachable``: every Kubernetes provider's cluster API is reachable from the declared deployer.

The Kubernetes objects of a stack are sent by the machine running ``pulumi up`` in the same
``up`` that creates the cluster. The stack declares that machine in ``aiplat:platform.deployer``
(raw: ``cidrs``, its public egress addresses; ``network``, a runner network with ``cidr``,
``aws_vpc_id``, ``aws_account_id``, ``aws_region``, ``gcp_network``). For every
``pulumi:providers:kubernetes`` this rule finds the EKS or GKE cluster its kubeconfig comes from
(the nearest clusters among the provider's dependencies, else the cluster its kubeconfig names)
and judges the path from what the graph holds:

* **public endpoint** (EKS ``vpcConfig.endpointPublicAccess``, default true; GKE without
  ``privateClusterConfig.enablePrivateEndpoint``): the allow-list (EKS ``publicAccessCidrs``,
  default 0.0.0.0/0; GKE ``masterAuthorizedNetworksConfig.cidrBlocks``, open when the block is
  absent) admits every deployer CIDR;
* **private endpoint** (EKS ``endpointPrivateAccess``): a peering from the cluster's network to
  the runner network, accepted (EKS: ``autoAccept`` or a ``VpcPeeringConnectionAccepter``; another
  account accepts its side itself), routes to the runner CIDR over it in the route tables of the
  cluster's subnets (and back to the cluster VPC in the runner route tables the config names,
  ``aws_route_table_ids``), and TCP 443 from the runner CIDR on a security group of the control plane
  (EKS: an ingress rule depending on the cluster, i.e. on ``vpcConfig.clusterSecurityGroupId``, or
  on a group in ``vpcConfig.securityGroupIds``); GKE: the runner CIDR in the authorized networks.
  A GKE control plane behind VPC peering (``masterIpv4CidrBlock``) is never reachable from a
  network peered with the cluster's network: peering is not transitive.

A path that exists but that the provider does not wait for is a blocker too (the first ``up``
would race it). A provider that cannot be tied to a cluster of the graph is a warning.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Iterable, Iterator

import yaml

from aiplat.tools.deploy import Context, Finding
from aiplat.tools.deploy._graph import Graph, Node

RULE = "cluster-reachable"
EKS, GKE = "aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster"
K8S = "pulumi:providers:kubernetes"
SUBNET, VPC = "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc"
PEERING, ACCEPTER = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection", \
    "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
ROUTE_TABLE, ROUTE, ASSOCIATION = "aws:ec2/routeTable:RouteTable", "aws:ec2/route:Route", \
    "aws:ec2/routeTableAssociation:RouteTableAssociation"
SG, SG_RULE, SG_INGRESS = "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule", \
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GCP_NETWORK, GCP_PEERING = "gcp:compute/network:Network", "gcp:compute/networkPeering:NetworkPeering"
OPEN = ipaddress.IPv4Network("0.0.0.0/0")


def check(graph: Graph, ctx: Context) -> Iterable[Finding]:
    deployer = Deployer.of(ctx.platform.get("deployer"))
    for provider in graph.of_type(K8S):
        clusters, why = _clusters_of(graph, provider)
        if len(clusters) != 1:
            yield Finding(provider.urn, RULE, why, "give the provider a kubeconfig built from the outputs of the "
                          "one EKS or GKE cluster it deploys to, or check by hand that the deployer reaches the "
                          "cluster it names", "warning")
            continue
        cluster = clusters[0]
        judge = _eks if cluster.type == EKS else _gke
        yield from judge(graph, provider, cluster, deployer)


# -- the declared deployer (raw config) ----------------------------------------------------------
class Deployer:
    def __init__(self, raw: Any):
        raw = raw if isinstance(raw, dict) else {}
        self.declared = bool(raw)
        self.cidrs = [n for n in map(_net, raw.get("cidrs") or []) if n is not None]
        net = raw.get("network") if isinstance(raw.get("network"), dict) else None
        self.network = net
        self.cidr = _net(net.get("cidr")) if net else None
        self.aws_vpc_id = net.get("aws_vpc_id") if net else None
        self.gcp_network = net.get("gcp_network") if net else None
        tables = net.get("aws_route_table_ids") if net else None
        self.aws_route_tables = [t for t in tables if isinstance(t, str)] if isinstance(tables, list) else []

    @classmethod
    def of(cls, raw: Any) -> "Deployer":
        return cls(raw)


def _net(value: Any) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        return None


def _covered(nets: list[ipaddress.IPv4Network], allowed: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
    """The ``nets`` no entry of ``allowed`` holds."""
    return [n for n in nets if not any(n.subnet_of(a) for a in allowed)]


def _cidr_list(values: Any) -> list[ipaddress.IPv4Network]:
    return [n for n in (_net(v) for v in (values or []) if isinstance(v, str)) if n is not None]


# -- provider -> cluster -----------------------------------------------------------------------
def _clusters_of(graph: Graph, provider: Node) -> tuple[list[Node], str]:
    """The clusters nearest in the provider's dependencies, else the one its kubeconfig names."""
    seen, level = {provider.urn}, list(provider.dependencies)
    while level:
        found = [graph.by_urn[u] for u in level if u in graph.by_urn and graph.by_urn[u].type in (EKS, GKE)]
        if found:
            names = ", ".join(sorted(c.name for c in found))
            return found, f"Kubernetes provider {provider.name} depends on several clusters ({names}): cannot tell " \
                          "which one its kubeconfig reaches, so cannot judge whether the deployer reaches it"
        nxt = []
        for u in level:
            if u in seen or u not in graph.by_urn:
                continue
            seen.add(u)
            nxt += graph.by_urn[u].dependencies
        level = nxt
    kubeconfig = provider.inputs.get("kubeconfig")
    if not kubeconfig:
        return [], (f"Kubernetes provider {provider.name} has no kubeconfig input: it uses the deployer's ambient "
                    "kubeconfig, a cluster outside this graph, so cannot judge whether the deployer reaches it")
    names = _kubeconfig_cluster_names(kubeconfig)
    named = [c for c in graph.of_type(EKS, GKE) if c.inputs.get("name") in names]
    if len(named) == 1:
        return named, ""
    return [], (f"Kubernetes provider {provider.name} is tied to no EKS or GKE cluster of this graph (no cluster "
                f"among its dependencies; its kubeconfig names {', '.join(sorted(names)) or 'no cluster'}): an "
                "external kubeconfig, so cannot judge whether the deployer reaches it")


def _kubeconfig_cluster_names(kubeconfig: Any) -> set[str]:
    doc = kubeconfig
    if isinstance(kubeconfig, str):
        try:
            doc = json.loads(kubeconfig)
        except ValueError:
            try:
                doc = yaml.safe_load(kubeconfig)
            except yaml.YAMLError:
                return set()
    if not isinstance(doc, dict):
        return set()
    names = {c.get("name") for c in doc.get("clusters") or [] if isinstance(c, dict)}
    for user in doc.get("users") or []:
        args = (((user or {}).get("user") or {}).get("exec") or {}).get("args") or []
        for flag in ("--cluster-name", "--cluster-id"):
            if flag in args and args.index(flag) + 1 < len(args):
                names.add(args[args.index(flag) + 1])
    return {n for n in names if isinstance(n, str)}


# -- EKS ---------------------------------------------------------------------------------------------
def _eks(graph: Graph, provider: Node, cluster: Node, d: Deployer) -> Iterator[Finding]:
    vc = cluster.inputs.get("vpcConfig") or {}
    public = vc.get("endpointPublicAccess", True) is not False  # AWS default: public
    private = vc.get("endpointPrivateAccess", False) is True
    allowed = (_cidr_list(vc.get("publicAccessCidrs")) or [OPEN]) if public else []
    what = f"EKS cluster {cluster.inputs.get('name', cluster.name)}"
    if not d.declared:
        yield _no_deployer(provider, what)
        return
    public_ok = public and bool(d.cidrs) and not _covered(d.cidrs, allowed)
    if public_ok:
        return
    reasons: list[str] = []
    if public:
        missing = _covered(d.cidrs, allowed)
        reasons.append(f"its public endpoint admits {', '.join(map(str, allowed))} (vpcConfig.publicAccessCidrs), "
                       + (f"not deployer.cidrs {', '.join(map(str, missing))}" if d.cidrs else
                          "and the deployer declares no cidrs"))
    else:
        reasons.append("its endpoint is private only (vpcConfig.endpointPublicAccess false)")
    if not private:
        reasons.append("its private endpoint is off (vpcConfig.endpointPrivateAccess is not true)")
        yield _blocker(provider, what, reasons, "open the public endpoint to deployer.cidrs "
                                                "(vpcConfig.publicAccessCidrs) or turn on the private endpoint "
                                                "and declare deployer.network")
        return
    if d.cidr is None or not d.aws_vpc_id:
        reasons.append("no deployer.network (cidr and aws_vpc_id) is declared to reach the private endpoint from")
        yield _blocker(provider, what, reasons, "declare deployer.network (the runner VPC) so the program peers it "
                                                "with the cluster VPC, or list deployer.cidrs in "
                                                "cluster.public_access_cidrs")
        return
    path, missing = _eks_private_path(graph, cluster, d)
    if missing:
        yield _blocker(provider, what, reasons + missing,
                       f"create the path from the runner network {d.cidr}: a VPC peering from the cluster VPC to "
                       f"{d.aws_vpc_id} (accepted), a route to {d.cidr} over it in the route tables of the cluster's "
                       f"subnets, and an ingress rule for TCP 443 from {d.cidr} on the cluster security group "
                       "(vpcConfig.clusterSecurityGroupId)")
        return
    yield from _waits(graph, provider, what, path)


def _eks_private_path(graph: Graph, cluster: Node, d: Deployer) -> tuple[list[Node], list[str]]:
    subnets = [graph.by_urn[u] for u in cluster.dependencies if u in graph.by_urn and graph.by_urn[u].type == SUBNET]
    vpcs = {u for s in subnets for u in s.dependencies if u in graph.by_urn and graph.by_urn[u].type == VPC}
    vpc_ids = {s.inputs.get("vpcId") for s in subnets if isinstance(s.inputs.get("vpcId"), str)}

    def in_vpc(n: Node) -> bool:
        return bool(vpcs & set(n.dependencies)) or n.inputs.get("vpcId") in vpc_ids

    missing: list[str] = []
    peerings = [p for p in graph.of_type(PEERING) if in_vpc(p) and p.inputs.get("peerVpcId") == d.aws_vpc_id]
    if not peerings:
        return [], [f"no VPC peering connection from its VPC to the runner VPC {d.aws_vpc_id} "
                    "(deployer.network.aws_vpc_id) is in the graph"]
    accepters = [a for p in peerings for a in graph.of_type(ACCEPTER)
                 if p.urn in a.dependencies and a.inputs.get("autoAccept") is True]
    accepted = [p for p in peerings if p.inputs.get("autoAccept") is True or p.inputs.get("peerOwnerId")
                or any(p.urn in a.dependencies for a in accepters)]
    if not accepted:
        missing.append(f"the VPC peering to {d.aws_vpc_id} is never accepted (no autoAccept, which needs one account "
                       "and region, and no VpcPeeringConnectionAccepter with autoAccept)")
    peering_urns = {p.urn for p in peerings}
    tables = _route_tables_of(graph, subnets)
    unrouted = []
    for subnet in subnets:
        table = tables.get(subnet.urn)
        if table is None or not _routes_over(graph, table, d.cidr, peering_urns):
            unrouted.append(subnet.name)
    if unrouted:
        missing.append(f"no route to {d.cidr} over that peering in the route tables of subnets {', '.join(unrouted)}")
    vpc_cidrs = [n for n in (_net(graph.by_urn[u].inputs.get("cidrBlock")) for u in sorted(vpcs)) if n is not None]
    back = []
    for table in d.aws_route_tables:  # the runner side, where the stack declares it
        found = [r for r in graph.of_type(ROUTE) if r.inputs.get("routeTableId") == table
                 and peering_urns & set(r.dependencies) and _holds(r.inputs.get("destinationCidrBlock"), vpc_cidrs)]
        if not found:
            missing.append(f"no route back to its VPC {', '.join(map(str, vpc_cidrs))} over that peering in the "
                           f"runner route table {table} (deployer.network.aws_route_table_ids)")
        back += found
    rules = _ingress_443(graph, cluster, d.cidr)
    if not rules:
        missing.append(f"no ingress rule for TCP 443 from {d.cidr} on its cluster security group "
                       "(vpcConfig.clusterSecurityGroupId) or a group in vpcConfig.securityGroupIds")
    path = peerings + accepters + list({t.urn: t for t in tables.values() if t is not None}.values()) + back + rules
    return path, missing


def _route_tables_of(graph: Graph, subnets: list[Node]) -> dict[str, Node | None]:
    out: dict[str, Node | None] = {s.urn: None for s in subnets}
    for assoc in graph.of_type(ASSOCIATION):
        tables = [graph.by_urn[u] for u in assoc.dependencies if u in graph.by_urn and graph.by_urn[u].type == ROUTE_TABLE]
        for s in subnets:
            if s.urn in assoc.dependencies and tables:
                out[s.urn] = tables[0]
    return out


def _routes_over(graph: Graph, table: Node, cidr: ipaddress.IPv4Network, peerings: set[str]) -> bool:
    via_peering = bool(peerings & set(table.dependencies))
    for r in table.inputs.get("routes") or []:
        dest = _net((r or {}).get("cidrBlock"))
        if dest is not None and cidr.subnet_of(dest) and r.get("vpcPeeringConnectionId") and via_peering:
            return True
    for r in graph.of_type(ROUTE):
        dest = _net(r.inputs.get("destinationCidrBlock"))
        if table.urn in r.dependencies and peerings & set(r.dependencies) and dest is not None and cidr.subnet_of(dest):
            return True
    return False


def _holds(dest: Any, nets: list[ipaddress.IPv4Network]) -> bool:
    d = _net(dest)
    return d is not None and bool(nets) and all(n.subnet_of(d) for n in nets)


def _ports_443(protocol: Any, lo: Any, hi: Any) -> bool:
    if str(protocol) in ("-1", "all"):
        return True
    return str(protocol).lower() in ("tcp", "6") and isinstance(lo, int) and isinstance(hi, int) and lo <= 443 <= hi


def _ingress_443(graph: Graph, cluster: Node, cidr: ipaddress.IPv4Network) -> list[Node]:
    """Rules admitting TCP 443 from ``cidr`` on a group of the control plane: one that depends on the
    cluster (its clusterSecurityGroupId output) or on a group the cluster depends on (securityGroupIds)."""
    groups = {u for u in cluster.dependencies if u in graph.by_urn and graph.by_urn[u].type == SG}
    targets = groups | {cluster.urn}
    out = []
    for r in graph.of_type(SG_INGRESS):
        src = _net(r.inputs.get("cidrIpv4"))
        if targets & set(r.dependencies) and src is not None and cidr.subnet_of(src) and \
                _ports_443(r.inputs.get("ipProtocol"), r.inputs.get("fromPort"), r.inputs.get("toPort")):
            out.append(r)
    for r in graph.of_type(SG_RULE):
        if r.inputs.get("type") == "ingress" and targets & set(r.dependencies) and \
                any(cidr.subnet_of(s) for s in _cidr_list(r.inputs.get("cidrBlocks"))) and \
                _ports_443(r.inputs.get("protocol"), r.inputs.get("fromPort"), r.inputs.get("toPort")):
            out.append(r)
    for g in (graph.by_urn[u] for u in groups):
        for rule in g.inputs.get("ingress") or []:
            if any(cidr.subnet_of(s) for s in _cidr_list((rule or {}).get("cidrBlocks"))) and \
                    _ports_443(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")):
                out.append(g)
                break
    return out


# -- GKE ---------------------------------------------------------------------------------------------
def _gke(graph: Graph, provider: Node, cluster: Node, d: Deployer) -> Iterator[Finding]:
    pcc = cluster.inputs.get("privateClusterConfig") or {}
    private = pcc.get("enablePrivateEndpoint") is True
    man = cluster.inputs.get("masterAuthorizedNetworksConfig")
    restricted = isinstance(man, dict)
    authorized = _cidr_list([(b or {}).get("cidrBlock") for b in (man or {}).get("cidrBlocks") or []]) \
        if restricted else [OPEN]
    what = f"GKE cluster {cluster.inputs.get('name', cluster.name)}"
    if not d.declared:
        yield _no_deployer(provider, what)
        return
    if not private:
        missing = _covered(d.cidrs, authorized)
        if d.cidrs and not missing:
            return
        why = (f"its public endpoint admits only {', '.join(map(str, authorized)) or 'no address'} "
               f"(masterAuthorizedNetworksConfig.cidrBlocks), " +
               (f"not deployer.cidrs {', '.join(map(str, missing))}" if d.cidrs else "and the deployer declares no cidrs"))
        yield _blocker(provider, what, [why], "add deployer.cidrs to the master authorized networks "
                                              "(cluster.public_access_cidrs)")
        return
    reasons = ["its endpoint is private only (privateClusterConfig.enablePrivateEndpoint true)"]
    if d.cidr is None or not d.gcp_network:
        reasons.append("no deployer.network (cidr and gcp_network) is declared to reach it from")
        yield _blocker(provider, what, reasons, "set cluster.endpoint_public_access: true with "
                                                "cluster.public_access_cidrs admitting deployer.cidrs")
        return
    networks = {u for u in cluster.dependencies if u in graph.by_urn and graph.by_urn[u].type == GCP_NETWORK}
    peerings = [p for p in graph.of_type(GCP_PEERING)
                if networks & set(p.dependencies) and _same_network(p.inputs.get("peerNetwork"), d.gcp_network)]
    missing = []
    if not peerings:
        missing.append(f"no network peering from its network to the runner network {d.gcp_network} "
                       "(deployer.network.gcp_network) is in the graph")
    if restricted and _covered([d.cidr], authorized):
        missing.append(f"the runner CIDR {d.cidr} is not in its master authorized networks")
    if pcc.get("masterIpv4CidrBlock") and not pcc.get("privateEndpointSubnetwork"):
        missing.append("its control plane sits behind VPC peering (privateClusterConfig.masterIpv4CidrBlock "
                       f"{pcc['masterIpv4CidrBlock']}) and peering is not transitive: a network peered with the "
                       "cluster's network never reaches it")
    if missing:
        yield _blocker(provider, what, reasons + missing,
                       "set cluster.endpoint_public_access: true with cluster.public_access_cidrs admitting "
                       "deployer.cidrs, or reach the control plane from the runner through Cloud VPN with custom "
                       "routes exported to the control plane's peering, or through a proxy in the cluster network")
        return
    yield from _waits(graph, provider, what, peerings)


def _same_network(value: Any, declared: str) -> bool:
    """``projects/p/global/networks/n`` and its https://www.googleapis.com/compute/v1/ URL are the same network."""
    return isinstance(value, str) and value.split("/compute/v1/")[-1] == declared


# -- findings ----------------------------------------------------------------------------------------
def _waits(graph: Graph, provider: Node, what: str, path: list[Node]) -> Iterator[Finding]:
    late = sorted({n.name for n in path if not graph.waits_for(provider, n)})
    if late:
        yield Finding(provider.urn, RULE,
                      f"the deployer's path to {what} exists, but Kubernetes provider {provider.name} does not wait "
                      f"for {', '.join(late)}: the first up sends Kubernetes objects before the path is there",
                      f"add {', '.join(late)} to the provider's dependsOn")


def _blocker(provider: Node, what: str, reasons: list[str], change: str) -> Finding:
    return Finding(provider.urn, RULE, f"the deployer cannot reach the API of {what} (Kubernetes provider "
                                       f"{provider.name}): {'; '.join(reasons)}", change)


def _no_deployer(provider: Node, what: str) -> Finding:
    return Finding(provider.urn, RULE, f"no deployer is declared (aiplat:platform.deployer): nothing says how `up` "
                                       f"reaches the API of {what} (Kubernetes provider {provider.name})",
                   "declare deployer.cidrs (public endpoint) or deployer.network (private endpoint)")
