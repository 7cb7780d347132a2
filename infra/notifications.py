"""Notifications: the KMS key, the transition topic with its email subscriptions, and Slack.

Message formats (plain email text, Amazon Q Developer custom notifications, a Slack webhook) are
the Lambda's concern and a separate issue; this construct only provides the topic and its
subscribers. A webhook subscriber can be added with `topic.add_subscription(...)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class NotificationKey(Construct):
    """Customer-managed key for the SNS topics (transitions and ops alarms).

    CloudWatch alarms publish to the ops topic, so the key lets the CloudWatch service principal use
    it, limited to this account's alarms.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="job-auditor: encrypts the notification and ops SNS topics",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )


class Notifications(Construct):
    """The topic every transition is published to, its email subscribers and the Slack channel."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        emails: Sequence[str],
        notify_statuses: Sequence[str],
        slack_workspace_id: str | None,
        slack_channel_id: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="job-auditor transitions",
            master_key=key,
            enforce_ssl=True,
        )
        # The Lambda sets a `status` message attribute on every publish; an allow-list on it is the
        # "statuses that notify" setting. Without one, every transition is emailed.
        filter_policy = (
            {"status": sns.SubscriptionFilter.string_filter(allowlist=list(notify_statuses))}
            if notify_statuses
            else None
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email, filter_policy=filter_policy))

        self.slack_channel: chatbot.SlackChannelConfiguration | None = None
        if slack_workspace_id and slack_channel_id:
            # The channel only relays notifications: its role has no permissions and the guardrail
            # denies everything, so nobody can run AWS commands from Slack through it.
            channel_role = iam.Role(
                self,
                "SlackChannelRole",
                assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
                description="job-auditor Slack channel: relays notifications only",
            )
            self.slack_channel = chatbot.SlackChannelConfiguration(
                self,
                "SlackChannel",
                slack_channel_configuration_name=f"job-auditor-{Aws.STACK_NAME}",
                slack_workspace_id=slack_workspace_id,
                slack_channel_id=slack_channel_id,
                notification_topics=[self.topic],
                role=channel_role,
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")],
            )
