"""Run the real ``tritonserver`` (CPU) on a model repository, on 127.0.0.1.

The binary, its libraries and the Python backend come from the ``nvidia-pytriton``
wheel (installed ``--no-deps`` so its pins do not change our environment). Three
details make it work outside NVIDIA's container:

* ``LD_LIBRARY_PATH`` must point at the wheel's ``nvidia_pytriton.libs``;
* the backend directory is assembled: ``<dir>/python/`` holds the Python backend and
  the ``triton_python_backend_stub`` for our Python version;
* the stub runs model code with the first ``python`` on ``PATH``, which must have
  numpy < 2 (with numpy 2 every output tensor comes back empty). We put a small
  separate venv (``.venv-triton-stub``, numpy 1.26) first on PATH.

``TritonServer`` picks free ports, waits for ``/v2/health/ready`` within a deadline
(failing early, with Triton's own log lines, when the process exits) and stops the
whole process group on exit. ``TritonServer.with_args`` runs a given flag list as it is
(a Deployment's, with local repositories and ports): it adds only what a local run needs
(the assembled backend directory, 127.0.0.1 addresses, a short exit timeout).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aiplat.errors import AiplatError, UsageError

STUB_VENV_ENV = "AIPLAT_TRITON_STUB_VENV"
# What ``TritonServer.with_args`` adds to the given flags.
LOCAL_RUN_FLAGS = ("backend-directory", "http-address", "grpc-address", "metrics-address", "exit-timeout-secs")
STUB_VENV_NAME = ".venv-triton-stub"


def default_stub_venv() -> Path:
    """``$AIPLAT_TRITON_STUB_VENV``, else ``.venv-triton-stub`` in the project (``Pulumi.yaml`` upward
    from the current directory, where ``make setup-test`` puts it), else in the current directory."""
    if os.environ.get(STUB_VENV_ENV):
        return Path(os.environ[STUB_VENV_ENV])
    from aiplat.project import find_project

    try:
        return find_project().root / STUB_VENV_NAME
    except UsageError:
        return Path.cwd() / STUB_VENV_NAME


class TritonNotInstalled(UsageError):
    """The tritonserver binary or the stub venv is absent (``make setup-test`` installs them)."""


class TritonStartError(AiplatError):
    """Triton exited or did not become ready; the message carries its log's errors."""

    exit_code = 1


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    libs: Path
    python_backend: Path
    stub: Path
    stub_venv: Path


def find_install(stub_venv: str | Path | None = None) -> TritonInstall:
    spec = importlib.util.find_spec("pytriton")  # locate without importing its deps
    if spec is None or not spec.submodule_search_locations:
        raise TritonNotInstalled(
            "nvidia-pytriton is not installed (pip install --no-deps nvidia-pytriton==0.7.0)")
    pkg = Path(list(spec.submodule_search_locations)[0])
    server = pkg / "tritonserver"
    pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = TritonInstall(
        binary=server / "bin" / "tritonserver",
        libs=pkg.parent / "nvidia_pytriton.libs",
        python_backend=server / "backends" / "python",
        stub=server / "python_backend_stubs" / pyver / "triton_python_backend_stub",
        stub_venv=Path(stub_venv) if stub_venv else default_stub_venv(),
    )
    for path in (install.binary, install.libs, install.python_backend, install.stub):
        if not path.exists():
            raise TritonNotInstalled(f"incomplete nvidia-pytriton install: {path} is missing")
    if not (install.stub_venv / "bin" / "python").exists():
        raise TritonNotInstalled(
            f"stub venv {install.stub_venv} is missing (python -m venv it and install "
            "numpy==1.26.4; `make setup-test` does)")
    return install


def free_port() -> int:
    # Ask the kernel for a free port; the tiny race until Triton binds is acceptable
    # for local runs, and start-up fails loudly (exit + log) if it is lost.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TritonServer:
    """A local tritonserver process. Use as a context manager, or start()/stop()."""

    def __init__(self, repository: str | Path, *, http_port: int = 0, grpc_port: int = 0,
                 metrics_port: int = 0, ready_timeout: float = 120.0,
                 extra_args: list[str] | None = None, stub_venv: str | Path | None = None):
        self.repository = Path(repository).resolve()
        if not self.repository.is_dir():
            raise UsageError(f"model repository not found: {self.repository}")
        self.install = find_install(stub_venv)
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args or [])
        self.server_args: list[str] | None = None
        self.proc: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self.log_path: Path | None = None

    @classmethod
    def with_args(cls, args: list[str], *, ready_timeout: float = 120.0,
                  stub_venv: str | Path | None = None) -> "TritonServer":
        """A server started with exactly ``args`` (``--model-repository``, ``--http-port``,
        ``--grpc-port`` and ``--metrics-port`` among them, local ones) after the local-run flags."""
        flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        missing = [f for f in ("model-repository", "http-port", "grpc-port", "metrics-port") if f not in flags]
        if missing:
            raise UsageError(f"tritonserver args lack {', '.join('--' + f for f in missing)}")
        local = sorted(set(flags) & set(LOCAL_RUN_FLAGS))
        if local:  # they would be given twice
            raise UsageError(f"tritonserver args set {', '.join('--' + f for f in local)}, which the local run sets")
        server = cls(flags["model-repository"], http_port=int(flags["http-port"]), grpc_port=int(flags["grpc-port"]),
                     metrics_port=int(flags["metrics-port"]), ready_timeout=ready_timeout, stub_venv=stub_venv)
        server.server_args = list(args)
        return server

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self, backend_dir: Path) -> list[str]:
        if self.server_args is not None:
            return [
                str(self.install.binary), f"--backend-directory={backend_dir}",
                "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
                "--exit-timeout-secs=5", *self.server_args,
            ]
        return [
            str(self.install.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backend_dir}",
            "--http-address=127.0.0.1", f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
            "--allow-sagemaker=false", "--allow-vertex-ai=false",
            "--strict-readiness=true",
            "--exit-timeout-secs=5",  # bound shutdown when requests are still in flight
            *self.extra_args,
        ]

    def _assemble_backends(self, workdir: Path) -> Path:
        backends = workdir / "backends"
        py = backends / "python"
        shutil.copytree(self.install.python_backend, py)
        shutil.copy2(self.install.stub, py / "triton_python_backend_stub")
        return backends

    def start(self) -> "TritonServer":
        self._workdir = Path(tempfile.mkdtemp(prefix="aiplat-triton-"))
        backend_dir = self._assemble_backends(self._workdir)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(self.install.libs), env.get("LD_LIBRARY_PATH")]))
        env["PATH"] = os.pathsep.join([str(self.install.stub_venv / "bin"), env.get("PATH", "")])
        env.pop("PYTHONPATH", None)  # the stub must not see our numpy 2 site-packages
        env.pop("VIRTUAL_ENV", None)
        self.log_path = self._workdir / "tritonserver.log"
        log = self.log_path.open("wb")
        # Own session: stop() signals the whole group, including the backend stubs.
        self.proc = subprocess.Popen(self.command(backend_dir), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        log.close()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def _log_errors(self, limit: int = 20) -> str:
        lines = [ln for ln in self.log_text().splitlines()
                 if ln.startswith("E") or "error" in ln.lower() or "failed" in ln.lower()]
        return "\n".join(lines[-limit:]) or self.log_text()[-2000:]

    def is_ready(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready",
                                        timeout=timeout) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TritonStartError(
                    f"tritonserver exited with code {self.proc.returncode} before it was "
                    f"ready:\n{self._log_errors()}")
            if self.is_ready():
                return
            time.sleep(0.2)
        raise TritonStartError(
            f"tritonserver not ready within {self.ready_timeout:.0f}s:\n{self._log_errors()}")

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM to tritonserver alone: it unloads models and stops its own stubs;
            # signalling the stubs too makes it wait for them until the exit timeout.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            # Whatever is left of the group (a hung server, orphaned stubs) is killed.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.proc.poll() is None:
                self.proc.wait(timeout=5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
