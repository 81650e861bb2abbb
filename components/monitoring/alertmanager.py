"""Alertmanager's configuration for one cluster, rendered from the stack's channels (pure).

One receiver per channel of ``monitoring.channels``, routed by the severities it lists;
the always-firing ``Watchdog`` goes nowhere; a critical alert mutes its warning twin for
the same model/pool. Credentials are never in the rendered document: Slack webhooks and
PagerDuty routing keys are file references into the Kubernetes Secret
``aiplat-alert-receivers`` (mounted by the Alertmanager pod), so ``amtool check-config``
can check what is deployed without holding a secret.
"""

from __future__ import annotations

from typing import Any

from aiplat.config.monitoring import MonitoringConfig
from aiplat.errors import Problem

RECEIVERS_SECRET = "aiplat-alert-receivers"
SECRETS_DIR = "/etc/alertmanager/secrets"


def secret_key(ref: str) -> str:
    """Pulumi config key (maybe namespaced) -> (namespace, key): 'aiplat:slackX' -> 'slackX'."""
    return ref.split(":", 1)[-1]


def secret_refs(m: MonitoringConfig) -> list[str]:
    """Every secret config key the channels name, in config order, without repeats."""
    refs = [c.webhook_secret for c in m.channels.slack] + [c.routing_key_secret for c in m.channels.pagerduty]
    return list(dict.fromkeys(refs))


def _file(ref: str) -> str:
    return f"{SECRETS_DIR}/{RECEIVERS_SECRET}/{secret_key(ref)}"


def alertmanager_config(m: MonitoringConfig) -> dict[str, Any]:
    """Alertmanager's configuration: one receiver per channel, routed by the severities it lists.

    Credentials are file references only (mounted from the receivers Secret). Email
    receivers need an SMTP relay (``monitoring.smtp_smarthost``); without one, email
    channels get only the cloud-side alarms."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        # kube-prometheus-stack's always-firing heartbeat: never a notification.
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
    ]

    def add(name: str, severities: list[str], config: dict[str, Any]) -> None:
        receivers.append({"name": name, **config})
        routes.append({"receiver": name, "matchers": [f'severity=~"{"|".join(severities)}"'], "continue": True})

    if m.smtp_smarthost:
        for c in m.channels.email:
            add(f"email-{c.address}", c.severities,
                {"email_configs": [{"to": c.address, "send_resolved": True}]})
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
    config: dict[str, Any] = {
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "stack", "namespace", "model", "pool"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        # A paging alert already tells the story: mute its warning twin for the same model/pool.
        "inhibit_rules": [{
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["stack", "model", "pool"],
        }],
        "receivers": receivers,
    }
    if m.smtp_smarthost:
        config["global"] = {"smtp_smarthost": m.smtp_smarthost, "smtp_from": m.smtp_from, "smtp_require_tls": True}
    return config


def validate_secrets(m: MonitoringConfig, present: dict[str, Any]) -> list[Problem]:
    """All of the channels' secrets or none: a partial Secret would silently drop a channel."""
    refs = secret_refs(m)
    missing = [r for r in refs if r not in present]
    if present and missing:
        return [Problem("monitoring.channels", f"Pulumi config holds some channel secrets but not "
                                               f"{', '.join(missing)}; set them with `pulumi config set --secret`, "
                                               "or hold none and sync the Secret out of band")]
    return []

