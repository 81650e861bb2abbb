"""Repository build/validate/digest (pure) and push to S3 (moto)."""

import hashlib
import shutil
from pathlib import Path

import pytest

from aiplat.cli import main
from aiplat.errors import ConfigError, UsageError
from aiplat.serving import repository as r

EXAMPLES = Path(__file__).resolve().parent.parent / "serving" / "examples" / "models"


@pytest.fixture
def repo(tmp_path) -> Path:
    out = tmp_path / "repo"
    assert r.build(EXAMPLES, out) == ["linear-classifier", "text-embedder"]
    return out


def test_build_lays_out_configs_and_versions(repo):
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "linear-classifier/1/model.py", "linear-classifier/config.pbtxt", "linear-classifier/configs/v1.pbtxt",
        "text-embedder/1/model.py", "text-embedder/2/model.py", "text-embedder/config.pbtxt",
        "text-embedder/configs/v1.pbtxt", "text-embedder/configs/v2.pbtxt"]
    infos = {i.name: i for i in r.validate(repo)}
    assert infos["text-embedder"].served == (1, 2)
    assert infos["linear-classifier"].served == (1,)


def test_each_version_gets_its_config_pinned_to_it(repo):
    """configs/v<N>.pbtxt = config.pbtxt with version_policy specific [N], nothing else changed
    (read back through Triton's own message); what the platform publishes as the version's config."""
    from aiplat.serving.modelspec import parse_pbtxt

    emb = repo / "text-embedder"
    full = parse_pbtxt((emb / "config.pbtxt").read_text())
    assert list(full.version_policy.specific.versions) == [1, 2]
    for v in (1, 2):
        pinned = parse_pbtxt((emb / "configs" / f"v{v}.pbtxt").read_text())
        assert list(pinned.version_policy.specific.versions) == [v]
        pinned.version_policy.CopyFrom(full.version_policy)
        assert pinned == full
    # a `latest` policy is pinned the same way
    lin = parse_pbtxt((repo / "linear-classifier" / "configs" / "v1.pbtxt").read_text())
    assert lin.version_policy.WhichOneof("policy_choice") == "specific"
    assert list(lin.version_policy.specific.versions) == [1]
    assert r.pinned_config_path(emb, 2) == emb / "configs" / "v2.pbtxt"


def test_validate_reports_all_problems_with_paths(repo):
    emb = repo / "text-embedder"
    (emb / "config.pbtxt").write_text(
        (emb / "config.pbtxt").read_text().replace('name: "text-embedder"', 'name: "embedder"')
        .replace("dims: 16", "dims: 0").replace("versions: 2", "versions: 7"))
    shutil.rmtree(repo / "linear-classifier" / "1")
    (repo / "empty-model").mkdir()
    with pytest.raises(ConfigError) as exc:
        r.validate(repo)
    got = {(p.path.replace(str(repo) + "/", ""), p.message) for p in exc.value.problems}
    assert got == {
        ("text-embedder/config.pbtxt:name", "'embedder' must equal the directory name 'text-embedder'"),
        ("text-embedder/config.pbtxt:output[0].dims[0]", "0 is not a valid dim (-1 or >= 1)"),
        ("text-embedder/7", "version 7 is named in version_policy.specific but absent"),
        ("linear-classifier", "no numeric version directory (e.g. 1/)"),
        ("empty-model", "no numeric version directory (e.g. 1/)"),
        ("empty-model/config.pbtxt", "missing"),
        # the pinned configs no longer follow the edited config / the removed version
        ("text-embedder/configs/v1.pbtxt", "is not config.pbtxt pinned to version 1 (stale after an edit?): "
                                           "rebuild the repository with `aiplat models build`"),
        ("text-embedder/configs/v2.pbtxt", "is not config.pbtxt pinned to version 2 (stale after an edit?): "
                                           "rebuild the repository with `aiplat models build`"),
        ("linear-classifier/configs/v1.pbtxt", "pins no version directory of 'linear-classifier' (versions: none)"),
    }


def test_validate_cli_exits_2_with_paths_and_no_traceback(repo, capsys):
    (repo / "text-embedder" / "2" / "model.py").unlink()
    assert main(["models", "validate", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration (1 problem)" in err
    assert "text-embedder/2/model.py: missing (the Python backend loads this file)" in err
    assert "Traceback" not in err


def test_build_rejects_spec_name_mismatch(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / "linear-classifier", src / "other-name")
    with pytest.raises(ConfigError, match="must equal the directory name 'other-name'"):
        r.build(src, tmp_path / "out")


def reference_digest(root: Path) -> str:
    """The documented algorithm, written out independently of the implementation."""
    files = sorted((p.relative_to(root).as_posix().encode(), p) for p in root.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    h = hashlib.sha256()
    for rel, p in files:
        data = p.read_bytes()
        h.update(rel + b"\0" + str(len(data)).encode() + b"\0" + data)
    return "sha256:" + h.hexdigest()


def test_digest_matches_documented_algorithm_and_ignores_bytecode(repo):
    v1 = repo / "text-embedder" / "1"
    (v1 / "assets").mkdir()
    (v1 / "assets" / "vocab.txt").write_bytes(b"a\nb\n")
    before = r.digest_version(repo, "text-embedder", 1)
    assert before == reference_digest(v1)
    assert len(before) == len("sha256:") + 64
    (v1 / "__pycache__").mkdir()
    (v1 / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert r.digest_version(repo, "text-embedder", 1) == before  # serving does not change it
    (v1 / "assets" / "vocab.txt").write_bytes(b"a\nc\n")
    assert r.digest_version(repo, "text-embedder", 1) != before


def test_digest_is_content_addressed_per_version(repo):
    d = r.digest_repository(repo)
    assert set(d) == {"linear-classifier", "text-embedder"}
    assert d["text-embedder"][1] != d["text-embedder"][2]
    # Same bytes under another version number -> same digest: approval follows content.
    shutil.copytree(repo / "text-embedder" / "1", repo / "text-embedder" / "3")
    assert r.digest_version(repo, "text-embedder", 3) == d["text-embedder"][1]


def test_digest_length_prefix_keeps_trees_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_bytes(b"12")
    (b / "x").write_bytes(b"1")
    (b / "y").write_bytes(b"2")
    assert r.digest_dir(a) != r.digest_dir(b)


def test_digest_cli_json(repo, capsys):
    assert main(["models", "digest", str(repo), "--model", "text-embedder", "--version", "2",
                 "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert '"2": "sha256:' in out
    assert main(["models", "digest", str(repo), "--version", "2"]) == 2


@pytest.mark.parametrize("uri", ["bucket/prefix", "s3://", "s3:///x", "gs://b/p"])
def test_bad_s3_uri_is_a_usage_error(uri):
    with pytest.raises(UsageError):
        r.parse_s3_uri(uri)


@pytest.fixture
def s3(monkeypatch):
    moto = pytest.importorskip("moto", reason="moto is not installed (make setup-test)")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="models")
        yield client


@pytest.mark.peer
def test_push_uploads_only_changed_files_and_verifies(repo, s3):
    first = r.push(repo, "s3://models/prod/repo", s3=s3)
    assert first.ok and not first.unchanged and not first.extra
    assert sorted(first.uploaded) == [
        "prod/repo/linear-classifier/1/model.py", "prod/repo/linear-classifier/config.pbtxt",
        "prod/repo/linear-classifier/configs/v1.pbtxt",
        "prod/repo/text-embedder/1/model.py", "prod/repo/text-embedder/2/model.py",
        "prod/repo/text-embedder/config.pbtxt", "prod/repo/text-embedder/configs/v1.pbtxt",
        "prod/repo/text-embedder/configs/v2.pbtxt"]
    head = s3.head_object(Bucket="models", Key="prod/repo/text-embedder/2/model.py")
    assert head["Metadata"]["sha256"] == hashlib.sha256(
        (repo / "text-embedder" / "2" / "model.py").read_bytes()).hexdigest()

    second = r.push(repo, "s3://models/prod/repo", s3=s3)
    assert second.uploaded == [] and len(second.unchanged) == 8 and second.ok

    (repo / "text-embedder" / "2" / "model.py").write_text("# changed\n")
    (repo / "text-embedder" / "1" / "__pycache__").mkdir()
    (repo / "text-embedder" / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"x")
    third = r.push(repo, "s3://models/prod/repo", s3=s3)
    assert third.uploaded == ["prod/repo/text-embedder/2/model.py"]
    body = s3.get_object(Bucket="models", Key="prod/repo/text-embedder/2/model.py")["Body"].read()
    assert body == b"# changed\n"


@pytest.mark.peer
def test_verify_detects_tampering_and_extra_objects(repo, s3):
    r.push(repo, "s3://models/p", s3=s3)
    # Someone overwrites an object behind our back, keeping the old metadata.
    key = "p/text-embedder/1/model.py"
    old = s3.head_object(Bucket="models", Key=key)["Metadata"]
    s3.put_object(Bucket="models", Key=key, Body=b"tampered", Metadata=old)
    s3.put_object(Bucket="models", Key="p/text-embedder/9/model.py", Body=b"stale")
    report = r.verify(repo, "s3://models/p", s3=s3)
    assert report.mismatched == [key] and report.extra == ["p/text-embedder/9/model.py"]
    assert not report.ok

    fixed = r.push(repo, "s3://models/p", s3=s3, delete_extra=True)
    assert fixed.uploaded == [key]  # the size differs, and re-upload rewrites the sha256
    assert fixed.ok and fixed.deleted == ["p/text-embedder/9/model.py"] and fixed.extra == []
    assert "Contents" not in s3.list_objects_v2(Bucket="models", Prefix="p/text-embedder/9/")


@pytest.mark.peer
def test_push_cli_missing_bucket_exits_1(repo, s3, capsys):
    assert main(["models", "push", str(repo), "s3://no-such-bucket/x"]) == 1
    assert "NoSuchBucket" in capsys.readouterr().err
