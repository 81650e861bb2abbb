"""Vector collections: spec validation (pure) and `aiplat vectors apply` against a real Milvus Lite.

What Milvus Lite 3.2 really does, and so what these tests pin down:
- it builds FLAT, IVF_FLAT, IVF_SQ8, HNSW (faiss) and AUTOINDEX; other types are accepted
  at create time but their background build fails, so apply refuses them on a .db URI;
- it reads index build params only in the nested ``params`` form and reports them back
  nested, so index params are asserted exactly;
- it keeps no collection/field descriptions (not compared by apply, not asserted here).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aiplat import catalog
from aiplat.tools import vectors
from aiplat.config import PlatformConfig
from aiplat.errors import ConfigError
from aiplat.project import CONFIG_KEY, load_platform_config, platform_section
from tests._project import available_stacks, stack_file_path
from aiplat.config import CollectionSpec, IndexSpec, VectorStoreConfig

from .conftest import ROOT

DOCS = {
    "name": "docs",
    "dimension": 8,
    "metric": "COSINE",
    "primary_key": {"name": "chunk_id", "type": "VARCHAR", "max_length": 64},
    "index": {"type": "HNSW", "params": {"M": 16, "efConstruction": 200}},
    "scalar_fields": [
        {"name": "tenant", "type": "VARCHAR", "max_length": 64},
        {"name": "source", "type": "VARCHAR", "max_length": 512},
        {"name": "page", "type": "INT32", "nullable": True},
    ],
}


def spec(**overrides) -> CollectionSpec:
    return CollectionSpec.model_validate({**copy.deepcopy(DOCS), **overrides})


def raw_with_vector_store(vector_store: dict) -> dict:
    raw = copy.deepcopy(platform_section(stack_file_path("dev")))
    raw["vector_store"] = vector_store
    return raw


def config_problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    return [str(p) for p in exc.value.problems]


# -- config: pure --------------------------------------------------------------------------


def test_every_shipped_stack_keeps_its_vector_store_in_its_own_regions():
    for stack in available_stacks():
        cfg = load_platform_config(stack)
        if cfg.vector_store is None:
            continue
        stack_regions = [r.name for r in cfg.regions]
        regions = cfg.vector_store.resolved_regions(stack_regions)
        assert regions and set(regions) <= set(stack_regions), stack
        if cfg.residency != "global":
            assert all(catalog.in_residency_zone(cfg.residency, cfg.cloud, r) for r in regions), stack
    eu = load_platform_config("prod-eu")
    assert eu.vector_store.resolved_regions([r.name for r in eu.regions]) == ["eu-central-1", "eu-west-1"]


def test_mode_defaults_to_cluster_in_prod_and_standalone_elsewhere():
    assert load_platform_config("prod").vector_store.resolved_mode("prod") == "cluster"
    assert load_platform_config("dev").vector_store.resolved_mode("dev") == "standalone"
    assert VectorStoreConfig(mode="standalone").resolved_mode("prod") == "standalone"
    assert VectorStoreConfig(regions=["us-west-2"]).resolved_regions(["us-east-1", "us-west-2"]) == ["us-west-2"]


def test_defaults_are_documented_values():
    c = CollectionSpec(name="docs", dimension=768)
    assert (c.metric, c.vector_field, c.auto_id) == ("COSINE", "embedding", False)
    assert (c.primary_key.name, c.primary_key.type) == ("id", "INT64")
    assert (c.index.type, c.index.params) == ("HNSW", {"M": 16, "efConstruction": 200})
    store = VectorStoreConfig()
    assert (store.enabled, store.mode, store.regions, store.storage_gb, store.collections) == (True, None, None, 50, [])


def test_bad_vector_store_names_every_key_path_at_once():
    raw = raw_with_vector_store({
        "regions": ["us-east-1", "eu-west-1", "us-east-1"],
        "storage_gb": 5,
        "collections": [
            {**DOCS, "dimension": 40000, "metric": "DOT", "index": {"type": "HNSW", "params": {"M": 1, "ef": 64}}},
            {"name": "9lives", "dimension": 8, "tier": "gold"},
            {"name": "faq", "dimension": 10, "auto_id": True, "primary_key": {"type": "VARCHAR"},
             "index": {"type": "IVF_PQ", "params": {"nlist": 64, "m": 4}}},
            {"name": "tags", "dimension": 8, "scalar_fields": [
                {"name": "labels", "type": "ARRAY"},
                {"name": "n", "type": "INT64", "max_length": 8},
                {"name": "embedding", "type": "BOOL"}]},
        ],
    })
    raw["tags"]["owner"] = "Not A Label"
    assert config_problems(raw) == [
        "tags.owner: 'Not A Label' must be lowercase letters, digits, '-' or '_' (max 63), usable as a GCP label",
        "vector_store.collections[0].dimension: Input should be less than or equal to 32768",
        "vector_store.collections[0].index.params.M: 1 is outside 2..2048 for HNSW",
        "vector_store.collections[0].index.params.ef: not a parameter of HNSW (it takes: M, efConstruction)",
        "vector_store.collections[0].index.params.efConstruction: required for HNSW (1..2147483647)",
        "vector_store.collections[0].metric: 'DOT' is not one of 'COSINE', 'L2' or 'IP'",
        "vector_store.collections[1].name: '9lives' is not a valid Milvus collection name "
        "(a letter or '_', then letters, digits or '_')",
        "vector_store.collections[1].tier: unknown key (check the spelling; see PlatformConfig)",
        "vector_store.collections[2].auto_id: only valid with an INT64 primary key; Milvus generates integer keys",
        "vector_store.collections[2].index.params.m: 4 does not divide the dimension 10",
        "vector_store.collections[3].scalar_fields[0].element_type: required for ARRAY",
        "vector_store.collections[3].scalar_fields[0].max_capacity: required for ARRAY",
        "vector_store.collections[3].scalar_fields[1].max_length: only valid for VARCHAR (or ARRAY of VARCHAR), not INT64",
        "vector_store.collections[3].scalar_fields[2].name: 'embedding' is already used by vector_field",
        "vector_store.regions[1]: 'eu-west-1' is not a region of this stack (us-east-1); Milvus runs only next to a stack cluster",
        "vector_store.regions[2]: region 'us-east-1' is listed twice",
        "vector_store.storage_gb: Input should be greater than or equal to 10",
    ]


def test_region_outside_the_stack_and_duplicate_names_are_refused():
    # One pass: the duplicate collection does not hide the region problems (nor the reverse).
    raw = raw_with_vector_store({"regions": ["us-east-1", "eu-west-1", "us-east-1"],
                                 "collections": [DOCS, {**DOCS, "dimension": 16}]})
    assert config_problems(raw) == [
        "vector_store.collections[1].name: duplicate collection name 'docs' (first at collections[0])",
        "vector_store.regions[1]: 'eu-west-1' is not a region of this stack (us-east-1); Milvus runs only next to a stack cluster",
        "vector_store.regions[2]: region 'us-east-1' is listed twice",
    ]


def test_field_names_collide_with_key_and_vector_fields():
    with pytest.raises(ValidationError) as exc:
        spec(vector_field="chunk_id", scalar_fields=[{"name": "tenant", "type": "BOOL"}, {"name": "chunk_id", "type": "BOOL"}])
    assert [(e["loc"], e["msg"]) for e in exc.value.errors()] == [
        (("vector_field",), "'chunk_id' is also the primary key name"),
        (("scalar_fields", 1, "name"), "'chunk_id' is already used by primary_key.name"),
    ]


@pytest.mark.parametrize(
    ("index", "ok"),
    [
        ({"type": "FLAT", "params": {}}, True),
        ({"type": "AUTOINDEX", "params": {}}, True),
        ({"type": "IVF_FLAT", "params": {"nlist": 128}}, True),
        ({"type": "IVF_SQ8", "params": {"nlist": 65536}}, True),
        ({"type": "IVF_PQ", "params": {"nlist": 128, "m": 8, "nbits": 8}}, True),
        ({"type": "DISKANN", "params": {}}, True),
        ({"type": "FLAT"}, False),  # the HNSW default params do not fit FLAT: say so, don't drop them
        ({"type": "IVF_FLAT", "params": {}}, False),
        ({"type": "IVF_FLAT", "params": {"nlist": 0}}, False),
        ({"type": "HNSW", "params": {"M": 16}}, False),
        ({"type": "SCANN", "params": {}}, False),
    ],
)
def test_index_params_are_checked_per_type(index, ok):
    if ok:
        assert IndexSpec.model_validate(index).type == index["type"]
    else:
        with pytest.raises(ValidationError):
            IndexSpec.model_validate(index)


@settings(max_examples=60, deadline=None)
@given(dim=st.integers(min_value=-10, max_value=40000), m=st.integers(min_value=1, max_value=64))
def test_ivf_pq_m_must_divide_the_dimension(dim, m):
    data = {"name": "c", "dimension": dim, "index": {"type": "IVF_PQ", "params": {"nlist": 16, "m": m}}}
    valid = 1 <= dim <= 32768 and dim % m == 0
    if valid:
        assert CollectionSpec.model_validate(data).dimension == dim
    else:
        with pytest.raises(ValidationError):
            CollectionSpec.model_validate(data)


# -- Milvus Lite: real peer ------------------------------------------------------------------

pymilvus = pytest.importorskip("pymilvus")


def _require_lite():
    try:
        import milvus_lite  # noqa: F401
    except ImportError:
        pytest.skip("milvus-lite is not installed (make setup-test installs it)")


@pytest.fixture
def lite(tmp_path):
    _require_lite()
    uri = str(tmp_path / "m.db")
    client = pymilvus.MilvusClient(uri)
    yield uri, client
    client.close()


def rows(n: int, dim: int = 8, start: int = 0) -> list[dict]:
    return [
        {"chunk_id": f"c{i}", "embedding": [float(i + 1)] + [0.5] * (dim - 1), "tenant": "acme", "source": f"doc{i}.pdf",
         "page": i}
        for i in range(start, start + n)
    ]


def count(client, name: str) -> int:
    return client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]


class Recorder:
    """Passes every call to the real client and remembers the method names."""

    def __init__(self, client):
        self._client, self.calls = client, []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self._client, name)


READS = {"list_collections", "describe_collection", "list_indexes", "describe_index"}


@pytest.mark.peer
def test_apply_creates_the_collection_and_its_index(lite):
    uri, client = lite
    result = vectors.apply(uri, [spec()])
    assert [c.to_dict() for c in result.collections] == [{
        "name": "docs", "path": "vector_store.collections[0]", "action": "create",
        "steps": ["create collection 'docs' (8-d COSINE, 5 fields)", "create HNSW index on 'embedding'"],
        "notes": [], "applied": True,
    }]
    desc = client.describe_collection("docs")
    DT = pymilvus.DataType
    assert desc["auto_id"] is False
    assert [(f["name"], DT(f["type"]).name, f.get("params", {}), bool(f.get("is_primary")), bool(f.get("nullable")))
            for f in desc["fields"]] == [
        ("chunk_id", "VARCHAR", {"max_length": 64}, True, False),
        ("embedding", "FLOAT_VECTOR", {"dim": 8}, False, False),
        ("tenant", "VARCHAR", {"max_length": 64}, False, False),
        ("source", "VARCHAR", {"max_length": 512}, False, False),
        ("page", "INT32", {}, False, True),
    ]
    assert client.list_indexes("docs") == ["embedding"]
    index = client.describe_index("docs", "embedding")
    assert (index["index_type"], index["metric_type"], index["params"]) == ("HNSW", "COSINE", {"M": 16, "efConstruction": 200})
    # Loaded and searchable right away, with the configured metric.
    client.insert("docs", rows(3))
    hits = client.search("docs", [[3.0] + [0.5] * 7], limit=1, output_fields=["tenant"])
    assert hits[0][0]["entity"]["tenant"] == "acme"


@pytest.mark.peer
def test_second_apply_is_unchanged_and_only_reads(lite):
    uri, client = lite
    specs = [spec(), spec(name="faq", dimension=4, metric="IP", index={"type": "IVF_FLAT", "params": {"nlist": 16}},
                          primary_key={"name": "id"}, auto_id=True, scalar_fields=[])]
    vectors.apply(uri, specs)
    client.insert("docs", rows(5))
    recorder = Recorder(client)
    again = vectors.plan(recorder, specs)
    vectors.execute(recorder, specs, again)
    assert set(recorder.calls) <= READS
    assert [(c.name, c.action, c.steps, c.applied) for c in again.collections] == [
        ("docs", "unchanged", [], False), ("faq", "unchanged", [], False)]
    assert again.to_dict()["changes"] == 0
    # The public entry point agrees, and the rows inserted after the first apply survive.
    assert [c.action for c in vectors.apply(uri, specs).collections] == ["unchanged", "unchanged"]
    assert count(client, "docs") == 5
    faq = client.describe_index("faq", "embedding")
    assert (faq["index_type"], faq["metric_type"], faq["params"]) == ("IVF_FLAT", "IP", {"nlist": 16})


@pytest.mark.peer
def test_a_missing_index_is_added_to_an_existing_collection(lite):
    uri, client = lite
    s = spec()
    client.create_collection("docs", schema=vectors.build_schema(s))  # e.g. made by hand, never indexed
    schema = vectors.build_schema(s)
    schema.add_field("legacy", pymilvus.DataType.BOOL, nullable=True)
    client.create_collection("docs_v0", schema=schema)
    client.insert("docs", rows(4))
    result = vectors.apply(uri, [s, spec(name="docs_v0")])
    assert [(c.action, c.steps, c.notes) for c in result.collections] == [
        ("update", ["create HNSW index on 'embedding'", "load collection 'docs'"], []),
        ("update", ["create HNSW index on 'embedding'", "load collection 'docs_v0'"],
         ["field 'legacy' exists in the collection but not in the spec; kept (apply never drops fields)"]),
    ]
    assert client.describe_index("docs", "embedding")["index_type"] == "HNSW"
    assert count(client, "docs") == 4
    assert "legacy" in [f["name"] for f in client.describe_collection("docs_v0")["fields"]]


@pytest.mark.peer
def test_every_unsafe_change_is_refused_and_nothing_is_applied(lite):
    uri, client = lite
    vectors.apply(uri, [spec()])
    client.insert("docs", rows(3))
    changed = spec(
        dimension=16, metric="L2", primary_key={"name": "chunk_id", "type": "VARCHAR", "max_length": 128},
        index={"type": "HNSW", "params": {"M": 32, "efConstruction": 200}},
        scalar_fields=[{"name": "tenant", "type": "INT64"}, {"name": "source", "type": "VARCHAR", "max_length": 512},
                       {"name": "page", "type": "INT32"}, {"name": "lang", "type": "VARCHAR"}],
    )
    fresh = spec(name="fresh")  # additive, but must wait until the whole plan is safe
    with pytest.raises(ConfigError) as exc:
        vectors.apply(uri, [fresh, changed])
    p = "vector_store.collections[1]"
    migrate = "create a new collection and migrate"
    assert [str(x) for x in exc.value.problems] == [
        f"{p}.dimension: collection 'docs' exists with dimension 8; changing it to 16 would drop its data — {migrate}",
        f"{p}.index.params.M: collection 'docs' indexes 'embedding' with HNSW M=16; changing it to 32 is not done by "
        "apply (it would rebuild the index) — drop the index deliberately, then re-run apply",
        f"{p}.metric: collection 'docs' exists with metric COSINE; changing it to L2 would drop its index and change "
        f"every stored score's meaning — {migrate}",
        f"{p}.primary_key.max_length: collection 'docs' has field 'chunk_id' with max_length 64; changing it to 128 "
        f"would require a schema migration for stored values — {migrate}",
        f"{p}.scalar_fields[0].type: collection 'docs' has field 'tenant' of type VARCHAR; changing it to INT64 would "
        f"drop its values — {migrate}",
        f"{p}.scalar_fields[2].nullable: collection 'docs' has field 'page' with nullable true; apply does not alter "
        f"existing fields — {migrate}",
        f"{p}.scalar_fields[3]: collection 'docs' exists without field 'lang'; apply does not add fields to an "
        f"existing collection — {migrate}, or remove the field from the spec",
    ]
    assert client.list_collections() == ["docs"]
    assert count(client, "docs") == 3


@pytest.mark.peer
def test_milvus_lite_refuses_index_types_it_cannot_build(lite):
    uri, client = lite
    pq = spec(index={"type": "IVF_PQ", "params": {"nlist": 16, "m": 4}})
    with pytest.raises(ConfigError) as exc:
        vectors.apply(uri, [pq])
    assert [str(x) for x in exc.value.problems] == [
        "vector_store.collections[0].index.type: Milvus Lite cannot build IVF_PQ indexes (it builds AUTOINDEX, FLAT, "
        "HNSW, IVF_FLAT, IVF_SQ8); use one of those or a Milvus server"
    ]
    assert client.list_collections() == []


# -- the CLI, as a user runs it ------------------------------------------------------------


def aiplat(*args: str) -> subprocess.CompletedProcess:
    script = ROOT / ".venv" / "bin" / "aiplat"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "aiplat.cli"]
    env = {k: v for k, v in os.environ.items() if k != "MILVUS_TOKEN"}
    return subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def write_stack(path, collections: list[dict] | None):
    doc = yaml.safe_load(stack_file_path("dev").read_text())
    platform = doc["config"][CONFIG_KEY]
    if collections is None:
        platform.pop("vector_store", None)
    else:
        platform["vector_store"] = {"collections": collections}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def release(uri: str, client) -> None:
    """Close our client and stop this process's Milvus Lite server: Lite locks the database
    file to one process, and the CLI under test is another process."""
    from milvus_lite.server_manager import server_manager_instance

    client.close()
    server_manager_instance.release_server(uri)


@pytest.mark.peer
def test_cli_refuses_a_dimension_change_and_keeps_the_data(lite, tmp_path):
    uri, client = lite
    release(uri, client)
    stack = write_stack(tmp_path / "Pulumi.t.yaml", [DOCS])
    first = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", uri)
    assert (first.returncode, first.stdout, first.stderr) == (0, (
        "docs: created\n"
        "  - create collection 'docs' (8-d COSINE, 5 fields)\n"
        "  - create HNSW index on 'embedding'\n"), "")
    client = pymilvus.MilvusClient(uri)
    client.load_collection("docs")
    client.insert("docs", rows(6))
    release(uri, client)

    again = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", uri, "--json", "-")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["changes"], [c["action"] for c in report["collections"]]) == (0, ["unchanged"])

    write_stack(tmp_path / "Pulumi.t.yaml", [{**DOCS, "dimension": 1024}])
    report_path = tmp_path / "report.json"
    refused = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", uri, "--json", str(report_path))
    assert refused.returncode == 2
    assert (refused.stdout, refused.stderr) == ("docs: refused\n", (
        "nothing was changed: the plan has conflicts\n"
        f"aiplat vectors: invalid configuration in {stack} (1 problem):\n"
        "  vector_store.collections[0].dimension: collection 'docs' exists with dimension 8; changing it to 1024 "
        "would drop its data — create a new collection and migrate\n"))
    assert json.loads(report_path.read_text())["conflicts"] == [{
        "path": "vector_store.collections[0].dimension",
        "message": "collection 'docs' exists with dimension 8; changing it to 1024 would drop its data — "
                   "create a new collection and migrate"}]
    # The data is all still there, searchable, in the old shape. (Milvus Lite forgets load
    # state when its process exits; apply manages schema and indexes, not load state.)
    client = pymilvus.MilvusClient(uri)
    client.load_collection("docs")
    assert count(client, "docs") == 6
    assert client.describe_collection("docs")["fields"][1]["params"] == {"dim": 8}
    assert len(client.search("docs", [[1.0] + [0.5] * 7], limit=3)[0]) == 3
    client.close()


@pytest.mark.peer
def test_cli_dry_run_changes_nothing(lite, tmp_path):
    uri, client = lite
    release(uri, client)
    stack = write_stack(tmp_path / "Pulumi.t.yaml", [DOCS])
    out = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", uri, "--dry-run")
    assert (out.returncode, out.stdout.splitlines()[0], out.stderr) == (0, "docs: would create", "")
    client = pymilvus.MilvusClient(uri)
    assert client.list_collections() == []
    client.close()


@pytest.mark.peer
def test_cli_names_the_lock_when_another_process_holds_the_database(lite, tmp_path):
    uri, client = lite  # this process holds the Lite database
    stack = write_stack(tmp_path / "Pulumi.t.yaml", [DOCS])
    out = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", uri)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", (
        f"aiplat vectors: cannot connect to Milvus at {uri}: Open local milvus failed (Milvus Lite opens a "
        "database file in one process at a time: is another program using it?)\n"))


def test_cli_bad_config_and_missing_section_exit_2(tmp_path):
    stack = write_stack(tmp_path / "Pulumi.t.yaml", [{**DOCS, "dimension": 0, "index": {"type": "IVF_FLAT"}}])
    bad = aiplat("vectors", "apply", "t", "--stack-file", stack, "--uri", str(tmp_path / "m.db"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[1:] == [
        "  vector_store.collections[0].dimension: Input should be greater than or equal to 1",
        "  vector_store.collections[0].index.params.M: not a parameter of IVF_FLAT (it takes: nlist)",
        "  vector_store.collections[0].index.params.efConstruction: not a parameter of IVF_FLAT (it takes: nlist)",
        "  vector_store.collections[0].index.params.nlist: required for IVF_FLAT (1..65536)",
    ]
    none = write_stack(tmp_path / "Pulumi.n.yaml", None)
    empty = aiplat("vectors", "apply", "n", "--stack-file", none, "--uri", str(tmp_path / "m.db"))
    assert (empty.returncode, empty.stderr) == (
        2, f"aiplat vectors: stack 'n' has no vector_store.collections in {none}; nothing to apply\n")
    assert not (tmp_path / "m.db").exists()
