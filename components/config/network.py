"""``network``: how each region's network reaches the internet (the ranges are derived per region)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplat.config._base import _Model


class NetworkConfig(_Model):
    """NAT layout; subnets and ranges are derived from each region's CIDR (``RegionConfig``)."""

    nat: Literal["single", "per_zone"] | None = Field(
        None, description="NAT gateways. Default: per_zone in prod (zone-failure tolerant), single elsewhere."
    )
