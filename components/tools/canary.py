"""Canary analysis (``aiplat canary analyze STACK --prometheus URL``): promote, hold or roll back.

A model's ``canary: {version, digest, weight}`` sends ``weight`` percent of its requests to
the canary track (components/triton.py). This module asks the Prometheus of one region's
cluster what both tracks did over a window, from the metrics Triton already exports per
``(model, version)`` (names in ``aiplat.monitoring``), scoped to the endpoint's namespace as
its ServiceMonitor scrapes it. The stable track is the model's ``version``, the canary its
``canary.version``; a version is only ever loaded by its own track, so the ``version`` label
tells the tracks apart. Per track, over the window:

* **requests** = successes + failures of every ``reason`` (``increase`` of
  ``nv_inference_request_success`` and ``_failure``), and the **rate** per second.
  ``increase`` extrapolates to the window's edges, so counts are estimates (a few per cent
  high on short windows); the ratios between them are not affected;
* **error ratio** = failures / requests. It includes requests whose queue timeout expired
  (``reason="REJECTED"``). A request refused because the bounded queue is *full* moves no
  Triton counter (core r25.01 fails it at enqueue); only the caller sees that 503;
* **p99** = the worst replica's ``nv_inference_request_summary_us{quantile="0.99"}`` at its
  worst moment in the window (summary quantiles cannot be averaged across replicas; Triton
  computes them over its own sliding 60 s window). Exported only when Triton runs with
  ``--metrics-config=summary_latencies=true``; without them p99 "cannot be judged";
* **queue time** per successful request (``nv_inference_queue_duration_us``), and the mean
  latency of successful requests.

Checks on the canary, thresholds from ``monitoring.slo`` unless overridden (``Thresholds``):

==============  =====================================================  ============
check           fails when                                             then
==============  =====================================================  ============
traffic         a track has fewer than ``min_requests`` requests        hold
error_ratio     canary error ratio > ``max_error_ratio``                roll back
p99             canary p99 > ``max_p99_ms``, or no p99 to judge        roll back / hold
p99_vs_stable   canary p99 > stable p99 x ``max_p99_ratio`` *and* by    roll back
                more than ``p99_slack_ms``; no stable p99: hold
queue_time      canary queue time per request > ``max_queue_ms``        hold
==============  =====================================================  ============

The verdict is the worst result: any roll back -> **roll back** (``canary.weight: 0``); else
any hold -> **hold** (no change; analyze again later); else **promote**: the next step of the
weight ladder (``LADDER``), or at its top the promotion itself (``version``/``digest`` take
the canary's, the ``canary`` block goes). Too little traffic is never a promotion; it is a
roll back only when the canary has already failed more requests than a full minimum sample
may (``max_error_ratio x min_requests``). At weight 100 the stable track gets no traffic by
design, so the comparisons with it are skipped.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from aiplat.errors import AiplatError, UsageError
from aiplat.config.monitoring import duration_seconds
from aiplat.refs import (
    METRIC_FAILURE,
    METRIC_QUEUE_US,
    METRIC_REQUEST_SUMMARY_US,
    METRIC_REQUEST_US,
    METRIC_SUCCESS,
    MODEL_LABEL,
    REASON_LABEL,
    TRITON_METRICS_ARGS,
    VERSION_LABEL,
)
from aiplat.triton import endpoint_namespace

# Canary weights in percent, in the order a rollout climbs them; past the last, promote.
LADDER: tuple[int, ...] = (1, 5, 10, 25, 50, 100)
DEFAULT_WINDOW = "10m"
# p99 regression against stable: more than 20 % slower *and* by more than 5 % of the SLA,
# so that noise on a fast model (2 ms -> 3 ms) is not a regression.
DEFAULT_P99_RATIO = 1.2
P99_SLACK_FRACTION = 0.05
# "Rule of three": with no failure in n requests, the 95 % upper bound of the failure rate
# is 3/n; n = 3 / max_error_ratio requests show the canary meets the error budget.
RULE_OF_THREE = 3.0
NAMESPACE_LABEL = "namespace"  # set by the ServiceMonitor's targets (prometheus-operator)

Verdict = Literal["promote", "hold", "roll_back"]
Result = Literal["pass", "hold", "roll_back", "skip"]
_RANK = {"pass": 0, "skip": 0, "hold": 1, "roll_back": 2}


class PrometheusError(AiplatError):
    """Prometheus unreachable or answering with an error: nothing can be judged (exit 2)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


# -- thresholds -----------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """What the canary must meet. ``from_slo`` derives the defaults from ``monitoring.slo``."""

    max_error_ratio: float
    """Default ``slo.error_ratio``: the canary gets the same error budget as the endpoint."""
    max_p99_ms: float
    """Default ``slo.p99_latency_ms``, the p99 SLA."""
    max_p99_ratio: float = DEFAULT_P99_RATIO
    """Canary p99 / stable p99 at most. Default 1.2."""
    p99_slack_ms: float = 0.0
    """A p99 above stable's by no more than this is never a regression. Default 5 % of the SLA."""
    max_queue_ms: float = 100.0
    """Mean queue time per request. Default ``slo.queue_time_warning_ms``."""
    min_requests: int = 1
    """Requests per track in the window to judge at all. Default ceil(3 / max_error_ratio)."""
    ladder: tuple[int, ...] = LADDER
    """Canary weights a rollout climbs. Default 1, 5, 10, 25, 50, 100."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each value came from (a config key, a flag, a fixed default)."""

    @classmethod
    def from_slo(cls, slo: Any, *, max_error_ratio: float | None = None, max_p99_ms: float | None = None,
                 max_p99_ratio: float | None = None, p99_slack_ms: float | None = None,
                 max_queue_ms: float | None = None, min_requests: int | None = None,
                 ladder: tuple[int, ...] | list[int] | None = None) -> "Thresholds":
        """Defaults from the SLOs, each overridable; every bad override named at once (UsageError)."""
        problems = []
        if max_error_ratio is not None and not 0 < max_error_ratio < 1:
            problems.append(f"--max-error-ratio: {max_error_ratio:g} must be between 0 and 1 (exclusive)")
        for flag, v in (("--max-p99-ms", max_p99_ms), ("--max-queue-ms", max_queue_ms)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                problems.append(f"{flag}: {v:g} must be a positive number of milliseconds")
        if p99_slack_ms is not None and not (p99_slack_ms >= 0 and math.isfinite(p99_slack_ms)):
            problems.append(f"--p99-slack-ms: {p99_slack_ms:g} must be 0 or more milliseconds")
        if max_p99_ratio is not None and not (max_p99_ratio >= 1 and math.isfinite(max_p99_ratio)):
            problems.append(f"--max-p99-ratio: {max_p99_ratio:g} must be 1 or more (canary p99 / stable p99)")
        if min_requests is not None and min_requests < 1:
            problems.append(f"--min-requests: {min_requests} must be at least 1")
        if ladder is not None:
            steps = list(ladder)
            if not steps or any(not 1 <= w <= 100 for w in steps) or steps != sorted(set(steps)):
                problems.append(f"--ladder: {','.join(map(str, steps))} must be strictly increasing weights "
                                "in 1..100 (e.g. 1,5,10,25,50,100)")
        if problems:
            raise UsageError("; ".join(problems))

        def pick(flag: str, given, default, source: str):
            if given is not None:
                return given, f"{flag} flag"
            return default, source

        sources: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, flag, given, default, source in (
            ("max_error_ratio", "--max-error-ratio", max_error_ratio, slo.error_ratio, "monitoring.slo.error_ratio"),
            ("max_p99_ms", "--max-p99-ms", max_p99_ms, slo.p99_latency_ms, "monitoring.slo.p99_latency_ms"),
            ("max_p99_ratio", "--max-p99-ratio", max_p99_ratio, DEFAULT_P99_RATIO, "default"),
            ("p99_slack_ms", "--p99-slack-ms", p99_slack_ms, slo.p99_latency_ms * P99_SLACK_FRACTION,
             f"{P99_SLACK_FRACTION:.0%} of monitoring.slo.p99_latency_ms"),
            ("max_queue_ms", "--max-queue-ms", max_queue_ms, slo.queue_time_warning_ms,
             "monitoring.slo.queue_time_warning_ms"),
            ("ladder", "--ladder", tuple(ladder) if ladder is not None else None, LADDER, "default"),
        ):
            values[name], sources[name] = pick(flag, given, default, source)
        values["min_requests"], sources["min_requests"] = pick(
            "--min-requests", min_requests, math.ceil(RULE_OF_THREE / values["max_error_ratio"] - 1e-9),
            "ceil(3 / max_error_ratio)")
        return cls(**values, sources=sources)

    @property
    def failure_budget(self) -> float:
        """Failures a full minimum sample may have; more than this is conclusive at any traffic."""
        return self.max_error_ratio * self.min_requests

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_error_ratio": self.max_error_ratio, "max_p99_ms": self.max_p99_ms,
            "max_p99_ratio": self.max_p99_ratio, "p99_slack_ms": self.p99_slack_ms,
            "max_queue_ms": self.max_queue_ms, "min_requests": self.min_requests,
            "ladder": list(self.ladder), "sources": dict(self.sources),
        }


def next_weight(weight: int, ladder: tuple[int, ...] = LADDER) -> int | None:
    """The next ladder step above ``weight``; None at or past the top (promote the version)."""
    return next((w for w in ladder if w > weight), None)


# -- what is deployed --------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryTarget:
    """One model with a canary, where it sits in the stack config."""

    endpoint: str
    model: str
    path: str
    """Key path of the model in the stack's platform config, e.g. ``serving.endpoints[0].models[1]``."""
    stable_version: int
    stable_digest: str
    canary_version: int
    canary_digest: str
    weight: int

    @property
    def namespace(self) -> str:
        return endpoint_namespace(self.endpoint)

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "namespace": self.namespace, "model": self.model, "path": self.path,
                "stable_version": self.stable_version, "canary_version": self.canary_version,
                "weight": self.weight}


def canary_targets(cfg: Any, region: str | None = None) -> tuple[list[CanaryTarget], list[CanaryTarget]]:
    """(active, rolled back): the canaries with weight > 0 and with weight 0, in config order.

    With ``region``, only endpoints that run there (one Prometheus sees one cluster)."""
    active: list[CanaryTarget] = []
    inactive: list[CanaryTarget] = []
    if cfg.serving is None:
        return active, inactive
    regions = [r.name for r in cfg.regions]
    for i, ep in enumerate(cfg.serving.endpoints):
        if region is not None and region not in ep.resolved_regions(regions):
            continue
        for j, m in enumerate(ep.models):
            if m.canary is None:
                continue
            t = CanaryTarget(ep.name, m.name, f"serving.endpoints[{i}].models[{j}]", m.version, m.digest,
                             m.canary.version, m.canary.digest, m.canary.weight)
            (active if t.weight > 0 else inactive).append(t)
    return active, inactive


# -- Prometheus ---------------------------------------------------------------------------
class Prometheus:
    """The Prometheus HTTP API (``/api/v1``), standard library only, every call bounded by ``timeout``."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--prometheus: {url!r} is not an http(s) URL (e.g. http://prometheus:9090)")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.url}{path}{query}", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise PrometheusError(f"{self.url}{path} answered HTTP {status} with no Prometheus API document "
                                  "(is --prometheus the Prometheus server's URL?)", status) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            what = body.get("error", body) if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            hint = " (is --prometheus the Prometheus server's base URL?)" if status == 404 else ""
            raise PrometheusError(f"Prometheus at {self.url} answered HTTP {status} ({kind}): {what}{hint}", status)
        return body.get("data")

    def query(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        """An instant query at ``at`` (Unix seconds): [(labels, value)]; NaN stays NaN."""
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise PrometheusError(f"Prometheus at {self.url} answered {expr!r} with no instant vector")
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def external_labels(self) -> dict[str, str]:
        """``global.external_labels`` of its configuration ({} where the API does not serve it)."""
        try:
            data = self._get("/api/v1/status/config", {})
        except PrometheusError as exc:
            if exc.status is None:
                raise
            return {}  # e.g. a managed Prometheus without the status API
        try:
            doc = yaml.safe_load((data or {}).get("yaml", "")) or {}
        except yaml.YAMLError:
            return {}
        labels = (doc.get("global") or {}).get("external_labels") or {}
        return {str(k): str(v) for k, v in labels.items()}


def resolve_region(cfg: Any, stack: str, region: str | None, external: dict[str, str]) -> str:
    """The stack region the Prometheus watches: ``--region``, else its ``region`` external label
    (the Monitoring component sets ``stack`` and ``region``), else the stack's only region.
    A Prometheus labelled for another stack or region is refused."""
    names = [r.name for r in cfg.regions]
    if region is not None and region not in names:
        raise UsageError(f"--region: stack {stack} has no region {region!r} (regions: {', '.join(names)})")
    if external.get("stack") and external["stack"] != stack:
        raise UsageError(f"--prometheus watches stack {external['stack']!r} (external label stack), not {stack!r}")
    seen = external.get("region")
    if region is not None and seen and seen != region:
        raise UsageError(f"--prometheus watches region {seen!r} (external label region), not --region {region}")
    chosen = region or seen or (names[0] if len(names) == 1 else None)
    if chosen is None:
        raise UsageError(f"stack {stack} has regions {', '.join(names)}: name the one whose Prometheus "
                         "--prometheus is with --region (each cluster runs its own Prometheus)")
    if chosen not in names:
        raise UsageError(f"--prometheus watches region {chosen!r} (external label region), "
                         f"which is not a region of stack {stack} ({', '.join(names)})")
    return chosen


# -- what the tracks did -------------------------------------------------------------------
@dataclass(frozen=True)
class TrackStats:
    """One track (one model version in one namespace) over the window."""

    version: int
    present: bool = False
    """Prometheus holds series of this version in the window (the track runs and is scraped)."""
    successes: float = 0.0
    failures: dict[str, float] = field(default_factory=dict)
    """Failed requests by Triton's ``reason`` label."""
    request_us: float = 0.0
    queue_us: float = 0.0
    p99_ms: float | None = None
    summaries: bool = False
    """Triton exports the latency summaries for this version."""

    @property
    def failed(self) -> float:
        return sum(self.failures.values())

    @property
    def requests(self) -> float:
        return self.successes + self.failed

    @property
    def error_ratio(self) -> float | None:
        return self.failed / self.requests if self.requests > 0 else None

    @property
    def mean_ms(self) -> float | None:
        return self.request_us / self.successes / 1000 if self.successes > 0 else None

    @property
    def queue_ms(self) -> float | None:
        return self.queue_us / self.successes / 1000 if self.successes > 0 else None

    def as_dict(self, window_s: float) -> dict[str, Any]:
        def r(x: float | None, n: int = 3):
            return None if x is None else round(x, n)

        return {
            "version": self.version, "metrics_present": self.present, "requests": r(self.requests, 1),
            "rate_rps": r(self.requests / window_s, 3), "successes": r(self.successes, 1),
            "failures": r(self.failed, 1), "failures_by_reason": {k: r(v, 1) for k, v in sorted(self.failures.items())},
            "error_ratio": r(self.error_ratio, 5), "p99_ms": r(self.p99_ms), "mean_ms": r(self.mean_ms),
            "queue_ms": r(self.queue_ms), "latency_summaries": self.summaries,
        }


def _selector(namespaces: list[str]) -> str:
    # Namespaces are triton-<DNS label>: no regex metacharacters to escape.
    return f'{NAMESPACE_LABEL}=~"{"|".join(sorted(set(namespaces)))}"'


def queries(namespaces: list[str], window: str) -> dict[str, str]:
    """The PromQL the analysis runs, one instant query per quantity for every track at once."""
    sel, w = _selector(namespaces), window
    by = f"{NAMESPACE_LABEL}, {MODEL_LABEL}, {VERSION_LABEL}"
    return {
        "present": f"count by ({by}) (last_over_time({METRIC_SUCCESS}{{{sel}}}[{w}]))",
        "successes": f"sum by ({by}) (increase({METRIC_SUCCESS}{{{sel}}}[{w}]))",
        "failures": f"sum by ({by}, {REASON_LABEL}) (increase({METRIC_FAILURE}{{{sel}}}[{w}]))",
        "request_us": f"sum by ({by}) (increase({METRIC_REQUEST_US}{{{sel}}}[{w}]))",
        "queue_us": f"sum by ({by}) (increase({METRIC_QUEUE_US}{{{sel}}}[{w}]))",
        # max over replicas and over time; NaN (no request in Triton's own window) loses to any number
        "p99_us": f'max by ({by}) (max_over_time({METRIC_REQUEST_SUMMARY_US}{{{sel},quantile="0.99"}}[{w}]))',
    }


def collect(prom: Prometheus, targets: list[CanaryTarget], window: str, at: float
            ) -> dict[tuple[str, str, int], TrackStats]:
    """TrackStats for the stable and canary version of every target, keyed (namespace, model, version)."""
    raw: dict[str, list[tuple[dict[str, str], float]]] = {
        name: prom.query(expr, at) for name, expr in queries([t.namespace for t in targets], window).items()}

    def key(labels: dict[str, str]) -> tuple[str, str, str]:
        return labels.get(NAMESPACE_LABEL, ""), labels.get(MODEL_LABEL, ""), labels.get(VERSION_LABEL, "")

    out = {}
    for t in targets:
        for version in (t.stable_version, t.canary_version):
            k = (t.namespace, t.model, str(version))
            pick = {name: [(lab, v) for lab, v in rows if key(lab) == k] for name, rows in raw.items()}

            def total(name: str) -> float:
                return sum(v for _, v in pick[name] if not math.isnan(v))

            p99 = [v for _, v in pick["p99_us"] if not math.isnan(v)]
            out[(t.namespace, t.model, version)] = TrackStats(
                version=version,
                present=bool(pick["present"]),
                successes=total("successes"),
                failures={lab.get(REASON_LABEL) or "unlabelled": v for lab, v in pick["failures"] if not math.isnan(v)},
                request_us=total("request_us"),
                queue_us=total("queue_us"),
                p99_ms=max(p99) / 1000 if p99 else None,
                summaries=bool(pick["p99_us"]),
            )
    return out


# -- the verdict (pure) -----------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    result: Result
    message: str
    canary: float | None = None
    stable: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "result": self.result, "canary": self.canary, "stable": self.stable,
                "threshold": self.threshold, "message": self.message}


@dataclass(frozen=True)
class Change:
    """The stack config edit to make next (key paths in the platform config)."""

    action: Literal["step", "promote", "roll_back"]
    edits: tuple[tuple[str, Any, Any], ...]
    """(path, from, to)."""
    delete: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        parts = [f"{p}: {a} -> {b}" for p, a, b in self.edits] + [f"delete {p}" for p in self.delete]
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "edits": [{"path": p, "from": a, "to": b} for p, a, b in self.edits],
                "delete": list(self.delete), "summary": self.summary}


@dataclass(frozen=True)
class ModelVerdict:
    target: CanaryTarget
    stable: TrackStats
    canary: TrackStats
    checks: tuple[Check, ...]
    verdict: Verdict
    change: Change | None

    @property
    def reasons(self) -> list[str]:
        """The checks that decided the verdict (all of them for a promotion)."""
        if self.verdict == "promote":
            return [c.message for c in self.checks if c.result == "pass"]
        return [c.message for c in self.checks if c.result == self.verdict]

    @property
    def canary_share(self) -> float | None:
        total = self.canary.requests + self.stable.requests
        return self.canary.requests / total if total > 0 else None

    def as_dict(self, window_s: float) -> dict[str, Any]:
        share = self.canary_share
        return {
            **self.target.as_dict(), "verdict": self.verdict, "reasons": self.reasons,
            "change": self.change.as_dict() if self.change else None,
            "stable": self.stable.as_dict(window_s), "canary": self.canary.as_dict(window_s),
            "observed_canary_share": None if share is None else round(share, 4),
            "checks": [c.as_dict() for c in self.checks],
        }


def _ms(x: float | None) -> str:
    return "none" if x is None else f"{x:.1f} ms"


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{x:.2%}"


def _times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "above"


def _n(x: float) -> str:
    return f"{x:.0f}"


def _failures(s: TrackStats) -> str:
    parts = [f"{_n(v)} {k}" for k, v in sorted(s.failures.items()) if v >= 0.5]
    return f" ({', '.join(parts)})" if parts else ""


def judge(t: CanaryTarget, stable: TrackStats, canary: TrackStats, th: Thresholds, window: str) -> ModelVerdict:
    """Promote, hold or roll back one canary from its tracks' numbers (module docstring)."""
    checks: list[Check] = []
    full = t.weight >= 100  # stable takes no traffic by design: nothing to compare with
    need = th.min_requests
    c_ok = canary.requests >= need
    s_ok = full or stable.requests >= need
    cv, sv = f"canary v{t.canary_version}", f"stable v{t.stable_version}"

    # traffic
    short = []
    if not canary.present:
        short.append(f"no metrics of {cv} in namespace {t.namespace} over {window} (not running or not scraped)")
    elif not c_ok:
        short.append(f"{cv} served {_n(canary.requests)} requests over {window}, fewer than {need}")
    if not full and not stable.present:
        short.append(f"no metrics of {sv} in namespace {t.namespace} over {window}: no baseline")
    elif not s_ok:
        short.append(f"{sv} served {_n(stable.requests)} requests over {window}, fewer than {need}: no baseline")
    if short:
        checks.append(Check("traffic", "hold", "too little traffic to judge: " + "; ".join(short),
                            canary.requests, stable.requests, need))
    else:
        checks.append(Check("traffic", "pass", f"traffic: {_n(canary.requests)} canary and "
                            f"{_n(stable.requests)} stable requests over {window} (minimum {need})",
                            canary.requests, stable.requests, need))

    # errors
    ratio = canary.error_ratio
    if ratio is None:
        checks.append(Check("error_ratio", "skip", f"error ratio: {cv} served no request", None,
                            stable.error_ratio, th.max_error_ratio))
    elif ratio > th.max_error_ratio:
        said = (f"error ratio {_pct(ratio)} of {cv} ({_n(canary.failed)} of {_n(canary.requests)} failed"
                f"{_failures(canary)}) exceeds {_pct(th.max_error_ratio)} (stable: {_pct(stable.error_ratio)})")
        if c_ok or canary.failed > th.failure_budget:
            checks.append(Check("error_ratio", "roll_back", said, ratio, stable.error_ratio, th.max_error_ratio))
        else:
            checks.append(Check("error_ratio", "hold", f"{said}, but {_n(canary.failed)} failures in "
                                f"{_n(canary.requests)} requests are not yet conclusive", ratio,
                                stable.error_ratio, th.max_error_ratio))
    else:
        checks.append(Check("error_ratio", "pass", f"error ratio {_pct(ratio)} of {cv} within "
                            f"{_pct(th.max_error_ratio)} (stable: {_pct(stable.error_ratio)})",
                            ratio, stable.error_ratio, th.max_error_ratio))

    # p99 against the SLA
    no_summaries = f"Triton exports no latency summaries for {{}} (run it with {' '.join(TRITON_METRICS_ARGS)})"
    if not c_ok:
        checks.append(Check("p99", "skip", "p99: too little canary traffic", canary.p99_ms, stable.p99_ms,
                            th.max_p99_ms))
    elif canary.p99_ms is None:
        why = no_summaries.format(cv) if not canary.summaries else f"{cv} has no p99 sample in the window"
        checks.append(Check("p99", "hold", f"cannot judge p99: {why}", None, stable.p99_ms, th.max_p99_ms))
    elif canary.p99_ms > th.max_p99_ms:
        checks.append(Check("p99", "roll_back", f"p99 {_ms(canary.p99_ms)} of {cv} exceeds the "
                            f"{_ms(th.max_p99_ms)} SLA (stable: {_ms(stable.p99_ms)})",
                            canary.p99_ms, stable.p99_ms, th.max_p99_ms))
    else:
        checks.append(Check("p99", "pass", f"p99 {_ms(canary.p99_ms)} of {cv} within the {_ms(th.max_p99_ms)} SLA",
                            canary.p99_ms, stable.p99_ms, th.max_p99_ms))

    # p99 against stable
    bound = None if stable.p99_ms is None else max(stable.p99_ms * th.max_p99_ratio, stable.p99_ms + th.p99_slack_ms)
    if full:
        checks.append(Check("p99_vs_stable", "skip", "p99 vs stable: weight 100, stable takes no traffic",
                            canary.p99_ms, stable.p99_ms, None))
    elif not (c_ok and s_ok) or canary.p99_ms is None:
        checks.append(Check("p99_vs_stable", "skip", "p99 vs stable: nothing to compare yet",
                            canary.p99_ms, stable.p99_ms, None))
    elif bound is None:
        why = no_summaries.format(sv) if not stable.summaries else f"{sv} has no p99 sample in the window"
        checks.append(Check("p99_vs_stable", "hold", f"cannot compare p99 with stable: {why}",
                            canary.p99_ms, None, None))
    elif canary.p99_ms > bound:
        checks.append(Check("p99_vs_stable", "roll_back",
                            f"p99 {_ms(canary.p99_ms)} of {cv} is {_times(canary.p99_ms, stable.p99_ms)} stable's "
                            f"{_ms(stable.p99_ms)} (allowed: {th.max_p99_ratio:g}x or +{_ms(th.p99_slack_ms)}, "
                            f"whichever is more: {_ms(bound)})", canary.p99_ms, stable.p99_ms, bound))
    else:
        checks.append(Check("p99_vs_stable", "pass", f"p99 {_ms(canary.p99_ms)} of {cv} vs stable's "
                            f"{_ms(stable.p99_ms)} within {_ms(bound)}", canary.p99_ms, stable.p99_ms, bound))

    # queue time: a capacity signal (the canary track has fewer replicas), so hold, not roll back
    q = canary.queue_ms
    if not c_ok or q is None:
        checks.append(Check("queue_time", "skip", "queue time: too little canary traffic", q, stable.queue_ms,
                            th.max_queue_ms))
    elif q > th.max_queue_ms:
        checks.append(Check("queue_time", "hold", f"queue time {_ms(q)} per request of {cv} exceeds "
                            f"{_ms(th.max_queue_ms)} (stable: {_ms(stable.queue_ms)}): the canary track is "
                            "saturated; give it replicas before more traffic", q, stable.queue_ms, th.max_queue_ms))
    else:
        checks.append(Check("queue_time", "pass", f"queue time {_ms(q)} per request of {cv} within "
                            f"{_ms(th.max_queue_ms)} (stable: {_ms(stable.queue_ms)})", q, stable.queue_ms,
                            th.max_queue_ms))

    worst = max((c.result for c in checks), key=_RANK.__getitem__)
    verdict: Verdict = "roll_back" if worst == "roll_back" else "hold" if worst == "hold" else "promote"
    return ModelVerdict(t, stable, canary, tuple(checks), verdict, change_for(t, verdict, th.ladder))


def change_for(t: CanaryTarget, verdict: Verdict, ladder: tuple[int, ...] = LADDER) -> Change | None:
    """The config edit a verdict asks for: None to hold."""
    weight = f"{t.path}.canary.weight"
    if verdict == "roll_back":
        return Change("roll_back", ((weight, t.weight, 0),))
    if verdict == "hold":
        return None
    step = next_weight(t.weight, ladder)
    if step is not None:
        return Change("step", ((weight, t.weight, step),))
    return Change("promote", ((f"{t.path}.version", t.stable_version, t.canary_version),
                              (f"{t.path}.digest", t.stable_digest, t.canary_digest)), (f"{t.path}.canary",))


# -- the whole analysis --------------------------------------------------------------------
@dataclass
class CanaryReport:
    stack: str
    prometheus: str
    window: str
    thresholds: Thresholds
    region: str | None = None
    evaluated_at: float | None = None
    verdicts: list[ModelVerdict] = field(default_factory=list)
    rolled_back: list[CanaryTarget] = field(default_factory=list)
    """Canaries at weight 0: not deployed, nothing to analyze."""
    message: str = ""

    @property
    def window_s(self) -> float:
        return duration_seconds(self.window)

    @property
    def exit_code(self) -> int:
        return 1 if any(v.verdict == "roll_back" for v in self.verdicts) else 0

    def counts(self) -> dict[str, int]:
        return {k: sum(v.verdict == k for v in self.verdicts) for k in ("promote", "hold", "roll_back")}

    def as_dict(self) -> dict[str, Any]:
        at = self.evaluated_at
        return {
            "stack": self.stack, "region": self.region, "prometheus": self.prometheus, "window": self.window,
            "window_s": self.window_s,
            "evaluated_at": None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "thresholds": self.thresholds.as_dict(), "message": self.message, "summary": self.counts(),
            "models": [v.as_dict(self.window_s) for v in self.verdicts],
            "rolled_back": [t.as_dict() for t in self.rolled_back],
            "exit_code": self.exit_code,
        }


def check_window(window: str) -> str:
    """A Prometheus duration of at least one second, or a UsageError naming ``--window``."""
    try:
        ok = duration_seconds(window) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UsageError(f"--window: {window!r} is not a Prometheus duration of at least 1s (e.g. 10m, 1h, 90s)")
    return window


def analyze(cfg: Any, stack: str, prometheus_url: str, *, window: str = DEFAULT_WINDOW, region: str | None = None,
            thresholds: Thresholds | None = None, timeout: float = 10.0, at: float | None = None) -> CanaryReport:
    """Judge every active canary of the stack in one region (module docstring).

    Bad input (window, region, URL) and an unreachable or failing Prometheus raise
    (UsageError, PrometheusError: exit 2). A stack without an active canary is a report
    with a message and no verdicts; Prometheus is not asked then."""
    check_window(window)
    th = thresholds or Thresholds.from_slo(cfg.monitoring.slo)
    prom = Prometheus(prometheus_url, timeout)
    report = CanaryReport(stack, prom.url, window, th)
    names = [r.name for r in cfg.regions]
    if region is not None and region not in names:
        raise UsageError(f"--region: stack {stack} has no region {region!r} (regions: {', '.join(names)})")
    active, inactive = canary_targets(cfg, region)
    if not active:
        where = f" in region {region}" if region else ""
        report.rolled_back = inactive
        report.message = f"no canary with weight > 0 in stack {stack}{where}: nothing to analyze"
        return report
    report.region = resolve_region(cfg, stack, region, prom.external_labels())
    active, report.rolled_back = canary_targets(cfg, report.region)
    if not active:
        report.message = f"no canary with weight > 0 serves in region {report.region}: nothing to analyze"
        return report
    report.evaluated_at = time.time() if at is None else at
    stats = collect(prom, active, window, report.evaluated_at)
    report.verdicts = [
        judge(t, stats[(t.namespace, t.model, t.stable_version)], stats[(t.namespace, t.model, t.canary_version)],
              th, window)
        for t in active
    ]
    return report
