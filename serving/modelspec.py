"""Typed Triton model specs, rendered to ``config.pbtxt`` through Triton's own protobuf.

A ``ModelSpec`` states what a model needs served: backend or platform, batch limits,
tensors, dynamic batching with a *bounded* queue (overload is rejected fast instead of
queueing forever), instance groups and the version policy. ``to_config()`` builds
``tritonclient.grpc.model_config_pb2.ModelConfig`` and ``to_pbtxt()`` prints it with
``google.protobuf.text_format`` - there is no hand-written serializer, so anything we
emit is by construction something Triton's parser accepts. ``parse_pbtxt`` reads an
existing ``config.pbtxt`` back into the same message (round trip), and
``config_problems`` checks a message for the mistakes Triton would only report at load
time (used by ``serving.repository.validate``). The optional ``evaluation`` section is
not part of Triton's config: it holds the thresholds ``aiplat eval`` gates a version on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from google.protobuf import text_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tritonclient.grpc import model_config_pb2 as mc

from aiplat.errors import ConfigError, Problem, format_path
from aiplat.refs import TRITON_MAX_QUEUE_SIZE

DataType = Literal[
    "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
    "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64",
    "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING", "TYPE_BF16",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One input or output tensor. ``dims`` exclude the batch dimension (Triton's rule
    when ``max_batch_size > 0``); ``-1`` marks a variable-size dimension."""

    name: str = Field(min_length=1)
    data_type: DataType
    dims: list[int] = Field(min_length=1)

    @field_validator("dims")
    @classmethod
    def _dims(cls, dims: list[int]) -> list[int]:
        bad = [d for d in dims if d == 0 or d < -1]
        if bad:
            raise ValueError(f"each dim must be -1 (variable) or >= 1, got {bad}")
        return dims


class QueuePolicy(_Strict):
    """Bounded request queue. Defaults: at most 64 queued requests, REJECT when full or
    timed out, so an overloaded server answers with errors at once (clients retry or
    the autoscaler reacts) rather than letting latency grow without bound."""

    max_queue_size: int = Field(TRITON_MAX_QUEUE_SIZE, ge=1)
    timeout_action: Literal["REJECT", "DELAY"] = "REJECT"
    default_timeout_microseconds: int = Field(0, ge=0)  # 0: no per-request queue timeout
    allow_timeout_override: bool = False


class DynamicBatching(_Strict):
    """Server-side batching. Default: no preferred sizes (batch whatever is queued),
    100 µs max queue delay, the default bounded ``QueuePolicy``."""

    preferred_batch_sizes: list[int] = Field(default_factory=list)
    max_queue_delay_microseconds: int = Field(100, ge=0)
    queue_policy: QueuePolicy = Field(default_factory=QueuePolicy)


class InstanceGroup(_Strict):
    """``count`` model instances of one kind. Default: one instance per GPU (KIND_GPU)."""

    kind: Literal["KIND_CPU", "KIND_GPU"] = "KIND_GPU"
    count: int = Field(1, ge=1)


class VersionPolicy(_Strict):
    """Which versions Triton serves. Default: the latest one. ``specific`` needs
    ``versions`` (and excludes ``num_versions``); ``latest`` uses ``num_versions``."""

    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = Field(1, ge=1)
    versions: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _versions(self) -> "VersionPolicy":
        if self.kind == "specific" and not self.versions:
            raise ValueError("a specific version policy needs at least one version")
        if self.kind != "specific" and self.versions:
            raise ValueError(f"versions are only allowed with kind 'specific', not {self.kind!r}")
        if any(v < 1 for v in self.versions):
            raise ValueError("versions are positive integers (the version directory names)")
        return self


THRESHOLDS = ("max_abs_error", "min_accuracy", "min_cosine", "min_agreement", "max_p99_ms")


class Evaluation(_Strict):
    """Thresholds ``aiplat eval`` gates a version on (``serving.evaluate``); flags of the
    command override them one by one. Every threshold is optional; one that is set but
    cannot be measured on a run (``min_agreement`` without a baseline, ``min_cosine``
    without a multi-element float output) fails that run rather than being skipped.

    ``max_abs_error``: float outputs, the largest |output - expected| over all elements.
    ``min_accuracy``: integer, bool and string outputs, the share of rows equal to expected.
    ``min_cosine``: float outputs of more than one element, the mean cosine similarity
    per row with expected. ``min_agreement``: every output, the share of rows that agree
    with the baseline version (equal; for floats within ``agreement_tolerance``, default
    1e-6 absolute). ``max_p99_ms``: p99 latency of the evaluated version's requests."""

    # strict: a quoted number in YAML is a typo, not a threshold
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_abs_error: float | None = Field(None, ge=0)
    min_accuracy: float | None = Field(None, ge=0, le=1)
    min_cosine: float | None = Field(None, ge=-1, le=1)
    min_agreement: float | None = Field(None, ge=0, le=1)
    max_p99_ms: float | None = Field(None, gt=0)
    agreement_tolerance: float = Field(1e-6, ge=0)

    def thresholds(self) -> dict[str, float]:
        """The thresholds that are set, in a fixed order."""
        return {k: getattr(self, k) for k in THRESHOLDS if getattr(self, k) is not None}


class ModelSpec(_Strict):
    """A Triton model configuration. Exactly one of ``backend`` (e.g. ``python``,
    ``onnxruntime``) or ``platform`` (e.g. ``tensorrt_plan``) is required.
    ``max_batch_size`` defaults to 0 (no batching); ``dynamic_batching`` defaults to off
    and requires ``max_batch_size > 0``; ``instance_groups`` default to Triton's choice;
    ``parameters`` are passed through as string parameters (backend-specific);
    ``evaluation`` (default none) holds the thresholds of ``aiplat eval`` and is not
    rendered into ``config.pbtxt``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    backend: str | None = None
    platform: str | None = None
    max_batch_size: int = Field(0, ge=0)
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    dynamic_batching: DynamicBatching | None = None
    instance_groups: list[InstanceGroup] = Field(default_factory=list)
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)
    parameters: dict[str, str] = Field(default_factory=dict)
    evaluation: Evaluation | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        if (self.backend is None) == (self.platform is None):
            raise ValueError("set exactly one of backend or platform")
        for kind, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [t.name for t in tensors]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} names: {dupes}")
        if self.dynamic_batching is not None:
            if self.max_batch_size == 0:
                raise ValueError("dynamic_batching needs max_batch_size > 0")
            too_big = [s for s in self.dynamic_batching.preferred_batch_sizes
                       if s < 1 or s > self.max_batch_size]
            if too_big:
                raise ValueError(
                    f"preferred_batch_sizes {too_big} must be within 1..max_batch_size "
                    f"({self.max_batch_size})")
        return self

    # --- rendering -----------------------------------------------------------------
    def to_config(self) -> mc.ModelConfig:
        cfg = mc.ModelConfig(name=self.name, max_batch_size=self.max_batch_size)
        if self.backend:
            cfg.backend = self.backend
        if self.platform:
            cfg.platform = self.platform
        for spec, field in ((self.inputs, cfg.input), (self.outputs, cfg.output)):
            for t in spec:
                field.add(name=t.name, data_type=mc.DataType.Value(t.data_type), dims=t.dims)
        if self.dynamic_batching is not None:
            db, qp = self.dynamic_batching, self.dynamic_batching.queue_policy
            cfg.dynamic_batching.preferred_batch_size.extend(db.preferred_batch_sizes)
            cfg.dynamic_batching.max_queue_delay_microseconds = db.max_queue_delay_microseconds
            q = cfg.dynamic_batching.default_queue_policy
            q.max_queue_size = qp.max_queue_size
            q.timeout_action = mc.ModelQueuePolicy.TimeoutAction.Value(qp.timeout_action)
            q.default_timeout_microseconds = qp.default_timeout_microseconds
            q.allow_timeout_override = qp.allow_timeout_override
        for g in self.instance_groups:
            cfg.instance_group.add(count=g.count, kind=mc.ModelInstanceGroup.Kind.Value(g.kind))
        vp = self.version_policy
        if vp.kind == "latest":
            cfg.version_policy.latest.num_versions = vp.num_versions
        elif vp.kind == "all":
            cfg.version_policy.all.SetInParent()
        else:
            cfg.version_policy.specific.versions.extend(vp.versions)
        for key, value in sorted(self.parameters.items()):
            cfg.parameters[key].string_value = value
        return cfg

    def to_pbtxt(self) -> str:
        return render_pbtxt(self.to_config())

    @classmethod
    def from_config(cls, cfg: mc.ModelConfig) -> "ModelSpec":
        """The inverse of ``to_config`` for the fields a ModelSpec covers."""

        def tensors(field):
            return [TensorSpec(name=t.name, data_type=mc.DataType.Name(t.data_type),
                               dims=list(t.dims)) for t in field]

        data: dict = {
            "name": cfg.name,
            "backend": cfg.backend or None,
            "platform": cfg.platform or None,
            "max_batch_size": cfg.max_batch_size,
            "inputs": tensors(cfg.input),
            "outputs": tensors(cfg.output),
            "instance_groups": [
                InstanceGroup(kind=mc.ModelInstanceGroup.Kind.Name(g.kind), count=g.count)
                for g in cfg.instance_group],
            "parameters": {k: v.string_value for k, v in cfg.parameters.items()},
        }
        if cfg.HasField("dynamic_batching"):
            db, q = cfg.dynamic_batching, cfg.dynamic_batching.default_queue_policy
            data["dynamic_batching"] = DynamicBatching(
                preferred_batch_sizes=list(db.preferred_batch_size),
                max_queue_delay_microseconds=db.max_queue_delay_microseconds,
                queue_policy=QueuePolicy(
                    max_queue_size=q.max_queue_size,
                    timeout_action=mc.ModelQueuePolicy.TimeoutAction.Name(q.timeout_action),
                    default_timeout_microseconds=q.default_timeout_microseconds,
                    allow_timeout_override=q.allow_timeout_override),
            )
        which = cfg.version_policy.WhichOneof("policy_choice")
        if which == "specific":
            data["version_policy"] = VersionPolicy(
                kind="specific", versions=list(cfg.version_policy.specific.versions))
        elif which == "all":
            data["version_policy"] = VersionPolicy(kind="all")
        elif which == "latest":
            data["version_policy"] = VersionPolicy(
                kind="latest", num_versions=cfg.version_policy.latest.num_versions)
        return cls(**data)


def render_pbtxt(cfg: mc.ModelConfig) -> str:
    return text_format.MessageToString(cfg)


def pinned_config(cfg: mc.ModelConfig, version: int) -> mc.ModelConfig:
    """A copy of ``cfg`` that serves exactly ``version``: ``version_policy: specific { versions:
    [version] }``, everything else unchanged (the config a single-version repository carries)."""
    out = mc.ModelConfig()
    out.CopyFrom(cfg)
    out.version_policy.Clear()
    out.version_policy.specific.versions.append(version)
    return out


def parse_pbtxt(text: str, source: str = "config.pbtxt") -> mc.ModelConfig:
    """Parse ``config.pbtxt`` text with Triton's message; syntax errors become a
    ``ConfigError`` naming the file, line and column."""
    cfg = mc.ModelConfig()
    try:
        text_format.Parse(text, cfg)
    except text_format.ParseError as exc:
        raise ConfigError([Problem(source, f"not a valid Triton model config: {exc}")]) from None
    return cfg


def load_spec(path: str | Path) -> ModelSpec:
    """Read a ModelSpec from a YAML file; every problem is reported with its key path."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "file not found")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "expected a mapping of ModelSpec fields")])
    try:
        return ModelSpec(**data)
    except ValidationError as exc:
        raise ConfigError(
            [Problem(format_path(e["loc"]) or "(spec)", e["msg"]) for e in exc.errors()],
            source=str(path)) from None


def config_problems(cfg: mc.ModelConfig) -> list[Problem]:
    """Problems in a parsed config that Triton would only report when loading it.
    Paths are the protobuf field names as they appear in ``config.pbtxt``."""
    problems: list[Problem] = []
    if not cfg.backend and not cfg.platform:
        problems.append(Problem("backend", "set backend or platform"))
    if cfg.max_batch_size < 0:
        problems.append(Problem("max_batch_size", "must be >= 0"))
    for field_name in ("input", "output"):
        tensors = getattr(cfg, field_name)
        if not tensors and field_name == "output":
            problems.append(Problem(field_name, "at least one output is required"))
        seen: set[str] = set()
        for i, t in enumerate(tensors):
            where = f"{field_name}[{i}]"
            if not t.name:
                problems.append(Problem(f"{where}.name", "missing"))
            elif t.name in seen:
                problems.append(Problem(f"{where}.name", f"duplicate tensor name {t.name!r}"))
            seen.add(t.name)
            if t.data_type == mc.TYPE_INVALID:
                problems.append(Problem(f"{where}.data_type", "missing or TYPE_INVALID"))
            if not t.dims and not t.HasField("reshape"):
                problems.append(Problem(f"{where}.dims", "missing (give at least one dim)"))
            for j, d in enumerate(t.dims):
                if d == 0 or d < -1:
                    problems.append(Problem(f"{where}.dims[{j}]",
                                            f"{d} is not a valid dim (-1 or >= 1)"))
    if cfg.HasField("dynamic_batching"):
        if cfg.max_batch_size == 0:
            problems.append(Problem("dynamic_batching", "needs max_batch_size > 0"))
        for j, s in enumerate(cfg.dynamic_batching.preferred_batch_size):
            if cfg.max_batch_size and not 1 <= s <= cfg.max_batch_size:
                problems.append(Problem(f"dynamic_batching.preferred_batch_size[{j}]",
                                        f"{s} is outside 1..max_batch_size ({cfg.max_batch_size})"))
    return problems
