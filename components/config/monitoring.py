"""``monitoring``: service level objectives, who is told (email, Slack, PagerDuty), budgets.

Every field has a default, so a stack without a ``monitoring:`` section is valid. The
alert rules, dashboards and Alertmanager configuration derived from it are built by
``aiplat.monitoring``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from aiplat.config._base import _Model, rule
from aiplat.errors import Problem

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")

# Prometheus durations: one or more <int><unit>, e.g. 5m, 1h30m, 30s.
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# A Pulumi config key (optionally namespaced) naming a secret value, e.g. slackOpsWebhook
# or aiplat:slackOpsWebhook.
_SECRET_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*:)?[A-Za-z][A-Za-z0-9_.-]*$")


def _duration(v: str) -> str:
    if not isinstance(v, str) or not _DURATION.match(v):
        raise ValueError(f"{v!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
    return v


def duration_seconds(v: str) -> float:
    """'1h30m' -> 5400.0 (Prometheus duration units)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", _duration(v)))


class SloConfig(_Model):
    """Service level objectives of the inference endpoints and the GPU health thresholds."""

    p99_latency_ms: float = Field(500.0, gt=0, description="p99 request latency SLA in ms (Triton request time). Default 500.")
    latency_for: str = Field("5m", description="How long p99 must exceed the SLA before paging. Default 5m.")
    p95_warning_fraction: float = Field(
        0.8, gt=0, le=1, description="Warn when p95 exceeds this fraction of the p99 SLA. Default 0.8."
    )
    error_ratio: float = Field(0.01, gt=0, lt=1, description="Page when failed/all requests exceeds this. Default 0.01 (1 %).")
    error_for: str = Field("5m", description="How long the error ratio must stay above it. Default 5m.")
    rate_window: str = Field("5m", description="Window of rate() in ratios and averages. Default 5m.")
    down_for: str = Field("2m", description="How long an endpoint may be down before paging. Default 2m.")
    queue_time_warning_ms: float = Field(100.0, gt=0, description="Warn when mean queue time per request exceeds it. Default 100.")
    queue_full_fraction: float = Field(
        0.9, gt=0, le=1,
        description="Page (TritonQueueFull) when a replica's pending requests reach this fraction of the model's "
                    "max_queue_size for error_for: at the size Triton refuses requests (503) and counts none of "
                    "them as failures. Default 0.9.",
    )
    gpu_util_warning: float = Field(0.8, gt=0, le=1, description="Warn when a GPU's utilisation exceeds it. Default 0.8 (80 %).")
    gpu_memory_exhaustion: float = Field(
        0.95, gt=0, le=1, description="Page when a GPU's framebuffer use exceeds this fraction. Default 0.95."
    )
    gpu_for: str = Field("5m", description="How long GPU memory must stay exhausted before paging. Default 5m.")
    warning_for: str = Field("15m", description="How long warning-tier conditions must hold. Default 15m.")
    rate_limit_rps: float | None = Field(
        None, gt=0, description="Request rate limit per region (the gateway throttle). Default: none, no rate alert."
    )
    rate_limit_warning_fraction: float = Field(
        0.8, gt=0, le=1, description="Info alert when traffic exceeds this fraction of rate_limit_rps. Default 0.8."
    )
    version_change_window: str = Field(
        "10m", description="A model version counts as new for this long after it appears. Default 10m."
    )

    _durations = field_validator(
        "latency_for", "error_for", "rate_window", "down_for", "gpu_for", "warning_for", "version_change_window"
    )(_duration)

    @property
    def p95_warning_ms(self) -> float:
        return self.p99_latency_ms * self.p95_warning_fraction


def _severities(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("must name at least one of critical, warning, info")
    if len(set(v)) != len(v):
        raise ValueError("must not repeat a severity")
    return v


def _secret_ref(v: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://", v, re.I):
        raise ValueError(
            "is a plaintext URL; store it as a Pulumi secret (pulumi config set --secret aiplat:NAME URL) "
            "and give NAME here"
        )
    if not _SECRET_KEY.match(v):
        raise ValueError(f"{v!r} is not a Pulumi config key naming a secret (e.g. slackOpsWebhook)")
    return v


def _email(v: str) -> str:
    if not _EMAIL.match(v):
        raise ValueError(f"{v!r} is not an email address")
    return v


class EmailChannel(_Model):
    address: str = Field(description="Email address alerts go to.")
    severities: list[Severity] = Field(["critical", "warning"], description="Default: critical and warning.")

    _address = field_validator("address")(_email)
    _sev = field_validator("severities")(_severities)


class SlackChannel(_Model):
    name: str = Field(description="Receiver name (e.g. the Slack channel), unique among Slack channels.")
    webhook_secret: str = Field(description="Pulumi secret config key holding the incoming-webhook URL; never the URL.")
    severities: list[Severity] = Field(["critical", "warning"], description="Default: critical and warning.")

    _ref = field_validator("webhook_secret")(_secret_ref)
    _sev = field_validator("severities")(_severities)


class PagerDutyChannel(_Model):
    name: str = Field(description="Receiver name (e.g. the PagerDuty service), unique among PagerDuty channels.")
    routing_key_secret: str = Field(description="Pulumi secret config key holding the Events v2 routing key.")
    severities: list[Severity] = Field(["critical"], description="Default: critical only (pages).")

    _ref = field_validator("routing_key_secret")(_secret_ref)
    _sev = field_validator("severities")(_severities)


class SmtpConfig(_Model):
    """The SMTP relay Alertmanager sends the email channels' alerts through.

    The password never appears in the stack file: ``password_secret`` names a Pulumi secret
    (``pulumi config set --secret aiplat:NAME PASSWORD``), which joins the receivers Secret and
    reaches Alertmanager as a file (``smtp_auth_password_file``)."""

    smarthost: str = Field(description="host:port of the relay, e.g. email-smtp.us-east-1.amazonaws.com:587.")
    sender: str = Field(description="From address of the alert emails (a verified sender of the relay).")
    username: str | None = Field(None, description="SMTP AUTH user name. Default: none (no authentication).")
    password_secret: str | None = Field(
        None, description="Pulumi secret config key holding the SMTP AUTH password; never the password. "
                          "Required with username.",
    )
    require_tls: bool = Field(True, description="Require STARTTLS. Default true.")

    _ref = field_validator("password_secret")(lambda v: v if v is None else _secret_ref(v))

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", v):
            raise ValueError(f"{v!r} must be host:port (e.g. email-smtp.us-east-1.amazonaws.com:587)")
        return v

    _sender = field_validator("sender")(_email)

    @rule
    def _auth_pair(self, ctx):
        if (self.username is None) != (self.password_secret is None):
            missing = "password_secret" if self.password_secret is None else "username"
            yield Problem(missing, "username and password_secret go together (SMTP AUTH needs both)")


class ChannelsConfig(_Model):
    """Who is told. Alertmanager routes each alert to every channel listing its severity."""

    email: list[EmailChannel] = Field(default_factory=list, description="Default: none.")
    slack: list[SlackChannel] = Field(default_factory=list, description="Default: none.")
    pagerduty: list[PagerDutyChannel] = Field(default_factory=list, description="Default: none.")

    @field_validator("slack", "pagerduty")
    @classmethod
    def _unique_names(cls, v: list) -> list:
        names = [c.name for c in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel name(s): {', '.join(dupes)}")
        return v


class MonitoringConfig(_Model):
    """The stack's monitoring: SLOs, notification channels and budget alerts.

    Every field has a default, so a stack without a ``monitoring:`` section is valid and
    gets the default SLOs (with no one notified until channels are added). Once channels
    are given, every severity must reach at least one of them, and email channels need
    ``smtp``: a severity or channel that would silently reach nobody is a config error."""

    slo: SloConfig = Field(default_factory=SloConfig, description="Default: the SloConfig defaults.")
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig, description="Default: no channels.")
    budget_thresholds: list[float] = Field(
        [0.8, 1.0], description="Budget alerts at these fractions of the monthly budget. Default [0.8, 1.0]."
    )
    monthly_budget_usd: float | None = Field(
        None, gt=0, description="Monthly spend the budget alerts measure against. Default: none (no budget)."
    )
    gcp_billing_account: str | None = Field(
        None,
        description="GCP billing account (XXXXXX-XXXXXX-XXXXXX) the budget is created on. Required on GCP when "
                    "monthly_budget_usd is set; only valid on GCP. Default: none.",
    )
    activate_cost_allocation_tags: bool = Field(
        True,
        description="AWS: activate the tag keys the budget filters on (cost-center) as cost allocation tags "
                    "(aws.costexplorer.CostAllocationTag, once per account): without it the budget counts $0. "
                    "Set false in an AWS Organizations member account (only the management account can "
                    "activate them: activate there) or on an account where no resource has carried the tag "
                    "yet (the key appears for activation up to 24 hours after first use; activating it "
                    "before fails). Ignored on GCP (budgets filter on labels). Default true.",
    )
    smtp: SmtpConfig | None = Field(
        None, description="The SMTP relay Alertmanager sends email through. Required with email channels (they "
                          "also get the cloud-side alarms and budget alerts). Default: none.",
    )
    runbook_url: str = Field(
        "https://github.com/aiplat/aiplat/blob/main/docs/runbooks.md",
        description="Runbook page; each alert links to #<alertname, lowercased>. Default: the project's runbooks.",
    )
    triton_job: str = Field(".*triton.*", description="Regex of the Prometheus job scraping Triton. Default .*triton.*")
    triton_deployment: str = Field(
        ".*triton.*", description="Regex of the Triton Deployment names (kube-state-metrics). Default .*triton.*"
    )

    @field_validator("budget_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("must list at least one fraction (e.g. [0.8, 1.0])")
        bad = [t for t in v if not 0 < t <= 2]
        if bad:
            raise ValueError(f"fractions must be in (0, 2], got {', '.join(map(str, bad))}")
        if list(v) != sorted(set(v)):
            raise ValueError("must be strictly increasing (e.g. [0.8, 1.0])")
        return v

    @field_validator("gcp_billing_account")
    @classmethod
    def _billing(cls, v: str | None, info) -> str | None:
        # The cloud comes from PlatformConfig's validation context (absent when validated alone).
        cloud = (info.context or {}).get("cloud")
        if v is not None and not re.match(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", v):
            raise ValueError(f"{v!r} is not a billing account id (XXXXXX-XXXXXX-XXXXXX, uppercase hex)")
        if cloud == "aws" and v is not None:
            raise ValueError("only valid when cloud is gcp (AWS budgets use the stack's account)")
        return v

    @rule
    def _billing_for_budget(self, ctx):
        if ctx.get("cloud") == "gcp" and self.gcp_billing_account is None and self.monthly_budget_usd is not None:
            yield Problem("gcp_billing_account",
                          "required on gcp when monthly_budget_usd is set (the billing budget lives on it)")

    @rule
    def _email_needs_smtp(self, ctx):
        if self.channels.email and self.smtp is None:
            yield Problem("smtp", f"required: channels.email lists {len(self.channels.email)} address(es) and "
                                  "Alertmanager sends email only through an SMTP relay "
                                  "(smtp: {smarthost, sender, username, password_secret})")

    @rule
    def _every_severity_received(self, ctx):
        # With channels, an alert of a severity none of them lists goes to Alertmanager's `null`
        # receiver: nobody hears of it. (No channels at all is a stack nobody is told about.)
        ch = self.channels
        listed = [c.severities for c in (*ch.email, *ch.slack, *ch.pagerduty)]
        if not listed:
            return
        for sev in SEVERITIES:
            if not any(sev in sevs for sevs in listed):
                yield Problem("channels", f"no channel receives {sev} alerts, so Alertmanager drops them: "
                                          f"add {sev!r} to the severities of a channel")

    @field_validator("runbook_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://\S+$", v) or "#" in v:
            raise ValueError(f"{v!r} must be an http(s) URL without a #fragment (alerts add their own)")
        return v

    @field_validator("triton_job", "triton_deployment")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"{v!r} is not a regex: {exc}") from None
        if '"' in v or "\\" in v:
            raise ValueError(f"{v!r}: quotes and backslashes are not supported in this selector")
        return v
