"""Real peers the monitoring tests share: a Prometheus process, whether Triton is installed, bounded waits.

``Prometheus`` (Debian package) starts on a free port with the whole ``prometheus.yml``
given as a dict and its TSDB under the test's working directory, and is stopped by process
group. ``TRITON_MISSING`` is why the local tritonserver cannot run ('' when it can).
``wait_for`` is the one bounded poll.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from aiplat.serving.triton_local import TritonNotInstalled, find_install, free_port

PROMETHEUS = shutil.which("prometheus")
SKIP_REASON = "prometheus not installed (apt-get install -y prometheus; `make test` does)"

try:
    find_install()
    TRITON_MISSING = ""
except TritonNotInstalled as exc:
    TRITON_MISSING = str(exc)


def wait_for(what: str, probe, timeout: float, interval: float = 0.25):
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Prometheus:
    def __init__(self, workdir: Path, config: dict):
        self.port = free_port()
        self.workdir = workdir
        self.config_file = workdir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Prometheus":
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for("Prometheus /-/ready", self._ready, timeout=60)
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"prometheus exited ({self.proc.returncode}):\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def api(self, path: str, **params) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def rule(self, name: str) -> dict:
        return next(r for g in self.api("rules")["groups"] for r in g["rules"] if r["name"] == name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
