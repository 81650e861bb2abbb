"""GCP side of monitoring (``StackMonitoring``): Cloud Monitoring channels, alert policies, the billing budget.

Notification channels for the email channels (and PagerDuty when its routing key is in
the stack's secrets; Slack gets Alertmanager's notifications only), alert policies on the
global load balancer's 5xx ratio and p99 latency, and a billing budget on the
``cost-center`` label with the same thresholds as on AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from aiplat._base import AiplatComponent
from aiplat.config.monitoring import duration_seconds

if TYPE_CHECKING:
    from aiplat.monitoring import StackMonitoringArgs


def stack_alerts(owner: AiplatComponent, n: str,
                 a: StackMonitoringArgs) -> tuple[dict[str, pulumi.Output[str]], str | None]:
    """Notification channels, load balancer alert policies, the billing budget: (channel -> id, budget name)."""
    m, slo = a.monitoring, a.monitoring.slo
    channel_ids: dict[str, pulumi.Output[str]] = {}
    labels = {k.lower(): v for k, v in a.tags.items()}
    by_severity: dict[str, list[pulumi.Output[str]]] = {s: [] for s in ("critical", "warning", "info")}
    for c in m.channels.email:
        ch = gcp.monitoring.NotificationChannel(
            f"{n}-email-{c.address}",
            project=a.gcp_project, type="email", display_name=f"aiplat {a.stack} {c.address}",
            labels={"email_address": c.address}, user_labels=labels, opts=owner._opts(),
        )
        channel_ids[f"email-{c.address}"] = ch.id
        for s in c.severities:
            by_severity[s].append(ch.id)
    for c in m.channels.pagerduty:
        ns, _, key = c.routing_key_secret.rpartition(":")
        service_key = pulumi.Config(ns or None).get_secret(key)
        if service_key is None:
            continue  # not in this stack's config: PagerDuty gets Alertmanager's pages only
        ch = gcp.monitoring.NotificationChannel(
            f"{n}-pagerduty-{c.name}",
            project=a.gcp_project, type="pagerduty", display_name=f"aiplat {a.stack} {c.name}",
            sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(service_key=service_key),
            user_labels=labels, opts=owner._opts(),
        )
        channel_ids[f"pagerduty-{c.name}"] = ch.id
        for s in c.severities:
            by_severity[s].append(ch.id)
    # Slack on GCP would need a Slack app token or a webhook URL in a non-sensitive label:
    # Slack channels get Alertmanager's notifications only.
    if a.url_map_name is not None:
        lb = pulumi.Output.concat('resource.type="https_lb_rule" AND resource.label.url_map_name="',
                                  a.url_map_name, '"')
        count = pulumi.Output.concat('metric.type="loadbalancing.googleapis.com/https/request_count" AND ', lb)
        rate = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
            alignment_period="60s", per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM")

        def policy(role: str, title: str, condition: str, threshold, runbook: str) -> None:
            gcp.monitoring.AlertPolicy(
                f"{n}-lb-{role}",
                project=a.gcp_project,
                display_name=f"aiplat {a.stack}: load balancer {title}",
                combiner="OR",
                severity="CRITICAL",
                conditions=[gcp.monitoring.AlertPolicyConditionArgs(display_name=condition,
                                                                    condition_threshold=threshold)],
                notification_channels=by_severity["critical"],
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=f"See {m.runbook_url}#{runbook}", mime_type="text/markdown"),
                user_labels=labels,
                opts=owner._opts(),
            )

        policy("5xx", f"5xx ratio above {slo.error_ratio:g}", "5xx / all requests",
               gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                   filter=pulumi.Output.concat(count, ' AND metric.label.response_code_class="500"'),
                   denominator_filter=count,
                   aggregations=[rate], denominator_aggregations=[rate],
                   comparison="COMPARISON_GT", threshold_value=slo.error_ratio,
                   duration=f"{int(duration_seconds(slo.error_for))}s",
               ), "tritonerrorratiohigh")
        policy("latency", f"p99 latency above {slo.p99_latency_ms:g} ms", "p99 total latency",
               gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                   filter=pulumi.Output.concat(
                       'metric.type="loadbalancing.googleapis.com/https/total_latencies" AND ', lb),
                   aggregations=[gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                       alignment_period="60s", per_series_aligner="ALIGN_PERCENTILE_99",
                       cross_series_reducer="REDUCE_MAX")],
                   comparison="COMPARISON_GT", threshold_value=slo.p99_latency_ms,
                   duration=f"{int(duration_seconds(slo.latency_for))}s",
               ), "tritonp99latencyhigh")
    if m.monthly_budget_usd is None:
        return channel_ids, None
    budget_name = f"aiplat-{a.stack}-monthly"
    project = gcp.organizations.get_project_output(project_id=a.gcp_project,
                                                   opts=pulumi.InvokeOptions(parent=owner))
    rules = [gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
             for t in m.budget_thresholds]
    rules.append(gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"))
    email_ids = [v for k, v in channel_ids.items() if k.startswith("email-")][:5]  # API allows 5
    # The Billing Budget API is accounted to the caller's quota project: with user credentials the
    # provider must name one, or the API answers 403 (pulumi_gcp 10.2.0 gcp.billing.Budget docstring).
    # This provider names the stack's project, where ProjectApis enables billingbudgets.googleapis.com
    # (the deployer needs serviceusage.services.use there: Owner and Editor have it).
    billing = gcp.Provider(f"{n}-billing", project=a.gcp_project, billing_project=a.gcp_project,
                           user_project_override=True, opts=pulumi.ResourceOptions(parent=owner))
    gcp.billing.Budget(
        f"{n}-budget",
        billing_account=m.gcp_billing_account,
        display_name=budget_name,
        amount=gcp.billing.BudgetAmountArgs(specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
            currency_code="USD", units=str(int(m.monthly_budget_usd)))),
        budget_filter=gcp.billing.BudgetBudgetFilterArgs(
            projects=[project.number.apply(lambda num: f"projects/{num}")],
            labels={"cost-center": a.cost_center},
            calendar_period="MONTH",
        ),
        threshold_rules=rules,
        all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(monitoring_notification_channels=email_ids),
        opts=owner._opts(provider=billing),
    )
    return channel_ids, budget_name
