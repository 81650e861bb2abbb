"""The recording engine itself: what it records, error propagation, isolation between runs."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from aiplat.testing import engine


def test_records_parent_provider_protect_and_inputs():
    def program():
        provider = aws.Provider("eu", region="eu-west-1")
        parent = pulumi.ComponentResource("test:index:Box", "box")
        aws.s3.Bucket("logs", bucket="acme-logs", tags={"team": "x"},
                      opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=True))

    rec = engine.run_program(program, "t", {})
    bucket = rec.of_type("aws:s3/bucket:Bucket")[0]
    box = rec.of_type("test:index:Box")[0]
    assert bucket.parent == box.urn and bucket.protect and bucket.custom
    assert bucket.inputs == {"bucket": "acme-logs", "tags": {"team": "x"}}
    assert rec.region_of(bucket) == "eu-west-1"
    assert bucket.urn == "urn:pulumi:t::aiplat::test:index:Box$aws:s3/bucket:Bucket::logs"


def test_a_failing_program_raises_after_settling_and_the_next_run_is_clean():
    def failing():
        aws.s3.Bucket("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        engine.run_program(failing, "t", {})
    rec = engine.run_program(lambda: aws.s3.Bucket("whole"), "t", {})
    # the bucket names no provider: the engine's default aws provider is recorded with it
    assert [r.name for r in rec.resources] == ["aiplat-t", "default", "whole"]


def test_unknown_invokes_are_errors_not_empty_answers():
    with pytest.raises(NotImplementedError, match="aws:ec2/getAmi:getAmi"):
        engine.run_program(lambda: aws.ec2.get_ami(most_recent=True, owners=["amazon"]), "t", {})


def test_secret_config_is_recorded_redacted():
    def program():
        value = pulumi.Config("aiplat").require_secret("token")
        aws.ssm.Parameter("p", type="SecureString", value=value)

    rec = engine.run_program(program, "t", {"aiplat:token": "s3cr3t"}, secret_keys=["aiplat:token"])
    param = rec.of_type("aws:ssm/parameter:Parameter")[0]
    assert param.inputs["value"] == engine.SECRET
    assert "s3cr3t" not in str(rec.steps())


def test_file_assets_are_hashed_like_the_engine_against_the_programs_working_directory(tmp_path):
    """pulumi/pkg/resource/deploy/source_eval.go RegisterResource unmarshals inputs with
    ComputeAssetHashes and WorkingDirectory = the program's pwd: a relative FileAsset resolves there,
    and its hash is the SHA-256 of the bytes (sdk/go/common/resource/asset EnsureHashWithWD)."""
    import hashlib

    project = tmp_path / "project"
    (project / "files").mkdir(parents=True)
    (project / "files" / "a.txt").write_bytes(b"first")
    (project / "__main__.py").write_text(
        "import pulumi, pulumi_aws as aws\n"
        "aws.s3.BucketObjectv2('o', bucket='b', key='k', source=pulumi.FileAsset('files/a.txt'))\n"
        "aws.s3.BucketObjectv2('t', bucket='b', key='t', source=pulumi.StringAsset('text'))\n")

    def source(name):
        rec = engine.run_stack("s", {"aws:region": "us-east-1"}, project / "__main__.py", project="p")
        return next(r for r in rec.resources if r.name == name).inputs["source"]

    assert source("o") == {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17",
                           "path": "files/a.txt", "hash": hashlib.sha256(b"first").hexdigest()}
    assert source("t")["hash"] == hashlib.sha256(b"text").hexdigest()
    (project / "files" / "a.txt").write_bytes(b"second")  # a changed file is a changed input
    assert source("o")["hash"] == hashlib.sha256(b"second").hexdigest()
    (project / "files" / "a.txt").unlink()
    with pytest.raises(RuntimeError, match="failed to compute asset hash for 'source': failed to open asset file "
                                           "'files/a.txt'"):
        source("o")
