"""The dead-letter queues of job-auditor: one shape for every queue that keeps what could not be delivered."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
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
