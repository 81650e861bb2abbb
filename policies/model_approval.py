"""model-approval: every model version a Triton endpoint serves is approved for this stack.

The contract with the Triton component (components/triton.py) — what this policy reads:

    A Kubernetes resource declares the models it serves as a JSON array, in either
      - the annotation ``aiplat.io/models`` on ``metadata.annotations`` (any kind; on a
        Deployment also on ``spec.template.metadata.annotations``), or
      - the key ``aiplat-models.json`` of a ConfigMap's ``data``.
    Each element: {"name": "<model>", "version": "<version>", "digest": "sha256:<64 hex>",
                   "track": "stable" | "canary"}          (track optional, default stable)
    e.g. aiplat.io/models: '[{"name":"llm","version":"3","digest":"sha256:9f…","track":"stable"},
                             {"name":"llm","version":"4","digest":"sha256:1c…","track":"canary"}]'

The value must be known at preview (built from config, not from other resources'
outputs), since an approval cannot be checked against an unknown.

Each entry must be in the approved catalog (``policies/approved_models.yaml``, or the
config's ``catalogPath``) with the same name and version, the same digest (the content
digest ``aiplat models digest`` computes), be approved for the stack's data
classification, and not be past its ``expires`` date.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiplat import refs
from aiplat.errors import ConfigError, Problem, format_path
from aiplat.policies._props import UNKNOWN, get

NAME = "model-approval"
ANNOTATION = "aiplat.io/models"
CONFIGMAP_KEY = "aiplat-models.json"
CATALOG_PATH = Path(__file__).resolve().parent / "approved_models.yaml"
DIGEST_RE = refs.DIGEST_RE  # the serving contract's digest (aiplat.refs)
Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]


class ApprovedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    digest: str = Field(pattern=DIGEST_RE.pattern)
    classifications: list[Classification] = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: dt.date
    approved: dt.date | None = None
    source: str | None = Field(default=None, description="where the approval came from, e.g. a model package ARN")

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ApprovedCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    date: dt.date
    models: list[ApprovedModel] = Field(default_factory=list)

    def find(self, name: str, version: str) -> ApprovedModel | None:
        return next((m for m in self.models if m.name == name and m.version == version), None)


def load_catalog(path: str | Path = CATALOG_PATH) -> ApprovedCatalog:
    """The approved-model catalog; ConfigError naming every bad key path."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read: {exc.strerror}")], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"not valid YAML: {exc}")], str(path)) from None
    try:
        catalog = ApprovedCatalog.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([Problem(format_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
                          str(path)) from None
    seen, problems = set(), []
    for i, m in enumerate(catalog.models):
        if (m.name, m.version) in seen:
            problems.append(Problem(f"models[{i}]", f"{m.name} version {m.version} is listed twice"))
        seen.add((m.name, m.version))
    if problems:
        raise ConfigError(problems, str(path))
    return catalog


@lru_cache(maxsize=8)
def _cached_catalog(path: str, mtime_ns: int) -> ApprovedCatalog:
    return load_catalog(path)


def _catalog_for(config) -> ApprovedCatalog:
    path = Path(config.get("catalogPath") or CATALOG_PATH)
    if not path.is_absolute():
        path = CATALOG_PATH.parent / path
    return _cached_catalog(str(path), path.stat().st_mtime_ns if path.exists() else 0)


def declared_models(props: Any, resource_type: str) -> tuple[list[Any], list[str]]:
    """(raw model entries, problems) a resource declares through the contract above."""
    sources = []
    if resource_type.startswith("kubernetes:"):
        sources.append(("metadata.annotations", get(props, "metadata", "annotations", ANNOTATION)))
        sources.append(("spec.template.metadata.annotations",
                        get(props, "spec", "template", "metadata", "annotations", ANNOTATION)))
    if resource_type == "kubernetes:core/v1:ConfigMap":
        sources.append(("data", get(props, "data", CONFIGMAP_KEY)))
    entries, problems = [], []
    for where, value in sources:
        key = CONFIGMAP_KEY if where == "data" else ANNOTATION
        if value is None:
            continue
        if value is UNKNOWN:
            problems.append(f"{where}[{key!r}] is unknown during preview; build the model list from config so "
                            "approvals can be checked")
            continue
        try:
            parsed = json.loads(value) if isinstance(value, str) else None
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list):
            problems.append(f"{where}[{key!r}] must be a JSON array of {{name, version, digest, track}}")
            continue
        for e in parsed:
            if e not in entries:
                entries.append(e)
    return entries, problems


def check_entry(entry: Any, catalog: ApprovedCatalog, classification: str, today: dt.date) -> list[str]:
    """Why a declared model entry is not acceptable (empty when it is)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or \
            not isinstance(entry.get("version"), (str, int, float)) or isinstance(entry.get("version"), bool):
        return [f"model entry {entry!r} needs name, version and digest"]
    name = entry["name"]
    version = entry["version"]
    version = str(int(version)) if isinstance(version, float) and version.is_integer() else str(version)
    track = entry.get("track", "stable")
    label = f"{track} model {name} version {version}"
    digest = entry.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        return [f"{label}: digest {digest!r} is not 'sha256:<64 hex>'; declare the digest `aiplat models digest` "
                "prints"]
    approved = catalog.find(name, version)
    if approved is None:
        versions = sorted(m.version for m in catalog.models if m.name == name)
        hint = f" (approved versions: {', '.join(versions)})" if versions else ""
        return [f"{label} is not in the approved catalog{hint}; get it approved (aiplat models approve) or "
                "serve an approved version"]
    problems = []
    if approved.digest != digest:
        problems.append(f"{label}: digest {digest[:19]}… does not match the approved {approved.digest[:19]}…; "
                        "serve the approved artifact or approve this one")
    if classification not in approved.classifications:
        problems.append(f"{label} is approved for {', '.join(approved.classifications)} data, not for this "
                        f"stack's {classification!r}; get it approved for {classification!r} or serve another")
    if approved.expires < today:
        problems.append(f"{label}: approval by {approved.approver} expired on {approved.expires.isoformat()}; "
                        "renew the approval")
    return problems


def validate(args, report_violation) -> None:
    entries, problems = declared_models(args.props, args.resource_type)
    if not entries and not problems:
        return
    config = args.get_config()
    try:
        catalog = _catalog_for(config)
    except ConfigError as exc:
        report_violation(f"cannot check models of {args.name}: {exc}", None)
        return
    classification = config.get("dataClassification", "restricted")
    today = dt.date.today()
    for problem in problems:
        report_violation(f"{args.resource_type} {args.name}: {problem}", None)
    for entry in entries:
        for problem in check_entry(entry, catalog, classification, today):
            report_violation(f"{args.resource_type} {args.name}: {problem}", None)


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Every served model version (stable and canary) is approved, digest-matched, unexpired and "
                "cleared for the stack's data classification.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "dataClassification": {
                "type": "string",
                "enum": CLASSIFICATIONS,
                "default": "restricted",
                "description": "Highest class of data the stack handles; models must be approved for it. "
                               "Default restricted (the strictest).",
            },
            "catalogPath": {
                "type": "string",
                "minLength": 1,
                "default": "approved_models.yaml",
                "description": "Approved-model catalog, relative to policies/. Default approved_models.yaml.",
            },
        },
    ),
)
