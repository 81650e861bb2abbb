"""Environments made of exactly what a requirement list pulls in, from the project's own .venv.

There is no package index to install from in a test, but the project's environment already
holds every distribution at its tested version. ``closure`` follows requirements (with
extras and markers) through the installed metadata; ``site_view`` builds a directory of
symlinks that shows only those distributions' files, so a virtualenv with a ``.pth`` line
pointing at it sees, say, aiplat's core dependencies and nothing else: not the test tools,
not rich, and never the editable install of this repository (its finder and dist-info
belong to ``aiplat``, which a view never includes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
SELF = "aiplat"


def pyproject_requires() -> list[str]:
    """aiplat's requirements as Requires-Dist lines (extras as markers), from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra, reqs in project.get("optional-dependencies", {}).items():
        for req in reqs:
            r = Requirement(req)
            marker = f'({r.marker}) and extra == "{extra}"' if r.marker else f'extra == "{extra}"'
            r.marker = None
            lines.append(f"{r}; {marker}")
    return lines


def closure(self_requires: list[str], extras: Iterable[str] = (),
            installed: Callable[[str], metadata.Distribution] = metadata.distribution
            ) -> dict[str, metadata.Distribution]:
    """Every distribution ``aiplat[extras]`` needs, from the installed metadata (aiplat itself
    excluded: its requirements are ``self_requires``, e.g. a wheel's Requires-Dist).

    A requirement that no installed distribution satisfies raises ``LookupError``: the
    environment does not hold what the declaration asks for.
    """
    dists: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    problems: list[str] = []

    def visit(name: str, extra: str) -> None:  # the requirements of `name` active with `extra` ("" = none)
        if (name, extra) in done:
            return
        done.add((name, extra))
        for line in self_requires if name == SELF else (dists[name].requires or []):
            req = Requirement(line)
            if req.marker and not req.marker.evaluate({"extra": extra}):
                continue
            dep = canonicalize_name(req.name)
            if dep != SELF:
                if dep not in dists:
                    try:
                        dists[dep] = installed(req.name)
                    except metadata.PackageNotFoundError:
                        problems.append(f"{req} (for {name}): not installed")
                        continue
                if not req.specifier.contains(dists[dep].version, prereleases=True):
                    problems.append(f"{req} (for {name}): {dists[dep].version} is installed")
            for e in ("", *req.extras):
                visit(dep, e)

    for e in ("", *extras):
        visit(SELF, e)
    if problems:
        raise LookupError("; ".join(sorted(set(problems))))
    return dists


def _owners(site: Path) -> dict[PurePosixPath, set[str]]:
    """Every path (and each of its parent folders) under ``site`` -> the distributions owning it."""
    owners: dict[PurePosixPath, set[str]] = defaultdict(set)
    for dist in metadata.distributions(path=[str(site)]):
        name = canonicalize_name(dist.metadata["Name"])
        for f in dist.files or []:
            rel = PurePosixPath(f)
            if rel.parts and rel.parts[0] == "..":
                continue  # console scripts and the like, outside site-packages
            for i in range(1, len(rel.parts) + 1):
                owners[PurePosixPath(*rel.parts[:i])].add(name)
    return owners


def site_view(target: Path, dists: Iterable[metadata.Distribution], site: Path = SITE) -> Path:
    """A directory of symlinks into ``site`` holding only the files of ``dists``.

    An entry owned only by wanted distributions is linked whole; one that also holds files
    of others (a namespace folder such as ``google/``) is recreated and descended into.
    """
    wanted = {canonicalize_name(d.metadata["Name"]) for d in dists}
    owners = _owners(site)

    def place(rel: PurePosixPath) -> None:
        for child in sorted((site / rel).iterdir()):
            crel = rel / child.name
            owned = owners.get(crel, set())
            if not owned or not owned & wanted:
                continue
            if owned <= wanted or not child.is_dir():
                (target / crel).symlink_to(child)
            else:
                (target / crel).mkdir()
                place(crel)

    target.mkdir(parents=True)
    place(PurePosixPath())
    return target


def make_venv(path: Path, view: Path) -> Path:
    """A fresh virtualenv (no pip, no system site-packages) that also sees ``view``; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, env=clean_env(path)).stdout.strip()
    Path(purelib, "_deps_view.pth").write_text(f"{view}\n")
    return python


def pip_into(python: Path, *args: str) -> subprocess.CompletedProcess:
    """The project's pip acting on another interpreter's environment (``pip --python``)."""
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python),
                           *args], capture_output=True, text=True)


def clean_env(venv: Path, home: Path | None = None) -> dict[str, str]:
    """What a process gets from a clean login: PATH (the venv first) and HOME, nothing else."""
    return {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(home or venv),
            "LANG": "C.UTF-8"}
