"""discovery=cloudtrail: the job starts the auditor learns of from CloudTrail instead of listing.

A rule on the account's default event bus matches the Start calls of the audited kinds that CloudTrail
records as management events (`JobKindSpec.start_event`; contract.discovery) and sends them to an SQS
queue (SSE with SQS-managed keys, TLS only, a dead-letter queue); the auditor function may receive from
it and delete from it, nothing else. EventBridge receives these events only where a trail records the
account's management events (the README says how to check); without one nothing arrives, and the
reconciliation sweep still finds every job, within one sweep period.

Only the deploying account's jobs in the stack's region are announced: CloudTrail delivers an API
call's event to the default bus of the account and region where the call was made. The other accounts
and regions of an organization deployment keep listing (docs/organization.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from job_auditor.contract.discovery import start_event_pattern
from job_auditor.infra.dead_letter_queue import dead_letter_queue

# An announcement older than this is of no more use: the sweep has listed its job many times since.
RETENTION = Duration.days(1)
# Runs that may receive one message without acknowledging it before it goes to the dead-letter queue:
# an announced job not found yet is asked again for half an hour (observer.START_GRACE), at one
# receive per visibility timeout.
MAX_RECEIVES = 20


class JobStartDiscovery(Construct):
    """The rule, the queue and its dead-letter queue; `grant_consume` lets the auditor receive and
    delete messages. `function_timeout`: the consumer's, which a received message stays hidden for."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind_ids: Sequence[str],
        function_timeout: Duration,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        pattern = start_event_pattern(kind_ids)
        if pattern is None:
            raise ValueError("discovery: cloudtrail needs a job kind whose starts CloudTrail announces")
        # cdk-nag knows it for the queue's dead-letter queue (its redrive target): no SQS3 finding.
        self.dead_letter_queue = dead_letter_queue(self, removal_policy=removal_policy)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            # A message a run received stays hidden for as long as that run may go on.
            visibility_timeout=function_timeout.plus(Duration.seconds(30)),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=self.dead_letter_queue
            ),
            removal_policy=removal_policy,
        )
        detail = pattern["detail"]
        self.rule = events.Rule(
            self,
            "Rule",
            description="job-auditor: the audited kinds' job starts, as CloudTrail records them",
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=detail
            ),
            targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue)],
        )

    def grant_consume(self, consumer: iam.IGrantable) -> None:
        """Least privilege: receive and delete (the adapter reads no attribute and changes no
        visibility)."""
        self.queue.grant(consumer, "sqs:ReceiveMessage", "sqs:DeleteMessage")
