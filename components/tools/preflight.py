"""Preflight logic (``aiplat preflight STACK``): will the stack's GPU pools fit the AWS account before ``pulumi up``?

GPU capacity and quota errors are the top failures of GPU platforms, and they surface late:
a node group that cannot launch, a capacity reservation refused. Preflight asks AWS, per
region of the stack:

1. **Offerings** -- is each pool's instance type offered in every zone the pool uses
   (``ec2:DescribeInstanceTypeOfferings``, ``LocationType=availability-zone``)? A capacity
   reservation and a node group subnet in a zone without the type fail at deploy time.
2. **vCPU quotas** -- EC2 limits running vCPUs per instance class, not per type. The
   On-Demand quota covers reserved (capacity reservations count) plus on-demand burst, so
   it must hold the sum over pools of ``max_nodes x vCPUs`` in that class; the Spot quota
   must hold ``spot_max_nodes x vCPUs``. G pools (g5/g6/g6e) fall under
   L-DB2E81BA / L-3819A6DF, P pools (p4d/p5) under L-417A185B / L-7212CCBC
   (``service-quotas:GetServiceQuota``, falling back to the AWS default when the account
   has no applied value).

Any shortfall is a finding: exit 1, with what to change. The quota must cover the pools
alone; other instances in the account share it (preflight does not subtract current use).

GCP stacks: not supported yet (exit 2). The catalog already rejects types a GCP region
does not offer at ``aiplat check``; GPU quotas (``NVIDIA_L4_GPUS`` and the like, per region)
would need the Compute API and are the next step.

vCPUs per type come from the GPU catalog (validated; it agrees with EC2's offerings).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence


from aiplat.catalog import gpu
from aiplat.errors import UsageError

# Instance class -> (quota code, quota name) for On-Demand and Spot vCPUs.
QUOTAS: dict[str, dict[str, tuple[str, str]]] = {
    "G": {
        "on-demand": ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        "spot": ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    },
    "P": {
        "on-demand": ("L-417A185B", "Running On-Demand P instances"),
        "spot": ("L-7212CCBC", "All P Spot Instance Requests"),
    },
}

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


@dataclass(frozen=True)
class PoolSpec:
    """What preflight needs of a GPU pool; ``path`` is its key path in the stack file."""

    name: str
    instance_type: str
    max_nodes: int
    zones: tuple[str, ...]
    spot_max_nodes: int = 0
    path: str = ""


@dataclass(frozen=True)
class OfferingCheck:
    region: str
    pool: str
    instance_type: str
    zones: list[str]
    missing_zones: list[str]
    path: str

    @property
    def ok(self) -> bool:
        return not self.missing_zones

    def advice(self) -> str:
        if self.ok:
            return ""
        offered = [z for z in self.zones if z not in self.missing_zones]
        fix = (
            f"set {self.path}.zones to [{', '.join(offered)}]"
            if offered
            else f"choose another type or region for {self.path}"
        )
        return f"{self.instance_type} not offered in {', '.join(self.missing_zones)}: {fix}"


@dataclass(frozen=True)
class QuotaCheck:
    region: str
    market: str  # "on-demand" | "spot"
    quota_code: str
    quota_name: str
    pools: list[str]
    needed_vcpus: int
    quota_vcpus: float
    quota_source: str  # "applied" | "aws-default"

    @property
    def ok(self) -> bool:
        return self.quota_vcpus >= self.needed_vcpus

    def advice(self) -> str:
        if self.ok:
            return ""
        short = self.needed_vcpus - self.quota_vcpus
        return (
            f"short by {short:g} vCPUs: request {self.quota_code} ({self.quota_name}) >= {self.needed_vcpus} "
            f"in {self.region}, or lower max_nodes"
        )


@dataclass
class Report:
    stack: str
    offerings: list[OfferingCheck] = field(default_factory=list)
    quotas: list[QuotaCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.offerings) and all(c.ok for c in self.quotas)

    def to_dict(self) -> dict:
        return {
            "stack": self.stack,
            "cloud": "aws",
            "ok": self.ok,
            "offerings": [{**asdict(c), "ok": c.ok, "advice": c.advice()} for c in self.offerings],
            "quotas": [{**asdict(c), "ok": c.ok, "advice": c.advice()} for c in self.quotas],
        }


def quota_class(instance_type: str) -> str:
    """'g6e.xlarge' -> 'G', 'p5.48xlarge' -> 'P' (the EC2 vCPU limit it counts against)."""
    cls = instance_type[:1].upper()
    if cls not in QUOTAS:
        raise ValueError(f"no vCPU quota known for {instance_type!r} (only G and P classes)")
    return cls


def _aws_call(region: str, what: str, fn, **kwargs):
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise UsageError(f"{region}: {what} failed: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as exc:
        raise UsageError(f"{region}: {what} failed: {exc}") from None


def offered_zones(ec2, region: str, instance_types: Sequence[str], zones: Sequence[str]) -> set[tuple[str, str]]:
    """{(instance_type, zone)} that EC2 offers, among the given types and zones."""
    filters = [
        {"Name": "instance-type", "Values": sorted(set(instance_types))},
        {"Name": "location", "Values": sorted(set(zones))},
    ]
    out: set[tuple[str, str]] = set()
    token = None
    while True:
        kwargs = {"LocationType": "availability-zone", "Filters": filters}
        if token:
            kwargs["NextToken"] = token
        page = _aws_call(region, "ec2:DescribeInstanceTypeOfferings", ec2.describe_instance_type_offerings, **kwargs)
        out.update((o["InstanceType"], o["Location"]) for o in page.get("InstanceTypeOfferings", []))
        token = page.get("NextToken")
        if not token:
            return out


def vcpu_quota(quotas, region: str, code: str) -> tuple[float, str]:
    """(value, 'applied' | 'aws-default'): the account's value, else AWS's default."""
    from botocore.exceptions import ClientError

    try:
        resp = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)
        return float(resp["Quota"]["Value"]), "applied"
    except ClientError as exc:
        # Accounts that never changed a quota have no applied value for it.
        if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
            err = exc.response.get("Error", {})
            raise UsageError(f"{region}: service-quotas:GetServiceQuota {code} failed: {err.get('Code')}: "
                             f"{err.get('Message')}") from None
    resp = _aws_call(region, f"service-quotas:GetAWSDefaultServiceQuota {code}",
                     quotas.get_aws_default_service_quota, ServiceCode="ec2", QuotaCode=code)
    return float(resp["Quota"]["Value"]), "aws-default"


def check_region(region: str, pools: Sequence[PoolSpec], ec2, quotas) -> tuple[list[OfferingCheck], list[QuotaCheck]]:
    """Offerings and vCPU quotas for one region's AWS GPU pools."""
    if not pools:
        return [], []
    all_zones = sorted({z for p in pools for z in p.zones})
    offered = offered_zones(ec2, region, [p.instance_type for p in pools], all_zones)
    offerings = [
        OfferingCheck(
            region=region,
            pool=p.name,
            instance_type=p.instance_type,
            zones=list(p.zones),
            missing_zones=[z for z in p.zones if (p.instance_type, z) not in offered],
            path=p.path,
        )
        for p in pools
    ]

    # Sum vCPUs at full scale per (class, market): the quota is shared by every pool of the class.
    need: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for p in pools:
        itype = gpu.get_instance_type("aws", p.instance_type)
        if itype is None:
            raise UsageError(f"{p.path}.instance_type: {gpu.offering_problem('aws', p.instance_type, region)}")
        cls = quota_class(p.instance_type)
        for market, nodes in (("on-demand", p.max_nodes), ("spot", p.spot_max_nodes)):
            if nodes > 0:
                vcpus, names = need.get((cls, market), (0, []))
                need[(cls, market)] = (vcpus + nodes * itype.vcpus, names + [p.name])
    checks = []
    for (cls, market), (vcpus, names) in sorted(need.items()):
        code, quota_name = QUOTAS[cls][market]
        value, source = vcpu_quota(quotas, region, code)
        checks.append(QuotaCheck(region, market, code, quota_name, names, vcpus, value, source))
    return offerings, checks


def boto_clients(service: str, region: str):
    import boto3

    return boto3.client(service, region_name=region)


def pools_of(config) -> list[tuple[str, list[PoolSpec]]]:
    """(region, pools) per region of a PlatformConfig; pool zones default to the region's."""
    out = []
    for i, region in enumerate(config.regions):
        pools = [
            PoolSpec(
                name=p.name,
                instance_type=p.instance_type,
                max_nodes=p.max_nodes,
                spot_max_nodes=p.spot_max_nodes,
                zones=tuple(p.zones or region.zones),
                path=f"regions[{i}].gpu_pools[{j}]",
            )
            for j, p in enumerate(region.gpu_pools)
        ]
        out.append((region.name, pools))
    return out


def run_preflight(stack: str, config, clients: ClientFactory = boto_clients) -> Report:
    if config.cloud != "aws":
        raise UsageError(
            f"preflight supports AWS stacks only; {stack!r} is a {config.cloud.upper()} stack "
            "(GCP GPU quota checks are not implemented yet)"
        )
    report = Report(stack)
    for region, pools in pools_of(config):
        if not pools:
            continue
        offerings, quotas = check_region(region, pools, clients("ec2", region), clients("service-quotas", region))
        report.offerings += offerings
        report.quotas += quotas
    return report
