"""Every instance or machine type the platform may run, GPU or not, behind one lookup.

GPU types come from ``gpu_instances.yaml`` (through ``aiplat.catalog.gpu``), general-purpose
types (system node pools, vector store nodes) from ``machines.yaml``; both files carry a
``source`` and a ``date``. Cost estimates, the spend-cap policy and scheduling checks ask
this module, so a type that is in neither file is unknown everywhere, never free.

``allocatable()`` is what the kubelet hands to pods on such a node, from the nominal size and
each cloud's documented reservations:

- CPU (EKS AL2023 and GKE alike): 6 % of the first core, 1 % of the second, 0.5 % of the
  third and fourth, 0.25 % of every core above four.
- Memory on EKS: kube-reserved ``11 MiB x max_pods + 255 MiB`` plus the 100 MiB hard eviction
  threshold, after the share of nominal memory the hypervisor and kernel keep (7.5 %, the
  overhead Karpenter assumes for EC2 by default).
- Memory on GKE: 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % of the
  next 112 and 2 % above 128 GiB, plus the 100 MiB eviction threshold.

Sources (recorded in ``machines.yaml`` too): the EKS AMI's nodeadm
(awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``: ``getCPUMillicoresToReserve``,
``getMemoryMebibytesToReserve``, ``evictionHard``; checked at commit 81fec2e8), Karpenter's
``vmMemoryOverheadPercent`` default (0.075), and GKE's "node allocatable resources" tables.

``max_pods`` is the type's own limit where the catalog gives it (ENI-based on EKS, 110 on
GKE); GPU types without one are reserved for 110 pods, which errs towards less memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiplat.catalog import CATALOG_DIR, CLOUDS, regions as known_regions
from aiplat.catalog import gpu
from aiplat.catalog.gpu import RegionPrice, _FilePrice, _pydantic_problems, _read_yaml
from aiplat.errors import ConfigError, Problem

MACHINES_FILE = CATALOG_DIR / "machines.yaml"
DEFAULT_MAX_PODS = 110
EC2_VM_OVERHEAD = 0.075
EVICTION_MIB = 100


@dataclass(frozen=True)
class Allocatable:
    """What pods may request on one node: CPU in millicores, memory in MiB, pod count."""

    cpu_millicores: int
    memory_mib: int
    pods: int


@dataclass(frozen=True)
class MachineType:
    name: str
    cloud: Literal["aws", "gcp"]
    vcpus: int
    memory_gib: int
    max_pods: int
    regions: dict[str, RegionPrice]
    gpus: int = 0
    gpu_model: str | None = None

    def offered_in(self, region: str) -> bool:
        return region in self.regions

    def price(self, region: str) -> RegionPrice:
        return self.regions[region]

    def allocatable(self) -> Allocatable:
        cpu = self.vcpus * 1000 - _reserved_cpu_millicores(self.vcpus)
        if self.cloud == "aws":
            capacity = self.memory_gib * 1024 * (1 - EC2_VM_OVERHEAD)
            reserved = 11 * self.max_pods + 255
        else:
            capacity = self.memory_gib * 1024
            reserved = _gke_reserved_memory_mib(self.memory_gib * 1024)
        return Allocatable(int(cpu), int(capacity - reserved - EVICTION_MIB), self.max_pods)


def _reserved_cpu_millicores(vcpus: int) -> float:
    tiers = [(1, 0.06), (1, 0.01), (2, 0.005)]
    reserved, left = 0.0, vcpus
    for cores, share in tiers:
        take = min(cores, left)
        reserved += take * 1000 * share
        left -= take
    return reserved + max(left, 0) * 1000 * 0.0025


def _gke_reserved_memory_mib(memory_mib: float) -> float:
    if memory_mib < 1024:
        return 255
    tiers = [(4 * 1024, 0.25), (4 * 1024, 0.20), (8 * 1024, 0.10), (112 * 1024, 0.06)]
    reserved, left = 0.0, memory_mib
    for size, share in tiers:
        take = min(size, left)
        reserved += take * share
        left -= take
    return reserved + max(left, 0) * 0.02


# ---- file schema (private) -------------------------------------------------------------


class _FileMachine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vcpus: int = Field(ge=1)
    memory_gib: int = Field(ge=1)
    max_pods: int = Field(ge=1)
    regions: dict[str, _FilePrice] = Field(min_length=1)


class _MachinesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    prices: str
    aws: dict[str, _FileMachine]
    gcp: dict[str, _FileMachine]


def load_machines(path=MACHINES_FILE) -> dict[str, dict[str, MachineType]]:
    """Parse and validate the general-purpose catalog: {cloud: {name: MachineType}}."""
    try:
        doc = _MachinesFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc), str(path)) from None
    problems, out = [], {}
    for cloud in CLOUDS:
        out[cloud] = {}
        for name, entry in getattr(doc, cloud).items():
            for region in entry.regions:
                if region not in known_regions(cloud):
                    problems.append(Problem(f"{cloud}.{name}.regions.{region}", f"unknown {cloud} region"))
            if gpu.get_instance_type(cloud, name) is not None:
                problems.append(Problem(f"{cloud}.{name}", "is a GPU type; it belongs in gpu_instances.yaml"))
            out[cloud][name] = MachineType(
                name=name, cloud=cloud, vcpus=entry.vcpus, memory_gib=entry.memory_gib, max_pods=entry.max_pods,
                regions={r: RegionPrice(on_demand_hourly=p.on_demand, reserved_1y_hourly=p.reserved_1y,
                                        reserved_3y_hourly=p.reserved_3y) for r, p in entry.regions.items()})
    if problems:
        raise ConfigError(problems, str(path))
    return out


@lru_cache(maxsize=None)
def _catalog() -> dict[str, dict[str, MachineType]]:
    machines = load_machines()
    for cloud in CLOUDS:
        for t in gpu.instance_types(cloud):
            machines[cloud][t.name] = MachineType(
                name=t.name, cloud=cloud, vcpus=t.vcpus, memory_gib=t.memory_gib, max_pods=DEFAULT_MAX_PODS,
                regions=dict(t.regions), gpus=t.gpus, gpu_model=t.gpu_model)
    return machines


def get(cloud: str, name: str) -> MachineType | None:
    """The type (GPU or general-purpose) named ``name`` on ``cloud``, or None."""
    return _catalog().get(cloud, {}).get(name)


def machine_types(cloud: str) -> list[MachineType]:
    return sorted(_catalog().get(cloud, {}).values(), key=lambda t: t.name)


def catalog_date() -> str:
    """The older of the two files' dates: what every price here is at least as fresh as."""
    import yaml

    dates = [str(yaml.safe_load(p.read_text())["date"]) for p in (MACHINES_FILE, gpu.GPU_FILE)]
    return min(dates)
