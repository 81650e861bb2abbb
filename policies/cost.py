"""Monthly cost of a stack at full scale, from its recorded graph and the instance catalog.

One computation for two readers: the ``spend-cap`` policy (over the resources the
analyzer hands it) and ``aiplat check`` (over the recorded steps, for its cost table and
the ``cost`` key of its JSON). Both go through ``estimate_resources``.

Full scale means every resource that can run instances or accelerators at its largest size
and its most expensive configuration:

- EKS node groups (``scalingConfig.maxSize`` x the dearest of ``instanceTypes`` and the launch
  template's ``instanceType``), EC2 instances and spot instance requests (one each), auto
  scaling groups (``maxSize`` x the dearest of the launch template / launch configuration /
  ``mixedInstancesPolicy`` overrides), spot fleets and EC2 fleets (target capacity x the dearest
  launch specification or override), SageMaker endpoints (each production variant's
  ``initialInstanceCount``, or the autoscaling target's ``maxCapacity`` when larger);
- GKE node pools (autoscaling maximum, else node count, per zone x zones; machine type plus
  guest accelerators), a GKE cluster's default and inline node pools, Compute Engine instances,
  managed instance groups (``targetSize`` or their autoscaler's ``maxReplicas``) through their
  instance templates;
- capacity reservations (``aws:ec2/capacityReservation``, ``gcp:compute/reservation``): paid
  whether used or not; node groups/pools that consume them run inside them (the larger of
  the two is counted, once);
- fixed costs per NAT gateway, load balancer (also a Kubernetes Service of type LoadBalancer)
  and API gateway (``components/catalog/fixed_costs.yaml``), and per cluster control plane at
  the price of its Kubernetes version's support period (``components/catalog/kubernetes.yaml``).

Everything runs at the on-demand price (spot too: spot has no list price, on-demand is its
upper bound), except the units covered by a *commitment the stack declares it holds*: the
spend-cap config's ``commitments`` (type, region, count, term). A commitment is paid for its
whole count whether the graph uses it or not. Labels, tags and a reservation's ``commitment``
field never set a price: nothing in the graph buys a commitment.

What cannot be priced (a type in neither catalog file, a region a type is not offered in, a
size unknown at preview or without a maximum, attribute-based instance selection, EKS Auto
Mode, GKE node auto-provisioning or Autopilot, Karpenter) is listed in ``unpriced``, with the
resource: the spend-cap policy refuses each one; it is never free.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pulumi_policy import proxy as _proxy

from aiplat.catalog import gpu, instances, kubernetes, region_of_zone

from aiplat.policies._props import UNKNOWN, cloud_of

_SENTINELS = {_proxy.UNKNOWN_STRING_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_BOOLEAN_VALUE,
              _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_OBJECT_VALUE, _proxy.UNKNOWN_ASSET_VALUE,
              _proxy.UNKNOWN_ARCHIVE_VALUE}

HOURS_PER_MONTH = 730  # 8760 / 12, the figure the clouds' calculators use
CATEGORIES = ("reserved", "on-demand", "spot", "fixed")  # reserved = covered by a declared commitment
GKE_DEFAULT_MACHINE = "e2-medium"  # GKE's machine type when nodeConfig.machineType is unset
GKE_REGIONAL_ZONES = 3  # a regional cluster's node locations when none are listed

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
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
INSTANCE_TEMPLATES = ("gcp:compute/instanceTemplate:InstanceTemplate",
                      "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate")
MIGS = ("gcp:compute/instanceGroupManager:InstanceGroupManager",
        "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
AUTOSCALERS = ("gcp:compute/autoscaler:Autoscaler", "gcp:compute/regionAutoscaler:RegionAutoscaler")
SAGEMAKER_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
APPAUTOSCALING_TARGET = "aws:appautoscaling/target:Target"
# Types the estimate prices (or prices through the resources that use them: a template alone runs nothing).
PRICED_TYPES = frozenset({
    "aws:ec2/capacityReservation:CapacityReservation", "gcp:compute/reservation:Reservation",
    "aws:eks/nodeGroup:NodeGroup", "gcp:container/nodePool:NodePool", "aws:ec2/instance:Instance",
    "aws:ec2/spotInstanceRequest:SpotInstanceRequest", "aws:autoscaling/group:Group",
    "aws:ec2/spotFleetRequest:SpotFleetRequest", "aws:ec2/fleet:Fleet", "gcp:compute/instance:Instance",
    LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION, *INSTANCE_TEMPLATES, *MIGS, *AUTOSCALERS, SAGEMAKER_CONFIG,
    SAGEMAKER_ENDPOINT, APPAUTOSCALING_TARGET, *CONTROL_PLANES, *FIXED_TYPES,
})
# Kubernetes objects that launch nodes by themselves: their size has no cap the graph shows.
NODE_PROVISIONER_GROUPS = ("karpenter.sh", "karpenter.k8s.aws")
NODE_PROVISIONER_CHARTS = ("karpenter",)
TERMS = ("1y", "3y")


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
class Commitment:
    """A commitment the stack holds (a Savings Plan / reserved instances / a GCP CUD)."""

    type: str
    region: str
    count: int
    term: str

    @classmethod
    def parse(cls, items: Iterable[dict[str, Any]] | None) -> list["Commitment"]:
        return [cls(str(i["type"]), str(i["region"]), int(i["count"]), str(i["term"])) for i in items or []]


@dataclass(frozen=True)
class Unpriced:
    urn: str
    name: str
    type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass(frozen=True)
class CostLine:
    category: str  # reserved (committed) | on-demand | spot | fixed
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
    unpriced_resources: list[Unpriced]
    hours_per_month: int = HOURS_PER_MONTH

    @property
    def unpriced(self) -> list[str]:
        return [str(u) for u in self.unpriced_resources]

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
        for category in CATEGORIES:
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
            "by_category": {c: self.subtotal(c) for c in CATEGORIES},
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


def _list(value: Any) -> list | Any:
    """A list input: [] when absent, UNKNOWN when unknown, the list otherwise."""
    if value is UNKNOWN:
        return UNKNOWN
    return value if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is UNKNOWN or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class CannotPrice(Exception):
    """What one resource's price could not be read from."""


@dataclass
class _Capacity:
    """Nodes of one key (cloud, region, instance type): reservations, consumers, others."""

    reserved_capacity: int = 0  # reservations' counts
    reserved_capacity_names: list[str] = field(default_factory=list)
    consuming: int = 0  # nodes of groups that run in the reservations
    consuming_names: list[str] = field(default_factory=list)
    on_demand: int = 0
    on_demand_names: list[str] = field(default_factory=list)
    spot: int = 0
    spot_names: list[str] = field(default_factory=list)


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
                            region if isinstance(region, str) and region not in _SENTINELS else None,
                            dict(s.get("propertyDependencies") or {})))
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


def commitments_of_config(policy_config: Path | str | None) -> list[Commitment]:
    """The spend-cap ``commitments`` of a policy config file (for ``aiplat check``'s cost table)."""
    if policy_config is None or not Path(policy_config).is_file():
        return []
    try:
        doc = json.loads(Path(policy_config).read_text())
        return Commitment.parse((doc.get("spend-cap") or {}).get("commitments"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return []  # the policy run refuses a malformed config with its key paths


def estimate(steps: list[dict[str, Any]], commitments: Iterable[Commitment] = ()) -> CostEstimate:
    """Cost estimate of recorded steps (``pulumi preview --json`` shape)."""
    return estimate_resources(_steps_to_resources(steps), commitments)


def _price(cloud: str, itype: Any, region: str) -> tuple[Any, float]:
    """(catalog spec, on-demand hourly) of one type in one region, or CannotPrice."""
    if itype is UNKNOWN:
        raise CannotPrice("instance type unknown at preview")
    if not isinstance(itype, str) or not itype:
        raise CannotPrice("no instance type")
    spec = instances.get(cloud, itype)
    if spec is None:
        raise CannotPrice(f"{itype} is not in the instance catalog (components/catalog/gpu_instances.yaml, "
                          "machines.yaml)")
    if not spec.offered_in(region):
        raise CannotPrice(f"{itype} is not offered in {region} (catalog)")
    return spec, spec.price(region).on_demand_hourly


def _dearest(cloud: str, types: list[Any], region: str) -> str:
    """The most expensive of the configurations a resource may launch."""
    if not types:
        raise CannotPrice("no instance type")
    priced = [(_price(cloud, t, region)[1], t) for t in types]
    return max(priced)[1]


def _gcp_accelerators(machine: str, accels: Any) -> int:
    """GPUs the guest accelerators add beyond what the machine type bundles (0), or CannotPrice."""
    accels = _list(accels)
    if accels is UNKNOWN:
        raise CannotPrice("guestAccelerators unknown at preview")
    spec = gpu.get_instance_type("gcp", machine)
    for a in accels:
        if a is UNKNOWN or not isinstance(a, dict):
            raise CannotPrice("guestAccelerators unknown at preview")
        kind = a.get("type", a.get("acceleratorType"))
        n = _count(a.get("count", a.get("acceleratorCount", 1)))
        if kind is UNKNOWN or n is None:
            raise CannotPrice("guest accelerator type or count unknown at preview")
        if n == 0:
            continue
        if spec is None or spec.accelerator != kind or n > spec.gpus:
            raise CannotPrice(f"guest accelerator {n}x {kind} on {machine} is not in the catalog (the catalog prices "
                              "GPU machine types with their bundled accelerators only)")
    return 0


def estimate_resources(resources: Iterable[Resource], commitments: Iterable[Commitment] = ()) -> CostEstimate:
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    clouds = [cloud_of(r.type) for r in resources if cloud_of(r.type)]
    stack_cloud = max(set(clouds), key=clouds.count) if clouds else "aws"
    unpriced: list[Unpriced] = []
    capacity: dict[tuple[str, str, str], _Capacity] = defaultdict(_Capacity)
    fixed: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    control_planes: dict[tuple[str, str, str], list[str]] = defaultdict(list)  # (cloud, region, period)

    def deps(r: Resource, key: str, *types: str) -> list[Resource]:
        return [by_urn[u] for u in r.property_dependencies.get(key, []) if u in by_urn and
                (not types or by_urn[u].type in types)]

    def users_of(target: Resource, *types: str) -> list[Resource]:
        return [r for r in resources if r.type in types and
                any(target.urn in us for us in r.property_dependencies.values())]

    def by_ref(ref: Any, types: tuple[str, ...], keys=("name", "id")) -> Resource | None:
        """A resource of ``types`` named by a known value (name, id, or self link ending)."""
        if not isinstance(ref, str) or not ref:
            return None
        for r in resources:
            if r.type in types and (ref == r.name or any(
                    isinstance(_get(r.props, k), str) and (ref == _get(r.props, k) or ref.endswith("/" + _get(r.props, k)))
                    for k in keys)):
                return r
        return None

    def launch_template(r: Resource, key: str, spec: Any) -> Resource | None:
        found = deps(r, key, LAUNCH_TEMPLATE)
        if found:
            return found[0]
        if not isinstance(spec, dict):
            return None
        return by_ref(spec.get("name"), (LAUNCH_TEMPLATE,)) or by_ref(spec.get("id"), (LAUNCH_TEMPLATE,))

    def lt_types(lt: Resource | None) -> list[Any]:
        if lt is None:
            return []
        if _get(lt.props, "instanceRequirements") not in (None, {}):
            raise CannotPrice(f"launch template {lt.name} selects types by instanceRequirements (attribute-based); "
                              "name the instance types")
        itype = _get(lt.props, "instanceType")
        return [itype] if itype is not None else []

    def region_of(r: Resource) -> str:
        if not r.region:
            raise CannotPrice("region unknown (the provider sets none or it is unknown at preview)")
        return r.region

    def add(cloud: str, region: str, itype: str, nodes: int, kind: str, name: str) -> None:
        cap = capacity[(cloud, region, itype)]
        setattr(cap, kind, getattr(cap, kind) + nodes)
        getattr(cap, f"{kind}_names").append(name)

    def size(value: Any, what: str) -> int:
        n = _count(value)
        if n is None:
            raise CannotPrice(f"{what} {'unknown at preview' if value is UNKNOWN else 'not set'}")
        return n

    def gke_pool(r: Resource, config: Any, autoscaling: Any, node_count: Any, initial: Any, location: Any,
                 zones: Any, kind: str) -> None:
        machine = _get(config, "machineType", default=GKE_DEFAULT_MACHINE)
        if location is UNKNOWN or zones is UNKNOWN:
            raise CannotPrice("location or nodeLocations unknown at preview")
        if not isinstance(location, str):
            location = r.region
        if not isinstance(location, str):
            raise CannotPrice("location unknown")
        is_zone = region_of_zone("gcp", location) is not None
        region = region_of_zone("gcp", location) if is_zone else location
        zones = _list(zones)
        n_zones = len(zones) if zones else (1 if is_zone else GKE_REGIONAL_ZONES)
        total = _count(_get(autoscaling, "totalMaxNodeCount"))
        if total is None:
            per_zone = [_count(v) for v in (_get(autoscaling, "maxNodeCount"), node_count, initial) if v is not None]
            if any(v is UNKNOWN for v in (_get(autoscaling, "maxNodeCount"), node_count, initial)):
                raise CannotPrice("node count or autoscaling maximum unknown at preview")
            per_zone = [v for v in per_zone if v is not None]
            if not per_zone:
                raise CannotPrice("no node count and no autoscaling maximum")
            total = max(per_zone) * n_zones
        _price("gcp", machine, region)
        _gcp_accelerators(machine, _get(config, "guestAccelerators"))
        spot = _get(config, "spot") is True or _get(config, "preemptible") is True
        affinity = _get(config, "reservationAffinity", "consumeReservationType")
        add("gcp", region, machine, total, "spot" if spot else (
            "consuming" if affinity == "SPECIFIC_RESERVATION" else "on_demand"), r.name)

    def aws_group(r: Resource, n: int, types: list[Any], kind: str) -> None:
        region = region_of(r)
        itype = _dearest("aws", types, region)
        add("aws", region, itype, n, kind, r.name)

    def price_one(r: Resource) -> None:
        t = r.type
        if t == "aws:ec2/capacityReservation:CapacityReservation":
            n = size(_get(r.props, "instanceCount"), "instanceCount")
            az = _get(r.props, "availabilityZone", default="")
            region = (region_of_zone("aws", az) if isinstance(az, str) else None) or region_of(r)
            itype = _get(r.props, "instanceType")
            _price("aws", itype, region)
            add("aws", region, itype, n, "reserved_capacity", r.name)
        elif t == "gcp:compute/reservation:Reservation":
            n = size(_get(r.props, "specificReservation", "count"), "specificReservation.count")
            props = _get(r.props, "specificReservation", "instanceProperties", default={})
            itype = _get(props, "machineType")
            zone = _get(r.props, "zone", default="")
            region = (region_of_zone("gcp", zone) if isinstance(zone, str) else None) or region_of(r)
            _price("gcp", itype, region)
            _gcp_accelerators(itype, _get(props, "guestAccelerators"))
            add("gcp", region, itype, n, "reserved_capacity", r.name)
        elif t == "aws:eks/nodeGroup:NodeGroup":
            n = size(_get(r.props, "scalingConfig", "maxSize"), "scalingConfig.maxSize")
            listed = _list(_get(r.props, "instanceTypes"))
            if listed is UNKNOWN:
                raise CannotPrice("instanceTypes unknown at preview")
            lt = launch_template(r, "launchTemplate", _get(r.props, "launchTemplate"))
            if _get(r.props, "launchTemplate") is not None and lt is None:
                raise CannotPrice("its launch template is not in the program (its instance type cannot be read)")
            types = list(listed) + lt_types(lt)
            if not types:  # EKS launches t3.medium when neither names a type
                types = ["t3.medium"]
            kind = "spot" if _get(r.props, "capacityType") == "SPOT" else "on_demand"
            if lt is not None and _get(lt.props, "capacityReservationSpecification", "capacityReservationTarget"):
                kind = "consuming"
            aws_group(r, n, types, kind)
        elif t in ("aws:ec2/instance:Instance", "aws:ec2/spotInstanceRequest:SpotInstanceRequest"):
            lt = launch_template(r, "launchTemplate", _get(r.props, "launchTemplate"))
            itype = _get(r.props, "instanceType")
            types = [itype] if itype is not None else lt_types(lt)
            spot = t.endswith("SpotInstanceRequest") or _get(r.props, "instanceMarketOptions", "marketType") == "spot"
            aws_group(r, 1, types, "spot" if spot else "on_demand")
        elif t == "aws:autoscaling/group:Group":
            n = size(_get(r.props, "maxSize"), "maxSize")
            types: list[Any] = []
            types += lt_types(launch_template(r, "launchTemplate", _get(r.props, "launchTemplate")))
            mip = _get(r.props, "mixedInstancesPolicy", "launchTemplate", default={})
            types += lt_types(launch_template(r, "mixedInstancesPolicy", _get(mip, "launchTemplateSpecification")))
            overrides = _list(_get(mip, "overrides"))
            if overrides is UNKNOWN:
                raise CannotPrice("mixedInstancesPolicy overrides unknown at preview")
            for o in overrides:
                if isinstance(o, dict) and o.get("instanceRequirements"):
                    raise CannotPrice("an override selects types by instanceRequirements (attribute-based)")
                types.append(_get(o, "instanceType"))
            lc = _get(r.props, "launchConfiguration")
            if lc is not None:
                conf = (deps(r, "launchConfiguration", LAUNCH_CONFIGURATION) or [by_ref(lc, (LAUNCH_CONFIGURATION,))])[0]
                if conf is None:
                    raise CannotPrice("its launch configuration is not in the program")
                types.append(_get(conf.props, "instanceType"))
            aws_group(r, n, [x for x in types if x is not None] or [None], "on_demand")
        elif t == "aws:ec2/spotFleetRequest:SpotFleetRequest":
            n = size(_get(r.props, "targetCapacity"), "targetCapacity")
            types = [_get(s, "instanceType") for s in _list(_get(r.props, "launchSpecifications"))]
            for cfg in _list(_get(r.props, "launchTemplateConfigs")):
                types += lt_types(launch_template(r, "launchTemplateConfigs", _get(cfg, "launchTemplateSpecification")))
                types += [_get(o, "instanceType") for o in _list(_get(cfg, "overrides"))]
            aws_group(r, n, [x for x in types if x is not None] or [None], "spot")
        elif t == "aws:ec2/fleet:Fleet":
            n = size(_get(r.props, "targetCapacitySpecification", "totalTargetCapacity"),
                     "targetCapacitySpecification.totalTargetCapacity")
            types = []
            for cfg in _list(_get(r.props, "launchTemplateConfigs")):
                types += lt_types(launch_template(r, "launchTemplateConfigs", _get(cfg, "launchTemplateSpecification")))
                types += [_get(o, "instanceType") for o in _list(_get(cfg, "overrides"))]
            aws_group(r, n, [x for x in types if x is not None] or [None], "on_demand")
        elif t == "gcp:container/nodePool:NodePool":
            cluster = next(iter(deps(r, "cluster", "gcp:container/cluster:Cluster")), None) or \
                by_ref(_get(r.props, "cluster"), ("gcp:container/cluster:Cluster",))
            location = _get(r.props, "location")
            if location is None and cluster is not None:
                location = _get(cluster.props, "location")
            zones = _get(r.props, "nodeLocations")
            if zones is None and cluster is not None:
                zones = _get(cluster.props, "nodeLocations")
            gke_pool(r, _get(r.props, "nodeConfig", default={}), _get(r.props, "autoscaling", default={}),
                     _get(r.props, "nodeCount"), _get(r.props, "initialNodeCount"), location, zones, "")
        elif t == "gcp:container/cluster:Cluster":
            if _get(r.props, "enableAutopilot") is True:
                raise CannotPrice("Autopilot bills per pod request with no cap in the graph")
            if _get(r.props, "clusterAutoscaling", "enabled") is True:
                raise CannotPrice("node auto-provisioning (clusterAutoscaling.enabled) creates node pools of any "
                                  "machine type; turn it off and declare the pools")
            inline = _list(_get(r.props, "nodePools"))
            if inline is UNKNOWN or inline:
                raise CannotPrice("inline nodePools are not priced; declare them as gcp.container.NodePool")
            if _get(r.props, "removeDefaultNodePool") is not True:
                gke_pool(r, _get(r.props, "nodeConfig", default={}), {}, None,
                         _get(r.props, "initialNodeCount", default=1), _get(r.props, "location"),
                         _get(r.props, "nodeLocations"), "")
            control_plane(r)
        elif t == "gcp:compute/instance:Instance":
            zone = _get(r.props, "zone")
            region = (region_of_zone("gcp", zone) if isinstance(zone, str) else None) or region_of(r)
            machine = _get(r.props, "machineType")
            _price("gcp", machine, region)
            _gcp_accelerators(machine, _get(r.props, "guestAccelerators"))
            spot = _get(r.props, "scheduling", "provisioningModel") == "SPOT" or \
                _get(r.props, "scheduling", "preemptible") is True
            add("gcp", region, machine, 1, "spot" if spot else "on_demand", r.name)
        elif t in MIGS:
            target = _get(r.props, "targetSize")
            sizes = [] if target is None else [size(target, "targetSize")]
            for a in users_of(r, *AUTOSCALERS):
                sizes.append(size(_get(a.props, "autoscalingPolicy", "maxReplicas"), f"autoscaler {a.name} maxReplicas"))
            if not sizes:
                raise CannotPrice("no targetSize and no autoscaler with maxReplicas")
            zone = _get(r.props, "zone")
            region = _get(r.props, "region")
            region = (region_of_zone("gcp", zone) if isinstance(zone, str) else None) or \
                (region if isinstance(region, str) else None) or region_of(r)
            versions = _list(_get(r.props, "versions"))
            if versions is UNKNOWN or not versions:
                raise CannotPrice("versions (instance templates) unknown")
            templates = deps(r, "versions", *INSTANCE_TEMPLATES) + [
                x for x in (by_ref(_get(v, "instanceTemplate"), INSTANCE_TEMPLATES, ("name", "id", "selfLink"))
                            for v in versions) if x is not None]
            if not templates:
                raise CannotPrice("its instance templates are not in the program")
            machines = []
            for tpl in templates:
                machine = _get(tpl.props, "machineType")
                _gcp_accelerators(machine if isinstance(machine, str) else "", _get(tpl.props, "guestAccelerators"))
                machines.append(machine)
            machine = _dearest("gcp", machines, region)
            add("gcp", region, machine, max(sizes), "on_demand", r.name)
        elif t == SAGEMAKER_ENDPOINT:
            configs = deps(r, "endpointConfigName", SAGEMAKER_CONFIG) or \
                [x for x in [by_ref(_get(r.props, "endpointConfigName"), (SAGEMAKER_CONFIG,))] if x]
            if not configs:
                raise CannotPrice("its endpoint configuration is not in the program")
            region = region_of(r)
            scale = [_count(_get(a.props, "maxCapacity")) for a in users_of(r, APPAUTOSCALING_TARGET)]
            for i, variant in enumerate(_list(_get(configs[0].props, "productionVariants"))):
                if _get(variant, "serverlessConfig") is not None:
                    raise CannotPrice(f"productionVariants[{i}] is serverless (billed per request, no cap in the graph)")
                n = size(_get(variant, "initialInstanceCount"), f"productionVariants[{i}].initialInstanceCount")
                n = max([n] + [s for s in scale if s is not None])
                itype = _get(variant, "instanceType")
                _price("aws", itype, region)
                add("aws", region, itype, n, "on_demand", r.name)
        elif t in CONTROL_PLANES:
            control_plane(r)
        elif t in FIXED_TYPES:
            fixed[(FIXED_TYPES[t], cloud_of(t), r.region or "global")].append(r.name)
        elif t == "kubernetes:core/v1:Service" and _get(r.props, "spec", "type") == "LoadBalancer":
            # The cloud controller creates a load balancer per Service of this type.
            fixed[("load_balancer", stack_cloud, "in-cluster")].append(r.name)
        elif t.startswith("kubernetes:") and t.split(":")[1].split("/")[0] in NODE_PROVISIONER_GROUPS:
            raise CannotPrice("a node provisioner (Karpenter) launches instances of any type with no cap the graph "
                              "shows; use node groups with a maxSize")
        elif t == "kubernetes:helm.sh/v3:Release" and _get(r.props, "chart") in NODE_PROVISIONER_CHARTS:
            raise CannotPrice(f"chart {_get(r.props, 'chart')!r} launches nodes with no cap the graph shows; use node "
                              "groups with a maxSize")

    def control_plane(r: Resource) -> None:
        cloud, version_key = CONTROL_PLANES[r.type]
        region = r.region or "global"
        if cloud == "aws" and _get(r.props, "computeConfig", "enabled") is True:
            raise CannotPrice("EKS Auto Mode (computeConfig.enabled) launches instances of any type with no cap; "
                              "turn it off and declare node groups")
        if cloud == "gcp" and isinstance(_get(r.props, "location"), str):
            loc = _get(r.props, "location")
            region = region_of_zone("gcp", loc) or loc
        version = _get(r.props, version_key)
        period = kubernetes.support(cloud, version) if isinstance(version, str) else None
        if period not in ("standard", "extended"):
            why = f"Kubernetes version {version!r} is {period or 'not in the catalog'}" if isinstance(version, str) \
                else f"{version_key} {'unknown at preview' if version is UNKNOWN else 'not set'}"
            raise CannotPrice(f"control plane: {why} (components/catalog/kubernetes.yaml)")
        control_planes[(cloud, region, period)].append(r.name)

    for r in resources:
        try:
            price_one(r)
        except CannotPrice as exc:
            unpriced.append(Unpriced(r.urn, r.name, r.type, str(exc)))

    committed: dict[tuple[str, str], list[Commitment]] = defaultdict(list)
    for c in commitments:
        committed[(c.region, c.type)].append(c)

    lines: list[CostLine] = []
    for (cloud, region, itype), cap in sorted(capacity.items()):
        spec, on_demand = _price(cloud, itype, region)
        price = spec.price(region)
        gpus = spec.gpus
        reserved_units = max(cap.reserved_capacity, cap.consuming)
        reserved_names = cap.reserved_capacity_names + cap.consuming_names
        running = reserved_units + cap.on_demand + cap.spot
        left = running
        for c in committed.pop((region, itype), []):
            hourly = price.reserved_hourly(c.term)
            lines.append(CostLine("reserved", itype, cloud, region, c.count, min(c.count, left) * gpus, hourly,
                                  round(c.count * hourly * HOURS_PER_MONTH, 2),
                                  tuple(reserved_names + cap.on_demand_names + cap.spot_names) +
                                  (f"commitment {c.count}x {c.term}",)))
            left = max(0, left - c.count)
        # what no commitment covers runs at on-demand: reserved capacity first, then on-demand, then spot
        cover = running - left
        for category, units, names in (("on-demand", reserved_units + cap.on_demand, reserved_names + cap.on_demand_names),
                                       ("spot", cap.spot, cap.spot_names)):
            covered = min(units, cover)
            cover -= covered
            units -= covered
            if units > 0:
                lines.append(CostLine(category, itype, cloud, region, units, units * gpus, on_demand,
                                      round(units * on_demand * HOURS_PER_MONTH, 2), tuple(names)))
    for (region, itype), items in sorted(committed.items()):  # held but nothing in the graph uses it: still paid
        for c in items:
            cloud = next((cl for cl in ("aws", "gcp") if instances.get(cl, itype) is not None), None)
            spec = instances.get(cloud, itype) if cloud else None
            if spec is None or not spec.offered_in(region):
                unpriced.append(Unpriced("", f"commitment {itype} {region}", "commitment",
                                         f"{itype} in {region} is not in the instance catalog"))
                continue
            hourly = spec.price(region).reserved_hourly(c.term)
            lines.append(CostLine("reserved", itype, cloud, region, c.count, 0, hourly,
                                  round(c.count * hourly * HOURS_PER_MONTH, 2), (f"commitment {c.count}x {c.term}",)))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    lines.sort(key=lambda line: (order[line.category], line.cloud, line.region, line.item))
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
