"""The dead-letter queues of job-auditor: one shape for every queue that keeps what could not be delivered."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# SQS's longest retention: an undelivered invocation or message waits two weeks for someone to look.
RETENTION = Duration.days(14)


def dead_letter_queue(
    scope: Construct, *, removal_policy: RemovalPolicy, construct_id: str = "DeadLetterQueue"
) -> sqs.Queue:
    """An SQS queue with SSE (SQS-managed keys), TLS-only access and 14 days' retention in `scope`.

    Its owner wires it (a Scheduler target, a function's async DLQ) and alarms on it.
    """
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        removal_policy=removal_policy,
    )


def undelivered_alarm(
    scope: Construct, queue: sqs.IQueue, *, description: str, alarm_topic: sns.ITopic | None
) -> cloudwatch.Alarm:
    """An alarm in `scope` (`UndeliveredAlarm`) as soon as `queue` holds a message, and back to OK when
    it is empty again; both sent to `alarm_topic` when given."""
    alarm = queue.metric_approximate_number_of_messages_visible(
        period=Duration.minutes(5), statistic="Maximum"
    ).create_alarm(
        scope,
        "UndeliveredAlarm",
        alarm_description=description,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    if alarm_topic is not None:
        action = cw_actions.SnsAction(alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
    return alarm
