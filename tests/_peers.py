"""Real peers the monitoring tests share: Prometheus and Alertmanager processes, amtool, whether
Triton is installed, bounded waits.

``Prometheus`` and ``Alertmanager`` (Debian packages ``prometheus`` and
``prometheus-alertmanager``; ``make test-tools`` installs both) start on a free port with
their whole configuration given as a dict and their storage under the test's working
directory, and are stopped by process group. ``AMTOOL`` checks and route-tests Alertmanager
configurations. ``TRITON_MISSING`` is why the local tritonserver cannot run ('' when it
can). ``wait_for`` is the one bounded poll.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from aiplat.serving.triton_local import TritonNotInstalled, find_install, free_port

PROMETHEUS = shutil.which("prometheus")
SKIP_REASON = "prometheus not installed (apt-get install -y prometheus; `make test` does)"
AMTOOL = shutil.which("amtool")
# Debian installs the server as prometheus-alertmanager; upstream tarballs call it alertmanager.
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AM_SKIP_REASON = "amtool/alertmanager not installed (apt-get install -y prometheus-alertmanager; `make test` does)"

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


class _Server:
    """A local server process on a free port: its config written as YAML, its log kept, bounded start and stop."""

    name = "server"
    config_name = "config.yml"

    def __init__(self, workdir: Path, config: dict):
        self.port = free_port()
        self.workdir = workdir
        self.config_file = workdir / self.config_name
        self.config_file.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(f"{self.name} /-/ready", self._ready, timeout=60)
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.proc.returncode}):\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class Prometheus(_Server):
    name, config_name = "prometheus", "prometheus.yml"

    def command(self) -> list[str]:
        return [PROMETHEUS, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}"]

    def api(self, path: str, **params) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # a bad query: say which, and why
            pytest.fail(f"Prometheus {path} {params}: {exc.code} {exc.read().decode(errors='replace')}")
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, **params) -> list[dict]:
        return self.api("query", query=expr, **params)["result"]

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def rule(self, name: str) -> dict:
        return next(r for g in self.api("rules")["groups"] for r in g["rules"] if r["name"] == name)


class Alertmanager(_Server):
    """A real Alertmanager (no cluster peers) running a rendered configuration; alerts are posted
    and read back through its v2 API, where each alert's status says whether, and by what, it is
    inhibited."""

    name, config_name = "alertmanager", "alertmanager.yml"

    def command(self) -> list[str]:
        return [ALERTMANAGER, f"--config.file={self.config_file}", f"--storage.path={self.workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="]

    def post(self, alerts: list[dict[str, str]]) -> None:
        """Fire alerts, given as their label sets."""
        body = json.dumps([{"labels": labels} for labels in alerts]).encode()
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def alerts(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            return json.load(resp)


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)
