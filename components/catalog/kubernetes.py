"""Kubernetes minor versions per managed control plane, their support periods and prices.

Data: ``kubernetes.yaml`` (source and date inside). ``support(cloud, version, on)`` says which
period a version is in on a day (``standard``, ``extended``, ``ended``, or ``unreleased``);
``control_plane_hourly(cloud, period)`` what a cluster costs per hour in it. The stack contract
uses it to refuse versions past their support and to require an explicit opt-in for extended
support; the cost estimate prices the control plane by the period on the catalog's date, so the
same graph always costs the same.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aiplat.catalog import CATALOG_DIR
from aiplat.catalog.gpu import _load_file

KUBERNETES_FILE = CATALOG_DIR / "kubernetes.yaml"
Period = Literal["unreleased", "standard", "extended", "ended"]


class Version(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    released: dt.date
    standard_support_end: dt.date
    extended_support_end: dt.date | None


class _Prices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    standard: float = Field(gt=0)
    extended: float = Field(gt=0)


class _Cloud(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    control_plane_hourly: _Prices
    versions: dict[str, Version] = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=1)
    date: dt.date
    unit: Literal["USD per cluster hour"]
    aws: _Cloud
    gcp: _Cloud


@lru_cache(maxsize=None)
def _data() -> _File:
    return _load_file(_File, KUBERNETES_FILE)


def catalog_date() -> dt.date:
    return _data().date


def versions(cloud: str) -> dict[str, Version]:
    return dict(getattr(_data(), cloud).versions)


def support(cloud: str, version: str, on: dt.date | None = None) -> Period | None:
    """The support period of ``version`` on ``on`` (default: the catalog's date); None if unknown."""
    v = versions(cloud).get(version)
    if v is None:
        return None
    day = on or catalog_date()
    if day < v.released:
        return "unreleased"
    if day < v.standard_support_end:
        return "standard"
    if v.extended_support_end is None or day < v.extended_support_end:
        return "extended"
    return "ended"


def in_standard_support(cloud: str, on: dt.date | None = None) -> list[str]:
    return [v for v in versions(cloud) if support(cloud, v, on) == "standard"]


def control_plane_hourly(cloud: str, period: Period) -> float:
    prices = getattr(_data(), cloud).control_plane_hourly
    return prices.extended if period == "extended" else prices.standard
