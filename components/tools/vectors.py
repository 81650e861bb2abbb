"""Make a running Milvus match a stack's collection specs, never losing data.

``plan(client, specs)`` compares each ``CollectionSpec`` with what the server holds and
returns a ``Plan``: collections to create, indexes to add, and *conflicts* — differences
that cannot be applied in place without losing or invalidating data (dimension, metric,
primary key, auto_id, a field's type or length, a different index). ``apply`` plans
first and changes nothing unless the whole plan is free of conflicts, so a bad spec
never leaves a half-applied stack; a second apply with the same specs reports every
collection ``unchanged`` and makes no calls that write.

What apply never does: drop or recreate a collection, drop a field or an index, or
alter an existing field. Those are migrations and stay deliberate. Load state is
runtime, not schema: apply loads what it creates or indexes and otherwise leaves it
alone (Milvus Lite forgets load state when its process exits).

Milvus Lite (a ``*.db`` URI) accepts any index type at create time and only fails in
its background build, so plans against Lite refuse the types Lite cannot build
(``MILVUS_LITE_INDEX_TYPES``). Lite also keeps no collection or field descriptions, so
descriptions are not compared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiplat.errors import ConfigError, Problem, UsageError
from aiplat.config import MILVUS_LITE_INDEX_TYPES, CollectionSpec, ScalarField

DEFAULT_PATH = "vector_store.collections"
MIGRATE = "create a new collection and migrate"


@dataclass
class CollectionPlan:
    """What apply does to one collection: ``create``, ``update`` (add its index) or ``unchanged``."""

    name: str
    path: str
    action: str
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "action": self.action,
            "steps": list(self.steps),
            "notes": list(self.notes),
            "applied": self.applied,
        }


@dataclass
class Plan:
    collections: list[CollectionPlan]
    conflicts: list[Problem]

    @property
    def safe(self) -> bool:
        return not self.conflicts

    @property
    def changes(self) -> int:
        return sum(1 for c in self.collections if c.action != "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "changes": self.changes,
            "collections": [c.to_dict() for c in self.collections],
            "conflicts": [{"path": p.path, "message": p.message} for p in self.conflicts],
        }


# -- pymilvus glue (imported lazily: `aiplat check` and the Pulumi program never need it) --


def _datatype(name: str):
    from pymilvus import DataType

    return DataType[name]


def _type_name(value: Any) -> str:
    """DataType name of a describe_collection ``type`` (an int or a DataType)."""
    from pymilvus import DataType

    try:
        return DataType(int(value)).name
    except (ValueError, TypeError):
        return str(value)


def is_milvus_lite(uri: str) -> bool:
    # pymilvus's own rule: a URI ending in .db is a local Milvus Lite database file.
    return uri.endswith(".db")


def build_schema(spec: CollectionSpec):
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=spec.auto_id, enable_dynamic_field=False, description=spec.description)
    pk = spec.primary_key
    pk_kwargs = {"max_length": pk.resolved_max_length} if pk.type == "VARCHAR" else {}
    schema.add_field(pk.name, _datatype(pk.type), is_primary=True, **pk_kwargs)
    schema.add_field(spec.vector_field, DataType.FLOAT_VECTOR, dim=spec.dimension)
    for f in spec.scalar_fields:
        kwargs: dict[str, Any] = {"nullable": f.nullable, "description": f.description}
        if f.resolved_max_length is not None:
            kwargs["max_length"] = f.resolved_max_length
        if f.type == "ARRAY":
            kwargs["element_type"] = _datatype(f.element_type)
            kwargs["max_capacity"] = f.max_capacity
        schema.add_field(f.name, _datatype(f.type), **kwargs)
    return schema


def build_index_params(client, spec: CollectionSpec):
    index_params = client.prepare_index_params()
    # Build parameters go nested under "params" (one JSON value, the form pymilvus's ORM
    # sends). Milvus servers accept it, and Milvus Lite reads *only* this form: given
    # flattened M=/efConstruction= it silently builds with its own defaults.
    index_params.add_index(
        field_name=spec.vector_field,
        index_type=spec.index.type,
        metric_type=spec.metric,
        params={"params": dict(spec.index.params)} if spec.index.params else {},
    )
    return index_params


def _index_params_reported(info: dict[str, Any]) -> dict[str, str]:
    """Build params as the server reports them: nested under "params" or flattened (values as strings)."""
    skip = {"index_type", "metric_type", "field_name", "index_name", "total_rows", "indexed_rows",
            "pending_index_rows", "state", "params", "search_params"}
    out = {k: str(v) for k, v in info.items() if k not in skip}
    nested = info.get("params")
    if isinstance(nested, dict):
        out.update({k: str(v) for k, v in nested.items()})
    return out


# -- planning ----------------------------------------------------------------------------


def plan(client, specs: list[CollectionSpec], *, path: str = DEFAULT_PATH, lite: bool = False) -> Plan:
    """Compare specs with the server; read-only. ``lite`` adds Milvus Lite's index limits."""
    existing = set(client.list_collections())
    collections: list[CollectionPlan] = []
    conflicts: list[Problem] = []
    for i, spec in enumerate(specs):
        p = f"{path}[{i}]"
        if lite and spec.index.type not in MILVUS_LITE_INDEX_TYPES:
            conflicts.append(Problem(
                f"{p}.index.type",
                f"Milvus Lite cannot build {spec.index.type} indexes (it builds "
                f"{', '.join(sorted(MILVUS_LITE_INDEX_TYPES))}); use one of those or a Milvus server",
            ))
        if spec.name not in existing:
            collections.append(CollectionPlan(
                spec.name, p, "create",
                steps=[
                    f"create collection {spec.name!r} ({spec.dimension}-d {spec.metric}, "
                    f"{2 + len(spec.scalar_fields)} fields)",
                    f"create {spec.index.type} index on {spec.vector_field!r}",
                ],
            ))
            continue
        cplan, problems = _plan_existing(client, spec, p)
        collections.append(cplan)
        conflicts.extend(problems)
    return Plan(collections, conflicts)


def _plan_existing(client, spec: CollectionSpec, p: str) -> tuple[CollectionPlan, list[Problem]]:
    name = spec.name
    desc = client.describe_collection(name)
    fields = {f["name"]: f for f in desc.get("fields", [])}
    problems: list[Problem] = []
    cplan = CollectionPlan(name, p, "unchanged")

    def refuse(key: str, message: str) -> None:
        problems.append(Problem(f"{p}.{key}", f"collection {name!r} {message}"))

    # Primary key and auto_id: every stored row is keyed by them.
    pk = next((f for f in fields.values() if f.get("is_primary")), None)
    if pk is not None:
        if pk["name"] != spec.primary_key.name:
            refuse("primary_key.name", f"exists with primary key {pk['name']!r}; changing it to "
                   f"{spec.primary_key.name!r} would drop its data — {MIGRATE}")
        else:
            have = _type_name(pk["type"])
            if have != spec.primary_key.type:
                refuse("primary_key.type", f"exists with a {have} primary key; changing it to "
                       f"{spec.primary_key.type} would drop its data — {MIGRATE}")
            elif have == "VARCHAR":
                _compare_length(refuse, "primary_key.max_length", pk, spec.primary_key.resolved_max_length, pk["name"])
    if bool(desc.get("auto_id")) != spec.auto_id:
        refuse("auto_id", f"exists with auto_id {str(bool(desc.get('auto_id'))).lower()}; changing it to "
               f"{str(spec.auto_id).lower()} changes who owns the keys of existing rows — {MIGRATE}")

    # Vector field: dimension is fixed for the life of a collection.
    vec = fields.get(spec.vector_field)
    vector_fields = [f["name"] for f in fields.values() if _type_name(f["type"]).endswith("_VECTOR")]
    if vec is None or _type_name(vec["type"]) != "FLOAT_VECTOR":
        refuse("vector_field", f"exists without a FLOAT_VECTOR field {spec.vector_field!r} "
               f"(its vector fields: {', '.join(vector_fields) or 'none'}) — {MIGRATE}")
    else:
        dim = int((vec.get("params") or {}).get("dim", 0))
        if dim != spec.dimension:
            refuse("dimension", f"exists with dimension {dim}; changing it to {spec.dimension} would drop "
                   f"its data — {MIGRATE}")

    # Scalar fields: present ones must match; missing ones are not added to a live
    # collection (Milvus can add only nullable fields, Milvus Lite none at all).
    known = {spec.primary_key.name, spec.vector_field}
    for j, sf in enumerate(spec.scalar_fields):
        known.add(sf.name)
        have = fields.get(sf.name)
        if have is None:
            refuse(f"scalar_fields[{j}]", f"exists without field {sf.name!r}; apply does not add fields to an "
                   f"existing collection — {MIGRATE}, or remove the field from the spec")
            continue
        _compare_scalar(refuse, f"scalar_fields[{j}]", have, sf)
    for extra in fields:
        if extra not in known:
            cplan.notes.append(f"field {extra!r} exists in the collection but not in the spec; kept (apply never drops fields)")

    # Index on the vector field: metric and type fixed once built; a missing one is added.
    if vec is not None:
        info = _vector_index(client, name, spec.vector_field)
        if info is None:
            cplan.action = "update"
            cplan.steps += [f"create {spec.index.type} index on {spec.vector_field!r}", f"load collection {name!r}"]
        else:
            if info.get("metric_type") != spec.metric:
                refuse("metric", f"exists with metric {info.get('metric_type')}; changing it to {spec.metric} "
                       f"would drop its index and change every stored score's meaning — {MIGRATE}")
            if info.get("index_type") != spec.index.type:
                refuse("index.type", f"indexes {spec.vector_field!r} with {info.get('index_type')}; changing it to "
                       f"{spec.index.type} is not done by apply (searches stop while a dropped index rebuilds) — "
                       "release the collection and drop the index deliberately, then re-run apply")
            else:
                reported = _index_params_reported(info)
                if not reported and spec.index.params:
                    cplan.notes.append("the server reports no index build parameters; they were not compared")
                for key, value in spec.index.params.items():
                    if key in reported and reported[key] != str(value):
                        refuse(f"index.params.{key}", f"indexes {spec.vector_field!r} with {spec.index.type} "
                               f"{key}={reported[key]}; changing it to {value} is not done by apply (it would "
                               "rebuild the index) — drop the index deliberately, then re-run apply")
    if problems:
        cplan.action = "conflict"
        cplan.steps = []
    return cplan, problems


def _compare_length(refuse, key: str, have: dict, want: int | None, fname: str) -> None:
    length = (have.get("params") or {}).get("max_length")
    if length is not None and want is not None and int(length) != want:
        loses = "truncate or reject" if want < int(length) else "require a schema migration for"
        refuse(key, f"has field {fname!r} with max_length {int(length)}; changing it to {want} would {loses} "
               f"stored values — {MIGRATE}")


def _compare_scalar(refuse, key: str, have: dict, sf: ScalarField) -> None:
    have_type = _type_name(have["type"])
    if have_type != sf.type:
        refuse(f"{key}.type", f"has field {sf.name!r} of type {have_type}; changing it to {sf.type} would drop its "
               f"values — {MIGRATE}")
        return
    if sf.type == "VARCHAR":
        _compare_length(refuse, f"{key}.max_length", have, sf.resolved_max_length, sf.name)
    if sf.type == "ARRAY":
        elem = have.get("element_type")
        if elem is not None and _type_name(elem) != sf.element_type:
            refuse(f"{key}.element_type", f"has ARRAY field {sf.name!r} of {_type_name(elem)}; changing it to "
                   f"{sf.element_type} would drop its values — {MIGRATE}")
        cap = (have.get("params") or {}).get("max_capacity")
        if cap is not None and int(cap) != sf.max_capacity:
            refuse(f"{key}.max_capacity", f"has ARRAY field {sf.name!r} with max_capacity {int(cap)}; changing it to "
                   f"{sf.max_capacity} is a schema migration apply does not make — {MIGRATE}")
    if bool(have.get("nullable", False)) != sf.nullable:
        refuse(f"{key}.nullable", f"has field {sf.name!r} with nullable {str(bool(have.get('nullable'))).lower()}; "
               f"apply does not alter existing fields — {MIGRATE}")


def _vector_index(client, collection: str, field_name: str) -> dict[str, Any] | None:
    for index_name in client.list_indexes(collection, field_name=field_name):
        info = client.describe_index(collection, index_name)
        if info and info.get("field_name") == field_name:
            return info
    return None


# -- applying ----------------------------------------------------------------------------


def execute(client, specs: list[CollectionSpec], the_plan: Plan) -> Plan:
    """Carry out a conflict-free plan (creates collections, adds missing indexes)."""
    if not the_plan.safe:
        raise ConfigError(the_plan.conflicts)
    by_name = {s.name: s for s in specs}
    for cplan in the_plan.collections:
        spec = by_name[cplan.name]
        if cplan.action == "create":
            # With index params, create_collection also builds the index and loads the collection.
            client.create_collection(spec.name, schema=build_schema(spec), index_params=build_index_params(client, spec))
        elif cplan.action == "update":
            client.create_index(spec.name, build_index_params(client, spec))
            client.load_collection(spec.name)
        else:
            continue
        cplan.applied = True
    return the_plan


def connect(uri: str, token: str | None = None, timeout: float = 10.0):
    """A MilvusClient, or UsageError naming the URI when it cannot connect."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    if is_milvus_lite(uri):
        from pathlib import Path

        if not Path(uri).parent.is_dir():
            raise UsageError(f"cannot open Milvus Lite database {uri}: directory {Path(uri).parent} does not exist")
    # Milvus Lite serves a database file to one process at a time (a file lock); its own
    # error says only "Open local milvus failed", so name the likely cause.
    hint = " (Milvus Lite opens a database file in one process at a time: is another program using it?)" if is_milvus_lite(uri) else ""
    try:
        return MilvusClient(uri=uri, token=token or "", timeout=timeout)
    except MilvusException as exc:
        raise UsageError(f"cannot connect to Milvus at {uri}: {exc.message}{hint}") from None
    except Exception as exc:  # grpc and socket errors surface with many types
        raise UsageError(f"cannot connect to Milvus at {uri}: {exc}{hint}") from None


def apply(uri: str, specs: list[CollectionSpec], token: str | None = None, *, dry_run: bool = False,
          path: str = DEFAULT_PATH, raise_on_conflict: bool = True) -> Plan:
    """Plan against the Milvus at ``uri``; if the plan is safe and not a dry run, carry it out.

    Raises ConfigError (every conflict, each with its key path) before any change; with
    ``raise_on_conflict=False`` returns the unsafe plan instead, still having changed nothing.
    A server that fails mid-way raises UsageError naming the URI.
    """
    from pymilvus.exceptions import MilvusException

    client = connect(uri, token)
    try:
        the_plan = plan(client, specs, path=path, lite=is_milvus_lite(uri))
        if not the_plan.safe:
            if raise_on_conflict:
                raise ConfigError(the_plan.conflicts)
            return the_plan
        if not dry_run:
            execute(client, specs, the_plan)
        return the_plan
    except MilvusException as exc:
        raise UsageError(f"Milvus at {uri} failed: {exc.message}") from None
    finally:
        client.close()


def quiet_pymilvus() -> None:
    """pymilvus and Milvus Lite log failures with tracebacks; the CLI reports errors itself."""
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
