"""Where an endpoint's model versions come from, and exactly what is published of them.

An endpoint names one model repository (``TritonEndpointArgs.model_repository``; in a stack,
``serving.model_repository``), in one of two forms:

- **A local directory built by** ``aiplat models build``. A relative path is relative to
  the program's working directory: Pulumi runs a Python program in the project directory
  (or in the directory ``Pulumi.yaml``'s ``main`` names) and resolves a relative
  ``FileAsset`` path against that same directory, so what this module reads is what the
  engine hashes and the provider uploads. Every served version (the stable one, and the
  canary while its weight is above 0) becomes a ``VersionArtifact``, computed from the files
  at preview: its digest with ``aiplat.serving.repository.scan_version`` (the one digest
  function, ``digest_dir``'s), each file's SHA-256, and the object keys of the version's
  single-version repository in the endpoint's bucket::

      <model>/v<version>/<model>/config.pbtxt        <- <repo>/<model>/configs/v<version>.pbtxt
      <model>/v<version>/<model>/<version>/<file>    <- <repo>/<model>/<version>/<file>

  The pinned config (``version_policy: specific { versions: [<version>] }``, written by
  ``aiplat models build``) is published as the repository's ``config.pbtxt``. It is not part
  of the version's digest (the digest contract of ``aiplat models digest`` stays: serving
  parameters may change without re-approval); its own SHA-256 is the entry's ``config``, so
  the policy-visible model list, and the pod template that carries it, change with it.
  A stated digest that differs from the files, and a missing directory, model, version or
  pinned config, are problems with their key paths, found before anything is created.
- **An existing object-store prefix** (``s3://`` on AWS, ``gs://`` on GCP; ``{region}``
  replaced per region) holding the same ``<model>/v<version>/`` repositories. The program
  publishes nothing and cannot read the objects at preview, so the stated digests deploy
  unverified, which the config must accept explicitly (``accept_unverified_digests``).

Pure: no resource is created here (the cloud modules publish the artifacts).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from aiplat.errors import Problem
from aiplat.refs import is_model_store_uri
from aiplat.serving.repository import SHA256_METADATA_KEY, pinned_config_path, scan_version, version_dirs

# Object metadata of every published file: its own SHA-256 (the key `aiplat models push`
# compares, so push/verify and the platform agree on a prefix) and the model version it
# belongs to (the model-approval policy judges published objects by these).
META_SHA256 = SHA256_METADATA_KEY
META_MODEL, META_VERSION, META_DIGEST = "aiplat-model", "aiplat-version", "aiplat-digest"


@dataclass(frozen=True)
class PublishedFile:
    """One object of a version's repository."""

    key: str
    """Object key in the endpoint's bucket (``<model>/v<version>/<model>/...``)."""
    source: str
    """Local path of the bytes, as the ``FileAsset`` gets it (relative when the repository is)."""
    sha256: str
    """Hex SHA-256 of the bytes."""
    size: int


@dataclass(frozen=True)
class VersionArtifact:
    """One served model version as it is published: digest, pinned config, files."""

    model: str
    version: int
    digest: str
    """``sha256:<hex>`` of the version directory (``aiplat models digest``)."""
    config_digest: str
    """``sha256:<hex>`` of the pinned config published as ``config.pbtxt``."""
    files: tuple[PublishedFile, ...]
    """The config first, then the version's files in digest order."""

    @property
    def prefix(self) -> str:
        """The version's repository prefix in the bucket (``repository_uri`` without the bucket)."""
        return f"{self.model}/v{self.version}"

    def metadata(self, f: PublishedFile) -> dict[str, str]:
        return {META_SHA256: f.sha256, META_MODEL: self.model, META_VERSION: str(self.version),
                META_DIGEST: self.digest}


@dataclass(frozen=True)
class Served:
    """A version an endpoint serves, with the key paths a problem with it is reported at."""

    model: str
    version: int
    digest: str
    name_path: str
    version_path: str
    digest_path: str


class _Missing(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


_scans: dict[tuple, VersionArtifact] = {}


def _fingerprint(paths: list[Path]) -> tuple:
    """What must be unchanged for a cached scan to still hold: every file's identity and stamps."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def load_version(repository: str, model: str, version: int) -> VersionArtifact:
    """The artifact of one version of a local repository (module docstring); raises ``_Missing``.

    Scans are cached per process while no file under the version (and its pinned config)
    changed, so endpoints and regions serving the same version read the files once."""
    root = Path(repository)
    if not root.is_dir():
        raise _Missing("repository", f"{repository}: no such directory (the program's working directory is "
                                     f"{os.getcwd()}); build it with `aiplat models build <sources> {repository}`")
    model_dir = root / model
    if not (model_dir.is_dir() and (model_dir / "config.pbtxt").is_file()):
        there = sorted(p.parent.name for p in root.glob("*/config.pbtxt"))
        raise _Missing("name", f"no model {model!r} in {repository} (models there: {', '.join(there) or 'none'})")
    vdir = model_dir / str(version)
    if not vdir.is_dir():
        there = ", ".join(str(v) for v in sorted(version_dirs(model_dir))) or "none"
        raise _Missing("version", f"no version directory {vdir} (versions of {model} there: {there})")
    pinned = pinned_config_path(model_dir, version)
    if not pinned.is_file():
        raise _Missing("version", f"{pinned} is missing: {repository} was not built by `aiplat models build` (the "
                                  "pinned config Triton loads from the version's own repository); rebuild it")
    key = (str(vdir.resolve()), str(pinned.resolve()), _fingerprint([pinned, *_files_under(vdir)]))
    if key not in _scans:
        _scans[key] = _scan(model, version, vdir, pinned)
    return _scans[key]


def _scan(model: str, version: int, vdir: Path, pinned: Path) -> VersionArtifact:
    scan = scan_version(vdir)
    config = pinned.read_bytes()  # a config.pbtxt: small
    config_sha = hashlib.sha256(config).hexdigest()
    base = f"{model}/v{version}/{model}"
    files = [PublishedFile(f"{base}/config.pbtxt", str(pinned), config_sha, len(config))]
    files += [PublishedFile(f"{base}/{version}/{f.rel}", str(vdir / f.rel), f.sha256, f.size) for f in scan.files]
    return VersionArtifact(model, version, scan.digest, f"sha256:{config_sha}", tuple(files))


def source_problems(repository: str | None, accept_unverified: bool, served: list[Served],
                    repository_path: str, accept_path: str) -> tuple[dict[tuple[str, int], VersionArtifact],
                                                                     list[Problem]]:
    """The artifacts of the served versions and every problem with them, at the given key paths.

    ``repository`` None or an object-store prefix yields no artifacts (nothing to publish); a
    prefix without ``accept_unverified`` is a problem (module docstring)."""
    if repository is None:
        return {}, [Problem(repository_path, "required: a directory built by `aiplat models build`, or an existing "
                                             "object-store prefix")]
    if is_model_store_uri(repository):
        if accept_unverified:
            return {}, []
        return {}, [Problem(repository_path, f"{repository} is an existing object-store prefix: nothing is "
                                             "published and its objects cannot be read at preview, so the digests "
                                             f"would deploy unverified; set {accept_path} to accept that, or "
                                             "publish from a local directory")]
    if accept_unverified:
        return {}, [Problem(accept_path, f"only applies to an object-store prefix; the digests of the local "
                                         f"directory {repository} are always verified")]
    artifacts: dict[tuple[str, int], VersionArtifact] = {}
    problems: list[Problem] = []
    for s in served:
        try:
            art = load_version(repository, s.model, s.version)
        except _Missing as missing:
            path = {"repository": repository_path, "name": s.name_path, "version": s.version_path}[missing.field]
            problems.append(Problem(path, missing.message))
            if missing.field == "repository":
                break  # one message for the directory, not one per version
            continue
        if art.digest != s.digest:
            problems.append(Problem(
                s.digest_path,
                f"{s.digest} does not match the files of {repository}/{s.model}/{s.version}, which digest to "
                f"{art.digest}: set {s.digest_path} to {art.digest} (and have that artifact approved), or restore "
                "the files"))
            continue
        artifacts[(s.model, s.version)] = art
    return artifacts, problems
