"""AWS side of monitoring: SNS alert topics, CloudWatch alarms, the AWS Budgets budget.

Per region (``Monitoring``): a KMS-encrypted SNS topic for the region's CloudWatch alarms
(alarms can only notify a topic in their own region), email subscriptions, and alarms on
the regional API gateway: 5XX ratio and p99 latency against the SLO. Per stack
(``StackMonitoring``): a topic in us-east-1 (Route 53 health-check metrics exist only
there), a ``HealthCheckStatus`` alarm per regional health check, and a cost budget on the
``cost-center`` tag alerting at each of ``monitoring.budget_thresholds`` (ACTUAL) and at
100 % FORECASTED, after the tag keys it filters on are activated as cost allocation tags
(``monitoring.activate_cost_allocation_tags``; a user-defined tag is inactive, and a budget
filtering on it counts $0, until then).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from aiplat._base import AiplatComponent
from aiplat.config.monitoring import MonitoringConfig, duration_seconds

if TYPE_CHECKING:
    from aiplat.monitoring import MonitoringArgs, StackMonitoringArgs

ROUTE53_REGION = "us-east-1"  # Route 53 publishes health-check metrics only here


def _minutes(d: str) -> int:
    return max(1, int(duration_seconds(d) // 60))


def gateway_alarms(owner: AiplatComponent, n: str, a: MonitoringArgs) -> pulumi.Output[str]:
    """The region's alert topic and, with a gateway, its 5xx-ratio and p99-latency alarms; the topic ARN."""
    slo = a.monitoring.slo
    topic = alert_topic(owner, n, a.monitoring, a.tags, a.production or a.protect, severity="critical")
    if a.gateway_api_id is None:
        return topic.arn
    dims = {"ApiId": a.gateway_api_id, "Stage": a.gateway_stage}
    err_periods = _minutes(slo.error_for)

    def metric(mid: str, name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=mid, return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/ApiGateway", metric_name=name, dimensions=dims, period=60, stat="Sum"),
        )

    # HTTP APIs publish 5xx/Count/Latency per ApiId and Stage; the ratio is the SLO's error ratio.
    aws.cloudwatch.MetricAlarm(
        f"{n}-gateway-5xx",
        alarm_description=f"{a.stack} {a.region}: API gateway 5xx ratio above {slo.error_ratio:g} "
                          f"for {slo.error_for}",
        comparison_operator="GreaterThanThreshold",
        threshold=slo.error_ratio,
        evaluation_periods=err_periods,
        datapoints_to_alarm=err_periods,
        treat_missing_data="notBreaching",  # no traffic is not an error
        metric_queries=[
            metric("errors", "5xx"),
            metric("requests", "Count"),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="ratio", expression="IF(requests > 0, errors / requests, 0)", label="5xx ratio",
                return_data=True),
        ],
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        tags={"Name": f"{n}-gateway-5xx", **a.tags},
        opts=owner._opts(),
    )
    lat_periods = _minutes(slo.latency_for)
    aws.cloudwatch.MetricAlarm(
        f"{n}-gateway-latency",
        alarm_description=f"{a.stack} {a.region}: API gateway p99 latency above {slo.p99_latency_ms:g} ms "
                          f"for {slo.latency_for}",
        namespace="AWS/ApiGateway",
        metric_name="Latency",
        dimensions=dims,
        extended_statistic="p99",
        period=60,
        comparison_operator="GreaterThanThreshold",
        threshold=slo.p99_latency_ms,
        evaluation_periods=lat_periods,
        datapoints_to_alarm=lat_periods,
        treat_missing_data="notBreaching",
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        tags={"Name": f"{n}-gateway-latency", **a.tags},
        opts=owner._opts(),
    )
    return topic.arn


def alert_topic(owner: pulumi.Resource, n: str, m: MonitoringConfig, tags: dict[str, str], production: bool,
                severity: str, opts: pulumi.ResourceOptions | None = None) -> aws.sns.Topic:
    """A KMS-encrypted SNS topic CloudWatch and Budgets may publish to, with the email
    channels listing ``severity`` subscribed. A customer-managed key, because the AWS
    managed SNS key's policy does not let CloudWatch or Budgets use it."""
    base = pulumi.ResourceOptions(parent=owner)
    o = pulumi.ResourceOptions.merge(base, opts) if opts else base
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=owner, provider=o.provider))
    services = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    key_policy = account.account_id.apply(lambda acct: json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "AlarmPublishers", "Effect": "Allow", "Principal": {"Service": services},
             "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": acct}}},
        ],
    }))
    key = aws.kms.Key(
        f"{n}-alerts",
        description=f"{n}: alert topic encryption",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy,
        tags={"Name": f"{n}-alerts", **tags},
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(protect=production)),
    )
    topic = aws.sns.Topic(
        f"{n}-alerts",
        kms_master_key_id=key.arn,
        tags={"Name": f"{n}-alerts", **tags},
        opts=o,
    )
    aws.sns.TopicPolicy(
        f"{n}-alerts",
        arn=topic.arn,
        policy=pulumi.Output.all(topic.arn, account.account_id).apply(lambda x: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "AlarmPublishers", "Effect": "Allow", "Principal": {"Service": services},
                           "Action": "sns:Publish", "Resource": x[0],
                           "Condition": {"StringEquals": {"aws:SourceAccount": x[1]}}}],
        })),
        opts=o,
    )
    for c in m.channels.email:
        if severity in c.severities:
            aws.sns.TopicSubscription(
                f"{n}-alerts-{c.address}", topic=topic.arn, protocol="email", endpoint=c.address, opts=o
            )
    return topic


def stack_alarms(owner: AiplatComponent, n: str, a: StackMonitoringArgs) -> tuple[pulumi.Output[str], str | None]:
    """The stack topic in us-east-1, a HealthCheckStatus alarm per region, the budget: (topic ARN, budget name)."""
    m = a.monitoring
    east = owner._opts(provider=a.us_east_1)
    topic = alert_topic(owner, n, m, a.tags, a.production or a.protect, severity="critical", opts=east)
    for region, hc in sorted(a.health_check_ids.items()):
        aws.cloudwatch.MetricAlarm(
            f"{n}-{region}-health",
            alarm_description=f"{a.stack}: Route 53 health check of {region} failing; the region is out "
                              "of the latency-routed hostname",
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": hc},
            statistic="Minimum",
            period=60,
            evaluation_periods=2,
            comparison_operator="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",  # a check that stops reporting is not healthy
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags={"Name": f"{n}-{region}-health", **a.tags},
            opts=east,
        )
    if m.monthly_budget_usd is None:
        return topic.arn, None
    budget_name = f"aiplat-{a.stack}-monthly"
    emails = sorted({c.address for c in m.channels.email})[:10]  # Budgets allows 10 per notification

    def note(kind: str, fraction: float) -> aws.budgets.BudgetNotificationArgs:
        return aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN", notification_type=kind, threshold=round(fraction * 100, 4),
            threshold_type="PERCENTAGE", subscriber_email_addresses=emails,
            subscriber_sns_topic_arns=[topic.arn],
        )

    # Counts spend tagged with the stack's cost center: a user-defined tag counts only once it is an
    # active cost allocation tag, so every tag key the filters read is activated (account-level, so
    # once per stack, with the budget's provider; activation reaches billing data within 24 hours).
    cost_filters = [aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:cost-center${a.cost_center}"])]
    tags = _cost_allocation_tags(n, cost_filters, east) if m.activate_cost_allocation_tags else []
    aws.budgets.Budget(
        f"{n}-budget",
        name=budget_name,
        budget_type="COST",
        time_unit="MONTHLY",
        limit_amount=f"{m.monthly_budget_usd:.2f}",
        limit_unit="USD",
        cost_filters=cost_filters,
        notifications=[note("ACTUAL", t) for t in m.budget_thresholds] + [note("FORECASTED", 1.0)],
        tags={"Name": f"{n}-budget", **a.tags},
        opts=pulumi.ResourceOptions.merge(east, pulumi.ResourceOptions(depends_on=tags)),
    )
    return topic.arn, budget_name


def budget_tag_keys(cost_filters: list[aws.budgets.BudgetCostFilterArgs]) -> list[str]:
    """The user-defined tag keys ``TagKeyValue`` cost filters read (``user:<key>$<value>``), in order."""
    keys = [v.split("$", 1)[0].removeprefix("user:") for f in cost_filters if f.name == "TagKeyValue"
            for v in f.values if v.startswith("user:")]
    return list(dict.fromkeys(keys))


def _cost_allocation_tags(n: str, cost_filters: list[aws.budgets.BudgetCostFilterArgs],
                          opts: pulumi.ResourceOptions) -> list[aws.costexplorer.CostAllocationTag]:
    """Each tag key the budget filters on, activated as a cost allocation tag (pulumi_aws 7.51.1
    ``costexplorer.CostAllocationTag``: tag_key, status ``Active`` | ``Inactive``)."""
    return [aws.costexplorer.CostAllocationTag(f"{n}-cost-tag-{key}", tag_key=key, status="Active", opts=opts)
            for key in budget_tag_keys(cost_filters)]
