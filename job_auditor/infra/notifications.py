"""Notifications: the KMS key, the transition topic with its email subscriptions, and Slack.

Message formats are the Lambda's (auditor.domain.notifications): one publish per transition with a
rendering per protocol. Amazon Q Developer in chat applications gets its own topic of custom
notifications. A webhook subscriber is added with `topic.add_subscription(...)` and the same
`filter_policy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from job_auditor.contract.environment import OR_KEY


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


def subscription_filter(
    policy: Mapping[str, Sequence[Any]] | None,
) -> dict[str, sns.SubscriptionFilter] | None:
    """The context's notification filter (JobAuditorProps.notification_filter) as CDK filter policy.

    CDK renders each key as its filter's conditions, so "$or" (a list of whole policies, which
    SubscriptionFilter's helpers cannot build) is given as those conditions as they are."""
    if not policy:
        return None
    out: dict[str, sns.SubscriptionFilter] = {}
    for name, rules in policy.items():
        if name == OR_KEY:
            out[name] = sns.SubscriptionFilter(conditions=[dict(alternative) for alternative in rules])
            continue
        exact = [r for r in rules if isinstance(r, str)]
        prefixes = [str(r["prefix"]) for r in rules if not isinstance(r, str)]
        out[name] = sns.SubscriptionFilter.string_filter(
            allowlist=exact or None, match_prefixes=prefixes or None
        )
    return out


class Notifications(Construct):
    """The topic every transition is published to, its email subscribers and the Slack channel."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        emails: Sequence[str],
        notification_filter: Mapping[str, Sequence[Any]] | None,
        slack_workspace_id: str | None,
        slack_channel_id: str | None,
        slack_channel_name: str = f"job-auditor-{Aws.STACK_NAME}",
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="job-auditor transitions",
            master_key=key,
            enforce_ssl=True,
        )
        # The Lambda sets message attributes (status, jobKind, jobName, ...) on every publish; the
        # context's notifyStatuses/notifyJobKinds/notifyNamePrefixes become each subscription's
        # filter policy (stuck alerts pass the status condition unless notifyStuckAlerts=false).
        # Without them, every transition is emailed.
        self.filter_policy = subscription_filter(notification_filter)
        filter_policy = self.filter_policy
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email, filter_policy=filter_policy))

        self.slack_channel: chatbot.SlackChannelConfiguration | None = None
        self.chat_topic: sns.Topic | None = None
        if slack_workspace_id and slack_channel_id:
            # Chatbot creates and owns its subscription, so it cannot carry a filter policy: it gets
            # a topic of its own, to which the Lambda publishes only the custom notifications that
            # pass the same filter.
            self.chat_topic = sns.Topic(
                self,
                "ChatTopic",
                display_name="job-auditor chat notifications",
                master_key=key,
                enforce_ssl=True,
            )
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
                slack_channel_configuration_name=slack_channel_name,
                slack_workspace_id=slack_workspace_id,
                slack_channel_id=slack_channel_id,
                notification_topics=[self.chat_topic],
                role=channel_role,
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")],
            )
