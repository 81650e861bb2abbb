"""``serving``: Triton endpoints, the models each serves (pinned by version and digest), and canaries.

Which GPU pool an endpoint runs on and whether its replicas fit are cross references
into ``regions``; ``ServingConfig.region_problems`` judges them for ``PlatformConfig``.
``model_repository`` names where the served versions come from; this contract checks its
form only. Whether the directory holds those versions with those digests is a question
of files, answered by the program where it runs (``aiplat.triton.source_problems``), so
the files are read relative to the program's working directory, as Pulumi reads them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

from pydantic import Field, ValidationInfo, field_validator

from aiplat import catalog
from aiplat.config._base import DnsLabel, Unknown, _ctx, _Model, if_known, known, not_empty, repeated, rule
from aiplat.errors import Problem
from aiplat.refs import (
    DIGEST_RE,
    PROMETHEUS_URL,
    REGION_PLACEHOLDER,
    TRITON_IMAGE,
    TRITON_IMAGE_RE,
    TRITON_MAX_QUEUE_SIZE,
    is_model_store_uri,
    model_store_problem,
)

if TYPE_CHECKING:
    from aiplat.config.regions import RegionConfig

MODEL_DIGEST = DIGEST_RE


def _check_digest(v: str) -> str:
    if not DIGEST_RE.match(v):
        raise ValueError(f"{v!r} is not sha256:<64 lowercase hex>")
    return v


# Triton model names become repository directories and URL path segments.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CanaryConfig(_Model):
    """A candidate version taking ``weight`` percent of the model's requests.

    Rollback: set ``weight: 0`` (the canary Deployment is removed, the block stays as a
    record) or delete the block. Promotion: copy version/digest to the model's own."""

    version: int = Field(ge=1, description="Triton version directory of the candidate.")
    digest: str = Field(description="sha256:<64 hex> content digest of that version (`aiplat models digest`).")
    weight: int = Field(ge=0, le=100, description="Percent of this model's requests; 0 = rolled back (not deployed).")

    _digest = field_validator("digest")(_check_digest)


class ServedModelConfig(_Model):
    """A model an endpoint serves, pinned to one version and its digest.

    The repository URI is derived, not configured: ``s3://<bucket>/<name>/v<version>``
    (``gs://`` on GCP) in the endpoint's bucket of each region, where the program publishes
    the version from ``serving.model_repository`` (or ``<prefix>/<name>/v<version>`` of an
    existing object-store prefix); see aiplat.triton."""

    name: str = Field(description="Triton model name (the repository directory).")
    version: int = Field(ge=1, description="Stable version (Triton version directory).")
    digest: str = Field(description="sha256:<64 hex> content digest of that version (`aiplat models digest`).")
    canary: CanaryConfig | None = Field(None, description="Candidate version and its traffic weight. Default: none.")
    max_queue_size: int = Field(
        TRITON_MAX_QUEUE_SIZE, ge=1,
        description="The model's bounded queue as its config.pbtxt sets it (spec.yaml dynamic_batching.queue_policy."
                    "max_queue_size), stable and canary alike. Triton refuses requests beyond it (503) without "
                    "counting them anywhere, so TritonQueueFull and the queue-fill panel compare the pending-request "
                    f"gauge with it. Default {TRITON_MAX_QUEUE_SIZE}, the model spec's default.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(f"{v!r} is not a Triton model name (letters, digits, '_', '.', '-', max 64)")
        return v

    _digest = field_validator("digest")(_check_digest)

    @rule
    def _canary(self, ctx):
        if self.canary is not None and self.canary.version == self.version:
            yield Problem("canary.version", f"{self.version} is already the stable version")

    @property
    def served_versions(self) -> list[str]:
        """Versions a Deployment serves: the stable one, and the canary's while its weight is above 0."""
        canary = [str(self.canary.version)] if self.canary is not None and self.canary.weight > 0 else []
        return [str(self.version), *canary]


class EndpointConfig(_Model):
    """A Triton endpoint: the models it serves, on which GPU pool, where, and how it scales."""

    name: DnsLabel = Field(description="Endpoint name (DNS label); namespace triton-<name>.")
    pool: str = Field(description="GPU pool name; must exist in every region the endpoint runs in.")
    regions: list[str] | None = Field(
        None,
        description="Regions to serve in. Default (key absent): every stack region; an empty list is an error.")
    min_replicas: int = Field(1, ge=1, description="Stable replicas at least. Default 1.")
    max_replicas: int = Field(
        2, ge=1, description="Stable replicas at most. Default 2. (max + canary) x gpus_per_replica <= pool GPUs."
    )
    gpus_per_replica: int = Field(1, ge=1, description="GPUs per Triton pod. Default 1; at most one node's GPUs.")
    queue_time_target_ms: float = Field(
        50.0, gt=0, description="KEDA scales out when mean queue time per request exceeds this. Default 50 ms."
    )
    image: str = Field(TRITON_IMAGE, description=f"Pinned tritonserver image. Default {TRITON_IMAGE}.")
    models: list[ServedModelConfig] = Field(min_length=1, description="At least one model.")

    _regions_listed = field_validator("regions")(not_empty("omit regions for every stack region, or list them"))

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not TRITON_IMAGE_RE.match(v):
            raise ValueError(f"{v!r} must be a pinned nvcr.io/nvidia/tritonserver:<yy.mm>-py3 image")
        return v

    @rule
    def _replicas(self, ctx):
        if self.max_replicas < self.min_replicas:
            yield Problem("max_replicas", f"{self.max_replicas} is below min_replicas {self.min_replicas}")

    @rule
    def _unique_models(self, ctx):
        for i, name in repeated(self.models, "name"):
            yield Problem(f"models[{i}].name", f"model {name!r} is listed twice")

    @property
    def canary_max_replicas(self) -> int:
        """Replicas the canary track may add at full scale (0 without an active canary)."""
        weights = [m.canary.weight for m in self.models if m.canary is not None and m.canary.weight > 0]
        return max(1, -(-self.max_replicas * max(weights) // 100)) if weights else 0

    def resolved_regions(self, stack_regions: list[str]) -> list[str]:
        return list(self.regions) if self.regions is not None else list(stack_regions)


class ServingConfig(_Model):
    """Triton endpoints per region; each endpoint owns a model bucket per region."""

    bucket_prefix: str | None = Field(
        None,
        description="Start of every model bucket name (S3/GCS names are global: use your org, e.g. acme-ml-prod). "
        "Bucket = <prefix>-<region>-<endpoint>. Default aiplat-<stack>.",
    )
    model_repository: str | None = Field(
        None,
        description="Where the served model versions come from. A local directory built by `aiplat models build` "
        "(relative to the program's working directory: the Pulumi project directory, or Pulumi.yaml's `main`): the "
        "program publishes exactly the served versions (stable and active canaries) into each endpoint's bucket and "
        "refuses a digest that differs from the files. Or an existing s3:// (AWS) / gs:// (GCP) prefix holding "
        "<prefix>/<model>/v<version>/ repositories, `{region}` replaced per region: nothing is published, Triton "
        "reads it directly, and its digests cannot be verified (needs accept_unverified_digests). Required with "
        "endpoints.",
    )
    accept_unverified_digests: bool = Field(
        False,
        description="With an object-store model_repository only: deploy the stated digests without checking them "
        "against the objects (the program cannot read them at preview). Default false.",
    )
    prometheus_url: str = Field(
        PROMETHEUS_URL,
        description="Prometheus KEDA queries for queue time. Default: prometheus-operator's Service in `monitoring`.",
    )
    endpoints: list[EndpointConfig] = Field(default_factory=list, description="Default: none.")

    @field_validator("bucket_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", v):
            raise ValueError(f"{v!r}: lowercase letters, digits and '-', 3-32 characters")
        return v

    @field_validator("model_repository")
    @classmethod
    def _repository(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if not v.strip():
            raise ValueError("empty: name a directory built by `aiplat models build`, or an object-store prefix")
        if is_model_store_uri(v):
            problem = model_store_problem(v, _ctx(info, "cloud"))
            if problem:
                raise ValueError(problem)
        elif REGION_PLACEHOLDER in v:
            raise ValueError(f"{v!r}: {REGION_PLACEHOLDER} is only replaced in an object-store prefix")
        return v

    @rule
    def _unique(self, ctx):
        for i, name in repeated(self.endpoints, "name"):
            yield Problem(f"endpoints[{i}].name", f"endpoint {name!r} is listed twice")

    @rule
    def _model_source(self, ctx):
        repository, accept = self.model_repository, self.accept_unverified_digests
        if repository is None:
            if self.endpoints:
                yield Problem("model_repository", "required with endpoints: the directory `aiplat models build` "
                                                  "wrote (published with the deploy), or an existing object-store "
                                                  "prefix; without it Triton starts on an empty bucket")
            if accept:
                yield Problem("accept_unverified_digests", "only applies to an object-store model_repository")
        elif is_model_store_uri(repository):
            if not accept:
                yield Problem("model_repository",
                              f"{repository} is an existing object-store prefix: nothing is published and the "
                              "program cannot read its objects at preview, so the digests of serving.endpoints[*]."
                              "models[*] would deploy unverified; publish from a local directory built by `aiplat "
                              "models build`, or set serving.accept_unverified_digests: true to accept that")
        elif accept:
            yield Problem("accept_unverified_digests",
                          f"only applies to an object-store model_repository; the digests of the local directory "
                          f"{repository} are always verified against its files")

    def served(self) -> dict[str, dict[str, list[str]]]:
        """endpoint -> model -> versions its Deployments serve (what gateway routes may pin)."""
        return {e.name: {m.name: m.served_versions for m in e.models} for e in self.endpoints}

    def region_problems(self, cloud: str | None, regions: list[RegionConfig]) -> Iterator[Problem]:
        """Pools per region and GPU capacity; paths relative to ``serving``."""
        from aiplat.catalog import gpu

        named = [r for _, r in known(regions, "name")]
        by_name = {r.name: r for r in named}
        used: dict[tuple[str, str], list[tuple[int, int, int]]] = {}  # (region, pool) -> [(endpoint, GPUs, cap)]
        for i, ep in enumerate(self.endpoints):
            with if_known():
                for j, rname in enumerate(ep.regions or []):
                    if rname not in by_name and len(named) == len(regions):  # only when every name is known
                        yield Problem(f"endpoints[{i}].regions[{j}]", f"{rname!r} is not a region of this stack")
            for rname in _resolved(ep, by_name):
                with if_known():
                    region = by_name[rname]
                    pool = next((p for p in region.gpu_pools if p.name == ep.pool), None)
                    if pool is None:
                        have = ", ".join(p.name for p in region.gpu_pools) or "none"
                        yield Problem(f"endpoints[{i}].pool", f"no GPU pool {ep.pool!r} in region {rname} (pools there: {have})")
                        continue
                    itype = gpu.get_instance_type(cloud, pool.instance_type) if cloud in catalog.CLOUDS else None
                    if itype is None:
                        continue  # reported on the pool itself
                    if ep.gpus_per_replica > itype.gpus:
                        yield Problem(f"endpoints[{i}].gpus_per_replica",
                                      f"{ep.gpus_per_replica} GPUs do not fit one {pool.instance_type} node "
                                      f"({itype.gpus} GPUs) of pool {pool.name!r}")
                    need = (ep.max_replicas + ep.canary_max_replicas) * ep.gpus_per_replica
                    cap = pool.max_nodes * itype.gpus
                    used.setdefault((rname, pool.name), []).append((i, need, cap))
                    if need > cap:
                        canary = f" + {ep.canary_max_replicas} canary" if ep.canary_max_replicas else ""
                        yield Problem(f"endpoints[{i}].max_replicas",
                                      f"({ep.max_replicas}{canary}) replicas x {ep.gpus_per_replica} GPU = {need} GPUs "
                                      f"exceed pool {pool.name!r} in {rname}: max_nodes {pool.max_nodes} x "
                                      f"{itype.gpus} GPU = {cap}")
        for (rname, pname), users in used.items():
            total, cap = sum(n for _, n, _ in users), users[0][2]
            if len(users) > 1 and total > cap:
                names = ", ".join(self.endpoints[i].name for i, _, _ in users)
                yield Problem(f"endpoints[{users[-1][0]}].max_replicas",
                              f"endpoints {names} together need {total} GPUs at full scale; pool {pname!r} in "
                              f"{rname} has {cap}")


def _resolved(ep: EndpointConfig, by_name: dict[str, RegionConfig]) -> list[str]:
    """The (valid) stack regions an endpoint runs in; [] when its own ``regions`` failed validation."""
    try:
        return [r for r in ep.resolved_regions(list(by_name)) if r in by_name]
    except Unknown:
        return []

