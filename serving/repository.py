"""Triton model repositories: build, validate, digest and push.

Layout (Triton's): ``<repo>/<model>/config.pbtxt`` and ``<repo>/<model>/<version>/...``
where ``<version>`` is a positive integer. ``build`` lays a repository out from model
sources (``<src>/<model>/spec.yaml`` + ``<src>/<model>/<version>/``), rendering each
``config.pbtxt`` from its ``ModelSpec``, and next to it one *pinned* config per version,
``<repo>/<model>/configs/v<version>.pbtxt``: the same config with
``version_policy: specific { versions: [<version>] }``. Those are Triton's custom model
configurations (``configs/<name>.pbtxt``, read only with ``--model-config-name=<name>``, so
serving the repository is unchanged); the platform publishes version N of a model as its
own single-version repository with the pinned config as its ``config.pbtxt``
(``aiplat.triton``). ``validate`` reports every problem at once, each with its path.
``digest_dir`` is the content digest the model-approval policy compares against;
``scan_version`` computes it together with each file's own SHA-256 in one read.
``push`` uploads to ``s3://bucket/prefix`` only the files whose content changed, then
verifies the bucket holds exactly what was pushed.

Digests and scans need only the standard library: the Pulumi program imports this module
without Triton's client (``build`` and ``validate`` import the protobuf model config
lazily, from ``aiplat.serving.modelspec``).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from aiplat.errors import ConfigError, Problem, UsageError

# Byproducts of running a model (the Python backend byte-compiles model.py next to it).
# They are not part of the artifact: excluded from digests and pushes alike, so serving a
# repository does not change its digest.
IGNORED_DIRS = frozenset({"__pycache__"})
IGNORED_SUFFIXES = (".pyc",)

SHA256_METADATA_KEY = "sha256"  # S3 user metadata: x-amz-meta-sha256 = hex of the bytes
PINNED_CONFIG_DIR = "configs"  # Triton's custom-configuration directory inside a model directory
_CHUNK = 1 << 20


def pinned_config_path(model_dir: str | Path, version: int) -> Path:
    """``<model_dir>/configs/v<version>.pbtxt``: the model's config pinned to that one version."""
    return Path(model_dir) / PINNED_CONFIG_DIR / f"v{version}.pbtxt"


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, file) under ``root``, sorted by the path string, skipping
    run-time byproducts (``__pycache__``, ``*.pyc``)."""
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part in IGNORED_DIRS for part in rel.parts) or p.name.endswith(IGNORED_SUFFIXES):
            continue
        if p.is_file():
            found.append((PurePosixPath(*rel.parts).as_posix(), p))
    return iter(sorted(found, key=lambda item: item[0]))


def version_dirs(model_dir: Path) -> dict[int, Path]:
    return {int(p.name): p for p in model_dir.iterdir()
            if p.is_dir() and p.name.isdigit() and int(p.name) > 0}


# --- build ---------------------------------------------------------------------------
def build(src: str | Path, out: str | Path) -> list[str]:
    """Lay out a repository at ``out`` from model sources at ``src``. Each
    ``<src>/<model>/spec.yaml`` becomes ``<out>/<model>/config.pbtxt`` and each numeric
    ``<src>/<model>/<version>/`` is copied. Existing models in ``out`` are replaced.
    The result is validated; returns the model names built. Each version also gets its
    pinned config (``configs/v<version>.pbtxt``, module docstring)."""
    from aiplat.serving.modelspec import load_spec, pinned_config, render_pbtxt

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UsageError(f"model sources not found: {src}")
    specs = sorted(src.glob("*/spec.yaml"))
    if not specs:
        raise UsageError(f"no <model>/spec.yaml under {src}")
    problems: list[Problem] = []
    loaded = []
    for spec_path in specs:
        model_dir = spec_path.parent
        try:
            spec = load_spec(spec_path)
        except ConfigError as exc:
            problems += [Problem(f"{spec_path}:{p.path}", p.message) for p in exc.problems]
            continue
        if spec.name != model_dir.name:
            problems.append(Problem(f"{spec_path}:name",
                                    f"{spec.name!r} must equal the directory name {model_dir.name!r}"))
        if not version_dirs(model_dir):
            problems.append(Problem(str(model_dir), "no numeric version directory (e.g. 1/)"))
        loaded.append((model_dir, spec))
    if problems:
        raise ConfigError(problems)
    out.mkdir(parents=True, exist_ok=True)
    for model_dir, spec in loaded:
        target = out / spec.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        config = spec.to_config()
        (target / "config.pbtxt").write_text(render_pbtxt(config))
        for version, vdir in sorted(version_dirs(model_dir).items()):
            shutil.copytree(vdir, target / str(version),
                            ignore=shutil.ignore_patterns(*IGNORED_DIRS, "*.pyc"))
            pinned = pinned_config_path(target, version)
            pinned.parent.mkdir(exist_ok=True)
            pinned.write_text(render_pbtxt(pinned_config(config, version)))
    validate(out)
    return [spec.name for _, spec in loaded]


# --- validate ------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    name: str
    versions: tuple[int, ...]       # version directories present
    served: tuple[int, ...]         # versions the policy makes Triton load


def validate(repo: str | Path) -> list[ModelInfo]:
    """Check a repository the way Triton will load it, and report every problem (with
    its path) in one ``ConfigError``: unparsable or missing ``config.pbtxt``, config
    ``name`` different from the directory, bad dims/dtypes/batching, no version
    directory, versions named by a ``specific`` policy but absent, a Python-backend
    version without its ``model.py``, a pinned config (``configs/v<N>.pbtxt``) that is not
    ``config.pbtxt`` pinned to version N (stale after an edit) or names no present version.
    A repository without pinned configs is valid (Triton does not need them; publishing
    with the platform does)."""
    from aiplat.serving.modelspec import config_problems, parse_pbtxt, pinned_config

    repo = Path(repo)
    if not repo.is_dir():
        raise UsageError(f"model repository not found: {repo}")
    problems: list[Problem] = []
    infos: list[ModelInfo] = []
    model_dirs = sorted(p for p in repo.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not model_dirs:
        raise ConfigError([Problem(str(repo), "no model directories")])
    for mdir in model_dirs:
        cfg_path = mdir / "config.pbtxt"
        versions = version_dirs(mdir)
        if not versions:
            problems.append(Problem(str(mdir), "no numeric version directory (e.g. 1/)"))
        if not cfg_path.is_file():
            problems.append(Problem(str(cfg_path), "missing"))
            continue
        cfg = _parsed(cfg_path, parse_pbtxt, problems)
        if cfg is None:
            continue
        if cfg.name and cfg.name != mdir.name:
            problems.append(Problem(f"{cfg_path}:name",
                                    f"{cfg.name!r} must equal the directory name {mdir.name!r}"))
        problems += [Problem(f"{cfg_path}:{p.path}", p.message) for p in config_problems(cfg)]
        which = cfg.version_policy.WhichOneof("policy_choice") or "latest"
        if which == "specific":
            wanted = list(cfg.version_policy.specific.versions)
            for v in wanted:
                if v not in versions:
                    problems.append(Problem(f"{mdir / str(v)}",
                                            f"version {v} is named in version_policy.specific but absent"))
            served = tuple(sorted(v for v in wanted if v in versions))
        elif which == "all":
            served = tuple(sorted(versions))
        else:
            n = cfg.version_policy.latest.num_versions or 1
            served = tuple(sorted(versions)[-n:])
        if cfg.backend == "python":
            filename = cfg.default_model_filename or "model.py"
            for v in served:
                if not (versions[v] / filename).is_file():
                    problems.append(Problem(str(versions[v] / filename),
                                            "missing (the Python backend loads this file)"))
        problems += _pinned_problems(mdir, cfg, versions, parse_pbtxt, pinned_config)
        infos.append(ModelInfo(mdir.name, tuple(sorted(versions)), served))
    if problems:
        raise ConfigError(problems)
    return infos


def _parsed(path: Path, parse_pbtxt, problems: list[Problem]):
    """The config message of ``path``, or None with its parse problems added to ``problems``."""
    try:
        return parse_pbtxt(path.read_text(), source=str(path))
    except ConfigError as exc:
        problems += exc.problems
        return None


def _pinned_problems(mdir: Path, cfg, versions: dict[int, Path], parse_pbtxt, pinned_config) -> list[Problem]:
    configs = mdir / PINNED_CONFIG_DIR
    if not configs.is_dir():
        return []
    problems = []
    for path in sorted(configs.glob("v*.pbtxt")):
        number = path.stem[1:]
        if not number.isdigit() or int(number) not in versions:
            problems.append(Problem(str(path), f"pins no version directory of {mdir.name!r} "
                                               f"(versions: {', '.join(map(str, sorted(versions))) or 'none'})"))
            continue
        pinned = _parsed(path, parse_pbtxt, problems)
        if pinned is not None and pinned != pinned_config(cfg, int(number)):
            problems.append(Problem(str(path), f"is not config.pbtxt pinned to version {number} (stale after an "
                                               "edit?): rebuild the repository with `aiplat models build`"))
    return problems


# --- digest --------------------------------------------------------------------------
def digest_dir(path: str | Path) -> str:
    """Content digest of one directory (one model version), ``sha256:<64 hex>``.

    Exact algorithm (the model-approval policy recomputes it, so it is a contract):
    list the regular files under the directory recursively, skipping any path with a
    ``__pycache__`` component and files ending in ``.pyc``; take each file's path
    relative to the directory with ``/`` separators, UTF-8 encoded; sort by those
    bytes; then feed one SHA-256 with, per file in order::

        path_bytes + b"\\0" + str(len(content)).encode("ascii") + b"\\0" + content

    The length prefix makes the stream unambiguous (no two different trees hash the
    same byte stream). ``config.pbtxt`` is not included: it lives beside the versions
    and holds serving parameters (batching, instances) that may change without the
    model changing. An empty directory digests to ``sha256`` of the empty string."""
    return scan_version(path).digest


@dataclass(frozen=True)
class ScannedFile:
    rel: str        # path relative to the version directory, POSIX
    path: Path
    size: int
    sha256: str     # hex of the file's bytes (what push and the platform record as metadata)


@dataclass(frozen=True)
class VersionScan:
    digest: str                     # digest_dir of the version directory
    files: tuple[ScannedFile, ...]  # in digest order


def scan_version(path: str | Path) -> VersionScan:
    """``digest_dir`` of a version directory and every file's own SHA-256, reading each file
    once in chunks (model files can be many GB)."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"not a directory: {root}")
    h = hashlib.sha256()
    files = []
    for rel, p in sorted(iter_files(root), key=lambda e: e[0].encode("utf-8")):
        size = p.stat().st_size
        h.update(rel.encode("utf-8") + b"\0" + str(size).encode("ascii") + b"\0")
        own = hashlib.sha256()
        read = 0
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
                own.update(chunk)
                read += len(chunk)
        if read != size:  # the length prefix must be the bytes fed
            raise UsageError(f"{p} changed while it was read")
        files.append(ScannedFile(rel, p, size, own.hexdigest()))
    return VersionScan("sha256:" + h.hexdigest(), tuple(files))


def digest_version(repo: str | Path, model: str, version: int) -> str:
    vdir = Path(repo) / model / str(version)
    if not vdir.is_dir():
        raise UsageError(f"no version {version} of model {model!r} in {repo}")
    return digest_dir(vdir)


def digest_repository(repo: str | Path) -> dict[str, dict[int, str]]:
    """{model: {version: digest}} for every version directory present."""
    repo = Path(repo)
    return {info.name: {v: digest_version(repo, info.name, v) for v in info.versions}
            for info in validate(repo)}


# --- push ----------------------------------------------------------------------------
def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix") (no trailing slash)."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise UsageError(f"expected s3://bucket[/prefix], got {uri!r}")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if not bucket:
        raise UsageError(f"expected s3://bucket[/prefix], got {uri!r}")
    return bucket, prefix.strip("/")


@dataclass
class PushReport:
    uploaded: list[str] = field(default_factory=list)   # keys written this time
    unchanged: list[str] = field(default_factory=list)  # keys whose sha256 already matched
    extra: list[str] = field(default_factory=list)      # keys under the prefix not in the repo
    deleted: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # verification failures

    @property
    def ok(self) -> bool:
        return not self.mismatched


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _remote_state(s3, bucket: str, key: str) -> tuple[str | None, int] | None:
    """(stored sha256 metadata, size) of an object, or None when it is absent."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get(SHA256_METADATA_KEY), head["ContentLength"]


def push(repo: str | Path, uri: str, *, s3=None, delete_extra: bool = False) -> PushReport:
    """Upload a validated repository to ``s3://bucket/prefix``.

    A file is uploaded only when the object is absent or its ``x-amz-meta-sha256``
    differs from the local file's SHA-256 (metadata, not the ETag, because the ETag is
    not an MD5 for SSE-KMS or multipart objects). Afterwards the prefix is listed and
    every local file is checked against the bucket (present, same size, same sha256);
    objects under the prefix that the repository does not have are reported as
    ``extra`` and removed only with ``delete_extra`` (Triton would load stale version
    directories otherwise)."""
    import boto3

    repo = Path(repo)
    validate(repo)
    bucket, prefix = parse_s3_uri(uri)
    s3 = s3 or boto3.client("s3")

    def key_of(rel: str) -> str:
        return f"{prefix}/{rel}" if prefix else rel

    local = {key_of(rel): (p, _sha256_file(p)) for rel, p in iter_files(repo)}
    report = PushReport()
    for key, (path, sha) in local.items():
        # Size as well as the stored sha256: an object overwritten by another tool with
        # stale metadata is caught unless it has the same length (only a download could
        # tell then; verification has the same limit).
        if _remote_state(s3, bucket, key) == (sha, path.stat().st_size):
            report.unchanged.append(key)
            continue
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body,
                          Metadata={SHA256_METADATA_KEY: sha})
        report.uploaded.append(key)

    report.mismatched, report.extra = _verify(s3, bucket, prefix, local)
    if delete_extra:
        for key in report.extra:
            s3.delete_object(Bucket=bucket, Key=key)
        report.deleted, report.extra = report.extra, []
    return report


def _verify(s3, bucket: str, prefix: str, local: dict[str, tuple[Path, str]]):
    """List what is really under the prefix, then compare size and sha256 per file.
    Returns (mismatched keys, extra keys)."""
    listed: dict[str, int] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
        for obj in page.get("Contents", []):
            listed[obj["Key"]] = obj["Size"]
    mismatched = [key for key, (path, sha) in local.items()
                  if key not in listed or listed[key] != path.stat().st_size
                  or _remote_state(s3, bucket, key) != (sha, path.stat().st_size)]
    return mismatched, sorted(k for k in listed if k not in local)


def verify(repo: str | Path, uri: str, *, s3=None) -> PushReport:
    """Compare a bucket prefix with a local repository without uploading anything:
    ``mismatched`` lists files absent or different remotely, ``extra`` remote leftovers."""
    import boto3

    bucket, prefix = parse_s3_uri(uri)
    s3 = s3 or boto3.client("s3")
    local = {(f"{prefix}/{rel}" if prefix else rel): (p, _sha256_file(p))
             for rel, p in iter_files(Path(repo))}
    report = PushReport()
    report.mismatched, report.extra = _verify(s3, bucket, prefix, local)
    return report
