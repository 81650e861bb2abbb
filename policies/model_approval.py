"""model-approval: every model version a Triton endpoint serves is approved for this stack.

The contract with the Triton component (``aiplat.triton``, components/triton/) — what this policy reads:

    A Kubernetes resource declares the models it serves as a JSON array, in either
      - the annotation ``aiplat.io/models`` on ``metadata.annotations`` (any kind; on a
        Deployment also on ``spec.template.metadata.annotations``), or
      - the key ``aiplat-models.json`` of a ConfigMap's ``data``.
    Each element: {"name": "<model>", "version": "<version>", "digest": "sha256:<64 hex>",
                   "track": "stable" | "canary"}          (track optional, default stable)
    e.g. aiplat.io/models: '[{"name":"llm","version":"3","digest":"sha256:9f…","track":"stable"},
                             {"name":"llm","version":"4","digest":"sha256:1c…","track":"canary"}]'
    Other keys are allowed and ignored here (the component adds "weight", "repository" and,
    for a published version, "config": the sha256 of the config.pbtxt published with it).

    A bucket object (``aws:s3/bucketObjectv2:BucketObjectv2``, ``aws:s3/bucketObject:BucketObject``,
    ``gcp:storage/bucketObject:BucketObject``) declares the model version its bytes belong to in
    its ``metadata``: ``aiplat-model``, ``aiplat-version``, ``aiplat-digest`` (the component
    publishes every file of a served version so, the pinned config.pbtxt included). Such an
    object is judged like a declared entry, so the bucket's content is what this policy
    judged, not only the Deployment's claim about it. An object with part of those keys is
    refused (it cannot be judged).

The value must be known at preview (built from config, not from other resources'
outputs), since an approval cannot be checked against an unknown.

Each entry must be in the approved catalog (``policies/approved_models.yaml``, or the
config's ``catalogPath``) with the same name and version, the same digest (the content
digest ``aiplat models digest`` computes), be approved for the stack's data
classification, and not be past its ``expires`` date.

Evaluation gate (``requireEvaluation``, optional): per data classification, the dataset a
served version must have passed ``aiplat eval`` on, recorded in its catalog entry's
``evaluations`` by ``aiplat models approve --evaluation``. A requirement applies to its
classification and every stricter one (a restricted stack meets the confidential
requirement too). The evaluation of the entry on that dataset must exist, have passed,
be of the approved artifact (same model digest), and, where the requirement says so, be
on the pinned dataset digest and younger than ``maxAgeDays``. The whole gate is
``requireEvaluation`` + ``evaluation_problems``; ``check_entry`` calls it.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiplat import refs
from aiplat.errors import ConfigError, Problem, format_path
from aiplat.policies._props import UNKNOWN, get

NAME = "model-approval"
ANNOTATION = "aiplat.io/models"
CONFIGMAP_KEY = "aiplat-models.json"
OBJECT_TYPES = ("aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject",
                "gcp:storage/bucketObject:BucketObject")
# metadata key -> entry field (aiplat.triton publishes with these keys)
OBJECT_METADATA = {"aiplat-model": "name", "aiplat-version": "version", "aiplat-digest": "digest"}
CATALOG_PATH = Path(__file__).resolve().parent / "approved_models.yaml"
DIGEST_RE = refs.DIGEST_RE  # the serving contract's digest (aiplat.refs)
Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]


class EvaluationCheck(BaseModel):
    """One threshold of an ``aiplat eval`` run, as its report gave it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: str = Field(min_length=1)
    output: str | None = None
    limit: float
    measured: float | None = None
    passed: bool


class EvaluationRecord(BaseModel):
    """An ``aiplat eval`` report attached to an approved version (``aiplat models approve --evaluation``).

    ``dataset`` is the dataset's name (what ``requireEvaluation`` asks for), ``dataset_digest``
    the sha256 of its file's bytes, ``model_digest`` the artifact evaluated (must equal the
    entry's digest to count), ``evaluated`` when the run started (UTC), ``server`` where it
    ran, ``baseline`` the version it was compared with, ``report_digest`` the sha256 of the
    report file. ``passed`` must agree with ``checks``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(min_length=1)
    dataset_digest: str = Field(pattern=DIGEST_RE.pattern)
    rows: int = Field(ge=1)
    passed: bool
    evaluated: dt.datetime
    server: str = Field(min_length=1)
    model_digest: str = Field(pattern=DIGEST_RE.pattern)
    baseline: str | None = None
    thresholds: dict[str, float] = Field(min_length=1)
    checks: list[EvaluationCheck] = Field(min_length=1)
    metrics: dict[str, dict[str, float | int | None]] = Field(default_factory=dict)
    report_digest: str = Field(pattern=DIGEST_RE.pattern)

    @model_validator(mode="after")
    def _consistent(self) -> "EvaluationRecord":
        if self.passed != all(c.passed for c in self.checks):
            raise ValueError(f"passed is {self.passed} but the checks say {not self.passed}")
        return self

    def failures(self) -> list[str]:
        return [f"{c.threshold}{' on ' + c.output if c.output else ''} "
                f"{'not measured' if c.measured is None else f'{c.measured:g}'} (limit {c.limit:g})"
                for c in self.checks if not c.passed]


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
    evaluations: list[EvaluationRecord] = Field(default_factory=list,
                                                description="aiplat eval reports, at most one per dataset")

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("evaluations")
    @classmethod
    def _one_per_dataset(cls, v: list[EvaluationRecord]) -> list[EvaluationRecord]:
        names = [e.dataset for e in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"more than one evaluation on dataset(s) {dupes}")
        return v


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
    if resource_type in OBJECT_TYPES:
        return _object_declaration(props)
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


def _object_declaration(props: Any) -> tuple[list[Any], list[str]]:
    metadata = get(props, "metadata")
    if metadata is UNKNOWN:
        return [], ["metadata is unknown during preview; build it from config and the files so the model version "
                    "these bytes belong to can be checked"]
    if metadata is None:
        return [], []
    values = {key: get(props, "metadata", key) for key in OBJECT_METADATA}
    present = [k for k, v in values.items() if v is not None]
    if not present:
        return [], []  # not a model file
    if any(v is UNKNOWN for v in values.values()):
        return [], ["metadata " + ", ".join(k for k, v in values.items() if v is UNKNOWN) + " is unknown during "
                    "preview; cannot judge the model version these bytes belong to"]
    if len(present) != len(OBJECT_METADATA):
        missing = [k for k in OBJECT_METADATA if k not in present]
        return [], [f"metadata declares a model version without {', '.join(missing)}; declare "
                    f"{', '.join(OBJECT_METADATA)} together"]
    entry = {field: values[key] for key, field in OBJECT_METADATA.items()}
    return [{**entry, "track": "published"}], []


def check_entry(entry: Any, catalog: ApprovedCatalog, classification: str, today: dt.date,
                requirements: list[tuple[str, Any]] = ()) -> list[str]:
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
    return problems + evaluation_problems(approved, requirements, label, today)


# ---- the evaluation gate (requireEvaluation) ----------------------------------------------------

_REQUIREMENT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["dataset"],
    "properties": {
        "dataset": {"type": "string", "minLength": 1,
                    "description": "Name of the dataset the version must have passed `aiplat eval` on."},
        "datasetDigest": {"type": "string", "pattern": DIGEST_RE.pattern,
                          "description": "Pin the dataset's content: sha256 of the JSONL file's bytes."},
        "maxAgeDays": {"type": "integer", "minimum": 1,
                       "description": "The evaluation must be at most this many days old."},
    },
}
REQUIRE_EVALUATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {c: _REQUIREMENT_SCHEMA for c in CLASSIFICATIONS},
    # {} is today's behaviour, not a loosening: the pack cannot know a team's dataset names.
    "default": {},
    "description": "Per data classification, the dataset every served version must have a passing evaluation "
                   "on (catalog entry `evaluations`). A requirement applies to its classification and every "
                   "stricter one. Default {}: no evaluation required.",
}


def required_evaluations(config: Any, classification: str) -> list[tuple[str, Any]]:
    """(classification, requirement) pairs a stack of ``classification`` must meet: its own and every
    less strict classification's (stricter data never needs less evidence)."""
    given = config.get("requireEvaluation") or {}
    rank = CLASSIFICATIONS.index(classification) if classification in CLASSIFICATIONS else len(CLASSIFICATIONS)
    return [(c, given[c]) for c in CLASSIFICATIONS[:rank + 1] if c in given]


def evaluation_problems(approved: ApprovedModel, requirements: list[tuple[str, Any]], label: str,
                        today: dt.date) -> list[str]:
    """Why ``approved`` does not carry the evaluations ``requirements`` ask for (empty when it does)."""
    wanted: dict[str, dict[str, Any]] = {}   # dataset -> merged requirement (one verdict per dataset)
    problems = []
    for cls, req in requirements:
        name = req.get("dataset") if isinstance(req, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{label}: requireEvaluation.{cls} names no dataset; cannot judge the evaluation")
            continue
        w = wanted.setdefault(name, {"classes": [], "digests": [], "max_age": None})
        w["classes"].append(cls)
        if req.get("datasetDigest") and req["datasetDigest"] not in w["digests"]:
            w["digests"].append(req["datasetDigest"])
        if req.get("maxAgeDays") is not None:
            age = int(req["maxAgeDays"])
            w["max_age"] = age if w["max_age"] is None else min(age, w["max_age"])
    for name, w in wanted.items():
        why = f"required for {'/'.join(w['classes'])} data by requireEvaluation"
        record = next((e for e in approved.evaluations if e.dataset == name), None)
        if record is None:
            problems.append(
                f"{label} has no evaluation on dataset {name!r} ({why}); run `aiplat eval ... --dataset-name {name} "
                f"--json REPORT.json` and attach it: `aiplat models approve --model {approved.name} --version "
                f"{approved.version} --evaluation REPORT.json`")
            continue
        when = record.evaluated.date().isoformat()
        if not record.passed:
            problems.append(f"{label} failed its evaluation on dataset {name!r} ({when}: "
                            f"{'; '.join(record.failures())}; {why}); serve a version that passes")
        if record.model_digest != approved.digest:
            problems.append(f"{label}: its evaluation on dataset {name!r} ({when}) was of artifact "
                            f"{record.model_digest[:19]}…, not the approved {approved.digest[:19]}… ({why}); "
                            "evaluate the approved artifact")
        for pinned in w["digests"]:
            if record.dataset_digest != pinned:
                problems.append(f"{label}: its evaluation on dataset {name!r} ({when}) used content "
                                f"{record.dataset_digest[:19]}…, not the pinned {pinned[:19]}… ({why}); "
                                "evaluate on the pinned dataset")
        if w["max_age"] is not None and (today - record.evaluated.date()).days > w["max_age"]:
            problems.append(f"{label}: its evaluation on dataset {name!r} is from {when}, older than "
                            f"maxAgeDays {w['max_age']} ({why}); evaluate it again")
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
    requirements = required_evaluations(config, classification)
    today = dt.date.today()
    for problem in problems:
        report_violation(f"{args.resource_type} {args.name}: {problem}", None)
    for entry in entries:
        for problem in check_entry(entry, catalog, classification, today, requirements):
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
            "requireEvaluation": REQUIRE_EVALUATION_SCHEMA,
        },
    ),
)
