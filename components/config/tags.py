"""``tags``: the chargeback tags merged into every taggable resource (AWS tags, GCP labels)."""

from __future__ import annotations

from pydantic import Field, field_validator

from aiplat.config._base import LABEL_VALUE, _Model


class Tags(_Model):
    """Chargeback tags, merged into every taggable resource (AWS tags, GCP labels)."""

    owner: str = Field(description="Owning person or group handle (lowercase label value).")
    team: str = Field(description="Team that runs the service.")
    cost_center: str = Field(description="Cost center for chargeback; tagged as `cost-center`.")
    extra: dict[str, str] = Field(default_factory=dict, description="Additional tags. Default: none.")

    @field_validator("owner", "team", "cost_center")
    @classmethod
    def _label_value(cls, v: str) -> str:
        if not LABEL_VALUE.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits, '-' or '_' (max 63), usable as a GCP label")
        return v
