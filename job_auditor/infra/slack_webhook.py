"""Slack through an incoming webhook, for teams without Amazon Q Developer in chat applications.

A small function subscribed to the transition topic (protocol `lambda`, with the same filter policy as
the email subscriptions) renders each transition as Block Kit and posts it to the webhook whose URL
is the value of one Secrets Manager secret. The URL never appears in context, code or the template:
the function gets the secret's name and read access to that secret only.

SNS invokes the function asynchronously. A message Slack did not accept (after the function's own
retries on 429 and 5xx) fails the invocation; Lambda retries it twice, then puts the event in the
dead-letter queue, which raises an ops alarm.

A webhook cannot deduplicate, so the function posts each eventId once (Powertools Idempotency): its
records live in a small table of its own, removed by TTL a day after they are written.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from job_auditor.contract.environment import LOG_LEVEL, METRICS_NAMESPACE, SERVICE_NAME
from job_auditor.contract.slack_forwarder import (
    IDEMPOTENCY_EXPIRY_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_TABLE_ENV,
)
from job_auditor.infra.auditor_function import LOG_RETENTION, shared_python_function, variable
from job_auditor.infra.dead_letter_queue import dead_letter_queue, undelivered_alarm
from job_auditor.infra.monitoring import AuditorMetrics

HANDLER = "job_auditor.slack_forwarder.handler.lambda_handler"
# Four attempts with Retry-After waits of up to 30 s fit; the function keeps 3 s to log and flush.
TIMEOUT = Duration.seconds(60)
# Lambda's own retries of a failed invocation, before the event goes to the dead-letter queue.
RETRY_ATTEMPTS = 2
# Exactly the item calls Powertools Idempotency's DynamoDBPersistenceLayer makes: a conditional
# PutItem (the in-progress record), GetItem (a repeat's record), UpdateItem (delivered) and
# DeleteItem (a failed post's record, so that the retry posts).
IDEMPOTENCY_TABLE_ACTIONS: tuple[str, ...] = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)


class SlackWebhookForwarder(Construct):
    """The forwarder function, its subscription, its one secret, its dead-letter queue and alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        secret_name: str,
        filter_policy: Mapping[str, sns.SubscriptionFilter] | None,
        removal_policy: RemovalPolicy,
        metrics: AuditorMetrics,
        log_retention_days: int = 30,
        log_level: str = "INFO",
        powertools_layer_version: str = "latest",
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Imported by name: the ARN ends in a random six-character suffix, so the grant covers
        # `<name>-??????`, which matches this secret and no other.
        self.secret = secretsmanager.Secret.from_secret_name_v2(self, "WebhookSecret", secret_name)

        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION[log_retention_days], removal_policy=removal_policy
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="job-auditor Slack forwarder: read the webhook secret, record what it posted, log",
        )
        self.log_group.grant_write(self.role)
        self.secret.grant_read(self.role)

        # Which eventIds were posted. Disposable (losing it risks one repeated message per eventId),
        # so no deletion protection; encrypted and recoverable like the state table all the same.
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(
                name=IDEMPOTENCY_KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=IDEMPOTENCY_EXPIRY_ATTRIBUTE,
            removal_policy=removal_policy,
        )
        self.idempotency_table.grant(self.role, *IDEMPOTENCY_TABLE_ACTIONS)

        self.dead_letter_queue = dead_letter_queue(self, removal_policy=removal_policy)
        self.function = shared_python_function(
            self,
            description="job-auditor: posts transitions to a Slack incoming webhook",
            handler=HANDLER,
            role=self.role,
            log_group=self.log_group,
            log_level=log_level,
            powertools_layer_version=powertools_layer_version,
            memory_size=256,
            timeout=TIMEOUT,
            # One post at a time: a webhook takes about one message a second, so parallel posts
            # would only collect 429s. SNS's asynchronous invocations queue meanwhile.
            reserved_concurrent_executions=1,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=Duration.hours(6),
            dead_letter_queue=self.dead_letter_queue,
            environment={
                # The secret's name, not its value: the function reads the URL at run time.
                "WEBHOOK_SECRET_NAME": secret_name,
                IDEMPOTENCY_TABLE_ENV: self.idempotency_table.table_name,
                # Its own service beside the auditor's, in the same namespace.
                variable(SERVICE_NAME): f"{metrics.service}-slack",
                variable(METRICS_NAMESPACE): metrics.namespace,
                variable(LOG_LEVEL): log_level,
            },
        )
        self.subscription_filter = dict(filter_policy) if filter_policy else None
        topic.add_subscription(
            subscriptions.LambdaSubscription(self.function, filter_policy=self.subscription_filter)
        )

        self.alarm = undelivered_alarm(
            self,
            self.dead_letter_queue,
            description=(
                "A job-auditor notification could not be posted to Slack (after retries); the SNS event "
                "is in the Slack forwarder's dead-letter queue."
            ),
            alarm_topic=alarm_topic,
        )
