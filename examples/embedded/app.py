#!/usr/bin/env python3
"""An app of one's own that embeds job-auditor in its platform stack and routes failed jobs to its own
queue. It needs only the job-auditor package (README, "Use the construct in your own app"), nothing of
the repo's layout.

    cdk synth --app "python app.py"        # or: CDK_OUTDIR=cdk.out python app.py
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from job_auditor import JobAuditor, add_nag_checks


class MlPlatformStack(cdk.Stack):
    """The platform team's stack: job-auditor plus a queue of failed jobs their automation drains."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        auditor = JobAuditor(
            self,
            "JobAuditor",
            regions=["us-east-1", "us-west-2"],
            notification_emails=["ml-platform@example.com"],
            schedule_rate_minutes=cdk.Duration.minutes(10),
        )
        dead_letters = sqs.Queue(
            self, "FailedJobsDeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
        )
        cdk.Validations.of(dead_letters).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3", reason="This queue is the dead-letter queue itself."
            )
        )
        failed_jobs = sqs.Queue(
            self,
            "FailedJobs",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=5),
        )
        events.Rule(
            self,
            "FailedJobsRule",
            event_bus=auditor.event_bus,
            event_pattern=events.EventPattern(
                source=[auditor.config.event_source], detail={"statusCategory": ["FAILED"]}
            ),
            targets=[targets.SqsQueue(failed_jobs)],
        )


def main() -> None:
    app = cdk.App()
    MlPlatformStack(app, "MlPlatform")
    add_nag_checks(app)  # optional: the construct acknowledges its own cdk-nag findings, with reasons
    app.synth()


if __name__ == "__main__":
    main()
