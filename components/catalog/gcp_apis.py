"""Google Cloud service APIs a pulumi_gcp resource needs, and the service agents grants name.

Data: ``gcp_apis.yaml`` (source and date inside). ``apis_for(type_token)`` is the APIs a
resource type needs enabled in its project before it can be created (``None``: a type the
catalog does not know, which a caller must treat as "cannot judge"); ``api_for`` the first of
them (the one that creates the resource); ``to_enable(type_token)`` those a program enables
itself (every one but the ``bootstrap`` API, Service Usage, through which enabling goes).
``agent_of(member)`` reads a grant's member: the service agent it names (its API, and who
creates it: a ``ServiceIdentity``, the API's enablement, or the Cloud Storage lookup).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiplat.catalog import CATALOG_DIR
from aiplat.catalog.gpu import _load_file

GCP_APIS_FILE = CATALOG_DIR / "gcp_apis.yaml"
SERVICE_TYPE = "gcp:projects/service:Service"
IDENTITY_TYPE = "gcp:projects/serviceIdentity:ServiceIdentity"
_AGENT = re.compile(r"^serviceAccount:service-(?P<number>\d+)@(?P<domain>[a-z0-9.-]+)$")


class Api(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str = Field(min_length=1)
    enabled_by_default: bool
    consumer: Literal["resource", "caller"]
    bootstrap: bool = False
    note: str | None = None


class Agent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    api: str
    created_by: Literal["identity", "enable", "lookup"]
    role: str | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=1)
    date: dt.date
    apis: dict[str, Api] = Field(min_length=1)
    modules: dict[str, list[str]]
    types: dict[str, list[str]]
    agents: dict[str, Agent]

    @model_validator(mode="after")
    def _known_apis(self) -> "_File":
        named = [a for v in (*self.modules.values(), *self.types.values()) for a in v]
        named += [g.api for g in self.agents.values()]
        unknown = sorted({a for a in named if a not in self.apis})
        if unknown:
            raise ValueError(f"APIs not listed under apis: {', '.join(unknown)}")
        return self


@lru_cache(maxsize=None)
def _data() -> _File:
    return _load_file(_File, GCP_APIS_FILE)


def catalog_date() -> dt.date:
    return _data().date


def api(name: str) -> Api | None:
    return _data().apis.get(name)


def apis_for(type_token: str) -> tuple[str, ...] | None:
    """The APIs ``type_token`` (``gcp:<module>/<name>:<Name>``) needs; None when unknown."""
    d = _data()
    if type_token in d.types:
        return tuple(d.types[type_token])
    if not type_token.startswith("gcp:") or "/" not in type_token:
        return None
    module = type_token[len("gcp:"):].split("/", 1)[0]
    found = d.modules.get(module)
    return tuple(found) if found is not None else None


def api_for(type_token: str) -> str | None:
    """The API that creates resources of ``type_token`` (the first of ``apis_for``); None when unknown."""
    found = apis_for(type_token)
    return found[0] if found else None


def to_enable(type_token: str) -> tuple[str, ...] | None:
    """``apis_for`` without the bootstrap API (a program cannot enable Service Usage through itself)."""
    found = apis_for(type_token)
    if found is None:
        return None
    return tuple(a for a in found if not _data().apis[a].bootstrap)


def agent_of(member: str) -> tuple[str, Agent] | None:
    """(email, agent) of a grant member naming a known service agent, else None."""
    m = _AGENT.match(member) if isinstance(member, str) else None
    if m is None:
        return None
    agent = _data().agents.get(m.group("domain"))
    return (member.removeprefix("serviceAccount:"), agent) if agent is not None else None


def agent_email(project_number: str, api_name: str) -> str | None:
    """The email of ``api_name``'s agent in a project (the first the catalog lists), or None."""
    for domain, agent in _data().agents.items():
        if agent.api == api_name:
            return f"service-{project_number}@{domain}"
    return None
