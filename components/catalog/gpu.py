"""GPU instance types and their prices, per cloud and region (typed, validated at load).

The data lives in ``gpu_instances.yaml`` (instance/machine types, regions offered, list
prices on-demand and 1y/3y committed) and ``fixed_costs.yaml`` (hourly costs that do not
scale with GPU load). Both carry a ``source`` and a ``date``. This module is the only
reader: config validation, the GpuPool component, the capacity planner, preflight and the
spend-cap policy code against the names below, never against the YAML layout.

API (stable):
    GpuInstanceType   name, cloud, family, gpu_model, gpus, gpu_memory_gib (per GPU),
                      vcpus, memory_gib, accelerator (GCP type or None),
                      regions: dict[region, RegionPrice]; offered_in(region), price(region)
    RegionPrice       on_demand_hourly, reserved_1y_hourly, reserved_3y_hourly (USD/node-hour);
                      reserved_hourly("1y" | "3y")
    get_instance_type(cloud, name) -> GpuInstanceType | None
    instance_types(cloud) -> list[GpuInstanceType]
    suggest(cloud, name, region) -> list[str]
    offering_problem(cloud, name, region) -> str | None   (the message config validation shows)
    fixed_costs(cloud) -> dict[str, float]
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aiplat.catalog import CATALOG_DIR, CLOUDS, regions as known_regions
from aiplat.errors import ConfigError, Problem, format_path

GPU_FILE = CATALOG_DIR / "gpu_instances.yaml"
FIXED_COSTS_FILE = CATALOG_DIR / "fixed_costs.yaml"

Term = Literal["1y", "3y"]
CLOUD_LABEL = {"aws": "AWS", "gcp": "GCP"}

# AWS "g5.xlarge" -> family "g5"; GCP "a2-ultragpu-8g" -> machine series "a2".
_NAME_PATTERNS = {
    "aws": re.compile(r"^(?P<family>[a-z][a-z0-9-]*)\.(?P<size>\d*x?large|metal[\w-]*)$"),
    "gcp": re.compile(r"^(?P<family>[a-z]\d)-[a-z]+-\w+$"),
}
# Control planes are priced by Kubernetes support period in kubernetes.yaml, not here.
FIXED_COST_KEYS = ("nat_gateway", "load_balancer", "api_gateway_base")


class RegionPrice(BaseModel):
    """List prices of one node in one region, USD per node-hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on_demand_hourly: float = Field(gt=0)
    reserved_1y_hourly: float = Field(gt=0)
    reserved_3y_hourly: float = Field(gt=0)

    def reserved_hourly(self, term: Term) -> float:
        if term == "1y":
            return self.reserved_1y_hourly
        if term == "3y":
            return self.reserved_3y_hourly
        raise ValueError(f"term must be '1y' or '3y', not {term!r}")


class GpuInstanceType(BaseModel):
    """One GPU instance type (AWS) or machine type (GCP)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cloud: Literal["aws", "gcp"]
    family: str
    gpu_model: str
    gpus: int = Field(ge=1)
    gpu_memory_gib: int = Field(ge=1, description="per GPU")
    vcpus: int = Field(ge=1)
    memory_gib: int = Field(ge=1)
    accelerator: str | None = Field(default=None, description="GCP accelerator type; None on AWS")
    regions: dict[str, RegionPrice]

    @property
    def total_gpu_memory_gib(self) -> int:
        return self.gpus * self.gpu_memory_gib

    def offered_in(self, region: str) -> bool:
        return region in self.regions

    def price(self, region: str) -> RegionPrice:
        """Prices in ``region``; KeyError naming the regions offered when it is not one."""
        try:
            return self.regions[region]
        except KeyError:
            raise KeyError(
                f"{self.name} is not offered in {region} (offered in: {', '.join(sorted(self.regions))})"
            ) from None


# ---- file schema (the YAML layout; private) -------------------------------------------


class _FilePrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_demand: float = Field(gt=0)
    reserved_1y: float = Field(gt=0)
    reserved_3y: float = Field(gt=0)

    @model_validator(mode="after")
    def _commitment_is_cheaper(self):
        # A commitment that does not beat on-demand (or 3y that does not beat 1y) is a typo;
        # the planner's break-even ratio would be >= 1 and it would never reserve.
        if not self.reserved_1y < self.on_demand:
            raise ValueError(f"reserved_1y {self.reserved_1y} must be below on_demand {self.on_demand}")
        if not self.reserved_3y < self.reserved_1y:
            raise ValueError(f"reserved_3y {self.reserved_3y} must be below reserved_1y {self.reserved_1y}")
        return self


class _FileType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpu_model: str = Field(min_length=1)
    gpus: int = Field(ge=1)
    gpu_memory_gib: int = Field(ge=1)
    vcpus: int = Field(ge=1)
    memory_gib: int = Field(ge=1)
    accelerator: str | None = None
    regions: dict[str, _FilePrice] = Field(min_length=1)


class _GpuFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    prices: str
    gpu_memory: str
    aws: dict[str, _FileType]
    gcp: dict[str, _FileType]


class _FixedCostsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    unit: Literal["USD per hour"]
    aws: dict[str, float]
    gcp: dict[str, float]


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    return [Problem(format_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()]


def _read_yaml(path: Path):
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([Problem("", f"cannot read: {exc}")], str(path)) from None


def _load_file(model, path: Path):
    """A catalog file read and validated by its pydantic ``model``; a ConfigError naming the file
    and every offending key path otherwise."""
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc), str(path)) from None


def load_gpu_catalog(path: Path = GPU_FILE) -> dict[str, dict[str, GpuInstanceType]]:
    """Parse and validate a GPU catalog file: {cloud: {name: GpuInstanceType}}.

    Raises one ConfigError listing every problem (schema, unknown region, name that does
    not fit the cloud's naming, accelerator missing on GCP or present on AWS).
    """
    try:
        doc = _GpuFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc), str(path)) from None

    problems: list[Problem] = []
    out: dict[str, dict[str, GpuInstanceType]] = {}
    for cloud in CLOUDS:
        table = getattr(doc, cloud)
        out[cloud] = {}
        region_names = known_regions(cloud)
        for name, entry in table.items():
            where = f"{cloud}.{name}"
            m = _NAME_PATTERNS[cloud].match(name)
            if not m:
                problems.append(Problem(where, f"not a valid {CLOUD_LABEL[cloud]} GPU type name"))
                continue
            if cloud == "gcp" and not entry.accelerator:
                problems.append(Problem(f"{where}.accelerator", "required on GCP (e.g. nvidia-l4)"))
            if cloud == "aws" and entry.accelerator:
                problems.append(Problem(f"{where}.accelerator", "only GCP machine types name an accelerator"))
            for region in entry.regions:
                if region not in region_names:
                    problems.append(Problem(f"{where}.regions.{region}", f"unknown {CLOUD_LABEL[cloud]} region"))
            out[cloud][name] = GpuInstanceType(
                name=name,
                cloud=cloud,
                family=m.group("family"),
                gpu_model=entry.gpu_model,
                gpus=entry.gpus,
                gpu_memory_gib=entry.gpu_memory_gib,
                vcpus=entry.vcpus,
                memory_gib=entry.memory_gib,
                accelerator=entry.accelerator,
                regions={
                    r: RegionPrice(
                        on_demand_hourly=p.on_demand,
                        reserved_1y_hourly=p.reserved_1y,
                        reserved_3y_hourly=p.reserved_3y,
                    )
                    for r, p in entry.regions.items()
                },
            )
    if problems:
        raise ConfigError(problems, str(path))
    return out


def load_fixed_costs(path: Path = FIXED_COSTS_FILE) -> dict[str, dict[str, float]]:
    try:
        doc = _FixedCostsFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc), str(path)) from None
    problems = []
    for cloud in CLOUDS:
        costs = getattr(doc, cloud)
        for key in sorted(set(FIXED_COST_KEYS) ^ set(costs)):
            what = "missing" if key in FIXED_COST_KEYS else f"unknown key (expected {', '.join(FIXED_COST_KEYS)})"
            problems.append(Problem(f"{cloud}.{key}", what))
        for key, value in costs.items():
            if value < 0:
                problems.append(Problem(f"{cloud}.{key}", "must be >= 0"))
    if problems:
        raise ConfigError(problems, str(path))
    return {cloud: dict(getattr(doc, cloud)) for cloud in CLOUDS}


@lru_cache(maxsize=None)
def _catalog() -> dict[str, dict[str, GpuInstanceType]]:
    return load_gpu_catalog()


@lru_cache(maxsize=None)
def _fixed() -> dict[str, dict[str, float]]:
    return load_fixed_costs()


def _check_cloud(cloud: str) -> None:
    if cloud not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, not {cloud!r}")


def instance_types(cloud: str) -> list[GpuInstanceType]:
    """Every GPU type of a cloud, in catalog order (family, then size)."""
    _check_cloud(cloud)
    return list(_catalog()[cloud].values())


def get_instance_type(cloud: str, name: str) -> GpuInstanceType | None:
    _check_cloud(cloud)
    return _catalog()[cloud].get(name)


def suggest(cloud: str, name: str, region: str | None = None, n: int = 3) -> list[str]:
    """Known type names close to ``name`` that are offered in ``region`` (any region if None).

    For a misspelling: the names at the smallest edit distance (at most a quarter of the
    name, 2 at least), so 'g5.4xlage' gets g5.4xlarge alone. For a real type the region lacks: the nearest
    hardware offered there (same GPU model, then same family, then closest total GPU
    memory and GPU count), since a user who asked for p5.48xlarge in Frankfurt wants
    another big multi-GPU type rather than a near-spelling.
    """
    _check_cloud(cloud)
    offered = [t for t in instance_types(cloud) if region is None or t.offered_in(region)]
    known = get_instance_type(cloud, name)
    if known is not None:
        others = [t for t in offered if t.name != name]
        others.sort(
            key=lambda t: (
                t.gpu_model != known.gpu_model,
                t.family != known.family,
                abs(t.total_gpu_memory_gib - known.total_gpu_memory_gib),
                abs(t.gpus - known.gpus),
                abs(t.vcpus - known.vcpus),
                t.name,
            )
        )
        return [t.name for t in others[:n]]
    distances = sorted((_edit_distance(name, t.name), t.name) for t in offered)
    if not distances or distances[0][0] > max(2, len(name) // 4):
        return []
    best = distances[0][0]
    return [t for d, t in distances if d == best][:n]


def _edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap of neighbours) turning a into b."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def offering_problem(cloud: str, name: str, region: str) -> str | None:
    """None when ``name`` is a known type offered in ``region``; else the message to show.

    "'g5.4xlage' is not a known AWS GPU instance type; did you mean g5.4xlarge?"
    "'p5.48xlarge' is not offered in eu-central-1 (offered in: ...); types offered there: ..."
    """
    _check_cloud(cloud)
    label = CLOUD_LABEL[cloud]
    known = get_instance_type(cloud, name)
    hints = suggest(cloud, name, region)
    if known is None:
        # The nearest spelling may be a type the region lacks: name it anyway, with that
        # caveat, so the user is not sent to an unrelated type that happens to be offered.
        anywhere = suggest(cloud, name, None)
        if anywhere and not set(anywhere) & set(hints):
            hint = f"; did you mean {' or '.join(anywhere)} (not offered in {region})?"
        elif hints:
            hint = f"; did you mean {' or '.join(hints)}?"
        else:
            families = sorted({t.family for t in instance_types(cloud) if t.offered_in(region)})
            hint = f"; GPU families offered in {region}: {', '.join(families) or 'none'}"
        return f"{name!r} is not a known {label} GPU instance type{hint}"
    if known.offered_in(region):
        return None
    where = ", ".join(sorted(known.regions))
    hint = f"; similar types offered there: {', '.join(hints)}" if hints else ""
    return f"{name!r} is not offered in {region} (offered in: {where}){hint}"


def fixed_costs(cloud: str) -> dict[str, float]:
    """Hourly USD costs independent of GPU load; keys: FIXED_COST_KEYS."""
    _check_cloud(cloud)
    return dict(_fixed()[cloud])
