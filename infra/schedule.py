"""The EventBridge Scheduler schedule that runs the auditor, with retries and a dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class AuditSchedule(Construct):
    """Invokes the function every `rate_minutes`; invocations Scheduler cannot deliver go to the DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        rate_minutes: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="job-auditor: poll job statuses",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(rate_minutes)),
            target=targets.LambdaInvoke(
                function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                # A run that cannot start within one period is superseded by the next one.
                max_event_age=Duration.minutes(max(1, min(rate_minutes, 1440))),
            ),
        )
