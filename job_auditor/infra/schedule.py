"""The EventBridge Scheduler schedule that runs the auditor, with retries and a dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from job_auditor.infra import nag
from job_auditor.infra.dead_letter_queue import dead_letter_queue


class AuditSchedule(Construct):
    """Invokes the function every `rate_minutes` (or, given `state_machine`, starts an execution of it:
    auditMode=stepfunctions); invocations Scheduler cannot deliver go to the DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        rate_minutes: int,
        removal_policy: RemovalPolicy,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, removal_policy=removal_policy)
        nag.acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the EventBridge Scheduler target; a "
            "dead-letter queue for it would never receive anything.",
        )
        # The role Scheduler assumes, trusted as LambdaInvoke would create it (this account's schedules in
        # the default group), but owned here so its acknowledgment lives with it.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="scheduler", resource="schedule-group", resource_name="default"
                        ),
                    }
                },
            ),
            description="job-auditor schedule: invoke the auditor function, feed the dead-letter queue"
            if state_machine is None
            else "job-auditor schedule: start the audit state machine, feed the dead-letter queue",
        )
        # A run that cannot start within one period is superseded by the next one.
        max_event_age = Duration.minutes(max(1, min(rate_minutes, 1440)))
        delivery: dict[str, Any] = {
            "role": self.role,
            "dead_letter_queue": self.dead_letter_queue,
            "retry_attempts": 3,
            "max_event_age": max_event_age,
        }
        target: scheduler.IScheduleTarget = (
            targets.LambdaInvoke(function, **delivery)
            if state_machine is None
            else targets.StepFunctionsStartExecution(state_machine, **delivery)
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="job-auditor: poll job statuses"
            + (" (fan-out)" if state_machine is not None else ""),
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(rate_minutes)),
            target=target,
        )
        if state_machine is not None:
            return
        # LambdaInvoke grants lambda:InvokeFunction on the function and on <function arn>:*.
        nag.acknowledge(
            self.role,
            nag.wildcard_resource(self, f"{function.function_arn}:*"),
            "LambdaInvoke grants invoke permission on the auditor function and its versions/aliases "
            "(<function arn>:*), nothing else.",
        )
