"""``tags``: the chargeback tags merged into every taggable resource (AWS tags, GCP labels)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from aiplat.config._base import LABEL_VALUE, _Model, raise_problems
from aiplat.errors import Problem

# Keys the platform sets itself (PlatformConfig.standard_tags): chargeback, the stack and the
# classification the policies read. ``tags.extra`` may add tags, never replace these.
RESERVED_TAG_KEYS = ("owner", "team", "cost-center", "environment", "stack", "data-classification", "managed-by")
# GCP label keys: start with a lowercase letter; lowercase letters, digits, '_' and '-'; at most 63.
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# AWS keeps 50 tags per resource, GCP 64 labels: the platform's own take len(RESERVED_TAG_KEYS).
MAX_EXTRA_TAGS = 50 - len(RESERVED_TAG_KEYS)


def _spelling(key: str) -> str:
    return key.replace("_", "-").lower()


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

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list = []
        for key, value in v.items():
            if _spelling(key) in RESERVED_TAG_KEYS:
                problems.append(((key,), f"{key!r} is set by the platform ({', '.join(RESERVED_TAG_KEYS)}); set it "
                                         "with its own key (tags.owner, tags.team, tags.cost_center, environment, "
                                         "data_classification), not in tags.extra"))
            elif not LABEL_KEY.match(key):
                problems.append(((key,), f"key {key!r} must start with a lowercase letter and hold only lowercase "
                                         "letters, digits, '-' or '_' (max 63), usable as a GCP label key"))
            if not isinstance(value, str) or not LABEL_VALUE.match(value):
                problems.append(((key,), f"value {value!r} must be lowercase letters, digits, '-' or '_' (max 63), "
                                         "usable as a GCP label"))
        if len(v) > MAX_EXTRA_TAGS:
            problems.append(((), f"{len(v)} extra tags; AWS keeps 50 per resource and the platform sets "
                                 f"{len(RESERVED_TAG_KEYS)}: at most {MAX_EXTRA_TAGS}"))
        raise_problems("Tags", problems)
        return v
