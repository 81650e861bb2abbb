"""model-approval: whatever serves a model declares it, agrees with it, and serves only approved versions.

A stack policy. What serves a model (``serving_problems``): any container, in any resource's
inputs, whose image or program is an inference server of ``policies/inference_servers.yaml``
(Triton, vLLM, TGI, TorchServe ...), the serving custom resources that catalog lists (KServe
InferenceService ...), and SageMaker Model / EndpointConfiguration / Endpoint. Each must
declare its models, and what its args, env or model data load must agree with the declaration
(``agreement_problems``, ``sagemaker_problems``). The data classification the versions must be
approved for is the stack's own (``aiplat.policies._classification``: the highest
``data-classification`` tag/label of the program); the config's ``dataClassification`` may only
raise it, and a stack without one cannot be judged. ``coverage(type)`` decides, per type, from
the provider schema and the catalog.

The declaration contract with the Triton component (``aiplat.triton``, components/triton/):

    A Kubernetes resource declares the models it serves as a JSON array, in either
      - the annotation ``aiplat.io/models`` on ``metadata.annotations`` or on any pod
        template's ``metadata.annotations`` (any kind), or
      - the key ``aiplat-models.json`` of a ConfigMap's ``data``;
    an AWS resource (SageMaker Model) in the tags ``aiplat-model``, ``aiplat-version``,
    ``aiplat-digest`` (one version; tag values cannot hold JSON).
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
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyResource, StackValidationPolicy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiplat import refs
from aiplat.errors import ConfigError, Problem, format_path
from aiplat.policies._classification import KEY as CLASS_KEY, rank, stack_classification
from aiplat.policies._graph import StackGraph
from aiplat.policies._judge import ALLOWED_TYPES, ALLOWED_TYPES_SCHEMA, Coverage, report_unjudged
from aiplat.policies._props import UNKNOWN, elements, get, is_provider, items, path_str, walk
from aiplat.policies._schema import schema

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


# ---- what a resource serves: inference servers, serving resources, managed endpoints -----------

SERVERS_PATH = Path(__file__).resolve().parent / "inference_servers.yaml"
TAG_DECLARATION = {"aiplat-model": "name", "aiplat-version": "version", "aiplat-digest": "digest"}
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
_IMAGE_KEYS = ("image", "imageUri", "imageUrl")
_NO_MODELS = {"random", "tls", "pulumi", "aiplat"}  # packages whose resources generate values or group others


class ServerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: list[str] = Field(min_length=1)
    programs: list[str] = Field(default_factory=list)
    model_flags: list[str] = Field(default_factory=list)
    repository_flags: list[str] = Field(default_factory=list)
    explicit_flag: str | None = None
    positional_after: list[str] = Field(default_factory=list)
    model_env: list[str] = Field(default_factory=list)
    default_model: bool = False


class ServingKinds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1)
    kinds: list[str] = Field(min_length=1)
    storage_keys: list[str] = Field(default_factory=list)


class ServerCatalog(BaseModel):
    """policies/inference_servers.yaml: what model-approval recognises as serving a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    date: dt.date
    servers: dict[str, ServerSpec] = Field(min_length=1)
    serving_resources: list[ServingKinds]
    runtime_resources: list[ServingKinds]
    serving_groups: list[str]
    charts: list[str] = Field(default_factory=list)
    managed: dict[str, Literal["judged", "cannot-judge"]]
    model_inputs: list[str] = Field(min_length=1)

    def server_of(self, image: str | None, words: list[str]) -> str | None:
        """The server an image repository (last path segment) or a started program names."""
        if isinstance(image, str) and image:
            repo = image.split("@", 1)[0]
            last = repo.rsplit("/", 1)[-1]
            last = last.split(":", 1)[0]
            for name, spec in self.servers.items():
                if last in spec.images:
                    return name
        for word in words[:3]:
            prog = word.rsplit("/", 1)[-1]
            for name, spec in self.servers.items():
                if prog in spec.programs:
                    return name
        return None

    def serving_kind(self, resource_type: str) -> tuple[str, ServingKinds | None]:
        """('serving' | 'runtime' | 'unknown-serving' | '', entry) for a Kubernetes type token."""
        parts = resource_type.split(":")
        if len(parts) != 3:
            return "", None
        group, kind = parts[1].rpartition("/")[0], parts[2]
        for entry in self.serving_resources:
            if entry.group == group and kind in entry.kinds:
                return "serving", entry
        for entry in self.runtime_resources:
            if entry.group == group and kind in entry.kinds:
                return "runtime", entry
        if group in self.serving_groups:
            return "unknown-serving", None
        return "", None


@lru_cache(maxsize=1)
def server_catalog() -> ServerCatalog:
    try:
        return ServerCatalog.model_validate(yaml.safe_load(SERVERS_PATH.read_text()))
    except ValidationError as exc:
        raise ConfigError([Problem(format_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
                          str(SERVERS_PATH)) from None


def coverage(resource_type: str) -> Coverage:
    """Does model-approval judge ``resource_type``? Decided from the provider schema and the server catalog."""
    cat = server_catalog()
    pkg = resource_type.split(":", 1)[0]
    if is_provider(resource_type):
        return Coverage.not_applicable("a provider runs no model")
    if resource_type.startswith("kubernetes:"):
        kind, _ = cat.serving_kind(resource_type)
        if kind == "unknown-serving":
            return Coverage.cannot_judge("a kind of a model-serving operator's API that model-approval does not "
                                         "know (policies/inference_servers.yaml)")
        return Coverage.judged()  # every container, image and model declaration in its inputs is read
    if cat.managed.get(resource_type) == "cannot-judge":
        return Coverage.cannot_judge("a managed endpoint whose models are deployed onto it outside the program, "
                                     "so what it serves cannot be read")
    if resource_type in cat.managed or resource_type in OBJECT_TYPES:
        return Coverage.judged()
    if pkg in _NO_MODELS:
        return Coverage.not_applicable("generates values or groups other resources; runs no model")
    s = schema(resource_type)
    if s is None:
        return Coverage.cannot_judge("no provider schema for this type, so what it runs cannot be read")
    names = s.names()
    model_inputs = sorted(names & set(cat.model_inputs))
    if model_inputs:
        return Coverage.cannot_judge(f"its inputs {', '.join(model_inputs)} name a model a managed service "
                                     "loads, and model-approval does not read this type")
    if names & set(_IMAGE_KEYS) or "containerDefinitions" in names:
        return Coverage.judged()  # the container images it runs are read
    return Coverage.not_applicable("its inputs name no container image and no model")


# -- containers ---------------------------------------------------------------------------------

@dataclass
class Container:
    where: str
    image: Any
    command: list[Any]
    args: list[Any]
    env: dict[str, Any]  # name -> value (UNKNOWN when unknown or taken from a secret/config reference)


def _env_of(c: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("env", "environment", "envs", "environmentVariables"):
        value = get(c, key)
        if value is UNKNOWN:
            out["*"] = UNKNOWN
        elif isinstance(value, Mapping):
            for k, v in items(value):
                out[k] = v
        else:
            for e in elements(value):
                if isinstance(e, Mapping) and isinstance(get(e, "name"), str):
                    v = get(e, "value")
                    out[e["name"]] = v if v is not None and not get(e, "valueFrom") and \
                        not get(e, "valueSource") else UNKNOWN
    return out


def _strings(value: Any) -> list[Any]:
    if value is UNKNOWN:
        return [UNKNOWN]
    if isinstance(value, str):
        return [value]
    return [e if isinstance(e, str) or e is UNKNOWN else str(e) for e in elements(value)]


def containers(props: Any) -> list[Container]:
    """Every container-like mapping (an ``image`` next to command/args/env) anywhere in ``props``,
    Kubernetes pod specs, Cloud Run templates, SageMaker containers and ECS container definitions
    (a JSON string) alike."""
    out: list[Container] = []

    def visit(value: Any, path: tuple) -> None:
        if isinstance(value, Mapping):
            image_key = next((k for k in _IMAGE_KEYS if k in value), None)
            if image_key is not None and not isinstance(get(value, image_key), Mapping):
                out.append(Container(path_str(path) or "(top level)", get(value, image_key),
                                     _strings(get(value, "command")) + _strings(get(value, "entryPoint")),
                                     _strings(get(value, "args")), _env_of(value)))
            for k, child in items(value):
                if k in ("annotations", "labels", "tags", "tagsAll"):
                    continue
                if k == "containerDefinitions" and isinstance(child, str):
                    try:
                        child = json.loads(child)
                    except ValueError:
                        continue
                visit(child, path + (k,))
        elif isinstance(value, (list, tuple)) or (not isinstance(value, (str, bytes)) and
                                                   hasattr(value, "__len__") and hasattr(value, "__getitem__")):
            for i, child in enumerate(elements(value)):
                visit(child, path + (i,))

    visit(props, ())
    return out


def _tokens(c: Container) -> tuple[list[str], list[str]]:
    """(words, problems): command + args as one argv, shell strings split, $(VAR) expanded from env."""
    words, problems = [], []
    for raw in c.command + c.args:
        if raw is UNKNOWN:
            problems.append("its command or args are unknown at preview")
            continue
        try:
            parts = shlex.split(raw) if any(ch.isspace() for ch in raw) else [raw]
        except ValueError:
            parts = raw.split()
        for part in parts:
            def expand(m):
                v = c.env.get(m.group(1), c.env.get("*"))
                if not isinstance(v, str):
                    problems.append(f"{part!r} reads ${m.group(1)}, which is not a literal value in the container's "
                                    "env")
                    return m.group(0)
                return v
            words.append(re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", expand, part))
    return words, problems


def _flag_values(words: list[str], flags: list[str]) -> list[str]:
    out = []
    for i, w in enumerate(words):
        for f in flags:
            if w == f and i + 1 < len(words):
                out.append(words[i + 1])
            elif w.startswith(f + "="):
                out.append(w[len(f) + 1:])
    return out


def _norm(ref: str) -> str:
    return ref.rstrip("/")


@dataclass
class Loads:
    server: str
    container: Container
    models: list[str]  # model names or references (a Hugging Face id, a path, a URI) it loads
    repositories: list[str]  # repositories it loads every model of (unless models names them)
    problems: list[str]  # what could not be read


def server_loads(c: Container, server: str, spec: ServerSpec) -> Loads:
    words, problems = _tokens(c)
    models = _flag_values(words, spec.model_flags)
    repos = _flag_values(words, spec.repository_flags)
    for sub in spec.positional_after:
        if sub in words:
            i = words.index(sub)
            if i + 1 < len(words) and not words[i + 1].startswith("-"):
                models.append(words[i + 1])
    for var in spec.model_env:
        v = c.env.get(var)
        if v is UNKNOWN:
            problems.append(f"env {var} is not a literal value (a secret or config reference)")
        elif isinstance(v, str):
            models.append(v)
    if server == "torchserve":
        named = []
        for m in models:
            for part in m.split(","):
                if part == "all":
                    continue
                named.append(part.split("=", 1)[0] if "=" in part else part.rsplit("/", 1)[-1].removesuffix(".mar"))
        models = named
    if server == "triton":
        explicit = _flag_values(words, [spec.explicit_flag]) if spec.explicit_flag else []
        if not explicit or explicit[-1] != "explicit":
            models = []  # poll/none mode: every model of every repository loads
    if not models and not repos:
        if spec.default_model:
            problems.append(f"names no model in its args or env ({', '.join(spec.model_flags + spec.model_env)}), "
                            f"so {server} serves its built-in default")
        elif not spec.model_flags and not spec.repository_flags:
            problems.append(f"model-approval does not read which models {server} loads")
        else:
            problems.append(f"names no model and no repository ({', '.join(spec.model_flags + spec.repository_flags)})")
    return Loads(server, c, models, repos, problems)


# -- declarations -------------------------------------------------------------------------------

def _annotation_declarations(props: Any) -> list[tuple[str, Any]]:
    """(where, value) of every ``aiplat.io/models`` annotation anywhere in the props (the resource's and
    any pod template's)."""
    out = []
    for path, value in walk(props):
        if len(path) >= 2 and path[-1] == ANNOTATION and path[-2] == "annotations":
            out.append((path_str(path[:-1]), value))
    return out


def _tag_declaration(props: Any) -> tuple[list[Any], list[str]]:
    tags = get(props, "tags")
    if tags is UNKNOWN:
        return [], ["tags are unknown during preview; cannot read the model it declares"]
    values = {key: get(props, "tags", key) for key in TAG_DECLARATION}
    present = [k for k, v in values.items() if v is not None]
    if not present:
        return [], []
    if any(v is UNKNOWN for v in values.values()):
        return [], ["tags " + ", ".join(k for k, v in values.items() if v is UNKNOWN) + " are unknown during preview"]
    if len(present) != len(TAG_DECLARATION):
        return [], [f"tags declare a model without {', '.join(k for k in TAG_DECLARATION if k not in present)}; "
                    f"declare {', '.join(TAG_DECLARATION)} together"]
    return [{field: values[key] for key, field in TAG_DECLARATION.items()}], []


def declared_models(props: Any, resource_type: str) -> tuple[list[Any], list[str]]:
    """(raw model entries, problems) a resource declares through the contract above."""
    if resource_type in OBJECT_TYPES:
        return _object_declaration(props)
    sources = list(_annotation_declarations(props)) if resource_type.startswith("kubernetes:") or \
        resource_type.startswith("gcp:") else []
    if resource_type == "kubernetes:core/v1:ConfigMap":
        sources.append(("data", get(props, "data", CONFIGMAP_KEY)))
    entries, problems = [], []
    if resource_type.startswith("aws:"):
        entries, problems = _tag_declaration(props)
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


def _declared_refs(entries: list[Any]) -> tuple[set[str], set[str]]:
    names = {e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)}
    repos = {_norm(e["repository"]) for e in entries if isinstance(e, dict) and isinstance(e.get("repository"), str)}
    return names, repos


def agreement_problems(loads: Loads, entries: list[Any]) -> list[str]:
    """Why what a server loads disagrees with the models the resource declares (empty when it agrees)."""
    c = loads.container
    label = f"container {c.where} ({loads.server}, image {c.image})"
    if not entries:
        return [f"{label} runs an inference server but declares no models; declare them in the {ANNOTATION} "
                "annotation (JSON [{name, version, digest}]) so they can be checked against the approved catalog"]
    names, repos = _declared_refs(entries)
    out = [f"{label}: cannot judge what it loads: {p}" for p in loads.problems]
    for m in loads.models:
        if m not in names and _norm(m) not in repos:
            out.append(f"{label} loads model {m!r}, which its declaration ({', '.join(sorted(names)) or 'none'}) "
                       "does not name")
    for r in loads.repositories:
        if _norm(r) in repos:
            continue
        if loads.models and not repos:
            out.append(f"{label} loads from repository {r!r}, and its declaration names no repository to check it "
                       "against; add each entry's repository")
        else:
            out.append(f"{label} loads from repository {r!r}, which its declaration does not name "
                       f"(declared: {', '.join(sorted(repos)) or 'no repository'})")
    return out


def _storage_refs(props: Any, keys: list[str]) -> list[tuple[str, Any]]:
    return [(path_str(p), v) for p, v in walk(get(props, "spec") or {}) if p and p[-1] in keys]


# -- SageMaker ------------------------------------------------------------------------------------

def _s3_object(graph: StackGraph, url: str) -> PolicyResource | None:
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url[5:].partition("/")
    for r in graph.of_type(*OBJECT_TYPES):
        deps = graph.property_deps(r, "bucket")
        if get(r.props, "key") == key and (get(r.props, "bucket") in (bucket, None, UNKNOWN) or
                                           any(get(d.props, "bucket") == bucket for d in deps)):
            return r
    return None


def sagemaker_problems(r: PolicyResource, graph: StackGraph, entries: list[Any], catalog: ApprovedCatalog | None
                       ) -> list[str]:
    rtype, out = r.resource_type, []
    if rtype == "aws:sagemaker/model:Model":
        conts = [("primaryContainer", get(r.props, "primaryContainer"))] + \
            [(f"containers[{i}]", c) for i, c in enumerate(elements(get(r.props, "containers")))]
        conts = [(w, c) for w, c in conts if c is not None]
        if not conts:
            return ["cannot judge: it has no container to read the model of"]
        if not entries:
            out.append("serves a SageMaker model but declares no model; tag it aiplat-model, aiplat-version and "
                       "aiplat-digest with the approved version it loads")
        for where, c in conts:
            if c is UNKNOWN:
                out.append(f"cannot judge: {where} is unknown at preview")
                continue
            package = get(c, "modelPackageName")
            urls = [(f"{where}.modelDataUrl", get(c, "modelDataUrl")),
                    (f"{where}.modelDataSource.s3DataSource.s3Uri", get(c, "modelDataSource", "s3DataSource", "s3Uri"))]
            urls = [(w, u) for w, u in urls if u is not None]
            if package is None and not urls:
                out.append(f"cannot judge: {where} names no model data (modelDataUrl, modelDataSource) and no model "
                           "package, so what it loads is the image's own")
            if isinstance(package, str) and entries and catalog is not None:
                for e in entries:
                    approved = catalog.find(str(e.get("name")), str(e.get("version")))
                    if approved is not None and approved.source != package:
                        out.append(f"{where}.modelPackageName {package} is not the package {e['name']} version "
                                   f"{e['version']} was approved from ({approved.source or 'no SageMaker source'})")
            elif package is UNKNOWN:
                out.append(f"cannot judge: {where}.modelPackageName is unknown at preview")
            for w, url in urls:
                obj = _s3_object(graph, url) if isinstance(url, str) else None
                if obj is None and url is UNKNOWN:
                    deps = [d for d in graph.property_deps(r, where.split("[")[0]) if d.resource_type in OBJECT_TYPES]
                    obj = deps[0] if len(deps) == 1 else None
                if obj is None:
                    out.append(f"cannot judge: {w} = {url if isinstance(url, str) else 'unknown'} is not a model "
                               "object published by this stack (with aiplat-model/-version/-digest metadata), so "
                               "its bytes cannot be checked against the declaration")
                    continue
                published, _ = _object_declaration(obj.props)
                pub = [{k: p[k] for k in ("name", "version", "digest")} for p in published]
                mine = [{k: str(e.get(k)) for k in ("name", "version", "digest")}
                        for e in entries if isinstance(e, dict)]
                if entries and pub and not any(p in mine for p in pub):
                    out.append(f"{w} loads object {obj.name}, published as {pub[0]['name']} version "
                               f"{pub[0]['version']}, which disagrees with its declaration")
                elif not pub:
                    out.append(f"cannot judge: {w} loads object {obj.name}, which declares no model version")
        return out
    if rtype == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        models = graph.of_type("aws:sagemaker/model:Model")
        for key in ("productionVariants", "shadowProductionVariants"):
            for i, v in enumerate(elements(get(r.props, key))):
                name = get(v, "modelName")
                if any(d.resource_type == "aws:sagemaker/model:Model" for d in graph.property_deps(r, key)) and \
                        (name is UNKNOWN or name is None):
                    continue
                if isinstance(name, str) and any(name in (get(m.props, "name"), m.name) for m in models):
                    continue
                out.append(f"cannot judge: {key}[{i}] serves model {name if isinstance(name, str) else '(unknown)'}, "
                           "which is not a SageMaker Model of this stack")
        return out
    if rtype == "aws:sagemaker/endpoint:Endpoint":
        name = get(r.props, "endpointConfigName")
        configs = graph.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
        if any(d.resource_type == "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
               for d in graph.property_deps(r, "endpointConfigName")):
            return []
        if isinstance(name, str) and any(name in (get(c.props, "name"), c.name) for c in configs):
            return []
        return [f"cannot judge: endpointConfigName {name if isinstance(name, str) else '(unknown)'} is not an "
                "EndpointConfiguration of this stack, so the models it serves cannot be read"]
    return []


# -- the policy -----------------------------------------------------------------------------------

def serving_problems(r: PolicyResource, graph: StackGraph, entries: list[Any],
                     catalog: ApprovedCatalog | None) -> tuple[bool, list[str]]:
    """(serves models?, problems): undeclared or disagreeing servers, and what could not be read."""
    cat = server_catalog()
    rtype = r.resource_type
    if cat.managed.get(rtype) == "judged":
        return True, sagemaker_problems(r, graph, entries, catalog)
    problems: list[str] = []
    serves = False
    kind, entry = cat.serving_kind(rtype) if rtype.startswith("kubernetes:") else ("", None)
    if rtype in HELM_TYPES:
        chart = get(r.props, "chart")
        chart_name = chart.rsplit("/", 1)[-1] if isinstance(chart, str) else None
        if chart is UNKNOWN or chart_name in cat.charts:
            serves = True
            problems.append(f"cannot judge: chart {chart_name or '(unknown at preview)'} installs an inference "
                            "server, and the models a chart loads cannot be read; deploy it as a Deployment that "
                            "declares its models")
        for path, value in walk(get(r.props, "values") or {}):
            if isinstance(value, str) and cat.server_of(value, []) and ("/" in value or ":" in value):
                serves = True
                problems.append(f"cannot judge: values.{path_str(path)} = {value!r} runs "
                                f"{cat.server_of(value, [])}, and the models a chart loads cannot be read; deploy "
                                "it as a Deployment that declares its models")
        return serves, problems
    for c in containers(r.props):
        words, _ = _tokens(c)
        if c.image is UNKNOWN:
            problems.append(f"cannot judge: container {c.where} image is unknown at preview")
            continue
        server = cat.server_of(c.image, words)
        if server is None:
            continue
        loads = server_loads(c, server, cat.servers[server])
        if kind == "runtime" and not loads.models and not loads.repositories:
            continue  # a runtime template: its InferenceServices name the models
        serves = True
        problems += agreement_problems(loads, entries)
    if kind == "serving":
        serves = True
        refs = _storage_refs(r.props, entry.storage_keys)
        if not entries:
            problems.append(f"is a {rtype.rsplit(':', 1)[-1]} (it serves models) but declares no models; declare "
                            f"them in the {ANNOTATION} annotation")
        else:
            _, repos = _declared_refs(entries)
            names, _ = _declared_refs(entries)
            for where, ref in refs:
                if ref is UNKNOWN:
                    problems.append(f"cannot judge: spec.{where} is unknown at preview")
                elif isinstance(ref, str) and _norm(ref) not in repos and ref not in names:
                    problems.append(f"spec.{where} loads {ref!r}, which its declaration does not name "
                                    f"(declared repositories: {', '.join(sorted(repos)) or 'none'})")
            if not refs and not containers(r.props):
                problems.append("cannot judge: it names no storage URI and no container, so what it loads cannot be "
                                "checked against its declaration")
    return serves, problems


def validate(args, report_violation) -> None:
    config = args.get_config()
    allowed = list(config.get(ALLOWED_TYPES) or [])
    resources = list(args.resources)
    graph = StackGraph(resources)
    try:
        catalog: ApprovedCatalog | None = _catalog_for(config)
        catalog_error = None
    except ConfigError as exc:
        catalog, catalog_error = None, exc
    judged: list[tuple[PolicyResource, list[Any]]] = []  # resources that declare or serve models
    for r in resources:
        cov = coverage(r.resource_type)
        if cov.kind == "cannot-judge":
            report_unjudged(NAME, r.resource_type, r.name, cov.reason, allowed, report_violation, r.urn)
            continue
        if cov.kind == "not-applicable":
            continue
        entries, problems = declared_models(r.props, r.resource_type)
        serves, serving = serving_problems(r, graph, entries, catalog)
        for problem in problems + serving:
            report_violation(f"{r.resource_type} {r.name}: {problem}", r.urn)
        if entries or serves:
            judged.append((r, entries))
    if not judged:
        return
    if catalog is None:
        for r, _ in judged:
            report_violation(f"cannot check models of {r.name}: {catalog_error}", r.urn)
        return
    cls = stack_classification(resources)
    for urn, problem in cls.findings:
        name = graph.by_urn[urn].name if urn in graph.by_urn else urn.split("::")[-1]
        report_violation(f"{name}: {problem}; model-approval cannot judge against a classification it cannot read",
                         urn)
    level = cls.level
    floor = config.get("dataClassification")
    if level is None:
        for r, _ in judged:
            report_violation(f"{r.resource_type} {r.name}: cannot judge: the stack declares no {CLASS_KEY} tag or "
                             f"label on any resource or provider, so the data class its models must be approved "
                             f"for is unknown; set platform.data_classification (or tag/label a resource of the "
                             f"stack {CLASS_KEY}=<{'|'.join(CLASSIFICATIONS)}>)", r.urn)
        return
    if isinstance(floor, str) and floor in CLASSIFICATIONS and rank(floor) > rank(level):
        level = floor  # the config may only raise the stack's class
    requirements = required_evaluations(config, level)
    today = dt.date.today()
    for r, entries in judged:
        for entry in entries:
            for problem in check_entry(entry, catalog, level, today, requirements):
                report_violation(f"{r.resource_type} {r.name}: {problem}", r.urn)


POLICY = StackValidationPolicy(
    name=NAME,
    description="Every inference server and model endpoint declares the models it loads, the declaration agrees "
                "with what it loads, and every served version (stable and canary) is approved, digest-matched, "
                "unexpired and cleared for the stack's data classification.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate,
    config_schema=PolicyConfigSchema(
        properties={
            "dataClassification": {
                "type": "string",
                "enum": CLASSIFICATIONS,
                "description": "Raise the class models must be approved for above the stack's own (the highest "
                               "data-classification tag/label in the stack). It can never lower it. No default: "
                               "the stack decides.",
            },
            "catalogPath": {
                "type": "string",
                "minLength": 1,
                "default": "approved_models.yaml",
                "description": "Approved-model catalog, relative to policies/. Default approved_models.yaml.",
            },
            "requireEvaluation": REQUIRE_EVALUATION_SCHEMA,
            ALLOWED_TYPES: ALLOWED_TYPES_SCHEMA,
        },
    ),
)
