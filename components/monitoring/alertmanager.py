"""Alertmanager's configuration for one cluster, rendered from the stack's channels (pure).

One receiver per channel of ``monitoring.channels``, routed by the severities it lists
(every severity reaches at least one channel: ``MonitoringConfig`` refuses a stack where
one would not); email goes through the stack's SMTP relay (``monitoring.smtp``). The
always-firing ``Watchdog`` and the ``InfoInhibitor`` helper of kube-prometheus-stack go
nowhere. Inhibition: kube-prometheus-stack's own rules (same alert at a lower severity,
InfoInhibitor muting info alerts of its namespace) plus ours, each naming the alert pair it
relates, so that a critical alert mutes only its own warning twin for the same model
version (never an unrelated warning that merely lacks the same labels).

Credentials are never in the rendered document: Slack webhooks, PagerDuty routing keys and
the SMTP password are file references into the Kubernetes Secret ``aiplat-alert-receivers``
(mounted by the Alertmanager pod), so ``amtool check-config`` can check what is deployed
without holding a secret.

The chart deep-merges its default ``alertmanager.config`` with ours (maps merged, lists
replaced): ``alertmanager_config`` sets every key the chart's default sets
(``CHART_CONFIG_KEYS``), so the merged document is exactly what this function returns.
"""

from __future__ import annotations

from typing import Any

from aiplat.config.monitoring import MonitoringConfig
from aiplat.errors import Problem

RECEIVERS_SECRET = "aiplat-alert-receivers"
SECRETS_DIR = "/etc/alertmanager/secrets"
# The keys kube-prometheus-stack 75.15.1 sets in values.yaml `alertmanager.config` (read at
# tag kube-prometheus-stack-75.15.1): a key we did not set would survive Helm's merge.
CHART_CONFIG_KEYS = {
    "global": {"resolve_timeout"},
    "route": {"group_by", "group_wait", "group_interval", "repeat_interval", "receiver", "routes"},
    "inhibit_rules": None,
    "receivers": None,
    "templates": None,
}
# Where the chart mounts `alertmanager.templateFiles` (its default `templates` value).
TEMPLATES = ["/etc/alertmanager/config/*.tmpl"]
# kube-prometheus-stack's rule (general.rules) that fires while info alerts fire in a
# namespace without a warning or critical one; it exists to mute them, never to notify.
INFO_INHIBITOR = "InfoInhibitor"
# Our critical alerts that make a warning redundant: (source, target, labels both carry).
TWINS = (
    ("TritonP99LatencyHigh", "TritonP95LatencyNearSla", ("model", "version")),
    ("TritonQueueFull", "TritonQueueTimeHigh", ("model", "version")),
)


def secret_key(ref: str) -> str:
    """Pulumi config key (maybe namespaced) -> (namespace, key): 'aiplat:slackX' -> 'slackX'."""
    return ref.split(":", 1)[-1]


def secret_refs(m: MonitoringConfig) -> list[str]:
    """Every secret config key the channels and the SMTP relay name, in config order, without repeats."""
    refs = [c.webhook_secret for c in m.channels.slack] + [c.routing_key_secret for c in m.channels.pagerduty]
    if m.smtp is not None and m.smtp.password_secret:
        refs.append(m.smtp.password_secret)
    return list(dict.fromkeys(refs))


def _file(ref: str) -> str:
    return f"{SECRETS_DIR}/{RECEIVERS_SECRET}/{secret_key(ref)}"


def _inhibit_rules() -> list[dict[str, Any]]:
    present = lambda labels: [f'{label}=~".+"' for label in labels]  # noqa: E731
    rules: list[dict[str, Any]] = [
        # kube-prometheus-stack's (our list replaces the chart's, so they are restated): the
        # same alert at a higher severity mutes its lower ones, InfoInhibitor mutes the info
        # alerts of its namespace, and InfoInhibitor itself never notifies.
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": [f'alertname="{INFO_INHIBITOR}"'], "target_matchers": ['severity="info"'],
         "equal": ["namespace"]},
        {"target_matchers": [f'alertname="{INFO_INHIBITOR}"']},
    ]
    for source, target, labels in TWINS:
        # Alertmanager treats a label both alerts lack as equal: require the labels on both
        # sides, so only the same model version is muted.
        rules.append({
            "source_matchers": [f'alertname="{source}"', *present(labels)],
            "target_matchers": [f'alertname="{target}"', *present(labels)],
            "equal": ["stack", *labels],
        })
    return rules


def alertmanager_config(m: MonitoringConfig) -> dict[str, Any]:
    """Alertmanager's configuration: one receiver per channel, routed by the severities it lists.

    Credentials are file references only (mounted from the receivers Secret)."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        # kube-prometheus-stack's always-firing heartbeat and its info-muting helper: never a notification.
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
        {"receiver": "null", "matchers": [f'alertname="{INFO_INHIBITOR}"']},
    ]

    def add(name: str, severities: list[str], config: dict[str, Any]) -> None:
        receivers.append({"name": name, **config})
        routes.append({"receiver": name, "matchers": [f'severity=~"{"|".join(severities)}"'], "continue": True})

    for c in m.channels.email:
        add(f"email-{c.address}", c.severities, {"email_configs": [{"to": c.address, "send_resolved": True}]})
    for c in m.channels.slack:
        add(f"slack-{c.name}", c.severities, {"slack_configs": [{
            "api_url_file": _file(c.webhook_secret),
            "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.severity }}: {{ .CommonLabels.alertname }}',
            "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n'
                    '{{ .Annotations.runbook_url }}\n{{ end }}',
        }]})
    for c in m.channels.pagerduty:
        add(f"pagerduty-{c.name}", c.severities, {"pagerduty_configs": [{
            "routing_key_file": _file(c.routing_key_secret),
            "send_resolved": True,
            "severity": "{{ .CommonLabels.severity }}",
            "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
        }]})
    glob: dict[str, Any] = {"resolve_timeout": "5m"}  # the chart's value (and Alertmanager's default)
    if m.smtp is not None:
        glob.update({"smtp_smarthost": m.smtp.smarthost, "smtp_from": m.smtp.sender,
                     "smtp_require_tls": m.smtp.require_tls})
        if m.smtp.username:
            glob.update({"smtp_auth_username": m.smtp.username,
                         "smtp_auth_password_file": _file(m.smtp.password_secret)})
    return {
        "global": glob,
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "stack", "namespace", "model", "pool"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": _inhibit_rules(),
        "receivers": receivers,
        "templates": list(TEMPLATES),
    }


def validate_secrets(m: MonitoringConfig, present: dict[str, Any]) -> list[Problem]:
    """All of the channels' secrets or none: a partial Secret would silently drop a channel."""
    refs = secret_refs(m)
    missing = [r for r in refs if r not in present]
    if present and missing:
        return [Problem("monitoring.channels", f"Pulumi config holds some channel secrets but not "
                                               f"{', '.join(missing)}; set them with `pulumi config set --secret`, "
                                               "or hold none and sync the Secret out of band")]
    return []
