"""``vector_store``: Milvus for RAG per region and the collections ``aiplat vectors apply`` keeps in shape.

A stack states which collections it needs (name, vector dimension, metric, index,
scalar fields); ``aiplat vectors apply`` (``aiplat.tools.vectors``) makes a running Milvus
match those specs without ever losing data. The Milvus deployment itself is the
``VectorStore`` component (``aiplat.vector_store``).

Every problem is reported with its key path in one pass
(``vector_store.collections[0].index.params.M: required for HNSW ...``). Milvus's own
server-side checks are not relied on: Milvus Lite accepts any index type and any
parameter value and only fails later, in a background index build.
"""

from __future__ import annotations

import re
from typing import Iterator, Literal

from pydantic import Field, field_validator

from aiplat.config._base import _Model, known, rule
from aiplat.errors import Problem, format_path

# -- Milvus limits (Milvus 2.x docs, "Milvus Limits") -----------------------------------
# Collection and field names: a letter or underscore, then letters, digits, underscores.
MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 255
MAX_DIMENSION = 32768
MAX_FIELDS = 64
MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096

Metric = Literal["COSINE", "L2", "IP"]
ScalarType = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "JSON", "ARRAY"]
ElementType = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR"]
IndexType = Literal["FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN", "AUTOINDEX"]

# Build parameters per index type: name -> (required, low, high). Ranges from the Milvus
# index reference; anything not listed is rejected so a typo ("efconstruction") cannot
# silently fall back to a server default.
INDEX_PARAMS: dict[str, dict[str, tuple[bool, int, int]]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "DISKANN": {},
    "IVF_FLAT": {"nlist": (True, 1, 65536)},
    "IVF_SQ8": {"nlist": (True, 1, 65536)},
    "IVF_PQ": {"nlist": (True, 1, 65536), "m": (True, 1, MAX_DIMENSION), "nbits": (False, 1, 64)},
    "HNSW": {"M": (True, 2, 2048), "efConstruction": (True, 1, 2**31 - 1)},
}

# Index types Milvus Lite (milvus-lite 3.2) builds. It *accepts* the others at
# create_index time, then its background build fails ("unknown index_type") and
# searches fall back to brute force, so `aiplat vectors apply` refuses them on a Lite URI.
MILVUS_LITE_INDEX_TYPES = frozenset({"FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "AUTOINDEX"})


def _err(loc: tuple, message: str) -> Problem:
    return Problem(format_path(loc), message)


def _check_name(kind: str, v: str) -> str:
    if not MILVUS_NAME.match(v):
        raise ValueError(f"{v!r} is not a valid Milvus {kind} name (a letter or '_', then letters, digits or '_')")
    if len(v) > MAX_NAME_LENGTH:
        raise ValueError(f"{kind} name is {len(v)} characters; Milvus allows at most {MAX_NAME_LENGTH}")
    return v


class ScalarField(_Model):
    """A scalar (filterable) field stored next to each vector, e.g. ``tenant`` or ``source``."""

    name: str = Field(description="Field name (Milvus naming rules), unique within the collection.")
    type: ScalarType = Field(description="Milvus scalar type: BOOL, INT8..INT64, FLOAT, DOUBLE, VARCHAR, JSON or ARRAY.")
    max_length: int | None = Field(
        None,
        description=f"VARCHAR (or ARRAY of VARCHAR) only: maximum length, 1..{MAX_VARCHAR_LENGTH}. "
        "Default 256 for those types; must be unset for the others.",
    )
    element_type: ElementType | None = Field(
        None, description="ARRAY only, required there: the element type. Must be unset for other types."
    )
    max_capacity: int | None = Field(
        None, description=f"ARRAY only, required there: maximum elements, 1..{MAX_ARRAY_CAPACITY}."
    )
    nullable: bool = Field(False, description="Whether rows may omit the value. Default false.")
    description: str = Field("", description="Free text stored in the schema. Default empty.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("field", v)

    @rule
    def _type_params(self, ctx):
        errors = []
        varchar = self.type == "VARCHAR" or (self.type == "ARRAY" and self.element_type == "VARCHAR")
        if self.max_length is not None:
            if not varchar:
                errors.append(_err(("max_length",), f"only valid for VARCHAR (or ARRAY of VARCHAR), not {self.type}"))
            elif not 1 <= self.max_length <= MAX_VARCHAR_LENGTH:
                errors.append(_err(("max_length",), f"{self.max_length} is outside 1..{MAX_VARCHAR_LENGTH}"))
        if self.type == "ARRAY":
            if self.element_type is None:
                errors.append(_err(("element_type",), "required for ARRAY"))
            if self.max_capacity is None:
                errors.append(_err(("max_capacity",), "required for ARRAY"))
            elif not 1 <= self.max_capacity <= MAX_ARRAY_CAPACITY:
                errors.append(_err(("max_capacity",), f"{self.max_capacity} is outside 1..{MAX_ARRAY_CAPACITY}"))
        else:
            for key in ("element_type", "max_capacity"):
                if getattr(self, key) is not None:
                    errors.append(_err((key,), f"only valid for ARRAY, not {self.type}"))
        return errors

    @property
    def resolved_max_length(self) -> int | None:
        """The VARCHAR length Milvus is given: the configured one, else 256; None for other types."""
        if self.type == "VARCHAR" or (self.type == "ARRAY" and self.element_type == "VARCHAR"):
            return self.max_length or 256
        return None


class PrimaryKey(_Model):
    """The primary key field of a collection."""

    name: str = Field("id", description="Field name. Default `id`.")
    type: Literal["INT64", "VARCHAR"] = Field("INT64", description="INT64 or VARCHAR (the two Milvus allows). Default INT64.")
    max_length: int | None = Field(
        None, description=f"VARCHAR only: maximum key length, 1..{MAX_VARCHAR_LENGTH}. Default 64 for VARCHAR."
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("field", v)

    @rule
    def _length(self, ctx):
        if self.max_length is None:
            return
        if self.type != "VARCHAR":
            yield _err(("max_length",), "only valid for a VARCHAR primary key")
        elif not 1 <= self.max_length <= MAX_VARCHAR_LENGTH:
            yield _err(("max_length",), f"{self.max_length} is outside 1..{MAX_VARCHAR_LENGTH}")

    @property
    def resolved_max_length(self) -> int | None:
        return (self.max_length or 64) if self.type == "VARCHAR" else None


class IndexSpec(_Model):
    """The vector index of a collection: its type and build parameters.

    Build parameters per type (all integers): HNSW needs ``M`` (2..2048) and
    ``efConstruction``; IVF_FLAT and IVF_SQ8 need ``nlist`` (1..65536); IVF_PQ needs
    ``nlist`` and ``m`` (a divisor of the dimension), ``nbits`` optional (1..64);
    FLAT, DISKANN and AUTOINDEX take none. Unknown parameters are errors.
    """

    type: IndexType = Field("HNSW", description="Index type. Default HNSW (the usual RAG choice: fast, high recall).")
    params: dict[str, int] = Field(
        default_factory=lambda: {"M": 16, "efConstruction": 200},
        description="Build parameters for the type (see above). Default {M: 16, efConstruction: 200}, "
        "which only suits HNSW: set params whenever you set another type.",
    )

    @rule
    def _params(self, ctx):
        allowed = INDEX_PARAMS[self.type]
        errors = []
        for key, value in self.params.items():
            if key not in allowed:
                takes = ", ".join(allowed) or "none"
                errors.append(_err(("params", key), f"not a parameter of {self.type} (it takes: {takes})"))
                continue
            _, lo, hi = allowed[key]
            if not lo <= value <= hi:
                errors.append(_err(("params", key), f"{value} is outside {lo}..{hi} for {self.type}"))
        for key, (required, lo, hi) in allowed.items():
            if required and key not in self.params:
                errors.append(_err(("params", key), f"required for {self.type} ({lo}..{hi})"))
        return errors


class CollectionSpec(_Model):
    """One Milvus collection: float vectors of one dimension, a primary key, scalar fields, one index."""

    name: str = Field(description="Collection name (Milvus naming rules), unique in the stack.")
    description: str = Field("", description="Free text stored with the collection. Default empty.")
    dimension: int = Field(
        ge=1, le=MAX_DIMENSION, description=f"Vector dimension (1..{MAX_DIMENSION}), the embedding model's output size."
    )
    metric: Metric = Field("COSINE", description="Similarity metric: COSINE, L2 or IP. Default COSINE.")
    vector_field: str = Field("embedding", description="Name of the FLOAT_VECTOR field. Default `embedding`.")
    primary_key: PrimaryKey = Field(default_factory=PrimaryKey, description="Default: INT64 field `id`.")
    auto_id: bool = Field(
        False,
        description="Let Milvus generate INT64 keys. Default false: callers supply stable keys, so re-ingesting "
        "a document upserts instead of duplicating it. Only valid with an INT64 primary key.",
    )
    index: IndexSpec = Field(default_factory=IndexSpec, description="Vector index. Default HNSW M=16 efConstruction=200.")
    scalar_fields: list[ScalarField] = Field(default_factory=list, description="Filterable fields. Default none.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name("collection", v)

    @field_validator("vector_field")
    @classmethod
    def _valid_vector_field(cls, v: str) -> str:
        return _check_name("field", v)

    @rule
    def _unique_field_names(self, ctx):
        taken = {self.primary_key.name: ("primary_key", "name")}
        if self.vector_field in taken:
            yield _err(("vector_field",), f"{self.vector_field!r} is also the primary key name")
        else:
            taken[self.vector_field] = ("vector_field",)
        for i, f in known(self.scalar_fields, "name"):
            if f.name in taken:
                other = ".".join(taken[f.name])
                yield _err(("scalar_fields", i, "name"), f"{f.name!r} is already used by {other}")
            else:
                taken[f.name] = ("scalar_fields", str(i), "name")

    @rule
    def _field_count(self, ctx):
        if 2 + len(self.scalar_fields) > MAX_FIELDS:
            yield _err(("scalar_fields",), f"{len(self.scalar_fields)} fields; Milvus allows {MAX_FIELDS} per collection "
                                           "including the key and vector")

    @rule
    def _auto_id(self, ctx):
        if self.auto_id and self.primary_key.type != "INT64":
            yield _err(("auto_id",), "only valid with an INT64 primary key; Milvus generates integer keys")

    @rule
    def _pq_divides_dimension(self, ctx):
        m = self.index.params.get("m")
        if self.index.type == "IVF_PQ" and m and self.dimension % m:
            yield _err(("index", "params", "m"), f"{m} does not divide the dimension {self.dimension}")


class VectorStoreNodesConfig(_Model):
    """The node pool Milvus runs on (tainted and labelled for Milvus alone; every Milvus pod,
    etcd and Pulsar included, selects and tolerates it). Defaults are sized per mode."""

    instance_type: str | None = Field(
        None,
        description="Node type from components/catalog/machines.yaml. Default: standalone m6i.xlarge (AWS) / "
                    "e2-standard-4 (GCP): its one 2 CPU / 8Gi pod needs more than a 2-vCPU node's 1930m "
                    "allocatable CPU; cluster r6i.2xlarge / n2-highmem-8: a queryNode asks 16Gi and the release "
                    "about 20 CPU / 94Gi in all. Every Milvus pod must fit one node's allocatable CPU and memory.",
    )
    min_nodes: int | None = Field(
        None, ge=1, description="Nodes always up. Default: standalone 1 (in the region's first zone, with its "
                                "volume); cluster one per zone of the region.")
    max_nodes: int | None = Field(
        None, ge=1, description="Cap of the pool (room for rolling updates and replacements). Default: twice "
                                "min_nodes. Its allocatable CPU and memory must hold every Milvus pod.")

    @rule
    def _range(self, ctx):
        if self.min_nodes is not None and self.max_nodes is not None and self.min_nodes > self.max_nodes:
            yield _err(("min_nodes",), f"{self.min_nodes} exceeds max_nodes {self.max_nodes}")


class VectorStoreConfig(_Model):
    """Milvus per region for RAG, and the collections `aiplat vectors apply` keeps in shape."""

    enabled: bool = Field(True, description="Deploy the vector store. Default true when the section is present.")
    mode: Literal["standalone", "cluster"] | None = Field(
        None,
        description="Milvus deployment mode. Default: cluster in prod (replicated, survives a node loss), "
        "standalone elsewhere (one pod, cheap).",
    )
    regions: list[str] | None = Field(
        None, description="Stack regions that get a Milvus. Default: every region of the stack. Each must be a stack region."
    )
    storage_gb: int = Field(
        50, ge=10, le=16384, description="Persistent volume size per Milvus data volume, GiB (10..16384). Default 50."
    )
    collections: list[CollectionSpec] = Field(
        default_factory=list, description="Collections applied by `aiplat vectors apply`. Default none."
    )
    client_namespaces: list[str] = Field(
        default_factory=lambda: ["rag"],
        description="Namespaces whose pods may reach Milvus (the NetworkPolicy), besides the stack's Triton "
        "endpoint namespaces in the same region, which are always admitted. Default [rag].",
    )
    nodes: VectorStoreNodesConfig = Field(
        default_factory=VectorStoreNodesConfig,
        description="The Milvus node pool (instance_type, min_nodes, max_nodes). Default: sized for the mode.",
    )

    @rule
    def _unique(self, ctx):
        first: dict[str, int] = {}
        for i, c in known(self.collections, "name"):
            if c.name in first:
                yield _err(("collections", i, "name"),
                           f"duplicate collection name {c.name!r} (first at collections[{first[c.name]}])")
            first.setdefault(c.name, i)

    @rule
    def _regions_listed(self, ctx):
        if self.regions is not None and not self.regions:
            yield _err(("regions",), "empty; omit it for every stack region, or set enabled: false")

    def resolved_mode(self, environment: str) -> str:
        """The deployment mode: the configured one, else cluster for prod and standalone elsewhere."""
        return self.mode or ("cluster" if environment == "prod" else "standalone")

    def resolved_nodes(self, mode: str, cloud: str, zones: list[str]) -> tuple[str, int, int, list[str]]:
        """(instance type, min nodes, max nodes, zones) of the Milvus pool in a region with ``zones``."""
        from aiplat.catalog import instances
        from aiplat.refs import MILVUS_NODE_TYPES, milvus_default_nodes, milvus_nodes_needed

        pool_zones = list(zones[:1]) if mode == "standalone" else list(zones)
        itype = self.nodes.instance_type or MILVUS_NODE_TYPES[(mode, cloud)]
        spec = instances.get(cloud, itype)
        a = spec.allocatable() if spec is not None else None
        needed = milvus_nodes_needed(mode, a.cpu_millicores, a.memory_mib, a.pods) if a is not None else 1
        low, high = milvus_default_nodes(mode, len(pool_zones), needed)
        lo = self.nodes.min_nodes if self.nodes.min_nodes is not None else low
        hi = self.nodes.max_nodes if self.nodes.max_nodes is not None else max(high, lo)
        return itype, lo, hi, pool_zones

    def node_problems(self, mode: str, cloud: str, regions: list) -> Iterator[Problem]:
        """``nodes.*``: a type the catalog does not know or the region does not offer, a Milvus pod
        larger than one node's allocatable CPU or memory, or a pool whose cap cannot hold the pods.

        Checked by PlatformConfig, which knows the mode (environment), the cloud and the regions."""
        from aiplat.catalog import instances
        from aiplat.refs import format_cpu, format_memory, milvus_pod_requests

        pods = milvus_pod_requests(mode)
        for rc in regions:
            if rc.name not in self.resolved_regions([r.name for r in regions]):
                continue
            itype, lo, hi, _ = self.resolved_nodes(mode, cloud, list(rc.zones))
            if lo > hi and (self.nodes.min_nodes is None or self.nodes.max_nodes is None):  # else _range
                yield _err(("nodes", "max_nodes"), f"{hi} is below min_nodes {lo}"
                                                   + ("" if self.nodes.min_nodes is not None else
                                                      f" (the {mode} default for {len(rc.zones)} zones and {itype})"))
                return
            spec = instances.get(cloud, itype)
            if spec is None:
                known_types = ", ".join(t.name for t in instances.machine_types(cloud) if not t.gpus)
                yield _err(("nodes", "instance_type"), f"{itype!r} is not {'an AWS' if cloud == 'aws' else 'a GCP'} type of the instance "
                                                       f"catalog (components/catalog/machines.yaml: {known_types})")
                return
            if not spec.offered_in(rc.name):
                yield _err(("nodes", "instance_type"), f"{itype} is not offered in {rc.name} (catalog)")
                continue
            alloc = spec.allocatable()
            big = [(k, cpu, mem) for k, (_, cpu, mem) in pods.items()
                   if cpu > alloc.cpu_millicores or mem > alloc.memory_mib]
            if big:
                what = "; ".join(f"{k} requests {format_cpu(c)} CPU / {format_memory(m)}" for k, c, m in big)
                yield _err(("nodes", "instance_type"),
                           f"{mode} Milvus pods do not fit one {itype} node ({format_cpu(alloc.cpu_millicores)} CPU / "
                           f"{format_memory(alloc.memory_mib)} allocatable): {what}; choose a larger type")
                return
            cpu = sum(n * c for n, c, _ in pods.values())
            mem = sum(n * m for n, _, m in pods.values())
            count = sum(n for n, _, _ in pods.values())
            if count > hi * alloc.pods or cpu > hi * alloc.cpu_millicores or mem > hi * alloc.memory_mib:
                need = max(-(-cpu // alloc.cpu_millicores), -(-mem // alloc.memory_mib), -(-count // alloc.pods))
                yield _err(("nodes", "max_nodes"),
                           f"{hi} {itype} nodes ({format_cpu(hi * alloc.cpu_millicores)} CPU / "
                           f"{format_memory(hi * alloc.memory_mib)} allocatable) cannot hold the {mode} Milvus pods "
                           f"({format_cpu(cpu)} CPU / {format_memory(mem)} requested in {rc.name}); at least {need}")
                return

    def resolved_regions(self, stack_regions: list[str]) -> list[str]:
        """Regions that get a Milvus, in stack order: the configured ones, else all."""
        wanted = set(self.regions) if self.regions is not None else set(stack_regions)
        return [r for r in stack_regions if r in wanted]

    def region_problems(self, stack_regions: list[str]) -> Iterator[Problem]:
        """``regions[i]`` for each listed region that is repeated or not a stack region (data stays in-region).

        Checked by PlatformConfig, which knows the stack's regions."""
        listed = self.regions or []
        for i, r in enumerate(listed):
            if listed.index(r) != i:
                yield _err(("regions", i), f"region {r!r} is listed twice")
            elif r not in stack_regions:
                yield _err(("regions", i), f"{r!r} is not a region of this stack ({', '.join(stack_regions)}); "
                                           "Milvus runs only next to a stack cluster")


# =========================================================================================
# The VectorStore component: Milvus in one region, next to the documents it indexes
