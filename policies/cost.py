"""Monthly cost of a stack at full scale, from its recorded graph and the GPU catalog.

One computation for two readers: the ``spend-cap`` policy (over the resources the
analyzer hands it) and ``aiplat check`` (over the recorded steps, for its cost table and
the ``cost`` key of its JSON). Both go through ``estimate_resources``.

Full scale means every autoscaler at its cap:
- reserved nodes at the committed hourly price for every hour (paid whether used or not):
  per region and instance type the larger of the capacity reserved
  (``aws:ec2/capacityReservation`` ``instanceCount``, ``gcp:compute/reservation``
  ``specificReservation.count``) and the max size of node groups/pools labelled
  ``aiplat.io/capacity-type: reserved`` (or consuming a reservation);
- on-demand node groups/pools at their max size at the on-demand price;
- spot at their max size, priced at on-demand (an upper bound: spot has no list price);
- fixed costs per NAT gateway, load balancer and API gateway
  (``components/catalog/fixed_costs.yaml``), and per cluster control plane at the price of
  its Kubernetes version's support period on the catalog's date (standard or extended,
  ``components/catalog/kubernetes.yaml``).
Node types come from one catalog (``aiplat.catalog.instances``: GPU and general-purpose
types alike). What it cannot price (a type in neither file, a region a type is not offered
in, a size or version unknown at preview) is listed as unpriced rather than guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from pulumi_policy import proxy as _proxy

from aiplat.catalog import gpu, instances, kubernetes, region_of_zone
from aiplat.refs import CAPACITY_NODE_LABEL

from aiplat.policies._props import UNKNOWN, cloud_of

_SENTINELS = {_proxy.UNKNOWN_STRING_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_BOOLEAN_VALUE,
              _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_OBJECT_VALUE, _proxy.UNKNOWN_ASSET_VALUE,
              _proxy.UNKNOWN_ARCHIVE_VALUE}

HOURS_PER_MONTH = 730  # 8760 / 12, the figure the clouds' calculators use
CAPACITY_LABEL = CAPACITY_NODE_LABEL  # the GPU pools' node label (aiplat.refs)
COMMITMENT_LABEL = "aiplat.io/commitment"

CONTROL_PLANE_ITEM = "cluster_control_plane"
# Control planes are priced by their Kubernetes version's support period: type -> (cloud, version input).
CONTROL_PLANES = {
    "aws:eks/cluster:Cluster": ("aws", "version"),
    "gcp:container/cluster:Cluster": ("gcp", "minMasterVersion"),
}
FIXED_TYPES = {
    "aws:ec2/natGateway:NatGateway": "nat_gateway",
    "aws:lb/loadBalancer:LoadBalancer": "load_balancer",
    "aws:alb/loadBalancer:LoadBalancer": "load_balancer",
    "aws:elb/loadBalancer:LoadBalancer": "load_balancer",
    "aws:apigatewayv2/api:Api": "api_gateway_base",
    "aws:apigateway/restApi:RestApi": "api_gateway_base",
    "gcp:compute/routerNat:RouterNat": "nat_gateway",
    "gcp:compute/forwardingRule:ForwardingRule": "load_balancer",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": "load_balancer",
    "gcp:apigateway/gateway:Gateway": "api_gateway_base",
}


@dataclass(frozen=True)
class Resource:
    """What the estimate needs of a resource: plain props (unknowns as ``UNKNOWN``)."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    region: str | None  # the provider's region
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CostLine:
    category: str  # reserved | on-demand | spot | fixed
    item: str  # instance type, or the fixed-cost key
    cloud: str
    region: str
    units: int  # nodes, or fixed items
    gpus: int
    unit_hourly_usd: float
    monthly_usd: float
    resources: tuple[str, ...]  # names of the resources this line comes from


@dataclass
class CostEstimate:
    lines: list[CostLine]
    unpriced: list[str]
    hours_per_month: int = HOURS_PER_MONTH

    @property
    def monthly_usd(self) -> float:
        return round(sum(line.monthly_usd for line in self.lines), 2)

    @property
    def total_gpus(self) -> int:
        return sum(line.gpus for line in self.lines)

    def subtotal(self, category: str) -> float:
        return round(sum(line.monthly_usd for line in self.lines if line.category == category), 2)

    def breakdown(self) -> str:
        """One line per category with its items, for policy messages."""
        parts = []
        for category in ("reserved", "on-demand", "spot", "fixed"):
            lines = [line for line in self.lines if line.category == category]
            if not lines:
                continue
            items = "; ".join(f"{line.units}x {line.item} {line.region} @ ${line.unit_hourly_usd:g}/h = "
                              f"${line.monthly_usd:,.2f}" for line in lines)
            parts.append(f"{category} ${self.subtotal(category):,.2f} ({items})")
        return " | ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "monthly_usd": self.monthly_usd,
            "hours_per_month": self.hours_per_month,
            "total_gpus": self.total_gpus,
            "by_category": {c: self.subtotal(c) for c in ("reserved", "on-demand", "spot", "fixed")},
            "lines": [{**asdict(line), "resources": list(line.resources)} for line in self.lines],
            "unpriced": list(self.unpriced),
        }


# ---- reading the graph ----------------------------------------------------------------------


def _get(props: Any, *path, default=None):
    cur = props
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(cur, list) or key >= len(cur):
                return default
        elif not isinstance(cur, dict) or key not in cur:
            return default
        cur = cur[key]
        if cur is None:
            return default
    return cur


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is UNKNOWN or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass
class _Pool:
    """Nodes of one capacity type, instance type and region, and where they came from."""

    nodes: int = 0
    names: list[str] = field(default_factory=list)
    term: str | None = None


def _capacity_type(labels: Any, fallback: str) -> str:
    value = _get(labels, CAPACITY_LABEL) if isinstance(labels, dict) else None
    if value in ("reserved", "on-demand", "spot"):
        return value
    return fallback


def _steps_to_resources(steps: list[dict[str, Any]]) -> list[Resource]:
    states = [s["newState"] for s in steps if isinstance(s, dict) and isinstance(s.get("newState"), dict)]
    by_urn = {s["urn"]: s for s in states if "urn" in s}
    out = []
    for s in states:
        ref = s.get("provider") or ""
        prov = by_urn.get(ref.rsplit("::", 1)[0]) if ref else None
        if s.get("type", "").startswith("pulumi:providers:"):
            prov = s
        region = (prov.get("inputs") or {}).get("region") if prov else None
        out.append(Resource(s["urn"], s["type"], s["urn"].split("::")[-1], _unknowns(s.get("inputs") or {}),
                            region, dict(s.get("propertyDependencies") or {})))
    return out


def _unknowns(value: Any) -> Any:
    """Preview's unknown sentinels -> UNKNOWN, as the analyzer's proxy would report them."""
    if isinstance(value, dict):
        return {k: _unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknowns(v) for v in value]
    if isinstance(value, str) and value in _SENTINELS:
        return UNKNOWN
    return value


def estimate(steps: list[dict[str, Any]], term: str = "1y") -> CostEstimate:
    """Cost estimate of recorded steps (``pulumi preview --json`` shape)."""
    return estimate_resources(_steps_to_resources(steps), term)


def estimate_resources(resources: Iterable[Resource], term: str = "1y") -> CostEstimate:
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    clouds = [cloud_of(r.type) for r in resources if cloud_of(r.type)]
    stack_cloud = max(set(clouds), key=clouds.count) if clouds else "aws"
    unpriced: list[str] = []
    # (category, cloud, region, instance type) -> _Pool
    pools: dict[tuple[str, str, str, str], _Pool] = defaultdict(_Pool)
    reservations: dict[tuple[str, str, str], _Pool] = defaultdict(_Pool)
    fixed: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    control_planes: dict[tuple[str, str, str], list[str]] = defaultdict(list)  # (cloud, region, period)

    def launch_template(r: Resource) -> Resource | None:
        for urn in r.property_dependencies.get("launchTemplate", []):
            if by_urn.get(urn) and by_urn[urn].type == "aws:ec2/launchTemplate:LaunchTemplate":
                return by_urn[urn]
        ref = _get(r.props, "launchTemplate", default={})
        if not isinstance(ref, dict):
            return None
        for lt in resources:
            if lt.type != "aws:ec2/launchTemplate:LaunchTemplate":
                continue
            name, lt_id = ref.get("name"), ref.get("id")
            if (isinstance(name, str) and name in (lt.name, _get(lt.props, "name"))) or \
                    (isinstance(lt_id, str) and lt_id == _get(lt.props, "id")):
                return lt
        return None

    for r in resources:
        if r.type == "aws:ec2/capacityReservation:CapacityReservation":
            n, itype = _count(_get(r.props, "instanceCount")), _get(r.props, "instanceType")
            region = region_of_zone("aws", _get(r.props, "availabilityZone", default="")) or r.region
            if n is None or not isinstance(itype, str) or not region:
                unpriced.append(f"{r.name}: instanceCount/instanceType/region unknown")
                continue
            pool = reservations[("aws", region, itype)]
            pool.nodes += n
            pool.names.append(r.name)
            pool.term = pool.term or _get(r.props, "tags", COMMITMENT_LABEL)
        elif r.type == "gcp:compute/reservation:Reservation":
            n = _count(_get(r.props, "specificReservation", "count"))
            itype = _get(r.props, "specificReservation", "instanceProperties", "machineType")
            region = region_of_zone("gcp", _get(r.props, "zone", default="")) or r.region
            if n is None or not isinstance(itype, str) or not region:
                unpriced.append(f"{r.name}: specificReservation count/machineType/zone unknown")
                continue
            pool = reservations[("gcp", region, itype)]
            pool.nodes += n
            pool.names.append(r.name)
            pool.term = pool.term or _get(r.props, "labels", COMMITMENT_LABEL)
        elif r.type == "aws:eks/nodeGroup:NodeGroup":
            n = _count(_get(r.props, "scalingConfig", "maxSize"))
            itype = _get(r.props, "instanceTypes", 0)
            lt = launch_template(r)
            if not isinstance(itype, str) and lt is not None:
                itype = _get(lt.props, "instanceType")
            fallback = "spot" if _get(r.props, "capacityType") == "SPOT" else "on-demand"
            if lt is not None and _get(lt.props, "capacityReservationSpecification", "capacityReservationTarget"):
                fallback = "reserved"
            labels = _get(r.props, "labels", default={})
            category = _capacity_type(labels, fallback)
            if n is None or not isinstance(itype, str) or not r.region:
                unpriced.append(f"{r.name}: scalingConfig.maxSize/instance type/region unknown")
                continue
            pool = pools[(category, "aws", r.region, itype)]
            pool.nodes += n
            pool.names.append(r.name)
            pool.term = pool.term or (_get(labels, COMMITMENT_LABEL) if isinstance(labels, dict) else None)
        elif r.type == "gcp:container/nodePool:NodePool":
            itype = _get(r.props, "nodeConfig", "machineType")
            labels = _get(r.props, "nodeConfig", "labels", default={})
            spot = _get(r.props, "nodeConfig", "spot") is True or _get(r.props, "nodeConfig", "preemptible") is True
            affinity = _get(r.props, "nodeConfig", "reservationAffinity", "consumeReservationType")
            fallback = "spot" if spot else ("reserved" if affinity == "SPECIFIC_RESERVATION" else "on-demand")
            category = _capacity_type(labels, fallback)
            location = _get(r.props, "location")
            cluster = next((by_urn[u] for u in r.property_dependencies.get("cluster", []) if u in by_urn), None)
            if not isinstance(location, str) and cluster is not None:
                location = _get(cluster.props, "location")
            zones = _get(r.props, "nodeLocations")
            if not isinstance(zones, list) and cluster is not None:
                zones = _get(cluster.props, "nodeLocations")
            is_zone = isinstance(location, str) and region_of_zone("gcp", location) is not None
            n_zones = len(zones) if isinstance(zones, list) and zones else (1 if is_zone else 3)
            total = _count(_get(r.props, "autoscaling", "totalMaxNodeCount"))
            per_zone = _count(_get(r.props, "autoscaling", "maxNodeCount"))
            if total is None:
                per_zone = per_zone if per_zone is not None else _count(
                    _get(r.props, "nodeCount", default=_get(r.props, "initialNodeCount")))
                total = per_zone * n_zones if per_zone is not None else None
            region = (region_of_zone("gcp", location) if is_zone else location) if isinstance(location, str) \
                else r.region
            if total is None or not isinstance(itype, str) or not region:
                unpriced.append(f"{r.name}: autoscaling cap/machineType/location unknown")
                continue
            pool = pools[(category, "gcp", region, itype)]
            pool.nodes += total
            pool.names.append(r.name)
            pool.term = pool.term or (_get(labels, COMMITMENT_LABEL) if isinstance(labels, dict) else None)
        elif r.type in CONTROL_PLANES:
            cloud, version_key = CONTROL_PLANES[r.type]
            region = r.region or "global"
            if cloud == "gcp" and isinstance(_get(r.props, "location"), str):
                loc = _get(r.props, "location")
                region = region_of_zone("gcp", loc) or loc
            version = _get(r.props, version_key)
            period = kubernetes.support(cloud, version) if isinstance(version, str) else None
            if period not in ("standard", "extended"):
                why = f"Kubernetes version {version!r} is {period or 'not in the catalog'}" if isinstance(version, str) \
                    else f"{version_key} unknown"
                unpriced.append(f"{r.name}: control plane: {why} (components/catalog/kubernetes.yaml)")
                continue
            control_planes[(cloud, region, period)].append(r.name)
        elif r.type in FIXED_TYPES:
            cloud = cloud_of(r.type)
            fixed[(FIXED_TYPES[r.type], cloud, r.region or "global")].append(r.name)
        elif r.type == "kubernetes:core/v1:Service" and _get(r.props, "spec", "type") == "LoadBalancer":
            # The cloud controller creates a load balancer per Service of this type.
            fixed[("load_balancer", stack_cloud, "in-cluster")].append(r.name)

    # Reserved node groups run on the reservations: count the larger of the two, once.
    for (cloud, region, itype), res in reservations.items():
        pool = pools[("reserved", cloud, region, itype)]
        pool.names = res.names + pool.names
        pool.nodes = max(pool.nodes, res.nodes)
        pool.term = pool.term or res.term

    lines: list[CostLine] = []
    order = {"reserved": 0, "on-demand": 1, "spot": 2}
    for (category, cloud, region, itype), pool in sorted(pools.items(), key=lambda kv: (order[kv[0][0]], kv[0][1:])):
        if pool.nodes <= 0:
            continue
        spec = instances.get(cloud, itype)
        if spec is None or not spec.offered_in(region):
            why = "not in the instance catalog (components/catalog/gpu_instances.yaml, machines.yaml)" \
                if spec is None else f"not offered in {region}"
            unpriced.append(f"{pool.nodes}x {itype} {region} ({category}; {', '.join(pool.names)}): {why}")
            continue
        price = spec.price(region)
        pool_term = pool.term if pool.term in ("1y", "3y") else term
        hourly = price.reserved_hourly(pool_term) if category == "reserved" else price.on_demand_hourly
        lines.append(CostLine(category, itype, cloud, region, pool.nodes, pool.nodes * spec.gpus, hourly,
                              round(pool.nodes * hourly * HOURS_PER_MONTH, 2), tuple(pool.names)))
    for (cloud, region, period), names in sorted(control_planes.items()):
        hourly = kubernetes.control_plane_hourly(cloud, period)
        item = CONTROL_PLANE_ITEM if period == "standard" else f"{CONTROL_PLANE_ITEM} (extended support)"
        lines.append(CostLine("fixed", item, cloud, region, len(names), 0, hourly,
                              round(len(names) * hourly * HOURS_PER_MONTH, 2), tuple(names)))
    for (key, cloud, region), names in sorted(fixed.items()):
        hourly = gpu.fixed_costs(cloud)[key]
        lines.append(CostLine("fixed", key, cloud, region, len(names), 0, hourly,
                              round(len(names) * hourly * HOURS_PER_MONTH, 2), tuple(names)))
    return CostEstimate(lines, unpriced)
