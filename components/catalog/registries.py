"""Approved container registries: where the supply-chain policy lets images come from.

Data: ``registries.yaml`` (source and date inside), validated here. ``approved(image)`` is the
entry whose prefix covers an image reference (after ``normalize``: a bare ``nginx`` is
``docker.io/library/nginx``), or None.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from aiplat.catalog import CATALOG_DIR
from aiplat.catalog.gpu import _load_file

REGISTRIES_FILE = CATALOG_DIR / "registries.yaml"
DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prefix: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$",
                        description="registry host then repository path; covers the path and below")
    publisher: str = Field(min_length=1)
    why: str = Field(min_length=1)


class RegistriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    date: dt.date
    registries: list[Registry] = Field(min_length=1)


def normalize(image: str) -> str:
    """The repository of an image reference with its registry host: tag and digest removed,
    Docker Hub spelled out (``nginx`` -> ``docker.io/library/nginx``)."""
    name = image.split("@", 1)[0]
    head, _, rest = name.partition("/")
    if not rest or not ("." in head or ":" in head or head == "localhost"):
        name = f"docker.io/{name if rest else 'library/' + name}"
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = f"{last[0]}/{last[-1].split(':', 1)[0]}" if len(last) == 2 else last[-1].split(":", 1)[0]
    return name


def pinned(image: str) -> bool:
    """Is the reference pinned by content digest (``...@sha256:<64 hex>``)?"""
    return bool(DIGEST_RE.search(image))


@lru_cache(maxsize=None)
def load_registries(path: Path = REGISTRIES_FILE) -> RegistriesFile:
    return _load_file(RegistriesFile, path)


def approved(image: str, path: Path = REGISTRIES_FILE) -> Registry | None:
    repo = normalize(image)
    for entry in load_registries(path).registries:
        if repo == entry.prefix or repo.startswith(entry.prefix + "/"):
            return entry
    return None
