"""What installs CRDs and volume provisioners: known Helm charts, EKS add-ons, managed clusters.

Data: ``installers.yaml`` (source and date inside). ``chart(name, repo)`` is a chart's entry
(None when the catalog does not know it); ``ChartEntry.knows(version)`` whether its sources were
read at that version; ``ChartEntry.crds_installed(values, skip_crds)``, ``uses(values)`` and
``volumes(values)`` evaluate the entry's switches over a release's values. ``eks_addon(name)``
and ``cluster_kind(type)`` / ``managed(kind)`` cover the rest. Read by the deploy analysis
(``aiplat.tools.deploy``), which judges any graph with it, not only aiplat's.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiplat.catalog import CATALOG_DIR
from aiplat.catalog.gpu import _load_file

INSTALLERS_FILE = CATALOG_DIR / "installers.yaml"
PRESENT = "present"
_MISSING = object()

# "group/version" -> kinds
Crds = dict[str, list[str]]


def value_at(values: Any, path: str, default: Any = _MISSING) -> Any:
    """``values["a"]["b"]`` for ``"a.b"``; ``default`` when a step is missing or not a mapping."""
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Use(_Strict):
    type: str = Field(pattern=r"^[a-z0-9.-]+/v[0-9a-z]+:[A-Z][A-Za-z0-9]*$")
    when: dict[str, Any] = Field(default_factory=dict)


class Volume(_Strict):
    name: str
    class_: str = Field(alias="class")
    when: dict[str, Any] = Field(default_factory=dict)


class ChartEntry(_Strict):
    chart: str
    repo: str
    versions: list[str] = Field(min_length=1)
    checked: str = Field(min_length=1)
    crds: Crds = Field(default_factory=dict)
    crds_dir: bool = False
    crds_when: dict[str, Any] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    uses_: list[Use] = Field(default_factory=list, alias="uses")
    volumes_: list[Volume] = Field(default_factory=list, alias="volumes")
    unknown_when: dict[str, Any] = Field(default_factory=dict)

    def paths(self) -> list[str]:
        """Every value path the entry reads."""
        out = [*self.crds_when, *self.unknown_when]
        for u in self.uses_:
            out += list(u.when)
        for v in self.volumes_:
            out += [*v.when, v.class_]
        return list(dict.fromkeys(out))

    def knows(self, version: Any) -> bool:
        return version in self.versions

    def _holds(self, values: dict[str, Any], when: dict[str, Any]) -> bool:
        for path, want in when.items():
            got = value_at(values, path, self.defaults.get(path))
            if want == PRESENT:
                if got in (None, {}, [], ""):
                    return False
            elif got != want:
                return False
        return True

    def crds_installed(self, values: dict[str, Any], skip_crds: bool) -> Crds:
        if (self.crds_dir and skip_crds) or not self._holds(values, self.crds_when):
            return {}
        return self.crds

    def uses(self, values: dict[str, Any]) -> list[str]:
        """Custom resource types ("group/version:Kind") the release's templates create."""
        return [u.type for u in self.uses_ if self._holds(values, u.when)]

    def volumes(self, values: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """(claim name, value path of its class, the class value or None) of every claim rendered."""
        return [(v.name, v.class_, value_at(values, v.class_, None)) for v in self.volumes_ if self._holds(values, v.when)]

    def unknown(self, values: dict[str, Any]) -> list[str]:
        """Switches that are on and turn on parts the catalog did not read."""
        return [p for p, want in self.unknown_when.items() if value_at(values, p, self.defaults.get(p)) == want]


class AddonEntry(_Strict):
    crds: Crds = Field(default_factory=dict)
    provisioners: list[str] = Field(default_factory=list)


class ManagedCluster(_Strict):
    cluster_types: list[str] = Field(min_length=1)
    provisioners: list[str]
    default_class: str | None
    classes: dict[str, str]
    provisioner_aliases: dict[str, str]
    crds: Crds = Field(default_factory=dict)

    def provisioner(self, name: str) -> str:
        return self.provisioner_aliases.get(name, name)


class _File(_Strict):
    source: str = Field(min_length=1)
    date: dt.date
    charts: list[ChartEntry]
    eks_addons: dict[str, AddonEntry]
    clusters: dict[str, ManagedCluster]


@lru_cache(maxsize=None)
def _data() -> _File:
    return _load_file(_File, INSTALLERS_FILE)


def catalog_date() -> dt.date:
    return _data().date


def _norm_repo(repo: str) -> str:
    return repo.rstrip("/")


def chart(name: str, repo: str) -> ChartEntry | None:
    for c in _data().charts:
        if c.chart == name and _norm_repo(c.repo) == _norm_repo(repo):
            return c
    return None


def eks_addon(name: str) -> AddonEntry | None:
    return _data().eks_addons.get(name)


def cluster_kind(resource_type: str) -> str | None:
    """"eks" / "gke" for a managed cluster's resource type, else None."""
    for kind, c in _data().clusters.items():
        if resource_type in c.cluster_types:
            return kind
    return None


def cluster_types() -> frozenset[str]:
    return frozenset(t for c in _data().clusters.values() for t in c.cluster_types)


def managed(kind: str) -> ManagedCluster:
    return _data().clusters[kind]
