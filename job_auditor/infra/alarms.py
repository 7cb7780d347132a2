"""The shape of every job-auditor alarm: one evaluation period, and alarm and OK both notify a topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


def alarm(
    scope: Construct,
    construct_id: str,
    metric: cloudwatch.IMetric,
    *,
    description: str,
    threshold: float = 1,
    comparison: cloudwatch.ComparisonOperator = AT_LEAST,
    missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    topic: sns.ITopic | None = None,
    evaluation_periods: int = 1,
) -> cloudwatch.Alarm:
    """An alarm on `metric` over one evaluation period (the metric's own period) unless
    `evaluation_periods` says more (each must breach); by default it fires at 1 or more and missing data
    is fine. With `topic`, both the alarm and the return to OK go there."""
    created = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        alarm_description=description,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        comparison_operator=comparison,
        treat_missing_data=missing_data,
    )
    if topic is not None:
        action = cw_actions.SnsAction(topic)
        created.add_alarm_action(action)
        created.add_ok_action(action)
    return created


def queue_depth_metric(queue: sqs.IQueue) -> cloudwatch.Metric:
    """The most messages visible in `queue` over 5 minutes: above 0 means something is waiting there."""
    return queue.metric_approximate_number_of_messages_visible(
        period=Duration.minutes(5), statistic="Maximum"
    )
