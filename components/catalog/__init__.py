"""Data that changes over time, each file with a source and a date.

``regions.yaml``: cloud regions -> jurisdiction, and residency zones -> jurisdictions.
``gpu_instances.yaml`` (GPU types, regions, prices) and ``fixed_costs.yaml`` (hourly fixed
costs) are read only through ``aiplat.catalog.gpu``; ``machines.yaml`` (general-purpose types)
and the GPU types together through ``aiplat.catalog.instances`` (one lookup for every node
type, with allocatable CPU and memory); ``kubernetes.yaml`` (versions, support periods,
control-plane prices) through ``aiplat.catalog.kubernetes``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).resolve().parent
CLOUDS = ("aws", "gcp")


@lru_cache(maxsize=None)
def load_yaml(name: str) -> Any:
    return yaml.safe_load((CATALOG_DIR / name).read_text())


def regions(cloud: str) -> dict[str, dict[str, str]]:
    return load_yaml("regions.yaml")[cloud]


def residency_zones() -> dict[str, list[str]]:
    return load_yaml("regions.yaml")["residency_zones"]


def jurisdiction(cloud: str, location: str) -> str | None:
    """Jurisdiction of a region, zone or (GCP) multi-region; None when unknown."""
    data = load_yaml("regions.yaml")
    if cloud == "gcp" and location.upper() in data["gcp_multi_regions"]:
        return data["gcp_multi_regions"][location.upper()]["jurisdiction"]
    table = data[cloud]
    if location in table:
        return table[location]["jurisdiction"]
    region = region_of_zone(cloud, location)
    return table[region]["jurisdiction"] if region else None


def in_residency_zone(zone: str, cloud: str, location: str) -> bool:
    allowed = residency_zones()[zone]
    return "*" in allowed or jurisdiction(cloud, location) in allowed


def region_of_zone(cloud: str, zone: str) -> str | None:
    """'us-east-1a' -> 'us-east-1' (AWS); 'europe-west4-b' -> 'europe-west4' (GCP)."""
    pattern = r"^(?P<r>.+\d)[a-f]$" if cloud == "aws" else r"^(?P<r>.+\d)-[a-f]$"
    m = re.match(pattern, zone)
    if m and m.group("r") in regions(cloud):
        return m.group("r")
    return None
