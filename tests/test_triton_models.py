"""The models arrive with the deploy: what the program publishes, that Triton loads it, and that
the digests in the stack file are the files' digests.

The graph tests read the recorded stacks (their ``serving.model_repository`` is build/models,
built from serving/examples/models by the session fixture, as ``make models`` does). The
central test builds the example repository itself with ``aiplat models build``, recomputes
every published version's digest from the bytes the objects in the graph hold, and checks
that those are exactly the served versions with exactly the digests the model-approval
policy sees (through ``aiplat.policies.offline.evaluate``); a tampered file is refused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiplat.policies import offline
from aiplat.project import load_platform_config, read_stack_config
from aiplat.serving.repository import digest_dir, digest_repository, digest_version
from aiplat.triton import load_version
from tests._project import policy_config_path, run_stack, stack_file_path
from tests.conftest import EXAMPLE_MODELS, EXAMPLE_REPOSITORY, ROOT, require_triton

T = "aiplat:triton:TritonEndpoint"
S3_OBJECT, GCS_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2", "gcp:storage/bucketObject:BucketObject"
DEPLOY, CM = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap"
PROD_REGIONS = ("us-east-1", "us-west-2", "us-east-2")


# -- helpers -----------------------------------------------------------------------------------
def children(rec, comp, type_):
    return [r for r in rec.of_type(type_) if r.parent == comp.urn]


def entries(reg) -> list[dict]:
    return json.loads(reg.inputs["metadata"]["annotations"]["aiplat.io/models"])


def object_key(reg) -> str:
    return reg.inputs["key"] if reg.type == S3_OBJECT else reg.inputs["name"]


def asset_bytes(reg, cwd: Path = ROOT) -> bytes:
    path = Path(reg.inputs["source"]["path"])
    return (path if path.is_absolute() else cwd / path).read_bytes()


def served_versions(cfg, region: str) -> set[tuple[str, str, int]]:
    """(endpoint, model, version) the config serves in a region: stable, and canaries with weight > 0."""
    out = set()
    for ep in cfg.serving.endpoints:
        if region in ep.resolved_regions([r.name for r in cfg.regions]):
            for m in ep.models:
                out |= {(ep.name, m.name, int(v)) for v in m.served_versions}
    return out


def materialize(objects, root: Path, cwd: Path = ROOT) -> Path:
    """The bucket as the objects would fill it: <root>/<key> holds each object's bytes."""
    for reg in objects:
        target = root / object_key(reg)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(asset_bytes(reg, cwd))
    return root


def stack_with(stack: str, **serving) -> dict:
    """A shipped stack's config with these ``serving`` keys changed."""
    cfg = copy.deepcopy(read_stack_config(stack_file_path(stack)))
    cfg["aiplat:platform"]["serving"].update(serving)
    return cfg


def catalog_of(digests: dict[tuple[str, str], str], path: Path) -> Path:
    """An approval catalog with exactly these digests, for every classification."""
    path.write_text(yaml.safe_dump({"source": "test", "date": "2026-12-01", "models": [
        {"name": m, "version": v, "digest": d, "classifications": ["public", "internal", "confidential", "restricted"],
         "approver": "test@example.com", "expires": "2099-12-31"} for (m, v), d in sorted(digests.items())]}))
    return path


def policy_config(stack: str, catalog: Path, tmp_path: Path) -> Path:
    doc = json.loads(policy_config_path(stack).read_text())
    doc["model-approval"] = {**doc.get("model-approval", {}), "catalogPath": str(catalog)}
    out = tmp_path / f"{stack}-policy.json"
    out.write_text(json.dumps(doc))
    return out


# -- the contract, end to end --------------------------------------------------------------------
def test_objects_hold_exactly_the_served_versions_with_the_digests_the_policy_sees(cli, tmp_path):
    built = tmp_path / "repo"
    result = cli("models", "build", str(EXAMPLE_MODELS), str(built))
    assert result.returncode == 0, result.stderr
    cfg = load_platform_config("prod")
    rec = run_stack("prod", stack_with("prod", model_repository=str(built)))
    objects = rec.of_type(S3_OBJECT)

    # Per endpoint and region: the bucket holds exactly the served versions' repositories.
    recomputed: dict[tuple[str, str], str] = {}
    for region in PROD_REGIONS:
        published = set()
        for comp in (c for c in rec.of_type(T) if c.name.startswith(f"prod-{region}-")):
            endpoint = comp.name.removeprefix(f"prod-{region}-")
            bucket = f"acme-aiplat-prod-{region}-{endpoint}"
            objs = children(rec, comp, S3_OBJECT)
            assert {o.inputs["bucket"] for o in objs} == {bucket}
            store = materialize(objs, tmp_path / "buckets" / bucket)
            for o in objs:  # every object: its bytes are its asset, its metadata says which
                data = asset_bytes(o)
                assert o.inputs["source"]["hash"] == hashlib.sha256(data).hexdigest() == o.inputs["metadata"]["sha256"]
            versions = {(e["name"], int(e["version"])) for d in children(rec, comp, DEPLOY) for e in entries(d)}
            for model, version in versions:
                prefix = store / model / f"v{version}"
                # exactly what Triton needs: the pinned config and the version directory, nothing else
                assert sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()) == sorted(
                    [f"{model}/config.pbtxt"] + [f"{model}/{version}/{p.relative_to(built / model / str(version)).as_posix()}"
                                                 for p in (built / model / str(version)).rglob("*") if p.is_file()])
                assert (prefix / model / "config.pbtxt").read_bytes() == (
                    built / model / "configs" / f"v{version}.pbtxt").read_bytes()
                digest = digest_dir(prefix / model / str(version))  # from the bytes the objects hold
                recomputed.setdefault((model, str(version)), digest)
                assert recomputed[(model, str(version))] == digest
                for o in objs:
                    if object_key(o).startswith(f"{model}/v{version}/"):
                        assert o.inputs["metadata"]["aiplat-digest"] == digest
                        assert o.inputs["metadata"]["aiplat-version"] == str(version)
            keys_by_version = {tuple(object_key(o).split("/")[:2]) for o in objs}
            assert keys_by_version == {(m, f"v{v}") for m, v in versions}  # no object outside a served version
            published |= {(endpoint, m, v) for m, v in versions}
        assert published == served_versions(cfg, region)

    # The digests every Deployment and ConfigMap declares are the ones recomputed from the objects...
    declared = {(e["name"], e["version"]): e["digest"] for r in rec.of_type(DEPLOY) + rec.of_type(CM)
                if r.parent in {c.urn for c in rec.of_type(T)}
                and (r.type == DEPLOY or "aiplat-models.json" in r.inputs["data"])  # not the TLS proxy's ConfigMap
                for e in (entries(r) if r.type == DEPLOY else json.loads(r.inputs["data"]["aiplat-models.json"]))}
    assert declared == recomputed
    assert set(recomputed) == {("text-embedder", "1"), ("text-embedder", "2"), ("linear-classifier", "1")}
    # ...and the policy judges exactly those: a catalog of the recomputed digests passes every
    # declaration (annotations, ConfigMaps, objects), and one wrong digest is refused wherever it is seen.
    steps = rec.steps()
    good = offline.evaluate(steps, "prod", policy_config("prod", catalog_of(recomputed, tmp_path / "ok.yaml"),
                                                          tmp_path))
    assert good.by_policy("model-approval") == []
    off = {**recomputed, ("text-embedder", "2"): "sha256:" + "e" * 64}
    bad = offline.evaluate(steps, "prod", policy_config("prod", catalog_of(off, tmp_path / "off.yaml"), tmp_path))
    seen = {(v.type, v.name) for v in bad.by_policy("model-approval")}
    canary_objects = {(S3_OBJECT, o.name) for o in objects if object_key(o).startswith("text-embedder/v2/")}
    assert len(canary_objects) == 2 * 3  # config.pbtxt + model.py, in each region
    assert seen == canary_objects | {(DEPLOY, f"prod-{r}-embed-canary") for r in PROD_REGIONS} | {
        (CM, f"prod-{r}-embed-models") for r in PROD_REGIONS}
    assert all(f"digest {recomputed[('text-embedder', '2')][:19]}" in v.message for v in bad.by_policy("model-approval"))


def test_a_tampered_file_is_refused_naming_both_digests(cli, tmp_path):
    built = tmp_path / "repo"
    assert cli("models", "build", str(EXAMPLE_MODELS), str(built)).returncode == 0
    cfg = load_platform_config("prod")
    stated = cfg.serving.endpoints[0].models[0].canary.digest
    model_py = built / "text-embedder" / "2" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# tampered\n")
    actual = digest_version(built, "text-embedder", 2)
    doc = yaml.safe_load(stack_file_path("prod").read_text())
    doc["config"]["aiplat:platform"]["serving"]["model_repository"] = str(built)
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    result = cli("check", "prod", "--stack-file", str(stack_file))
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"aiplat check: invalid configuration in {stack_file} (1 problem):",
        f"  serving.endpoints[0].models[0].canary.digest: {stated} does not match the files of {built}/text-embedder/2, "
        f"which digest to {actual}: set serving.endpoints[0].models[0].canary.digest to {actual} (and have that "
        "artifact approved), or restore the files"]


# -- graph: the objects, on AWS and GCP ------------------------------------------------------------
@pytest.mark.parametrize("region", PROD_REGIONS)
def test_aws_objects_are_encrypted_hashed_and_awaited_by_the_deployments(record, region):
    rec = record("prod")
    comp = next(c for c in rec.of_type(T) if c.name == f"prod-{region}-embed")
    objs = {object_key(o): o for o in children(rec, comp, S3_OBJECT)}
    assert sorted(objs) == ["text-embedder/v1/text-embedder/1/model.py", "text-embedder/v1/text-embedder/config.pbtxt",
                            "text-embedder/v2/text-embedder/2/model.py", "text-embedder/v2/text-embedder/config.pbtxt"]
    key = next(r for r in children(rec, comp, "aws:kms/key:Key"))
    bucket = next(r for r in children(rec, comp, "aws:s3/bucket:Bucket"))
    settings = {r.urn for t in ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                                "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                                "aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketPolicy:BucketPolicy")
                for r in children(rec, comp, t)}
    assert len(settings) == 5
    for k, o in objs.items():
        version = int(k.split("/")[1][1:])
        local = (EXAMPLE_REPOSITORY / "text-embedder" / "configs" / f"v{version}.pbtxt" if k.endswith("config.pbtxt")
                 else EXAMPLE_REPOSITORY / "text-embedder" / str(version) / "model.py")
        i = o.inputs
        # the bytes: a file asset of the repository (relative to the project, as Pulumi resolves it),
        # hashed by the engine; a changed file is a changed hash, so a diff in `pulumi preview`
        assert i["source"]["path"] == local.relative_to(ROOT).as_posix()
        assert i["source"]["hash"] == hashlib.sha256(local.read_bytes()).hexdigest()
        assert i["metadata"] == {"sha256": i["source"]["hash"], "aiplat-model": "text-embedder",
                                 "aiplat-version": str(version),
                                 "aiplat-digest": digest_version(EXAMPLE_REPOSITORY, "text-embedder", version)}
        # encrypted under the bucket's own key, with S3 Bucket Keys, like the bucket's default
        assert (i["serverSideEncryption"], i["bucketKeyEnabled"]) == ("aws:kms", True)
        assert i["kmsKeyId"].startswith(f"arn:aws:kms:{region}:") and o.property_dependencies["kmsKeyId"] == [key.urn]
        assert i["bucket"] == f"acme-aiplat-prod-{region}-embed" and o.property_dependencies["bucket"] == [bucket.urn]
        assert settings <= set(o.dependencies)  # written once encryption, access block, policy are in place
        assert {"owner", "team", "cost-center"} <= set(i["tags"]) and len(i["tags"]) <= 10
        assert not o.protect  # versions come and go; the bucket (protected, versioned) keeps history
    # each Deployment waits for exactly the objects of the versions it loads
    for track, version in (("stable", 1), ("canary", 2)):
        dep = next(d for d in children(rec, comp, DEPLOY) if d.name.endswith(f"-{track}"))
        waits = {u for u in dep.dependencies if "bucketObjectv2" in u}
        assert waits == {o.urn for k, o in objs.items() if k.startswith(f"text-embedder/v{version}/")}
        args = dep.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--model-repository=s3://acme-aiplat-prod-{region}-embed/text-embedder/v{version}" in args
        [entry] = entries(dep)
        assert entry["config"] == "sha256:" + objs[f"text-embedder/v{version}/text-embedder/config.pbtxt"].inputs[
            "source"]["hash"]


def test_gcp_objects_are_cmek_encrypted_hashed_and_awaited(record):
    rec = record("gcp-prod")
    for region in ("us-central1", "us-east4"):
        comp = next(c for c in rec.of_type(T) if c.name == f"gcp-prod-{region}-embed")
        objs = {object_key(o): o for o in children(rec, comp, GCS_OBJECT)}
        assert sorted(objs) == ["text-embedder/v1/text-embedder/1/model.py",
                                "text-embedder/v1/text-embedder/config.pbtxt"]
        key = next(r for r in children(rec, comp, "gcp:kms/cryptoKey:CryptoKey"))
        bucket = next(r for r in children(rec, comp, "gcp:storage/bucket:Bucket"))
        for k, o in objs.items():
            i = o.inputs
            local = ROOT / i["source"]["path"]
            assert local.is_relative_to(EXAMPLE_REPOSITORY)
            assert i["source"]["hash"] == hashlib.sha256(local.read_bytes()).hexdigest() == i["metadata"]["sha256"]
            assert i["metadata"]["aiplat-digest"] == digest_version(EXAMPLE_REPOSITORY, "text-embedder", 1)
            assert i["bucket"] == bucket.inputs["name"] and o.property_dependencies["bucket"] == [bucket.urn]
            # the bucket's CMEK key, named on the object
            assert o.property_dependencies["kmsKeyName"] == [key.urn]
            assert i["kmsKeyName"] == bucket.inputs["encryption"]["defaultKmsKeyName"]
        dep = next(d for d in children(rec, comp, DEPLOY) if d.name.endswith("-stable"))
        assert {u for u in dep.dependencies if "bucketObject:" in u} == {o.urn for o in objs.values()}


def test_every_triton_deployment_of_every_stack_waits_for_its_model_objects(record, stacks):
    """What the deploy analysis checks on any graph: a Deployment running tritonserver depends on the
    objects under each --model-repository prefix it names (and there are some)."""
    for stack in stacks:
        rec = record(stack)
        urns = rec.by_urn()
        for dep in rec.of_type(DEPLOY):
            container = dep.inputs["spec"]["template"]["spec"]["containers"][0]
            if container.get("command") != ["tritonserver"]:
                continue
            for arg in container["args"]:
                if not arg.startswith("--model-repository="):
                    continue
                bucket, _, prefix = arg.split("://", 1)[1].partition("/")
                waited = [urns[u] for u in dep.dependencies if urns[u].type in (S3_OBJECT, GCS_OBJECT)]
                under = [o for o in waited if object_key(o).startswith(prefix + "/")
                         and o.inputs["bucket"] == bucket]
                assert {object_key(o).removeprefix(prefix + "/").split("/", 1)[1] for o in under} >= {"config.pbtxt"}, \
                    (stack, dep.name, arg)


# -- Triton loads what is published ----------------------------------------------------------------
@pytest.mark.peer
def test_triton_started_with_the_deployment_args_loads_exactly_its_published_version(record, tmp_path):
    """The staging canary Deployment's own args, its s3:// prefixes swapped for the objects of the graph
    laid out on disk: the real tritonserver serves version 2 of text-embedder and nothing else."""
    require_triton()
    from aiplat.serving.smoke import smoke
    from aiplat.serving.triton_local import TritonServer

    rec = record("staging")
    comp = next(c for c in rec.of_type(T) if c.name == "staging-us-east-1-embed")
    bucket = materialize(children(rec, comp, S3_OBJECT), tmp_path / "bucket")
    dep = next(d for d in children(rec, comp, DEPLOY) if d.name.endswith("-canary"))
    args = dep.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    repos = [a.split("=", 1)[1] for a in args if a.startswith("--model-repository=")]
    assert repos == ["s3://acme-aiplat-staging-us-east-1-embed/text-embedder/v2"]
    local = bucket / "text-embedder" / "v2"
    # ports and addresses are the local server's; everything else is what the pod runs
    passed = [a for a in args if not a.startswith(("--model-repository=", "--http-port=", "--grpc-port=",
                                                   "--metrics-port="))]
    with TritonServer(local, extra_args=passed, ready_timeout=120) as server:
        import urllib.request

        index = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://{server.http_url}/v2/repository/index", data=b"{}", method="POST"), timeout=10).read())
        assert index == [{"name": "text-embedder", "version": "2", "state": "READY"}]
        assert smoke(server.http_url, "text-embedder", "2").ok
        assert not smoke(server.http_url, "text-embedder", "1").ok
        # the pinned config: no error about a version it does not have (the multi-version one logs one)
        assert "is specified for model" not in server.log_text()


# -- a changed file is a diff ------------------------------------------------------------------------
def test_a_changed_file_changes_exactly_its_objects_and_the_rollout(tmp_path):
    """Edit a model file and state its new digest: the file's object gets a new asset hash (a diff in
    `pulumi preview`), the version's other object its new digest in metadata, its Deployment and the
    ConfigMap a new model list (a rollout); nothing else changes."""
    from aiplat.serving.repository import build

    built = tmp_path / "repo"
    build(EXAMPLE_MODELS, built)

    def graph():
        cfg = stack_with("dev", model_repository=str(built))
        cfg["aiplat:platform"]["serving"]["endpoints"][0]["models"][0]["digest"] = digest_version(
            built, "text-embedder", 1)
        return {s["urn"]: s["newState"]["inputs"] for s in run_stack("dev", cfg).steps()}

    before = graph()
    (built / "text-embedder" / "1" / "model.py").write_text("# a new build of version 1\n")
    after = graph()
    changed = sorted(u.split("::", 2)[2] for u in before if before[u] != after[u])
    assert changed == [
        "aiplat:platform:AiPlatform$aiplat:triton:TritonEndpoint$aws:s3/bucketObjectv2:BucketObjectv2::"
        "dev-us-east-1-embed-text-embedder/v1/text-embedder/1/model.py",
        "aiplat:platform:AiPlatform$aiplat:triton:TritonEndpoint$aws:s3/bucketObjectv2:BucketObjectv2::"
        "dev-us-east-1-embed-text-embedder/v1/text-embedder/config.pbtxt",
        "aiplat:platform:AiPlatform$aiplat:triton:TritonEndpoint$kubernetes:apps/v1:Deployment::"
        "dev-us-east-1-embed-stable",
        "aiplat:platform:AiPlatform$aiplat:triton:TritonEndpoint$kubernetes:core/v1:ConfigMap::"
        "dev-us-east-1-embed-models"]
    model, config = (next(u for u in after if u.endswith(f)) for f in ("1/model.py", "text-embedder/config.pbtxt"))
    assert after[model]["source"]["hash"] == hashlib.sha256(b"# a new build of version 1\n").hexdigest()
    assert after[config]["source"] == before[config]["source"]  # same bytes: only its metadata moved
    assert after[config]["metadata"]["aiplat-digest"] == digest_version(built, "text-embedder", 1)


# -- configuration errors: key paths, exit 2, no traceback -------------------------------------------
def _stack(tmp_path, mutate, stack="prod") -> Path:
    doc = yaml.safe_load(stack_file_path(stack).read_text())
    mutate(doc["config"]["aiplat:platform"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_source_problems_are_config_errors_with_key_paths_all_at_once(cli, tmp_path):
    built = tmp_path / "repo"
    assert cli("models", "build", str(EXAMPLE_MODELS), str(built)).returncode == 0
    (built / "text-embedder" / "configs" / "v2.pbtxt").unlink()  # not what `aiplat models build` writes

    def mutate(p):
        p["serving"]["model_repository"] = str(built)
        embed, classify = p["serving"]["endpoints"]
        embed["models"][0]["digest"] = "sha256:" + "0" * 64
        classify["models"][0]["version"] = 7
        classify["models"].append({"name": "ranker", "version": 1, "digest": "sha256:" + "1" * 64})
    result = cli("check", "prod", "--stack-file", str(_stack(tmp_path, mutate)))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].endswith("(4 problems):")
    actual = digest_version(built, "text-embedder", 1)
    assert lines[1:] == [
        f"  serving.endpoints[0].models[0].canary.version: {built}/text-embedder/configs/v2.pbtxt is missing: {built} "
        "was not built by `aiplat models build` (the pinned config Triton loads from the version's own repository); "
        "rebuild it",
        f"  serving.endpoints[0].models[0].digest: sha256:{'0' * 64} does not match the files of {built}/text-embedder/1, "
        f"which digest to {actual}: set serving.endpoints[0].models[0].digest to {actual} (and have that artifact "
        "approved), or restore the files",
        f"  serving.endpoints[1].models[0].version: no version directory {built}/linear-classifier/7 (versions of "
        "linear-classifier there: 1)",
        f"  serving.endpoints[1].models[1].name: no model 'ranker' in {built} (models there: linear-classifier, "
        "text-embedder)",
    ]


def test_a_missing_repository_says_how_to_build_it(cli, tmp_path):
    path = _stack(tmp_path, lambda p: p["serving"].update(model_repository="build/nowhere"), "dev")
    result = cli("check", "dev", "--stack-file", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[1:] == [
        f"  serving.model_repository: build/nowhere: no such directory (the program's working directory is {ROOT}); "
        "build it with `aiplat models build <sources> build/nowhere`"]


@pytest.mark.parametrize("change, path, message", [
    ({"model_repository": None}, "serving.model_repository",
     "required with endpoints: the directory `aiplat models build` wrote (published with the deploy), or an existing "
     "object-store prefix; without it Triton starts on an empty bucket"),
    ({"model_repository": "s3://acme-models/releases"}, "serving.model_repository",
     "s3://acme-models/releases is an existing object-store prefix: nothing is published and the program cannot "
     "read its objects at preview, so the digests of serving.endpoints[*].models[*] would deploy unverified; publish "
     "from a local directory built by `aiplat models build`, or set serving.accept_unverified_digests: true to "
     "accept that"),
    ({"model_repository": "gs://acme-models/releases", "accept_unverified_digests": True}, "serving.model_repository",
     "'gs://acme-models/releases': on AWS the models come from s3:// prefixes, not gs://"),
    ({"model_repository": "ftp://acme/models"}, "serving.model_repository",
     "'ftp://acme/models' is neither a local directory nor an s3:// or gs:// prefix"),
    ({"model_repository": "build/{region}"}, "serving.model_repository",
     "'build/{region}': {region} is only replaced in an object-store prefix"),
    ({"accept_unverified_digests": True}, "serving.accept_unverified_digests",
     "only applies to an object-store model_repository; the digests of the local directory build/models are always "
     "verified against its files"),
])
def test_model_repository_contract(change, path, message):
    raw = prod_platform()
    raw["serving"].update(change)
    raw["serving"] = {k: v for k, v in raw["serving"].items() if v is not None}
    assert config_problems(raw) == [(path, message)]


def prod_platform() -> dict:
    return copy.deepcopy(read_stack_config(stack_file_path("prod"))["aiplat:platform"])


def config_problems(raw: dict) -> list[tuple[str, str]]:
    """(path, message) of every problem the stack contract finds; [] when it validates."""
    from aiplat.config import PlatformConfig
    from aiplat.errors import ConfigError

    try:
        PlatformConfig.from_raw(raw)
    except ConfigError as exc:
        return [(p.path, p.message) for p in exc.problems]
    return []


# -- an existing object-store prefix: nothing published, read where it is ----------------------------
def test_an_existing_prefix_is_read_in_place_per_region_with_read_only_grants():
    rec = run_stack("prod", stack_with("prod", model_repository="s3://acme-models-{region}/releases/",
                                       accept_unverified_digests=True))
    assert rec.of_type(S3_OBJECT) == []
    comp = next(c for c in rec.of_type(T) if c.name == "prod-us-west-2-embed")
    stable = next(d for d in children(rec, comp, DEPLOY) if d.name.endswith("-stable"))
    assert "--model-repository=s3://acme-models-us-west-2/releases/text-embedder/v1" in \
        stable.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [set(e) for e in entries(stable)] == [{"name", "version", "digest", "track", "weight", "repository"}]
    policy = json.loads(next(r for r in children(rec, comp, "aws:iam/rolePolicy:RolePolicy")).inputs["policy"])
    assert policy["Statement"][3:] == [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": "arn:aws:s3:::acme-models-us-west-2",
         "Condition": {"StringLike": {"s3:prefix": ["releases/*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": "arn:aws:s3:::acme-models-us-west-2/releases/*"}]

    grec = run_stack("gcp-prod", stack_with("gcp-prod", model_repository="gs://acme-models-{region}",
                                            accept_unverified_digests=True))
    assert grec.of_type(GCS_OBJECT) == []
    comp = next(c for c in grec.of_type(T) if c.name == "gcp-prod-us-east4-embed")
    grant = next(r for r in children(grec, comp, "gcp:storage/bucketIAMMember:BucketIAMMember")
                 if r.name.endswith("-read-source"))
    assert (grant.inputs["bucket"], grant.inputs["role"]) == ("acme-models-us-east4", "roles/storage.objectViewer")
    dep = next(d for d in children(grec, comp, DEPLOY) if d.name.endswith("-stable"))
    assert grant.urn in dep.dependencies
    assert "--model-repository=gs://acme-models-us-east4/text-embedder/v1" in \
        dep.inputs["spec"]["template"]["spec"]["containers"][0]["args"]


# -- the library reads repositories without Triton's client ---------------------------------------------
def test_digests_and_publishing_need_no_tritonclient():
    """The program imports aiplat.triton and aiplat.serving.repository in a plain component user's
    environment (no [serving] extra): digests and artifacts work with tritonclient unimportable."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tritonclient', 'numpy'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import aiplat.triton, aiplat.serving.repository as r, aiplat.platform\n"
        f"art = aiplat.triton.load_version({str(EXAMPLE_REPOSITORY)!r}, 'text-embedder', 2)\n"
        f"assert art.digest == r.digest_version({str(EXAMPLE_REPOSITORY)!r}, 'text-embedder', 2)\n"
        "print(art.digest, sorted(m for m in sys.modules if m.startswith(('tritonclient', 'numpy'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [digest_version(EXAMPLE_REPOSITORY, "text-embedder", 2), "[]"]


def test_artifacts_list_the_pinned_config_then_the_version_files():
    art = load_version(str(EXAMPLE_REPOSITORY), "text-embedder", 2)
    base = EXAMPLE_REPOSITORY / "text-embedder"
    assert [(f.key, f.source) for f in art.files] == [
        ("text-embedder/v2/text-embedder/config.pbtxt", str(base / "configs" / "v2.pbtxt")),
        ("text-embedder/v2/text-embedder/2/model.py", str(base / "2" / "model.py"))]
    assert art.config_digest == "sha256:" + hashlib.sha256((base / "configs" / "v2.pbtxt").read_bytes()).hexdigest()
    assert [f.sha256 for f in art.files] == [hashlib.sha256(Path(f.source).read_bytes()).hexdigest() for f in art.files]
    assert art.prefix == "text-embedder/v2" and art.digest == digest_version(EXAMPLE_REPOSITORY, "text-embedder", 2)


# -- the shipped approvals are the shipped files -------------------------------------------------------
def test_the_approved_catalog_holds_the_digests_of_the_example_models():
    from aiplat.policies.model_approval import load_catalog

    catalog = load_catalog(offline.POLICIES_DIR / "approved_models.yaml")
    built = {(m, str(v)): d for m, vs in digest_repository(EXAMPLE_REPOSITORY).items() for v, d in vs.items()}
    assert {(e.name, e.version): e.digest for e in catalog.models} == built


def test_too_many_tags_for_a_published_s3_object_is_a_config_error():
    raw = prod_platform()
    raw["tags"]["extra"] = {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert config_problems(raw) == [
        ("tags.extra", "the stack has 11 tags; S3 keeps at most 10 per object and every published model file "
                       "carries them: drop 1 of tags.extra")]
    # an existing prefix publishes nothing (and GCS objects carry no labels)
    raw["serving"].update(model_repository="s3://acme-models/releases", accept_unverified_digests=True)
    assert config_problems(raw) == []


def test_under_pulumi_the_program_reports_model_file_problems_as_a_run_error(tmp_path):
    """Under ``pulumi up`` the language host prints a ``RunError`` as its message alone (no
    traceback): the shipped program turns the library's ConfigError into one, problems kept."""
    import runpy

    import pulumi

    from aiplat.errors import ConfigError
    from aiplat.testing.engine import run_program

    config = read_stack_config(stack_file_path("dev"))
    config["aiplat:platform"]["serving"]["model_repository"] = str(tmp_path / "absent")
    with pytest.raises(pulumi.RunError) as err:
        run_program(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"), "dev", config)
    assert isinstance(err.value.__cause__, ConfigError)
    assert str(err.value) == str(err.value.__cause__)
    assert str(err.value).splitlines()[0] == "invalid configuration (1 problem):"
    assert str(err.value).splitlines()[1].startswith("  serving.model_repository: ")
